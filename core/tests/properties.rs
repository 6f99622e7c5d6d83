//! Properties of the reference, checked with proptest on small random cases.
//!
//! Every tolerance is an error bound derived from the arithmetic the reference is allowed
//! to do (f32 accumulation: `|ŝ − s| ≤ γ_n·Σ|terms|`, `γ_n = n·u/(1 − n·u)`, `u = 2⁻²⁴`;
//! f64 sums here: the same with `u = 2⁻⁵³`), written next to each check; none is a
//! fudge factor found by trial.

// Index arithmetic over several arrays at once reads better as index loops.
#![allow(clippy::needless_range_loop)]

mod common;

use common::*;
use neurokern_core::dtype::f16_from_f64;
use neurokern_core::op::*;
use neurokern_core::{f16, FloatType, OpKind};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

const F32: FloatType = FloatType::F32;
const F16: FloatType = FloatType::F16;

/// Values `k/64` in `[-4, 4]`: a grid on which `x ± h·v` (`h = 1/128`, `v ∈ {−1, 0, 1}`)
/// is exact in f32, so the finite differences perturb exactly what they claim to.
fn grid() -> impl Strategy<Value = f32> {
    (-256i32..=256).prop_map(|k| k as f32 / 64.0)
}

fn dir() -> impl Strategy<Value = f32> {
    (-1i32..=1).prop_map(|k| k as f32)
}

fn pool(s: impl Strategy<Value = f32>, n: usize) -> impl Strategy<Value = Vec<f32>> {
    proptest::collection::vec(s, n)
}

fn unif() -> impl Strategy<Value = f32> {
    -2.0f32..2.0
}

const H: f32 = 1.0 / 128.0;

fn shifted(x: &[f32], v: &[f32], sign: f32) -> Vec<f32> {
    x.iter().zip(v).map(|(&a, &d)| a + sign * H * d).collect()
}

fn abs_sum(x: &[f32]) -> f64 {
    x.iter().map(|&v| f64::from(v).abs()).sum()
}

/// Compares a central difference `(lp − lm)/(2h)` with the backward op's directional
/// derivative `bw`:
/// `|fd − bw| ≤ trunc + (ep + em)/(2h) + bw_err + f64 rounding of the quotient`, where
/// `ep`, `em` bound the error of the computed `lp`, `lm` (forward rounding, including the
/// f64 dot product with G), `trunc` bounds the Taylor remainder `h²/6·sup|L'''|`, and
/// `bw_err` the rounding of the backward op itself.
#[allow(clippy::too_many_arguments)]
fn check_fd(
    what: &str,
    lp: f64,
    lm: f64,
    fwd_err: f64,
    trunc: f64,
    bw: f64,
    bw_err: f64,
) -> Result<(), TestCaseError> {
    let h = f64::from(H);
    let fd = (lp - lm) / (2.0 * h);
    let quot = 4.0 * U64 * (lp.abs() + lm.abs()) / (2.0 * h);
    let bound = trunc + fwd_err / (2.0 * h) + bw_err + quot;
    prop_assert!(
        (fd - bw).abs() <= bound,
        "{what}: finite difference {fd:e}, backward {bw:e}, |diff| {:e} > bound {bound:e}",
        (fd - bw).abs()
    );
    Ok(())
}

/// `Σ G⊙y` in f64 and the bound of its own rounding `γ_n(f64)·Σ|G⊙y|`.
fn lin(g: &[f32], y: &[f32]) -> (f64, f64) {
    (dot64(g, y), gamma(g.len(), U64) * absdot64(g, y))
}

fn run_f32(op: impl Into<neurokern_core::Op>, bufs: &mut [Buf]) {
    run_ok(op, F32, bufs)
}

// ---------------------------------------------------------------------------------------
// Adjoint identities.

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// `⟨lookup(W), G⟩ = ⟨W, embedding_backward(G)⟩`.
    #[test]
    fn embedding_adjoint(
        b in 1usize..4, s in 1usize..5, v in 1usize..6, d in 1usize..6,
        idx in proptest::collection::vec(-2i32..7, 16),
        w in pool(-4.0f32..4.0, 30), g in pool(-4.0f32..4.0, 80),
    ) {
        let n = b * s;
        let (idx, w, g) = (&idx[..n], &w[..v * d], &g[..n * d]);
        let mut lk = [i(idx), f(w), out(n * d)];
        run_f32(EmbeddingLookup { b, s, vocab: v, dim: d }, &mut lk);
        let mut bw = [f(g), i(idx), out(v * d)];
        run_f32(EmbeddingBackward { b, s, vocab: v, dim: d }, &mut bw);
        let lhs = dot64(lk[2].f(), g);
        let rhs = dot64(w, bw[2].f());
        // The lookup is exact, so T = Σ|lookup⊙G| = Σ_pos Σ_j |W[idx[pos], j]·G[pos, j]|.
        // Each dTable element sums at most n terms in f32: error ≤ γ_n·(its Σ|G|); the
        // two f64 dot products add γ_{nd}·T and γ_{vd}·(1 + γ_n)·T.
        let t = absdot64(lk[2].f(), g);
        let bound = gamma(n, U32) * t
            + (gamma(n * d, U64) + gamma(v * d, U64) * (1.0 + gamma(n, U32))) * t;
        prop_assert!((lhs - rhs).abs() <= bound, "{lhs} vs {rhs}, bound {bound}");
    }

    /// `⟨A·W, G⟩ = ⟨A, dA(G)⟩ = ⟨W, dW(G)⟩` for matmul (W shared) and the batched form.
    #[test]
    fn matmul_adjoint(
        bb in 1usize..4, m in 1usize..5, k in 1usize..5, n in 1usize..5, batched in any::<bool>(),
        a in pool(-4.0f32..4.0, 64), w in pool(-4.0f32..4.0, 64), g in pool(-4.0f32..4.0, 64),
    ) {
        let wb = if batched { bb } else { 1 };
        let (a, w, g) = (&a[..bb * m * k], &w[..wb * k * n], &g[..bb * m * n]);
        let (c, da, dw) = if batched {
            let mut fw = [f(a), f(w), out(bb * m * n)];
            run_f32(MatMulBatched { b: bb, m, k, n }, &mut fw);
            let mut bk = [f(a), f(w), f(g), out(a.len()), out(w.len())];
            run_f32(MatMulBatchedBackward { b: bb, m, k, n, want_d_a: true, want_d_w: true }, &mut bk);
            (fw[2].f().to_vec(), bk[3].f().to_vec(), bk[4].f().to_vec())
        } else {
            let mut fw = [f(a), f(w), out(bb * m * n)];
            run_f32(MatMul { b: bb, m, k, n }, &mut fw);
            let mut bk = [f(a), f(w), f(g), out(a.len()), out(w.len())];
            run_f32(MatMulBackward { b: bb, m, k, n, want_d_a: true, want_d_w: true }, &mut bk);
            (fw[2].f().to_vec(), bk[3].f().to_vec(), bk[4].f().to_vec())
        };
        // T = Σ_{b,m,k,n} |A[b,m,k]·W[(b),k,n]·G[b,m,n]|: every product of the trilinear
        // form once. C sums over K, dA over N, dW over B·M (over M when batched).
        let mut t = 0.0f64;
        for b in 0..bb {
            let wo = if batched { b * k * n } else { 0 };
            for i in 0..m {
                for kk in 0..k {
                    for j in 0..n {
                        t += (f64::from(a[(b * m + i) * k + kk])
                            * f64::from(w[wo + kk * n + j])
                            * f64::from(g[(b * m + i) * n + j]))
                        .abs();
                    }
                }
            }
        }
        let rows = if batched { m } else { bb * m };
        let ec = gamma(k, U32) * t + gamma(c.len(), U64) * (1.0 + gamma(k, U32)) * t;
        let ea = gamma(n, U32) * t + gamma(a.len(), U64) * (1.0 + gamma(n, U32)) * t;
        let ew = gamma(rows, U32) * t + gamma(w.len(), U64) * (1.0 + gamma(rows, U32)) * t;
        let cg = dot64(&c, g);
        let ada = dot64(a, &da);
        let wdw = dot64(w, &dw);
        prop_assert!((cg - ada).abs() <= ec + ea, "<C,G> {cg} vs <A,dA> {ada}");
        prop_assert!((cg - wdw).abs() <= ec + ew, "<C,G> {cg} vs <W,dW> {wdw}");
    }
}

