//! Elementwise arithmetic, the broadcasting adds, the bias-gradient reduction, the
//! transposes and Adam, on cases worked out by hand (or, for Adam, from the closed form of
//! OPS.md evaluated in f64 here).

mod common;

use common::*;
use neurokern_core::op::{
    AdamUpdate, Add, AddBias, AddBroadcastPe, Mul, MulBackward, ReduceSum01, Transpose,
    Transpose12, TransposeBatched,
};
use neurokern_core::FloatType;

const INF: f32 = f32::INFINITY;
const NAN: f32 = f32::NAN;

#[test]
fn add_and_mul_by_hand() {
    let a = [1.0, -2.5, 0.0, 1024.0];
    let b = [0.5, 2.5, -0.0, -0.5];
    for dt in FloatType::ALL {
        let mut bufs = [f(&a), f(&b), out(4)];
        run_ok(Add { n: 4 }, dt, &mut bufs);
        assert_same("add", bufs[2].f(), &[1.5, 0.0, 0.0, 1023.5]);
        let mut bufs = [f(&a), f(&b), out(4)];
        run_ok(Mul { n: 4 }, dt, &mut bufs);
        assert_same("mul", bufs[2].f(), &[0.5, -6.25, -0.0, -512.0]);
        assert!(bufs[2].f()[2].is_sign_negative(), "0·(−0) = −0");
    }
}

#[test]
fn add_and_mul_special_values() {
    let a = [INF, INF, NAN, 1.0, -INF];
    let b = [-INF, 1.0, 1.0, NAN, 0.0];
    for dt in FloatType::ALL {
        let mut bufs = [f(&a), f(&b), out(5)];
        run_ok(Add { n: 5 }, dt, &mut bufs);
        let c = bufs[2].f();
        assert!(c[0].is_nan() && c[2].is_nan() && c[3].is_nan(), "{c:?}");
        assert_eq!((c[1], c[4]), (INF, -INF));
        let mut bufs = [f(&a), f(&b), out(5)];
        run_ok(Mul { n: 5 }, dt, &mut bufs);
        let c = bufs[2].f();
        assert_eq!(c[0], -INF);
        assert_eq!(c[1], INF);
        assert!(
            c[2].is_nan() && c[3].is_nan() && c[4].is_nan(),
            "−inf·0: {c:?}"
        );
    }
}

#[test]
fn f16_overflow_at_65504() {
    // f16's largest finite value is 65504; values from 65520 (the midpoint to 2^16) up
    // round to inf, anything below to 65504.
    let cases: [(f32, f32, f32); 5] = [
        (65504.0, 32.0, INF),     // 65536
        (65504.0, 16.0, INF),     // 65520: the tie rounds to even, i.e. up
        (65504.0, 15.0, 65504.0), // 65519
        (-65504.0, -32.0, -INF),
        (65504.0, -65504.0, 0.0),
    ];
    for (a, b, want) in cases {
        let mut bufs = [f(&[a]), f(&[b]), out(1)];
        run_ok(Add { n: 1 }, FloatType::F16, &mut bufs);
        assert_same(&format!("{a} + {b} in f16"), bufs[2].f(), &[want]);
        // f32 holds all of these exactly.
        let mut bufs = [f(&[a]), f(&[b]), out(1)];
        run_ok(Add { n: 1 }, FloatType::F32, &mut bufs);
        assert_same("f32", bufs[2].f(), &[a + b]);
    }
    // 256·256 = 65536 → inf; 255.875·256 = 65504.
    let mut bufs = [f(&[256.0, 255.875]), f(&[256.0, 256.0]), out(2)];
    run_ok(Mul { n: 2 }, FloatType::F16, &mut bufs);
    assert_same("mul overflow", bufs[2].f(), &[INF, 65504.0]);
}

