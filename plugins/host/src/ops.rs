//! The typed API: one method of [`Device`] per op of the catalog. Each builds the op's
//! descriptor from the tensors' shapes, checks the shapes, and runs it through
//! [`Backend::run`](neurokern_core::Backend::run()) (which validates lengths, element
//! types, aliasing and scalars, and checks that every tensor lives on this device).
//!
//! Every op comes in two forms: `dev.matmul(&a, &w)?` allocates and returns its outputs;
//! `dev.matmul_into(&a, &w, &mut c)?` writes outputs the caller allocated (with exactly the
//! shape the allocating form would give). Ops that update a tensor in place
//! (`adam_update`, `hebbian_update`, `proto_update_step`, `add_assign`) have one form.
//!
//! Shapes follow one rule: **wherever an op works on rows, every dim but the last is a
//! row dim**, flattened — `softmax`, `layer_norm`, `matmul` (`A (…,K)·W (K,N) → (…,N)`),
//! `add_bias`, `reduce_sum_01`, `cross_entropy_loss_grad` (`logp (…,V)`, `target (…)`),
//! `dynamic_token_assignment`, `proto_segmented_sum`, `shape_loss`, `hebbian_update`;
//! `embedding_lookup` takes indices of any shape (`(…) → (…,D)`); per-row operands (a
//! target, a loss) have the row dims' shape (or that shape flattened). Batched ops
//! (`matmul_batched`, `transpose_batched`, `transpose_12`, `add_broadcast_pe`) flatten the
//! dims before their batch dim into it. Elsewhere a leading dim of 1 may be added or left
//! out. Errors print the shape the caller passed, and the expected shape in the caller's
//! rank. The float dtype of a call is the element type of its first float operand.

use neurokern_core::op::{
    AdamUpdate, Add, AddBias, AddBroadcastPe, CrossEntropyLossGrad, DynamicTokenAssignment,
    EmbeddingBackward, EmbeddingLookup, Gelu, GeluBackward, HebbianUpdate, LayerNorm,
    LayerNormBackward, LogSoftmax, MatMul, MatMulBackward, MatMulBatched, MatMulBatchedBackward,
    Mul, MulBackward, PairwiseSimilarity, ProtoSegmentedSum, ProtoUpdateStep, ReduceSum01,
    ShapeLoss, Softmax, SoftmaxBackward, SumMode, ThresholdSpike, Transpose, Transpose12,
    TransposeBatched,
};
use neurokern_core::{Backend, ElemType, FloatType, Op};

use crate::device::{Device, Tensor};
use crate::error::{Error, Result};

/// Adam's hyper-parameters for [`Device::adam_update`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamParams {
    /// Learning rate.
    pub lr: f32,
    /// First-moment decay.
    pub beta1: f32,
    /// Second-moment decay.
    pub beta2: f32,
    /// Added to the denominator.
    pub eps: f32,
    /// Weight decay.
    pub weight_decay: f32,
    /// AdamW (decoupled weight decay) instead of L2.
    pub decoupled: bool,
}

impl Default for AdamParams {
    fn default() -> Self {
        AdamParams {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
        }
    }
}

fn float(op: &'static str, operand: &'static str, t: &Tensor) -> Result<FloatType> {
    match t.elem() {
        ElemType::F32 => Ok(FloatType::F32),
        ElemType::F16 => Ok(FloatType::F16),
        got => Err(Error::ElemType {
            op,
            operand,
            expected: "f32 or f16",
            got,
        }),
    }
}

/// The shape as exactly `N` dims: leading 1s are added or removed as needed.
fn dims<const N: usize>(op: &'static str, operand: &'static str, t: &Tensor) -> Result<[usize; N]> {
    let s = strip_to(t.shape(), N);
    if s.len() > N {
        return Err(Error::Shape {
            op,
            operand,
            expected: format!("at most {N} dims (leading dims of 1 aside)"),
            got: t.shape().to_vec(),
        });
    }
    let mut out = [1usize; N];
    out[N - s.len()..].copy_from_slice(s);
    Ok(out)
}

/// Leading 1s removed while more than `n` dims remain.
fn strip_to(mut s: &[usize], n: usize) -> &[usize] {
    while s.len() > n && s[0] == 1 {
        s = &s[1..];
    }
    s
}

/// The shape as exactly `N` dims for a batched op: leading dims of 1 are added, and
/// extra leading dims are flattened into the first (the batch dim).
fn batched<const N: usize>(
    op: &'static str,
    operand: &'static str,
    t: &Tensor,
) -> Result<[usize; N]> {
    let s = t.shape();
    let mut out = [1usize; N];
    if s.len() <= N {
        out[N - s.len()..].copy_from_slice(s);
        return Ok(out);
    }
    let cut = s.len() - N + 1;
    out[0] = product(op, operand, t, &s[..cut])?;
    out[1..].copy_from_slice(&s[cut..]);
    Ok(out)
}

/// The product of `dims` (a part of `t`'s shape), or a shape error when it overflows.
fn product(op: &'static str, operand: &'static str, t: &Tensor, dims: &[usize]) -> Result<usize> {
    crate::device::numel(dims).ok_or_else(|| Error::Shape {
        op,
        operand,
        expected: "dims whose product fits usize".into(),
        got: t.shape().to_vec(),
    })
}

/// `(row dims, rows, last)`: every dim but the last is a row dim.
fn rows_of<'t>(
    op: &'static str,
    operand: &'static str,
    t: &'t Tensor,
) -> Result<(&'t [usize], usize, usize)> {
    let s = t.shape();
    let (lead, last) = match s.split_last() {
        Some((&last, lead)) => (lead, last),
        None => (s, 1),
    };
    Ok((lead, product(op, operand, t, lead)?, last))
}

