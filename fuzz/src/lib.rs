//! Shared generators of the neurokern fuzz targets: arbitrary op descriptors, argument
//! plans and value distributions, built from the fuzzer's bytes with `arbitrary`.
//!
//! The targets in `fuzz_targets/` are a few lines of glue over these. Dims, scalars and
//! values are biased toward the places where kernels break: zero, one, primes, the
//! `i32::MAX` limit and `usize` overflow for dims; NaN, ±inf, ±0, subnormals, 65504 and
//! huge magnitudes for values; negative and out-of-range indices.

pub mod artifact;
pub mod targets;

use arbitrary::{Result, Unstructured};
use neurokern_core::op::fields::MAX_FIELDS;
use neurokern_core::op::FieldKind;
use neurokern_core::reference::Arg;
use neurokern_core::{f16, ElemType, FloatType, Op, OpKind, Role};

/// A dim: mostly small, sometimes large, sometimes past every limit.
pub fn dim(u: &mut Unstructured<'_>) -> Result<usize> {
    Ok(match u.int_in_range(0u8..=19)? {
        0..=1 => 0,
        2..=13 => u.int_in_range(1..=9)?,
        14..=15 => u.int_in_range(10..=70)?,
        16 => u.arbitrary::<u32>()? as usize,
        17 => (i32::MAX as usize)
            .wrapping_add(u.int_in_range(0..=2)?)
            .wrapping_sub(1),
        18 => usize::MAX - u.int_in_range(0..=3)?,
        _ => 1 << u.int_in_range(15..=40)?,
    })
}

/// A scalar: ordinary values, edge values and non-finite ones.
pub fn scalar(u: &mut Unstructured<'_>) -> Result<f32> {
    Ok(match u.int_in_range(0u8..=11)? {
        0 => f32::NAN,
        1 => f32::INFINITY,
        2 => f32::NEG_INFINITY,
        3 => 0.0,
        4 => -1.0,
        5 => 1.0,
        6 => f32::from_bits(u.arbitrary()?),
        _ => u.int_in_range(-1000..=1000)? as f32 / 1000.0,
    })
}

/// A float value biased to the edges of f32 and f16.
pub fn value(u: &mut Unstructured<'_>) -> Result<f32> {
    Ok(match u.int_in_range(0u8..=15)? {
        0 => f32::NAN,
        1 => f32::INFINITY,
        2 => f32::NEG_INFINITY,
        3 => 0.0,
        4 => -0.0,
        5 => 65504.0,
        6 => -65504.0,
        7 => 5.96e-8, // the smallest f16 subnormal
        8 => 1.0e-40, // an f32 subnormal
        9 => 3.0e38,
        10 => f32::from_bits(u.arbitrary()?),
        _ => u.int_in_range(-4000..=4000)? as f32 / 1000.0,
    })
}

/// An index: mostly in `[0, n)`, sometimes −1 (padding), past the end, or extreme.
pub fn index(u: &mut Unstructured<'_>, n: usize) -> Result<i32> {
    let n = i32::try_from(n).unwrap_or(i32::MAX);
    Ok(match u.int_in_range(0u8..=9)? {
        0 => -1,
        1 => n,
        2 => i32::MIN,
        3 => i32::MAX,
        _ if n > 0 => u.int_in_range(0..=n - 1)?,
        _ => u.arbitrary()?,
    })
}

/// An arbitrary descriptor of any op kind.
pub fn op(u: &mut Unstructured<'_>) -> Result<Op> {
    let kind = *u.choose(OpKind::ALL)?;
    op_of_kind(u, kind)
}

