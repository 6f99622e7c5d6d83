//! Rowwise softmax family and elementwise activations.

use super::math;
use super::special::{normal_cdf, normal_pdf};
use super::{RefFloat, Slots};
use crate::dtype::Float;
use crate::error::Error;

/// `exp` in f64 of an f32 argument, rounded once to f32.
#[inline]
fn exp32(x: f32) -> f32 {
    math::exp(f64::from(x)) as f32
}

/// NaN-propagating row maximum (`−inf` for an empty row).
fn row_max<T: Float>(row: &[T]) -> f32 {
    let mut m = f32::NEG_INFINITY;
    for v in row {
        let v = v.widen();
        if v.is_nan() {
            return v;
        }
        if v > m {
            m = v;
        }
    }
    m
}

/// `e = exp(x − max)` per element (f32), and `Σ e` in increasing order, for one row;
/// calls `emit(i, e_i, sum)` once the sum is known.
fn exp_row<T: Float>(row: &[T], mut emit: impl FnMut(usize, f32, f32, f32)) {
    let m = row_max(row);
    let mut sum = 0.0f32;
    for v in row {
        sum += exp32(v.widen() - m);
    }
    for (i, v) in row.iter().enumerate() {
        let x = v.widen();
        emit(i, x, m, sum);
    }
}

pub(super) fn softmax<T: RefFloat>(len: usize, s: &mut Slots<'_, '_>) -> Result<(), Error> {
    let (x, y) = (s.input::<T>(0)?, s.output::<T>(1)?);
    if len == 0 {
        return Ok(());
    }
    for (xr, yr) in x.chunks_exact(len).zip(y.chunks_exact_mut(len)) {
        exp_row(xr, |i, xv, m, sum| yr[i] = T::narrow(exp32(xv - m) / sum));
    }
    Ok(())
}

pub(super) fn log_softmax<T: RefFloat>(len: usize, s: &mut Slots<'_, '_>) -> Result<(), Error> {
    let (x, y) = (s.input::<T>(0)?, s.output::<T>(1)?);
    if len == 0 {
        return Ok(());
    }
    for (xr, yr) in x.chunks_exact(len).zip(y.chunks_exact_mut(len)) {
        exp_row(xr, |i, xv, m, sum| {
            let lse = math::ln(f64::from(sum)) as f32;
            yr[i] = T::narrow((xv - m) - lse);
        });
    }
    Ok(())
}

/// `dX = Y ⊙ (dY − Σ_row dY⊙Y)`, the row sum in f32 in increasing order.
pub(super) fn softmax_backward<T: RefFloat>(
    len: usize,
    s: &mut Slots<'_, '_>,
) -> Result<(), Error> {
    let (dy, y, dx) = (s.input::<T>(0)?, s.input::<T>(1)?, s.output::<T>(2)?);
    if len == 0 {
        return Ok(());
    }
    for ((dyr, yr), dxr) in dy
        .chunks_exact(len)
        .zip(y.chunks_exact(len))
        .zip(dx.chunks_exact_mut(len))
    {
        let dot = super::dot(dyr, yr);
        for ((o, g), p) in dxr.iter_mut().zip(dyr).zip(yr) {
            *o = T::narrow(p.widen() * (g.widen() - dot));
        }
    }
    Ok(())
}

/// Applies `f` (in f64) elementwise from input `0` (or in place) to output `1`.
fn unary<T: RefFloat>(s: &mut Slots<'_, '_>, f: impl Fn(f64) -> f64) -> Result<(), Error> {
    let x = s.input_or_aliased::<T>(0)?;
    let y = s.output::<T>(1)?;
    match x {
        Some(x) => {
            for (o, v) in y.iter_mut().zip(x) {
                *o = T::narrow_f64(f(f64::from(v.widen())));
            }
        }
        None => {
            for o in y.iter_mut() {
                *o = T::narrow_f64(f(f64::from(o.widen())));
            }
        }
    }
    Ok(())
}

/// `gelu(x) = 0.5·x·(1 + erf(x/√2)) = x·Φ(x)`, evaluated as `x·erfc(−x/√2)/2` in f64 so
/// that it keeps its relative accuracy for large negative `x`.
pub(super) fn gelu<T: RefFloat>(s: &mut Slots<'_, '_>) -> Result<(), Error> {
    unary::<T>(s, |x| x * normal_cdf(x))
}

/// `dX = dY·(Φ(x) + x·φ(x))` in f64.
pub(super) fn gelu_backward<T: RefFloat>(s: &mut Slots<'_, '_>) -> Result<(), Error> {
    let (x, dy, dx) = (s.input::<T>(0)?, s.input::<T>(1)?, s.output::<T>(2)?);
    for ((o, xv), g) in dx.iter_mut().zip(x).zip(dy) {
        let xv = f64::from(xv.widen());
        *o = T::narrow_f64(f64::from(g.widen()) * (normal_cdf(xv) + xv * normal_pdf(xv)));
    }
    Ok(())
}

/// `1` where `x > θ`, else `0`; NaN compares false, so it gives `0`.
pub(super) fn threshold_spike<T: RefFloat>(
    threshold: f32,
    s: &mut Slots<'_, '_>,
) -> Result<(), Error> {
    let th = f64::from(threshold);
    unary::<T>(s, |x| if x > th { 1.0 } else { 0.0 })
}
