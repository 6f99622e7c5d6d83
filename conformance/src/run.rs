//! Running one case: the reference's answer and bounds ([`prepare`]), a device's answer
//! ([`execute`], generic over any [`Backend`]), and the judgement ([`compare`]).

use std::time::{Duration, Instant};

use neurokern_core::op::SumMode;
use neurokern_core::reference::{self, Arg};
use neurokern_core::{Backend, ElemType, FloatType, Op, OperandSpec, Role};
use serde::Serialize;

use crate::bounds::{self, Api, Argmax, Check};
use crate::cases::Case;
use crate::data::{round_to, HostData};

/// A case with everything the comparison needs, computed once and shared by all devices.
#[derive(Debug)]
pub struct Prepared {
    /// The case.
    pub case: Case,
    /// Its descriptor.
    pub op: Op,
    /// Its operands.
    pub operands: Vec<OperandSpec>,
    /// The input (and in/out) data per slot.
    pub slots: Vec<Option<HostData>>,
    /// `(output, input)` computed in place.
    pub alias: Option<(usize, usize)>,
    /// The reference's outputs per written slot.
    pub expected: Vec<Option<HostData>>,
    /// The reference's values before the final store, per written float slot: for an f16
    /// call, the reference run in f32 on the widened inputs.
    pub center: Vec<Option<Vec<f64>>>,
    /// How each slot is judged (under the OpenCL device model).
    pub checks: Vec<Check>,
    /// How each slot is judged under the device models of other APIs ([`prepare_for`]).
    pub api_checks: Vec<(Api, Vec<Check>)>,
    /// Time spent generating, running the reference and deriving bounds.
    pub prepare_time: Duration,
}

impl Prepared {
    /// The call's dtype.
    pub fn dtype(&self) -> FloatType {
        self.case.dtype
    }

    /// The slot whose buffer the operand in slot `i` uses (itself, or the input it aliases).
    pub fn buffer_slot(&self, i: usize) -> usize {
        match self.alias {
            Some((o, input)) if o == i => input,
            _ => i,
        }
    }

    /// True when slot `i` is written by the call.
    pub fn is_written(&self, i: usize) -> bool {
        let s = &self.operands[i];
        s.present && s.role.is_written()
    }

    /// How each slot is judged under `api`'s device model (the OpenCL model's checks when
    /// the case was not prepared for `api`).
    pub fn checks_for(&self, api: Api) -> &[Check] {
        self.api_checks
            .iter()
            .find(|(a, _)| *a == api)
            .map_or(&self.checks, |(_, c)| c)
    }

    /// Whether the call's results must be the same bits on every run.
    pub fn must_be_deterministic(&self) -> bool {
        !matches!(self.op, Op::ProtoSegmentedSum(d) if d.mode == SumMode::Atomic)
    }
}

/// Runs the reference on host copies of `slots` in `dtype`; returns the written slots.
fn reference_run(
    op: &Op,
    dtype: FloatType,
    operands: &[OperandSpec],
    slots: &[Option<HostData>],
    alias: Option<(usize, usize)>,
) -> Result<Vec<Option<HostData>>, String> {
    let mut work: Vec<Option<HostData>> = operands
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if !s.present || alias.is_some_and(|(o, _)| o == i) {
                None
            } else if let Some(d) = &slots[i] {
                Some(d.clone())
            } else {
                Some(HostData::zeros(s.elem.resolve(dtype), s.len))
            }
        })
        .collect();
    let mut scratch = vec![0.0f32; reference::scratch_len(op, dtype).map_err(|e| e.to_string())?];
    {
        let mut args: Vec<Arg<'_>> = work
            .iter_mut()
            .enumerate()
            .map(|(i, w)| match w {
                Some(d) => d.arg_mut(),
                None => match alias {
                    Some((o, input)) if o == i => Arg::SameAs(input),
                    _ => Arg::Absent,
                },
            })
            .collect();
        reference::run(op, dtype, &mut args, &mut scratch).map_err(|e| e.to_string())?;
    }
    Ok(operands
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if !(s.present && s.role.is_written()) {
                return None;
            }
            let src = match alias {
                Some((o, input)) if o == i => input,
                _ => i,
            };
            work[src].clone()
        })
        .collect())
}

