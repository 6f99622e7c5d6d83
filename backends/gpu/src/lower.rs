//! The lowering: every op of the contract as a short plan of primitive steps, written
//! once for every GPU backend.
//!
//! Operands are named as the descriptors name them (`o.get("d_c")`); workspace is
//! declared by the plan ([`Plan::work`]). What is decided here, and nowhere else:
//!
//! * which ops are one GEMM, with which transposes, strides, `alpha`, `beta` and output
//!   type: `matmul` (batches flattened into rows), both backward products, the batched
//!   forms, `hebbian_update` (`W ← (1−decay)·W + lr·Preᵀ·Post`, accumulating),
//!   `pairwise_similarity` (`X·Xᵀ`) and the scores of `dynamic_token_assignment`;
//! * token assignment's memory budget: its `(rows, T)` f32 score matrix (GEMM, then a row
//!   argmax) only while it fits [`Limits::score_budget`], else the direct kernel;
//! * Adam's bias corrections `1 − βᵗ`, once, in f64 on the host;
//! * broadcast adds as one kernel with a repeating second operand;
//! * column sums in two fixed-order passes (chunks of rows, then the chunks);
//! * scatter sums as a stable counting sort, ordered per-segment sums and counts;
//! * the three transposes as one `(B, D1, D2, D3) → (B, D2, D1, D3)` kernel.
//!
//! The validation of the call has already happened: dims and products fit `i32`.

use neurokern_core::{Op, Operands};

use crate::device::Limits;
use crate::gemm::{Gemm, MatOut, MatRef};
use crate::kernel::*;
use crate::plan::{Buf, Plan};

/// The most score-matrix cells per input element token assignment materializes: the
/// seed model's (4096 rows, 384 prototypes, E = 128) has 2.7; past this many, the
/// scratch would dwarf the data and the direct kernel is used.
const SCORES_PER_INPUT: usize = 64;

/// Rows per chunk of the first column-sum pass (at most [`COLUMN_CHUNKS`] chunks).
const COLUMN_CHUNK_ROWS: usize = 64;
/// Most chunks of the first column-sum pass.
const COLUMN_CHUNKS: usize = 64;

/// The operands of a call, by name.
struct Named<'a>(&'a Operands);

impl Named<'_> {
    /// The operand called `name`. A name the descriptor lacks is a bug of this module; it
    /// resolves to a slot no call has, which the skeleton reports as a lowering error.
    fn get(&self, name: &str) -> Buf {
        Buf::Operand(self.0.position(name).unwrap_or(usize::MAX))
    }

    /// The operand called `name` when the descriptor enables it.
    fn opt(&self, name: &str) -> Option<Buf> {
        self.0
            .position(name)
            .filter(|&i| self.0.as_slice()[i].present)
            .map(Buf::Operand)
    }
}

/// A row-major matrix operand, as stored (`ld` = its row length).
fn mat(buf: Buf, ld: usize, stride: usize) -> MatRef<Buf> {
    MatRef {
        buf,
        ld,
        stride,
        trans: false,
    }
}

/// The same, read transposed.
fn mat_t(buf: Buf, ld: usize, stride: usize) -> MatRef<Buf> {
    MatRef {
        buf,
        ld,
        stride,
        trans: true,
    }
}

fn out(buf: Buf, ld: usize, stride: usize) -> MatOut<Buf> {
    MatOut { buf, ld, stride }
}

/// `C = op(A)·op(B)`, overwriting `C`.
fn product(
    (m, n, k, batch): (usize, usize, usize, usize),
    a: MatRef<Buf>,
    b: MatRef<Buf>,
    c: MatOut<Buf>,
) -> Gemm<Buf> {
    Gemm {
        m,
        n,
        k,
        batch,
        a,
        b,
        c,
        alpha: 1.0,
        beta: 0.0,
        accumulate: false,
        c_f32: false,
    }
}

