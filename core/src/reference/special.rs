//! Special functions in f64 for the reference: `erfc` (and `erf`), to far better than
//! f32 accuracy (relative error below 1e-12 everywhere; checked against tabulated values
//! in the tests), without `std` or a math crate beyond `num-traits`' `libm`.

use super::math;

const FRAC_2_SQRT_PI: f64 = core::f64::consts::FRAC_2_SQRT_PI;

/// The complementary error function `erfc(x) = 1 − erf(x)`, accurate in relative terms
/// also where it is tiny (large `x`), which `1 − erf(x)` is not.
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    if x < 2.0 {
        1.0 - erf_series(x)
    } else {
        erfc_continued_fraction(x)
    }
}

/// The error function.
pub fn erf(x: f64) -> f64 {
    if x.abs() < 2.0 {
        erf_series(x)
    } else {
        1.0f64.copysign(x) - erfc(x.abs()).copysign(x)
    }
}

/// Maclaurin series `erf(x) = 2/√π Σ (−1)ⁿ x^(2n+1) / (n!(2n+1))`; for `|x| < 2` its
/// largest term is below `|x|·e^(x²) ≈ 110`, so cancellation costs at most ~2 digits.
fn erf_series(x: f64) -> f64 {
    let x2 = x * x;
    let mut term = x; // (−1)ⁿ x^(2n+1) / n!
    let mut sum = 0.0;
    for n in 0..200u32 {
        let t = term / f64::from(2 * n + 1);
        sum += t;
        if t.abs() <= 1e-17 * sum.abs() {
            break;
        }
        term *= -x2 / f64::from(n + 1);
    }
    FRAC_2_SQRT_PI * sum
}

/// Laplace's continued fraction
/// `erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …))))`, evaluated bottom-up
/// from 60 levels: converged to f64 precision for `x ≥ 2`.
fn erfc_continued_fraction(x: f64) -> f64 {
    let mut f = x;
    for n in (1..=60u32).rev() {
        f = x + f64::from(n) * 0.5 / f;
    }
    math::exp(-x * x) * (FRAC_2_SQRT_PI * 0.5) / f
}

/// The standard normal CDF `Φ(x) = erfc(−x/√2)/2`.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x * core::f64::consts::FRAC_1_SQRT_2)
}

/// The standard normal density `φ(x) = e^(−x²/2)/√(2π)`.
pub fn normal_pdf(x: f64) -> f64 {
    const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
    math::exp(-0.5 * x * x) * FRAC_1_SQRT_2PI
}