fn strip(mut s: &[usize]) -> &[usize] {
    while s.first() == Some(&1) {
        s = &s[1..];
    }
    s
}

/// `want` written in the rank of `got` where leading 1s allow it.
fn in_rank(want: &[usize], rank: usize) -> Vec<usize> {
    let core = strip(want);
    let mut v = vec![1; rank.saturating_sub(core.len())];
    v.extend_from_slice(core);
    v
}

fn expect(op: &'static str, operand: &'static str, t: &Tensor, want: &[usize]) -> Result<()> {
    if strip(t.shape()) == strip(want) {
        Ok(())
    } else {
        Err(Error::Shape {
            op,
            operand,
            expected: format!("{:?}", in_rank(want, t.shape().len())),
            got: t.shape().to_vec(),
        })
    }
}

/// A per-row operand: the row dims' shape `lead`, or those dims flattened (`[rows]`).
fn expect_rows(
    op: &'static str,
    operand: &'static str,
    t: &Tensor,
    lead: &[usize],
    rows: usize,
) -> Result<()> {
    if strip(t.shape()) == strip(&[rows]) {
        return Ok(());
    }
    expect(op, operand, t, lead)
}

/// `lead` followed by `last`: an output's shape in the caller's rank.
fn with_last(lead: &[usize], last: usize) -> Vec<usize> {
    let mut v = lead.to_vec();
    v.push(last);
    v
}

fn same(op: &'static str, operand: &'static str, t: &Tensor, like: &Tensor) -> Result<()> {
    expect(op, operand, t, like.shape())
}

fn opt<'a>(t: &'a Option<&mut Tensor>) -> Option<&'a Tensor> {
    t.as_deref()
}

/// An output of `shape` with the element type of `like`.
fn out(dev: &Device, like: &Tensor, shape: &[usize]) -> Result<Tensor> {
    dev.zeros(like.elem(), shape)
}

impl Device {
    fn go(&self, op: Op, dtype: FloatType, args: &[Option<&Tensor>]) -> Result<()> {
        let bufs: Vec<_> = args.iter().map(|a| a.map(Tensor::buffer)).collect();
        self.run(&op, dtype, &bufs)
    }

    /// Whether this device runs `kind` in `dtype` (the same as [`Backend::supports`],
    /// without importing the trait).
    pub fn supports(&self, kind: neurokern_core::OpKind, dtype: FloatType) -> bool {
        <Device as Backend>::supports(self, kind, dtype)
    }

    /// `matmul`: `C (…,N) = A (…,K) · W (K,N)` (every dim of `A` but the last is a row).
    pub fn matmul(&self, a: &Tensor, w: &Tensor) -> Result<Tensor> {
        let (lead, _, _) = rows_of("matmul", "a", a)?;
        let [_, n] = dims::<2>("matmul", "w", w)?;
        let mut c = out(self, a, &with_last(lead, n))?;
        self.matmul_into(a, w, &mut c)?;
        Ok(c)
    }

    /// [`matmul`](Self::matmul) into a caller-allocated `c`.
    pub fn matmul_into(&self, a: &Tensor, w: &Tensor, c: &mut Tensor) -> Result<()> {
        const OP: &str = "matmul";
        let dt = float(OP, "a", a)?;
        let (lead, m, k) = rows_of(OP, "a", a)?;
        let [_, n] = dims::<2>(OP, "w", w)?;
        expect(OP, "w", w, &[k, n])?;
        expect(OP, "c", c, &with_last(lead, n))?;
        self.go(
            MatMul { b: 1, m, k, n }.into(),
            dt,
            &[Some(a), Some(w), Some(c)],
        )
    }

    /// `matmul_backward`: `(dA, dW)` with `dA = dC·Wᵀ`, `dW = Σ_rows Aᵀ·dC`.
    pub fn matmul_backward(
        &self,
        a: &Tensor,
        w: &Tensor,
        d_c: &Tensor,
    ) -> Result<(Tensor, Tensor)> {
        let mut d_a = out(self, a, a.shape())?;
        let mut d_w = out(self, w, w.shape())?;
        self.matmul_backward_into(a, w, d_c, Some(&mut d_a), Some(&mut d_w))?;
        Ok((d_a, d_w))
    }

    /// [`matmul_backward`](Self::matmul_backward) into caller-allocated gradients, each
    /// optional (`None`: not computed).
    pub fn matmul_backward_into(
        &self,
        a: &Tensor,
        w: &Tensor,
        d_c: &Tensor,
        d_a: Option<&mut Tensor>,
        d_w: Option<&mut Tensor>,
    ) -> Result<()> {
        const OP: &str = "matmul_backward";
        let dt = float(OP, "a", a)?;
        let (lead, m, k) = rows_of(OP, "a", a)?;
        let [_, n] = dims::<2>(OP, "w", w)?;
        expect(OP, "w", w, &[k, n])?;
        expect(OP, "d_c", d_c, &with_last(lead, n))?;
        if let Some(t) = &d_a {
            same(OP, "d_a", t, a)?;
        }
        if let Some(t) = &d_w {
            same(OP, "d_w", t, w)?;
        }
        let op = MatMulBackward {
            b: 1,
            m,
            k,
            n,
            want_d_a: d_a.is_some(),
            want_d_w: d_w.is_some(),
        };
        self.go(
            op.into(),
            dt,
            &[Some(a), Some(w), Some(d_c), opt(&d_a), opt(&d_w)],
        )
    }

    /// `matmul_batched`: `C[b] = A[b]·W[b]`, `A (B,M,K)`, `W (B,K,N)` → `(B,M,N)`.
    pub fn matmul_batched(&self, a: &Tensor, w: &Tensor) -> Result<Tensor> {
        let [_, _, n] = batched::<3>("matmul_batched", "w", w)?;
        let (lead, _, _) = rows_of("matmul_batched", "a", a)?;
        let mut c = out(self, a, &with_last(lead, n))?;
        self.matmul_batched_into(a, w, &mut c)?;
        Ok(c)
    }

