//! The reference CPU implementation: the oracle every backend is judged against.
//!
//! It computes each op exactly as `docs/OPS.md` says, in a fixed, documented order:
//!
//! * f16 inputs are widened exactly to f32; sums and dot products accumulate in f32 in
//!   increasing index order (`Σ_k` runs `k = 0, 1, …`; scatter sums run in increasing row
//!   order), so the result is the same bits on every run and every machine;
//! * elementwise formulas and transcendental functions (`exp`, `ln`, `erfc`, `sqrt`) are
//!   evaluated in f64 from the widened inputs — more accurate than any f32 backend;
//! * each output element is rounded once, to nearest-even, when it is stored.
//!
//! It needs no allocator: the caller passes every buffer as a slice ([`Arg`]) and, for the
//! few ops that accumulate f32 partial sums for an f16 output (or need per-column
//! accumulators), a scratch slice of [`scratch_len`] `f32`s.

mod activation;
mod elementwise;
mod embedding;
mod layout;
mod linear;
mod loss;
mod norm;
mod optim;
mod proto;
pub mod special;

use half::f16;

use crate::dtype::{ElemType, Float, FloatType};
use crate::error::Error;
use crate::op::Op;
use crate::operand::{ArgDesc, Operands, Role, MAX_OPERANDS};

