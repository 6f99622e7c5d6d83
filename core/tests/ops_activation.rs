//! Softmax family, GELU, threshold spikes and layer norm on small cases whose expected
//! values come from closed forms (evaluated here in f64 with the platform's `exp`/`ln`, or
//! tabulated to 20 digits), never from the reference itself.

// Tabulated values keep all the digits they were computed with.
#![allow(clippy::excessive_precision)]

mod common;

use common::*;
use neurokern_core::op::{
    Gelu, GeluBackward, LayerNorm, LayerNormBackward, LogSoftmax, Softmax, SoftmaxBackward,
    ThresholdSpike,
};
use neurokern_core::FloatType;

const INF: f32 = f32::INFINITY;
const NAN: f32 = f32::NAN;

/// Softmax of one row in f64 (closed form, with the max shift so that ±100 stay finite).
fn softmax64(row: &[f32]) -> Vec<f64> {
    let m = row
        .iter()
        .fold(f64::NEG_INFINITY, |m, &x| m.max(f64::from(x)));
    let e: Vec<f64> = row.iter().map(|&x| (f64::from(x) - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

/// f32: `exp` rounded once (u), `L` additions (γ_L) and one division (u): at most
/// `(L + 2)·u` relative, which is below `L + 2` ulps. f16: the f32 error plus half an f16
/// ulp for the store stays within one f16 ulp.
fn softmax_ulps(dt: FloatType, len: usize) -> f64 {
    match dt {
        FloatType::F32 => (len + 2) as f64,
        FloatType::F16 => 1.0,
    }
}

#[test]
fn softmax_closed_form_rows() {
    let rows: [&[f32]; 5] = [
        &[1.0, 2.0, 3.0],
        &[100.0, 100.0],        // exp(100) overflows f32 without the max shift
        &[-80.0, 80.0],         // e^-160 underflows to 0 in f32
        &[0.0, -INF, 0.0],      // −inf gets probability 0
        &[-2.0, 0.5, 0.5, 1.0], // a tie is harmless
    ];
    for dt in FloatType::ALL {
        for row in rows {
            let x: Vec<f32> = row.iter().map(|&v| to_dt(dt, v)).collect();
            let mut b = [f(&x), out(x.len())];
            run_ok(
                Softmax {
                    rows: 1,
                    len: x.len(),
                },
                dt,
                &mut b,
            );
            assert_ulps(
                dt,
                "softmax",
                b[1].f(),
                &softmax64(&x),
                softmax_ulps(dt, x.len()),
            );
            let total: f64 = b[1].f().iter().map(|&v| f64::from(v)).sum();
            let tol = match dt {
                FloatType::F32 => 8.0 * U32 * x.len() as f64,
                FloatType::F16 => x.len() as f64 / 2048.0,
            };
            assert!((total - 1.0).abs() <= tol, "softmax row sum {total}");
        }
    }
}

#[test]
fn softmax_rows_are_independent_and_nan_stays_in_its_row() {
    // Row 0 has a NaN (its whole row is NaN: the max and the sum are NaN); row 1 is
    // [0, 0] → 0.5 each; a length-1 row is 1.
    for dt in FloatType::ALL {
        let mut b = [f(&[1.0, NAN, 0.0, 0.0]), out(4)];
        run_ok(Softmax { rows: 2, len: 2 }, dt, &mut b);
        let y = b[1].f();
        assert!(y[0].is_nan() && y[1].is_nan(), "{y:?}");
        assert_eq!(&y[2..], &[0.5, 0.5]);
        let mut b = [f(&[-3.0, 7.0]), out(2)];
        run_ok(Softmax { rows: 2, len: 1 }, dt, &mut b);
        assert_eq!(b[1].f(), &[1.0, 1.0]);
    }
}

#[test]
fn log_softmax_closed_form_rows() {
    let rows: [&[f32]; 4] = [
        &[1.0, 2.0, 3.0],
        &[100.0, 100.0],
        &[0.0, -INF],
        &[0.0, 0.0, 0.0, 0.0],
    ];
    for dt in FloatType::ALL {
        for row in rows {
            let x: Vec<f32> = row.iter().map(|&v| to_dt(dt, v)).collect();
            let m = x
                .iter()
                .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
            let lse = x
                .iter()
                .map(|&v| (f64::from(v) - m).exp())
                .sum::<f64>()
                .ln();
            let want: Vec<f64> = x.iter().map(|&v| f64::from(v) - m - lse).collect();
            let mut b = [f(&x), out(x.len())];
            run_ok(
                LogSoftmax {
                    rows: 1,
                    len: x.len(),
                },
                dt,
                &mut b,
            );
            // f32: ln Σ has absolute error ≤ γ_L + 2u (the sum's relative error becomes an
            // absolute one through ln), then two subtractions: ≤ (L + 6)·u absolute. Every
            // finite expected value here is ≥ 0.4 in magnitude or exactly 0, so 4(L + 6)
            // ulps covers it. f16: one ulp.
            let ulps = match dt {
                FloatType::F32 => 4.0 * (x.len() + 6) as f64,
                FloatType::F16 => 1.0,
            };
            assert_ulps(dt, "log_softmax", b[1].f(), &want, ulps);
        }
        // The exact ones: −ln 2 for a tie of two, −ln 4 for four equal entries, NaN rows.
        let mut b = [f(&[NAN, 1.0]), out(2)];
        run_ok(LogSoftmax { rows: 1, len: 2 }, dt, &mut b);
        assert!(b[1].f().iter().all(|v| v.is_nan()));
    }
}

#[test]
fn softmax_backward_by_hand() {
    // Y = [1/4, 1/4, 1/2], dY = [1, 0, 0]: Σ dY⊙Y = 1/4, dX = Y⊙(dY − 1/4).
    // Y = [1/2, 1/2], dY = [2, 2]: Σ = 2, dX = 0.
    let dy = [1.0, 0.0, 0.0, 2.0, 2.0, 0.0];
    let y = [0.25, 0.25, 0.5, 0.5, 0.5, 0.0];
    for dt in FloatType::ALL {
        let mut b = [f(&dy[..3]), f(&y[..3]), out(3)];
        run_ok(SoftmaxBackward { rows: 1, len: 3 }, dt, &mut b);
        assert_same("softmax_backward", b[2].f(), &[0.1875, -0.0625, -0.125]);
        let mut b = [f(&dy[3..5]), f(&y[3..5]), out(2)];
        run_ok(SoftmaxBackward { rows: 1, len: 2 }, dt, &mut b);
        assert_same("softmax_backward uniform", b[2].f(), &[0.0, 0.0]);
        // Two rows at once: each row uses its own sum.
        let mut b = [f(&[1.0, 0.0, 0.0, 1.0]), f(&[0.5, 0.5, 0.25, 0.75]), out(4)];
        run_ok(SoftmaxBackward { rows: 2, len: 2 }, dt, &mut b);
        // row 0: Σ = 0.5 → [0.25, −0.25]; row 1: Σ = 0.75 → [−0.1875, 0.1875]
        assert_same("two rows", b[2].f(), &[0.25, -0.25, -0.1875, 0.1875]);
    }
}

/// `x·Φ(x)` and `Φ(x) + x·φ(x)`, tabulated to 20 significant digits.
const GELU_TABLE: [(f32, f64, f64); 8] = [
    (0.0, 0.0, 0.5),
    (1.0, 0.84134474606854294859, 1.0833154705876862984),
    (-1.0, -0.15865525393145705141, -0.083315470587686298383),
    (2.0, 1.9544997361036415856, 1.0852318010781968967),
    (-3.0, -0.00404969409489028358, -0.011945647204183927),
    (0.5, 0.34573123063700655182, 0.86749512465616284253),
    (-10.0, -7.619853024160526066e-23, -7.6184000964648140857e-22),
    (8.0, 7.999999999999995, 1.0),
];

#[test]
fn gelu_tabulated() {
    let x: Vec<f32> = GELU_TABLE.iter().map(|r| r.0).collect();
    let want: Vec<f64> = GELU_TABLE.iter().map(|r| r.1).collect();
    for dt in FloatType::ALL {
        let mut b = [f(&x), out(x.len())];
        run_ok(Gelu { n: x.len() }, dt, &mut b);
        // Evaluated in f64 and rounded once: half an ulp plus erf's 1e-12 relative.
        assert_ulps(dt, "gelu", b[1].f(), &want, 0.5 + 1e-6);
    }
}

#[test]
fn gelu_special_values_and_in_place() {
    // +inf·Φ(+inf) = inf; −inf·Φ(−inf) = −inf·0 = NaN by IEEE arithmetic on the formula
    // 0.5·x·(1 + erf(x/√2)); NaN stays NaN.
    for dt in FloatType::ALL {
        let mut b = [f(&[INF, -INF, NAN]), out(3)];
        run_ok(Gelu { n: 3 }, dt, &mut b);
        let y = b[1].f();
        assert_eq!(y[0], INF);
        assert!(y[1].is_nan() && y[2].is_nan(), "{y:?}");
        // In place: y is x's buffer.
        let mut b = [f(&[1.0, 0.0, -1.0]), Buf::SameAs(0)];
        run_ok(Gelu { n: 3 }, dt, &mut b);
        assert_ulps(
            dt,
            "gelu in place",
            b[0].f(),
            &[GELU_TABLE[1].1, 0.0, GELU_TABLE[2].1],
            0.5 + 1e-6,
        );
    }
    // f16 underflow: gelu(−10) ≈ −7.6e−23 rounds to −0 in f16 (below half the smallest
    // subnormal, 2^−25).
    let mut b = [f(&[-10.0]), out(1)];
    run_ok(Gelu { n: 1 }, FloatType::F16, &mut b);
    assert_eq!(b[1].f()[0], 0.0);
    assert!(b[1].f()[0].is_sign_negative());
}

#[test]
fn gelu_backward_tabulated() {
    let x: Vec<f32> = GELU_TABLE.iter().map(|r| r.0).collect();
    // Powers of two (and −1) scale exactly.
    let dy = [1.0f32, 2.0, -1.0, 0.5, 4.0, 1.0, 1.0, 0.25];
    let want: Vec<f64> = GELU_TABLE
        .iter()
        .zip(dy)
        .map(|(r, g)| r.2 * f64::from(g))
        .collect();
    for dt in FloatType::ALL {
        let mut b = [f(&x), f(&dy), out(x.len())];
        run_ok(GeluBackward { n: x.len() }, dt, &mut b);
        assert_ulps(dt, "gelu_backward", b[2].f(), &want, 0.5 + 1e-6);
        let mut b = [f(&[NAN, 1.0]), f(&[1.0, NAN]), out(2)];
        run_ok(GeluBackward { n: 2 }, dt, &mut b);
        assert!(b[2].f().iter().all(|v| v.is_nan()));
    }
}

#[test]
fn threshold_spike_strict_and_nan() {
    let x = [-1.0, 0.0, 0.5, 1.0, NAN, INF, -INF, 0.5000001];
    for dt in FloatType::ALL {
        let x: Vec<f32> = x.iter().map(|&v| to_dt(dt, v)).collect();
        // 0.5000001 rounds to 0.5 in f16: not above the threshold there.
        let last = if dt == FloatType::F32 { 1.0 } else { 0.0 };
        let mut b = [f(&x), out(8)];
        run_ok(
            ThresholdSpike {
                n: 8,
                threshold: 0.5,
            },
            dt,
            &mut b,
        );
        assert_same(
            "spike",
            b[1].f(),
            &[0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, last],
        );
        // θ = −inf: everything but −inf and NaN spikes. θ = +inf: nothing does.
        let mut b = [f(&x), out(8)];
        run_ok(
            ThresholdSpike {
                n: 8,
                threshold: -INF,
            },
            dt,
            &mut b,
        );
        assert_same(
            "spike -inf",
            b[1].f(),
            &[1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0],
        );
        let mut b = [f(&x), out(8)];
        run_ok(
            ThresholdSpike {
                n: 8,
                threshold: INF,
            },
            dt,
            &mut b,
        );
        assert_same("spike +inf", b[1].f(), &[0.0; 8]);
        // In place.
        let mut b = [f(&x), Buf::SameAs(0)];
        run_ok(
            ThresholdSpike {
                n: 8,
                threshold: 0.0,
            },
            dt,
            &mut b,
        );
        assert_same(
            "spike in place",
            b[0].f(),
            &[0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0],
        );
    }
}

#[test]
fn threshold_spike_compares_in_the_input_dtype() {
    // An f32 threshold that is not an f16 value: 1 + 2^-12 lies between the f16 values 1
    // and 1 + 2^-10, so x = 1 + 2^-10 spikes and x = 1 does not.
    let th = 1.0 + 2f32.powi(-12);
    let mut b = [f(&[1.0, 1.0 + 2f32.powi(-10)]), out(2)];
    run_ok(
        ThresholdSpike {
            n: 2,
            threshold: th,
        },
        FloatType::F16,
        &mut b,
    );
    assert_same("spike f16", b[1].f(), &[0.0, 1.0]);
}

/// `(x − μ)/√(σ² + eps)` of one row in f64.
fn normalize64(row: &[f32], eps: f64) -> Vec<f64> {
    let l = row.len() as f64;
    let mu = row.iter().map(|&v| f64::from(v)).sum::<f64>() / l;
    let var = row
        .iter()
        .map(|&v| (f64::from(v) - mu).powi(2))
        .sum::<f64>()
        / l;
    row.iter()
        .map(|&v| (f64::from(v) - mu) / (var + eps).sqrt())
        .collect()
}

#[test]
fn layer_norm_without_and_with_affine() {
    let x = [1.0, 2.0, 3.0, 4.0, 3.0, 3.0, 3.0, 3.0, -8.0, 0.0, 0.0, 8.0];
    let gamma = [1.0, 2.0, 0.5, -1.0];
    let beta = [0.0, 1.0, -1.0, 0.5];
    let eps = 1e-5f32;
    let mut xhat = Vec::new();
    for row in x.chunks(4) {
        xhat.extend(normalize64(row, f64::from(eps)));
    }
    let affine: Vec<f64> = xhat
        .iter()
        .enumerate()
        .map(|(j, v)| f64::from(gamma[j % 4]) * v + f64::from(beta[j % 4]))
        .collect();
    // Row [1,2,3,4]: μ = 5/2, σ² = 5/4 exactly; x̂ = ±(1.5 or 0.5)/√(1.25 + 1e-5).
    assert!((xhat[0] + 1.5 / 1.25000999999f64.sqrt()).abs() < 1e-9);
    // A constant row normalizes to 0 (and to β with the affine map).
    assert!(xhat[4..8].iter().all(|&v| v == 0.0));
    for dt in FloatType::ALL {
        // f32: sums exact for these integers; the eps addition, the sqrt-and-reciprocal
        // and the product each round once, then γ·x̂ + β two more times: ≤ 5u relative to
        // the largest term, which is within 8 ulps of the results here (no cancellation).
        let ulps = if dt == FloatType::F32 { 8.0 } else { 1.0 };
        let mut b = [f(&x), Buf::Absent, Buf::Absent, out(12)];
        let d = LayerNorm {
            rows: 3,
            len: 4,
            eps,
            affine: false,
        };
        run_ok(d, dt, &mut b);
        assert_ulps(dt, "layer_norm", b[3].f(), &xhat, ulps);
        let mut b = [f(&x), f(&gamma), f(&beta), out(12)];
        run_ok(LayerNorm { affine: true, ..d }, dt, &mut b);
        assert_ulps(dt, "layer_norm affine", b[3].f(), &affine, ulps);
    }
}

#[test]
fn layer_norm_large_eps_and_nan() {
    // eps = 3, row [−1, 1]: σ² = 1, x̂ = ±1/√4 = ±0.5 exactly.
    for dt in FloatType::ALL {
        let mut b = [f(&[-1.0, 1.0, NAN, 1.0]), Buf::Absent, Buf::Absent, out(4)];
        let d = LayerNorm {
            rows: 2,
            len: 2,
            eps: 3.0,
            affine: false,
        };
        run_ok(d, dt, &mut b);
        let y = b[3].f();
        assert_eq!(&y[..2], &[-0.5, 0.5]);
        assert!(
            y[2].is_nan() && y[3].is_nan(),
            "NaN spreads over its row: {y:?}"
        );
    }
}

#[test]
fn layer_norm_backward_two_columns_closed_form() {
    // For L = 2, x = [a, b], d = (a − b)/2: x̂ = [d, −d]/√(d² + eps), and
    // ∂L/∂a = (g₁ − g₂)·eps/(2(d² + eps)^{3/2}) = −∂L/∂b, with g = dY (⊙ γ).
    // eps = 1 and |d| = 1 (rows [1, −1] and [3, 5]): the factor is 1/(4√2).
    let c = 1.0 / (4.0 * 2f64.sqrt());
    let r2 = 1.0 / 2f64.sqrt();
    let x = [1.0, -1.0, 3.0, 5.0];
    let dy = [1.0, 3.0, 0.5, 0.5];
    let gamma = [2.0, 3.0];
    let d = LayerNormBackward {
        rows: 2,
        len: 2,
        eps: 1.0,
        affine: false,
    };
    for dt in FloatType::ALL {
        // A handful of roundings of values of the same size: 8 ulps in f32.
        let ulps = if dt == FloatType::F32 { 8.0 } else { 1.0 };
        let mut b = [f(&dy), f(&x), Buf::Absent, out(4), Buf::Absent, Buf::Absent];
        run_ok(d, dt, &mut b);
        let got = b[3].f();
        assert_ulps(
            dt,
            "ln backward row 0",
            &got[..2],
            &[-2.0 * c, 2.0 * c],
            ulps,
        );
        // Equal upstream gradients give exactly cancelling terms.
        assert!(got[2].abs() <= 1e-7 && got[3].abs() <= 1e-7, "{got:?}");

        let mut b = [f(&dy), f(&x), f(&gamma), out(4), out(2), out(2)];
        run_ok(LayerNormBackward { affine: true, ..d }, dt, &mut b);
        // g = dY⊙γ: row 0 [2, 9], row 1 [1, 1.5].
        assert_ulps(
            dt,
            "ln backward affine d_x",
            b[3].f(),
            &[-7.0 * c, 7.0 * c, -0.5 * c, 0.5 * c],
            ulps,
        );
        // dγ = Σ_rows dY⊙x̂ with x̂ rows [r2, −r2] and [−r2, r2]; dβ = Σ_rows dY.
        assert_ulps(
            dt,
            "d_gamma",
            b[4].f(),
            &[(1.0 - 0.5) * r2, (-3.0 + 0.5) * r2],
            ulps,
        );
        assert_same("d_beta", b[5].f(), &[1.5, 3.5]);
    }
}

#[test]
fn layer_norm_backward_constant_gradient_vanishes() {
    // Layer norm is invariant to adding a constant to the row, and x̂ sums to 0, so a
    // constant dY has zero dX (up to the rounding of Σ x̂ ≈ 0).
    let x = [0.5, -1.0, 2.0, 4.0, 1.0];
    for dt in FloatType::ALL {
        let mut b = [
            f(&[3.0; 5]),
            f(&x),
            Buf::Absent,
            out(5),
            Buf::Absent,
            Buf::Absent,
        ];
        run_ok(
            LayerNormBackward {
                rows: 1,
                len: 5,
                eps: 1e-5,
                affine: false,
            },
            dt,
            &mut b,
        );
        for v in b[3].f() {
            assert!(v.abs() < 1e-5, "{v}");
        }
    }
}