    /// [`matmul_batched`](Self::matmul_batched) into a caller-allocated `c`.
    pub fn matmul_batched_into(&self, a: &Tensor, w: &Tensor, c: &mut Tensor) -> Result<()> {
        const OP: &str = "matmul_batched";
        let dt = float(OP, "a", a)?;
        let [b, m, k] = batched(OP, "a", a)?;
        let [_, _, n] = batched::<3>(OP, "w", w)?;
        expect(OP, "w", w, &[b, k, n])?;
        expect(OP, "c", c, &[b, m, n])?;
        self.go(
            MatMulBatched { b, m, k, n }.into(),
            dt,
            &[Some(a), Some(w), Some(c)],
        )
    }

    /// `matmul_batched_backward`: `(dA, dW)` with `dA[b] = dC[b]·W[b]ᵀ`,
    /// `dW[b] = A[b]ᵀ·dC[b]`.
    pub fn matmul_batched_backward(
        &self,
        a: &Tensor,
        w: &Tensor,
        d_c: &Tensor,
    ) -> Result<(Tensor, Tensor)> {
        let mut d_a = out(self, a, a.shape())?;
        let mut d_w = out(self, w, w.shape())?;
        self.matmul_batched_backward_into(a, w, d_c, Some(&mut d_a), Some(&mut d_w))?;
        Ok((d_a, d_w))
    }

    /// [`matmul_batched_backward`](Self::matmul_batched_backward) into caller-allocated
    /// gradients, each optional.
    pub fn matmul_batched_backward_into(
        &self,
        a: &Tensor,
        w: &Tensor,
        d_c: &Tensor,
        d_a: Option<&mut Tensor>,
        d_w: Option<&mut Tensor>,
    ) -> Result<()> {
        const OP: &str = "matmul_batched_backward";
        let dt = float(OP, "a", a)?;
        let [b, m, k] = batched(OP, "a", a)?;
        let [_, _, n] = batched::<3>(OP, "w", w)?;
        expect(OP, "w", w, &[b, k, n])?;
        expect(OP, "d_c", d_c, &[b, m, n])?;
        if let Some(t) = &d_a {
            same(OP, "d_a", t, a)?;
        }
        if let Some(t) = &d_w {
            same(OP, "d_w", t, w)?;
        }
        let op = MatMulBatchedBackward {
            b,
            m,
            k,
            n,
            want_d_a: d_a.is_some(),
            want_d_w: d_w.is_some(),
        };
        self.go(
            op.into(),
            dt,
            &[Some(a), Some(w), Some(d_c), opt(&d_a), opt(&d_w)],
        )
    }

    /// `softmax` over the last dim.
    pub fn softmax(&self, x: &Tensor) -> Result<Tensor> {
        let mut y = out(self, x, x.shape())?;
        self.softmax_into(x, &mut y)?;
        Ok(y)
    }

    /// [`softmax`](Self::softmax) into a caller-allocated `y`.
    pub fn softmax_into(&self, x: &Tensor, y: &mut Tensor) -> Result<()> {
        let dt = float("softmax", "x", x)?;
        same("softmax", "y", y, x)?;
        let (_, rows, len) = rows_of("softmax", "x", x)?;
        self.go(Softmax { rows, len }.into(), dt, &[Some(x), Some(y)])
    }

    /// `log_softmax` over the last dim.
    pub fn log_softmax(&self, x: &Tensor) -> Result<Tensor> {
        let mut y = out(self, x, x.shape())?;
        self.log_softmax_into(x, &mut y)?;
        Ok(y)
    }

    /// [`log_softmax`](Self::log_softmax) into a caller-allocated `y`.
    pub fn log_softmax_into(&self, x: &Tensor, y: &mut Tensor) -> Result<()> {
        let dt = float("log_softmax", "x", x)?;
        same("log_softmax", "y", y, x)?;
        let (_, rows, len) = rows_of("log_softmax", "x", x)?;
        self.go(LogSoftmax { rows, len }.into(), dt, &[Some(x), Some(y)])
    }

    /// `softmax_backward`: `dX = Y ⊙ (dY − Σ_row dY⊙Y)`.
    pub fn softmax_backward(&self, d_y: &Tensor, y: &Tensor) -> Result<Tensor> {
        let mut d_x = out(self, d_y, d_y.shape())?;
        self.softmax_backward_into(d_y, y, &mut d_x)?;
        Ok(d_x)
    }

    /// [`softmax_backward`](Self::softmax_backward) into a caller-allocated `d_x`.
    pub fn softmax_backward_into(&self, d_y: &Tensor, y: &Tensor, d_x: &mut Tensor) -> Result<()> {
        const OP: &str = "softmax_backward";
        let dt = float(OP, "d_y", d_y)?;
        same(OP, "y", y, d_y)?;
        same(OP, "d_x", d_x, d_y)?;
        let (_, rows, len) = rows_of(OP, "d_y", d_y)?;
        self.go(
            SoftmaxBackward { rows, len }.into(),
            dt,
            &[Some(d_y), Some(y), Some(d_x)],
        )
    }

    /// `cross_entropy_loss_grad`: `logp (…,V)`, `target (…)` i32 → `(grad (…,V), loss
    /// (…))`; targets outside `[0,V)` give loss 0 and grad 0.
    pub fn cross_entropy_loss_grad(
        &self,
        logp: &Tensor,
        target: &Tensor,
    ) -> Result<(Tensor, Tensor)> {
        let (lead, _, _) = rows_of("cross_entropy_loss_grad", "logp", logp)?;
        let mut grad = out(self, logp, logp.shape())?;
        let mut loss = out(self, logp, lead)?;
        self.cross_entropy_loss_grad_into(logp, target, &mut grad, &mut loss)?;
        Ok((grad, loss))
    }

