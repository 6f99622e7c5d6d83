//! [`NkOp`]: core's [`Op`] as a `#[repr(C)]` value — a kind code plus fixed arrays of
//! dims, scalars and flags — and the lossless conversions both ways.

use core::fmt;

use neurokern_core::op::{
    AdamUpdate, Add, AddBias, AddBroadcastPe, CrossEntropyLossGrad, DynamicTokenAssignment,
    EmbeddingBackward, EmbeddingLookup, Gelu, GeluBackward, HebbianUpdate, LayerNorm,
    LayerNormBackward, LogSoftmax, MatMul, MatMulBackward, MatMulBatched, MatMulBatchedBackward,
    Mul, MulBackward, PairwiseSimilarity, ProtoSegmentedSum, ProtoUpdateStep, ReduceSum01,
    ShapeLoss, Softmax, SoftmaxBackward, SumMode, ThresholdSpike, Transpose, Transpose12,
    TransposeBatched,
};
use neurokern_core::{Op, OpKind};

/// Number of dim slots in an [`NkOp`].
pub const NK_OP_DIMS: usize = 6;
/// Number of scalar slots in an [`NkOp`].
pub const NK_OP_SCALARS: usize = 6;

/// An op descriptor as it crosses the C ABI.
///
/// `kind` is the [`OpKind`] code; `dims`, `scalars` and `flags` hold the descriptor's
/// fields in the order the table in `ABI.md` gives for each kind (e.g. `matmul`:
/// `dims = [b, m, k, n]`; `adam_update`: `dims = [n, t]`, `scalars = [lr, beta1, beta2,
/// eps, weight_decay]`, `flags` bit 0 = `decoupled`). Unused slots must be zero (bit
/// pattern zero for scalars), and flags outside the kind's defined bits must be clear:
/// [`NkOp::to_op`] rejects anything else, so every `NkOp` it accepts converts back to the
/// same bits.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct NkOp {
    /// [`OpKind`] code.
    pub kind: u32,
    /// Boolean options, one bit each (see `ABI.md`).
    pub flags: u32,
    /// Dims (and Adam's step `t`), in the kind's order.
    pub dims: [u64; NK_OP_DIMS],
    /// `f32` scalars, in the kind's order.
    pub scalars: [f32; NK_OP_SCALARS],
}

/// Why an [`NkOp`] is not a valid descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DescError {
    /// `kind` is no [`OpKind`] code this version knows.
    UnknownKind(u32),
    /// Bits set in `flags` that the kind does not define.
    UnknownFlags {
        /// The op.
        op: &'static str,
        /// The offending bits.
        bits: u32,
    },
    /// A dim slot the kind does not use is non-zero.
    UnusedDim {
        /// The op.
        op: &'static str,
        /// Slot index.
        index: usize,
    },
    /// A scalar slot the kind does not use is non-zero.
    UnusedScalar {
        /// The op.
        op: &'static str,
        /// Slot index.
        index: usize,
    },
    /// A dim (or Adam's `t`) does not fit its Rust type on this host.
    Overflow {
        /// The op.
        op: &'static str,
        /// Slot index.
        index: usize,
    },
}

impl fmt::Display for DescError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DescError::UnknownKind(k) => write!(f, "op descriptor: unknown op kind code {k}"),
            DescError::UnknownFlags { op, bits } => {
                write!(f, "{op}: op descriptor has undefined flag bits {bits:#x}")
            }
            DescError::UnusedDim { op, index } => {
                write!(
                    f,
                    "{op}: op descriptor dim slot {index} is unused but non-zero"
                )
            }
            DescError::UnusedScalar { op, index } => {
                write!(
                    f,
                    "{op}: op descriptor scalar slot {index} is unused but non-zero"
                )
            }
            DescError::Overflow { op, index } => {
                write!(
                    f,
                    "{op}: op descriptor dim slot {index} does not fit this host"
                )
            }
        }
    }
}

fn pack(kind: OpKind, dims: &[usize], scalars: &[f32], flags: u32) -> NkOp {
    let mut d = NkOp {
        kind: kind as u32,
        flags,
        ..NkOp::default()
    };
    for (slot, &v) in d.dims.iter_mut().zip(dims) {
        *slot = v as u64;
    }
    d.scalars[..scalars.len()].copy_from_slice(scalars);
    d
}

