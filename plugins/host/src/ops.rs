//! The typed API: one method of [`Device`] per op of the catalog. Each builds the op's
//! descriptor from the tensors' shapes, checks the shapes, and runs it through
//! [`Backend::run`](neurokern_core::Backend::run()) (which validates lengths, element
//! types, aliasing and scalars, and checks that every tensor lives on this device).
//!
//! Shapes: a leading dim of 1 may be left out (`A (M,K)` is `A (1,M,K)`), and "rowwise"
//! ops treat every dim but the last as rows. The float dtype of a call is the element type
//! of its first float operand.

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
    let mut s = t.shape();
    while s.len() > N && s[0] == 1 {
        s = &s[1..];
    }
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

fn expect(op: &'static str, operand: &'static str, t: &Tensor, want: &[usize]) -> Result<()> {
    fn strip(mut s: &[usize]) -> &[usize] {
        while s.first() == Some(&1) {
            s = &s[1..];
        }
        s
    }
    if strip(t.shape()) == strip(want) {
        Ok(())
    } else {
        Err(Error::Shape {
            op,
            operand,
            expected: format!("{want:?}"),
            got: t.shape().to_vec(),
        })
    }
}

/// `(rows, last)`: every dim but the last is a row.
fn rows_last(t: &Tensor) -> (usize, usize) {
    let last = t.shape().last().copied().unwrap_or(1);
    let rows = t
        .len()
        .checked_div(last)
        .unwrap_or_else(|| t.shape()[..t.shape().len() - 1].iter().product());
    (rows, last)
}

fn same(op: &'static str, operand: &'static str, t: &Tensor, like: &Tensor) -> Result<()> {
    expect(op, operand, t, like.shape())
}

fn opt<'a>(t: &'a Option<&mut Tensor>) -> Option<&'a Tensor> {
    t.as_deref()
}

impl Device {
    fn go(&self, op: Op, dtype: FloatType, args: &[Option<&Tensor>]) -> Result<()> {
        let bufs: Vec<_> = args.iter().map(|a| a.map(Tensor::buffer)).collect();
        self.run(&op, dtype, &bufs)
    }

    /// `matmul`: `C (B,M,N) = A (B,M,K) · W (K,N)`.
    pub fn matmul(&self, a: &Tensor, w: &Tensor, c: &mut Tensor) -> Result<()> {
        const OP: &str = "matmul";
        let dt = float(OP, "a", a)?;
        let [b, m, k] = dims(OP, "a", a)?;
        let [_, n] = dims::<2>(OP, "w", w)?;
        expect(OP, "w", w, &[k, n])?;
        expect(OP, "c", c, &[b, m, n])?;
        self.go(
            MatMul { b, m, k, n }.into(),
            dt,
            &[Some(a), Some(w), Some(c)],
        )
    }

