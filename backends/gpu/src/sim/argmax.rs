//! The argmax kernels: the row argmax of a score matrix, token assignment without one,
//! and loss shaping (whose prediction is a row argmax too). All share one rule
//! ([`argmax`]): strict `>` scanning upward from −inf, so the first maximum wins, NaN
//! never wins, and −1 when nothing beats −inf.

use crate::kernel::{ArgmaxRows, ShapeLoss, TokenAssignDirect};

use super::math::{argmax, dot};
use super::mem::{Launch, SimMem};
use super::SimError;

/// Writes a row argmax's indices, and its winning values when `want_best`.
fn put_winners(
    l: &Launch,
    (idx, best): (&SimMem, Option<&SimMem>),
    want_best: bool,
    winners: &[(i32, f32)],
) -> Result<(), SimError> {
    let ids: Vec<i32> = winners.iter().map(|w| w.0).collect();
    l.store_i32(idx, "idx", &ids)?;
    if want_best {
        l.store_t(l.needed(best, "best")?, "best", winners.len(), |b| {
            for (r, w) in winners.iter().enumerate() {
                b.set(r, w.1);
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// Row argmax of an f32 `(rows, cols)` score matrix.
pub(super) fn argmax_rows(l: &Launch, k: &ArgmaxRows<&SimMem>) -> Result<(), SimError> {
    let s = l.f32(k.scores, "scores", l.extent("scores", &[k.rows, k.cols])?)?;
    let winners: Vec<_> = (0..k.rows)
        .map(|r| argmax(s[r * k.cols..(r + 1) * k.cols].iter().copied()))
        .collect();
    put_winners(l, (k.idx, k.best), k.want_best, &winners)
}

/// Per row of `act (rows, e)`, the argmax over `proto (protos, e)` of the dot products,
/// each summed in increasing `e`.
pub(super) fn token_assign_direct(
    l: &Launch,
    k: &TokenAssignDirect<&SimMem>,
) -> Result<(), SimError> {
    let act = l.t(k.act, "act", l.extent("act", &[k.rows, k.e])?)?;
    let proto = l.t(k.proto, "proto", l.extent("proto", &[k.protos, k.e])?)?;
    let winners: Vec<_> = (0..k.rows)
        .map(|r| {
            let a = &act[r * k.e..(r + 1) * k.e];
            argmax((0..k.protos).map(|t| dot(a, &proto[t * k.e..(t + 1) * k.e])))
        })
        .collect();
    put_winners(l, (k.idx, k.best), k.want_best, &winners)
}

/// Per row with a target in `[0, vocab)`: `pred` = the row argmax of `probs`; `+penalty`
/// when `(target, pred)` is a listed pair, `−reward` when `pred == target` and
/// `probs[target] ≥ threshold`. Other rows copy their loss unchanged (bits and all).
pub(super) fn shape_loss(l: &Launch, k: &ShapeLoss<&SimMem>) -> Result<(), SimError> {
    let loss_raw = l.raw_t(k.loss_in, "loss_in", k.rows)?;
    let loss = l.t(k.loss_in, "loss_in", k.rows)?;
    let probs = l.t(k.probs, "probs", l.extent("probs", &[k.rows, k.vocab])?)?;
    let target = l.i32(k.target, "target", k.rows)?;
    let pairs = l.i32(
        k.pair_list,
        "pair_list",
        l.extent("pair_list", &[k.pairs, 2])?,
    )?;
    l.store_t(k.loss_out, "loss_out", k.rows, |out| {
        for r in 0..k.rows {
            let t = match usize::try_from(target[r]) {
                Ok(t) if t < k.vocab => t,
                _ => {
                    out.copy(r, &loss_raw, r);
                    continue;
                }
            };
            let row = &probs[r * k.vocab..(r + 1) * k.vocab];
            let mut v = loss[r];
            let (pred, _) = argmax(row.iter().copied());
            if pred >= 0 {
                let confused = pairs
                    .chunks_exact(2)
                    .any(|p| p[0] == target[r] && p[1] == pred);
                if confused {
                    v += k.penalty;
                }
                if pred == target[r] && row[t] >= k.threshold {
                    v -= k.reward;
                }
            }
            out.set(r, v);
        }
        Ok(())
    })
}
