//! What is measured: every op at the seed model's shapes, then the seed model's training
//! step. The seed model is batch 64 × sequence 64 (4096 rows), embedding 128, hidden 384,
//! vocabulary 96 and T = 72 prototypes; a few cases use other sizes the seed driver was
//! measured at (a 1024³ GEMM, T = 384 token assignment).

use neurokern_core::op::*;
use neurokern_core::{FloatType, Op, Role};

use crate::model::{B, E, H, S, T, V};

/// What one case runs.
#[derive(Debug, Clone)]
pub enum Work {
    /// One op, called on buffers of random data.
    Op(Op),
    /// The seed model's training step ([`crate::model::Model::step`]).
    Step,
}

/// One benchmark.
#[derive(Debug, Clone)]
pub struct Case {
    /// Its name, shapes included (`"matmul 4096x128x384"`).
    pub name: String,
    /// What runs.
    pub work: Work,
    /// Floating-point operations per call; 0 for a memory-bound op, which reports GB/s.
    pub flops: f64,
}

/// The training step's case name.
pub const STEP: &str = "training step (seed model, T=72)";

fn gemm_flops(m: usize, n: usize, k: usize) -> f64 {
    2.0 * (m * n * k) as f64
}

fn op(name: &str, op: impl Into<Op>, flops: f64) -> Case {
    Case {
        name: name.to_string(),
        work: Work::Op(op.into()),
        flops,
    }
}

/// Every case, in report order: the ops, then the training step.
pub fn all() -> Vec<Case> {
    let rows = B * S;
    let mut v = vec![
        op(
            "matmul 1024x1024x1024",
            MatMul {
                b: 1,
                m: 1024,
                k: 1024,
                n: 1024,
            },
            gemm_flops(1024, 1024, 1024),
        ),
        op(
            "matmul 4096x128x384",
            MatMul {
                b: B,
                m: S,
                k: E,
                n: H,
            },
            gemm_flops(rows, H, E),
        ),
        op(
            "matmul 4096x384x96",
            MatMul {
                b: B,
                m: S,
                k: H,
                n: V,
            },
            gemm_flops(rows, V, H),
        ),
        op(
            "matmul_backward 4096x128x384",
            MatMulBackward {
                b: B,
                m: S,
                k: E,
                n: H,
                want_d_a: true,
                want_d_w: true,
            },
            2.0 * gemm_flops(rows, H, E),
        ),
        op(
            "matmul_batched 64x64x64x64",
            MatMulBatched {
                b: 64,
                m: 64,
                k: 64,
                n: 64,
            },
            64.0 * gemm_flops(64, 64, 64),
        ),
        op(
            "matmul_batched_backward 64x64x64x64",
            MatMulBatchedBackward {
                b: 64,
                m: 64,
                k: 64,
                n: 64,
                want_d_a: true,
                want_d_w: true,
            },
            128.0 * gemm_flops(64, 64, 64),
        ),
        op(
            "hebbian_update 4096x384x384",
            HebbianUpdate {
                b: B,
                m: S,
                k: H,
                n: H,
                lr: 0.01,
                decay: 0.0,
            },
            gemm_flops(H, H, rows),
        ),
        op(
            "dynamic_token_assignment 4096x384 T=384",
            DynamicTokenAssignment {
                b: B,
                s: S,
                e: H,
                t: 384,
                want_best: false,
            },
            gemm_flops(rows, 384, H),
        ),
        op(
            "dynamic_token_assignment 4096x384 T=72",
            DynamicTokenAssignment {
                b: B,
                s: S,
                e: H,
                t: T,
                want_best: true,
            },
            gemm_flops(rows, T, H),
        ),
        op(
            "pairwise_similarity 1024x384",
            PairwiseSimilarity { n: 1024, d: H },
            gemm_flops(1024, 1024, H),
        ),
        op("softmax 4096x96", Softmax { rows, len: V }, 0.0),
        op("log_softmax 4096x96", LogSoftmax { rows, len: V }, 0.0),
        op(
            "softmax_backward 4096x96",
            SoftmaxBackward { rows, len: V },
            0.0,
        ),
        op(
            "cross_entropy_loss_grad 4096x96",
            CrossEntropyLossGrad { rows, vocab: V },
            0.0,
        ),
        op("gelu 4096x384", Gelu { n: rows * H }, 0.0),
        op("gelu_backward 4096x384", GeluBackward { n: rows * H }, 0.0),
        op("add 4096x384", Add { n: rows * H }, 0.0),
        op("mul 4096x384", Mul { n: rows * H }, 0.0),
        op(
            "mul_backward 4096x384",
            MulBackward {
                n: rows * H,
                want_d_a: true,
                want_d_b: true,
            },
            0.0,
        ),
        op(
            "layer_norm 4096x384",
            LayerNorm {
                rows,
                len: H,
                eps: 1e-5,
                affine: true,
            },
            0.0,
        ),
        op(
            "layer_norm_backward 4096x384",
            LayerNormBackward {
                rows,
                len: H,
                eps: 1e-5,
                affine: true,
            },
            0.0,
        ),
        op("transpose 4096x384", Transpose { rows, cols: H }, 0.0),
        op(
            "transpose_batched 64x64x384",
            TransposeBatched { b: B, d1: S, d2: H },
            0.0,
        ),
        op(
            "transpose_12 64x64x6x64",
            Transpose12 {
                b: B,
                d1: S,
                d2: 6,
                d3: 64,
            },
            0.0,
        ),
        op(
            "adam_update 49152",
            AdamUpdate {
                n: E * H,
                lr: 1e-3,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: 0.0,
                t: 3,
                decoupled: false,
            },
            0.0,
        ),
        op(
            "embedding_lookup 4096x128 V=96",
            EmbeddingLookup {
                b: B,
                s: S,
                vocab: V,
                dim: E,
            },
            0.0,
        ),
        op(
            "embedding_backward 4096x128 V=96",
            EmbeddingBackward {
                b: B,
                s: S,
                vocab: V,
                dim: E,
            },
            0.0,
        ),
        op(
            "reduce_sum_01 4096x384",
            ReduceSum01 { b: B, m: S, n: H },
            0.0,
        ),
        op("add_bias 4096x384", AddBias { b: B, m: S, n: H }, 0.0),
        op(
            "add_broadcast_pe 64x64x128",
            AddBroadcastPe { b: B, s: S, e: E },
            0.0,
        ),
        op(
            "threshold_spike 4096x384",
            ThresholdSpike {
                n: rows * H,
                threshold: 0.1,
            },
            0.0,
        ),
        op(
            "proto_segmented_sum 4096x384 T=72",
            ProtoSegmentedSum {
                m: rows,
                e: H,
                t: T,
                mode: SumMode::Deterministic,
            },
            0.0,
        ),
        op(
            "proto_update_step 72x384",
            ProtoUpdateStep {
                t: T,
                e: H,
                lr: 0.05,
            },
            0.0,
        ),
        op(
            "shape_loss 4096x96",
            ShapeLoss {
                rows,
                vocab: V,
                pairs: 4,
                penalty: 0.1,
                reward: 0.05,
                threshold: 0.5,
            },
            0.0,
        ),
    ];
    v.push(Case {
        name: STEP.to_string(),
        work: Work::Step,
        flops: 0.0,
    });
    v
}

