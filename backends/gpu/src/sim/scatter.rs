//! Deterministic segmented sums: a stable counting sort of the row indices into segments,
//! each segment's rows summed in increasing row order, and the segment counts. The
//! offsets and orders are data, so every index read from them is checked before use.

use crate::kernel::{Bucket, SegmentCounts, SegmentSum};

use super::math::sum;
use super::mem::{Launch, SimMem};
use super::SimError;

/// The length of the offsets of `segs` segments.
fn offs_len(l: &Launch, segs: usize) -> Result<usize, SimError> {
    segs.checked_add(1).ok_or(SimError::Overflow {
        kernel: l.kernel,
        arg: "offs",
    })
}

/// `offs (segs + 1)` segment starts, `order` the rows of each segment in increasing
/// order (indices outside `[0, segs)` left out), `cursor (segs)` the scratch as the
/// sort leaves it.
pub(super) fn bucket(l: &Launch, k: &Bucket<&SimMem>) -> Result<(), SimError> {
    let idx = l.i32(k.idx, "idx", k.rows)?;
    let seg = |v: i32| usize::try_from(v).ok().filter(|&s| s < k.segs);
    let mut offs = vec![0usize; offs_len(l, k.segs)?];
    for &v in &idx {
        if let Some(s) = seg(v) {
            offs[s + 1] += 1;
        }
    }
    for s in 0..k.segs {
        offs[s + 1] += offs[s];
    }
    let mut cursor = offs[..k.segs].to_vec();
    let mut order = vec![0usize; offs[k.segs]];
    for (r, &v) in idx.iter().enumerate() {
        if let Some(s) = seg(v) {
            order[cursor[s]] = r;
            cursor[s] += 1;
        }
    }
    // Every value is at most `rows`, which validation keeps within i32.
    let to_i32 = |v: Vec<usize>| -> Result<Vec<i32>, SimError> {
        v.into_iter()
            .map(|x| {
                i32::try_from(x).map_err(|_| SimError::Overflow {
                    kernel: l.kernel,
                    arg: "rows",
                })
            })
            .collect()
    };
    l.store_i32(k.offs, "offs", &to_i32(offs)?)?;
    l.store_i32(k.order, "order", &to_i32(order)?)?;
    l.store_i32(k.cursor, "cursor", &to_i32(cursor)?)
}

/// `dst[s, j] = Σ src[order[p], j]` over `p` in `offs[s]..offs[s + 1]`.
pub(super) fn segment_sum(l: &Launch, k: &SegmentSum<&SimMem>) -> Result<(), SimError> {
    let offs = l.i32(k.offs, "offs", offs_len(l, k.segs)?)?;
    let order = l.i32_all(k.order, "order")?;
    let src = l.t_all(k.src, "src")?;
    let bad = |arg: &'static str, value: i32, bound: usize| SimError::BadIndex {
        kernel: l.kernel,
        arg,
        value,
        bound,
    };
    // Each segment's source rows, checked: offsets ascending within `order`, rows within
    // `src`.
    let mut rows = Vec::with_capacity(k.segs);
    for s in 0..k.segs {
        let at = |i: usize| {
            usize::try_from(offs[i])
                .ok()
                .filter(|&o| o <= order.len())
                .ok_or(bad("offs", offs[i], order.len() + 1))
        };
        let (start, end) = (at(s)?, at(s + 1)?);
        if end < start {
            return Err(bad("offs", offs[s + 1], start));
        }
        let nrows = src.len().checked_div(k.width).unwrap_or(0);
        let seg = order[start..end]
            .iter()
            .map(|&r| {
                usize::try_from(r)
                    .ok()
                    .filter(|&r| r < nrows)
                    .ok_or(bad("order", r, nrows))
            })
            .collect::<Result<Vec<_>, _>>()?;
        rows.push(seg);
    }
    l.store_t(k.dst, "dst", l.extent("dst", &[k.segs, k.width])?, |dst| {
        for (s, seg) in rows.iter().enumerate() {
            for j in 0..k.width {
                dst.set(
                    s * k.width + j,
                    sum(seg.iter().map(|&r| src[r * k.width + j])),
                );
            }
        }
        Ok(())
    })
}

/// `counts[s] = offs[s + 1] − offs[s]`.
pub(super) fn segment_counts(l: &Launch, k: &SegmentCounts<&SimMem>) -> Result<(), SimError> {
    let offs = l.i32(k.offs, "offs", offs_len(l, k.segs)?)?;
    let counts: Vec<i32> = offs.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
    l.store_i32(k.counts, "counts", &counts)
}
