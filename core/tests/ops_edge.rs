//! Rules that hold for every op: outputs are fully written (no op relies on its caller
//! zeroing them), calls are deterministic, zero-sized dims are valid no-ops, and the
//! aliasing ops give the same result in place as out of place.

mod common;

use std::time::{Duration, Instant};

use common::*;
use neurokern_core::op::{DynamicTokenAssignment, MatMul, MatMulBatched, Transpose12};
use neurokern_core::{FloatType, Op, OpKind, Role};

const FLOATS: [f32; 7] = [0.5, -1.25, 2.0, 0.75, -0.5, 1.5, -2.0];
const INTS: [i32; 5] = [0, 1, -1, 2, 5];

/// Runs a call built by `slots_for` and checks that every written operand holds no
/// sentinel left from before the call: finite inputs never produce NaN in these calls,
/// and no index output is ever `i32::MIN + 7`.
fn check_written(op: &Op, dt: FloatType) -> Vec<Buf> {
    let mut bufs = slots_for(op, dt, &FLOATS, &INTS);
    run_ok(*op, dt, &mut bufs);
    let operands = op.validate().unwrap();
    for (spec, b) in operands.iter().zip(&bufs) {
        if !spec.present || !spec.role.is_written() {
            continue;
        }
        match b {
            Buf::F(v) | Buf::F32(v) => assert!(
                v.iter().all(|x| !x.is_nan()),
                "{} {dt}: `{}` not fully written: {v:?}",
                op.name(),
                spec.name
            ),
            Buf::I(v) => assert!(
                v.iter().all(|&x| x != i32::MIN + 7),
                "{} {dt}: `{}` not fully written: {v:?}",
                op.name(),
                spec.name
            ),
            _ => {}
        }
    }
    bufs
}

#[test]
fn every_op_writes_all_outputs_and_is_deterministic() {
    for &kind in OpKind::ALL {
        for flags in [[false, false], [true, true], [true, false]] {
            let op = small_op(kind, [2, 3, 2, 3], flags);
            for dt in FloatType::ALL {
                let first = check_written(&op, dt);
                let second = check_written(&op, dt);
                // Same inputs, same bits (NaN-free here, so == is bitwise up to ±0,
                // which we also compare).
                for (a, b) in first.iter().zip(&second) {
                    if let (Buf::F(x), Buf::F(y)) = (a, b) {
                        let xb: Vec<u32> = x.iter().map(|v| v.to_bits()).collect();
                        let yb: Vec<u32> = y.iter().map(|v| v.to_bits()).collect();
                        assert_eq!(xb, yb, "{} {dt}: not deterministic", op.name());
                    } else {
                        assert_eq!(a, b, "{} {dt}: not deterministic", op.name());
                    }
                }
            }
        }
    }
}

#[test]
fn zero_sized_dims_are_valid() {
    // Each dim in turn set to 0: the call is valid, empty outputs stay empty, and any
    // non-empty output (an empty sum, a decayed weight, an unassigned index) is written.
    for &kind in OpKind::ALL {
        for zero in 0..4 {
            let mut d = [2, 3, 2, 3];
            d[zero] = 0;
            for flags in [[false, false], [true, true]] {
                let op = small_op(kind, d, flags);
                for dt in FloatType::ALL {
                    check_written(&op, dt);
                }
            }
        }
        // All dims zero.
        for dt in FloatType::ALL {
            check_written(&small_op(kind, [0; 4], [true, true]), dt);
        }
    }
}

#[test]
fn zero_sized_dims_give_empty_sums_not_garbage() {
    use neurokern_core::op::*;
    for dt in FloatType::ALL {
        // layer_norm_backward over no rows: dγ = dβ = 0 (empty sums).
        let d = LayerNormBackward {
            rows: 0,
            len: 3,
            eps: 1e-5,
            affine: true,
        };
        let mut b = [f(&[]), f(&[]), f(&[1.0, 2.0, 3.0]), out(0), out(3), out(3)];
        run_ok(d, dt, &mut b);
        assert_same("dgamma", b[4].f(), &[0.0; 3]);
        assert_same("dbeta", b[5].f(), &[0.0; 3]);
        // proto_segmented_sum over no rows: zero sums and counts.
        let d = ProtoSegmentedSum {
            m: 0,
            e: 2,
            t: 2,
            mode: SumMode::Deterministic,
        };
        let mut b = [f(&[]), i(&[]), out(4), out_i(2)];
        run_ok(d, dt, &mut b);
        assert_same("sums", b[2].f(), &[0.0; 4]);
        assert_eq!(b[3].i(), &[0, 0]);
        // embedding_backward of no positions: a zero table.
        let d = EmbeddingBackward {
            b: 0,
            s: 4,
            vocab: 2,
            dim: 1,
        };
        let mut b = [f(&[]), i(&[]), out(2)];
        run_ok(d, dt, &mut b);
        assert_same("d_table", b[2].f(), &[0.0; 2]);
        // cross-entropy with V = 0: every target is out of range → loss 0.
        let mut b = [f(&[]), i(&[0, -1]), out(0), out(2)];
        run_ok(CrossEntropyLossGrad { rows: 2, vocab: 0 }, dt, &mut b);
        assert_same("loss", b[3].f(), &[0.0; 2]);
    }
}