fn bit(b: bool, n: u32) -> u32 {
    (b as u32) << n
}

/// The checked fields of an [`NkOp`] for a kind with `nd` dims, `ns` scalars and flag
/// bits `mask`.
struct Fields {
    dims: [usize; NK_OP_DIMS],
    scalars: [f32; NK_OP_SCALARS],
    flags: u32,
}

impl Fields {
    fn flag(&self, n: u32) -> bool {
        self.flags & (1 << n) != 0
    }
}

fn unpack(
    d: &NkOp,
    op: &'static str,
    nd: usize,
    ns: usize,
    mask: u32,
) -> Result<Fields, DescError> {
    if d.flags & !mask != 0 {
        return Err(DescError::UnknownFlags {
            op,
            bits: d.flags & !mask,
        });
    }
    let mut dims = [0usize; NK_OP_DIMS];
    for (index, (&v, out)) in d.dims.iter().zip(dims.iter_mut()).enumerate() {
        if index >= nd {
            if v != 0 {
                return Err(DescError::UnusedDim { op, index });
            }
            continue;
        }
        *out = usize::try_from(v).map_err(|_| DescError::Overflow { op, index })?;
    }
    for (index, s) in d.scalars.iter().enumerate().skip(ns) {
        if s.to_bits() != 0 {
            return Err(DescError::UnusedScalar { op, index });
        }
    }
    Ok(Fields {
        dims,
        scalars: d.scalars,
        flags: d.flags,
    })
}

impl NkOp {
    /// Packs a core descriptor.
    pub fn from_op(op: &Op) -> NkOp {
        let k = op.kind();
        match *op {
            Op::MatMul(MatMul { b, m, k: kk, n })
            | Op::MatMulBatched(MatMulBatched { b, m, k: kk, n }) => {
                pack(k, &[b, m, kk, n], &[], 0)
            }
            Op::MatMulBackward(MatMulBackward {
                b,
                m,
                k: kk,
                n,
                want_d_a,
                want_d_w,
            })
            | Op::MatMulBatchedBackward(MatMulBatchedBackward {
                b,
                m,
                k: kk,
                n,
                want_d_a,
                want_d_w,
            }) => pack(k, &[b, m, kk, n], &[], bit(want_d_a, 0) | bit(want_d_w, 1)),
            Op::Softmax(Softmax { rows, len })
            | Op::LogSoftmax(LogSoftmax { rows, len })
            | Op::SoftmaxBackward(SoftmaxBackward { rows, len }) => pack(k, &[rows, len], &[], 0),
            Op::CrossEntropyLossGrad(CrossEntropyLossGrad { rows, vocab }) => {
                pack(k, &[rows, vocab], &[], 0)
            }
            Op::Gelu(Gelu { n })
            | Op::GeluBackward(GeluBackward { n })
            | Op::Add(Add { n })
            | Op::Mul(Mul { n }) => pack(k, &[n], &[], 0),
            Op::MulBackward(MulBackward {
                n,
                want_d_a,
                want_d_b,
            }) => pack(k, &[n], &[], bit(want_d_a, 0) | bit(want_d_b, 1)),
            Op::LayerNorm(LayerNorm {
                rows,
                len,
                eps,
                affine,
            })
            | Op::LayerNormBackward(LayerNormBackward {
                rows,
                len,
                eps,
                affine,
            }) => pack(k, &[rows, len], &[eps], bit(affine, 0)),
            Op::Transpose(Transpose { rows, cols }) => pack(k, &[rows, cols], &[], 0),
            Op::TransposeBatched(TransposeBatched { b, d1, d2 }) => pack(k, &[b, d1, d2], &[], 0),
            Op::Transpose12(Transpose12 { b, d1, d2, d3 }) => pack(k, &[b, d1, d2, d3], &[], 0),
            Op::AdamUpdate(AdamUpdate {
                n,
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
                t,
                decoupled,
            }) => pack(
                k,
                &[n, t as usize],
                &[lr, beta1, beta2, eps, weight_decay],
                bit(decoupled, 0),
            ),
            Op::EmbeddingLookup(EmbeddingLookup { b, s, vocab, dim })
            | Op::EmbeddingBackward(EmbeddingBackward { b, s, vocab, dim }) => {
                pack(k, &[b, s, vocab, dim], &[], 0)
            }
            Op::ReduceSum01(ReduceSum01 { b, m, n }) | Op::AddBias(AddBias { b, m, n }) => {
                pack(k, &[b, m, n], &[], 0)
            }
            Op::AddBroadcastPe(AddBroadcastPe { b, s, e }) => pack(k, &[b, s, e], &[], 0),
            Op::HebbianUpdate(HebbianUpdate {
                b,
                m,
                k: kk,
                n,
                lr,
                decay,
            }) => pack(k, &[b, m, kk, n], &[lr, decay], 0),
            Op::ThresholdSpike(ThresholdSpike { n, threshold }) => pack(k, &[n], &[threshold], 0),
            Op::DynamicTokenAssignment(DynamicTokenAssignment {
                b,
                s,
                e,
                t,
                want_best,
            }) => pack(k, &[b, s, e, t], &[], bit(want_best, 0)),
            Op::PairwiseSimilarity(PairwiseSimilarity { n, d }) => pack(k, &[n, d], &[], 0),
            Op::ProtoSegmentedSum(ProtoSegmentedSum { m, e, t, mode }) => {
                pack(k, &[m, e, t], &[], bit(mode == SumMode::Atomic, 0))
            }
            Op::ProtoUpdateStep(ProtoUpdateStep { t, e, lr }) => pack(k, &[t, e], &[lr], 0),
            Op::ShapeLoss(ShapeLoss {
                rows,
                vocab,
                pairs,
                penalty,
                reward,
                threshold,
            }) => pack(k, &[rows, vocab, pairs], &[penalty, reward, threshold], 0),
        }
    }

