//! Prototype ops: assignment by argmax of dot products, segmented sums, moving-average
//! update.

use super::embedding::scatter_rows;
use super::{dot, RefFloat, Slots};

use crate::error::Error;
use crate::op::{DynamicTokenAssignment, ProtoSegmentedSum, ProtoUpdateStep};

/// `idx[r] = argmax_t ⟨act[r], proto[t]⟩`: strict `>` scanning `t` upward, so the first
/// maximum wins and a NaN similarity never wins; `−1` (and `best = −inf`) when nothing
/// beats −inf.
pub(super) fn dynamic_token_assignment<T: RefFloat>(
    d: &DynamicTokenAssignment,
    s: &mut Slots<'_, '_>,
) -> Result<(), Error> {
    let (act, proto) = (s.input::<T>(0)?, s.input::<T>(1)?);
    let idx = s.i32_output(2)?;
    let mut best = s.optional_output::<T>(3)?;
    let e = d.e;
    if e == 0 {
        // Every similarity is the empty sum +0: the first prototype wins (or none when
        // T = 0). Done without the O(rows·T) scan, which would be unbounded in the size of
        // the buffers (all empty but `idx`).
        let (arg, top) = if d.t > 0 {
            (0, 0.0)
        } else {
            (-1, f32::NEG_INFINITY)
        };
        idx.fill(arg);
        if let Some(b) = best {
            b.fill(T::narrow(top));
        }
        return Ok(());
    }
    for r in 0..idx.len() {
        let a = &act[r * e..(r + 1) * e];
        let (mut arg, mut top) = (-1i32, f32::NEG_INFINITY);
        for t in 0..d.t {
            let sim = dot(a, &proto[t * e..(t + 1) * e]);
            if sim > top {
                top = sim;
                arg = t as i32; // t < T ≤ i32::MAX (validated)
            }
        }
        idx[r] = arg;
        if let Some(b) = best.as_deref_mut() {
            b[r] = T::narrow(top);
        }
    }
    Ok(())
}

/// Per-prototype sums (f32, increasing row order) and counts; indices outside `[0, T)`
/// are skipped. The reference always sums deterministically, whatever `mode` asks.
pub(super) fn segmented_sum<T: RefFloat>(
    d: &ProtoSegmentedSum,
    s: &mut Slots<'_, '_>,
    scratch: &mut [f32],
) -> Result<(), Error> {
    let (act, idx) = (s.input::<T>(0)?, s.i32_input(1)?);
    let (sums, counts) = (s.output::<T>(2)?, s.i32_output(3)?);
    counts.fill(0);
    // A count is at most M ≤ i32::MAX (validated), so it cannot overflow.
    scatter_rows(act, idx, d.e, d.t, sums, scratch, |t| counts[t] += 1);
    Ok(())
}

/// `proto[t] ← (1−lr)·proto[t] + lr·sums[t]/counts[t]` for `counts[t] > 0`, in f32 as
/// `((1−lr)·p) + (lr·(s/c))`.
pub(super) fn update_step<T: RefFloat>(
    d: &ProtoUpdateStep,
    s: &mut Slots<'_, '_>,
) -> Result<(), Error> {
    let proto = s.output::<T>(0)?;
    let (sums, counts) = (s.input::<T>(1)?, s.i32_input(2)?);
    let e = d.e;
    let keep = 1.0f32 - d.lr;
    for (t, &c) in counts.iter().enumerate() {
        if c <= 0 {
            continue;
        }
        let cf = c as f32;
        for (p, sv) in proto[t * e..(t + 1) * e]
            .iter_mut()
            .zip(&sums[t * e..(t + 1) * e])
        {
            *p = T::narrow(keep * p.widen() + d.lr * (sv.widen() / cf));
        }
    }
    Ok(())
}
