//! The simulated GEMM: `C[b] = alpha·op(A[b])·op(B[b])`, then `beta·C[b] + that` when
//! accumulating, evaluated as written.
//!
//! Each output element is one f32 dot product over `k` ascending. `op(A)` is gathered into
//! rows and `op(B)` into columns first (transpose flags, `ld`, batch strides applied), so
//! that both factors of every dot product are contiguous; the order of the sum is not
//! changed by it.

use crate::gemm::{Gemm, MatRef};

use super::math::dot;
use super::mem::{Launch, SimMem, Ty};
use super::SimError;

/// The elements `op(X)` (`rows × cols` per batch) reads: one past its last index, or 0.
fn extent(
    l: &Launch,
    arg: &'static str,
    x: &MatRef<&SimMem>,
    (rows, cols, batch): (usize, usize, usize),
) -> Result<usize, SimError> {
    if rows == 0 || cols == 0 || batch == 0 {
        return Ok(0);
    }
    // op(X)[r, c] is X[r·ld + c], or X[c·ld + r] when transposed.
    let (outer, inner) = if x.trans {
        (cols - 1, rows - 1)
    } else {
        (rows - 1, cols - 1)
    };
    (batch - 1)
        .checked_mul(x.stride)
        .and_then(|s| outer.checked_mul(x.ld)?.checked_add(inner)?.checked_add(s))
        .and_then(|last| last.checked_add(1))
        .ok_or(SimError::Overflow {
            kernel: l.kernel,
            arg,
        })
}

/// `op(X)[b]` of a loaded `X` as `rows × cols`, row-major; `by_cols` gives its transpose
/// (`cols × rows`) instead, the form the right-hand factor is wanted in.
fn gather(
    x: &[f32],
    m: &MatRef<&SimMem>,
    (rows, cols): (usize, usize),
    b: usize,
    by_cols: bool,
) -> Vec<f32> {
    let base = b * m.stride;
    let at = |r: usize, c: usize| {
        let i = if m.trans { c * m.ld + r } else { r * m.ld + c };
        x[base + i]
    };
    let mut v = Vec::with_capacity(rows * cols);
    if by_cols {
        for c in 0..cols {
            v.extend((0..rows).map(|r| at(r, c)));
        }
    } else {
        for r in 0..rows {
            v.extend((0..cols).map(|c| at(r, c)));
        }
    }
    v
}

/// Runs one GEMM with the call's storage type `t`.
pub(super) fn gemm(t: Ty, g: &Gemm<&SimMem>) -> Result<(), SimError> {
    let l = Launch { kernel: "gemm", t };
    let (m, n, k, batch) = (g.m, g.n, g.k, g.batch);
    let a_ext = extent(&l, "a", &g.a, (m, k, batch))?;
    let b_ext = extent(&l, "b", &g.b, (k, n, batch))?;
    let c_ext = extent(
        &l,
        "c",
        &MatRef {
            buf: g.c.buf,
            ld: g.c.ld,
            stride: g.c.stride,
            trans: false,
        },
        (m, n, batch),
    )?;
    let a = l.t(g.a.buf, "a", a_ext)?;
    let b = l.t(g.b.buf, "b", b_ext)?;
    let c_ty = if g.c_f32 { Ty::F32 } else { t };
    let c_old = if g.accumulate {
        Some(l.load(g.c.buf, "c", c_ty, c_ext)?)
    } else {
        None
    };
    l.store(g.c.buf, "c", c_ty, c_ext, |out| {
        // A matrix shared by every batch (stride 0) is gathered once.
        let mut a_rows = Vec::new();
        let mut b_cols = Vec::new();
        for bt in 0..batch {
            if bt == 0 || g.a.stride != 0 {
                a_rows = gather(&a, &g.a, (m, k), bt, false);
            }
            if bt == 0 || g.b.stride != 0 {
                b_cols = gather(&b, &g.b, (k, n), bt, true);
            }
            for i in 0..m {
                let ar = &a_rows[i * k..(i + 1) * k];
                for j in 0..n {
                    let acc = dot(ar, &b_cols[j * k..(j + 1) * k]);
                    let ci = bt * g.c.stride + i * g.c.ld + j;
                    let r = match &c_old {
                        Some(c) => g.beta * c[ci] + g.alpha * acc,
                        None => g.alpha * acc,
                    };
                    out.set(ci, r);
                }
            }
        }
        Ok(())
    })
}