    /// [`cross_entropy_loss_grad`](Self::cross_entropy_loss_grad) into caller-allocated
    /// outputs.
    pub fn cross_entropy_loss_grad_into(
        &self,
        logp: &Tensor,
        target: &Tensor,
        grad: &mut Tensor,
        loss: &mut Tensor,
    ) -> Result<()> {
        const OP: &str = "cross_entropy_loss_grad";
        let dt = float(OP, "logp", logp)?;
        let (lead, rows, vocab) = rows_of(OP, "logp", logp)?;
        expect_rows(OP, "target", target, lead, rows)?;
        same(OP, "grad", grad, logp)?;
        expect_rows(OP, "loss", loss, lead, rows)?;
        let op = CrossEntropyLossGrad { rows, vocab };
        self.go(
            op.into(),
            dt,
            &[Some(logp), Some(target), Some(grad), Some(loss)],
        )
    }

    /// `gelu` (exact erf form), any shape.
    pub fn gelu(&self, x: &Tensor) -> Result<Tensor> {
        let mut y = out(self, x, x.shape())?;
        self.gelu_into(x, &mut y)?;
        Ok(y)
    }

    /// [`gelu`](Self::gelu) into a caller-allocated `y`.
    pub fn gelu_into(&self, x: &Tensor, y: &mut Tensor) -> Result<()> {
        let dt = float("gelu", "x", x)?;
        same("gelu", "y", y, x)?;
        self.go(Gelu { n: x.len() }.into(), dt, &[Some(x), Some(y)])
    }

    /// `gelu_backward`: `dX = dY·(Φ(x) + x·φ(x))`.
    pub fn gelu_backward(&self, x: &Tensor, d_y: &Tensor) -> Result<Tensor> {
        let mut d_x = out(self, x, x.shape())?;
        self.gelu_backward_into(x, d_y, &mut d_x)?;
        Ok(d_x)
    }

    /// [`gelu_backward`](Self::gelu_backward) into a caller-allocated `d_x`.
    pub fn gelu_backward_into(&self, x: &Tensor, d_y: &Tensor, d_x: &mut Tensor) -> Result<()> {
        const OP: &str = "gelu_backward";
        let dt = float(OP, "x", x)?;
        same(OP, "d_y", d_y, x)?;
        same(OP, "d_x", d_x, x)?;
        self.go(
            GeluBackward { n: x.len() }.into(),
            dt,
            &[Some(x), Some(d_y), Some(d_x)],
        )
    }

    /// `add`: `C = A + B`.
    pub fn add(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        let mut c = out(self, a, a.shape())?;
        self.add_into(a, b, &mut c)?;
        Ok(c)
    }

    /// [`add`](Self::add) into a caller-allocated `c`.
    pub fn add_into(&self, a: &Tensor, b: &Tensor, c: &mut Tensor) -> Result<()> {
        let dt = float("add", "a", a)?;
        same("add", "b", b, a)?;
        same("add", "c", c, a)?;
        self.go(Add { n: a.len() }.into(), dt, &[Some(a), Some(b), Some(c)])
    }

    /// `add` in place: `A ← A + B`.
    pub fn add_assign(&self, a: &mut Tensor, b: &Tensor) -> Result<()> {
        let a: &Tensor = a;
        let dt = float("add", "a", a)?;
        same("add", "b", b, a)?;
        self.go(Add { n: a.len() }.into(), dt, &[Some(a), Some(b), Some(a)])
    }

    /// `mul`: `C = A ⊙ B`.
    pub fn mul(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        let mut c = out(self, a, a.shape())?;
        self.mul_into(a, b, &mut c)?;
        Ok(c)
    }

    /// [`mul`](Self::mul) into a caller-allocated `c`.
    pub fn mul_into(&self, a: &Tensor, b: &Tensor, c: &mut Tensor) -> Result<()> {
        let dt = float("mul", "a", a)?;
        same("mul", "b", b, a)?;
        same("mul", "c", c, a)?;
        self.go(Mul { n: a.len() }.into(), dt, &[Some(a), Some(b), Some(c)])
    }

    /// `mul_backward`: `(dA, dB)` with `dA = dC⊙B`, `dB = dC⊙A`.
    pub fn mul_backward(&self, d_c: &Tensor, a: &Tensor, b: &Tensor) -> Result<(Tensor, Tensor)> {
        let mut d_a = out(self, d_c, d_c.shape())?;
        let mut d_b = out(self, d_c, d_c.shape())?;
        self.mul_backward_into(d_c, a, b, Some(&mut d_a), Some(&mut d_b))?;
        Ok((d_a, d_b))
    }

    /// [`mul_backward`](Self::mul_backward) into caller-allocated gradients, each
    /// optional.
    pub fn mul_backward_into(
        &self,
        d_c: &Tensor,
        a: &Tensor,
        b: &Tensor,
        d_a: Option<&mut Tensor>,
        d_b: Option<&mut Tensor>,
    ) -> Result<()> {
        const OP: &str = "mul_backward";
        let dt = float(OP, "d_c", d_c)?;
        same(OP, "a", a, d_c)?;
        same(OP, "b", b, d_c)?;
        if let Some(t) = &d_a {
            same(OP, "d_a", t, d_c)?;
        }
        if let Some(t) = &d_b {
            same(OP, "d_b", t, d_c)?;
        }
        let op = MulBackward {
            n: d_c.len(),
            want_d_a: d_a.is_some(),
            want_d_b: d_b.is_some(),
        };
        self.go(
            op.into(),
            dt,
            &[Some(d_c), Some(a), Some(b), opt(&d_a), opt(&d_b)],
        )
    }

