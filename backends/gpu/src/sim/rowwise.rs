//! Rowwise kernels: softmax and its gradient, layer norm and its gradient (with the
//! column pass for `dγ`, `dβ`), and the cross-entropy loss and gradient. Every row sum
//! runs in increasing index order.

use crate::kernel::{
    CrossEntropy, LayerNorm, LayerNormBackward, LayerNormBackwardCols, Softmax, SoftmaxBackward,
};

use super::math::{dot, exp, ln, nan_max, sum};
use super::mem::{Launch, SimMem};
use super::SimError;

/// Rowwise softmax, or log-softmax when `log`: `x − max` first (the NaN-propagating max),
/// then `exp(x − max)/Σ` or `(x − max) − ln Σ`.
pub(super) fn softmax(l: &Launch, k: &Softmax<&SimMem>) -> Result<(), SimError> {
    let n = l.extent("x", &[k.rows, k.len])?;
    let x = l.t(k.x, "x", n)?;
    l.store_t(k.y, "y", n, |y| {
        for r in 0..k.rows {
            let o = r * k.len;
            let row = &x[o..o + k.len];
            let m = row.iter().copied().fold(f32::NEG_INFINITY, nan_max);
            let s = sum(row.iter().map(|&v| exp(v - m)));
            if k.log {
                let lse = ln(s);
                for (i, &v) in row.iter().enumerate() {
                    y.set(o + i, (v - m) - lse);
                }
            } else {
                for (i, &v) in row.iter().enumerate() {
                    y.set(o + i, exp(v - m) / s);
                }
            }
        }
        Ok(())
    })
}

/// `dx = y ⊙ (dy − Σ_row dy⊙y)`.
pub(super) fn softmax_backward(l: &Launch, k: &SoftmaxBackward<&SimMem>) -> Result<(), SimError> {
    let n = l.extent("y", &[k.rows, k.len])?;
    let dy = l.t(k.dy, "dy", n)?;
    let y = l.t(k.y, "y", n)?;
    l.store_t(k.dx, "dx", n, |dx| {
        for r in 0..k.rows {
            let o = r * k.len;
            let (dyr, yr) = (&dy[o..o + k.len], &y[o..o + k.len]);
            let d = dot(dyr, yr);
            for (i, (g, yv)) in dyr.iter().zip(yr).enumerate() {
                dx.set(o + i, yv * (g - d));
            }
        }
        Ok(())
    })
}

/// A row's mean and `1/√(σ² + eps)`, population variance, sums in f32.
fn stats(row: &[f32], eps: f32) -> (f32, f32) {
    let len = row.len() as f32;
    let mean = sum(row.iter().copied()) / len;
    let var = sum(row.iter().map(|&v| {
        let d = v - mean;
        d * d
    })) / len;
    (mean, 1.0 / (var + eps).sqrt())
}

/// `y = x̂` or `γ⊙x̂ + β`, `x̂ = (x − μ)·rstd`.
pub(super) fn layer_norm(l: &Launch, k: &LayerNorm<&SimMem>) -> Result<(), SimError> {
    let n = l.extent("x", &[k.rows, k.len])?;
    let x = l.t(k.x, "x", n)?;
    let affine = if k.affine {
        let gamma = l.t(l.needed(k.gamma, "gamma")?, "gamma", k.len)?;
        let beta = l.t(l.needed(k.beta, "beta")?, "beta", k.len)?;
        Some((gamma, beta))
    } else {
        None
    };
    l.store_t(k.y, "y", n, |y| {
        for r in 0..k.rows {
            let o = r * k.len;
            let row = &x[o..o + k.len];
            let (mean, rstd) = stats(row, k.eps);
            for (i, &v) in row.iter().enumerate() {
                let xh = (v - mean) * rstd;
                let out = match &affine {
                    Some((g, b)) => g[i] * xh + b[i],
                    None => xh,
                };
                y.set(o + i, out);
            }
        }
        Ok(())
    })
}