/// One argument slot of a reference call: a slice the caller owns, an empty slot for an
/// optional operand the descriptor disables, or — for the outputs OPS.md allows to alias
/// an input (`add`'s `c` with `a`, …) — [`Arg::SameAs`] naming that input's slot, which must
/// then hold a mutable slice.
#[derive(Debug)]
pub enum Arg<'a> {
    /// Empty slot.
    Absent,
    /// Read-only `f32` data.
    F32(&'a [f32]),
    /// Read-only `f16` data.
    F16(&'a [f16]),
    /// Read-only `i32` data.
    I32(&'a [i32]),
    /// Writable `f32` data (also accepted for inputs).
    F32Mut(&'a mut [f32]),
    /// Writable `f16` data (also accepted for inputs).
    F16Mut(&'a mut [f16]),
    /// Writable `i32` data (also accepted for inputs).
    I32Mut(&'a mut [i32]),
    /// This output is computed in place into the buffer of slot `n`.
    SameAs(usize),
}

impl Arg<'_> {
    fn desc(&self) -> Option<ArgDesc> {
        // The identity of a slice is its address; empty slices never count as shared
        // (`check_args` skips them), so dangling addresses of empty slices are harmless.
        let (elem, len, id) = match self {
            Arg::Absent | Arg::SameAs(_) => return None,
            Arg::F32(s) => (ElemType::F32, s.len(), s.as_ptr() as usize),
            Arg::F16(s) => (ElemType::F16, s.len(), s.as_ptr() as usize),
            Arg::I32(s) => (ElemType::I32, s.len(), s.as_ptr() as usize),
            Arg::F32Mut(s) => (ElemType::F32, s.len(), s.as_ptr() as usize),
            Arg::F16Mut(s) => (ElemType::F16, s.len(), s.as_ptr() as usize),
            Arg::I32Mut(s) => (ElemType::I32, s.len(), s.as_ptr() as usize),
        };
        Some(ArgDesc::buffer(elem, len, id))
    }

    fn is_mut(&self) -> bool {
        matches!(self, Arg::F32Mut(_) | Arg::F16Mut(_) | Arg::I32Mut(_))
    }
}

/// The number of `f32` scratch elements [`run`] needs for `op` in `dtype` (0 for most ops).
/// Returns the validation error for a descriptor whose dims overflow.
pub fn scratch_len(op: &Op, dtype: FloatType) -> Result<usize, Error> {
    op.operands()?; // checked dims: the products below cannot overflow
    let f16 = dtype == FloatType::F16;
    Ok(match op {
        // The GEMM family accumulates in fixed-size blocks on the stack; only these need
        // room proportional to the problem. dγ, dβ: column accumulators summed in row
        // order; the scatter sums of an f16 output accumulate in f32.
        Op::LayerNormBackward(d) if d.affine => 2 * d.len,
        Op::EmbeddingBackward(d) if f16 => d.vocab * d.dim,
        Op::ProtoSegmentedSum(d) if f16 => d.t * d.e,
        _ => 0,
    })
}

/// Validates a call (descriptor, slots, element types, lengths, aliasing, writability)
/// without running it.
pub fn validate(op: &Op, dtype: FloatType, args: &[Arg<'_>]) -> Result<Operands, Error> {
    let name = op.name();
    let operands = op.validate()?;
    if args.len() != operands.len() {
        return Err(Error::ArgCount {
            op: name,
            expected: operands.len(),
            got: args.len(),
        });
    }
    // First what any backend would see: `SameAs(j)` is slot j's buffer passed again.
    let mut descs = [ArgDesc::ABSENT; MAX_OPERANDS];
    for (i, arg) in args.iter().enumerate() {
        descs[i] = match arg {
            Arg::SameAs(j) if *j != i => {
                args.get(*j).and_then(Arg::desc).unwrap_or(ArgDesc::ABSENT)
            }
            other => other.desc().unwrap_or(ArgDesc::ABSENT),
        };
    }
    crate::operand::check_args(name, &operands, dtype, &descs[..args.len()])?;
    // Then what only slices add: every written operand needs a writable slice of its
    // own, or (an output) `SameAs` a slot holding one. Checked last, so every error a
    // device would also report comes first, in the same order.
    for (i, (spec, arg)) in operands.iter().zip(args).enumerate() {
        if !spec.present {
            continue; // a disabled optional operand: its slot names no buffer (checked above)
        }
        let writable = match arg {
            Arg::Absent => true,
            Arg::SameAs(j) => {
                spec.role == Role::Output && *j != i && args.get(*j).is_some_and(Arg::is_mut)
            }
            other => !spec.role.is_written() || other.is_mut(),
        };
        if !writable {
            return Err(Error::ReadOnly {
                op: name,
                operand: spec.name,
            });
        }
    }
    Ok(operands)
}

/// Runs any op on borrowed slices, after validation. `scratch` must hold at least
/// [`scratch_len`] elements (its contents are ignored and overwritten).
pub fn run(
    op: &Op,
    dtype: FloatType,
    args: &mut [Arg<'_>],
    scratch: &mut [f32],
) -> Result<(), Error> {
    let operands = validate(op, dtype, args)?;
    let need = scratch_len(op, dtype)?;
    if scratch.len() < need {
        return Err(Error::Length {
            op: op.name(),
            operand: "scratch",
            expected: need,
            got: scratch.len(),
        });
    }
    let scratch = &mut scratch[..need];
    // `SameAs` only moves a real buffer. Naming a slot with no buffer (validation let it
    // through only for a disabled operand) is an empty slot; naming an empty buffer shares
    // nothing (empty buffers never count as shared), so the output gets an empty slice of
    // its own and the input keeps its slot.
    for o in 0..args.len() {
        if let Arg::SameAs(j) = args[o] {
            args[o] = match args.get(j).and_then(Arg::desc) {
                None => Arg::Absent,
                Some(d) if d.len > 0 => continue,
                Some(d) => match d.elem {
                    Some(ElemType::F32) | None => Arg::F32Mut(&mut []),
                    Some(ElemType::F16) => Arg::F16Mut(&mut []),
                    Some(ElemType::I32) => Arg::I32Mut(&mut []),
                },
            };
        }
    }
    // Nothing to write (a zero-sized output, or every optional output disabled): done.
    // Besides saving time, this keeps the cost of a call bounded by its buffers: with
    // `matmul { m: 2^31 − 1, k: 0, n: 0 }` every buffer is empty, yet the loops would
    // still walk over the rows.
    if !op.has_work()? {
        return Ok(());
    }
    let mut slots = Slots::new(op.name(), &operands, args);
    match dtype {
        FloatType::F32 => dispatch::<f32>(op, &mut slots, scratch),
        FloatType::F16 => dispatch::<f16>(op, &mut slots, scratch),
    }
}

fn dispatch<T: RefFloat>(op: &Op, s: &mut Slots<'_, '_>, scratch: &mut [f32]) -> Result<(), Error> {
    match op {
        Op::MatMul(d) => linear::matmul::<T>(d, s, scratch),
        Op::MatMulBackward(d) => linear::matmul_backward::<T>(d, s, scratch),
        Op::MatMulBatched(d) => linear::matmul_batched::<T>(d, s, scratch),
        Op::MatMulBatchedBackward(d) => linear::matmul_batched_backward::<T>(d, s, scratch),
        Op::HebbianUpdate(d) => linear::hebbian_update::<T>(d, s, scratch),
        Op::PairwiseSimilarity(d) => linear::pairwise_similarity::<T>(d, s),
        Op::Softmax(d) => activation::softmax::<T>(d.len, s),
        Op::LogSoftmax(d) => activation::log_softmax::<T>(d.len, s),
        Op::SoftmaxBackward(d) => activation::softmax_backward::<T>(d.len, s),
        Op::Gelu(_) => activation::gelu::<T>(s),
        Op::GeluBackward(_) => activation::gelu_backward::<T>(s),
        Op::ThresholdSpike(d) => activation::threshold_spike::<T>(d.threshold, s),
        Op::Add(_) => elementwise::add::<T>(s),
        Op::Mul(_) => elementwise::mul::<T>(s),
        Op::MulBackward(_) => elementwise::mul_backward::<T>(s),
        // The broadcast operand repeats every `len(bias)` / `len(pe)` elements.
        Op::AddBias(_) | Op::AddBroadcastPe(_) => elementwise::add::<T>(s),
        Op::ReduceSum01(d) => elementwise::reduce_sum_01::<T>(d.n, s),
        Op::LayerNorm(d) => norm::layer_norm::<T>(d, s),
        Op::LayerNormBackward(d) => norm::layer_norm_backward::<T>(d, s, scratch),
        Op::Transpose(d) => layout::transpose_12::<T>(1, d.rows, d.cols, 1, s),
        Op::TransposeBatched(d) => layout::transpose_12::<T>(d.b, d.d1, d.d2, 1, s),
        Op::Transpose12(d) => layout::transpose_12::<T>(d.b, d.d1, d.d2, d.d3, s),
        Op::AdamUpdate(d) => optim::adam_update::<T>(d, s),
        Op::EmbeddingLookup(d) => embedding::lookup::<T>(d, s),
        Op::EmbeddingBackward(d) => embedding::backward::<T>(d, s, scratch),
        Op::CrossEntropyLossGrad(d) => loss::cross_entropy_loss_grad::<T>(d, s),
        Op::ShapeLoss(d) => loss::shape_loss::<T>(d, s),
        Op::DynamicTokenAssignment(d) => proto::dynamic_token_assignment::<T>(d, s),
        Op::ProtoSegmentedSum(d) => proto::segmented_sum::<T>(d, s, scratch),
        Op::ProtoUpdateStep(d) => proto::update_step::<T>(d, s),
    }
}

/// The float types the reference is generic over, with access to their slices in an
/// [`Arg`].
pub(crate) trait RefFloat: Float {
    fn get<'a>(arg: &'a Arg<'_>) -> Option<&'a [Self]>;
    fn get_mut<'a>(arg: &'a mut Arg<'_>) -> Option<&'a mut [Self]>;
}

impl RefFloat for f32 {
    fn get<'a>(arg: &'a Arg<'_>) -> Option<&'a [f32]> {
        match arg {
            Arg::F32(s) => Some(s),
            Arg::F32Mut(s) => Some(s),
            _ => None,
        }
    }
    fn get_mut<'a>(arg: &'a mut Arg<'_>) -> Option<&'a mut [f32]> {
        match arg {
            Arg::F32Mut(s) => Some(s),
            _ => None,
        }
    }
}

impl RefFloat for f16 {
    fn get<'a>(arg: &'a Arg<'_>) -> Option<&'a [f16]> {
        match arg {
            Arg::F16(s) => Some(s),
            Arg::F16Mut(s) => Some(s),
            _ => None,
        }
    }
    fn get_mut<'a>(arg: &'a mut Arg<'_>) -> Option<&'a mut [f16]> {
        match arg {
            Arg::F16Mut(s) => Some(s),
            _ => None,
        }
    }
}

fn get_i32<'a>(arg: &'a Arg<'_>) -> Option<&'a [i32]> {
    match arg {
        Arg::I32(s) => Some(s),
        Arg::I32Mut(s) => Some(s),
        _ => None,
    }
}

fn get_i32_mut<'a>(arg: &'a mut Arg<'_>) -> Option<&'a mut [i32]> {
    match arg {
        Arg::I32Mut(s) => Some(s),
        _ => None,
    }
}

/// The validated argument slots of one call, handed out one operand at a time as typed
/// slices. Each slot is taken at most once, so the shared and mutable slices handed out
/// never overlap; an output declared [`Arg::SameAs`] an input takes that input's buffer,
/// and the input is then reported as aliased (`None`), meaning "read it from the output".
pub(crate) struct Slots<'s, 'a> {
    op: &'static str,
    names: [&'static str; MAX_OPERANDS],
    slots: [Option<&'s mut Arg<'a>>; MAX_OPERANDS],
}

impl<'s, 'a> Slots<'s, 'a> {
    fn new(op: &'static str, operands: &Operands, args: &'s mut [Arg<'a>]) -> Self {
        let mut names = [""; MAX_OPERANDS];
        for (n, spec) in names.iter_mut().zip(operands.iter()) {
            *n = spec.name;
        }
        let mut slots: [Option<&'s mut Arg<'a>>; MAX_OPERANDS] = Default::default();
        for (slot, arg) in slots.iter_mut().zip(args.iter_mut()) {
            *slot = Some(arg);
        }
        // Resolve in-place outputs: move the input's buffer to the output's slot.
        for o in 0..MAX_OPERANDS {
            let target = match slots[o].as_deref() {
                Some(Arg::SameAs(j)) => *j,
                _ => continue,
            };
            if target < MAX_OPERANDS {
                slots[o] = slots[target].take();
            }
        }
        Slots { op, names, slots }
    }

    fn missing(&self, i: usize) -> Error {
        Error::Missing {
            op: self.op,
            operand: self.names.get(i).copied().unwrap_or("?"),
        }
    }

    fn read_only(&self, i: usize) -> Error {
        Error::ReadOnly {
            op: self.op,
            operand: self.names.get(i).copied().unwrap_or("?"),
        }
    }

    /// Float input `i`.
    pub(crate) fn input<T: RefFloat>(&mut self, i: usize) -> Result<&'s [T], Error> {
        self.input_or_aliased(i)?.ok_or_else(|| self.missing(i))
    }

    /// Float input `i`, or `None` when an output took its buffer (read from the output).
    pub(crate) fn input_or_aliased<T: RefFloat>(
        &mut self,
        i: usize,
    ) -> Result<Option<&'s [T]>, Error> {
        match self.slots.get_mut(i).and_then(Option::take) {
            None => Ok(None),
            Some(arg) => {
                let arg: &'s Arg<'a> = arg;
                T::get(arg).map(Some).ok_or_else(|| self.missing(i))
            }
        }
    }

    /// Float output (or in/out) `i`.
    pub(crate) fn output<T: RefFloat>(&mut self, i: usize) -> Result<&'s mut [T], Error> {
        match self.slots.get_mut(i).and_then(Option::take) {
            Some(arg) => T::get_mut(arg).ok_or_else(|| self.read_only(i)),
            None => Err(self.missing(i)),
        }
    }

    /// Optional float output `i` (`None` when the descriptor disables it).
    pub(crate) fn optional_output<T: RefFloat>(
        &mut self,
        i: usize,
    ) -> Result<Option<&'s mut [T]>, Error> {
        match self.slots.get(i) {
            Some(Some(Arg::Absent)) | None => Ok(None),
            _ => self.output(i).map(Some),
        }
    }

    /// Optional float input `i`.
    pub(crate) fn optional_input<T: RefFloat>(
        &mut self,
        i: usize,
    ) -> Result<Option<&'s [T]>, Error> {
        match self.slots.get(i) {
            Some(Some(Arg::Absent)) | None => Ok(None),
            _ => self.input(i).map(Some),
        }
    }

    /// `f32` in/out `i` (Adam's moments).
    pub(crate) fn f32_output(&mut self, i: usize) -> Result<&'s mut [f32], Error> {
        self.output::<f32>(i)
    }

    /// `i32` input `i`.
    pub(crate) fn i32_input(&mut self, i: usize) -> Result<&'s [i32], Error> {
        match self.slots.get_mut(i).and_then(Option::take) {
            Some(arg) => {
                let arg: &'s Arg<'a> = arg;
                get_i32(arg).ok_or_else(|| self.missing(i))
            }
            None => Err(self.missing(i)),
        }
    }

    /// `i32` output `i`.
    pub(crate) fn i32_output(&mut self, i: usize) -> Result<&'s mut [i32], Error> {
        match self.slots.get_mut(i).and_then(Option::take) {
            Some(arg) => get_i32_mut(arg).ok_or_else(|| self.read_only(i)),
            None => Err(self.missing(i)),
        }
    }
}