    /// `layer_norm` over the last dim; affine when `gamma` and `beta` are given (both or
    /// neither).
    pub fn layer_norm(
        &self,
        x: &Tensor,
        gamma: Option<&Tensor>,
        beta: Option<&Tensor>,
        eps: f32,
    ) -> Result<Tensor> {
        let mut y = out(self, x, x.shape())?;
        self.layer_norm_into(x, gamma, beta, &mut y, eps)?;
        Ok(y)
    }

    /// [`layer_norm`](Self::layer_norm) into a caller-allocated `y`.
    pub fn layer_norm_into(
        &self,
        x: &Tensor,
        gamma: Option<&Tensor>,
        beta: Option<&Tensor>,
        y: &mut Tensor,
        eps: f32,
    ) -> Result<()> {
        const OP: &str = "layer_norm";
        let dt = float(OP, "x", x)?;
        let (_, rows, len) = rows_of(OP, "x", x)?;
        same(OP, "y", y, x)?;
        if gamma.is_some() != beta.is_some() {
            return Err(Error::Usage {
                op: OP,
                message: "give both `gamma` and `beta` (the affine form) or neither".into(),
            });
        }
        for (name, t) in [("gamma", gamma), ("beta", beta)] {
            if let Some(t) = t {
                expect(OP, name, t, &[len])?;
            }
        }
        let op = LayerNorm {
            rows,
            len,
            eps,
            affine: gamma.is_some(),
        };
        self.go(op.into(), dt, &[Some(x), gamma, beta, Some(y)])
    }

    /// `layer_norm_backward`: `dX`, and with `gamma` also `(dγ, dβ)`.
    pub fn layer_norm_backward(
        &self,
        d_y: &Tensor,
        x: &Tensor,
        gamma: Option<&Tensor>,
        eps: f32,
    ) -> Result<(Tensor, Option<(Tensor, Tensor)>)> {
        let mut d_x = out(self, x, x.shape())?;
        let mut affine = match gamma {
            Some(g) => Some((out(self, g, g.shape())?, out(self, g, g.shape())?)),
            None => None,
        };
        let (d_gamma, d_beta) = match &mut affine {
            Some((dg, db)) => (Some(dg), Some(db)),
            None => (None, None),
        };
        self.layer_norm_backward_into(d_y, x, gamma, &mut d_x, d_gamma, d_beta, eps)?;
        Ok((d_x, affine))
    }

    /// [`layer_norm_backward`](Self::layer_norm_backward) into caller-allocated
    /// gradients; `d_gamma` and `d_beta` go with `gamma` (all three or none).
    #[allow(clippy::too_many_arguments)]
    pub fn layer_norm_backward_into(
        &self,
        d_y: &Tensor,
        x: &Tensor,
        gamma: Option<&Tensor>,
        d_x: &mut Tensor,
        d_gamma: Option<&mut Tensor>,
        d_beta: Option<&mut Tensor>,
        eps: f32,
    ) -> Result<()> {
        const OP: &str = "layer_norm_backward";
        let dt = float(OP, "d_y", d_y)?;
        let (_, rows, len) = rows_of(OP, "x", x)?;
        same(OP, "d_y", d_y, x)?;
        same(OP, "d_x", d_x, x)?;
        let given = [gamma.is_some(), d_gamma.is_some(), d_beta.is_some()];
        if given.contains(&true) && given.contains(&false) {
            return Err(Error::Usage {
                op: OP,
                message: "`d_gamma` and `d_beta` are computed for the affine form only: pass \
                          `gamma`, `d_gamma` and `d_beta` together, or none of them"
                    .into(),
            });
        }
        for (name, t) in [
            ("gamma", gamma),
            ("d_gamma", opt(&d_gamma)),
            ("d_beta", opt(&d_beta)),
        ] {
            if let Some(t) = t {
                expect(OP, name, t, &[len])?;
            }
        }
        let op = LayerNormBackward {
            rows,
            len,
            eps,
            affine: gamma.is_some(),
        };
        self.go(
            op.into(),
            dt,
            &[
                Some(d_y),
                Some(x),
                gamma,
                Some(d_x),
                opt(&d_gamma),
                opt(&d_beta),
            ],
        )
    }

    /// `transpose`: `(R,C) → (C,R)`.
    pub fn transpose(&self, x: &Tensor) -> Result<Tensor> {
        let [rows, cols] = dims("transpose", "x", x)?;
        let mut y = out(self, x, &[cols, rows])?;
        self.transpose_into(x, &mut y)?;
        Ok(y)
    }

    /// [`transpose`](Self::transpose) into a caller-allocated `y`.
    pub fn transpose_into(&self, x: &Tensor, y: &mut Tensor) -> Result<()> {
        let dt = float("transpose", "x", x)?;
        let [rows, cols] = dims("transpose", "x", x)?;
        expect("transpose", "y", y, &[cols, rows])?;
        self.go(Transpose { rows, cols }.into(), dt, &[Some(x), Some(y)])
    }

    /// `transpose_batched`: `(…,D1,D2) → (…,D2,D1)`.
    pub fn transpose_batched(&self, x: &Tensor) -> Result<Tensor> {
        let s = x.shape();
        let mut shape = s.to_vec();
        if s.len() >= 2 {
            shape.swap(s.len() - 1, s.len() - 2);
        }
        let mut y = out(self, x, &shape)?;
        self.transpose_batched_into(x, &mut y)?;
        Ok(y)
    }