// ---------------------------------------------------------------------------------------
// Backward ops against central finite differences of the forward reference (f32 ops,
// differences in f64). h = 1/128 on the 1/64 grid: the perturbed inputs are exact.

/// Max of `|gelu'''(x)| = |φ(x)·(x³ − 4x)|` over ℝ is 0.7788 (at x ≈ ±0.74, found by
/// scanning [−8, 8] in steps of 1e-3; the function decays like x³e^{−x²/2} outside).
const GELU_M3: f64 = 0.8;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn gelu_backward_matches_finite_differences(
        n in 1usize..16, x in pool(grid(), 16), v in pool(dir(), 16), g in pool(unif(), 16),
    ) {
        let (x, v, g) = (&x[..n], &v[..n], &g[..n]);
        let fwd = |x: &[f32]| {
            let mut b = [f(x), out(n)];
            run_f32(Gelu { n }, &mut b);
            b[1].f().to_vec()
        };
        let (yp, ym) = (fwd(&shifted(x, v, 1.0)), fwd(&shifted(x, v, -1.0)));
        // Forward: f64 evaluation (erf to 1e-12 relative) rounded once: ≤ 2u·|y| per
        // element (+ the smallest subnormal for results that underflow).
        let e = |y: &[f32]| -> f64 {
            g.iter().zip(y).map(|(&gi, &yi)| f64::from(gi).abs() * (2.0 * U32 * f64::from(yi).abs() + 1e-44)).sum()
        };
        let ((lp, lpe), (lm, lme)) = (lin(g, &yp), lin(g, &ym));
        let trunc = f64::from(H).powi(2) / 6.0 * GELU_M3
            * g.iter().zip(v).map(|(&gi, &vi)| f64::from(gi).abs() * f64::from(vi).abs().powi(3)).sum::<f64>();
        let mut b = [f(x), f(g), out(n)];
        run_f32(GeluBackward { n }, &mut b);
        let dx = b[2].f();
        let (bw, bwe) = lin(v, dx);
        let bw_err = bwe + v.iter().zip(dx).map(|(&vi, &d)| f64::from(vi).abs() * (2.0 * U32 * f64::from(d).abs() + 1e-44)).sum::<f64>();
        check_fd("gelu", lp, lm, e(&yp) + e(&ym) + lpe + lme, trunc, bw, bw_err)?;
    }

    #[test]
    fn softmax_backward_matches_finite_differences(
        r in 1usize..4, l in 1usize..8,
        x in pool(grid(), 32), v in pool(dir(), 32), g in pool(unif(), 32),
    ) {
        let n = r * l;
        let (x, v, g) = (&x[..n], &v[..n], &g[..n]);
        let fwd = |x: &[f32]| {
            let mut b = [f(x), out(n)];
            run_f32(Softmax { rows: r, len: l }, &mut b);
            b[1].f().to_vec()
        };
        // Forward: x − max is exact on the grid; exp rounds once (u), the row sum adds
        // γ_{L−1}, the division u: |ŷ − y| ≤ γ_{L+1}·y ≤ 2γ_{L+1}·ŷ.
        let eta = 2.0 * gamma(l + 1, U32);
        let e = |y: &[f32]| -> f64 {
            g.iter().zip(y).map(|(&gi, &yi)| f64::from(gi).abs() * eta * f64::from(yi)).sum()
        };
        let (yp, ym) = (fwd(&shifted(x, v, 1.0)), fwd(&shifted(x, v, -1.0)));
        let ((lp, lpe), (lm, lme)) = (lin(g, &yp), lin(g, &ym));
        let y = fwd(x);
        // Truncation: with c = max|v| of the row and s = v_i − ⟨y, v⟩ (|s| ≤ 2c),
        // dy_i = y_i·s, |d²y_i| ≤ 6c²·y_i, |d³y_i| ≤ 26c³·y_i; along the segment y_i grows
        // by at most e^{2c·h}. So |L'''| ≤ 26·Σ_rows c³·e^{2ch}·Σ_i |G_i|·y_i.
        let mut trunc = 0.0;
        for row in 0..r {
            let c = (0..l).map(|j| f64::from(v[row * l + j]).abs()).fold(0.0, f64::max);
            let s: f64 = (0..l).map(|j| f64::from(g[row * l + j]).abs() * f64::from(y[row * l + j]) * (1.0 + eta)).sum();
            trunc += 26.0 * c.powi(3) * (2.0 * c * f64::from(H)).exp() * s;
        }
        trunc *= f64::from(H).powi(2) / 6.0;
        let mut b = [f(g), f(&y), out(n)];
        run_f32(SoftmaxBackward { rows: r, len: l }, &mut b);
        let dx = b[2].f();
        // Backward at the computed ŷ: its own rounding (the row dot γ_L·Σ|G⊙ŷ|, then
        // u for the subtraction and u for the product), plus the effect of ŷ's own error
        // η·ŷ on dx_i = y_i(G_i − Σ G_j y_j): η_i·|G_i − dot| + ŷ_i·Σ|G_j|·η_j. The factor
        // (1 + 2η) covers the second-order products of these relative errors.
        let mut bw_err = 0.0;
        for row in 0..r {
            let (gs, ys) = (&g[row * l..(row + 1) * l], &y[row * l..(row + 1) * l]);
            let dot = dot64(gs, ys);
            let s = absdot64(gs, ys);
            for j in 0..l {
                let (gj, yj) = (f64::from(gs[j]), f64::from(ys[j]));
                let ej = yj * (gamma(l, U32) * s + 2.0 * U32 * (gj - dot).abs())
                    + U32 * f64::from(dx[row * l + j]).abs()
                    + eta * yj * (gj - dot).abs()
                    + yj * eta * s;
                bw_err += f64::from(v[row * l + j]).abs() * ej * (1.0 + 2.0 * eta);
            }
        }
        let (bw, bwe) = lin(v, dx);
        check_fd("softmax", lp, lm, e(&yp) + e(&ym) + lpe + lme, trunc, bw, bw_err + bwe)?;
    }

    #[test]
    fn mul_backward_matches_finite_differences(
        n in 1usize..16, a in pool(grid(), 16), bv in pool(grid(), 16),
        va in pool(dir(), 16), vb in pool(dir(), 16), g in pool(unif(), 16),
    ) {
        let (a, bv, va, vb, g) = (&a[..n], &bv[..n], &va[..n], &vb[..n], &g[..n]);
        let fwd = |a: &[f32], b: &[f32]| {
            let mut bufs = [f(a), f(b), out(n)];
            run_f32(Mul { n }, &mut bufs);
            bufs[2].f().to_vec()
        };
        // L is linear in each factor: no truncation. Each product rounds once (u·|c|).
        let e = |c: &[f32]| u_abs(g, c, 1.0);
        let mut bk = [f(g), f(a), f(bv), out(n), out(n)];
        run_f32(MulBackward { n, want_d_a: true, want_d_b: true }, &mut bk);
        let (da, db) = (bk[3].f().to_vec(), bk[4].f().to_vec());
        let (cp, cm) = (fwd(&shifted(a, va, 1.0), bv), fwd(&shifted(a, va, -1.0), bv));
        let ((lp, lpe), (lm, lme)) = (lin(g, &cp), lin(g, &cm));
        let (bw, bwe) = lin(va, &da);
        check_fd("mul d_a", lp, lm, e(&cp) + e(&cm) + lpe + lme, 0.0, bw, bwe + u_abs(va, &da, 1.0))?;
        let (cp, cm) = (fwd(a, &shifted(bv, vb, 1.0)), fwd(a, &shifted(bv, vb, -1.0)));
        let ((lp, lpe), (lm, lme)) = (lin(g, &cp), lin(g, &cm));
        let (bw, bwe) = lin(vb, &db);
        check_fd("mul d_b", lp, lm, e(&cp) + e(&cm) + lpe + lme, 0.0, bw, bwe + u_abs(vb, &db, 1.0))?;
    }

    #[test]
    fn matmul_backward_matches_finite_differences(
        bb in 1usize..3, m in 1usize..4, k in 1usize..5, n in 1usize..4, batched in any::<bool>(),
        a in pool(grid(), 48), w in pool(grid(), 40),
        va in pool(dir(), 48), vw in pool(dir(), 40), g in pool(unif(), 48),
    ) {
        let wb = if batched { bb } else { 1 };
        let (na, nw, nc) = (bb * m * k, wb * k * n, bb * m * n);
        let (a, w, va, vw, g) = (&a[..na], &w[..nw], &va[..na], &vw[..nw], &g[..nc]);
        let fwd = |a: &[f32], w: &[f32]| {
            let mut bufs = [f(a), f(w), out(nc)];
            if batched {
                run_f32(MatMulBatched { b: bb, m, k, n }, &mut bufs);
            } else {
                run_f32(MatMul { b: bb, m, k, n }, &mut bufs);
            }
            bufs[2].f().to_vec()
        };
        // |Ĉ[b,i,j] − C| ≤ γ_K·Σ_k |A[b,i,k]·W[k,j]|; weighted by |G|.
        let fwd_err = |a: &[f32], w: &[f32]| -> f64 {
            let mut s = 0.0;
            for b in 0..bb {
                let wo = if batched { b * k * n } else { 0 };
                for i in 0..m {
                    for j in 0..n {
                        let t: f64 = (0..k).map(|kk| (f64::from(a[(b * m + i) * k + kk]) * f64::from(w[wo + kk * n + j])).abs()).sum();
                        s += f64::from(g[(b * m + i) * n + j]).abs() * gamma(k, U32) * t;
                    }
                }
            }
            s
        };
        let mut bufs = [f(a), f(w), f(g), out(na), out(nw)];
        if batched {
            run_f32(MatMulBatchedBackward { b: bb, m, k, n, want_d_a: true, want_d_w: true }, &mut bufs);
        } else {
            run_f32(MatMulBackward { b: bb, m, k, n, want_d_a: true, want_d_w: true }, &mut bufs);
        }
        let (da, dw) = (bufs[3].f().to_vec(), bufs[4].f().to_vec());
        // dA[b,i,k] sums N products: γ_N·Σ_j|G·W|; dW[(b),k,j] sums the rows: γ_rows·Σ|A·G|.
        let rows = if batched { m } else { bb * m };
        let mut ea = 0.0;
        let mut ew = 0.0;
        for b in 0..bb {
            let wo = if batched { b * k * n } else { 0 };
            for i in 0..m {
                for kk in 0..k {
                    for j in 0..n {
                        let (av, wv) = (f64::from(va[(b * m + i) * k + kk]).abs(), f64::from(vw[wo + kk * n + j]).abs());
                        // the direction replaces A (resp. W) in the product
                        let gw = (f64::from(g[(b * m + i) * n + j]) * f64::from(w[wo + kk * n + j])).abs();
                        let ag = (f64::from(a[(b * m + i) * k + kk]) * f64::from(g[(b * m + i) * n + j])).abs();
                        ea += av * gamma(n, U32) * gw;
                        ew += wv * gamma(rows, U32) * ag;
                    }
                }
            }
        }
        // L is bilinear: linear along each direction, no truncation.
        let (cp, cm) = (fwd(&shifted(a, va, 1.0), w), fwd(&shifted(a, va, -1.0), w));
        let ((lp, lpe), (lm, lme)) = (lin(g, &cp), lin(g, &cm));
        let fe = fwd_err(&shifted(a, va, 1.0), w) + fwd_err(&shifted(a, va, -1.0), w) + lpe + lme;
        let (bw, bwe) = lin(va, &da);
        check_fd("matmul d_a", lp, lm, fe, 0.0, bw, ea + bwe)?;
        let (cp, cm) = (fwd(a, &shifted(w, vw, 1.0)), fwd(a, &shifted(w, vw, -1.0)));
        let ((lp, lpe), (lm, lme)) = (lin(g, &cp), lin(g, &cm));
        let fe = fwd_err(a, &shifted(w, vw, 1.0)) + fwd_err(a, &shifted(w, vw, -1.0)) + lpe + lme;
        let (bw, bwe) = lin(vw, &dw);
        check_fd("matmul d_w", lp, lm, fe, 0.0, bw, ew + bwe)?;
    }

    #[test]
    fn cross_entropy_grad_matches_finite_differences_of_the_loss(
        r in 1usize..4, l in 2usize..7,
        z in pool(grid(), 24), v in pool(dir(), 24), g in pool(unif(), 4),
        t in proptest::collection::vec(-1i32..7, 4),
    ) {
        // loss_r(z) = −log_softmax(z_r)[t_r]; its gradient in z is softmax − onehot, which
        // is what cross_entropy_loss_grad returns from the log-probabilities.
        let n = r * l;
        let (z, v, g, t) = (&z[..n], &v[..n], &g[..r], &t[..r]);
        let losses = |z: &[f32]| {
            let mut ls = [f(z), out(n)];
            run_f32(LogSoftmax { rows: r, len: l }, &mut ls);
            let mut ce = [f(ls[1].f()), i(t), out(n), out(r)];
            run_f32(CrossEntropyLossGrad { rows: r, vocab: l }, &mut ce);
            (ls[1].f().to_vec(), ce[2].f().to_vec(), ce[3].f().to_vec())
        };
        // log_softmax: x − max exact on the grid; ln of a sum with relative error γ_L
        // (L exp roundings and L − 1 additions) is off by ≤ 2γ_L absolute, plus u·|lse|
        // for rounding the ln and u·|y| for the subtraction. |lse| ≤ 8 + ln L here.
        let e_ls = |y: f64| 2.0 * gamma(l, U32) + U32 * (8.0 + (l as f64).ln()) + U32 * y.abs();
        let fwd_err = |lsv: &[f32]| -> f64 {
            (0..r).filter(|&row| t[row] >= 0 && (t[row] as usize) < l)
                .map(|row| f64::from(g[row]).abs() * e_ls(f64::from(lsv[row * l + t[row] as usize])))
                .sum()
        };
        let (lsp, _, lossp) = losses(&shifted(z, v, 1.0));
        let (lsm, _, lossm) = losses(&shifted(z, v, -1.0));
        let ((lp, lpe), (lm, lme)) = (lin(g, &lossp), lin(g, &lossm));
        // d³ lse[v,v,v] = Σ_i d²y_i[v,v]·v_i, |d²y_i| ≤ 6c²y_i: |L'''| ≤ 6·Σ_r |G_r|·c_r³.
        let mut trunc = 0.0;
        for row in 0..r {
            let valid = t[row] >= 0 && (t[row] as usize) < l;
            let c = (0..l).map(|j| f64::from(v[row * l + j]).abs()).fold(0.0, f64::max);
            if valid {
                trunc += 6.0 * f64::from(g[row]).abs() * c.powi(3);
            }
        }
        trunc *= f64::from(H).powi(2) / 6.0;
        let (ls, grad, _) = losses(z);
        // grad = exp(l̂s) − onehot: exp of a log-probability off by e_ls is off by a
        // relative e^{e_ls} − 1 ≤ 2·e_ls; then one rounding.
        let mut bw = 0.0;
        let mut bw_err = 0.0;
        for row in 0..r {
            for j in 0..l {
                let q = row * l + j;
                let w = f64::from(g[row]) * f64::from(v[q]);
                bw += w * f64::from(grad[q]);
                let p = f64::from(ls[q]).exp();
                bw_err += w.abs() * (p * 2.0 * e_ls(f64::from(ls[q])) + U32 * f64::from(grad[q]).abs());
            }
        }
        bw_err += gamma(n, U64) * bw.abs() * 2.0;
        check_fd("cross_entropy", lp, lm, fwd_err(&lsp) + fwd_err(&lsm) + lpe + lme, trunc, bw, bw_err)?;
    }
}