    /// Unpacks into a core descriptor, rejecting anything [`NkOp::from_op`] would not have
    /// produced. Dims are not validated here (that is [`Op::validate`]'s job).
    pub fn to_op(&self) -> Result<Op, DescError> {
        let kind = OpKind::from_u32(self.kind).ok_or(DescError::UnknownKind(self.kind))?;
        let name = kind.name();
        let f = |nd, ns, mask| unpack(self, name, nd, ns, mask);
        Ok(match kind {
            OpKind::MatMul | OpKind::MatMulBatched => {
                let x = f(4, 0, 0)?;
                let [b, m, k, n, ..] = x.dims;
                if kind == OpKind::MatMul {
                    Op::MatMul(MatMul { b, m, k, n })
                } else {
                    Op::MatMulBatched(MatMulBatched { b, m, k, n })
                }
            }
            OpKind::MatMulBackward | OpKind::MatMulBatchedBackward => {
                let x = f(4, 0, 0b11)?;
                let [b, m, k, n, ..] = x.dims;
                let (want_d_a, want_d_w) = (x.flag(0), x.flag(1));
                if kind == OpKind::MatMulBackward {
                    Op::MatMulBackward(MatMulBackward {
                        b,
                        m,
                        k,
                        n,
                        want_d_a,
                        want_d_w,
                    })
                } else {
                    Op::MatMulBatchedBackward(MatMulBatchedBackward {
                        b,
                        m,
                        k,
                        n,
                        want_d_a,
                        want_d_w,
                    })
                }
            }
            OpKind::Softmax | OpKind::LogSoftmax | OpKind::SoftmaxBackward => {
                let [rows, len, ..] = f(2, 0, 0)?.dims;
                match kind {
                    OpKind::Softmax => Op::Softmax(Softmax { rows, len }),
                    OpKind::LogSoftmax => Op::LogSoftmax(LogSoftmax { rows, len }),
                    _ => Op::SoftmaxBackward(SoftmaxBackward { rows, len }),
                }
            }
            OpKind::CrossEntropyLossGrad => {
                let [rows, vocab, ..] = f(2, 0, 0)?.dims;
                Op::CrossEntropyLossGrad(CrossEntropyLossGrad { rows, vocab })
            }
            OpKind::Gelu | OpKind::GeluBackward | OpKind::Add | OpKind::Mul => {
                let [n, ..] = f(1, 0, 0)?.dims;
                match kind {
                    OpKind::Gelu => Op::Gelu(Gelu { n }),
                    OpKind::GeluBackward => Op::GeluBackward(GeluBackward { n }),
                    OpKind::Add => Op::Add(Add { n }),
                    _ => Op::Mul(Mul { n }),
                }
            }
            OpKind::MulBackward => {
                let x = f(1, 0, 0b11)?;
                Op::MulBackward(MulBackward {
                    n: x.dims[0],
                    want_d_a: x.flag(0),
                    want_d_b: x.flag(1),
                })
            }
            OpKind::LayerNorm | OpKind::LayerNormBackward => {
                let x = f(2, 1, 0b1)?;
                let (rows, len, eps, affine) = (x.dims[0], x.dims[1], x.scalars[0], x.flag(0));
                if kind == OpKind::LayerNorm {
                    Op::LayerNorm(LayerNorm {
                        rows,
                        len,
                        eps,
                        affine,
                    })
                } else {
                    Op::LayerNormBackward(LayerNormBackward {
                        rows,
                        len,
                        eps,
                        affine,
                    })
                }
            }
            OpKind::Transpose => {
                let [rows, cols, ..] = f(2, 0, 0)?.dims;
                Op::Transpose(Transpose { rows, cols })
            }
            OpKind::TransposeBatched => {
                let [b, d1, d2, ..] = f(3, 0, 0)?.dims;
                Op::TransposeBatched(TransposeBatched { b, d1, d2 })
            }
            OpKind::Transpose12 => {
                let [b, d1, d2, d3, ..] = f(4, 0, 0)?.dims;
                Op::Transpose12(Transpose12 { b, d1, d2, d3 })
            }
            OpKind::AdamUpdate => {
                let x = f(2, 5, 0b1)?;
                let t = u32::try_from(x.dims[1])
                    .map_err(|_| DescError::Overflow { op: name, index: 1 })?;
                let [lr, beta1, beta2, eps, weight_decay, _] = x.scalars;
                Op::AdamUpdate(AdamUpdate {
                    n: x.dims[0],
                    lr,
                    beta1,
                    beta2,
                    eps,
                    weight_decay,
                    t,
                    decoupled: x.flag(0),
                })
            }
            OpKind::EmbeddingLookup | OpKind::EmbeddingBackward => {
                let [b, s, vocab, dim, ..] = f(4, 0, 0)?.dims;
                if kind == OpKind::EmbeddingLookup {
                    Op::EmbeddingLookup(EmbeddingLookup { b, s, vocab, dim })
                } else {
                    Op::EmbeddingBackward(EmbeddingBackward { b, s, vocab, dim })
                }
            }
            OpKind::ReduceSum01 | OpKind::AddBias => {
                let [b, m, n, ..] = f(3, 0, 0)?.dims;
                if kind == OpKind::ReduceSum01 {
                    Op::ReduceSum01(ReduceSum01 { b, m, n })
                } else {
                    Op::AddBias(AddBias { b, m, n })
                }
            }
            OpKind::AddBroadcastPe => {
                let [b, s, e, ..] = f(3, 0, 0)?.dims;
                Op::AddBroadcastPe(AddBroadcastPe { b, s, e })
            }
            OpKind::HebbianUpdate => {
                let x = f(4, 2, 0)?;
                let [b, m, k, n, ..] = x.dims;
                Op::HebbianUpdate(HebbianUpdate {
                    b,
                    m,
                    k,
                    n,
                    lr: x.scalars[0],
                    decay: x.scalars[1],
                })
            }
            OpKind::ThresholdSpike => {
                let x = f(1, 1, 0)?;
                Op::ThresholdSpike(ThresholdSpike {
                    n: x.dims[0],
                    threshold: x.scalars[0],
                })
            }
            OpKind::DynamicTokenAssignment => {
                let x = f(4, 0, 0b1)?;
                let [b, s, e, t, ..] = x.dims;
                Op::DynamicTokenAssignment(DynamicTokenAssignment {
                    b,
                    s,
                    e,
                    t,
                    want_best: x.flag(0),
                })
            }
            OpKind::PairwiseSimilarity => {
                let [n, d, ..] = f(2, 0, 0)?.dims;
                Op::PairwiseSimilarity(PairwiseSimilarity { n, d })
            }
            OpKind::ProtoSegmentedSum => {
                let x = f(3, 0, 0b1)?;
                let [m, e, t, ..] = x.dims;
                let mode = if x.flag(0) {
                    SumMode::Atomic
                } else {
                    SumMode::Deterministic
                };
                Op::ProtoSegmentedSum(ProtoSegmentedSum { m, e, t, mode })
            }
            OpKind::ProtoUpdateStep => {
                let x = f(2, 1, 0)?;
                Op::ProtoUpdateStep(ProtoUpdateStep {
                    t: x.dims[0],
                    e: x.dims[1],
                    lr: x.scalars[0],
                })
            }
            OpKind::ShapeLoss => {
                let x = f(3, 3, 0)?;
                let [rows, vocab, pairs, ..] = x.dims;
                Op::ShapeLoss(ShapeLoss {
                    rows,
                    vocab,
                    pairs,
                    penalty: x.scalars[0],
                    reward: x.scalars[1],
                    threshold: x.scalars[2],
                })
            }
        })
    }