/// The plan of `op` (already validated; `operands` is its operand list) on a device with
/// `limits`.
pub fn lower(op: &Op, operands: &Operands, limits: &Limits) -> Plan {
    let o = Named(operands);
    let mut p = Plan::default();
    match op {
        Op::MatMul(d) => p.gemm(product(
            (d.b * d.m, d.n, d.k, 1),
            mat(o.get("a"), d.k, 0),
            mat(o.get("w"), d.n, 0),
            out(o.get("c"), d.n, 0),
        )),
        Op::MatMulBatched(d) => p.gemm(product(
            (d.m, d.n, d.k, d.b),
            mat(o.get("a"), d.k, d.m * d.k),
            mat(o.get("w"), d.n, d.k * d.n),
            out(o.get("c"), d.n, d.m * d.n),
        )),
        Op::MatMulBackward(d) => {
            if let Some(d_a) = o.opt("d_a") {
                // dA (BM, K) = dC (BM, N) · Wᵀ.
                p.gemm(product(
                    (d.b * d.m, d.k, d.n, 1),
                    mat(o.get("d_c"), d.n, 0),
                    mat_t(o.get("w"), d.n, 0),
                    out(d_a, d.k, 0),
                ));
            }
            if let Some(d_w) = o.opt("d_w") {
                // dW (K, N) = Aᵀ (K, BM) · dC (BM, N).
                p.gemm(product(
                    (d.k, d.n, d.b * d.m, 1),
                    mat_t(o.get("a"), d.k, 0),
                    mat(o.get("d_c"), d.n, 0),
                    out(d_w, d.n, 0),
                ));
            }
        }
        Op::MatMulBatchedBackward(d) => {
            if let Some(d_a) = o.opt("d_a") {
                p.gemm(product(
                    (d.m, d.k, d.n, d.b),
                    mat(o.get("d_c"), d.n, d.m * d.n),
                    mat_t(o.get("w"), d.n, d.k * d.n),
                    out(d_a, d.k, d.m * d.k),
                ));
            }
            if let Some(d_w) = o.opt("d_w") {
                p.gemm(product(
                    (d.k, d.n, d.m, d.b),
                    mat_t(o.get("a"), d.k, d.m * d.k),
                    mat(o.get("d_c"), d.n, d.m * d.n),
                    out(d_w, d.n, d.k * d.n),
                ));
            }
        }
        Op::HebbianUpdate(d) => p.gemm(Gemm {
            alpha: d.lr,
            beta: 1.0f32 - d.decay,
            accumulate: true,
            ..product(
                (d.k, d.n, d.b * d.m, 1),
                mat_t(o.get("pre"), d.k, 0),
                mat(o.get("post"), d.n, 0),
                out(o.get("w"), d.n, 0),
            )
        }),
        Op::PairwiseSimilarity(d) => p.gemm(product(
            (d.n, d.n, d.d, 1),
            mat(o.get("x"), d.d, 0),
            mat_t(o.get("x"), d.d, 0),
            out(o.get("s"), d.n, 0),
        )),
        Op::DynamicTokenAssignment(d) => {
            let rows = d.b * d.s;
            let (idx, best) = (o.get("idx"), o.opt("best"));
            // The f32 scores (rows, T) are a workspace indexed with 32 bits. A matrix
            // past the device's budget, or much larger than the operands (large T, small
            // E: a fuzzer's E = 0 with 16 M prototypes asked for 1.2 GB of scratch), is not
            // materialized: one work-item per row scans the prototypes with its own dot
            // products instead.
            let inputs = (rows + d.t).saturating_mul(d.e);
            let cells = rows
                .checked_mul(d.t)
                .filter(|&c| c <= i32::MAX as usize)
                .filter(|&c| c <= SCORES_PER_INPUT.saturating_mul(inputs));
            match cells.filter(|&c| (c as u64).saturating_mul(4) <= limits.score_budget) {
                Some(cells) => {
                    let scores = p.work(cells * 4);
                    p.gemm(Gemm {
                        c_f32: true,
                        ..product(
                            (rows, d.t, d.e, 1),
                            mat(o.get("act"), d.e, 0),
                            mat_t(o.get("proto"), d.e, 0),
                            out(scores, d.t, 0),
                        )
                    });
                    p.kernel(ArgmaxRows {
                        rows,
                        cols: d.t,
                        scores,
                        idx,
                        best,
                        want_best: d.want_best,
                    });
                }
                None => p.kernel(TokenAssignDirect {
                    rows,
                    protos: d.t,
                    e: d.e,
                    act: o.get("act"),
                    proto: o.get("proto"),
                    idx,
                    best,
                    want_best: d.want_best,
                }),
            }
        }
        Op::Softmax(d) => p.kernel(Softmax {
            rows: d.rows,
            len: d.len,
            x: o.get("x"),
            y: o.get("y"),
            log: false,
        }),
        Op::LogSoftmax(d) => p.kernel(Softmax {
            rows: d.rows,
            len: d.len,
            x: o.get("x"),
            y: o.get("y"),
            log: true,
        }),
        Op::SoftmaxBackward(d) => p.kernel(SoftmaxBackward {
            rows: d.rows,
            len: d.len,
            dy: o.get("d_y"),
            y: o.get("y"),
            dx: o.get("d_x"),
        }),
        Op::CrossEntropyLossGrad(d) => p.kernel(CrossEntropy {
            rows: d.rows,
            vocab: d.vocab,
            logp: o.get("logp"),
            target: o.get("target"),
            grad: o.get("grad"),
            loss: o.get("loss"),
        }),
        Op::Gelu(d) => p.kernel(Gelu {
            n: d.n,
            x: o.get("x"),
            y: o.get("y"),
        }),
        Op::GeluBackward(d) => p.kernel(GeluBackward {
            n: d.n,
            x: o.get("x"),
            dy: o.get("d_y"),
            dx: o.get("d_x"),
        }),
        Op::ThresholdSpike(d) => p.kernel(Threshold {
            n: d.n,
            theta: d.threshold,
            x: o.get("x"),
            y: o.get("y"),
        }),
        Op::Add(d) => p.kernel(broadcast_add(&o, (d.n, 1), ("a", "b", "c"))),
        Op::AddBias(d) => p.kernel(broadcast_add(&o, (d.n, d.b * d.m), ("x", "bias", "y"))),
        Op::AddBroadcastPe(d) => p.kernel(broadcast_add(&o, (d.s * d.e, d.b), ("x", "pe", "y"))),
        Op::Mul(d) => p.kernel(Mul {
            n: d.n,
            a: o.get("a"),
            b: o.get("b"),
            c: o.get("c"),
        }),
        Op::MulBackward(d) => {
            if let Some(d_a) = o.opt("d_a") {
                p.kernel(Mul {
                    n: d.n,
                    a: o.get("d_c"),
                    b: o.get("b"),
                    c: d_a,
                });
            }
            if let Some(d_b) = o.opt("d_b") {
                p.kernel(Mul {
                    n: d.n,
                    a: o.get("d_c"),
                    b: o.get("a"),
                    c: d_b,
                });
            }
        }
        Op::LayerNorm(d) => p.kernel(LayerNorm {
            rows: d.rows,
            len: d.len,
            eps: d.eps,
            x: o.get("x"),
            gamma: o.opt("gamma"),
            beta: o.opt("beta"),
            y: o.get("y"),
            affine: d.affine,
        }),
        Op::LayerNormBackward(d) => {
            // Each row's mean and rstd, for the column sums of dγ and dβ.
            let stats = p.work(d.rows * 2 * 4);
            p.kernel(LayerNormBackward {
                rows: d.rows,
                len: d.len,
                eps: d.eps,
                dy: o.get("d_y"),
                x: o.get("x"),
                gamma: o.opt("gamma"),
                dx: o.get("d_x"),
                stats,
                affine: d.affine,
            });
            if d.affine {
                p.kernel(LayerNormBackwardCols {
                    rows: d.rows,
                    len: d.len,
                    dy: o.get("d_y"),
                    x: o.get("x"),
                    stats,
                    dgamma: o.get("d_gamma"),
                    dbeta: o.get("d_beta"),
                });
            }
        }
        Op::Transpose(d) => p.kernel(transpose(&o, (1, d.rows, d.cols, 1))),
        Op::TransposeBatched(d) => p.kernel(transpose(&o, (d.b, d.d1, d.d2, 1))),
        Op::Transpose12(d) => p.kernel(transpose(&o, (d.b, d.d1, d.d2, d.d3))),
        Op::AdamUpdate(d) => {
            let t = f64::from(d.t);
            let (b1, b2) = (f64::from(d.beta1), f64::from(d.beta2));
            p.kernel(Adam {
                n: d.n,
                p: o.get("p"),
                g: o.get("g"),
                m: o.get("m"),
                v: o.get("v"),
                lr: d.lr,
                beta1: d.beta1,
                one_minus_beta1: (1.0 - b1) as f32,
                beta2: d.beta2,
                one_minus_beta2: (1.0 - b2) as f32,
                eps: d.eps,
                weight_decay: d.weight_decay,
                c1: (1.0 - b1.powf(t)) as f32,
                c2: (1.0 - b2.powf(t)) as f32,
                decoupled: d.decoupled,
            });
        }
        Op::EmbeddingLookup(d) => p.kernel(Gather {
            rows: d.b * d.s,
            dim: d.dim,
            vocab: d.vocab,
            idx: o.get("idx"),
            table: o.get("table"),
            out: o.get("out"),
        }),
        Op::EmbeddingBackward(d) => segment_sum(
            &mut p,
            (d.b * d.s, d.dim, d.vocab),
            (o.get("d_out"), o.get("idx"), o.get("d_table")),
            None,
        ),
        // SumMode::Atomic allows any order; the deterministic path is as fast, so it is
        // the only one.
        Op::ProtoSegmentedSum(d) => segment_sum(
            &mut p,
            (d.m, d.e, d.t),
            (o.get("act"), o.get("idx"), o.get("sums")),
            Some(o.get("counts")),
        ),
        Op::ProtoUpdateStep(d) => p.kernel(ProtoUpdate {
            n: d.t * d.e,
            e: d.e.max(1),
            keep: 1.0f32 - d.lr,
            lr: d.lr,
            proto: o.get("proto"),
            sums: o.get("sums"),
            counts: o.get("counts"),
        }),
        Op::ReduceSum01(d) => {
            let (rows, n) = (d.b * d.m, d.n);
            let chunks = rows.div_ceil(COLUMN_CHUNK_ROWS).clamp(1, COLUMN_CHUNKS);
            let chunk = rows.div_ceil(chunks).max(1);
            let part = p.work(chunks * n * 4);
            p.kernel(ColumnSumsPartial {
                rows,
                n,
                chunk,
                x: o.get("x"),
                part,
            });
            p.kernel(ColumnSumsFinal {
                chunks,
                n,
                part,
                y: o.get("y"),
            });
        }
        Op::ShapeLoss(d) => p.kernel(ShapeLoss {
            rows: d.rows,
            vocab: d.vocab,
            pairs: d.pairs,
            loss_in: o.get("loss_in"),
            probs: o.get("probs"),
            target: o.get("target"),
            pair_list: o.get("pairs"),
            loss_out: o.get("loss_out"),
            penalty: d.penalty,
            reward: d.reward,
            threshold: d.threshold,
        }),
    }
    p
}

