//! The scalar functions of the simulated kernels.
//!
//! Arithmetic is f32, as on a GPU. Transcendental functions are evaluated in f64 with
//! `libm` and rounded once to f32: a correctly rounded result in all but vanishingly rare
//! double-rounding cases, so well inside the ulp limits the conformance bounds allow a
//! device's `exp`, `log` and `erfc`. They are this module's own evaluations, not the
//! reference's.

use std::f64::consts::{FRAC_1_SQRT_2, PI};

/// `eˣ`.
pub(super) fn exp(x: f32) -> f32 {
    libm::exp(f64::from(x)) as f32
}

/// `ln x`.
pub(super) fn ln(x: f32) -> f32 {
    libm::log(f64::from(x)) as f32
}

/// The standard normal CDF `Φ(x) = erfc(−x/√2)/2`: the erfc form keeps its relative
/// accuracy for large negative `x`, where `1 + erf` would cancel to 0.
pub(super) fn normal_cdf(x: f32) -> f32 {
    (0.5 * libm::erfc(-f64::from(x) * FRAC_1_SQRT_2)) as f32
}

/// The standard normal density `φ(x) = e^(−x²/2)/√(2π)`.
pub(super) fn normal_pdf(x: f32) -> f32 {
    let x = f64::from(x);
    (libm::exp(-0.5 * (x * x)) / (2.0 * PI).sqrt()) as f32
}

/// The NaN-propagating maximum of the rowwise ops: any NaN wins (so a row holding a NaN
/// normalizes to NaN instead of silently skipping it).
pub(super) fn nan_max(a: f32, b: f32) -> f32 {
    if a.is_nan() || (!b.is_nan() && a > b) {
        a
    } else {
        b
    }
}

/// The sum of `terms` in f32, in increasing index order.
pub(super) fn sum(terms: impl IntoIterator<Item = f32>) -> f32 {
    terms.into_iter().fold(0.0f32, |acc, t| acc + t)
}

/// The dot product of `a` and `b` in f32, in increasing index order.
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    sum(a.iter().zip(b).map(|(x, y)| x * y))
}

/// The first maximum of `vals` under strict `>` from −inf: NaN never wins, ties keep the
/// earlier index, and `(-1, −inf)` when nothing beats −inf.
pub(super) fn argmax(vals: impl IntoIterator<Item = f32>) -> (i32, f32) {
    let mut best = (-1i32, f32::NEG_INFINITY);
    for (i, v) in vals.into_iter().enumerate() {
        if v > best.1 {
            // Callers scan at most i32::MAX candidates (validated dims).
            best = (i32::try_from(i).unwrap_or(i32::MAX), v);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_rules() {
        assert_eq!(argmax([1.0, 3.0, 3.0, 2.0]), (1, 3.0));
        assert_eq!(argmax([f32::NAN, 1.0, f32::NAN]), (1, 1.0));
        let (i, v) = argmax([f32::NEG_INFINITY, f32::NAN]);
        assert_eq!((i, v), (-1, f32::NEG_INFINITY));
        assert_eq!(argmax(std::iter::empty()).0, -1);
    }

    #[test]
    fn nan_max_propagates_either_side() {
        assert!(nan_max(f32::NAN, 1.0).is_nan());
        assert!(nan_max(1.0, f32::NAN).is_nan());
        assert_eq!(nan_max(f32::NEG_INFINITY, -3.0), -3.0);
    }

    #[test]
    fn normal_functions() {
        assert_eq!(normal_cdf(0.0), 0.5);
        assert!((normal_cdf(1.0) - 0.841_344_8).abs() < 1e-7);
        // Deep in the left tail the erfc form keeps relative accuracy.
        let t = normal_cdf(-10.0);
        assert!((t / 7.619_853e-24 - 1.0).abs() < 1e-6, "{t}");
        assert!((normal_pdf(0.0) - 0.398_942_3).abs() < 1e-7);
        assert_eq!(normal_cdf(f32::INFINITY), 1.0);
        assert_eq!(normal_cdf(f32::NEG_INFINITY), 0.0);
    }
}
