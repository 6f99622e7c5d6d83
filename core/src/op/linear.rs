//! The GEMM family: matmul and its backward products, the batched forms, Hebbian
//! learning and pairwise similarity. On every GPU backend these are one tiled GEMM.

use super::{OpDesc, OpKind};
use crate::error::Error;
use crate::operand::{count, finite, ElemRule::Float, OperandSpec as S, Operands};

/// `matmul`: `A (B,M,K)`, `W (K,N)` → `C (B,M,N)`,
/// `C[b,m,n] = Σ_k A[b,m,k]·W[k,n]` (`W` shared by all batches).
///
/// Operands: `a`, `w`, `c`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MatMul {
    /// Batches.
    pub b: usize,
    /// Rows per batch.
    pub m: usize,
    /// Reduction length.
    pub k: usize,
    /// Output columns.
    pub n: usize,
}

impl OpDesc for MatMul {
    const KIND: OpKind = OpKind::MatMul;
    fn operands(&self) -> Result<Operands, Error> {
        let op = Self::KIND.name();
        let (b, m, k, n) = (self.b, self.m, self.k, self.n);
        Ok(Operands::from_slice(&[
            S::input("a", Float, count(op, "a", &[b, m, k])?),
            S::input("w", Float, count(op, "w", &[k, n])?),
            S::output("c", Float, count(op, "c", &[b, m, n])?),
        ]))
    }
}

/// `matmul_backward`: `A (B,M,K)`, `W (K,N)`, `dC (B,M,N)` →
/// `dA (B,M,K) = dC·Wᵀ` and `dW (K,N) = Σ_b A[b]ᵀ·dC[b]`, each optional.
///
/// Operands: `a`, `w`, `d_c`, `d_a` (if `want_d_a`), `d_w` (if `want_d_w`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MatMulBackward {
    /// Batches.
    pub b: usize,
    /// Rows per batch.
    pub m: usize,
    /// Inner dim of the forward product.
    pub k: usize,
    /// Output columns of the forward product.
    pub n: usize,
    /// Compute `d_a`.
    pub want_d_a: bool,
    /// Compute `d_w`.
    pub want_d_w: bool,
}

impl OpDesc for MatMulBackward {
    const KIND: OpKind = OpKind::MatMulBackward;
    fn operands(&self) -> Result<Operands, Error> {
        let op = Self::KIND.name();
        let (b, m, k, n) = (self.b, self.m, self.k, self.n);
        let a = count(op, "a", &[b, m, k])?;
        let w = count(op, "w", &[k, n])?;
        Ok(Operands::from_slice(&[
            S::input("a", Float, a),
            S::input("w", Float, w),
            S::input("d_c", Float, count(op, "d_c", &[b, m, n])?),
            S::output("d_a", Float, a).optional(self.want_d_a),
            S::output("d_w", Float, w).optional(self.want_d_w),
        ]))
    }
}

/// `matmul_batched`: `A (B,M,K)`, `W (B,K,N)` → `C (B,M,N)`, `C[b] = A[b]·W[b]`.
///
/// Operands: `a`, `w`, `c`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MatMulBatched {
    /// Batches.
    pub b: usize,
    /// Rows per batch.
    pub m: usize,
    /// Reduction length.
    pub k: usize,
    /// Output columns.
    pub n: usize,
}

impl OpDesc for MatMulBatched {
    const KIND: OpKind = OpKind::MatMulBatched;
    fn operands(&self) -> Result<Operands, Error> {
        let op = Self::KIND.name();
        let (b, m, k, n) = (self.b, self.m, self.k, self.n);
        Ok(Operands::from_slice(&[
            S::input("a", Float, count(op, "a", &[b, m, k])?),
            S::input("w", Float, count(op, "w", &[b, k, n])?),
            S::output("c", Float, count(op, "c", &[b, m, n])?),
        ]))
    }
}

/// `matmul_batched_backward`: `dA[b] = dC[b]·W[b]ᵀ`, `dW[b] = A[b]ᵀ·dC[b]`, each optional.
///
/// Operands: `a (B,M,K)`, `w (B,K,N)`, `d_c (B,M,N)`, `d_a`, `d_w`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MatMulBatchedBackward {
    /// Batches.
    pub b: usize,
    /// Rows per batch.
    pub m: usize,
    /// Inner dim of the forward product.
    pub k: usize,
    /// Output columns of the forward product.
    pub n: usize,
    /// Compute `d_a`.
    pub want_d_a: bool,
    /// Compute `d_w`.
    pub want_d_w: bool,
}

impl OpDesc for MatMulBatchedBackward {
    const KIND: OpKind = OpKind::MatMulBatchedBackward;
    fn operands(&self) -> Result<Operands, Error> {
        let op = Self::KIND.name();
        let (b, m, k, n) = (self.b, self.m, self.k, self.n);
        let a = count(op, "a", &[b, m, k])?;
        let w = count(op, "w", &[b, k, n])?;
        Ok(Operands::from_slice(&[
            S::input("a", Float, a),
            S::input("w", Float, w),
            S::input("d_c", Float, count(op, "d_c", &[b, m, n])?),
            S::output("d_a", Float, a).optional(self.want_d_a),
            S::output("d_w", Float, w).optional(self.want_d_w),
        ]))
    }
}

/// `hebbian_update` (in place): `pre (B,M,K)`, `post (B,M,N)`, `W (K,N)`,
/// `W ← (1 − decay)·W + lr·Σ_{b,m} pre[b,m,:]ᵀ ⊗ post[b,m,:]`.
///
/// Operands: `pre`, `post`, `w` (in/out). `lr` and `decay` must be finite.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct HebbianUpdate {
    /// Batches.
    pub b: usize,
    /// Rows per batch (the sum runs over the `B·M` flattened rows).
    pub m: usize,
    /// Pre-synaptic width (rows of `W`).
    pub k: usize,
    /// Post-synaptic width (columns of `W`).
    pub n: usize,
    /// Learning rate.
    pub lr: f32,
    /// Weight decay toward zero (0: the seed's plain Hebbian rule).
    pub decay: f32,
}

impl OpDesc for HebbianUpdate {
    const KIND: OpKind = OpKind::HebbianUpdate;
    fn operands(&self) -> Result<Operands, Error> {
        let op = Self::KIND.name();
        let (b, m, k, n) = (self.b, self.m, self.k, self.n);
        Ok(Operands::from_slice(&[
            S::input("pre", Float, count(op, "pre", &[b, m, k])?),
            S::input("post", Float, count(op, "post", &[b, m, n])?),
            S::in_out("w", Float, count(op, "w", &[k, n])?),
        ]))
    }
    fn check_scalars(&self) -> Result<(), Error> {
        let op = Self::KIND.name();
        finite(op, "lr", self.lr)?;
        finite(op, "decay", self.decay)
    }
}

/// `pairwise_similarity`: `X (N,D)` → `S (N,N) = X·Xᵀ`.
///
/// Operands: `x`, `s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PairwiseSimilarity {
    /// Rows.
    pub n: usize,
    /// Row width.
    pub d: usize,
}

impl OpDesc for PairwiseSimilarity {
    const KIND: OpKind = OpKind::PairwiseSimilarity;
    fn operands(&self) -> Result<Operands, Error> {
        let op = Self::KIND.name();
        Ok(Operands::from_slice(&[
            S::input("x", Float, count(op, "x", &[self.n, self.d])?),
            S::output("s", Float, count(op, "s", &[self.n, self.n])?),
        ]))
    }
}