/// `c = a + b` with `b` repeating every `period` elements, `reps` times.
fn broadcast_add(
    o: &Named<'_>,
    (period, reps): (usize, usize),
    (a, b, c): (&str, &str, &str),
) -> Add<Buf> {
    Add {
        period,
        reps,
        a: o.get(a),
        b: o.get(b),
        c: o.get(c),
    }
}

/// `y (B, D2, D1, D3) ← x (B, D1, D2, D3)`.
fn transpose(o: &Named<'_>, (batches, d1, d2, d3): (usize, usize, usize, usize)) -> Transpose<Buf> {
    Transpose {
        d1,
        d2,
        d3,
        batches,
        x: o.get("x"),
        y: o.get("y"),
    }
}

/// Deterministic segmented sum of `src (rows, width)` by `idx` into `dst (segs, width)`
/// and, when given, `counts (segs)`: a stable counting sort, then each segment's rows
/// summed in increasing row order.
fn segment_sum(
    p: &mut Plan,
    (rows, width, segs): (usize, usize, usize),
    (src, idx, dst): (Buf, Buf, Buf),
    counts: Option<Buf>,
) {
    let offs = p.work((segs + 1) * 4);
    let order = p.work(rows.max(1) * 4);
    let cursor = p.work(segs.max(1) * 4);
    p.kernel(Bucket {
        rows,
        segs,
        idx,
        offs,
        order,
        cursor,
    });
    p.kernel(SegmentSum {
        width,
        segs,
        src,
        offs,
        order,
        dst,
    });
    if let Some(counts) = counts {
        p.kernel(SegmentCounts { segs, offs, counts });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Step;
    use neurokern_core::op::{DynamicTokenAssignment, ReduceSum01};

    const ROOMY: Limits = Limits {
        max_alloc: 1 << 40,
        score_budget: 1 << 40,
    };

    #[test]
    fn token_assignment_takes_the_direct_path_past_the_budget() {
        let op = Op::DynamicTokenAssignment(DynamicTokenAssignment {
            b: 2,
            s: 3,
            e: 4,
            t: 5,
            want_best: true,
        });
        let ops = op.validate().unwrap();
        let gemm = lower(&op, &ops, &ROOMY);
        assert!(matches!(
            gemm.steps[..],
            [Step::Gemm(_), Step::Kernel(Kernel::ArgmaxRows(_))]
        ));
        assert_eq!(gemm.work[0].bytes, 6 * 5 * 4);
        let tight = Limits {
            score_budget: 6 * 5 * 4 - 1,
            ..ROOMY
        };
        let direct = lower(&op, &ops, &tight);
        assert!(matches!(
            direct.steps[..],
            [Step::Kernel(Kernel::TokenAssignDirect(_))]
        ));
        assert!(direct.work.is_empty());
    }

    #[test]
    fn token_assignment_never_materializes_scores_that_dwarf_its_inputs() {
        for (s, e, t) in [(64, 0, 1 << 24), (640, 1, 100_000)] {
            let op = Op::DynamicTokenAssignment(DynamicTokenAssignment {
                b: 1,
                s,
                e,
                t,
                want_best: false,
            });
            let ops = op.validate().unwrap();
            let plan = lower(&op, &ops, &ROOMY);
            assert!(plan.work.is_empty(), "e = {e}, t = {t}: {:?}", plan.work);
        }
    }

    #[test]
    fn column_sum_passes_agree_on_the_chunk_count() {
        for rows in [0, 1, 63, 64, 65, 4032, 4033, 4097, 100_000] {
            let op = Op::ReduceSum01(ReduceSum01 {
                b: 1,
                m: rows,
                n: 3,
            });
            let ops = op.validate().unwrap();
            let p = lower(&op, &ops, &ROOMY);
            let (Step::Kernel(part), Step::Kernel(Kernel::ColumnSumsFinal(fin))) =
                (&p.steps[0], &p.steps[1])
            else {
                panic!("two column-sum passes")
            };
            assert_eq!(part.grid()[1], fin.chunks, "rows = {rows}");
        }
    }
}