/// Generates a case, runs the reference and derives the bounds (under the OpenCL device
/// model).
pub fn prepare(case: &Case) -> Result<Prepared, String> {
    prepare_for(case, &[])
}

/// [`prepare`], also deriving the bounds under the device model of each API in `apis`.
pub fn prepare_for(case: &Case, apis: &[Api]) -> Result<Prepared, String> {
    let t0 = Instant::now();
    let built = case.build();
    let dtype = case.dtype;
    let operands: Vec<OperandSpec> = built
        .op
        .validate()
        .map_err(|e| format!("case generator: {e}"))?
        .iter()
        .copied()
        .collect();
    if built.slots.len() != operands.len() {
        return Err(format!(
            "case generator: {} slots for {} operands",
            built.slots.len(),
            operands.len()
        ));
    }
    let expected = reference_run(&built.op, dtype, &operands, &built.slots, built.alias)
        .map_err(|e| format!("reference: {e}"))?;
    let center: Vec<Option<Vec<f64>>> = if dtype == FloatType::F16 {
        let wide: Vec<Option<HostData>> = built
            .slots
            .iter()
            .map(|s| s.as_ref().map(HostData::to_f32))
            .collect();
        reference_run(&built.op, FloatType::F32, &operands, &wide, built.alias)
            .map_err(|e| format!("reference (f32 on widened inputs): {e}"))?
            .into_iter()
            .map(|o| o.map(|d| d.widen()))
            .collect()
    } else {
        expected
            .iter()
            .map(|o| o.as_ref().map(HostData::widen))
            .collect()
    };
    let widened: Vec<Option<Vec<f64>>> = built
        .slots
        .iter()
        .zip(&operands)
        .map(|(s, spec)| {
            if spec.role == Role::Output {
                None
            } else {
                s.as_ref().map(HostData::widen)
            }
        })
        .collect();
    let checks = bounds::checks(&built.op, &widened);
    let mut api_checks: Vec<(Api, Vec<Check>)> = Vec::new();
    for &api in apis {
        if api != Api::OpenCl && !api_checks.iter().any(|(a, _)| *a == api) {
            api_checks.push((api, bounds::checks_for(&built.op, &widened, api)));
        }
    }
    Ok(Prepared {
        case: case.clone(),
        op: built.op,
        operands,
        slots: built.slots,
        alias: built.alias,
        expected,
        center,
        checks,
        api_checks,
        prepare_time: t0.elapsed(),
    })
}

/// Runs a prepared case on a backend: allocates every operand, writes the inputs (and a
/// poison pattern, `poison`, into the outputs), runs, synchronizes and reads back every
/// written operand.
pub fn execute<B: Backend>(
    b: &B,
    p: &Prepared,
    poison: u32,
) -> Result<Vec<Option<HostData>>, String> {
    let dtype = p.dtype();
    let mut bufs: Vec<Option<B::Buffer>> = Vec::with_capacity(p.operands.len());
    for (i, s) in p.operands.iter().enumerate() {
        if !s.present || p.buffer_slot(i) != i {
            bufs.push(None);
            continue;
        }
        let elem = s.elem.resolve(dtype);
        let buf = b
            .alloc(elem, s.len)
            .map_err(|e| format!("alloc `{}`: {e}", s.name))?;
        let data = match &p.slots[i] {
            Some(d) => d.clone(),
            None => HostData::poison(elem, s.len, poison),
        };
        if s.len > 0 {
            b.write(&buf, &data.to_bytes())
                .map_err(|e| format!("write `{}`: {e}", s.name))?;
        }
        bufs.push(Some(buf));
    }
    let args: Vec<Option<&B::Buffer>> = (0..p.operands.len())
        .map(|i| bufs[p.buffer_slot(i)].as_ref())
        .collect();
    b.run(&p.op, dtype, &args)
        .map_err(|e| format!("run: {e}"))?;
    b.synchronize().map_err(|e| format!("synchronize: {e}"))?;
    let mut out = Vec::with_capacity(p.operands.len());
    for (i, s) in p.operands.iter().enumerate() {
        if !p.is_written(i) {
            out.push(None);
            continue;
        }
        let elem = s.elem.resolve(dtype);
        let mut bytes = vec![0u8; s.len * elem.size()];
        if s.len > 0 {
            let buf = args[i].ok_or_else(|| format!("no buffer for `{}`", s.name))?;
            b.read(buf, &mut bytes)
                .map_err(|e| format!("read `{}`: {e}", s.name))?;
        }
        out.push(Some(HostData::from_bytes(elem, &bytes)));
    }
    Ok(out)
}

