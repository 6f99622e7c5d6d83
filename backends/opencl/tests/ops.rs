//! Every op kind × f32/f16 against the reference, on random, edge-shaped and
//! special-valued inputs, with bounds derived from the arithmetic (see `common`).

mod common;

use common::*;
use neurokern_backend_opencl::{GemmParams, OpenClBackend};
use neurokern_core::op::*;
use neurokern_core::{FloatType, Op, OpKind};

fn idx_in(lo: i32, hi: i32) -> impl FnMut(&str, usize, &mut Rng) -> Vec<i32> {
    move |_, n, rng| {
        (0..n)
            .map(|_| lo + rng.below((hi - lo).max(1) as u64) as i32)
            .collect()
    }
}

const DISTS: [Dist; 3] = [Dist::Normal(1.0), Dist::Uniform(-4.0, 4.0), Dist::Special];

/// The ops of a kind at several shapes (typical, 1, primes, ragged, zero-sized).
fn ops_of(kind: OpKind) -> Vec<Op> {
    let gemm_shapes = [
        (1, 1, 1, 1),
        (2, 7, 13, 5),
        (1, 33, 17, 70),
        (3, 20, 128, 96),
        (1, 64, 37, 33),
        (1, 0, 5, 3),
        (1, 4, 0, 3),
        (2, 5, 3, 0),
    ];
    let rows_len = [(1, 1), (3, 7), (5, 96), (2, 1000), (7, 129), (4, 0), (0, 5)];
    let n_elems = [1usize, 7, 1000, 4099, 0];
    match kind {
        OpKind::MatMul => gemm_shapes
            .iter()
            .map(|&(b, m, k, n)| MatMul { b, m, k, n }.into())
            .collect(),
        OpKind::MatMulBatched => gemm_shapes
            .iter()
            .map(|&(b, m, k, n)| MatMulBatched { b, m, k, n }.into())
            .collect(),
        OpKind::MatMulBackward => gemm_shapes
            .iter()
            .enumerate()
            .map(|(e, &(b, m, k, n))| {
                MatMulBackward {
                    b,
                    m,
                    k,
                    n,
                    want_d_a: e % 3 != 1,
                    want_d_w: e % 3 != 2,
                }
                .into()
            })
            .collect(),
        OpKind::MatMulBatchedBackward => gemm_shapes
            .iter()
            .enumerate()
            .map(|(e, &(b, m, k, n))| {
                MatMulBatchedBackward {
                    b,
                    m,
                    k,
                    n,
                    want_d_a: e % 3 != 1,
                    want_d_w: e % 3 != 2,
                }
                .into()
            })
            .collect(),
        OpKind::HebbianUpdate => vec![
            HebbianUpdate {
                b: 1,
                m: 1,
                k: 1,
                n: 1,
                lr: 0.5,
                decay: 0.0,
            }
            .into(),
            HebbianUpdate {
                b: 2,
                m: 13,
                k: 17,
                n: 35,
                lr: 0.01,
                decay: 0.1,
            }
            .into(),
            HebbianUpdate {
                b: 4,
                m: 64,
                k: 40,
                n: 70,
                lr: -0.3,
                decay: 1.0,
            }
            .into(),
            HebbianUpdate {
                b: 0,
                m: 5,
                k: 3,
                n: 4,
                lr: 0.1,
                decay: 0.5,
            }
            .into(),
        ],
        OpKind::PairwiseSimilarity => [(1, 1), (7, 3), (40, 33), (5, 0), (0, 4)]
            .iter()
            .map(|&(n, d)| PairwiseSimilarity { n, d }.into())
            .collect(),
        OpKind::DynamicTokenAssignment => [
            (1, 1, 1, 1, true),
            (2, 9, 24, 7, true),
            (4, 16, 48, 72, false),
            (1, 3, 5, 0, true),
            (1, 3, 0, 4, true),
        ]
        .iter()
        .map(|&(b, s, e, t, want_best)| {
            DynamicTokenAssignment {
                b,
                s,
                e,
                t,
                want_best,
            }
            .into()
        })
        .collect(),
        OpKind::Softmax => rows_len
            .iter()
            .map(|&(rows, len)| Softmax { rows, len }.into())
            .collect(),
        OpKind::LogSoftmax => rows_len
            .iter()
            .map(|&(rows, len)| LogSoftmax { rows, len }.into())
            .collect(),
        OpKind::SoftmaxBackward => rows_len
            .iter()
            .map(|&(rows, len)| SoftmaxBackward { rows, len }.into())
            .collect(),
        OpKind::CrossEntropyLossGrad => rows_len
            .iter()
            .map(|&(rows, vocab)| CrossEntropyLossGrad { rows, vocab }.into())
            .collect(),
        OpKind::Gelu => n_elems.iter().map(|&n| Gelu { n }.into()).collect(),
        OpKind::GeluBackward => n_elems.iter().map(|&n| GeluBackward { n }.into()).collect(),
        OpKind::Add => n_elems.iter().map(|&n| Add { n }.into()).collect(),
        OpKind::Mul => n_elems.iter().map(|&n| Mul { n }.into()).collect(),
        OpKind::MulBackward => n_elems
            .iter()
            .enumerate()
            .map(|(e, &n)| {
                MulBackward {
                    n,
                    want_d_a: e % 3 != 1,
                    want_d_b: e % 3 != 2,
                }
                .into()
            })
            .collect(),
        OpKind::LayerNorm => rows_len
            .iter()
            .enumerate()
            .map(|(e, &(rows, len))| {
                LayerNorm {
                    rows,
                    len,
                    eps: 1e-5,
                    affine: e % 2 == 0,
                }
                .into()
            })
            .collect(),
        OpKind::LayerNormBackward => rows_len
            .iter()
            .enumerate()
            .map(|(e, &(rows, len))| {
                LayerNormBackward {
                    rows,
                    len,
                    eps: 1e-5,
                    affine: e % 2 == 0,
                }
                .into()
            })
            .collect(),
        OpKind::Transpose => [(1, 1), (3, 7), (64, 33), (0, 3)]
            .iter()
            .map(|&(rows, cols)| Transpose { rows, cols }.into())
            .collect(),
        OpKind::TransposeBatched => [(1, 1, 1), (3, 7, 5), (2, 33, 64), (2, 0, 3)]
            .iter()
            .map(|&(b, d1, d2)| TransposeBatched { b, d1, d2 }.into())
            .collect(),
        OpKind::Transpose12 => [(1, 1, 1, 1), (2, 3, 5, 7), (2, 8, 5, 16), (1, 2, 3, 0)]
            .iter()
            .map(|&(b, d1, d2, d3)| Transpose12 { b, d1, d2, d3 }.into())
            .collect(),
        OpKind::AdamUpdate => vec![
            AdamUpdate {
                n: 1000,
                lr: 1e-3,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: 0.0,
                t: 1,
                decoupled: false,
            }
            .into(),
            AdamUpdate {
                n: 777,
                lr: 1e-2,
                beta1: 0.8,
                beta2: 0.99,
                eps: 1e-6,
                weight_decay: 0.01,
                t: 17,
                decoupled: true,
            }
            .into(),
            AdamUpdate {
                n: 31,
                lr: 0.1,
                beta1: 0.0,
                beta2: 0.5,
                eps: 1e-3,
                weight_decay: 0.1,
                t: 100_000,
                decoupled: false,
            }
            .into(),
            AdamUpdate {
                n: 0,
                lr: 0.1,
                beta1: 0.5,
                beta2: 0.5,
                eps: 1e-3,
                weight_decay: 0.1,
                t: 1,
                decoupled: false,
            }
            .into(),
        ],
        OpKind::EmbeddingLookup => [
            (1, 1, 1, 1),
            (2, 9, 13, 17),
            (4, 16, 96, 128),
            (1, 3, 5, 0),
            (0, 3, 5, 4),
        ]
        .iter()
        .map(|&(b, s, vocab, dim)| EmbeddingLookup { b, s, vocab, dim }.into())
        .collect(),
        OpKind::EmbeddingBackward => [
            (1, 1, 1, 1),
            (2, 9, 13, 17),
            (4, 16, 96, 128),
            (1, 3, 5, 0),
            (0, 3, 5, 4),
            (2, 3, 0, 4),
        ]
        .iter()
        .map(|&(b, s, vocab, dim)| EmbeddingBackward { b, s, vocab, dim }.into())
        .collect(),
        OpKind::ReduceSum01 => [(1, 1, 1), (3, 7, 5), (4, 300, 384), (0, 3, 5), (2, 3, 0)]
            .iter()
            .map(|&(b, m, n)| ReduceSum01 { b, m, n }.into())
            .collect(),
        OpKind::AddBias => [(1, 1, 1), (3, 7, 5), (4, 30, 384), (0, 3, 5), (2, 3, 0)]
            .iter()
            .map(|&(b, m, n)| AddBias { b, m, n }.into())
            .collect(),
        OpKind::AddBroadcastPe => [(1, 1, 1), (3, 7, 5), (4, 30, 128), (0, 3, 5), (2, 3, 0)]
            .iter()
            .map(|&(b, s, e)| AddBroadcastPe { b, s, e }.into())
            .collect(),
        OpKind::ThresholdSpike => n_elems
            .iter()
            .map(|&n| ThresholdSpike { n, threshold: 0.25 }.into())
            .collect(),
        OpKind::ProtoSegmentedSum => [
            (1, 1, 1, 0),
            (50, 17, 7, 0),
            (300, 64, 72, 1),
            (5, 0, 3, 0),
            (0, 3, 4, 0),
            (5, 3, 0, 1),
        ]
        .iter()
        .map(|&(m, e, t, mode)| {
            ProtoSegmentedSum {
                m,
                e,
                t,
                mode: if mode == 1 {
                    SumMode::Atomic
                } else {
                    SumMode::Deterministic
                },
            }
            .into()
        })
        .collect(),
        OpKind::ProtoUpdateStep => [(1, 1), (7, 17), (72, 384), (0, 3), (3, 0)]
            .iter()
            .map(|&(t, e)| ProtoUpdateStep { t, e, lr: 0.1 }.into())
            .collect(),
        OpKind::ShapeLoss => [(1, 1, 1), (9, 13, 3), (64, 96, 5), (0, 5, 1), (3, 4, 0)]
            .iter()
            .map(|&(rows, vocab, pairs)| {
                ShapeLoss {
                    rows,
                    vocab,
                    pairs,
                    penalty: 0.5,
                    reward: 0.25,
                    threshold: 0.05,
                }
                .into()
            })
            .collect(),
    }
}

