//! Shared helpers of the core tests: run an op on owned vectors in either dtype, compare
//! with tolerances measured in units in the last place, and build random valid calls.
//!
//! Float operands are given as `f32` values; for an `f16` call they are rounded to f16 on
//! the way in (tests that need exact inputs pick f16-representable values) and widened on
//! the way out, so one test body covers both dtypes.

#![allow(dead_code)]

use neurokern_core::reference::{run, scratch_len, Arg};
use neurokern_core::{f16, ElemRule, Error, FloatType, Op, Role};

/// Unit roundoff of f32 accumulation, `2⁻²⁴`.
pub const U32: f64 = 1.0 / 16_777_216.0;
/// Unit roundoff of f64, `2⁻⁵³`.
pub const U64: f64 = f64::EPSILON / 2.0;

/// `γ_n = n·u/(1 − n·u)`.
pub fn gamma(n: usize, u: f64) -> f64 {
    let nu = n as f64 * u;
    assert!(nu < 1.0);
    nu / (1.0 - nu)
}

/// One argument slot.
#[derive(Clone, Debug, PartialEq)]
pub enum Buf {
    /// An operand of the call's float dtype (`f32` values, converted for an f16 call).
    F(Vec<f32>),
    /// An operand that is `f32` whatever the dtype (Adam's moments).
    F32(Vec<f32>),
    /// An `i32` operand.
    I(Vec<i32>),
    /// An empty slot (a disabled optional operand).
    Absent,
    /// This output is computed in place into slot `n`.
    SameAs(usize),
}

impl Buf {
    /// The float contents (panics for other kinds: a test bug).
    pub fn f(&self) -> &[f32] {
        match self {
            Buf::F(v) | Buf::F32(v) => v,
            other => panic!("not a float buffer: {other:?}"),
        }
    }
    /// The i32 contents.
    pub fn i(&self) -> &[i32] {
        match self {
            Buf::I(v) => v,
            other => panic!("not an i32 buffer: {other:?}"),
        }
    }
}

/// A float output of `n` elements, pre-filled with NaN so that an element the op fails to
/// write is visible.
pub fn out(n: usize) -> Buf {
    Buf::F(vec![f32::NAN; n])
}

/// An i32 output of `n` elements, pre-filled with a sentinel no op writes.
pub fn out_i(n: usize) -> Buf {
    Buf::I(vec![i32::MIN + 7; n])
}

pub fn f(v: &[f32]) -> Buf {
    Buf::F(v.to_vec())
}

pub fn i(v: &[i32]) -> Buf {
    Buf::I(v.to_vec())
}

/// Rounds to f16 and back (nearest-even, through the `half` crate's f32 conversion, which
/// is a single rounding).
pub fn h(x: f32) -> f32 {
    f16::from_f32(x).to_f32()
}

/// Rounds to the call's dtype.
pub fn to_dt(dt: FloatType, x: f32) -> f32 {
    match dt {
        FloatType::F32 => x,
        FloatType::F16 => h(x),
    }
}

/// Runs `op` in `dt` on `bufs` (one per operand slot); outputs are written back into
/// `bufs`, widened to f32. A scratch of `scratch_len` elements is provided.
pub fn try_run(op: impl Into<Op>, dt: FloatType, bufs: &mut [Buf]) -> Result<(), Error> {
    let op = op.into();
    let need = scratch_len(&op, dt)?;
    let mut scratch = vec![0.0f32; need];
    enum Own {
        F32(Vec<f32>),
        F16(Vec<f16>),
        I32(Vec<i32>),
        Absent,
        SameAs(usize),
    }
    let mut owned: Vec<Own> = bufs
        .iter()
        .map(|b| match b {
            Buf::F(v) => match dt {
                FloatType::F32 => Own::F32(v.clone()),
                FloatType::F16 => Own::F16(v.iter().map(|&x| f16::from_f32(x)).collect()),
            },
            Buf::F32(v) => Own::F32(v.clone()),
            Buf::I(v) => Own::I32(v.clone()),
            Buf::Absent => Own::Absent,
            Buf::SameAs(j) => Own::SameAs(*j),
        })
        .collect();
    {
        let mut args: Vec<Arg<'_>> = owned
            .iter_mut()
            .map(|o| match o {
                Own::F32(v) => Arg::F32Mut(v),
                Own::F16(v) => Arg::F16Mut(v),
                Own::I32(v) => Arg::I32Mut(v),
                Own::Absent => Arg::Absent,
                Own::SameAs(j) => Arg::SameAs(*j),
            })
            .collect();
        run(&op, dt, &mut args, &mut scratch)?;
    }
    for (b, o) in bufs.iter_mut().zip(owned) {
        match (b, o) {
            (Buf::F(v) | Buf::F32(v), Own::F32(w)) => *v = w,
            (Buf::F(v), Own::F16(w)) => *v = w.iter().map(|x| x.to_f32()).collect(),
            (Buf::I(v), Own::I32(w)) => *v = w,
            _ => {}
        }
    }
    Ok(())
}

/// [`try_run`], panicking on a validation error.
pub fn run_ok(op: impl Into<Op>, dt: FloatType, bufs: &mut [Buf]) {
    let op = op.into();
    if let Err(e) = try_run(op, dt, bufs) {
        panic!("{} in {dt}: unexpected error: {e}", op.name());
    }
}