/// One element outside its bound (or not matching where it must).
#[derive(Clone, Debug, Serialize)]
pub struct ElemFailure {
    /// The output operand.
    pub operand: String,
    /// Flat element index.
    pub index: usize,
    /// The reference's value.
    pub expected: String,
    /// The device's value.
    pub got: String,
    /// The bound (or the rule) it broke.
    pub bound: String,
    /// The inputs at this index (elementwise operands) or the case's context.
    pub inputs: String,
}

/// The judgement of one run against the reference.
#[derive(Clone, Debug, Default)]
pub struct Verdict {
    /// Worst `|got − expected| / bound` over every bounded element (0 when all match).
    pub worst: f64,
    /// Elements checked.
    pub checked: usize,
    /// Elements that failed.
    pub failed: usize,
    /// The first failures (at most [`MAX_REPORTED`]).
    pub failures: Vec<ElemFailure>,
    /// The largest distance, over the finite float elements judged by a bound or as one
    /// rounding, between the device's stored value and the reference's unrounded result,
    /// in ulps of the output type ([`ulps`]): at most 0.5 for a correctly rounded value.
    /// Where `worst` is 0 because every element lies in its rounding cell (typical of
    /// f16, whose cell is wider than any bound), this still says how close each came to
    /// the cell's edge. `None` when no element has one.
    pub worst_ulps: Option<f64>,
}

/// Failures kept per case.
pub const MAX_REPORTED: usize = 8;

impl Verdict {
    fn fail(&mut self, p: &Prepared, slot: usize, index: usize, got: String, bound: String) {
        self.failed += 1;
        if self.failures.len() >= MAX_REPORTED {
            return;
        }
        let expected = p.expected[slot]
            .as_ref()
            .map_or(String::new(), |d| d.show(index));
        self.failures.push(ElemFailure {
            operand: p.operands[slot].name.to_string(),
            index,
            expected,
            got,
            bound,
            inputs: inputs_at(p, slot, index),
        });
    }

    fn note_ulps(&mut self, elem: ElemType, c: f64, d: f64) {
        if let Some(u) = ulps(elem, c, d) {
            self.worst_ulps = Some(self.worst_ulps.map_or(u, |w| w.max(u)));
        }
    }

    fn note(&mut self, frac: f64) {
        self.checked += 1;
        if frac > self.worst || frac.is_nan() {
            self.worst = if frac.is_nan() { f64::INFINITY } else { frac };
        }
    }
}

/// The coordinates of `index` in the output operand `slot`, and the input values at
/// `index` of every input operand as long as the output (the elementwise ops).
fn inputs_at(p: &Prepared, slot: usize, index: usize) -> String {
    let len = p.operands[slot].len;
    let mut parts = Vec::new();
    if let Some(dims) = shape_of(&p.op, p.operands[slot].name) {
        let mut rest = index;
        let mut coords = Vec::new();
        for (name, d) in dims.iter().rev() {
            let d = (*d).max(1);
            coords.push(format!("{name}={}", rest % d));
            rest /= d;
        }
        coords.reverse();
        parts.push(format!("at [{}]", coords.join(", ")));
    }
    for (i, s) in p.operands.iter().enumerate() {
        if s.role == Role::Output || !s.present {
            continue;
        }
        if let Some(d) = &p.slots[i] {
            if d.len() == len {
                parts.push(format!("{}={}", s.name, d.show(index)));
            }
        }
    }
    if parts.is_empty() {
        format!("element {index}")
    } else {
        parts.join(", ")
    }
}