/// Index operands: some in range, some out of range (padding −1, ≥ limit).
type IntGen = Box<dyn FnMut(&str, usize, &mut Rng) -> Vec<i32>>;

fn ints_for(op: &Op) -> IntGen {
    let (lo, hi) = match op {
        Op::CrossEntropyLossGrad(d) => (-1, d.vocab as i32 + 1),
        Op::ShapeLoss(d) => (-1, d.vocab as i32 + 1),
        Op::EmbeddingLookup(d) => (-2, d.vocab as i32 + 2),
        Op::EmbeddingBackward(d) => (-2, d.vocab as i32 + 2),
        Op::ProtoSegmentedSum(d) => (-1, d.t as i32 + 1),
        Op::ProtoUpdateStep(_) => (-1, 4),
        _ => (0, 1),
    };
    if let Op::ShapeLoss(d) = op {
        let v = d.vocab as i32;
        return Box::new(move |name: &str, n, rng: &mut Rng| {
            if name == "pairs" {
                (0..n).map(|_| rng.below(v.max(1) as u64) as i32).collect()
            } else {
                (0..n)
                    .map(|_| -1 + rng.below((v + 2) as u64) as i32)
                    .collect()
            }
        });
    }
    Box::new(idx_in(lo, hi))
}

fn dist_for(op: &Op, base: Dist) -> Box<dyn Fn(&str) -> Dist> {
    match (op, base) {
        // Log-probabilities are ≤ 0; moments v ≥ 0; probabilities in [0, 1).
        (Op::CrossEntropyLossGrad(_), Dist::Special) => Box::new(|_| Dist::Special),
        (Op::CrossEntropyLossGrad(_), _) => Box::new(|_| Dist::Uniform(-12.0, 0.0)),
        (Op::AdamUpdate(_), Dist::Special) => Box::new(|n| {
            if n == "v" {
                Dist::Uniform(0.0, 1.0)
            } else {
                Dist::Normal(1.0)
            }
        }),
        (Op::AdamUpdate(_), b) => {
            Box::new(move |n| if n == "v" { Dist::Uniform(0.0, 2.0) } else { b })
        }
        (Op::ShapeLoss(_), _) => Box::new(|n| {
            if n == "probs" {
                Dist::Uniform(0.0, 0.1)
            } else {
                Dist::Normal(1.0)
            }
        }),
        (Op::Softmax(_) | Op::LogSoftmax(_), Dist::Uniform(..)) => {
            Box::new(|_| Dist::Uniform(-80.0, 80.0))
        }
        (Op::LayerNormBackward(_) | Op::LayerNorm(_), Dist::Special) => {
            Box::new(|_| Dist::Normal(100.0))
        }
        (_, b) => Box::new(move |_| b),
    }
}