/// f64 maths through `num-traits`' `libm` backend, spelled out so that the same calls
/// are used with and without `std` (whose inherent methods would shadow the trait's).
pub(crate) mod math {
    #[inline]
    pub(crate) fn exp(x: f64) -> f64 {
        num_traits::Float::exp(x)
    }
    #[inline]
    pub(crate) fn ln(x: f64) -> f64 {
        num_traits::Float::ln(x)
    }
    #[inline]
    pub(crate) fn sqrt(x: f64) -> f64 {
        num_traits::Float::sqrt(x)
    }
    #[inline]
    pub(crate) fn powf(x: f64, y: f64) -> f64 {
        num_traits::Float::powf(x, y)
    }
}

/// `Σ a[i]·b[i]` in f32, in increasing `i`.
#[inline]
pub(crate) fn dot<T: Float>(a: &[T], b: &[T]) -> f32 {
    let mut acc = 0.0f32;
    for (x, y) in a.iter().zip(b) {
        acc += x.widen() * y.widen();
    }
    acc
}

/// Stores f32 values into `out`, rounding each once.
#[inline]
pub(crate) fn store<T: Float>(out: &mut [T], vals: &[f32]) {
    for (o, v) in out.iter_mut().zip(vals) {
        *o = T::narrow(*v);
    }
}