    /// [`transpose_batched`](Self::transpose_batched) into a caller-allocated `y`.
    pub fn transpose_batched_into(&self, x: &Tensor, y: &mut Tensor) -> Result<()> {
        const OP: &str = "transpose_batched";
        let dt = float(OP, "x", x)?;
        let [b, d1, d2] = batched(OP, "x", x)?;
        expect(OP, "y", y, &[b, d2, d1]).or_else(|e| {
            let mut want = x.shape().to_vec();
            let n = want.len();
            if n >= 2 {
                want.swap(n - 1, n - 2);
            }
            expect(OP, "y", y, &want).map_err(|_| e)
        })?;
        self.go(
            TransposeBatched { b, d1, d2 }.into(),
            dt,
            &[Some(x), Some(y)],
        )
    }

    /// `transpose_12`: `(…,D1,D2,D3) → (…,D2,D1,D3)`.
    pub fn transpose_12(&self, x: &Tensor) -> Result<Tensor> {
        let s = x.shape();
        let mut shape = s.to_vec();
        if s.len() >= 3 {
            shape.swap(s.len() - 2, s.len() - 3);
        }
        let mut y = out(self, x, &shape)?;
        self.transpose_12_into(x, &mut y)?;
        Ok(y)
    }

    /// [`transpose_12`](Self::transpose_12) into a caller-allocated `y`.
    pub fn transpose_12_into(&self, x: &Tensor, y: &mut Tensor) -> Result<()> {
        const OP: &str = "transpose_12";
        let dt = float(OP, "x", x)?;
        let [b, d1, d2, d3] = batched(OP, "x", x)?;
        expect(OP, "y", y, &[b, d2, d1, d3]).or_else(|e| {
            let mut want = x.shape().to_vec();
            let n = want.len();
            if n >= 3 {
                want.swap(n - 2, n - 3);
            }
            expect(OP, "y", y, &want).map_err(|_| e)
        })?;
        self.go(
            Transpose12 { b, d1, d2, d3 }.into(),
            dt,
            &[Some(x), Some(y)],
        )
    }

    /// `adam_update` in place on `p`, `m`, `v` (moments `f32`), step `t ≥ 1`.
    pub fn adam_update(
        &self,
        p: &mut Tensor,
        g: &Tensor,
        m: &mut Tensor,
        v: &mut Tensor,
        hp: &AdamParams,
        t: u32,
    ) -> Result<()> {
        const OP: &str = "adam_update";
        let dt = float(OP, "p", p)?;
        same(OP, "g", g, p)?;
        same(OP, "m", m, p)?;
        same(OP, "v", v, p)?;
        let op = AdamUpdate {
            n: p.len(),
            lr: hp.lr,
            beta1: hp.beta1,
            beta2: hp.beta2,
            eps: hp.eps,
            weight_decay: hp.weight_decay,
            t,
            decoupled: hp.decoupled,
        };
        self.go(op.into(), dt, &[Some(p), Some(g), Some(m), Some(v)])
    }

    /// `embedding_lookup`: `idx (…)` i32, `table (V,D)` → `out (…,D)`.
    pub fn embedding_lookup(&self, idx: &Tensor, table: &Tensor) -> Result<Tensor> {
        let [_, dim] = dims("embedding_lookup", "table", table)?;
        let mut o = out(self, table, &with_last(idx.shape(), dim))?;
        self.embedding_lookup_into(idx, table, &mut o)?;
        Ok(o)
    }

    /// [`embedding_lookup`](Self::embedding_lookup) into a caller-allocated `out`.
    pub fn embedding_lookup_into(
        &self,
        idx: &Tensor,
        table: &Tensor,
        out: &mut Tensor,
    ) -> Result<()> {
        const OP: &str = "embedding_lookup";
        let dt = float(OP, "table", table)?;
        let [vocab, dim] = dims(OP, "table", table)?;
        expect(OP, "out", out, &with_last(idx.shape(), dim))?;
        let op = EmbeddingLookup {
            b: 1,
            s: idx.len(),
            vocab,
            dim,
        };
        self.go(op.into(), dt, &[Some(idx), Some(table), Some(out)])
    }

    /// `embedding_backward`: `dTable (V,D) = Σ dOut` per index, for a table of `vocab`
    /// rows.
    pub fn embedding_backward(&self, d_out: &Tensor, idx: &Tensor, vocab: usize) -> Result<Tensor> {
        let (_, _, dim) = rows_of("embedding_backward", "d_out", d_out)?;
        let mut d_table = out(self, d_out, &[vocab, dim])?;
        self.embedding_backward_into(d_out, idx, &mut d_table)?;
        Ok(d_table)
    }

    /// [`embedding_backward`](Self::embedding_backward) into a caller-allocated
    /// `d_table (V,D)`.
    pub fn embedding_backward_into(
        &self,
        d_out: &Tensor,
        idx: &Tensor,
        d_table: &mut Tensor,
    ) -> Result<()> {
        const OP: &str = "embedding_backward";
        let dt = float(OP, "d_out", d_out)?;
        let [vocab, dim] = dims(OP, "d_table", d_table)?;
        expect(OP, "d_out", d_out, &with_last(idx.shape(), dim))?;
        let op = EmbeddingBackward {
            b: 1,
            s: idx.len(),
            vocab,
            dim,
        };
        self.go(op.into(), dt, &[Some(d_out), Some(idx), Some(d_table)])
    }

    /// `reduce_sum_01`: the sum of every row, `X (…,N) → (N)`.
    pub fn reduce_sum_01(&self, x: &Tensor) -> Result<Tensor> {
        let (_, _, n) = rows_of("reduce_sum_01", "x", x)?;
        let mut y = out(self, x, &[n])?;
        self.reduce_sum_01_into(x, &mut y)?;
        Ok(y)
    }