/// The named dims of an output operand (outer to inner), where they say more than the
/// flat index.
fn shape_of(op: &Op, operand: &str) -> Option<Vec<(&'static str, usize)>> {
    Some(match (op, operand) {
        (Op::MatMul(d), "c") => vec![("b", d.b), ("m", d.m), ("n", d.n)],
        (Op::MatMulBatched(d), "c") => vec![("b", d.b), ("m", d.m), ("n", d.n)],
        (Op::MatMulBackward(d), "d_a") => vec![("b", d.b), ("m", d.m), ("k", d.k)],
        (Op::MatMulBackward(d), "d_w") => vec![("k", d.k), ("n", d.n)],
        (Op::MatMulBatchedBackward(d), "d_a") => vec![("b", d.b), ("m", d.m), ("k", d.k)],
        (Op::MatMulBatchedBackward(d), "d_w") => vec![("b", d.b), ("k", d.k), ("n", d.n)],
        (Op::Softmax(d), _) => vec![("row", d.rows), ("col", d.len)],
        (Op::LogSoftmax(d), _) => vec![("row", d.rows), ("col", d.len)],
        (Op::SoftmaxBackward(d), _) => vec![("row", d.rows), ("col", d.len)],
        (Op::CrossEntropyLossGrad(d), "grad") => vec![("row", d.rows), ("v", d.vocab)],
        (Op::LayerNorm(d), "y") => vec![("row", d.rows), ("col", d.len)],
        (Op::LayerNormBackward(d), "d_x") => vec![("row", d.rows), ("col", d.len)],
        (Op::Transpose(d), "y") => vec![("c", d.cols), ("r", d.rows)],
        (Op::TransposeBatched(d), "y") => vec![("b", d.b), ("d2", d.d2), ("d1", d.d1)],
        (Op::Transpose12(d), "y") => vec![("b", d.b), ("d2", d.d2), ("d1", d.d1), ("d3", d.d3)],
        (Op::EmbeddingLookup(d), "out") => vec![("b", d.b), ("s", d.s), ("d", d.dim)],
        (Op::EmbeddingBackward(d), "d_table") => vec![("v", d.vocab), ("d", d.dim)],
        (Op::AddBias(d), "y") => vec![("b", d.b), ("m", d.m), ("n", d.n)],
        (Op::AddBroadcastPe(d), "y") => vec![("b", d.b), ("s", d.s), ("e", d.e)],
        (Op::HebbianUpdate(d), "w") => vec![("k", d.k), ("n", d.n)],
        (Op::DynamicTokenAssignment(d), _) => vec![("b", d.b), ("s", d.s)],
        (Op::PairwiseSimilarity(d), "s") => vec![("i", d.n), ("j", d.n)],
        (Op::ProtoSegmentedSum(d), "sums") => vec![("t", d.t), ("e", d.e)],
        (Op::ProtoUpdateStep(d), "proto") => vec![("t", d.t), ("e", d.e)],
        _ => return None,
    })
}

/// Judges `got` (a device's outputs, per slot) against the prepared reference. With
/// `bit_exact`, every output must also be bit-identical to the reference's.
pub fn compare(p: &Prepared, got: &[Option<HostData>], bit_exact: bool) -> Verdict {
    compare_for(p, got, bit_exact, Api::OpenCl)
}