    /// Bitwise equality (scalars compared by bits, so NaN payloads count).
    pub fn bits_eq(&self, other: &NkOp) -> bool {
        self.kind == other.kind
            && self.flags == other.flags
            && self.dims == other.dims
            && self
                .scalars
                .iter()
                .zip(&other.scalars)
                .all(|(a, b)| a.to_bits() == b.to_bits())
    }
}

impl From<&Op> for NkOp {
    fn from(op: &Op) -> NkOp {
        NkOp::from_op(op)
    }
}

impl TryFrom<&NkOp> for Op {
    type Error = DescError;
    fn try_from(d: &NkOp) -> Result<Op, DescError> {
        d.to_op()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A descriptor of every kind with distinct, non-zero fields and every flag set.
    pub(crate) fn samples() -> [Op; 31] {
        [
            Op::MatMul(MatMul {
                b: 1,
                m: 2,
                k: 3,
                n: 4,
            }),
            Op::MatMulBackward(MatMulBackward {
                b: 1,
                m: 2,
                k: 3,
                n: 4,
                want_d_a: true,
                want_d_w: false,
            }),
            Op::MatMulBatched(MatMulBatched {
                b: 5,
                m: 2,
                k: 3,
                n: 4,
            }),
            Op::MatMulBatchedBackward(MatMulBatchedBackward {
                b: 1,
                m: 2,
                k: 3,
                n: 4,
                want_d_a: false,
                want_d_w: true,
            }),
            Op::Softmax(Softmax { rows: 3, len: 7 }),
            Op::LogSoftmax(LogSoftmax { rows: 3, len: 8 }),
            Op::SoftmaxBackward(SoftmaxBackward { rows: 3, len: 9 }),
            Op::CrossEntropyLossGrad(CrossEntropyLossGrad { rows: 4, vocab: 11 }),
            Op::Gelu(Gelu { n: 10 }),
            Op::GeluBackward(GeluBackward { n: 11 }),
            Op::Add(Add { n: 12 }),
            Op::Mul(Mul { n: 13 }),
            Op::MulBackward(MulBackward {
                n: 14,
                want_d_a: true,
                want_d_b: true,
            }),
            Op::LayerNorm(LayerNorm {
                rows: 2,
                len: 5,
                eps: 1e-5,
                affine: true,
            }),
            Op::LayerNormBackward(LayerNormBackward {
                rows: 2,
                len: 6,
                eps: 1e-3,
                affine: false,
            }),
            Op::Transpose(Transpose { rows: 3, cols: 4 }),
            Op::TransposeBatched(TransposeBatched { b: 2, d1: 3, d2: 4 }),
            Op::Transpose12(Transpose12 {
                b: 2,
                d1: 3,
                d2: 4,
                d3: 5,
            }),
            Op::AdamUpdate(AdamUpdate {
                n: 7,
                lr: 1e-3,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: 0.01,
                t: u32::MAX,
                decoupled: true,
            }),
            Op::EmbeddingLookup(EmbeddingLookup {
                b: 2,
                s: 3,
                vocab: 4,
                dim: 5,
            }),
            Op::EmbeddingBackward(EmbeddingBackward {
                b: 2,
                s: 3,
                vocab: 6,
                dim: 5,
            }),
            Op::ReduceSum01(ReduceSum01 { b: 2, m: 3, n: 4 }),
            Op::AddBias(AddBias { b: 2, m: 3, n: 5 }),
            Op::AddBroadcastPe(AddBroadcastPe { b: 2, s: 3, e: 6 }),
            Op::HebbianUpdate(HebbianUpdate {
                b: 1,
                m: 2,
                k: 3,
                n: 4,
                lr: 0.5,
                decay: 0.25,
            }),
            Op::ThresholdSpike(ThresholdSpike {
                n: 9,
                threshold: f32::NEG_INFINITY,
            }),
            Op::DynamicTokenAssignment(DynamicTokenAssignment {
                b: 1,
                s: 2,
                e: 3,
                t: 4,
                want_best: true,
            }),
            Op::PairwiseSimilarity(PairwiseSimilarity { n: 3, d: 5 }),
            Op::ProtoSegmentedSum(ProtoSegmentedSum {
                m: 5,
                e: 3,
                t: 2,
                mode: SumMode::Atomic,
            }),
            Op::ProtoUpdateStep(ProtoUpdateStep {
                t: 2,
                e: 3,
                lr: 0.1,
            }),
            Op::ShapeLoss(ShapeLoss {
                rows: 4,
                vocab: 5,
                pairs: 2,
                penalty: 1.0,
                reward: 0.5,
                threshold: 0.7,
            }),
        ]
    }

    #[test]
    fn every_kind_round_trips() {
        let s = samples();
        assert_eq!(s.len(), OpKind::ALL.len());
        for (op, &kind) in s.iter().zip(OpKind::ALL) {
            assert_eq!(op.kind(), kind);
            let c = NkOp::from_op(op);
            assert_eq!(c.kind, kind as u32);
            let back = c.to_op().unwrap();
            assert_eq!(&back, op);
            assert!(NkOp::from_op(&back).bits_eq(&c));
            // Defaults (all zero / false) round-trip as well.
        }
    }

    #[test]
    fn nan_scalars_keep_their_bits() {
        let nan = f32::from_bits(0x7fc0_1234);
        let op = Op::HebbianUpdate(HebbianUpdate {
            b: 1,
            m: 1,
            k: 1,
            n: 1,
            lr: nan,
            decay: -0.0,
        });
        let c = NkOp::from_op(&op);
        let back = NkOp::from_op(&c.to_op().unwrap());
        assert!(back.bits_eq(&c));
        assert_eq!(back.scalars[0].to_bits(), 0x7fc0_1234);
        assert_eq!(back.scalars[1].to_bits(), (-0.0f32).to_bits());
    }

    #[test]
    fn garbage_is_rejected() {
        let mut c = NkOp {
            kind: 9999,
            ..NkOp::default()
        };
        assert_eq!(c.to_op(), Err(DescError::UnknownKind(9999)));
        c.kind = OpKind::MatMul as u32;
        c.flags = 1;
        assert!(matches!(
            c.to_op(),
            Err(DescError::UnknownFlags { bits: 1, .. })
        ));
        c.flags = 0;
        c.dims[4] = 1;
        assert!(matches!(
            c.to_op(),
            Err(DescError::UnusedDim { index: 4, .. })
        ));
        c.dims[4] = 0;
        c.scalars[0] = -0.0;
        assert!(matches!(
            c.to_op(),
            Err(DescError::UnusedScalar { index: 0, .. })
        ));
        let mut a = NkOp::from_op(&samples()[18]);
        a.dims[1] = u64::from(u32::MAX) + 1;
        assert!(matches!(
            a.to_op(),
            Err(DescError::Overflow { index: 1, .. })
        ));
        // Every kind with random garbage in every field: never a panic.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            let mut next = || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            let mut d = NkOp {
                kind: (next() % 40) as u32,
                flags: (next() % 8) as u32,
                ..NkOp::default()
            };
            for v in d.dims.iter_mut() {
                *v = if next() % 2 == 0 {
                    0
                } else {
                    next() >> (next() % 64)
                };
            }
            for v in d.scalars.iter_mut() {
                *v = if next() % 2 == 0 {
                    0.0
                } else {
                    f32::from_bits(next() as u32)
                };
            }
            if let Ok(op) = d.to_op() {
                assert!(NkOp::from_op(&op).bits_eq(&d));
                let _ = op.validate();
            }
        }
    }
}
