//! Ops are data: one descriptor per op of OPS.md (dims, flags and scalars), gathered in
//! the [`Op`] enum. A descriptor knows its operands ([`Op::operands`]) and validates
//! itself ([`Op::validate`]) with checked arithmetic, so every backend rejects bad calls
//! with the same [`Error`] before any kernel runs.
//!
//! Each descriptor's documentation gives its formula; `shared/spec/OPS.md` is the contract.

mod activation;
mod elementwise;
mod embedding;
mod layout;
mod linear;
mod loss;
mod norm;
mod optim;
mod proto;

pub use activation::{Gelu, GeluBackward, LogSoftmax, Softmax, SoftmaxBackward, ThresholdSpike};
pub use elementwise::{Add, AddBias, AddBroadcastPe, Mul, MulBackward, ReduceSum01};
pub use embedding::{EmbeddingBackward, EmbeddingLookup};
pub use layout::{Transpose, Transpose12, TransposeBatched};
pub use linear::{
    HebbianUpdate, MatMul, MatMulBackward, MatMulBatched, MatMulBatchedBackward, PairwiseSimilarity,
};
pub use loss::{CrossEntropyLossGrad, ShapeLoss};
pub use norm::{LayerNorm, LayerNormBackward};
pub use optim::AdamUpdate;
pub use proto::{DynamicTokenAssignment, ProtoSegmentedSum, ProtoUpdateStep, SumMode};

use crate::dtype::FloatType;
use crate::error::Error;
use crate::operand::{check_args, ArgDesc, Operands};

/// What every descriptor implements.
pub trait OpDesc {
    /// The op's kind.
    const KIND: OpKind;
    /// The operand list, with element counts computed by checked arithmetic (an overflow
    /// or a count over `i32::MAX` is [`Error::TooLarge`]).
    fn operands(&self) -> Result<Operands, Error>;
    /// Checks scalars (learning rates, eps, thresholds, the Adam step). Dims are checked
    /// by [`OpDesc::operands`].
    fn check_scalars(&self) -> Result<(), Error> {
        Ok(())
    }
}

