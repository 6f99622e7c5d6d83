//! Embedding lookup and its scatter-add gradient.

use super::{RefFloat, Slots};
use crate::dtype::Float;
use crate::error::Error;
use crate::op::{EmbeddingBackward, EmbeddingLookup};

/// The row an index selects, or `None` when it is outside `[0, vocab)`.
#[inline]
pub(super) fn row_of(idx: i32, vocab: usize) -> Option<usize> {
    usize::try_from(idx).ok().filter(|&r| r < vocab)
}

pub(super) fn lookup<T: RefFloat>(d: &EmbeddingLookup, s: &mut Slots<'_, '_>) -> Result<(), Error> {
    let (idx, table, out) = (s.i32_input(0)?, s.input::<T>(1)?, s.output::<T>(2)?);
    let dim = d.dim;
    if dim == 0 {
        return Ok(());
    }
    for (&i, o) in idx.iter().zip(out.chunks_exact_mut(dim)) {
        match row_of(i, d.vocab) {
            Some(r) => o.copy_from_slice(&table[r * dim..(r + 1) * dim]),
            None => o.fill(T::default()),
        }
    }
    Ok(())
}

/// `dTable[v] = Σ_{pos: idx[pos] = v} dOut[pos]` in increasing position order, f32
/// accumulation (in `scratch` for an f16 table, in the table itself for f32).
pub(super) fn backward<T: RefFloat>(
    d: &EmbeddingBackward,
    s: &mut Slots<'_, '_>,
    scratch: &mut [f32],
) -> Result<(), Error> {
    let (d_out, idx, d_table) = (s.input::<T>(0)?, s.i32_input(1)?, s.output::<T>(2)?);
    scatter_rows(d_out, idx, d.dim, d.vocab, d_table, scratch, |_| {});
    Ok(())
}

/// Sums the rows of `src (len(idx), width)` into `dst (segments, width)` by `idx`, in
/// increasing row order, skipping out-of-range indices; calls `counted(segment)` for every
/// row added. With an f32 `dst` (and an empty `scratch`) it accumulates in place; otherwise
/// in `scratch` (`segments·width` f32) and stores once.
pub(super) fn scatter_rows<T: Float>(
    src: &[T],
    idx: &[i32],
    width: usize,
    segments: usize,
    dst: &mut [T],
    scratch: &mut [f32],
    mut counted: impl FnMut(usize),
) {
    let accumulate = |acc: &mut dyn FnMut(usize, usize, f32), counted: &mut dyn FnMut(usize)| {
        for (pos, &i) in idx.iter().enumerate() {
            if let Some(r) = row_of(i, segments) {
                counted(r);
                for j in 0..width {
                    acc(r, j, src[pos * width + j].widen());
                }
            }
        }
    };
    if T::DTYPE == crate::dtype::FloatType::F32 {
        dst.fill(T::default());
        accumulate(
            &mut |r, j, v| dst[r * width + j] = T::narrow(dst[r * width + j].widen() + v),
            &mut counted,
        );
    } else {
        scratch.fill(0.0);
        accumulate(&mut |r, j, v| scratch[r * width + j] += v, &mut counted);
        super::store(dst, scratch);
    }
}
