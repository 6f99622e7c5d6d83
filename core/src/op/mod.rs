//! Ops are data: one descriptor per op of OPS.md (dims, flags and scalars), gathered in
//! the [`Op`] enum. A descriptor knows its operands ([`Op::operands`]) and validates
//! itself ([`Op::validate`]) with checked arithmetic, so every backend rejects bad calls
//! with the same [`Error`] before any kernel runs.
//!
//! The `ops!` table below is the one list of ops: each row gives the kind's ABI code, its
//! name and its descriptor's fields, from which come [`OpKind`], [`Op`], the field lists
//! ([`OpKind::fields`], [`Op::fields`]) and the constructor from numbers
//! ([`Op::from_fields`]); see [`fields`].
//!
//! Each descriptor's documentation gives its formula; `docs/OPS.md` is the contract.

mod activation;
mod elementwise;
mod embedding;
pub mod fields;
mod layout;
mod linear;
mod loss;
mod norm;
mod optim;
mod proto;

pub use activation::{Gelu, GeluBackward, LogSoftmax, Softmax, SoftmaxBackward, ThresholdSpike};
pub use elementwise::{Add, AddBias, AddBroadcastPe, Mul, MulBackward, ReduceSum01};
pub use embedding::{EmbeddingBackward, EmbeddingLookup};
pub use fields::{Field, FieldError, FieldKind, FieldType, Fields, Value};
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
    ($(
        $(#[$doc:meta])*
        $variant:ident = $code:literal, $name:literal { $( $field:ident : $fty:ty ),* $(,)? };
    )*) => {
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

            /// The descriptor's fields in declaration order, each with its slot.
            pub const fn fields(self) -> &'static [Field] {
                match self {
                    $( OpKind::$variant => {
                        const FIELDS: &[Field] = &fields::layout([
                            $( (
                                stringify!($field),
                                <$fty as FieldType>::KIND,
                                <$fty as FieldType>::SET_MEANS,
                            ), )*
                        ]);
                        FIELDS
                    } )*
                }
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

            // The patterns name every field and the types are checked against the
            // descriptor's, so a row that disagrees with its struct does not compile.
            fn field_values(&self) -> Fields {
                match *self {
                    $( Op::$variant($variant { $( $field ),* }) => Fields::new(
                        OpKind::$variant,
                        &[ $( <$fty as FieldType>::to_value($field) ),* ],
                    ), )*
                }
            }

            // Struct expressions evaluate their fields in the order written, which is the
            // row's order, the order the reader's slots are numbered in.
            fn read_fields(mut r: fields::Reader<'_>) -> Result<Op, FieldError> {
                Ok(match r.kind() {
                    $( OpKind::$variant => Op::$variant($variant {
                        $( $field: r.read::<$fty>()?, )*
                    }), )*
                })
            }
        }

        $(
            impl From<$variant> for Op {
                fn from(d: $variant) -> Op { Op::$variant(d) }
            }
        )*
    };
}

