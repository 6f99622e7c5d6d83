//! The ops driven by indices: embeddings, cross-entropy, loss shaping and the prototype
//! ops, with their padding, out-of-range, tie and NaN rules, on cases worked out by hand.

mod common;

use common::*;
use neurokern_core::op::{
    CrossEntropyLossGrad, DynamicTokenAssignment, EmbeddingBackward, EmbeddingLookup,
    ProtoSegmentedSum, ProtoUpdateStep, ShapeLoss, SumMode,
};
use neurokern_core::FloatType;

const INF: f32 = f32::INFINITY;
const NAN: f32 = f32::NAN;

#[test]
fn embedding_lookup_rows_and_zero_rows() {
    let table = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    // 2 and 0 are rows; −1, 3 (= V), i32::MIN and i32::MAX are out of range: zero rows.
    let idx = [2, 0, -1, 3, i32::MIN, i32::MAX];
    let want = [5.0, 6.0, 1.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
    let d = EmbeddingLookup {
        b: 2,
        s: 3,
        vocab: 3,
        dim: 2,
    };
    for dt in FloatType::ALL {
        let mut b = [i(&idx), f(&table), out(12)];
        run_ok(d, dt, &mut b);
        assert_same("lookup", b[2].f(), &want);
    }
    // A lookup is a copy: NaN and inf rows come out as they are.
    let mut b = [i(&[0]), f(&[NAN, -INF]), out(2)];
    run_ok(
        EmbeddingLookup {
            b: 1,
            s: 1,
            vocab: 1,
            dim: 2,
        },
        FloatType::F32,
        &mut b,
    );
    assert!(b[2].f()[0].is_nan() && b[2].f()[1] == -INF);
}

#[test]
fn embedding_lookup_empty_table_gives_zero_rows() {
    // V = 0: every index is out of range.
    for dt in FloatType::ALL {
        let mut b = [i(&[0, 1]), f(&[]), out(4)];
        run_ok(
            EmbeddingLookup {
                b: 1,
                s: 2,
                vocab: 0,
                dim: 2,
            },
            dt,
            &mut b,
        );
        assert_same("empty table", b[2].f(), &[0.0; 4]);
    }
}

#[test]
fn embedding_backward_sums_and_skips() {
    // Positions 0 and 1 hit row 1, position 3 row 0, position 2 (−5) contributes nothing;
    // row 2 gets nothing and is written as 0.
    let d_out = [1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 20.0];
    let idx = [1, 1, -5, 0];
    let d = EmbeddingBackward {
        b: 2,
        s: 2,
        vocab: 3,
        dim: 2,
    };
    for dt in FloatType::ALL {
        let mut b = [f(&d_out), i(&idx), out(6)];
        run_ok(d, dt, &mut b);
        assert_same(
            "embedding_backward",
            b[2].f(),
            &[10.0, 20.0, 3.0, 4.0, 0.0, 0.0],
        );
        // Index V (= 3) is out of range too.
        let mut b = [f(&d_out), i(&[3, 3, 3, 3]), out(6)];
        run_ok(d, dt, &mut b);
        assert_same("all out of range", b[2].f(), &[0.0; 6]);
    }
}

#[test]
fn scatter_sums_accumulate_in_f32_for_f16() {
    // 2048 + 1 + 1 = 2050 is an f16 value, but 2048 + 1 = 2049 is a tie that rounds back
    // to 2048: summing in f16 would give 2048.
    let rows = [2048.0, 1.0, 1.0];
    let mut b = [f(&rows), i(&[0, 0, 0]), out(1)];
    run_ok(
        EmbeddingBackward {
            b: 1,
            s: 3,
            vocab: 1,
            dim: 1,
        },
        FloatType::F16,
        &mut b,
    );
    assert_same("embedding_backward f16", b[2].f(), &[2050.0]);
    let mut b = [f(&rows), i(&[0, 0, 0]), out(1), out_i(1)];
    run_ok(
        ProtoSegmentedSum {
            m: 3,
            e: 1,
            t: 1,
            mode: SumMode::Deterministic,
        },
        FloatType::F16,
        &mut b,
    );
    assert_same("segmented sum f16", b[2].f(), &[2050.0]);
    assert_eq!(b[3].i(), &[3]);
}

#[test]
fn cross_entropy_rows_and_padding() {
    let v = 3;
    let logp = [
        -1.0, -2.0, -0.5, // target 1: loss 2
        0.0, -INF, -INF, // target 0: p = 1, loss 0, grad 0
        -1.0, -1.0, -1.0, // padding (−1): loss 0, grad 0
        -1.0, -1.0, -1.0, // target V: out of range, same as padding
        0.5, -1.0, -2.0, // target 0 with logp > 0: loss max(0, −0.5) = 0
        NAN, -1.0, -1.0, // NaN log-probability at the target
    ];
    let target = [1, 0, -1, 3, 0, 0];
    let e = |x: f64| x.exp();
    let want_grad = [
        e(-1.0),
        e(-2.0) - 1.0,
        e(-0.5),
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        e(0.5) - 1.0,
        e(-1.0),
        e(-2.0),
        f64::NAN,
        e(-1.0),
        e(-1.0),
    ];
    let want_loss = [2.0, 0.0, 0.0, 0.0, 0.0, f64::NAN];
    for dt in FloatType::ALL {
        let mut b = [f(&logp), i(&target), out(18), out(6)];
        run_ok(CrossEntropyLossGrad { rows: 6, vocab: v }, dt, &mut b);
        // exp evaluated in f64, rounded once.
        assert_ulps(dt, "grad", b[2].f(), &want_grad, 1.0);
        assert_ulps(dt, "loss", b[3].f(), &want_loss, 0.0);
        // Padding rows are exact zeros, not just small.
        assert!(b[2].f()[6..12].iter().all(|&g| g == 0.0));
    }
}

#[test]
fn shape_loss_penalty_reward_ties_and_pass_through() {
    let v = 3;
    let probs = [
        0.125, 0.25, 0.625, // r0 target 0, pred 2: (0,2) listed → +penalty
        0.625, 0.25, 0.125, // r1 target 1, pred 0: (1,0) listed → +penalty
        0.125, 0.75, 0.125, // r2 target 1, pred 1, 0.75 ≥ 0.5 → −reward
        0.25, 0.375, 0.375, // r3 target 1, pred 1 (first max), 0.375 < 0.5 → unchanged
        0.375, 0.375, 0.25, // r4 target 1, tie → pred 0 (first max) → (1,0) → +penalty
        0.125, 0.25, 0.625, // r5 target −1: passes through
        0.125, 0.25, 0.625, // r6 target 3 (= V): passes through
        NAN, 0.125, 0.25, // r7 target 0, NaN never wins → pred 2 → +penalty
        0.25, 0.625, 0.125, // r8 target 2, pred 1: (2,1) not listed → unchanged
        0.0, 0.0, 0.5, // r9 target 2, pred 2, exactly at the threshold → −reward
    ];
    let target = [0, 1, 1, 1, 1, -1, 3, 0, 2, 2];
    let pairs = [0, 2, 1, 0];
    let loss_in = [1.0, 2.0, 1.0, 1.0, 1.0, 7.0, NAN, 1.0, 1.0, 1.0];
    let want = [1.5, 2.5, 0.75, 1.0, 1.5, 7.0, NAN, 1.5, 1.0, 0.75];
    let d = ShapeLoss {
        rows: 10,
        vocab: v,
        pairs: 2,
        penalty: 0.5,
        reward: 0.25,
        threshold: 0.5,
    };
    for dt in FloatType::ALL {
        let mut b = [f(&loss_in), f(&probs), i(&target), i(&pairs), out(10)];
        run_ok(d, dt, &mut b);
        assert_same("shape_loss", b[4].f(), &want);
        // No pairs: only the reward applies.
        let mut b = [f(&loss_in), f(&probs), i(&target), i(&[]), out(10)];
        run_ok(ShapeLoss { pairs: 0, ..d }, dt, &mut b);
        let want0 = [1.0, 2.0, 0.75, 1.0, 1.0, 7.0, NAN, 1.0, 1.0, 0.75];
        assert_same("shape_loss no pairs", b[4].f(), &want0);
    }
}

#[test]
fn dynamic_token_assignment_ties_and_best() {
    // proto rows [1,0], [0,1], [1,0] (a duplicate: ties between 0 and 2).
    let proto = [1.0, 0.0, 0.0, 1.0, 1.0, 0.0];
    let act = [2.0, 1.0, 1.0, 3.0, -1.0, -2.0, 0.0, 0.0];
    // sims: [2,1,2] → 0; [1,3,1] → 1; [−1,−2,−1] → 0; [0,0,0] → 0.
    let d = DynamicTokenAssignment {
        b: 2,
        s: 2,
        e: 2,
        t: 3,
        want_best: true,
    };
    for dt in FloatType::ALL {
        let mut b = [f(&act), f(&proto), out_i(4), out(4)];
        run_ok(d, dt, &mut b);
        assert_eq!(b[2].i(), &[0, 1, 0, 0]);
        assert_same("best", b[3].f(), &[2.0, 3.0, -1.0, 0.0]);
        let mut b = [f(&act), f(&proto), out_i(4), Buf::Absent];
        run_ok(
            DynamicTokenAssignment {
                want_best: false,
                ..d
            },
            dt,
            &mut b,
        );
        assert_eq!(b[2].i(), &[0, 1, 0, 0]);
    }
}

#[test]
fn dynamic_token_assignment_nan_never_wins_and_minus_one() {
    // proto rows [NaN,0], [1,0], [2,0]: act [1,0] → sims [NaN,1,2] → 2;
    // act [−1,0] → [NaN,−1,−2] → 1 (the NaN at t = 0 does not block later candidates).
    let proto = [NAN, 0.0, 1.0, 0.0, 2.0, 0.0];
    let d = DynamicTokenAssignment {
        b: 1,
        s: 2,
        e: 2,
        t: 3,
        want_best: true,
    };
    for dt in FloatType::ALL {
        let mut b = [f(&[1.0, 0.0, -1.0, 0.0]), f(&proto), out_i(2), out(2)];
        run_ok(d, dt, &mut b);
        assert_eq!(b[2].i(), &[2, 1]);
        assert_same("best", b[3].f(), &[2.0, -1.0]);

        // One prototype [−inf, 0]: act [1, 0] gives −inf (does not beat −inf), act [0, 0]
        // gives −inf·0 = NaN: both rows get −1 and best −inf.
        let mut b = [f(&[1.0, 0.0, 0.0, 0.0]), f(&[-INF, 0.0]), out_i(2), out(2)];
        run_ok(DynamicTokenAssignment { t: 1, ..d }, dt, &mut b);
        assert_eq!(b[2].i(), &[-1, -1]);
        assert_same("best −inf", b[3].f(), &[-INF, -INF]);

        // T = 0: nothing to choose from.
        let mut b = [f(&[1.0, 0.0, 0.0, 0.0]), f(&[]), out_i(2), out(2)];
        run_ok(DynamicTokenAssignment { t: 0, ..d }, dt, &mut b);
        assert_eq!(b[2].i(), &[-1, -1]);
        assert_same("best T=0", b[3].f(), &[-INF, -INF]);

        // E = 0: every similarity is the empty sum 0, so the first prototype wins.
        let mut b = [f(&[]), f(&[]), out_i(2), out(2)];
        run_ok(DynamicTokenAssignment { e: 0, ..d }, dt, &mut b);
        assert_eq!(b[2].i(), &[0, 0]);
        assert_same("best E=0", b[3].f(), &[0.0, 0.0]);
    }
}

#[test]
fn proto_segmented_sum_by_hand() {
    let act = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
    let idx = [1, 0, 1, -1, 3];
    for mode in [SumMode::Deterministic, SumMode::Atomic] {
        for dt in FloatType::ALL {
            let mut b = [f(&act), i(&idx), out(6), out_i(3)];
            run_ok(
                ProtoSegmentedSum {
                    m: 5,
                    e: 2,
                    t: 3,
                    mode,
                },
                dt,
                &mut b,
            );
            assert_same("sums", b[2].f(), &[3.0, 4.0, 6.0, 8.0, 0.0, 0.0]);
            assert_eq!(b[3].i(), &[1, 2, 0]);
        }
    }
}

#[test]
fn proto_update_step_by_hand() {
    let proto = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
    let sums = [4.0, 8.0, 100.0, 100.0, 10.0, 10.0, 100.0, 100.0];
    // count 2 → mean [2,4]; 0 → unchanged; 5 → mean [2,2]; −1 → unchanged.
    let counts = [2, 0, 5, -1];
    for dt in FloatType::ALL {
        let mut b = [f(&proto), f(&sums), i(&counts)];
        run_ok(
            ProtoUpdateStep {
                t: 4,
                e: 2,
                lr: 0.5,
            },
            dt,
            &mut b,
        );
        assert_same(
            "update lr 0.5",
            b[0].f(),
            &[1.5, 3.0, 3.0, 4.0, 3.5, 4.0, 7.0, 8.0],
        );
        let mut b = [f(&proto), f(&sums), i(&counts)];
        run_ok(
            ProtoUpdateStep {
                t: 4,
                e: 2,
                lr: 1.0,
            },
            dt,
            &mut b,
        );
        assert_same(
            "update lr 1",
            b[0].f(),
            &[2.0, 4.0, 3.0, 4.0, 2.0, 2.0, 7.0, 8.0],
        );
        let mut b = [f(&proto), f(&sums), i(&counts)];
        run_ok(
            ProtoUpdateStep {
                t: 4,
                e: 2,
                lr: 0.0,
            },
            dt,
            &mut b,
        );
        assert_same("update lr 0", b[0].f(), &proto);
    }
}