/// One unit in the last place of `x` in `dt` (for subnormals and zero, the smallest
/// subnormal spacing).
pub fn ulp(dt: FloatType, x: f64) -> f64 {
    let (p, min_exp) = match dt {
        FloatType::F32 => (23, -126),
        FloatType::F16 => (10, -14),
    };
    let ax = x.abs();
    let e = if ax == 0.0 || !ax.is_finite() {
        min_exp
    } else {
        (ax.log2().floor() as i32).max(min_exp)
    };
    2f64.powi(e - p)
}

/// Asserts `|got − want| ≤ ulps · ulp(want)` elementwise (NaN must match NaN, infinities
/// must match exactly). `what` names the case in the message.
pub fn assert_ulps(dt: FloatType, what: &str, got: &[f32], want: &[f64], ulps: f64) {
    assert_eq!(got.len(), want.len(), "{what} ({dt}): length");
    for (j, (&g, &w)) in got.iter().zip(want).enumerate() {
        let g = f64::from(g);
        let ok = if w.is_nan() {
            g.is_nan()
        } else if w.is_infinite() {
            g == w
        } else {
            (g - w).abs() <= ulps * ulp(dt, w)
        };
        assert!(
            ok,
            "{what} ({dt}): element {j}: got {g:e}, want {w:e} within {ulps} ulp ({:e})",
            ulps * ulp(dt, w)
        );
    }
}

/// Asserts bitwise-meaningful equality of float results (NaN equals NaN; -0 equals +0).
pub fn assert_same(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (j, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            g == w || (g.is_nan() && w.is_nan()),
            "{what}: element {j}: got {g:e}, want {w:e}"
        );
    }
}

/// Σ a[i]·b[i] in f64.
pub fn dot64(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum()
}

/// Σ |a[i]·b[i]| in f64.
pub fn absdot64(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) * f64::from(y)).abs())
        .sum()
}

/// The argument slots of a valid call of `op`, built from its operand list: float inputs
/// from `floats` (cycled), i32 inputs from `ints` (cycled), Adam's `v` moment made
/// non-negative, outputs pre-filled with sentinels.
pub fn slots_for(op: &Op, dt: FloatType, floats: &[f32], ints: &[i32]) -> Vec<Buf> {
    let operands = op.validate().expect("slots_for: a valid descriptor");
    let mut fi = 0usize;
    let mut ii = 0usize;
    let mut next_f = |sign: bool| {
        let v = floats[fi % floats.len()];
        fi += 1;
        let v = if sign { v.abs() } else { v };
        to_dt(dt, v)
    };
    let mut next_i = || {
        let v = ints[ii % ints.len()];
        ii += 1;
        v
    };
    operands
        .iter()
        .map(|s| {
            if !s.present {
                return Buf::Absent;
            }
            let reads = s.role != Role::Output;
            match s.elem {
                ElemRule::Float => {
                    if reads {
                        Buf::F((0..s.len).map(|_| next_f(false)).collect())
                    } else {
                        out(s.len)
                    }
                }
                ElemRule::F32 => {
                    // Adam's moments: `v` is a running mean of squares.
                    let nonneg = s.name == "v";
                    Buf::F32((0..s.len).map(|_| next_f(nonneg)).collect())
                }
                ElemRule::I32 => {
                    if reads {
                        Buf::I((0..s.len).map(|_| next_i()).collect())
                    } else {
                        out_i(s.len)
                    }
                }
            }
        })
        .collect()
}

/// A descriptor of `kind` with small dims taken from `d` in field order (each used as
/// given, so zeros give zero-sized calls; a fifth dim is 1), flags from `flags` in bit
/// order, and fixed, valid scalars (Adam's step 3).
pub fn small_op(kind: neurokern_core::OpKind, d: [usize; 4], flags: [bool; 2]) -> Op {
    use neurokern_core::op::FieldKind;
    use neurokern_core::OpKind as K;
    let mut dims = d.into_iter();
    let (mut ds, mut ss, mut fl) = ([0usize; 6], [0f32; 6], 0u32);
    for f in kind.fields() {
        match f.kind {
            FieldKind::Dim => ds[f.slot] = dims.next().unwrap_or(1),
            FieldKind::Count => ds[f.slot] = 3,
            FieldKind::Flag => fl |= u32::from(flags.get(f.slot) == Some(&true)) << f.slot,
            FieldKind::Scalar => {
                ss[f.slot] = match (kind, f.name) {
                    (K::AdamUpdate, "lr") => 0.01,
                    (K::AdamUpdate, "eps") => 1e-6,
                    (_, "eps") => 1e-3,
                    (_, "beta1") => 0.9,
                    (_, "beta2") => 0.999,
                    (_, "weight_decay") => 0.1,
                    (_, "decay") => {
                        if flags[0] {
                            0.125
                        } else {
                            0.0
                        }
                    }
                    (K::ShapeLoss, "threshold") | (_, "penalty") => 0.5,
                    // lr, reward, threshold, and any new scalar: 0.25 is finite, > 0, in
                    // [0, 1) and not NaN, so it lies in every scalar domain of OPS.md.
                    _ => 0.25,
                }
            }
        }
    }
    Op::from_fields(kind, &ds, &ss, fl).expect("fields from the kind's own list")
}