macro_rules! ops {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, $name:literal; )*) => {
        /// The kind of an op, without its dims: what a backend's capability query is about.
        /// The discriminants are part of the C ABI and never change.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u32)]
        pub enum OpKind {
            $( $(#[$doc])* $variant = $code, )*
        }

        impl OpKind {
            /// Every op kind, in catalog order.
            pub const ALL: &'static [OpKind] = &[ $( OpKind::$variant, )* ];

            /// The op's name as OPS.md writes it (`"matmul_backward"`).
            pub const fn name(self) -> &'static str {
                match self { $( OpKind::$variant => $name, )* }
            }

            /// The kind with this ABI code.
            pub const fn from_u32(code: u32) -> Option<OpKind> {
                match code { $( $code => Some(OpKind::$variant), )* _ => None }
            }

            /// The kind with this name.
            pub fn from_name(name: &str) -> Option<OpKind> {
                match name { $( $name => Some(OpKind::$variant), )* _ => None }
            }
        }

        /// One op call's descriptor: which op, its dims, flags and scalars.
        #[derive(Clone, Copy, Debug, PartialEq)]
        pub enum Op {
            $( $(#[$doc])* $variant($variant), )*
        }

        impl Op {
            /// The op's kind.
            pub const fn kind(&self) -> OpKind {
                match self { $( Op::$variant(_) => OpKind::$variant, )* }
            }

            /// The operand list (checked element counts).
            pub fn operands(&self) -> Result<Operands, Error> {
                match self { $( Op::$variant(d) => d.operands(), )* }
            }

            fn check_scalars(&self) -> Result<(), Error> {
                match self { $( Op::$variant(d) => d.check_scalars(), )* }
            }
        }

        $(
            impl From<$variant> for Op {
                fn from(d: $variant) -> Op { Op::$variant(d) }
            }
        )*
    };
}

ops! {
    /// [`MatMul`]: `C = A·W`, `W` shared by all batches.
    MatMul = 0, "matmul";
    /// [`MatMulBackward`]: `dA = dC·Wᵀ`, `dW = Σ_b A[b]ᵀ·dC[b]`.
    MatMulBackward = 1, "matmul_backward";
    /// [`MatMulBatched`]: `C[b] = A[b]·W[b]`.
    MatMulBatched = 2, "matmul_batched";
    /// [`MatMulBatchedBackward`]: `dA[b] = dC[b]·W[b]ᵀ`, `dW[b] = A[b]ᵀ·dC[b]`.
    MatMulBatchedBackward = 3, "matmul_batched_backward";
    /// [`Softmax`]: rowwise softmax.
    Softmax = 4, "softmax";
    /// [`LogSoftmax`]: rowwise log-softmax.
    LogSoftmax = 5, "log_softmax";
    /// [`SoftmaxBackward`]: `dX = Y ⊙ (dY − Σ_row dY⊙Y)`.
    SoftmaxBackward = 6, "softmax_backward";
    /// [`CrossEntropyLossGrad`]: loss and gradient from log-probabilities.
    CrossEntropyLossGrad = 7, "cross_entropy_loss_grad";
    /// [`Gelu`]: exact-erf GELU.
    Gelu = 8, "gelu";
    /// [`GeluBackward`]: `dX = dY·(Φ(x) + x·φ(x))`.
    GeluBackward = 9, "gelu_backward";
    /// [`Add`]: `C = A + B`.
    Add = 10, "add";
    /// [`Mul`]: `C = A ⊙ B`.
    Mul = 11, "mul";
    /// [`MulBackward`]: `dA = dC⊙B`, `dB = dC⊙A`.
    MulBackward = 12, "mul_backward";
    /// [`LayerNorm`]: rowwise normalization, optional affine.
    LayerNorm = 13, "layer_norm";
    /// [`LayerNormBackward`]: gradient of layer norm, optional `dγ`, `dβ`.
    LayerNormBackward = 14, "layer_norm_backward";
    /// [`Transpose`]: `(R,C) → (C,R)`.
    Transpose = 15, "transpose";
    /// [`TransposeBatched`]: `(B,D1,D2) → (B,D2,D1)`.
    TransposeBatched = 16, "transpose_batched";
    /// [`Transpose12`]: `(B,D1,D2,D3) → (B,D2,D1,D3)`.
    Transpose12 = 17, "transpose_12";
    /// [`AdamUpdate`]: one Adam / AdamW step, in place.
    AdamUpdate = 18, "adam_update";
    /// [`EmbeddingLookup`]: rows of a table by index.
    EmbeddingLookup = 19, "embedding_lookup";
    /// [`EmbeddingBackward`]: deterministic scatter-add of gradients into the table.
    EmbeddingBackward = 20, "embedding_backward";
    /// [`ReduceSum01`]: sum over the two leading dims.
    ReduceSum01 = 21, "reduce_sum_01";
    /// [`AddBias`]: `X + bias` broadcast over rows.
    AddBias = 22, "add_bias";
    /// [`AddBroadcastPe`]: `X + pe` broadcast over the batch.
    AddBroadcastPe = 23, "add_broadcast_pe";
    /// [`HebbianUpdate`]: `W ← (1 − decay)·W + lr·Preᵀ·Post`, in place.
    HebbianUpdate = 24, "hebbian_update";
    /// [`ThresholdSpike`]: `1` where `x > θ`, else `0`.
    ThresholdSpike = 25, "threshold_spike";
    /// [`DynamicTokenAssignment`]: argmax over prototypes of the dot product.
    DynamicTokenAssignment = 26, "dynamic_token_assignment";
    /// [`PairwiseSimilarity`]: `S = X·Xᵀ`.
    PairwiseSimilarity = 27, "pairwise_similarity";
    /// [`ProtoSegmentedSum`]: per-prototype sums and counts.
    ProtoSegmentedSum = 28, "proto_segmented_sum";
    /// [`ProtoUpdateStep`]: moving-average update of prototypes, in place.
    ProtoUpdateStep = 29, "proto_update_step";
    /// [`ShapeLoss`]: penalty/reward shaping of a per-row loss.
    ShapeLoss = 30, "shape_loss";
}

impl Op {
    /// The op's name (`"matmul"`).
    pub const fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// Validates dims (checked products, the `i32::MAX` limit) and scalar domains, and
    /// returns the operand list.
    pub fn validate(&self) -> Result<Operands, Error> {
        let operands = self.operands()?;
        self.check_scalars()?;
        Ok(operands)
    }

    /// Validates the descriptor and then a call's argument slots against it.
    pub fn check_call(&self, dtype: FloatType, args: &[ArgDesc]) -> Result<Operands, Error> {
        let operands = self.validate()?;
        check_args(self.name(), &operands, dtype, args)?;
        Ok(operands)
    }

    /// True when the call writes at least one element: some present output (or in-place
    /// operand) is non-empty. A call without work is valid and does nothing. Note that
    /// empty inputs do not mean no work: `reduce_sum_01` with `B·M = 0` writes zeros, and
    /// `matmul` with `K = 0` writes a `(B, M, N)` block of zeros.
    pub fn has_work(&self) -> Result<bool, Error> {
        let ops = self.operands()?;
        Ok(ops
            .iter()
            .any(|s| s.present && s.role.is_written() && s.len > 0))
    }
}