/// `Σ |a_i|·u·|c_i|·k`: the one-rounding error of `c`, weighted by `|a|`.
fn u_abs(a: &[f32], c: &[f32], k: f64) -> f64 {
    k * U32 * absdot64(a, c)
}

// ---------------------------------------------------------------------------------------
// Layer norm: finite differences in x (with the Taylor remainder bounded through the
// normalization map's derivatives), and in γ, β (linear: no remainder).

/// Per-element error bounds of the f32 layer norm of one row, and the row's x̂ (f64) and
/// `rstd`, derived from the reference's evaluation order: `μ = (Σx)/L` and
/// `σ² = (Σ(x−μ̂)²)/L` in f32, `rstd = 1/√(σ² + eps)` in f64 rounded to f32,
/// `x̂ = (x − μ̂)·rstd`, `y = γ·x̂ + β`.
struct LnRow {
    xhat: Vec<f64>,
    rstd: f64,
    /// Bound on `|x̂_computed − x̂|` per element.
    e_xhat: Vec<f64>,
    /// Relative error bound of the computed rstd.
    rho: f64,
}

fn ln_row(x: &[f32], eps: f32) -> LnRow {
    let l = x.len();
    let lf = l as f64;
    let mu = x.iter().map(|&v| f64::from(v)).sum::<f64>() / lf;
    let d: Vec<f64> = x.iter().map(|&v| f64::from(v) - mu).collect();
    let var = d.iter().map(|v| v * v).sum::<f64>() / lf;
    let eps = f64::from(eps);
    let rstd = 1.0 / (var + eps).sqrt();
    // μ̂: an f32 sum of L terms and a division.
    let dmu = gamma(l + 1, U32) * abs_sum(x) / lf;
    // x − μ̂ rounded: ε_j.
    let e_d: Vec<f64> = d.iter().map(|dj| dmu + U32 * (dj.abs() + dmu)).collect();
    // Σ d̂²: the perturbation of the squares (2|d|ε + ε²) plus γ_L on the sum of squares
    // (products and additions), then /L and + eps (two roundings): relative error of
    // σ² + eps below ρ_v.
    let sq: f64 = d.iter().map(|v| v * v).sum();
    let pert: f64 = d
        .iter()
        .zip(&e_d)
        .map(|(dj, ej)| 2.0 * dj.abs() * ej + ej * ej)
        .sum();
    let rho_v = ((gamma(l + 2, U32) * (sq + pert) + pert) / lf + U32 * eps) / (var + eps);
    // rstd = (σ² + eps)^{-1/2}: half the relative error (first order, ×1/(1−ρ_v) for the
    // rest), plus the rounding of the f64 result to f32.
    let rho = rho_v / (2.0 * (1.0 - rho_v)) + 2.0 * U32;
    let xhat: Vec<f64> = d.iter().map(|dj| dj * rstd).collect();
    let e_xhat = d
        .iter()
        .zip(&e_d)
        .map(|(dj, ej)| {
            let xh = (dj * rstd).abs();
            (rstd * ej + xh * rho + U32 * xh) * (1.0 + rho) * (1.0 + U32)
        })
        .collect();
    LnRow {
        xhat,
        rstd,
        e_xhat,
        rho,
    }
}

