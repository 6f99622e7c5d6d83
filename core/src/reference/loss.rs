//! Cross-entropy from log-probabilities, and loss shaping.

use super::embedding::row_of;
use super::math;
use super::{RefFloat, Slots};
use crate::dtype::Float;
use crate::error::Error;
use crate::op::{CrossEntropyLossGrad, ShapeLoss};

/// `grad = exp(logp) − onehot(target)`, `loss = max(0, −logp[target])`; rows with a target
/// outside `[0, V)` get loss 0 and grad 0 (the seed's padding fix).
pub(super) fn cross_entropy_loss_grad<T: RefFloat>(
    d: &CrossEntropyLossGrad,
    s: &mut Slots<'_, '_>,
) -> Result<(), Error> {
    let (logp, target) = (s.input::<T>(0)?, s.i32_input(1)?);
    let (grad, loss) = (s.output::<T>(2)?, s.output::<T>(3)?);
    let v = d.vocab;
    for (r, (&t, l)) in target.iter().zip(loss.iter_mut()).enumerate() {
        let row = &logp[r * v..(r + 1) * v];
        let g = &mut grad[r * v..(r + 1) * v];
        match row_of(t, v) {
            None => {
                g.fill(T::default());
                *l = T::default();
            }
            Some(t) => {
                for (j, (o, lp)) in g.iter_mut().zip(row).enumerate() {
                    let p = math::exp(f64::from(lp.widen()));
                    let onehot = if j == t { 1.0 } else { 0.0 };
                    *o = T::narrow_f64(p - onehot);
                }
                // max(0, −logp) with NaN kept: f64::max would drop it.
                let nl = -row[t].widen();
                *l = T::narrow(if nl > 0.0 || nl.is_nan() { nl } else { 0.0 });
            }
        }
    }
    Ok(())
}

/// First maximum of a row (strict `>` scanning upward); NaN never wins. `None` when no
/// element beats −inf (empty row, all −inf or NaN).
pub(super) fn argmax_first<T: Float>(row: &[T]) -> Option<(usize, f32)> {
    let mut best: Option<(usize, f32)> = None;
    let mut best_v = f32::NEG_INFINITY;
    for (i, v) in row.iter().enumerate() {
        let v = v.widen();
        if v > best_v {
            best_v = v;
            best = Some((i, v));
        }
    }
    best
}

pub(super) fn shape_loss<T: RefFloat>(d: &ShapeLoss, s: &mut Slots<'_, '_>) -> Result<(), Error> {
    let (loss_in, probs) = (s.input::<T>(0)?, s.input::<T>(1)?);
    let (target, pairs) = (s.i32_input(2)?, s.i32_input(3)?);
    let loss_out = s.output::<T>(4)?;
    let v = d.vocab;
    for (r, ((o, li), &t)) in loss_out.iter_mut().zip(loss_in).zip(target).enumerate() {
        let Some(t) = row_of(t, v) else {
            *o = *li;
            continue;
        };
        let row = &probs[r * v..(r + 1) * v];
        let mut l = f64::from(li.widen());
        if let Some((pred, _)) = argmax_first(row) {
            let confused = pairs
                .chunks_exact(2)
                .any(|p| p[0] as i64 == t as i64 && p[1] as i64 == pred as i64);
            if confused {
                l += f64::from(d.penalty);
            }
            if pred == t && row[t].widen() >= d.threshold {
                l -= f64::from(d.reward);
            }
        }
        *o = T::narrow_f64(l);
    }
    Ok(())
}