/// An arbitrary descriptor of `kind`, drawn field by field in declaration order (so the
/// committed inputs keep decoding to the same descriptors): dims from [`dim`], Adam's step
/// in `0..=3`, scalars from [`scalar`], flags from one byte each.
pub fn op_of_kind(u: &mut Unstructured<'_>, kind: OpKind) -> Result<Op> {
    let (mut dims, mut scalars, mut flags) = ([0usize; MAX_FIELDS], [0f32; MAX_FIELDS], 0u32);
    for f in kind.fields() {
        match f.kind {
            FieldKind::Dim => dims[f.slot] = dim(u)?,
            FieldKind::Count => dims[f.slot] = u.int_in_range(0u32..=3)? as usize,
            FieldKind::Scalar => scalars[f.slot] = scalar(u)?,
            FieldKind::Flag => flags |= u32::from(u.arbitrary::<bool>()?) << f.slot,
        }
    }
    // The numbers come from the kind's own field list, so they are its fields.
    Ok(Op::from_fields(kind, &dims, &scalars, flags).expect("fields from the kind's list"))
}

/// A float dtype.
pub fn dtype(u: &mut Unstructured<'_>) -> Result<FloatType> {
    Ok(if u.arbitrary()? {
        FloatType::F16
    } else {
        FloatType::F32
    })
}

/// Host data of one argument slot.
#[derive(Debug, Clone)]
pub enum Data {
    /// Empty slot.
    Absent,
    /// `f32` buffer.
    F32(Vec<f32>),
    /// `f16` buffer.
    F16(Vec<f16>),
    /// `i32` buffer.
    I32(Vec<i32>),
    /// In place into slot `n`.
    SameAs(usize),
}

/// Element counts above which a generated buffer is not allocated (the fuzzers must not
/// allocate unboundedly): a slot whose operand is bigger is given a short buffer instead,
/// which validation must reject.
pub const MAX_ELEMS: usize = 1 << 16;

/// Argument slots for `op`: mostly what the operand list asks for (right element type and
/// length, values from [`value`] and [`index`]), sometimes wrong in one way (length off,
/// element type swapped, optional slot filled or emptied, an alias), never more than
/// [`MAX_ELEMS`] elements per buffer.
pub fn args(u: &mut Unstructured<'_>, op: &Op, dtype: FloatType) -> Result<Vec<Data>> {
    let specs: Vec<_> = match op.operands() {
        Ok(ops) => ops.iter().copied().collect(),
        // Dims overflowed: validation rejects the call whatever the buffers; give a few
        // small ones so the slot checks are never reached first by accident.
        Err(_) => return Ok(vec![Data::F32(vec![0.0; 1]); u.int_in_range(0..=6)?]),
    };
    let idx_range = index_range(op);
    let mut out = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        let mutate = u.ratio(1u8, 12)?;
        let mut present = spec.present;
        let mut elem = spec.elem.resolve(dtype);
        let mut len = spec.len;
        if mutate {
            match u.int_in_range(0u8..=4)? {
                0 => present = !present,
                1 => len = len.wrapping_add(1),
                2 => len = len.saturating_sub(1),
                3 => elem = *u.choose(&[ElemType::F32, ElemType::F16, ElemType::I32])?,
                _ => {
                    if spec.role == Role::Output && i > 0 {
                        out.push(Data::SameAs(u.int_in_range(0..=i - 1)?));
                        continue;
                    }
                }
            }
        } else if spec.may_alias.is_some() && u.ratio(1u8, 4)? {
            out.push(Data::SameAs(spec.may_alias.unwrap_or(0)));
            continue;
        }
        if !present {
            out.push(Data::Absent);
            continue;
        }
        let len = len.min(MAX_ELEMS);
        out.push(match elem {
            ElemType::F32 => Data::F32((0..len).map(|_| value(u)).collect::<Result<_>>()?),
            ElemType::F16 => Data::F16(
                (0..len)
                    .map(|_| value(u).map(f16::from_f32))
                    .collect::<Result<_>>()?,
            ),
            ElemType::I32 => Data::I32(
                (0..len)
                    .map(|_| index(u, idx_range))
                    .collect::<Result<_>>()?,
            ),
        });
    }
    // An in-place output needs its target slot writable: make inputs the reference
    // reads through `SameAs` mutable is the caller's business (see `as_args`).
    Ok(out)
}