fn check_kind(kind: OpKind) {
    let Some(b) = backend() else { return };
    check_kind_on(&b, kind);
    // The other kernel forms: rowwise ops by work-groups, the GEMM with another tile
    // and work-group shape (what GPU devices get by default).
    let rowwise = matches!(
        kind,
        OpKind::Softmax
            | OpKind::LogSoftmax
            | OpKind::SoftmaxBackward
            | OpKind::LayerNorm
            | OpKind::LayerNormBackward
    );
    let gemm = matches!(
        kind,
        OpKind::MatMul
            | OpKind::MatMulBackward
            | OpKind::MatMulBatched
            | OpKind::MatMulBatchedBackward
            | OpKind::HebbianUpdate
            | OpKind::PairwiseSimilarity
            | OpKind::DynamicTokenAssignment
    );
    if rowwise || gemm {
        let alt = backend()
            .unwrap()
            .with_rows_per_item(!b.info().is_cpu)
            .with_gemm_params(GemmParams {
                mr: 4,
                nv: 4,
                nr: 1,
            })
            .with_gemm_local(None);
        check_kind_on(&alt, kind);
    }
    if kind == OpKind::DynamicTokenAssignment {
        // The direct kernel, taken when the score matrix would not fit (found by the
        // differential fuzzer: a large T with a small E ran out of device memory).
        check_kind_on(&backend().unwrap().with_score_budget(0), kind);
    }
}