/// `dx = rstd/L · ((L·g − Σg) − x̂·Σ(g·x̂))`, `g = dy` or `dy⊙γ`; each row's `(μ, rstd)`
/// to `stats`.
pub(super) fn layer_norm_backward(
    l: &Launch,
    k: &LayerNormBackward<&SimMem>,
) -> Result<(), SimError> {
    let n = l.extent("x", &[k.rows, k.len])?;
    let nstats = l.extent("stats", &[k.rows, 2])?;
    let dy = l.t(k.dy, "dy", n)?;
    let x = l.t(k.x, "x", n)?;
    let gamma = if k.affine {
        Some(l.t(l.needed(k.gamma, "gamma")?, "gamma", k.len)?)
    } else {
        None
    };
    let mut row_stats = Vec::with_capacity(nstats);
    l.store_t(k.dx, "dx", n, |dx| {
        for r in 0..k.rows {
            let o = r * k.len;
            let (xr, dyr) = (&x[o..o + k.len], &dy[o..o + k.len]);
            let (mean, rstd) = stats(xr, k.eps);
            let g = |i: usize| match &gamma {
                Some(gm) => dyr[i] * gm[i],
                None => dyr[i],
            };
            let xh = |i: usize| (xr[i] - mean) * rstd;
            let sg = sum((0..k.len).map(g));
            let sgx = sum((0..k.len).map(|i| g(i) * xh(i)));
            let lf = k.len as f32;
            let scale = rstd / lf;
            for i in 0..k.len {
                dx.set(o + i, scale * ((lf * g(i) - sg) - xh(i) * sgx));
            }
            row_stats.extend([mean, rstd]);
        }
        Ok(())
    })?;
    l.store_f32(k.stats, "stats", nstats, |s| {
        for (i, v) in row_stats.into_iter().enumerate() {
            s.set(i, v);
        }
        Ok(())
    })
}

/// `dγ[j] = Σ_r dy⊙x̂`, `dβ[j] = Σ_r dy`, rows in increasing order, `x̂` from the row
/// statistics the row pass wrote.
pub(super) fn layer_norm_backward_cols(
    l: &Launch,
    k: &LayerNormBackwardCols<&SimMem>,
) -> Result<(), SimError> {
    let n = l.extent("x", &[k.rows, k.len])?;
    let dy = l.t(k.dy, "dy", n)?;
    let x = l.t(k.x, "x", n)?;
    let st = l.f32(k.stats, "stats", l.extent("stats", &[k.rows, 2])?)?;
    let mut dgamma = Vec::with_capacity(k.len);
    let mut dbeta = Vec::with_capacity(k.len);
    for j in 0..k.len {
        let (mut ag, mut ab) = (0.0f32, 0.0f32);
        for r in 0..k.rows {
            let d = dy[r * k.len + j];
            let xh = (x[r * k.len + j] - st[2 * r]) * st[2 * r + 1];
            ag += d * xh;
            ab += d;
        }
        dgamma.push(ag);
        dbeta.push(ab);
    }
    for (mem, arg, vals) in [(k.dgamma, "dgamma", dgamma), (k.dbeta, "dbeta", dbeta)] {
        l.store_t(mem, arg, k.len, |o| {
            for (i, v) in vals.into_iter().enumerate() {
                o.set(i, v);
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// `grad = exp(logp) − onehot(target)`, `loss = max(0, −logp[target])` with NaN kept; a
/// row whose target is outside `[0, vocab)` gets zeros.
pub(super) fn cross_entropy(l: &Launch, k: &CrossEntropy<&SimMem>) -> Result<(), SimError> {
    let n = l.extent("logp", &[k.rows, k.vocab])?;
    let logp = l.t(k.logp, "logp", n)?;
    let target = l.i32(k.target, "target", k.rows)?;
    let valid = |r: usize| usize::try_from(target[r]).ok().filter(|&t| t < k.vocab);
    l.store_t(k.grad, "grad", n, |grad| {
        for r in 0..k.rows {
            let o = r * k.vocab;
            let t = valid(r);
            for j in 0..k.vocab {
                let g = match t {
                    Some(t) => exp(logp[o + j]) - if j == t { 1.0 } else { 0.0 },
                    None => 0.0,
                };
                grad.set(o + j, g);
            }
        }
        Ok(())
    })?;
    l.store_t(k.loss, "loss", k.rows, |loss| {
        for r in 0..k.rows {
            let v = match valid(r) {
                Some(t) => {
                    let nl = -logp[r * k.vocab + t];
                    if nl > 0.0 || nl.is_nan() {
                        nl
                    } else {
                        0.0
                    }
                }
                None => 0.0,
            };
            loss.set(r, v);
        }
        Ok(())
    })
}
