//! The GEMM family. Every output element is one f32 sum in increasing index order; the
//! loops run over blocks of [`BLOCK`] output columns with the partial sums on the stack,
//! which keeps the inner loop contiguous without needing an allocator.

use super::{dot, store, RefFloat, Slots};
use crate::dtype::Float;
use crate::error::Error;
use crate::op::{
    HebbianUpdate, MatMul, MatMulBackward, MatMulBatched, MatMulBatchedBackward, PairwiseSimilarity,
};

/// Output columns accumulated at once.
const BLOCK: usize = 64;

/// `out[m, :] = Σ_k a[m,k]·w[k,:]` for an `(M,K)·(K,N)` product, each sum over `k`
/// ascending.
fn gemm_nn<T: Float>(a: &[T], w: &[T], out: &mut [T], m: usize, k: usize, n: usize) {
    for row in 0..m {
        let a_row = &a[row * k..(row + 1) * k];
        for n0 in (0..n).step_by(BLOCK) {
            let width = BLOCK.min(n - n0);
            let mut acc = [0.0f32; BLOCK];
            for (kk, av) in a_row.iter().enumerate() {
                let av = av.widen();
                let w_row = &w[kk * n + n0..kk * n + n0 + width];
                for (s, wv) in acc.iter_mut().zip(w_row) {
                    *s += av * wv.widen();
                }
            }
            store(&mut out[row * n + n0..row * n + n0 + width], &acc[..width]);
        }
    }
}

/// `out[m, k] = Σ_n dc[m,n]·w[k,n]` (`dC·Wᵀ`), each a contiguous dot product over `n`.
fn gemm_nt<T: Float>(dc: &[T], w: &[T], out: &mut [T], m: usize, k: usize, n: usize) {
    for row in 0..m {
        let dc_row = &dc[row * n..(row + 1) * n];
        for kk in 0..k {
            out[row * k + kk] = T::narrow(dot(dc_row, &w[kk * n..(kk + 1) * n]));
        }
    }
}

/// Calls `emit(k, n0, sums)` with `sums[j] = Σ_r a[r,k]·c[r,n0+j]` (`Aᵀ·C` over `rows`
/// rows), each sum over `r` ascending.
fn gemm_tn<T: Float>(
    a: &[T],
    c: &[T],
    rows: usize,
    k: usize,
    n: usize,
    mut emit: impl FnMut(usize, usize, &[f32]),
) {
    for kk in 0..k {
        for n0 in (0..n).step_by(BLOCK) {
            let width = BLOCK.min(n - n0);
            let mut acc = [0.0f32; BLOCK];
            for r in 0..rows {
                let av = a[r * k + kk].widen();
                let c_row = &c[r * n + n0..r * n + n0 + width];
                for (s, cv) in acc.iter_mut().zip(c_row) {
                    *s += av * cv.widen();
                }
            }
            emit(kk, n0, &acc[..width]);
        }
    }
}

pub(super) fn matmul<T: RefFloat>(
    d: &MatMul,
    s: &mut Slots<'_, '_>,
    _scratch: &mut [f32],
) -> Result<(), Error> {
    let (a, w, c) = (s.input::<T>(0)?, s.input::<T>(1)?, s.output::<T>(2)?);
    gemm_nn(a, w, c, d.b * d.m, d.k, d.n);
    Ok(())
}

pub(super) fn matmul_batched<T: RefFloat>(
    d: &MatMulBatched,
    s: &mut Slots<'_, '_>,
    _scratch: &mut [f32],
) -> Result<(), Error> {
    let (a, w, c) = (s.input::<T>(0)?, s.input::<T>(1)?, s.output::<T>(2)?);
    let (sa, sw, sc) = (d.m * d.k, d.k * d.n, d.m * d.n);
    for b in 0..d.b {
        gemm_nn(
            &a[b * sa..(b + 1) * sa],
            &w[b * sw..(b + 1) * sw],
            &mut c[b * sc..(b + 1) * sc],
            d.m,
            d.k,
            d.n,
        );
    }
    Ok(())
}

pub(super) fn matmul_backward<T: RefFloat>(
    d: &MatMulBackward,
    s: &mut Slots<'_, '_>,
    _scratch: &mut [f32],
) -> Result<(), Error> {
    let (a, w, dc) = (s.input::<T>(0)?, s.input::<T>(1)?, s.input::<T>(2)?);
    if let Some(da) = s.optional_output::<T>(3)? {
        gemm_nt(dc, w, da, d.b * d.m, d.k, d.n);
    }
    if let Some(dw) = s.optional_output::<T>(4)? {
        // dW sums over all B·M rows: batches are consecutive rows of A and dC.
        let n = d.n;
        gemm_tn(a, dc, d.b * d.m, d.k, n, |k, n0, sums| {
            store(&mut dw[k * n + n0..k * n + n0 + sums.len()], sums)
        });
    }
    Ok(())
}

pub(super) fn matmul_batched_backward<T: RefFloat>(
    d: &MatMulBatchedBackward,
    s: &mut Slots<'_, '_>,
    _scratch: &mut [f32],
) -> Result<(), Error> {
    let (a, w, dc) = (s.input::<T>(0)?, s.input::<T>(1)?, s.input::<T>(2)?);
    let (sa, sw, sc) = (d.m * d.k, d.k * d.n, d.m * d.n);
    if let Some(da) = s.optional_output::<T>(3)? {
        for b in 0..d.b {
            gemm_nt(
                &dc[b * sc..(b + 1) * sc],
                &w[b * sw..(b + 1) * sw],
                &mut da[b * sa..(b + 1) * sa],
                d.m,
                d.k,
                d.n,
            );
        }
    }
    if let Some(dw) = s.optional_output::<T>(4)? {
        let n = d.n;
        for b in 0..d.b {
            let dw_b = &mut dw[b * sw..(b + 1) * sw];
            gemm_tn(
                &a[b * sa..(b + 1) * sa],
                &dc[b * sc..(b + 1) * sc],
                d.m,
                d.k,
                n,
                |k, n0, sums| store(&mut dw_b[k * n + n0..k * n + n0 + sums.len()], sums),
            );
        }
    }
    Ok(())
}

/// `w ← (1 − decay)·w + lr·s` with `s = Σ_r pre[r,k]·post[r,n]`, evaluated in f32 as
/// `((1 − decay)·w) + (lr·s)`.
pub(super) fn hebbian_update<T: RefFloat>(
    d: &HebbianUpdate,
    s: &mut Slots<'_, '_>,
    _scratch: &mut [f32],
) -> Result<(), Error> {
    let (pre, post, w) = (s.input::<T>(0)?, s.input::<T>(1)?, s.output::<T>(2)?);
    let keep = 1.0f32 - d.decay;
    let (lr, n) = (d.lr, d.n);
    gemm_tn(pre, post, d.b * d.m, d.k, n, |k, n0, sums| {
        for (wv, sum) in w[k * n + n0..k * n + n0 + sums.len()].iter_mut().zip(sums) {
            *wv = T::narrow(keep * wv.widen() + lr * sum);
        }
    });
    Ok(())
}

pub(super) fn pairwise_similarity<T: RefFloat>(
    d: &PairwiseSimilarity,
    s: &mut Slots<'_, '_>,
) -> Result<(), Error> {
    let (x, out) = (s.input::<T>(0)?, s.output::<T>(1)?);
    gemm_nt(x, x, out, d.n, d.n, d.d);
    Ok(())
}
