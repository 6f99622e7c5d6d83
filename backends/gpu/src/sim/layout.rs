//! Data movement and column sums: the embedding gather, the `(B, D1, D2, D3) →
//! (B, D2, D1, D3)` transpose (exact copies, bits unchanged), and the two passes of
//! column sums.

use crate::kernel::{ColumnSumsFinal, ColumnSumsPartial, Gather, Transpose};

use super::math::sum;
use super::mem::{Launch, SimMem};
use super::SimError;

/// `out[r, :] = table[idx[r], :]`, a zero row for an index outside `[0, vocab)`.
pub(super) fn gather(l: &Launch, k: &Gather<&SimMem>) -> Result<(), SimError> {
    let idx = l.i32(k.idx, "idx", k.rows)?;
    let table = l.raw_t(k.table, "table", l.extent("table", &[k.vocab, k.dim])?)?;
    l.store_t(k.out, "out", l.extent("out", &[k.rows, k.dim])?, |out| {
        for (r, &t) in idx.iter().enumerate() {
            let t = usize::try_from(t).ok().filter(|&t| t < k.vocab);
            for j in 0..k.dim {
                match t {
                    Some(t) => out.copy(r * k.dim + j, &table, t * k.dim + j),
                    None => out.set(r * k.dim + j, 0.0),
                }
            }
        }
        Ok(())
    })
}

/// `y[b, j, i, :] = x[b, i, j, :]`.
pub(super) fn transpose(l: &Launch, k: &Transpose<&SimMem>) -> Result<(), SimError> {
    let n = l.extent("x", &[k.batches, k.d1, k.d2, k.d3])?;
    let x = l.raw_t(k.x, "x", n)?;
    l.store_t(k.y, "y", n, |y| {
        for b in 0..k.batches {
            for i in 0..k.d1 {
                for j in 0..k.d2 {
                    let src = ((b * k.d1 + i) * k.d2 + j) * k.d3;
                    let dst = ((b * k.d2 + j) * k.d1 + i) * k.d3;
                    for e in 0..k.d3 {
                        y.copy(dst + e, &x, src + e);
                    }
                }
            }
        }
        Ok(())
    })
}

/// `part[c, j] = Σ_{r in chunk c} x[r, j]`, over the chunks the kernel's grid names.
pub(super) fn column_sums_partial(
    l: &Launch,
    k: &ColumnSumsPartial<&SimMem>,
) -> Result<(), SimError> {
    let chunks = crate::kernel::Kernel::ColumnSumsPartial(*k).grid()[1];
    let x = l.t(k.x, "x", l.extent("x", &[k.rows, k.n])?)?;
    l.store_f32(k.part, "part", l.extent("part", &[chunks, k.n])?, |part| {
        for c in 0..chunks {
            let r0 = c.saturating_mul(k.chunk).min(k.rows);
            let r1 = r0.saturating_add(k.chunk).min(k.rows);
            for j in 0..k.n {
                part.set(c * k.n + j, sum((r0..r1).map(|r| x[r * k.n + j])));
            }
        }
        Ok(())
    })
}

/// `y[j] = Σ_c part[c, j]`, chunks in increasing order.
pub(super) fn column_sums_final(l: &Launch, k: &ColumnSumsFinal<&SimMem>) -> Result<(), SimError> {
    let part = l.f32(k.part, "part", l.extent("part", &[k.chunks, k.n])?)?;
    l.store_t(k.y, "y", k.n, |y| {
        for j in 0..k.n {
            y.set(j, sum((0..k.chunks).map(|c| part[c * k.n + j])));
        }
        Ok(())
    })
}