/// [`compare`] under the device model of `api` ([`Prepared::checks_for`]).
pub fn compare_for(p: &Prepared, got: &[Option<HostData>], bit_exact: bool, api: Api) -> Verdict {
    let mut v = Verdict::default();
    let checks = p.checks_for(api);
    for (i, check) in checks.iter().enumerate() {
        let (Some(exp), Some(dev)) = (&p.expected[i], got.get(i).and_then(Option::as_ref)) else {
            continue;
        };
        if exp.len() != dev.len() || exp.elem() != dev.elem() {
            v.fail(
                p,
                i,
                0,
                format!("{} elements of {}", dev.len(), dev.elem()),
                "shape".into(),
            );
            continue;
        }
        let elem = exp.elem();
        match check {
            Check::NotWritten | Check::ArgmaxBest => {}
            Check::Exact => {
                for k in 0..exp.len() {
                    let ok = exp.bits(k) == dev.bits(k) || (exp.is_nan(k) && dev.is_nan(k));
                    v.note(if ok { 0.0 } else { f64::INFINITY });
                    if !ok {
                        v.fail(p, i, k, dev.show(k), "exact".into());
                    }
                }
            }
            Check::Rounded => {
                let c = p.center[i].as_deref().unwrap_or(&[]);
                for k in 0..exp.len() {
                    let double = c.get(k).map(|&x| round_to(elem, x));
                    if let Some(&x) = c.get(k) {
                        v.note_ulps(elem, x, dev.get(k));
                    }
                    let ok = exp.bits(k) == dev.bits(k)
                        || (exp.is_nan(k) && dev.is_nan(k))
                        || (elem == ElemType::F16
                            && double.is_some_and(|d| d.to_bits() == dev.get(k).to_bits()));
                    v.note(if ok { 0.0 } else { f64::INFINITY });
                    if !ok {
                        v.fail(
                            p,
                            i,
                            k,
                            dev.show(k),
                            "correctly rounded (f16: single or double rounding)".into(),
                        );
                    }
                }
            }
            Check::Bound(delta) => {
                let c = p.center[i].as_deref().unwrap_or(&[]);
                for k in 0..exp.len() {
                    let r = exp.get(k);
                    let (ok, frac, lo, hi) = judge(elem, r, c[k], delta[k], dev.get(k));
                    v.note(frac);
                    // Elements that accept any value have no meaningful distance.
                    if delta[k].is_finite() {
                        v.note_ulps(elem, c[k], dev.get(k));
                    }
                    if !ok {
                        v.fail(
                            p,
                            i,
                            k,
                            dev.show(k),
                            format!("δ={:.3e}: [{lo:e}, {hi:e}]", delta[k]),
                        );
                    }
                }
            }
            Check::Argmax(a) => {
                let best = match checks.get(i + 1) {
                    Some(Check::ArgmaxBest) => got.get(i + 1).and_then(Option::as_ref),
                    _ => None,
                };
                argmax(p, &mut v, i, a, exp, dev, best);
            }
        }
        if bit_exact {
            let mismatch = (0..exp.len()).find(|&k| exp.bits(k) != dev.bits(k));
            if let Some(k) = mismatch {
                v.fail(
                    p,
                    i,
                    k,
                    dev.show(k),
                    "bit-identical to the reference".into(),
                );
            }
        }
    }
    v
}

/// Judges one float element: `r` the reference's stored value, `c` its pre-store value,
/// `delta` the bound, `d` the device's stored value. Returns (ok, fraction of the bound,
/// the accepted interval of stored values).
///
/// The device stores `fl(x)` for some pre-store value `x`; it is within bounds when some
/// `x` with `|x − c| ≤ δ` rounds to `d`, i.e. when `c` is within `δ` of `d`'s rounding
/// cell (the values that round to `d`). The fraction is that distance over `δ` (0 when `c`
/// rounds to `d` itself); equivalently, `d ∈ [fl(c − δ), fl(c + δ)]`.
pub fn judge(elem: ElemType, r: f64, c: f64, delta: f64, d: f64) -> (bool, f64, f64, f64) {
    if delta == bounds::ORDER_DEPENDENT {
        return (true, 0.0, f64::NEG_INFINITY, f64::INFINITY);
    }
    if delta == f64::INFINITY {
        // An unbounded error (an intermediate that may overflow f32, a divisor that may be
        // zero): any value, ±inf and NaN included (inf − inf, 0·inf), is some f32
        // evaluation's result, and the reference's own NaN may be such an artifact. Found
        // by the differential fuzzer (`adam_update` with moments near f32::MAX, whose f64
        // reference stores −inf where f32 gives 0; `hebbian_update` whose reference
        // overflowed to inf − inf where the exact result is −inf).
        return (true, 0.0, f64::NEG_INFINITY, f64::INFINITY);
    }
    let delta = if delta.is_nan() { f64::INFINITY } else { delta };
    if r.is_nan() || c.is_nan() {
        let ok = d.is_nan();
        return (ok, if ok { 0.0 } else { f64::INFINITY }, r, r);
    }
    if r.is_infinite() && c.is_infinite() {
        // An exact infinity (it flows from an infinite input): every device gets it.
        let ok = d == r;
        return (ok, if ok { 0.0 } else { f64::INFINITY }, r, r);
    }
    let (lo, hi) = (round_to(elem, c - delta), round_to(elem, c + delta));
    if d.is_nan() {
        return (false, f64::INFINITY, lo, hi);
    }
    if d == r {
        return (true, 0.0, lo, hi);
    }
    let frac = fraction(elem, c, delta, d);
    (frac <= 1.0, frac, lo, hi)
}

