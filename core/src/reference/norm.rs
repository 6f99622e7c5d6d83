//! Layer normalization. Row statistics: `μ = (Σx)/L`, `σ² = (Σ(x−μ)²)/L` (population), both
//! sums in f32 in increasing order; `rstd = 1/√(σ² + eps)` in f64, rounded to f32.

use super::math;
use super::{RefFloat, Slots};
use crate::dtype::Float;
use crate::error::Error;
use crate::op::{LayerNorm, LayerNormBackward};

/// `(μ, rstd)` of one row.
fn row_stats<T: Float>(row: &[T], eps: f32) -> (f32, f32) {
    let l = row.len() as f32;
    let mut sum = 0.0f32;
    for v in row {
        sum += v.widen();
    }
    let mean = sum / l;
    let mut sq = 0.0f32;
    for v in row {
        let d = v.widen() - mean;
        sq += d * d;
    }
    let var = sq / l;
    let rstd = (1.0 / math::sqrt(f64::from(var + eps))) as f32;
    (mean, rstd)
}

pub(super) fn layer_norm<T: RefFloat>(d: &LayerNorm, s: &mut Slots<'_, '_>) -> Result<(), Error> {
    let x = s.input::<T>(0)?;
    let gamma = s.optional_input::<T>(1)?;
    let beta = s.optional_input::<T>(2)?;
    let y = s.output::<T>(3)?;
    let l = d.len;
    if l == 0 {
        return Ok(());
    }
    for (xr, yr) in x.chunks_exact(l).zip(y.chunks_exact_mut(l)) {
        let (mean, rstd) = row_stats(xr, d.eps);
        for (j, (o, v)) in yr.iter_mut().zip(xr).enumerate() {
            let xhat = (v.widen() - mean) * rstd;
            let out = match (gamma, beta) {
                (Some(g), Some(b)) => g[j].widen() * xhat + b[j].widen(),
                _ => xhat,
            };
            *o = T::narrow(out);
        }
    }
    Ok(())
}

/// `dX = rstd/L · (L·g − Σg − x̂·Σ(g·x̂))`, `g = dY` or `dY⊙γ`; `dγ = Σ_rows dY⊙x̂`,
/// `dβ = Σ_rows dY` accumulated in f32 in `scratch` in row order.
pub(super) fn layer_norm_backward<T: RefFloat>(
    d: &LayerNormBackward,
    s: &mut Slots<'_, '_>,
    scratch: &mut [f32],
) -> Result<(), Error> {
    let (dy, x) = (s.input::<T>(0)?, s.input::<T>(1)?);
    let gamma = s.optional_input::<T>(2)?;
    let dx = s.output::<T>(3)?;
    let dgamma = s.optional_output::<T>(4)?;
    let dbeta = s.optional_output::<T>(5)?;
    let l = d.len;
    if l == 0 {
        return Ok(());
    }
    let (acc_g, acc_b) = scratch.split_at_mut(scratch.len() / 2);
    acc_g.fill(0.0);
    acc_b.fill(0.0);
    let lf = l as f32;
    for ((dyr, xr), dxr) in dy
        .chunks_exact(l)
        .zip(x.chunks_exact(l))
        .zip(dx.chunks_exact_mut(l))
    {
        let (mean, rstd) = row_stats(xr, d.eps);
        let g = |j: usize| match gamma {
            Some(gm) => dyr[j].widen() * gm[j].widen(),
            None => dyr[j].widen(),
        };
        let xhat = |j: usize| (xr[j].widen() - mean) * rstd;
        let (mut sum_g, mut sum_gx) = (0.0f32, 0.0f32);
        for j in 0..l {
            sum_g += g(j);
            sum_gx += g(j) * xhat(j);
        }
        let scale = rstd / lf;
        for (j, o) in dxr.iter_mut().enumerate() {
            *o = T::narrow(scale * ((lf * g(j) - sum_g) - xhat(j) * sum_gx));
        }
        if gamma.is_some() {
            for j in 0..l {
                acc_g[j] += dyr[j].widen() * xhat(j);
                acc_b[j] += dyr[j].widen();
            }
        }
    }
    if let Some(dg) = dgamma {
        super::store(dg, acc_g);
    }
    if let Some(db) = dbeta {
        super::store(db, acc_b);
    }
    Ok(())
}