fn check_kind_on(b: &OpenClBackend, kind: OpKind) {
    let mut rng = Rng::new(kind as u64 * 7919 + 1);
    for dtype in FloatType::ALL {
        for op in ops_of(kind) {
            for base in DISTS {
                let dist = dist_for(&op, base);
                let mut ints = ints_for(&op);
                let case = Case::new(op, dtype, &mut rng, &*dist, &mut *ints);
                let r = run_reference(&case);
                let d1 = run_device(b, &case);
                compare(&case, &r, &d1);
                // Determinism: the same case again gives the same bits.
                let d2 = run_device(b, &case);
                for (x, y) in d1.iter().zip(&d2) {
                    if let (Some(x), Some(y)) = (x, y) {
                        assert_eq!(bits(x), bits(y), "{} {dtype}: not deterministic", op.name());
                    }
                }
            }
        }
    }
}

macro_rules! op_tests {
    ($($name:ident => $kind:ident,)*) => {
        $( #[test] fn $name() { check_kind(OpKind::$kind); } )*

        #[test]
        fn every_kind_is_tested() {
            let tested = [$(OpKind::$kind),*];
            for k in OpKind::ALL {
                assert!(tested.contains(k), "{} has no test", k.name());
            }
        }
    };
}

op_tests! {
    matmul => MatMul,
    matmul_backward => MatMulBackward,
    matmul_batched => MatMulBatched,
    matmul_batched_backward => MatMulBatchedBackward,
    softmax => Softmax,
    log_softmax => LogSoftmax,
    softmax_backward => SoftmaxBackward,
    cross_entropy_loss_grad => CrossEntropyLossGrad,
    gelu => Gelu,
    gelu_backward => GeluBackward,
    add => Add,
    mul => Mul,
    mul_backward => MulBackward,
    layer_norm => LayerNorm,
    layer_norm_backward => LayerNormBackward,
    transpose => Transpose,
    transpose_batched => TransposeBatched,
    transpose_12 => Transpose12,
    adam_update => AdamUpdate,
    embedding_lookup => EmbeddingLookup,
    embedding_backward => EmbeddingBackward,
    reduce_sum_01 => ReduceSum01,
    add_bias => AddBias,
    add_broadcast_pe => AddBroadcastPe,
    hebbian_update => HebbianUpdate,
    threshold_spike => ThresholdSpike,
    dynamic_token_assignment => DynamicTokenAssignment,
    pairwise_similarity => PairwiseSimilarity,
    proto_segmented_sum => ProtoSegmentedSum,
    proto_update_step => ProtoUpdateStep,
    shape_loss => ShapeLoss,
}