#[test]
fn huge_dims_next_to_a_zero_cost_nothing() {
    // Valid calls whose buffers are all empty (or tiny) but whose other dims are huge:
    // they must return at once, not walk over 2^31 rows or prototypes.
    let big = i32::MAX as usize;
    let start = Instant::now();
    for dt in FloatType::ALL {
        let mut b = [f(&[]), f(&[]), out(0)];
        run_ok(
            MatMul {
                b: 1,
                m: big,
                k: 0,
                n: 0,
            },
            dt,
            &mut b,
        );
        let mut b = [f(&[]), f(&[]), out(0)];
        run_ok(
            MatMulBatched {
                b: big,
                m: 0,
                k: 0,
                n: 1,
            },
            dt,
            &mut b,
        );
        let mut b = [f(&[]), out(0)];
        run_ok(
            Transpose12 {
                b: big,
                d1: 1,
                d2: 1,
                d3: 0,
            },
            dt,
            &mut b,
        );
        // E = 0 with 2^31 − 1 prototypes (the most the score matrix allows for one row):
        // every similarity is 0 and the first prototype wins, without a scan.
        let mut b = [f(&[]), f(&[]), out_i(1), out(1)];
        run_ok(
            DynamicTokenAssignment {
                b: 1,
                s: 1,
                e: 0,
                t: big,
                want_best: true,
            },
            dt,
            &mut b,
        );
        assert!(b[2].i().iter().all(|&x| x == 0));
        assert!(b[3].f().iter().all(|&x| x == 0.0));
    }
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn in_place_equals_out_of_place() {
    // The six ops that allow it: the output aliases input 0.
    let kinds = [
        OpKind::Add,
        OpKind::Mul,
        OpKind::Gelu,
        OpKind::ThresholdSpike,
        OpKind::AddBias,
        OpKind::AddBroadcastPe,
    ];
    for kind in kinds {
        let op = small_op(kind, [3, 2, 4, 1], [false, false]);
        let operands = op.validate().unwrap();
        let out_slot = operands
            .iter()
            .position(|s| s.role == Role::Output)
            .unwrap();
        assert_eq!(operands[out_slot].may_alias, Some(0), "{}", op.name());
        for dt in FloatType::ALL {
            let mut apart = slots_for(&op, dt, &FLOATS, &INTS);
            run_ok(op, dt, &mut apart);
            let mut inplace = slots_for(&op, dt, &FLOATS, &INTS);
            inplace[out_slot] = Buf::SameAs(0);
            run_ok(op, dt, &mut inplace);
            assert_same(
                &format!("{} {dt} in place", op.name()),
                inplace[0].f(),
                apart[out_slot].f(),
            );
        }
    }
}

#[test]
fn nan_and_inf_flow_through_sums_and_updates() {
    use neurokern_core::op::*;
    const NAN: f32 = f32::NAN;
    const INF: f32 = f32::INFINITY;
    for dt in FloatType::ALL {
        // reduce_sum_01: a NaN poisons its column only; inf + finite = inf.
        let mut b = [f(&[NAN, 1.0, INF, 2.0, 3.0, 4.0]), out(3)];
        run_ok(ReduceSum01 { b: 1, m: 2, n: 3 }, dt, &mut b);
        let y = b[1].f();
        assert!(y[0].is_nan() && y[1] == 4.0 && y[2] == INF, "{y:?}");

        // hebbian_update: a NaN in pre[r, k] reaches row k of W only.
        let mut b = [f(&[NAN, 1.0]), f(&[1.0, 1.0]), f(&[0.0; 4])];
        let d = HebbianUpdate {
            b: 1,
            m: 1,
            k: 2,
            n: 2,
            lr: 1.0,
            decay: 0.0,
        };
        run_ok(d, dt, &mut b);
        let w = b[2].f();
        assert!(
            w[0].is_nan() && w[1].is_nan() && w[2] == 1.0 && w[3] == 1.0,
            "{w:?}"
        );

        // embedding_backward / proto_segmented_sum: NaN reaches only its segment.
        let mut b = [f(&[NAN, 1.0, 2.0]), i(&[0, 1, 1]), out(2)];
        run_ok(
            EmbeddingBackward {
                b: 1,
                s: 3,
                vocab: 2,
                dim: 1,
            },
            dt,
            &mut b,
        );
        assert!(b[2].f()[0].is_nan() && b[2].f()[1] == 3.0);
        let mut b = [f(&[NAN, 1.0, -INF]), i(&[0, 1, 1]), out(2), out_i(2)];
        run_ok(
            ProtoSegmentedSum {
                m: 3,
                e: 1,
                t: 2,
                mode: SumMode::Deterministic,
            },
            dt,
            &mut b,
        );
        assert!(b[2].f()[0].is_nan() && b[2].f()[1] == -INF);
        assert_eq!(b[3].i(), &[1, 2]);

        // pairwise_similarity: an inf row gives inf on its diagonal, NaN against a zero.
        let mut b = [f(&[INF, 0.0, 0.0, 1.0]), out(4)];
        run_ok(PairwiseSimilarity { n: 2, d: 2 }, dt, &mut b);
        let s = b[1].f();
        assert!(
            s[0] == INF && s[1].is_nan() && s[2].is_nan() && s[3] == 1.0,
            "{s:?}"
        );

        // proto_update_step: NaN sums reach only their prototype.
        let mut b = [f(&[1.0, 1.0]), f(&[NAN, 4.0]), i(&[1, 2])];
        run_ok(
            ProtoUpdateStep {
                t: 2,
                e: 1,
                lr: 0.5,
            },
            dt,
            &mut b,
        );
        assert!(b[0].f()[0].is_nan() && b[0].f()[1] == 1.5);

        // add_bias / add_broadcast_pe: inf + −inf = NaN, elementwise.
        let mut b = [f(&[INF, 1.0, INF, 1.0]), f(&[-INF, 1.0]), out(4)];
        run_ok(AddBias { b: 1, m: 2, n: 2 }, dt, &mut b);
        let y = b[2].f();
        assert!(y[0].is_nan() && y[1] == 2.0 && y[2].is_nan() && y[3] == 2.0);
        let mut b = [f(&[1.0, INF, 2.0, 3.0]), f(&[NAN, 1.0]), out(4)];
        run_ok(AddBroadcastPe { b: 2, s: 1, e: 2 }, dt, &mut b);
        let y = b[2].f();
        assert!(y[0].is_nan() && y[1] == INF && y[2].is_nan() && y[3] == 4.0);

        // mul_backward: inf·0 = NaN in one gradient, inf in the other.
        let mut b = [f(&[1.0]), f(&[INF]), f(&[0.0]), out(1), out(1)];
        run_ok(
            MulBackward {
                n: 1,
                want_d_a: true,
                want_d_b: true,
            },
            dt,
            &mut b,
        );
        assert!(b[3].f()[0] == 0.0 && b[4].f()[0] == INF);
        let mut b = [f(&[INF]), f(&[1.0]), f(&[0.0]), out(1), out(1)];
        run_ok(
            MulBackward {
                n: 1,
                want_d_a: true,
                want_d_b: true,
            },
            dt,
            &mut b,
        );
        assert!(b[3].f()[0].is_nan() && b[4].f()[0] == INF);

        // softmax_backward / layer_norm_backward: a NaN upstream gradient spreads over
        // its row (through the row sums), not to other rows.
        let mut b = [f(&[NAN, 1.0, 1.0, 0.0]), f(&[0.5, 0.5, 0.5, 0.5]), out(4)];
        run_ok(SoftmaxBackward { rows: 2, len: 2 }, dt, &mut b);
        let dx = b[2].f();
        assert!(dx[0].is_nan() && dx[1].is_nan() && dx[2] == 0.25 && dx[3] == -0.25);
        let mut b = [
            f(&[NAN, 1.0, 1.0, 1.0]),
            f(&[1.0, -1.0, 1.0, -1.0]),
            Buf::Absent,
            out(4),
            Buf::Absent,
            Buf::Absent,
        ];
        run_ok(
            LayerNormBackward {
                rows: 2,
                len: 2,
                eps: 1.0,
                affine: false,
            },
            dt,
            &mut b,
        );
        let dx = b[3].f();
        assert!(dx[0].is_nan() && dx[1].is_nan() && dx[2] == 0.0 && dx[3] == 0.0);

        // Copies copy NaN and inf.
        let mut b = [f(&[NAN, INF, -INF, 1.0]), out(4)];
        run_ok(TransposeBatched { b: 1, d1: 2, d2: 2 }, dt, &mut b);
        let y = b[1].f();
        assert!(y[0].is_nan() && y[1] == -INF && y[2] == INF && y[3] == 1.0);
        let mut b = [f(&[NAN, INF]), out(2)];
        run_ok(
            Transpose12 {
                b: 1,
                d1: 2,
                d2: 1,
                d3: 1,
            },
            dt,
            &mut b,
        );
        assert!(b[1].f()[0].is_nan() && b[1].f()[1] == INF);
    }
}

#[test]
fn f16_subnormals_through_other_ops() {
    use neurokern_core::op::*;
    let s = 2f32.powi(-24);
    // matmul: 2^-12·2^-12 + 2^-12·2^-12 = 2^-23, a subnormal f16 result of normal inputs.
    let mut b = [f(&[2f32.powi(-12); 2]), f(&[2f32.powi(-12); 2]), out(1)];
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
    assert_same("matmul subnormal", b[2].f(), &[2.0 * s]);
    // gelu(x) = x·Φ(x) ≈ x/2·(1 + x·0.8) for tiny x: gelu(2^-14) = 2^-15·(1 + 4.9e-5) is
    // within a subnormal spacing (2^-24, i.e. 2^-9 relative) of 2^-15, which it rounds to.
    let mut b = [f(&[2f32.powi(-14), -2f32.powi(-14)]), out(2)];
    run_ok(Gelu { n: 2 }, FloatType::F16, &mut b);
    assert_same(
        "gelu subnormal",
        b[1].f(),
        &[2f32.powi(-15), -2f32.powi(-15)],
    );
    // Subnormal inputs are widened exactly: 3·2^-24 + 5·2^-24 summed over rows = 2^-21.
    let mut b = [f(&[3.0 * s, 5.0 * s]), out(1)];
    run_ok(ReduceSum01 { b: 2, m: 1, n: 1 }, FloatType::F16, &mut b);
    assert_same("reduce subnormal", b[1].f(), &[8.0 * s]);
    // Softmax of a row that gives a subnormal probability: [0, −10] → e^-10/(1 + e^-10)
    // = 4.5398899e-5, below the smallest normal f16 (6.1e-5): stored as the nearest
    // multiple of 2^-24, 762·2^-24.
    let mut b = [f(&[0.0, -10.0]), out(2)];
    run_ok(Softmax { rows: 1, len: 2 }, FloatType::F16, &mut b);
    let p = (-10f64).exp() / (1.0 + (-10f64).exp());
    assert_eq!(
        f64::from(b[1].f()[1]),
        (p / f64::from(s)).round() * f64::from(s)
    );
}

#[test]
fn has_work_follows_the_outputs() {
    use neurokern_core::op::*;
    let work = |op: Op| op.has_work().unwrap();
    assert!(!work(
        MatMul {
            b: 1,
            m: 5,
            k: 0,
            n: 0
        }
        .into()
    ));
    assert!(work(
        MatMul {
            b: 1,
            m: 5,
            k: 0,
            n: 1
        }
        .into()
    ));
    assert!(work(ReduceSum01 { b: 0, m: 3, n: 2 }.into()));
    assert!(!work(ReduceSum01 { b: 2, m: 3, n: 0 }.into()));
    assert!(!work(
        MatMulBackward {
            b: 1,
            m: 1,
            k: 1,
            n: 1,
            want_d_a: false,
            want_d_w: false,
        }
        .into()
    ));
    assert!(work(
        HebbianUpdate {
            b: 0,
            m: 0,
            k: 1,
            n: 1,
            lr: 0.1,
            decay: 0.0,
        }
        .into()
    ));
    assert!(Op::from(MatMul {
        b: usize::MAX,
        m: 1,
        k: 1,
        n: 1
    })
    .has_work()
    .is_err());
}