/// The distance from `c` to the rounding cell of the stored value `d`, as a fraction of
/// `delta` (0 when `c` rounds to `d`; at most 1 when `d` is within bounds). `c`, `delta`
/// and `d` finite.
pub fn fraction(elem: ElemType, c: f64, delta: f64, d: f64) -> f64 {
    let (below, above) = cell(elem, d);
    let dist = if c < below {
        below - c
    } else if c > above {
        c - above
    } else {
        0.0
    };
    if dist == 0.0 {
        0.0
    } else if delta > 0.0 {
        dist / delta
    } else {
        f64::INFINITY
    }
}

/// The distance between a stored value `d` and an unrounded result `c`, in ulps of
/// `elem` at `d` (the gap to `d`'s neighbour on `c`'s side), or `None` where either is not
/// finite. At most 0.5 when `d` is `c` correctly rounded; a little more after a double
/// rounding (f16 through f32); 1 or more for a neighbour of the correct value.
pub fn ulps(elem: ElemType, c: f64, d: f64) -> Option<f64> {
    if !c.is_finite() || !d.is_finite() {
        return None;
    }
    if c == d {
        return Some(0.0);
    }
    let (down, up) = match elem {
        ElemType::F16 => {
            let h = neurokern_core::f16::from_f64(d);
            (f16_step(h, false).to_f64(), f16_step(h, true).to_f64())
        }
        _ => {
            let x = d as f32;
            (f64::from(f32_step(x, false)), f64::from(f32_step(x, true)))
        }
    };
    // Past the largest finite value the step is infinite: use the gap on the other side.
    let gap = if c > d { up - d } else { d - down };
    let gap = if gap.is_finite() {
        gap
    } else if c > d {
        d - down
    } else {
        up - d
    };
    Some((c - d).abs() / gap)
}

/// The rounding cell of a stored value `d`: the pre-store values that round to it (ties
/// included), `[below, above]`.
fn cell(elem: ElemType, d: f64) -> (f64, f64) {
    let (max, half_ulp_max) = match elem {
        ElemType::F16 => (65504.0, 16.0),
        _ => (f64::from(f32::MAX), 2f64.powi(103)),
    };
    if d.is_infinite() {
        let edge = max + half_ulp_max;
        return if d > 0.0 {
            (edge, f64::INFINITY)
        } else {
            (f64::NEG_INFINITY, -edge)
        };
    }
    let (down, up) = match elem {
        ElemType::F16 => {
            let h = neurokern_core::f16::from_f64(d);
            (f16_step(h, false).to_f64(), f16_step(h, true).to_f64())
        }
        _ => {
            let x = d as f32;
            (f64::from(f32_step(x, false)), f64::from(f32_step(x, true)))
        }
    };
    let below = if down.is_finite() {
        (d + down) / 2.0
    } else {
        d - half_ulp_max
    };
    let above = if up.is_finite() {
        (d + up) / 2.0
    } else {
        d + half_ulp_max
    };
    (below, above)
}

fn f16_step(x: neurokern_core::f16, up: bool) -> neurokern_core::f16 {
    use neurokern_core::f16;
    let b = x.to_bits();
    if b & 0x7fff == 0 {
        return f16::from_bits(if up { 0x0001 } else { 0x8001 });
    }
    let positive = b & 0x8000 == 0;
    f16::from_bits(if positive == up { b + 1 } else { b - 1 })
}

fn f32_step(x: f32, up: bool) -> f32 {
    let b = x.to_bits();
    if b & 0x7fff_ffff == 0 {
        return f32::from_bits(if up { 1 } else { 0x8000_0001 });
    }
    let positive = b & 0x8000_0000 == 0;
    f32::from_bits(if positive == up { b + 1 } else { b - 1 })
}

