//! The GEMM primitive: `C[b] = alpha·op(A[b])·op(B[b]) + (accumulate ? beta·C[b] : 0)`.
//!
//! Every GEMM-shaped op lowers to it ([`crate::lower`]): `matmul` and its backward
//! products, the batched forms, `hebbian_update` (`alpha = lr`, `beta = 1 − decay`,
//! `A = Preᵀ`, accumulating), `pairwise_similarity` (`B = Aᵀ`) and the scores of
//! `dynamic_token_assignment` (an `f32` output). A backend implements it once, with
//! whatever tiling and packing suit its hardware, and the sum may run in any order
//! (the conformance bound covers every order).

/// A matrix operand: `op(X)[i, p]` is `X[i·ld + p]`, or `X[p·ld + i]` when `trans`;
/// batch `b` starts at `b·stride` elements (`stride = 0`: one matrix for every batch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatRef<B> {
    /// The buffer.
    pub buf: B,
    /// Leading dimension (elements between rows of the stored matrix).
    pub ld: usize,
    /// Elements between batches; 0 shares the matrix across batches.
    pub stride: usize,
    /// Read transposed.
    pub trans: bool,
}

/// The output: `C[b][i, j]` is `C[b·stride + i·ld + j]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatOut<B> {
    /// The buffer.
    pub buf: B,
    /// Leading dimension.
    pub ld: usize,
    /// Elements between batches.
    pub stride: usize,
}

/// One GEMM step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gemm<B> {
    /// Rows of `op(A)` and `C`.
    pub m: usize,
    /// Columns of `op(B)` and `C`.
    pub n: usize,
    /// The reduction length.
    pub k: usize,
    /// Batches.
    pub batch: usize,
    /// `A`, in the call's storage type.
    pub a: MatRef<B>,
    /// `B`, in the call's storage type.
    pub b: MatRef<B>,
    /// `C`, in the storage type, or `f32` when `c_f32`.
    pub c: MatOut<B>,
    /// Scale of the product.
    pub alpha: f32,
    /// Scale of the old `C` when `accumulate`.
    pub beta: f32,
    /// Read `C` (`beta·C + alpha·AB`, evaluated as written); otherwise `C` is only written.
    pub accumulate: bool,
    /// `C` is an `f32` buffer whatever the storage type (score matrices).
    pub c_f32: bool,
}

impl<B> Gemm<B> {
    /// The same GEMM over other buffer handles.
    pub fn try_map<C, E>(&self, mut f: impl FnMut(&B) -> Result<C, E>) -> Result<Gemm<C>, E> {
        Ok(Gemm {
            m: self.m,
            n: self.n,
            k: self.k,
            batch: self.batch,
            a: MatRef {
                buf: f(&self.a.buf)?,
                ld: self.a.ld,
                stride: self.a.stride,
                trans: self.a.trans,
            },
            b: MatRef {
                buf: f(&self.b.buf)?,
                ld: self.b.ld,
                stride: self.b.stride,
                trans: self.b.trans,
            },
            c: MatOut {
                buf: f(&self.c.buf)?,
                ld: self.c.ld,
                stride: self.c.stride,
            },
            alpha: self.alpha,
            beta: self.beta,
            accumulate: self.accumulate,
            c_f32: self.c_f32,
        })
    }

    /// The shape alone (what a device needs to size its workspace).
    pub fn shape(&self) -> Gemm<()> {
        self.try_map(|_| Ok::<_, core::convert::Infallible>(()))
            .unwrap_or_else(|e| match e {})
    }

    /// True when the GEMM writes nothing.
    pub fn is_empty(&self) -> bool {
        self.m == 0 || self.n == 0 || self.batch == 0
    }
}