#[test]
fn f16_subnormals() {
    let s = 2f32.powi(-24); // smallest f16 subnormal
    let n = 2f32.powi(-14); // smallest f16 normal
                            // s + s = 2s; n − s is the largest subnormal (1023·s); s·0.5 = 2^-25 is a tie between
                            // 0 and s: even → 0; 3s·0.5 = 1.5s is a tie between s and 2s: even → 2s.
    let a = [s, n, s, 3.0 * s, -s];
    let b = [s, -s, 0.5, 0.5, 0.5];
    let mut bufs = [f(&a[..2]), f(&b[..2]), out(2)];
    run_ok(Add { n: 2 }, FloatType::F16, &mut bufs);
    assert_same("f16 subnormal add", bufs[2].f(), &[2.0 * s, 1023.0 * s]);
    let mut bufs = [f(&a[2..]), f(&b[2..]), out(3)];
    run_ok(Mul { n: 3 }, FloatType::F16, &mut bufs);
    assert_same("f16 subnormal mul", bufs[2].f(), &[0.0, 2.0 * s, -0.0]);
    assert!(bufs[2].f()[2].is_sign_negative());
    // f32 subnormals survive f32 arithmetic: 2^-149 + 2^-149 = 2^-148, 2^-126·0.5 = 2^-127.
    let t = f32::from_bits(1);
    let mut bufs = [f(&[t, f32::MIN_POSITIVE]), f(&[t, 0.0]), out(2)];
    run_ok(Add { n: 2 }, FloatType::F32, &mut bufs);
    assert_same("f32 subnormal", bufs[2].f(), &[2.0 * t, f32::MIN_POSITIVE]);
    let mut bufs = [f(&[f32::MIN_POSITIVE]), f(&[0.5]), out(1)];
    run_ok(Mul { n: 1 }, FloatType::F32, &mut bufs);
    assert_eq!(bufs[2].f()[0].to_bits(), 1 << 22);
}

#[test]
fn f16_add_rounds_once() {
    // 1 + (2^-11 + 2^-21): both are f16 values; the exact sum lies just above the midpoint
    // 1 + 2^-11 between the f16 neighbours 1 and 1 + 2^-10, so the single rounding OPS.md
    // asks for gives 1 + 2^-10. Losing the low bits (a double rounding, or a conversion
    // that ignores them) makes it an exact tie and rounds to 1.
    let b = 2f32.powi(-11) + 2f32.powi(-21);
    assert_eq!(h(b), b, "an f16 value");
    let mut bufs = [f(&[1.0, -1.0]), f(&[b, -b]), out(2)];
    run_ok(Add { n: 2 }, FloatType::F16, &mut bufs);
    let up = 1.0 + 2f32.powi(-10);
    assert_same("rounded once", bufs[2].f(), &[up, -up]);
}

#[test]
fn add_and_mul_in_place() {
    for dt in FloatType::ALL {
        let mut bufs = [f(&[1.0, 2.0, 3.0]), f(&[0.5, 0.5, -3.0]), Buf::SameAs(0)];
        run_ok(Add { n: 3 }, dt, &mut bufs);
        assert_same("add in place", bufs[0].f(), &[1.5, 2.5, 0.0]);
        let mut bufs = [f(&[1.0, 2.0, 3.0]), f(&[0.5, 0.5, -3.0]), Buf::SameAs(0)];
        run_ok(Mul { n: 3 }, dt, &mut bufs);
        assert_same("mul in place", bufs[0].f(), &[0.5, 1.0, -9.0]);
    }
}

#[test]
fn mul_backward_by_hand_and_optional_outputs() {
    let dc = [1.0, 2.0, -1.0];
    let a = [3.0, 0.5, 2.0];
    let b = [-1.0, 4.0, 0.25];
    let da = [-1.0, 8.0, -0.25];
    let db = [3.0, 1.0, -2.0];
    let d = MulBackward {
        n: 3,
        want_d_a: true,
        want_d_b: true,
    };
    for dt in FloatType::ALL {
        let mut bufs = [f(&dc), f(&a), f(&b), out(3), out(3)];
        run_ok(d, dt, &mut bufs);
        assert_same("d_a", bufs[3].f(), &da);
        assert_same("d_b", bufs[4].f(), &db);
        let mut bufs = [f(&dc), f(&a), f(&b), Buf::Absent, out(3)];
        run_ok(
            MulBackward {
                want_d_a: false,
                ..d
            },
            dt,
            &mut bufs,
        );
        assert_same("d_b alone", bufs[4].f(), &db);
        let mut bufs = [f(&dc), f(&a), f(&b), out(3), Buf::Absent];
        run_ok(
            MulBackward {
                want_d_b: false,
                ..d
            },
            dt,
            &mut bufs,
        );
        assert_same("d_a alone", bufs[3].f(), &da);
    }
}

