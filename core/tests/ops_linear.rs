//! The GEMM family on small cases worked out by hand: every value below is a product sum
//! of small integers or halves, exact in f32 and f16, so the results must match exactly.

mod common;

use common::*;
use neurokern_core::op::{
    HebbianUpdate, MatMul, MatMulBackward, MatMulBatched, MatMulBatchedBackward, PairwiseSimilarity,
};
use neurokern_core::FloatType;

#[test]
fn matmul_two_batches_share_w() {
    // A (2,2,3), W (3,2): C[b] = A[b]·W, worked out by hand.
    let a = [
        1.0, 2.0, 3.0, 4.0, 5.0, 6.0, // batch 0
        -1.0, 0.0, 2.0, 0.5, -2.0, 1.0, // batch 1
    ];
    let w = [1.0, -1.0, 2.0, 0.5, 0.0, 3.0];
    let want = [5.0, 9.0, 14.0, 16.5, -1.0, 7.0, -3.5, 1.5];
    for dt in FloatType::ALL {
        let mut b = [f(&a), f(&w), out(8)];
        run_ok(
            MatMul {
                b: 2,
                m: 2,
                k: 3,
                n: 2,
            },
            dt,
            &mut b,
        );
        assert_same(&format!("matmul {dt}"), b[2].f(), &want);
    }
}

#[test]
fn matmul_wide_output_crosses_column_blocks() {
    // N = 70 columns (more than one block of accumulators): W[k, n] = n for k = 0 and
    // 1 for k = 1, A = [2, 3], so C[n] = 2n + 3.
    let n = 70;
    let mut w: Vec<f32> = (0..n).map(|j| j as f32).collect();
    w.extend(std::iter::repeat_n(1.0, n));
    let want: Vec<f32> = (0..n).map(|j| 2.0 * j as f32 + 3.0).collect();
    for dt in FloatType::ALL {
        let mut b = [f(&[2.0, 3.0]), f(&w), out(n)];
        run_ok(
            MatMul {
                b: 1,
                m: 1,
                k: 2,
                n,
            },
            dt,
            &mut b,
        );
        assert_same(&format!("matmul wide {dt}"), b[2].f(), &want);
    }
}

#[test]
fn matmul_empty_reduction_writes_zeros() {
    // K = 0: every output is an empty sum, i.e. 0 (and is written: outputs start as NaN).
    for dt in FloatType::ALL {
        let mut b = [f(&[]), f(&[]), out(6)];
        run_ok(
            MatMul {
                b: 2,
                m: 1,
                k: 0,
                n: 3,
            },
            dt,
            &mut b,
        );
        assert_same("matmul k=0", b[2].f(), &[0.0; 6]);
    }
}

#[test]
fn matmul_nan_and_inf_flow_through() {
    // Row 0 holds a NaN: its outputs are NaN. Row 1 is [inf, 1] against W = [[0, 1], [1, 1]]:
    // inf·0 + 1 = NaN, inf·1 + 1 = inf. Row 2 is finite.
    let a = [f32::NAN, 1.0, f32::INFINITY, 1.0, 1.0, 2.0];
    let w = [0.0, 1.0, 1.0, 1.0];
    for dt in FloatType::ALL {
        let mut b = [f(&a), f(&w), out(6)];
        run_ok(
            MatMul {
                b: 1,
                m: 3,
                k: 2,
                n: 2,
            },
            dt,
            &mut b,
        );
        let c = b[2].f();
        assert!(c[0].is_nan() && c[1].is_nan(), "{dt}: {c:?}");
        assert!(c[2].is_nan(), "{dt}: inf·0 must be NaN: {c:?}");
        assert_eq!(c[3], f32::INFINITY, "{dt}");
        assert_eq!(&c[4..], &[2.0, 3.0], "{dt}");
    }
}