// One row per op: `Variant = ABI code, "name" { field: type, … };`, the fields in the
// descriptor's declaration order. A field's type decides its slot class (`usize`: a dim;
// `u32`: a dim that must fit u32; `f32`: a scalar; `bool` or a two-valued mode: a flag
// bit), and slots are numbered in row order within each class: that numbering is the
// C ABI's `nk_op` packing, so reordering an existing row's fields is an ABI break.
ops! {
    /// [`MatMul`]: `C = A·W`, `W` shared by all batches.
    MatMul = 0, "matmul" { b: usize, m: usize, k: usize, n: usize };
    /// [`MatMulBackward`]: `dA = dC·Wᵀ`, `dW = Σ_b A[b]ᵀ·dC[b]`.
    MatMulBackward = 1, "matmul_backward" {
        b: usize, m: usize, k: usize, n: usize, want_d_a: bool, want_d_w: bool,
    };
    /// [`MatMulBatched`]: `C[b] = A[b]·W[b]`.
    MatMulBatched = 2, "matmul_batched" { b: usize, m: usize, k: usize, n: usize };
    /// [`MatMulBatchedBackward`]: `dA[b] = dC[b]·W[b]ᵀ`, `dW[b] = A[b]ᵀ·dC[b]`.
    MatMulBatchedBackward = 3, "matmul_batched_backward" {
        b: usize, m: usize, k: usize, n: usize, want_d_a: bool, want_d_w: bool,
    };
    /// [`Softmax`]: rowwise softmax.
    Softmax = 4, "softmax" { rows: usize, len: usize };
    /// [`LogSoftmax`]: rowwise log-softmax.
    LogSoftmax = 5, "log_softmax" { rows: usize, len: usize };
    /// [`SoftmaxBackward`]: `dX = Y ⊙ (dY − Σ_row dY⊙Y)`.
    SoftmaxBackward = 6, "softmax_backward" { rows: usize, len: usize };
    /// [`CrossEntropyLossGrad`]: loss and gradient from log-probabilities.
    CrossEntropyLossGrad = 7, "cross_entropy_loss_grad" { rows: usize, vocab: usize };
    /// [`Gelu`]: exact-erf GELU.
    Gelu = 8, "gelu" { n: usize };
    /// [`GeluBackward`]: `dX = dY·(Φ(x) + x·φ(x))`.
    GeluBackward = 9, "gelu_backward" { n: usize };
    /// [`Add`]: `C = A + B`.
    Add = 10, "add" { n: usize };
    /// [`Mul`]: `C = A ⊙ B`.
    Mul = 11, "mul" { n: usize };
    /// [`MulBackward`]: `dA = dC⊙B`, `dB = dC⊙A`.
    MulBackward = 12, "mul_backward" { n: usize, want_d_a: bool, want_d_b: bool };
    /// [`LayerNorm`]: rowwise normalization, optional affine.
    LayerNorm = 13, "layer_norm" { rows: usize, len: usize, eps: f32, affine: bool };
    /// [`LayerNormBackward`]: gradient of layer norm, optional `dγ`, `dβ`.
    LayerNormBackward = 14, "layer_norm_backward" {
        rows: usize, len: usize, eps: f32, affine: bool,
    };
    /// [`Transpose`]: `(R,C) → (C,R)`.
    Transpose = 15, "transpose" { rows: usize, cols: usize };
    /// [`TransposeBatched`]: `(B,D1,D2) → (B,D2,D1)`.
    TransposeBatched = 16, "transpose_batched" { b: usize, d1: usize, d2: usize };
    /// [`Transpose12`]: `(B,D1,D2,D3) → (B,D2,D1,D3)`.
    Transpose12 = 17, "transpose_12" { b: usize, d1: usize, d2: usize, d3: usize };
    /// [`AdamUpdate`]: one Adam / AdamW step, in place.
    AdamUpdate = 18, "adam_update" {
        n: usize, lr: f32, beta1: f32, beta2: f32, eps: f32, weight_decay: f32, t: u32,
        decoupled: bool,
    };
    /// [`EmbeddingLookup`]: rows of a table by index.
    EmbeddingLookup = 19, "embedding_lookup" { b: usize, s: usize, vocab: usize, dim: usize };
    /// [`EmbeddingBackward`]: deterministic scatter-add of gradients into the table.
    EmbeddingBackward = 20, "embedding_backward" {
        b: usize, s: usize, vocab: usize, dim: usize,
    };
    /// [`ReduceSum01`]: sum over the two leading dims.
    ReduceSum01 = 21, "reduce_sum_01" { b: usize, m: usize, n: usize };
    /// [`AddBias`]: `X + bias` broadcast over rows.
    AddBias = 22, "add_bias" { b: usize, m: usize, n: usize };
    /// [`AddBroadcastPe`]: `X + pe` broadcast over the batch.
    AddBroadcastPe = 23, "add_broadcast_pe" { b: usize, s: usize, e: usize };
    /// [`HebbianUpdate`]: `W ← (1 − decay)·W + lr·Preᵀ·Post`, in place.
    HebbianUpdate = 24, "hebbian_update" {
        b: usize, m: usize, k: usize, n: usize, lr: f32, decay: f32,
    };
    /// [`ThresholdSpike`]: `1` where `x > θ`, else `0`.
    ThresholdSpike = 25, "threshold_spike" { n: usize, threshold: f32 };
    /// [`DynamicTokenAssignment`]: argmax over prototypes of the dot product.
    DynamicTokenAssignment = 26, "dynamic_token_assignment" {
        b: usize, s: usize, e: usize, t: usize, want_best: bool,
    };
    /// [`PairwiseSimilarity`]: `S = X·Xᵀ`.
    PairwiseSimilarity = 27, "pairwise_similarity" { n: usize, d: usize };
    /// [`ProtoSegmentedSum`]: per-prototype sums and counts.
    ProtoSegmentedSum = 28, "proto_segmented_sum" { m: usize, e: usize, t: usize, mode: SumMode };
    /// [`ProtoUpdateStep`]: moving-average update of prototypes, in place.
    ProtoUpdateStep = 29, "proto_update_step" { t: usize, e: usize, lr: f32 };
    /// [`ShapeLoss`]: penalty/reward shaping of a per-row loss.
    ShapeLoss = 30, "shape_loss" {
        rows: usize, vocab: usize, pairs: usize, penalty: f32, reward: f32, threshold: f32,
    };
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