#[test]
fn add_bias_broadcasts_over_rows() {
    // X (2,2,3) + bias (3).
    let x: Vec<f32> = (0..12).map(|v| v as f32).collect();
    let bias = [0.5, -1.0, 100.0];
    let want: Vec<f32> = (0..12).map(|v| v as f32 + bias[v % 3]).collect();
    for dt in FloatType::ALL {
        let mut bufs = [f(&x), f(&bias), out(12)];
        run_ok(AddBias { b: 2, m: 2, n: 3 }, dt, &mut bufs);
        assert_same("add_bias", bufs[2].f(), &want);
        let mut bufs = [f(&x), f(&bias), Buf::SameAs(0)];
        run_ok(AddBias { b: 2, m: 2, n: 3 }, dt, &mut bufs);
        assert_same("add_bias in place", bufs[0].f(), &want);
    }
}

#[test]
fn add_broadcast_pe_broadcasts_over_batches() {
    // X (2,2,2) + pe (2,2): the same pe for both batches.
    let x = [1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0];
    let pe = [0.25, -0.25, 0.5, -0.5];
    let want = [1.25, 1.75, 3.5, 3.5, 10.25, 19.75, 30.5, 39.5];
    for dt in FloatType::ALL {
        let mut bufs = [f(&x), f(&pe), out(8)];
        run_ok(AddBroadcastPe { b: 2, s: 2, e: 2 }, dt, &mut bufs);
        assert_same("add_broadcast_pe", bufs[2].f(), &want);
        let mut bufs = [f(&x), f(&pe), Buf::SameAs(0)];
        run_ok(AddBroadcastPe { b: 2, s: 2, e: 2 }, dt, &mut bufs);
        assert_same("add_broadcast_pe in place", bufs[0].f(), &want);
    }
}

#[test]
fn reduce_sum_01_by_hand() {
    // X (2,2,3): column sums over the four rows.
    let x = [
        1.0, 2.0, 3.0, 4.0, 5.0, 6.0, //
        -1.0, 0.5, 0.0, 0.25, 0.0, -6.0,
    ];
    for dt in FloatType::ALL {
        let mut bufs = [f(&x), out(3)];
        run_ok(ReduceSum01 { b: 2, m: 2, n: 3 }, dt, &mut bufs);
        assert_same("reduce_sum_01", bufs[1].f(), &[4.25, 7.5, 3.0]);
        // B·M = 0: an empty sum per column, written as 0.
        for (b, m) in [(0, 5), (3, 0)] {
            let mut bufs = [f(&[]), out(3)];
            run_ok(ReduceSum01 { b, m, n: 3 }, dt, &mut bufs);
            assert_same("reduce_sum_01 no rows", bufs[1].f(), &[0.0; 3]);
        }
        // N = 0: nothing to write.
        let mut bufs = [f(&[]), out(0)];
        run_ok(ReduceSum01 { b: 2, m: 2, n: 0 }, dt, &mut bufs);
    }
}

#[test]
fn reduce_sum_01_wide_rows() {
    // N = 130 (several accumulator blocks), 3 rows: x[r, n] = n + r, sum = 3n + 3.
    let n = 130;
    let x: Vec<f32> = (0..3)
        .flat_map(|r| (0..n).map(move |j| (j + r) as f32))
        .collect();
    let want: Vec<f32> = (0..n).map(|j| (3 * j + 3) as f32).collect();
    for dt in FloatType::ALL {
        let mut bufs = [f(&x), out(n)];
        run_ok(ReduceSum01 { b: 3, m: 1, n }, dt, &mut bufs);
        assert_same("wide", bufs[1].f(), &want);
    }
}