#[test]
fn matmul_backward_both_products() {
    // B = 2, M = 1, K = 2, N = 3; dA = dC·Wᵀ per row, dW = Σ_b A[b]ᵀ·dC[b].
    let a = [1.0, 2.0, 3.0, -1.0];
    let w = [1.0, 0.0, -1.0, 2.0, 1.0, 0.5];
    let dc = [1.0, -1.0, 2.0, 0.5, 0.0, 1.0];
    let want_da = [-1.0, 2.0, -0.5, 1.5];
    let want_dw = [2.5, -1.0, 5.0, 1.5, -2.0, 3.0];
    let d = MatMulBackward {
        b: 2,
        m: 1,
        k: 2,
        n: 3,
        want_d_a: true,
        want_d_w: true,
    };
    for dt in FloatType::ALL {
        let mut b = [f(&a), f(&w), f(&dc), out(4), out(6)];
        run_ok(d, dt, &mut b);
        assert_same(&format!("d_a {dt}"), b[3].f(), &want_da);
        assert_same(&format!("d_w {dt}"), b[4].f(), &want_dw);

        // Each output alone, the other slot disabled.
        let mut b = [f(&a), f(&w), f(&dc), Buf::Absent, out(6)];
        run_ok(
            MatMulBackward {
                want_d_a: false,
                ..d
            },
            dt,
            &mut b,
        );
        assert_same("d_w alone", b[4].f(), &want_dw);
        let mut b = [f(&a), f(&w), f(&dc), out(4), Buf::Absent];
        run_ok(
            MatMulBackward {
                want_d_w: false,
                ..d
            },
            dt,
            &mut b,
        );
        assert_same("d_a alone", b[3].f(), &want_da);
        // Neither: a valid call that writes nothing.
        let mut b = [f(&a), f(&w), f(&dc), Buf::Absent, Buf::Absent];
        run_ok(
            MatMulBackward {
                want_d_a: false,
                want_d_w: false,
                ..d
            },
            dt,
            &mut b,
        );
    }
}

#[test]
fn matmul_backward_zero_rows_gives_zero_dw() {
    // B·M = 0: dA is empty and dW is an empty sum, 0.
    let d = MatMulBackward {
        b: 0,
        m: 3,
        k: 2,
        n: 2,
        want_d_a: true,
        want_d_w: true,
    };
    for dt in FloatType::ALL {
        let mut b = [f(&[]), f(&[1.0, 2.0, 3.0, 4.0]), f(&[]), out(0), out(4)];
        run_ok(d, dt, &mut b);
        assert_same("dW of no rows", b[4].f(), &[0.0; 4]);
    }
}

#[test]
fn matmul_batched_uses_each_batch_w() {
    // C[0] = [1,2]·I = [1,2]; C[1] = [3,4]·[[2,0],[1,-1]] = [10,-4].
    let a = [1.0, 2.0, 3.0, 4.0];
    let w = [1.0, 0.0, 0.0, 1.0, 2.0, 0.0, 1.0, -1.0];
    for dt in FloatType::ALL {
        let mut b = [f(&a), f(&w), out(4)];
        run_ok(
            MatMulBatched {
                b: 2,
                m: 1,
                k: 2,
                n: 2,
            },
            dt,
            &mut b,
        );
        assert_same("matmul_batched", b[2].f(), &[1.0, 2.0, 10.0, -4.0]);
    }
}

#[test]
fn matmul_batched_backward_per_batch() {
    let a = [1.0, 2.0, 3.0, 4.0];
    let w = [1.0, 0.0, 0.0, 1.0, 2.0, 0.0, 1.0, -1.0];
    let dc = [1.0, -1.0, 2.0, 0.5];
    // dA[b] = dC[b]·W[b]ᵀ; dW[b] = A[b]ᵀ·dC[b] (an outer product for M = 1).
    let want_da = [1.0, -1.0, 4.0, 1.5];
    let want_dw = [1.0, -1.0, 2.0, -2.0, 6.0, 1.5, 8.0, 2.0];
    let d = MatMulBatchedBackward {
        b: 2,
        m: 1,
        k: 2,
        n: 2,
        want_d_a: true,
        want_d_w: true,
    };
    for dt in FloatType::ALL {
        let mut b = [f(&a), f(&w), f(&dc), out(4), out(8)];
        run_ok(d, dt, &mut b);
        assert_same("batched d_a", b[3].f(), &want_da);
        assert_same("batched d_w", b[4].f(), &want_dw);
        let mut b = [f(&a), f(&w), f(&dc), Buf::Absent, out(8)];
        run_ok(
            MatMulBatchedBackward {
                want_d_a: false,
                ..d
            },
            dt,
            &mut b,
        );
        assert_same("batched d_w alone", b[4].f(), &want_dw);
        let mut b = [f(&a), f(&w), f(&dc), out(4), Buf::Absent];
        run_ok(
            MatMulBatchedBackward {
                want_d_w: false,
                ..d
            },
            dt,
            &mut b,
        );
        assert_same("batched d_a alone", b[3].f(), &want_da);
    }
}