/// The range indices of `op` are drawn from (vocabulary, prototypes, …).
fn index_range(op: &Op) -> usize {
    match op {
        Op::EmbeddingLookup(d) => d.vocab,
        Op::EmbeddingBackward(d) => d.vocab,
        Op::CrossEntropyLossGrad(d) => d.vocab,
        Op::ShapeLoss(d) => d.vocab,
        Op::ProtoSegmentedSum(d) => d.t,
        Op::ProtoUpdateStep(d) => d.t,
        _ => 8,
    }
}

/// Borrows host data as reference arguments (every buffer writable, so that any slot an
/// output names with `SameAs` can be computed in place).
pub fn as_args(data: &mut [Data]) -> Vec<Arg<'_>> {
    data.iter_mut()
        .map(|d| match d {
            Data::Absent => Arg::Absent,
            Data::F32(v) => Arg::F32Mut(v),
            Data::F16(v) => Arg::F16Mut(v),
            Data::I32(v) => Arg::I32Mut(v),
            Data::SameAs(j) => Arg::SameAs(*j),
        })
        .collect()
}

/// Runs one call on the reference; returns the validation error, if any. Never panics on
/// any input: that is what the `reference` target checks.
pub fn run_reference(
    op: &Op,
    dtype: FloatType,
    data: &mut [Data],
) -> std::result::Result<(), neurokern_core::Error> {
    let need = neurokern_core::reference::scratch_len(op, dtype)?;
    // The scratch is sized by the descriptor; a descriptor whose buffers were capped at
    // MAX_ELEMS fails validation before the scratch is used, so cap it too.
    let mut scratch = vec![0.0f32; need.min(4 * MAX_ELEMS)];
    let mut args = as_args(data);
    neurokern_core::reference::run(op, dtype, &mut args, &mut scratch)
}

/// Bytes of a slot's data (native endianness), as a device upload wants them.
pub fn bytes_of(d: &Data) -> Vec<u8> {
    match d {
        Data::F32(v) => v.iter().flat_map(|x| x.to_ne_bytes()).collect(),
        Data::F16(v) => v.iter().flat_map(|x| x.to_bits().to_ne_bytes()).collect(),
        Data::I32(v) => v.iter().flat_map(|x| x.to_ne_bytes()).collect(),
        Data::Absent | Data::SameAs(_) => Vec::new(),
    }
}

/// The element type and length of a slot's data.
pub fn shape_of(d: &Data) -> Option<(ElemType, usize)> {
    match d {
        Data::F32(v) => Some((ElemType::F32, v.len())),
        Data::F16(v) => Some((ElemType::F16, v.len())),
        Data::I32(v) => Some((ElemType::I32, v.len())),
        Data::Absent | Data::SameAs(_) => None,
    }
}

/// Same values, with any NaN equal to any NaN (the sign and payload of a computed NaN
/// are not part of the contract: IEEE leaves them to the hardware and the compiler's
/// operand order).
pub fn same_bits(expected: &Data, got: &Data) -> bool {
    fn eq<T: PartialEq + Copy>(a: &[T], b: &[T], nan: impl Fn(T) -> bool) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y || (nan(*x) && nan(*y)))
    }
    match (expected, got) {
        (Data::F32(a), Data::F32(b)) => {
            eq(a, b, f32::is_nan)
                && a.iter()
                    .zip(b)
                    .all(|(x, y)| x.is_nan() || x.to_bits() == y.to_bits())
        }
        (Data::F16(a), Data::F16(b)) => {
            eq(a, b, |x: f16| x.is_nan())
                && a.iter()
                    .zip(b)
                    .all(|(x, y)| x.is_nan() || x.to_bits() == y.to_bits())
        }
        (Data::I32(a), Data::I32(b)) => a == b,
        (Data::Absent, Data::Absent) => true,
        _ => false,
    }
}