#[test]
fn transposes_by_index() {
    for dt in FloatType::ALL {
        // X (2,3) = [[0,1,2],[3,4,5]] → (3,2).
        let x: Vec<f32> = (0..6).map(|v| v as f32).collect();
        let mut bufs = [f(&x), out(6)];
        run_ok(Transpose { rows: 2, cols: 3 }, dt, &mut bufs);
        assert_same("transpose", bufs[1].f(), &[0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);

        // X (2,2,3) → (2,3,2), each batch on its own.
        let x: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let mut bufs = [f(&x), out(12)];
        run_ok(TransposeBatched { b: 2, d1: 2, d2: 3 }, dt, &mut bufs);
        assert_same(
            "transpose_batched",
            bufs[1].f(),
            &[0., 3., 1., 4., 2., 5., 6., 9., 7., 10., 8., 11.],
        );

        // X (2,2,3,2) with X[b,i,j,k] = 1000b + 100i + 10j + k → (2,3,2,2).
        let mut x = Vec::new();
        for b in 0..2 {
            for i in 0..2 {
                for j in 0..3 {
                    for k in 0..2 {
                        x.push((1000 * b + 100 * i + 10 * j + k) as f32);
                    }
                }
            }
        }
        let want = [
            0., 1., 100., 101., 10., 11., 110., 111., 20., 21., 120., 121., //
            1000., 1001., 1100., 1101., 1010., 1011., 1110., 1111., 1020., 1021., 1120., 1121.,
        ];
        let mut bufs = [f(&x), out(24)];
        run_ok(
            Transpose12 {
                b: 2,
                d1: 2,
                d2: 3,
                d3: 2,
            },
            dt,
            &mut bufs,
        );
        assert_same("transpose_12", bufs[1].f(), &want);
    }
}

#[test]
fn transposes_copy_bits_exactly() {
    // NaN payloads aside, a transpose is a copy: −0, inf, subnormals come out unchanged.
    let x = [-0.0, INF, -INF, f32::from_bits(1)];
    let mut bufs = [f(&x), out(4)];
    run_ok(Transpose { rows: 2, cols: 2 }, FloatType::F32, &mut bufs);
    let y = bufs[1].f();
    assert_eq!(y[0].to_bits(), (-0.0f32).to_bits());
    assert_eq!(y[1], -INF);
    assert_eq!(y[2], INF);
    assert_eq!(y[3].to_bits(), 1);
}

/// One Adam step from OPS.md's formula, in f64: returns `(p, m, v)`.
#[allow(clippy::too_many_arguments)]
fn adam64(
    p: f64,
    g: f64,
    m: f64,
    v: f64,
    lr: f64,
    b1: f64,
    b2: f64,
    eps: f64,
    wd: f64,
    t: i32,
    decoupled: bool,
) -> (f64, f64, f64) {
    let (p, g) = if decoupled {
        (p - lr * wd * p, g)
    } else {
        (p, g + wd * p)
    };
    let m = b1 * m + (1.0 - b1) * g;
    let v = b2 * v + (1.0 - b2) * g * g;
    let mhat = m / (1.0 - b1.powi(t));
    let vhat = v / (1.0 - b2.powi(t));
    (p - lr * mhat / (vhat.sqrt() + eps), m, v)
}

#[test]
fn adam_first_step_moves_by_lr_times_sign() {
    // t = 1, m = v = 0: m̂ = g, v̂ = g², so p moves by lr·g/(|g| + eps) ≈ lr·sign(g), and
    // not at all where g = 0. m = (1−β1)·g, v = (1−β2)·g².
    let d = AdamUpdate {
        n: 4,
        lr: 0.125,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.0,
        t: 1,
        decoupled: false,
    };
    let g = [1.0, -2.0, 0.0, 0.5];
    for dt in FloatType::ALL {
        let mut bufs = [
            f(&[1.0, 1.0, 1.0, -2.0]),
            f(&g),
            Buf::F32(vec![0.0; 4]),
            Buf::F32(vec![0.0; 4]),
        ];
        run_ok(d, dt, &mut bufs);
        let ulps = if dt == FloatType::F32 { 2.0 } else { 1.0 };
        assert_ulps(dt, "p", bufs[0].f(), &[0.875, 1.125, 1.0, -2.125], ulps);
        // Moments are f32 in both dtypes; (1 − 0.9f32) is not exactly 0.1.
        let b1 = 1.0 - f64::from(0.9f32);
        let b2 = 1.0 - f64::from(0.999f32);
        let m: Vec<f64> = g.iter().map(|&x| b1 * f64::from(x)).collect();
        let v: Vec<f64> = g.iter().map(|&x| b2 * f64::from(x).powi(2)).collect();
        assert_ulps(FloatType::F32, "m", bufs[2].f(), &m, 1.0);
        assert_ulps(FloatType::F32, "v", bufs[3].f(), &v, 1.0);
    }
}

#[test]
fn adam_l2_versus_decoupled_weight_decay() {
    // p = 1, g = 0, wd = 0.5, lr = 0.125, t = 1.
    // L2: g' = 0.5 → p ≈ 1 − 0.125, m = 0.05, v = 0.00025.
    // Decoupled: p ← 1 − 0.125·0.5·1 = 0.9375 first, g' = 0 → no Adam move, m = v = 0.
    let d = AdamUpdate {
        n: 1,
        lr: 0.125,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.5,
        t: 1,
        decoupled: false,
    };
    for dt in FloatType::ALL {
        let mut bufs = [
            f(&[1.0]),
            f(&[0.0]),
            Buf::F32(vec![0.0]),
            Buf::F32(vec![0.0]),
        ];
        run_ok(d, dt, &mut bufs);
        assert_ulps(dt, "L2 p", bufs[0].f(), &[0.875], 2.0);
        let m = (1.0 - f64::from(0.9f32)) * 0.5;
        let v = (1.0 - f64::from(0.999f32)) * 0.25;
        assert_ulps(FloatType::F32, "L2 m", bufs[2].f(), &[m], 1.0);
        assert_ulps(FloatType::F32, "L2 v", bufs[3].f(), &[v], 1.0);

        let mut bufs = [
            f(&[1.0]),
            f(&[0.0]),
            Buf::F32(vec![0.0]),
            Buf::F32(vec![0.0]),
        ];
        run_ok(
            AdamUpdate {
                decoupled: true,
                ..d
            },
            dt,
            &mut bufs,
        );
        assert_same("decoupled p", bufs[0].f(), &[0.9375]);
        assert_same("decoupled m", bufs[2].f(), &[0.0]);
        assert_same("decoupled v", bufs[3].f(), &[0.0]);
    }
}

#[test]
fn adam_later_steps_match_closed_form() {
    let p = [0.5, -1.5, 2.0, 0.0, 3.0];
    let g = [0.25, 1.0, -0.5, 2.0, 0.0];
    let m = [0.1, -0.2, 0.0, 0.5, 1.0];
    let v = [0.01, 0.5, 0.25, 0.0, 2.0];
    for (t, decoupled, wd) in [
        (2u32, false, 0.01f32),
        (7, true, 0.1),
        (1_000_000, false, 0.0),
    ] {
        let d = AdamUpdate {
            n: 5,
            lr: 0.01,
            beta1: 0.8,
            beta2: 0.99,
            eps: 1e-6,
            weight_decay: wd,
            t,
            decoupled,
        };
        for dt in FloatType::ALL {
            let pin: Vec<f32> = p.iter().map(|&x| to_dt(dt, x)).collect();
            let mut want = (vec![], vec![], vec![]);
            for j in 0..5 {
                let r = adam64(
                    f64::from(pin[j]),
                    f64::from(g[j]),
                    f64::from(m[j]),
                    f64::from(v[j]),
                    f64::from(d.lr),
                    f64::from(d.beta1),
                    f64::from(d.beta2),
                    f64::from(d.eps),
                    f64::from(d.weight_decay),
                    t.min(i32::MAX as u32) as i32,
                    decoupled,
                );
                want.0.push(r.0);
                want.1.push(r.1);
                want.2.push(r.2);
            }
            let mut bufs = [f(&pin), f(&g), Buf::F32(m.to_vec()), Buf::F32(v.to_vec())];
            run_ok(d, dt, &mut bufs);
            // Evaluated in f64 from the exact inputs and rounded once per output; 1 ulp
            // leaves room for the f64 evaluation order.
            assert_ulps(dt, "adam p", bufs[0].f(), &want.0, 1.0);
            assert_ulps(FloatType::F32, "adam m", bufs[2].f(), &want.1, 1.0);
            assert_ulps(FloatType::F32, "adam v", bufs[3].f(), &want.2, 1.0);
        }
    }
}

#[test]
fn adam_nan_gradient_poisons_only_its_element() {
    let d = AdamUpdate {
        n: 2,
        lr: 0.1,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.0,
        t: 1,
        decoupled: false,
    };
    for dt in FloatType::ALL {
        let mut bufs = [
            f(&[1.0, 1.0]),
            f(&[NAN, 1.0]),
            Buf::F32(vec![0.0; 2]),
            Buf::F32(vec![0.0; 2]),
        ];
        run_ok(d, dt, &mut bufs);
        assert!(bufs[0].f()[0].is_nan() && bufs[2].f()[0].is_nan() && bufs[3].f()[0].is_nan());
        assert!(bufs[0].f()[1].is_finite());
    }
}