/// Bytes an op moves (every present operand once, in-out operands twice): the GB/s of a
/// memory-bound op.
pub fn bytes_moved(op: &Op, dtype: FloatType) -> f64 {
    op.operands()
        .map(|ops| {
            ops.iter()
                .filter(|s| s.present)
                .map(|s| {
                    let once = (s.len * s.elem.resolve(dtype).size()) as f64;
                    if s.role == Role::InOut {
                        2.0 * once
                    } else {
                        once
                    }
                })
                .sum()
        })
        .unwrap_or(0.0)
}

/// The GEMM shapes of the cases whose work is one plain f32 product `(m × k) · (k × n)`
/// (batched: `batch` of them), as anchors can time them: `(case name, batch, m, k, n)`.
pub fn anchor_gemms() -> Vec<(String, usize, usize, usize, usize)> {
    all()
        .into_iter()
        .filter_map(|c| {
            let shape = match &c.work {
                // One weight shared by every batch: a single (b·m × k) · (k × n) product.
                Work::Op(Op::MatMul(d)) => (1, d.b * d.m, d.k, d.n),
                Work::Op(Op::MatMulBatched(d)) => (d.b, d.m, d.k, d.n),
                // Preᵀ · Post over all rows.
                Work::Op(Op::HebbianUpdate(d)) => (1, d.k, d.b * d.m, d.n),
                // The score matrix of token assignment: rows × T.
                Work::Op(Op::DynamicTokenAssignment(d)) => (1, d.b * d.s, d.e, d.t),
                Work::Op(Op::PairwiseSimilarity(d)) => (1, d.n, d.d, d.n),
                _ => return None,
            };
            Some((c.name, shape.0, shape.1, shape.2, shape.3))
        })
        .collect()
}