    /// [`reduce_sum_01`](Self::reduce_sum_01) into a caller-allocated `y (N)`.
    pub fn reduce_sum_01_into(&self, x: &Tensor, y: &mut Tensor) -> Result<()> {
        let dt = float("reduce_sum_01", "x", x)?;
        let (_, m, n) = rows_of("reduce_sum_01", "x", x)?;
        expect("reduce_sum_01", "y", y, &[n])?;
        self.go(ReduceSum01 { b: 1, m, n }.into(), dt, &[Some(x), Some(y)])
    }

    /// `add_bias`: `Y (…,N) = X + bias (N)`.
    pub fn add_bias(&self, x: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let mut y = out(self, x, x.shape())?;
        self.add_bias_into(x, bias, &mut y)?;
        Ok(y)
    }

    /// [`add_bias`](Self::add_bias) into a caller-allocated `y`.
    pub fn add_bias_into(&self, x: &Tensor, bias: &Tensor, y: &mut Tensor) -> Result<()> {
        let dt = float("add_bias", "x", x)?;
        let (_, m, n) = rows_of("add_bias", "x", x)?;
        expect("add_bias", "bias", bias, &[n])?;
        same("add_bias", "y", y, x)?;
        self.go(
            AddBias { b: 1, m, n }.into(),
            dt,
            &[Some(x), Some(bias), Some(y)],
        )
    }

    /// `add_broadcast_pe`: `Y (…,S,E) = X + pe (S,E)`.
    pub fn add_broadcast_pe(&self, x: &Tensor, pe: &Tensor) -> Result<Tensor> {
        let mut y = out(self, x, x.shape())?;
        self.add_broadcast_pe_into(x, pe, &mut y)?;
        Ok(y)
    }

    /// [`add_broadcast_pe`](Self::add_broadcast_pe) into a caller-allocated `y`.
    pub fn add_broadcast_pe_into(&self, x: &Tensor, pe: &Tensor, y: &mut Tensor) -> Result<()> {
        const OP: &str = "add_broadcast_pe";
        let dt = float(OP, "x", x)?;
        let [b, s, e] = batched(OP, "x", x)?;
        expect(OP, "pe", pe, &[s, e])?;
        same(OP, "y", y, x)?;
        self.go(
            AddBroadcastPe { b, s, e }.into(),
            dt,
            &[Some(x), Some(pe), Some(y)],
        )
    }

    /// `hebbian_update` in place: `W ← (1 − decay)·W + lr·Preᵀ·Post`, `pre (…,K)`,
    /// `post (…,N)`, `w (K,N)`.
    pub fn hebbian_update(
        &self,
        pre: &Tensor,
        post: &Tensor,
        w: &mut Tensor,
        lr: f32,
        decay: f32,
    ) -> Result<()> {
        const OP: &str = "hebbian_update";
        let dt = float(OP, "pre", pre)?;
        let (lead, m, k) = rows_of(OP, "pre", pre)?;
        let (_, _, n) = rows_of(OP, "post", post)?;
        expect(OP, "post", post, &with_last(lead, n))?;
        expect(OP, "w", w, &[k, n])?;
        let op = HebbianUpdate {
            b: 1,
            m,
            k,
            n,
            lr,
            decay,
        };
        self.go(op.into(), dt, &[Some(pre), Some(post), Some(w)])
    }

    /// `threshold_spike`: `1` where `x > θ`, else `0`.
    pub fn threshold_spike(&self, x: &Tensor, threshold: f32) -> Result<Tensor> {
        let mut y = out(self, x, x.shape())?;
        self.threshold_spike_into(x, &mut y, threshold)?;
        Ok(y)
    }

    /// [`threshold_spike`](Self::threshold_spike) into a caller-allocated `y`.
    pub fn threshold_spike_into(&self, x: &Tensor, y: &mut Tensor, threshold: f32) -> Result<()> {
        let dt = float("threshold_spike", "x", x)?;
        same("threshold_spike", "y", y, x)?;
        let op = ThresholdSpike {
            n: x.len(),
            threshold,
        };
        self.go(op.into(), dt, &[Some(x), Some(y)])
    }

    /// `dynamic_token_assignment`: `idx (…) = argmax_t ⟨act[…], proto[t]⟩` for
    /// `act (…,E)`, `proto (T,E)`; i32 indices.
    pub fn dynamic_token_assignment(&self, act: &Tensor, proto: &Tensor) -> Result<Tensor> {
        let (lead, _, _) = rows_of("dynamic_token_assignment", "act", act)?;
        let mut idx = self.zeros(ElemType::I32, lead)?;
        self.dynamic_token_assignment_into(act, proto, &mut idx, None)?;
        Ok(idx)
    }

    /// [`dynamic_token_assignment`](Self::dynamic_token_assignment) into a
    /// caller-allocated `idx`, and optionally the winning similarity into `best`.
    pub fn dynamic_token_assignment_into(
        &self,
        act: &Tensor,
        proto: &Tensor,
        idx: &mut Tensor,
        best: Option<&mut Tensor>,
    ) -> Result<()> {
        const OP: &str = "dynamic_token_assignment";
        let dt = float(OP, "act", act)?;
        let (lead, rows, e) = rows_of(OP, "act", act)?;
        let [t, _] = dims::<2>(OP, "proto", proto)?;
        expect(OP, "proto", proto, &[t, e])?;
        expect_rows(OP, "idx", idx, lead, rows)?;
        if let Some(x) = &best {
            expect_rows(OP, "best", x, lead, rows)?;
        }
        let op = DynamicTokenAssignment {
            b: 1,
            s: rows,
            e,
            t,
            want_best: best.is_some(),
        };
        self.go(
            op.into(),
            dt,
            &[Some(act), Some(proto), Some(idx), opt(&best)],
        )
        .map_err(|err| match err {
            // The descriptor bounds an intermediate the caller never sees: say what it
            // is in terms of the operands the caller passed.
            Error::Invalid(neurokern_core::Error::TooLarge {
                operand: "scores", ..
            }) => Error::Usage {
                op: OP,
                message: format!(
                    "{rows} rows of `act` × {t} prototypes = {} similarities, over the \
                     i32::MAX a device may have to hold at once: split `act` into fewer rows",
                    (rows as u128) * (t as u128)
                ),
            },
            other => other,
        })
    }