fn argmax(
    p: &Prepared,
    v: &mut Verdict,
    slot: usize,
    a: &Argmax,
    exp: &HostData,
    dev: &HostData,
    best: Option<&HostData>,
) {
    let elem = p.dtype().elem();
    let exp_best = p.expected.get(slot + 1).and_then(Option::as_ref);
    for row in 0..exp.len() {
        let (r, d) = (exp.get(row) as i64, dev.get(row) as i64);
        // A similarity whose finite terms can overflow f32 is ±inf, NaN or finite
        // depending on the summation order, so the row's winner is too (found by the
        // differential fuzzer: −1 on the reference, 0 on OpenCL); any index in range is
        // some order's answer.
        if (0..a.t).any(|t| a.order_dependent(row, t)) {
            if d < -1 || d >= a.t as i64 {
                v.note(f64::INFINITY);
                v.fail(
                    p,
                    slot,
                    row,
                    d.to_string(),
                    format!("index {d} out of [-1, {})", a.t),
                );
            } else {
                v.note(0.0);
            }
            continue;
        }
        let mut frac = 0.0;
        let mut why = None;
        if r != d {
            if r < 0 || d < 0 || d >= a.t as i64 {
                why = Some(format!("index {d} where the reference has {r}"));
            } else {
                let (sr, br) = a.sim(row, r as usize);
                let (sd, bd) = a.sim(row, d as usize);
                let gap = sr - sd;
                if sd.is_nan() {
                    why = Some("a NaN similarity won".to_string());
                } else if a.same_proto(r as usize, d as usize) {
                    why = Some(format!(
                        "prototypes {r} and {d} are identical: the first must win"
                    ));
                } else if br + bd == 0.0 {
                    why = Some(format!(
                        "exact similarities {sr:e} (t={r}) and {sd:e} (t={d}): the first maximum must win"
                    ));
                } else if gap > br + bd {
                    why = Some(format!(
                        "not a near tie: sim[{r}]={sr:e}, sim[{d}]={sd:e}, gap {gap:e} > bound {:e}",
                        br + bd
                    ));
                } else {
                    frac = gap.max(0.0) / (br + bd);
                }
            }
        }
        v.note(if why.is_some() { f64::INFINITY } else { frac });
        if let Some(why) = why {
            v.fail(p, slot, row, d.to_string(), why);
            continue;
        }
        // The winning similarity, judged around the exact similarity of the index the
        // device chose.
        if let (Some(bd_out), Some(be)) = (best, exp_best) {
            let got = bd_out.get(row);
            let (ok, f) = if d < 0 {
                let ok = got == f64::NEG_INFINITY;
                (ok, if ok { 0.0 } else { f64::INFINITY })
            } else {
                let (s, b) = a.sim(row, d as usize);
                let (ok, f, _, _) = judge(elem, round_to(elem, s), s, b, got);
                (ok, f)
            };
            v.note(f);
            if !ok {
                let name = p.operands[slot + 1].name.to_string();
                v.failed += 1;
                if v.failures.len() < MAX_REPORTED {
                    v.failures.push(ElemFailure {
                        operand: name,
                        index: row,
                        expected: be.show(row),
                        got: bd_out.show(row),
                        bound: "dot-product bound around the chosen prototype's similarity".into(),
                        inputs: format!("row {row}, chosen prototype {d}"),
                    });
                }
            }
        }
    }
}

/// Compares two runs' outputs bit for bit; returns the first difference.
pub fn first_difference(
    p: &Prepared,
    a: &[Option<HostData>],
    b: &[Option<HostData>],
) -> Option<(String, usize, String, String)> {
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let (Some(x), Some(y)) = (x, y) else {
            continue;
        };
        if let Some(k) = (0..x.len().min(y.len())).find(|&k| x.bits(k) != y.bits(k)) {
            return Some((p.operands[i].name.to_string(), k, x.show(k), y.show(k)));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulps_measure_the_distance_to_the_unrounded_result() {
        // f16 spacing at 1 is 2⁻¹⁰ above, 2⁻¹¹ below.
        let up = 2f64.powi(-10);
        assert_eq!(ulps(ElemType::F16, 1.0, 1.0), Some(0.0));
        assert_eq!(ulps(ElemType::F16, 1.0 + 0.25 * up, 1.0), Some(0.25));
        assert_eq!(ulps(ElemType::F16, 1.0 - 0.25 * up, 1.0), Some(0.5));
        // A neighbour of the correctly rounded value is more than half an ulp away.
        assert!(ulps(ElemType::F16, 1.0 + 0.25 * up, 1.0 + up).unwrap() > 0.5);
        // f32, and the top of the range (no finite step above 65504).
        let u32_ = f64::from(f32::EPSILON);
        assert_eq!(ulps(ElemType::F32, 1.0 + u32_ / 2.0, 1.0), Some(0.5));
        assert_eq!(ulps(ElemType::F16, 65504.0 + 8.0, 65504.0), Some(0.25));
        assert_eq!(ulps(ElemType::F16, f64::NAN, 1.0), None);
        assert_eq!(ulps(ElemType::F16, 1.0, f64::INFINITY), None);
    }
}