    /// `matmul_backward`: `dA = dC·Wᵀ`, `dW = Σ_b A[b]ᵀ·dC[b]`, each optional.
    pub fn matmul_backward(
        &self,
        a: &Tensor,
        w: &Tensor,
        d_c: &Tensor,
        d_a: Option<&mut Tensor>,
        d_w: Option<&mut Tensor>,
    ) -> Result<()> {
        const OP: &str = "matmul_backward";
        let dt = float(OP, "a", a)?;
        let [b, m, k] = dims(OP, "a", a)?;
        let [_, n] = dims::<2>(OP, "w", w)?;
        expect(OP, "w", w, &[k, n])?;
        expect(OP, "d_c", d_c, &[b, m, n])?;
        if let Some(t) = &d_a {
            same(OP, "d_a", t, a)?;
        }
        if let Some(t) = &d_w {
            same(OP, "d_w", t, w)?;
        }
        let op = MatMulBackward {
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

    /// `matmul_batched`: `C[b] = A[b]·W[b]`, `A (B,M,K)`, `W (B,K,N)`.
    pub fn matmul_batched(&self, a: &Tensor, w: &Tensor, c: &mut Tensor) -> Result<()> {
        const OP: &str = "matmul_batched";
        let dt = float(OP, "a", a)?;
        let [b, m, k] = dims(OP, "a", a)?;
        let [_, _, n] = dims::<3>(OP, "w", w)?;
        expect(OP, "w", w, &[b, k, n])?;
        expect(OP, "c", c, &[b, m, n])?;
        self.go(
            MatMulBatched { b, m, k, n }.into(),
            dt,
            &[Some(a), Some(w), Some(c)],
        )
    }

    /// `matmul_batched_backward`: `dA[b] = dC[b]·W[b]ᵀ`, `dW[b] = A[b]ᵀ·dC[b]`.
    pub fn matmul_batched_backward(
        &self,
        a: &Tensor,
        w: &Tensor,
        d_c: &Tensor,
        d_a: Option<&mut Tensor>,
        d_w: Option<&mut Tensor>,
    ) -> Result<()> {
        const OP: &str = "matmul_batched_backward";
        let dt = float(OP, "a", a)?;
        let [b, m, k] = dims(OP, "a", a)?;
        let [_, _, n] = dims::<3>(OP, "w", w)?;
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
    pub fn softmax(&self, x: &Tensor, y: &mut Tensor) -> Result<()> {
        let dt = float("softmax", "x", x)?;
        same("softmax", "y", y, x)?;
        let (rows, len) = rows_last(x);
        self.go(Softmax { rows, len }.into(), dt, &[Some(x), Some(y)])
    }

    /// `log_softmax` over the last dim.
    pub fn log_softmax(&self, x: &Tensor, y: &mut Tensor) -> Result<()> {
        let dt = float("log_softmax", "x", x)?;
        same("log_softmax", "y", y, x)?;
        let (rows, len) = rows_last(x);
        self.go(LogSoftmax { rows, len }.into(), dt, &[Some(x), Some(y)])
    }

    /// `softmax_backward`: `dX = Y ⊙ (dY − Σ_row dY⊙Y)`.
    pub fn softmax_backward(&self, d_y: &Tensor, y: &Tensor, d_x: &mut Tensor) -> Result<()> {
        const OP: &str = "softmax_backward";
        let dt = float(OP, "d_y", d_y)?;
        same(OP, "y", y, d_y)?;
        same(OP, "d_x", d_x, d_y)?;
        let (rows, len) = rows_last(d_y);
        self.go(
            SoftmaxBackward { rows, len }.into(),
            dt,
            &[Some(d_y), Some(y), Some(d_x)],
        )
    }

    /// `cross_entropy_loss_grad`: `logp (R,V)`, `target (R)` i32 → `grad (R,V)`,
    /// `loss (R)`; targets outside `[0,V)` give loss 0 and grad 0.
    pub fn cross_entropy_loss_grad(
        &self,
        logp: &Tensor,
        target: &Tensor,
        grad: &mut Tensor,
        loss: &mut Tensor,
    ) -> Result<()> {
        const OP: &str = "cross_entropy_loss_grad";
        let dt = float(OP, "logp", logp)?;
        let (rows, vocab) = rows_last(logp);
        expect(OP, "target", target, &[rows])?;
        same(OP, "grad", grad, logp)?;
        expect(OP, "loss", loss, &[rows])?;
        let op = CrossEntropyLossGrad { rows, vocab };
        self.go(
            op.into(),
            dt,
            &[Some(logp), Some(target), Some(grad), Some(loss)],
        )
    }

    /// `gelu` (exact erf form), any shape.
    pub fn gelu(&self, x: &Tensor, y: &mut Tensor) -> Result<()> {
        let dt = float("gelu", "x", x)?;
        same("gelu", "y", y, x)?;
        self.go(Gelu { n: x.len() }.into(), dt, &[Some(x), Some(y)])
    }

    /// `gelu_backward`: `dX = dY·(Φ(x) + x·φ(x))`.
    pub fn gelu_backward(&self, x: &Tensor, d_y: &Tensor, d_x: &mut Tensor) -> Result<()> {
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
    pub fn add(&self, a: &Tensor, b: &Tensor, c: &mut Tensor) -> Result<()> {
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
    pub fn mul(&self, a: &Tensor, b: &Tensor, c: &mut Tensor) -> Result<()> {
        let dt = float("mul", "a", a)?;
        same("mul", "b", b, a)?;
        same("mul", "c", c, a)?;
        self.go(Mul { n: a.len() }.into(), dt, &[Some(a), Some(b), Some(c)])
    }

    /// `mul_backward`: `dA = dC⊙B`, `dB = dC⊙A`, each optional.
    pub fn mul_backward(
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

    /// `layer_norm` over the last dim; affine when `gamma` and `beta` are given.
    pub fn layer_norm(
        &self,
        x: &Tensor,
        gamma: Option<&Tensor>,
        beta: Option<&Tensor>,
        y: &mut Tensor,
        eps: f32,
    ) -> Result<()> {
        const OP: &str = "layer_norm";
        let dt = float(OP, "x", x)?;
        let (rows, len) = rows_last(x);
        same(OP, "y", y, x)?;
        for (name, t) in [("gamma", gamma), ("beta", beta)] {
            if let Some(t) = t {
                expect(OP, name, t, &[len])?;
            }
        }
        let op = LayerNorm {
            rows,
            len,
            eps,
            affine: gamma.is_some() || beta.is_some(),
        };
        self.go(op.into(), dt, &[Some(x), gamma, beta, Some(y)])
    }

    /// `layer_norm_backward`; with `gamma`, also `dγ` and `dβ` (both required then).
    #[allow(clippy::too_many_arguments)]
    pub fn layer_norm_backward(
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
        let (rows, len) = rows_last(x);
        same(OP, "d_y", d_y, x)?;
        same(OP, "d_x", d_x, x)?;
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
    pub fn transpose(&self, x: &Tensor, y: &mut Tensor) -> Result<()> {
        let dt = float("transpose", "x", x)?;
        let [rows, cols] = dims("transpose", "x", x)?;
        expect("transpose", "y", y, &[cols, rows])?;
        self.go(Transpose { rows, cols }.into(), dt, &[Some(x), Some(y)])
    }

    /// `transpose_batched`: `(B,D1,D2) → (B,D2,D1)`.
    pub fn transpose_batched(&self, x: &Tensor, y: &mut Tensor) -> Result<()> {
        const OP: &str = "transpose_batched";
        let dt = float(OP, "x", x)?;
        let [b, d1, d2] = dims(OP, "x", x)?;
        expect(OP, "y", y, &[b, d2, d1])?;
        self.go(
            TransposeBatched { b, d1, d2 }.into(),
            dt,
            &[Some(x), Some(y)],
        )
    }

    /// `transpose_12`: `(B,D1,D2,D3) → (B,D2,D1,D3)`.
    pub fn transpose_12(&self, x: &Tensor, y: &mut Tensor) -> Result<()> {
        const OP: &str = "transpose_12";
        let dt = float(OP, "x", x)?;
        let [b, d1, d2, d3] = dims(OP, "x", x)?;
        expect(OP, "y", y, &[b, d2, d1, d3])?;
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

    /// `embedding_lookup`: `idx (B,S)` i32, `table (V,D)` → `out (B,S,D)`.
    pub fn embedding_lookup(&self, idx: &Tensor, table: &Tensor, out: &mut Tensor) -> Result<()> {
        const OP: &str = "embedding_lookup";
        let dt = float(OP, "table", table)?;
        let [b, s] = dims(OP, "idx", idx)?;
        let [vocab, dim] = dims(OP, "table", table)?;
        expect(OP, "out", out, &[b, s, dim])?;
        let op = EmbeddingLookup { b, s, vocab, dim };
        self.go(op.into(), dt, &[Some(idx), Some(table), Some(out)])
    }

    /// `embedding_backward`: `dTable (V,D) = Σ dOut` per index.
    pub fn embedding_backward(
        &self,
        d_out: &Tensor,
        idx: &Tensor,
        d_table: &mut Tensor,
    ) -> Result<()> {
        const OP: &str = "embedding_backward";
        let dt = float(OP, "d_out", d_out)?;
        let [b, s] = dims(OP, "idx", idx)?;
        let [vocab, dim] = dims(OP, "d_table", d_table)?;
        expect(OP, "d_out", d_out, &[b, s, dim])?;
        let op = EmbeddingBackward { b, s, vocab, dim };
        self.go(op.into(), dt, &[Some(d_out), Some(idx), Some(d_table)])
    }

    /// `reduce_sum_01`: `X (B,M,N) → (N)`.
    pub fn reduce_sum_01(&self, x: &Tensor, y: &mut Tensor) -> Result<()> {
        let dt = float("reduce_sum_01", "x", x)?;
        let [b, m, n] = dims("reduce_sum_01", "x", x)?;
        expect("reduce_sum_01", "y", y, &[n])?;
        self.go(ReduceSum01 { b, m, n }.into(), dt, &[Some(x), Some(y)])
    }

    /// `add_bias`: `Y (B,M,N) = X + bias (N)`.
    pub fn add_bias(&self, x: &Tensor, bias: &Tensor, y: &mut Tensor) -> Result<()> {
        let dt = float("add_bias", "x", x)?;
        let [b, m, n] = dims("add_bias", "x", x)?;
        expect("add_bias", "bias", bias, &[n])?;
        same("add_bias", "y", y, x)?;
        self.go(
            AddBias { b, m, n }.into(),
            dt,
            &[Some(x), Some(bias), Some(y)],
        )
    }

    /// `add_broadcast_pe`: `Y (B,S,E) = X + pe (S,E)`.
    pub fn add_broadcast_pe(&self, x: &Tensor, pe: &Tensor, y: &mut Tensor) -> Result<()> {
        const OP: &str = "add_broadcast_pe";
        let dt = float(OP, "x", x)?;
        let [b, s, e] = dims(OP, "x", x)?;
        expect(OP, "pe", pe, &[s, e])?;
        same(OP, "y", y, x)?;
        self.go(
            AddBroadcastPe { b, s, e }.into(),
            dt,
            &[Some(x), Some(pe), Some(y)],
        )
    }

    /// `hebbian_update` in place: `W ← (1 − decay)·W + lr·Preᵀ·Post`.
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
        let [b, m, k] = dims(OP, "pre", pre)?;
        let [_, _, n] = dims::<3>(OP, "post", post)?;
        expect(OP, "post", post, &[b, m, n])?;
        expect(OP, "w", w, &[k, n])?;
        let op = HebbianUpdate {
            b,
            m,
            k,
            n,
            lr,
            decay,
        };
        self.go(op.into(), dt, &[Some(pre), Some(post), Some(w)])
    }

    /// `threshold_spike`: `1` where `x > θ`, else `0`.
    pub fn threshold_spike(&self, x: &Tensor, y: &mut Tensor, threshold: f32) -> Result<()> {
        let dt = float("threshold_spike", "x", x)?;
        same("threshold_spike", "y", y, x)?;
        let op = ThresholdSpike {
            n: x.len(),
            threshold,
        };
        self.go(op.into(), dt, &[Some(x), Some(y)])
    }

    /// `dynamic_token_assignment`: `idx (B,S) = argmax_t ⟨act[b,s], proto[t]⟩`, and
    /// optionally the winning similarity.
    pub fn dynamic_token_assignment(
        &self,
        act: &Tensor,
        proto: &Tensor,
        idx: &mut Tensor,
        best: Option<&mut Tensor>,
    ) -> Result<()> {
        const OP: &str = "dynamic_token_assignment";
        let dt = float(OP, "act", act)?;
        let [b, s, e] = dims(OP, "act", act)?;
        let [t, _] = dims::<2>(OP, "proto", proto)?;
        expect(OP, "proto", proto, &[t, e])?;
        expect(OP, "idx", idx, &[b, s])?;
        if let Some(x) = &best {
            expect(OP, "best", x, &[b, s])?;
        }
        let op = DynamicTokenAssignment {
            b,
            s,
            e,
            t,
            want_best: best.is_some(),
        };
        self.go(
            op.into(),
            dt,
            &[Some(act), Some(proto), Some(idx), opt(&best)],
        )
    }

    /// `pairwise_similarity`: `S (N,N) = X·Xᵀ`.
    pub fn pairwise_similarity(&self, x: &Tensor, s: &mut Tensor) -> Result<()> {
        const OP: &str = "pairwise_similarity";
        let dt = float(OP, "x", x)?;
        let [n, d] = dims(OP, "x", x)?;
        expect(OP, "s", s, &[n, n])?;
        self.go(PairwiseSimilarity { n, d }.into(), dt, &[Some(x), Some(s)])
    }

    /// `proto_segmented_sum`: per-prototype sums `(T,E)` and counts `(T)` i32.
    pub fn proto_segmented_sum(
        &self,
        act: &Tensor,
        idx: &Tensor,
        sums: &mut Tensor,
        counts: &mut Tensor,
        mode: SumMode,
    ) -> Result<()> {
        const OP: &str = "proto_segmented_sum";
        let dt = float(OP, "act", act)?;
        let (m, e) = rows_last(act);
        expect(OP, "idx", idx, &[m])?;
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

    /// `shape_loss`: penalty/reward shaping of a per-row loss.
    #[allow(clippy::too_many_arguments)]
    pub fn shape_loss(
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
        let (rows, vocab) = rows_last(probs);
        expect(OP, "loss_in", loss_in, &[rows])?;
        expect(OP, "target", target, &[rows])?;
        let [p, _] = dims::<2>(OP, "pairs", pairs)?;
        expect(OP, "pairs", pairs, &[p, 2])?;
        expect(OP, "loss_out", loss_out, &[rows])?;
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