    /// `pairwise_similarity`: `S (N,N) = X·Xᵀ`.
    pub fn pairwise_similarity(&self, x: &Tensor) -> Result<Tensor> {
        let [n, _] = dims("pairwise_similarity", "x", x)?;
        let mut s = out(self, x, &[n, n])?;
        self.pairwise_similarity_into(x, &mut s)?;
        Ok(s)
    }

    /// [`pairwise_similarity`](Self::pairwise_similarity) into a caller-allocated `s`.
    pub fn pairwise_similarity_into(&self, x: &Tensor, s: &mut Tensor) -> Result<()> {
        const OP: &str = "pairwise_similarity";
        let dt = float(OP, "x", x)?;
        let [n, d] = dims(OP, "x", x)?;
        expect(OP, "s", s, &[n, n])?;
        self.go(PairwiseSimilarity { n, d }.into(), dt, &[Some(x), Some(s)])
    }

    /// `proto_segmented_sum`: per-prototype sums `(T,E)` and counts `(T)` i32 of the rows
    /// of `act (…,E)` assigned by `idx (…)`, for `t` prototypes.
    pub fn proto_segmented_sum(
        &self,
        act: &Tensor,
        idx: &Tensor,
        t: usize,
        mode: SumMode,
    ) -> Result<(Tensor, Tensor)> {
        let (_, _, e) = rows_of("proto_segmented_sum", "act", act)?;
        let mut sums = out(self, act, &[t, e])?;
        let mut counts = self.zeros(ElemType::I32, &[t])?;
        self.proto_segmented_sum_into(act, idx, &mut sums, &mut counts, mode)?;
        Ok((sums, counts))
    }

    /// [`proto_segmented_sum`](Self::proto_segmented_sum) into caller-allocated outputs.
    pub fn proto_segmented_sum_into(
        &self,
        act: &Tensor,
        idx: &Tensor,
        sums: &mut Tensor,
        counts: &mut Tensor,
        mode: SumMode,
    ) -> Result<()> {
        const OP: &str = "proto_segmented_sum";
        let dt = float(OP, "act", act)?;
        let (lead, m, e) = rows_of(OP, "act", act)?;
        expect_rows(OP, "idx", idx, lead, m)?;
        let [t, _] = dims::<2>(OP, "sums", sums)?;
        expect(OP, "sums", sums, &[t, e])?;
        expect(OP, "counts", counts, &[t])?;
        let op = ProtoSegmentedSum { m, e, t, mode };
        self.go(
            op.into(),
            dt,
            &[Some(act), Some(idx), Some(sums), Some(counts)],
        )
    }

    /// `proto_update_step` in place: `proto[t] ← (1−lr)·proto[t] + lr·sums[t]/counts[t]`.
    pub fn proto_update_step(
        &self,
        proto: &mut Tensor,
        sums: &Tensor,
        counts: &Tensor,
        lr: f32,
    ) -> Result<()> {
        const OP: &str = "proto_update_step";
        let dt = float(OP, "proto", proto)?;
        let [t, e] = dims(OP, "proto", proto)?;
        same(OP, "sums", sums, proto)?;
        expect(OP, "counts", counts, &[t])?;
        let op = ProtoUpdateStep { t, e, lr };
        self.go(op.into(), dt, &[Some(proto), Some(sums), Some(counts)])
    }

    /// `shape_loss`: penalty/reward shaping of a per-row loss; `probs (…,V)`, per-row
    /// `loss_in` and `target (…)`, `pairs (P,2)` → `loss_out (…)`.
    #[allow(clippy::too_many_arguments)]
    pub fn shape_loss(
        &self,
        loss_in: &Tensor,
        probs: &Tensor,
        target: &Tensor,
        pairs: &Tensor,
        penalty: f32,
        reward: f32,
        threshold: f32,
    ) -> Result<Tensor> {
        let mut loss_out = out(self, loss_in, loss_in.shape())?;
        self.shape_loss_into(
            loss_in,
            probs,
            target,
            pairs,
            &mut loss_out,
            penalty,
            reward,
            threshold,
        )?;
        Ok(loss_out)
    }

    /// [`shape_loss`](Self::shape_loss) into a caller-allocated `loss_out`.
    #[allow(clippy::too_many_arguments)]
    pub fn shape_loss_into(
        &self,
        loss_in: &Tensor,
        probs: &Tensor,
        target: &Tensor,
        pairs: &Tensor,
        loss_out: &mut Tensor,
        penalty: f32,
        reward: f32,
        threshold: f32,
    ) -> Result<()> {
        const OP: &str = "shape_loss";
        let dt = float(OP, "probs", probs)?;
        let (lead, rows, vocab) = rows_of(OP, "probs", probs)?;
        expect_rows(OP, "loss_in", loss_in, lead, rows)?;
        expect_rows(OP, "target", target, lead, rows)?;
        let [p, _] = dims::<2>(OP, "pairs", pairs)?;
        expect(OP, "pairs", pairs, &[p, 2])?;
        expect_rows(OP, "loss_out", loss_out, lead, rows)?;
        let op = ShapeLoss {
            rows,
            vocab,
            pairs: p,
            penalty,
            reward,
            threshold,
        };
        self.go(
            op.into(),
            dt,
            &[
                Some(loss_in),
                Some(probs),
                Some(target),
                Some(pairs),
                Some(loss_out),
            ],
        )
    }
}