/// Forward error bound of one layer-norm output element: x̂'s error scaled by |γ|, then
/// the two roundings of `γ·x̂ + β`.
fn ln_out_err(row: &LnRow, j: usize, gamma_j: f64, beta_j: f64) -> f64 {
    let y = gamma_j * row.xhat[j] + beta_j;
    (gamma_j.abs() * row.e_xhat[j] + U32 * (gamma_j * row.xhat[j]).abs() + U32 * y.abs())
        * (1.0 + 2.0 * U32)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn layer_norm_backward_matches_finite_differences(
        r in 1usize..4, l in 2usize..8, affine in any::<bool>(),
        x in pool(grid(), 28), v in pool(dir(), 28), g in pool(unif(), 28),
        gm in pool(grid(), 8), bt in pool(grid(), 8), vg in pool(dir(), 8), vb in pool(dir(), 8),
    ) {
        let n = r * l;
        let (x, v, g) = (&x[..n], &v[..n], &g[..n]);
        let ones = vec![1.0f32; l];
        let zeros = vec![0.0f32; l];
        let (gm, bt) = if affine { (&gm[..l], &bt[..l]) } else { (&ones[..], &zeros[..]) };
        let (vg, vb) = (&vg[..l], &vb[..l]);
        let eps = 1e-3f32;
        // Rows with a tiny variance make the remainder bound useless, not wrong: skip.
        for row in 0..r {
            let rr = ln_row(&x[row * l..(row + 1) * l], eps);
            prop_assume!(rr.rstd < 2.0);
        }
        let fwd = |x: &[f32], gm: &[f32], bt: &[f32]| -> (Vec<f32>, f64) {
            let mut b = if affine {
                [f(x), f(gm), f(bt), out(n)]
            } else {
                [f(x), Buf::Absent, Buf::Absent, out(n)]
            };
            run_f32(LayerNorm { rows: r, len: l, eps, affine }, &mut b);
            let y = b[3].f().to_vec();
            let mut err = 0.0;
            for row in 0..r {
                let rr = ln_row(&x[row * l..(row + 1) * l], eps);
                for j in 0..l {
                    err += f64::from(g[row * l + j]).abs()
                        * ln_out_err(&rr, j, f64::from(gm[j]), f64::from(bt[j]));
                }
            }
            let (_, le) = lin(g, &y);
            (y, err + le)
        };
        let mut bufs = if affine {
            [f(g), f(x), f(gm), out(n), out(l), out(l)]
        } else {
            [f(g), f(x), Buf::Absent, out(n), Buf::Absent, Buf::Absent]
        };
        run_f32(LayerNormBackward { rows: r, len: l, eps, affine }, &mut bufs);
        let dx = bufs[3].f().to_vec();

        // --- d_x. Remainder: per row, x̂ = √L·(first L coordinates of Z/|Z|) with
        // Z = (x − μ, √(L·eps)) ∈ ℝ^{L+1}; along a line with direction w (‖w‖ ≤ ‖v‖, the
        // centred v), the third derivative of Z/|Z| is at most 12‖w‖³/|Z|³ (Legendre
        // generating function: |d^k/dt^k |Z+tw|^{-1}| ≤ k!·‖w‖^k/|Z|^{k+1}, and
        // (Z + tw)/|Z + tw| differentiates to 3!/|Z|³ + 3·2!/|Z|³ per ‖w‖³). |Z| only
        // shrinks by h‖v‖ over the segment. So |L'''| ≤ Σ_rows ‖G⊙γ‖₂·√L·12‖v‖₂³/(|Z|−h‖v‖)³.
        let mut trunc = 0.0;
        let mut bw_err = 0.0;
        for row in 0..r {
            let xs = &x[row * l..(row + 1) * l];
            let rr = ln_row(xs, eps);
            let zn = (l as f64).sqrt() / rr.rstd;
            let vn = (row * l..(row + 1) * l).map(|q| f64::from(v[q]).powi(2)).sum::<f64>().sqrt();
            let gg = (0..l).map(|j| (f64::from(g[row * l + j]) * f64::from(gm[j])).powi(2)).sum::<f64>().sqrt();
            let zmin = zn - f64::from(H) * vn;
            trunc += gg * (l as f64).sqrt() * 12.0 * vn.powi(3) / zmin.powi(3);
            // Backward rounding: dX = rstd/L·(L·g − Σg − x̂·Σ(g·x̂)) with g = dY⊙γ. The
            // sums carry γ_L, x̂ its error e_xhat, rstd its relative ρ; the products,
            // subtractions and the final scaling five more roundings of terms no larger
            // than M_j = L|g_j| + Σ|g| + |x̂_j|·Σ|g·x̂|.
            let gv: Vec<f64> = (0..l).map(|j| f64::from(g[row * l + j]) * f64::from(gm[j])).collect();
            let sg: f64 = gv.iter().map(|a| a.abs()).sum();
            let sgx: f64 = gv.iter().zip(&rr.xhat).map(|(a, b)| (a * b).abs()).sum();
            let sge: f64 = gv.iter().zip(&rr.e_xhat).map(|(a, b)| a.abs() * b).sum();
            for j in 0..l {
                let mj = l as f64 * gv[j].abs() + sg + rr.xhat[j].abs() * sgx;
                let inner = gamma(l, U32) * (sg + rr.xhat[j].abs() * sgx)
                    + rr.e_xhat[j] * (sgx + sge)
                    + rr.xhat[j].abs() * sge
                    + 5.0 * U32 * mj;
                let ej = rr.rstd / l as f64 * inner * (1.0 + rr.rho) + f64::from(dx[row * l + j]).abs() * (rr.rho + U32);
                bw_err += f64::from(v[row * l + j]).abs() * ej * (1.0 + 4.0 * rr.rho);
            }
        }
        trunc *= f64::from(H).powi(2) / 6.0;
        let (yp, ep) = fwd(&shifted(x, v, 1.0), gm, bt);
        let (ym, em) = fwd(&shifted(x, v, -1.0), gm, bt);
        let (bw, bwe) = lin(v, &dx);
        check_fd("layer_norm d_x", dot64(g, &yp), dot64(g, &ym), ep + em, trunc, bw, bw_err + bwe)?;

        if affine {
            let (dgam, dbet) = (bufs[4].f().to_vec(), bufs[5].f().to_vec());
            // dγ_j = Σ_rows dY·x̂: γ_R on the sum, and each x̂ off by e_xhat. dβ_j = Σ dY: γ_R.
            let rows: Vec<LnRow> = (0..r).map(|row| ln_row(&x[row * l..(row + 1) * l], eps)).collect();
            let mut eg = 0.0;
            let mut eb = 0.0;
            for j in 0..l {
                let s: f64 = (0..r).map(|row| (f64::from(g[row * l + j]) * rows[row].xhat[j]).abs()).sum();
                let se: f64 = (0..r).map(|row| f64::from(g[row * l + j]).abs() * rows[row].e_xhat[j]).sum();
                let sb: f64 = (0..r).map(|row| f64::from(g[row * l + j]).abs()).sum();
                eg += f64::from(vg[j]).abs() * ((gamma(r, U32) * (s + se) + se) * (1.0 + U32) + U32 * f64::from(dgam[j]).abs());
                eb += f64::from(vb[j]).abs() * gamma(r, U32) * sb;
            }
            // L is linear in γ and in β: no remainder.
            let (yp, ep) = fwd(x, &shifted(gm, vg, 1.0), bt);
            let (ym, em) = fwd(x, &shifted(gm, vg, -1.0), bt);
            let (bw, bwe) = lin(vg, &dgam);
            check_fd("layer_norm d_gamma", dot64(g, &yp), dot64(g, &ym), ep + em, 0.0, bw, eg + bwe)?;
            let (yp, ep) = fwd(x, gm, &shifted(bt, vb, 1.0));
            let (ym, em) = fwd(x, gm, &shifted(bt, vb, -1.0));
            let (bw, bwe) = lin(vb, &dbet);
            check_fd("layer_norm d_beta", dot64(g, &yp), dot64(g, &ym), ep + em, 0.0, bw, eb + bwe)?;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Identities between ops.

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Rows sum to 1 and `log_softmax = ln softmax`.
    #[test]
    fn softmax_sums_to_one_and_log_softmax_is_its_log(
        r in 1usize..4, l in 1usize..10, x in pool(-8.0f32..8.0, 40),
    ) {
        let n = r * l;
        let x = &x[..n];
        let mut sm = [f(x), out(n)];
        run_f32(Softmax { rows: r, len: l }, &mut sm);
        let mut ls = [f(x), out(n)];
        run_f32(LogSoftmax { rows: r, len: l }, &mut ls);
        let (y, lsv) = (sm[1].f(), ls[1].f());
        for row in 0..r {
            let ys = &y[row * l..(row + 1) * l];
            // x − max rounds once (|x − max| ≤ 16), exp once, the sum γ_{L−1}, the
            // division once: each ŷ_i = y_i(1 + θ), |θ| ≤ γ_{L+2}; the f64 sum adds γ_L(f64).
            let s: f64 = ys.iter().map(|&v| f64::from(v)).sum();
            let bound = gamma(l + 2, U32) * (1.0 + gamma(l, U64)) + gamma(l, U64);
            prop_assert!((s - 1.0).abs() <= bound, "row sum {s}");
            // log_softmax vs ln(ŷ): ŷ's relative error γ_{L+2} becomes ≤ 2γ_{L+2} absolute
            // through ln; log_softmax's own: the sum's relative γ_L → 2γ_L absolute, the
            // roundings of x − max, ln (|lse| ≤ 16 + ln L) and the final subtraction.
            let m = x[row * l..(row + 1) * l].iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            for j in 0..l {
                let q = row * l + j;
                let lse_mag = 16.0 + (l as f64).ln();
                let bound = 2.0 * gamma(l + 2, U32)
                    + 2.0 * gamma(l, U32)
                    + U32 * (f64::from(x[q] - m).abs() + lse_mag + f64::from(lsv[q]).abs() * 2.0);
                let diff = (f64::from(lsv[q]) - f64::from(y[q]).ln()).abs();
                prop_assert!(diff <= bound, "log_softmax {} vs ln softmax {}", lsv[q], f64::from(y[q]).ln());
            }
        }
    }

    /// `hebbian_update` equals `(1 − decay)·W + lr·(Preᵀ·Post)` with `Preᵀ` from the
    /// transpose op and the product from matmul.
    #[test]
    fn hebbian_is_transpose_then_matmul(
        bb in 1usize..3, m in 1usize..4, k in 1usize..5, n in 1usize..5, f16_call in any::<bool>(),
        pre in pool(grid(), 24), post in pool(grid(), 24), w in pool(grid(), 25),
        lr in prop_oneof![Just(0.5f32), Just(0.01f32), -1.0f32..1.0], decay in prop_oneof![Just(0.0f32), 0.0f32..0.5],
    ) {
        let dt = if f16_call { F16 } else { F32 };
        let rows = bb * m;
        let (pre, post, w) = (&pre[..rows * k], &post[..rows * n], &w[..k * n]);
        let mut heb = [f(pre), f(post), f(w)];
        run_ok(HebbianUpdate { b: bb, m, k, n, lr, decay }, dt, &mut heb);
        let mut tr = [f(pre), out(rows * k)];
        run_ok(Transpose { rows, cols: k }, dt, &mut tr);
        let mut mm = [f(tr[1].f()), f(post), out(k * n)];
        run_ok(MatMul { b: 1, m: k, k: rows, n }, dt, &mut mm);
        let s = mm[2].f();
        for q in 0..k * n {
            let kk = q / n;
            let j = q % n;
            let terms: f64 = (0..rows).map(|rw| (f64::from(pre[rw * k + kk]) * f64::from(post[rw * n + j])).abs()).sum();
            let keep = f64::from(1.0f32 - decay);
            let want = keep * f64::from(w[q]) + f64::from(lr) * f64::from(s[q]);
            // Both sums of the B·M products carry ≤ γ_rows·Σ|terms| each (any order);
            // in f16 the matmul result is also rounded to f16 (u16 = 2^-11 relative).
            // Then (1−decay)·w, lr·s, their sum: three f32 roundings; and the final
            // store (u16 relative in f16).
            let u_out = if f16_call { 1.0 / 2048.0 } else { U32 };
            let s_err = 2.0 * gamma(rows, U32) * terms + if f16_call { f64::from(s[q]).abs() / 2048.0 } else { 0.0 };
            let bound = f64::from(lr).abs() * s_err * (1.0 + U32)
                + 3.0 * U32 * (keep * f64::from(w[q]).abs() + (f64::from(lr) * f64::from(s[q])).abs())
                + u_out * want.abs() * (1.0 + 4.0 * U32);
            let got = f64::from(heb[2].f()[q]);
            prop_assert!((got - want).abs() <= bound, "{dt}: W[{kk},{j}] = {got}, via matmul {want}, bound {bound}");
        }
    }

    /// `dynamic_token_assignment` picks the argmax of the scores `act·protoᵀ` from matmul
    /// (with the transpose op), first maximum winning; a different pick is allowed only
    /// between near-tied scores (within the dot-product bound).
    #[test]
    fn token_assignment_is_argmax_of_matmul(
        bb in 1usize..3, s in 1usize..4, e in 1usize..5, t in 0usize..6, f16_call in any::<bool>(),
        act in pool(prop_oneof![8 => grid(), 1 => Just(f32::NAN), 1 => Just(0.0f32)], 24),
        proto in pool(prop_oneof![8 => (-4i32..=4).prop_map(|k| k as f32), 1 => Just(f32::NAN)], 24),
    ) {
        let rows = bb * s;
        let (act, proto) = (&act[..rows * e], &proto[..t * e]);
        let dt = if f16_call { F16 } else { F32 };
        let mut dta = [f(act), f(proto), out_i(rows), out(rows)];
        run_ok(DynamicTokenAssignment { b: bb, s, e, t, want_best: true }, dt, &mut dta);
        // Scores in f32 (exact for these inputs in f16 too: the f16 call sees the same
        // values, widened), through the transpose op and matmul.
        let mut tr = [f(proto), out(t * e)];
        run_ok(Transpose { rows: t, cols: e }, F32, &mut tr);
        let mut sc = [f(act), f(tr[1].f()), out(rows * t)];
        run_ok(MatMul { b: 1, m: rows, k: e, n: t }, F32, &mut sc);
        let scores = sc[2].f();
        for rw in 0..rows {
            let row = &scores[rw * t..(rw + 1) * t];
            let mut want = -1i32;
            let mut top = f32::NEG_INFINITY;
            for (j, &v) in row.iter().enumerate() {
                if v > top {
                    top = v;
                    want = j as i32;
                }
            }
            let got = dta[2].i()[rw];
            if got != want {
                // Only a near tie may differ: both real candidates, scores within
                // 2γ_E·Σ|a·p| of each other.
                prop_assert!(got >= 0 && want >= 0, "row {rw}: {got} vs {want}");
                let bound = |j: usize| gamma(e, U32) * absdot64(&act[rw * e..(rw + 1) * e], &proto[j * e..(j + 1) * e]);
                let (g, w) = (got as usize, want as usize);
                // The reference sums each score in the same documented order as matmul
                // (Σ_e ascending, f32), so an exact tie here is a tie there too, and the
                // first maximum must win it.
                prop_assert!(row[g] != row[w], "row {rw}: exact tie won by {got}, not the first ({want})");
                prop_assert!((row[g] - row[w]).abs() as f64 <= bound(g) + bound(w), "row {rw}: {got} vs {want}");
            }
            let best = dta[3].f()[rw];
            let want_best = if got >= 0 { to_dt(dt, row[got as usize]) } else { f32::NEG_INFINITY };
            prop_assert!(best == want_best, "row {rw}: best {best} vs score {want_best}");
        }
    }

    /// Segment counts sum to the number of valid indices, and each segment's sum is the
    /// sum of its rows.
    #[test]
    fn segmented_counts_and_sums(
        m in 0usize..12, e in 1usize..4, t in 1usize..5,
        idx in proptest::collection::vec(-2i32..7, 12), act in pool(-4.0f32..4.0, 36),
    ) {
        let (idx, act) = (&idx[..m], &act[..m * e]);
        let mut b = [f(act), i(idx), out(t * e), out_i(t)];
        run_f32(ProtoSegmentedSum { m, e, t, mode: SumMode::Deterministic }, &mut b);
        let valid = idx.iter().filter(|&&x| x >= 0 && (x as usize) < t).count();
        let counts = b[3].i();
        prop_assert_eq!(counts.iter().map(|&c| c as usize).sum::<usize>(), valid);
        for seg in 0..t {
            let members: Vec<usize> = (0..m).filter(|&r| idx[r] == seg as i32).collect();
            prop_assert_eq!(counts[seg] as usize, members.len());
            for j in 0..e {
                let want: f64 = members.iter().map(|&r| f64::from(act[r * e + j])).sum();
                let mag: f64 = members.iter().map(|&r| f64::from(act[r * e + j]).abs()).sum();
                let got = f64::from(b[2].f()[seg * e + j]);
                prop_assert!((got - want).abs() <= gamma(members.len(), U32) * mag * (1.0 + gamma(members.len(), U64)));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// f16 against f32.

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// For every op: run it in f32 and in f16 on the same f16-representable inputs; each
    /// float output of the f16 call is the f32 result rounded to f16, within one f16 ulp
    /// (the f32 path computes the same f32 intermediates, then either stores them or —
    /// for ops evaluated in f64 — rounds to f32 first, a double rounding that can differ
    /// from the f16 path's single rounding by one ulp); index outputs and Adam's f32
    /// moments are equal.
    ///
    /// Where this does not hold: inputs that are not f16 values (the f16 call sees them
    /// rounded, e.g. `threshold_spike` of 0.5000001 against 0.5), and results within half
    /// an f32 ulp of the f16 overflow boundary 65520 (one path gives 65504, the other
    /// inf). Neither occurs with the inputs generated here.
    #[test]
    fn f16_is_f32_rounded(
        kind in 0usize..31, d in [1usize..4, 1usize..4, 1usize..4, 1usize..4], flags in any::<[bool; 2]>(),
        values in pool((-64i32..=64).prop_map(|k| k as f32 / 16.0), 13),
        ints in proptest::collection::vec(-1i32..5, 7),
    ) {
        let op = small_op(OpKind::ALL[kind], d, flags);
        // The inputs are f16 values already (k/16 with |k| ≤ 64), so both calls see the
        // same numbers.
        let mut a32 = slots_for(&op, F32, &values, &ints);
        let mut a16 = a32.clone();
        run_ok(op, F32, &mut a32);
        run_ok(op, F16, &mut a16);
        let operands = op.validate().unwrap();
        for (spec, (x, y)) in operands.iter().zip(a32.iter().zip(&a16)) {
            if !spec.present || !spec.role.is_written() {
                continue;
            }
            match (x, y) {
                (Buf::F(r32), Buf::F(r16)) => {
                    for (j, (&p, &q)) in r32.iter().zip(r16).enumerate() {
                        let rounded = h(p);
                        let ok = (rounded.is_nan() && q.is_nan())
                            || rounded == q
                            || (f64::from(rounded) - f64::from(q)).abs() <= ulp(F16, f64::from(rounded));
                        prop_assert!(ok, "{} `{}`[{j}]: f32 {p} → f16 {rounded}, f16 call {q}", op.name(), spec.name);
                    }
                }
                (Buf::F32(r32), Buf::F32(r16)) => {
                    prop_assert!(r32.iter().zip(r16).all(|(a, b)| a == b || (a.is_nan() && b.is_nan())),
                        "{} `{}`: f32 moments differ", op.name(), spec.name);
                }
                (Buf::I(r32), Buf::I(r16)) => prop_assert_eq!(r32, r16, "{} `{}`", op.name(), spec.name),
                _ => prop_assert!(false, "slot kinds differ"),
            }
        }
    }

    /// The f64 → f16 rounding the reference uses is correctly rounded (nearest, ties to
    /// even), including subnormals and overflow: the result's two neighbours are farther
    /// away, which is checked exactly through the midpoints (f16 midpoints are f64 values).
    #[test]
    fn f16_from_f64_is_correctly_rounded(
        x in prop_oneof![
            any::<f64>(),
            -70000.0f64..70000.0,
            -1e-4f64..1e-4,
            (0u16..0x7c00, any::<bool>(), -1i64..=1).prop_map(|(b, up, k)| {
                // near a midpoint between two f16 values
                let lo = f64::from(f16::from_bits(b).to_f32());
                let hi = f64::from(f16::from_bits(b + 1).to_f32());
                let mid = 0.5 * (lo + hi);
                let step = mid.abs() * f64::EPSILON * k as f64;
                if up { mid + step } else { -(mid + step) }
            }),
        ],
    ) {
        let r = f16_from_f64(x);
        if x.is_nan() {
            prop_assert!(r.is_nan());
            return Ok(());
        }
        let (ax, neg) = (x.abs(), x.is_sign_negative());
        prop_assert_eq!(r.is_sign_negative(), neg, "sign of {}", x);
        let bits = r.to_bits() & 0x7fff;
        let val = |b: u16| f64::from(f16::from_bits(b).to_f32());
        if bits == 0x7c00 {
            // inf: x at or beyond the midpoint between 65504 and 2^16.
            prop_assert!(ax >= 65520.0, "{x} rounded to inf");
        } else {
            let c = val(bits);
            let hi = if bits == 0x7bff { 65520.0 } else { 0.5 * (c + val(bits + 1)) };
            let lo = if bits == 0 { 0.0 } else { 0.5 * (c + val(bits - 1)) };
            let even = bits & 1 == 0;
            prop_assert!(ax < hi || (ax == hi && even), "{x} rounded to {c}: above the midpoint {hi}");
            prop_assert!(ax > lo || (ax == lo && even) || bits == 0, "{x} rounded to {c}: below the midpoint {lo}");
        }
        // For an f32 argument it agrees with half's (single-rounding) f32 conversion.
        let y = x as f32;
        prop_assert_eq!(f16_from_f64(f64::from(y)).to_bits(), f16::from_f32(y).to_bits());
    }
}