#[test]
fn hebbian_update_plain_and_with_decay() {
    // Preᵀ·Post over the rows [1,0]⊗[1,2,0] and [1,2]⊗[0.5,-1,1] = [[1.5,1,1],[1,-2,2]].
    let pre = [1.0, 0.0, 1.0, 2.0];
    let post = [1.0, 2.0, 0.0, 0.5, -1.0, 1.0];
    let w0 = [1.0, 1.0, 1.0, 2.0, 2.0, 2.0];
    // The two rows as one batch of two, or two batches of one: the same flattened sum.
    for (bb, mm) in [(1, 2), (2, 1)] {
        for dt in FloatType::ALL {
            let d = HebbianUpdate {
                b: bb,
                m: mm,
                k: 2,
                n: 3,
                lr: 0.5,
                decay: 0.0,
            };
            let mut b = [f(&pre), f(&post), f(&w0)];
            run_ok(d, dt, &mut b);
            // W + 0.5·S
            assert_same("hebbian", b[2].f(), &[1.75, 1.5, 1.5, 2.5, 1.0, 3.0]);
            // 0.75·W + 0.5·S
            let mut b = [f(&pre), f(&post), f(&w0)];
            run_ok(HebbianUpdate { decay: 0.25, ..d }, dt, &mut b);
            assert_same("hebbian decay", b[2].f(), &[1.5, 1.25, 1.25, 2.0, 0.5, 2.5]);
        }
    }
}

#[test]
fn hebbian_update_no_rows_only_decays() {
    // B·M = 0: the Hebbian term is an empty sum; W ← (1 − decay)·W.
    for dt in FloatType::ALL {
        let d = HebbianUpdate {
            b: 0,
            m: 4,
            k: 1,
            n: 2,
            lr: 3.0,
            decay: 0.5,
        };
        let mut b = [f(&[]), f(&[]), f(&[2.0, -4.0])];
        run_ok(d, dt, &mut b);
        assert_same("hebbian no rows", b[2].f(), &[1.0, -2.0]);
    }
}

#[test]
fn pairwise_similarity_gram_matrix() {
    let x = [1.0, 2.0, 3.0, -1.0, 0.0, 0.5];
    let want = [5.0, 1.0, 1.0, 1.0, 10.0, -0.5, 1.0, -0.5, 0.25];
    for dt in FloatType::ALL {
        let mut b = [f(&x), out(9)];
        run_ok(PairwiseSimilarity { n: 3, d: 2 }, dt, &mut b);
        assert_same("pairwise", b[1].f(), &want);
        // D = 0: all similarities are empty sums.
        let mut b = [f(&[]), out(4)];
        run_ok(PairwiseSimilarity { n: 2, d: 0 }, dt, &mut b);
        assert_same("pairwise d=0", b[1].f(), &[0.0; 4]);
    }
}

#[test]
fn gemm_f16_rounds_once_at_store() {
    // 2·32752 + 1·15 = 65519 is below the f16 rounding boundary 65520: stays 65504.
    // 2·32752 + 1·16 = 65520 is the tie between 65504 and 2^16: even → 2^16 → inf.
    // In f32 both are exact. The sum is formed in f32 first, so no intermediate
    // rounding to f16 (2·32752 = 65504 exactly, then + 15) may happen.
    for (extra, want16) in [(15.0f32, 65504.0f32), (16.0, f32::INFINITY)] {
        let mut b = [f(&[2.0, 1.0]), f(&[32752.0, extra]), out(1)];
        run_ok(
            MatMul {
                b: 1,
                m: 1,
                k: 2,
                n: 1,
            },
            FloatType::F16,
            &mut b,
        );
        assert_same("f16 store", b[2].f(), &[want16]);
        let mut b = [f(&[2.0, 1.0]), f(&[32752.0, extra]), out(1)];
        run_ok(
            MatMul {
                b: 1,
                m: 1,
                k: 2,
                n: 1,
            },
            FloatType::F32,
            &mut b,
        );
        assert_same("f32 exact", b[2].f(), &[65504.0 + extra]);
    }
    // Intermediate values beyond f16's range are fine as long as the result is not:
    // 40000·2 − 40000·1.5 = 20000 (80000 would overflow f16).
    let mut b = [f(&[40000.0, 40000.0]), f(&[2.0, -1.5]), out(1)];
    run_ok(
        MatMul {
            b: 1,
            m: 1,
            k: 2,
            n: 1,
        },
        FloatType::F16,
        &mut b,
    );
    assert_same("f16 wide accumulation", b[2].f(), &[20000.0]);
}
