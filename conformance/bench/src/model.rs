//! The seed model's training step, on any [`Backend`]: the work of the seed driver's
//! step, as a list of op calls. Forward: embedding, linear 128 → 384 + bias, GELU, spikes
//! and a Hebbian update, token assignment to T prototypes, per-prototype sums and the
//! prototypes' moving average, linear 384 → 96 + bias, log-softmax, cross-entropy.
//! Backward through both linear layers, GELU and the embedding, then Adam on the five
//! trained tensors.
//!
//! The step is data ([`Model::calls`]) so that the plain step and the profiled step run
//! exactly the same calls.

use std::time::Instant;

use neurokern_core::op::*;
use neurokern_core::{Backend, DeviceBuffer, ElemType, FloatType, Op};
use rand_chacha::ChaCha8Rng;

use crate::data::{upload, Fill};

/// Batch.
pub const B: usize = 64;
/// Sequence length.
pub const S: usize = 64;
/// Embedding width.
pub const E: usize = 128;
/// Hidden width.
pub const H: usize = 384;
/// Vocabulary.
pub const V: usize = 96;
/// Prototypes.
pub const T: usize = 72;

/// One call of the step: a label unique within the step (the op and what it works on),
/// the op, and its arguments.
#[derive(Debug)]
pub struct Call<'a, Buf> {
    /// `"matmul h·w2"`.
    pub label: &'static str,
    /// The op.
    pub op: Op,
    /// One slot per operand, `None` for a disabled one.
    pub args: Vec<Option<&'a Buf>>,
}

/// The seed model's buffers on one device.
#[derive(Debug)]
pub struct Model<Buf> {
    idx: Buf,
    target: Buf,
    table: Buf,
    w1: Buf,
    b1: Buf,
    w2: Buf,
    b2: Buf,
    whebb: Buf,
    proto: Buf,
    x0: Buf,
    hpre: Buf,
    h: Buf,
    spikes: Buf,
    assign: Buf,
    sums: Buf,
    counts: Buf,
    logits: Buf,
    logp: Buf,
    grad: Buf,
    loss: Buf,
    dh: Buf,
    dw2: Buf,
    db2: Buf,
    dhpre: Buf,
    dx0: Buf,
    dw1: Buf,
    db1: Buf,
    dtable: Buf,
    /// Adam's first and second moments (f32) of table, w1, b1, w2, b2.
    moments: Vec<(Buf, Buf)>,
    /// Adam's step counter.
    step: u32,
}

fn call<'a, Buf>(label: &'static str, op: Op, args: &[Option<&'a Buf>]) -> Call<'a, Buf> {
    Call {
        label,
        op,
        args: args.to_vec(),
    }
}

impl<Buf: DeviceBuffer> Model<Buf> {
    /// Allocates the model on `b` in `dtype`: parameters and inputs random, activations
    /// and gradients zero.
    pub fn new<Bk>(b: &Bk, dtype: FloatType, rng: &mut ChaCha8Rng) -> Result<Self, Bk::Error>
    where
        Bk: Backend<Buffer = Buf>,
    {
        let f = dtype.elem();
        let rows = B * S;
        let mut up = |elem, len, bound| upload(b, elem, len, Fill::signed(bound), rng);
        let moments = [V * E, E * H, H, H * V, V]
            .iter()
            .map(|&n| Ok((b.alloc(ElemType::F32, n)?, b.alloc(ElemType::F32, n)?)))
            .collect::<Result<Vec<_>, Bk::Error>>()?;
        Ok(Model {
            idx: up(ElemType::I32, rows, V)?,
            target: up(ElemType::I32, rows, V)?,
            table: up(f, V * E, 0)?,
            w1: up(f, E * H, 0)?,
            b1: up(f, H, 0)?,
            w2: up(f, H * V, 0)?,
            b2: up(f, V, 0)?,
            whebb: up(f, H * H, 0)?,
            proto: up(f, T * H, 0)?,
            x0: b.alloc(f, rows * E)?,
            hpre: b.alloc(f, rows * H)?,
            h: b.alloc(f, rows * H)?,
            spikes: b.alloc(f, rows * H)?,
            assign: b.alloc(ElemType::I32, rows)?,
            sums: b.alloc(f, T * H)?,
            counts: b.alloc(ElemType::I32, T)?,
            logits: b.alloc(f, rows * V)?,
            logp: b.alloc(f, rows * V)?,
            grad: b.alloc(f, rows * V)?,
            loss: b.alloc(f, rows)?,
            dh: b.alloc(f, rows * H)?,
            dw2: b.alloc(f, H * V)?,
            db2: b.alloc(f, V)?,
            dhpre: b.alloc(f, rows * H)?,
            dx0: b.alloc(f, rows * E)?,
            dw1: b.alloc(f, E * H)?,
            db1: b.alloc(f, H)?,
            dtable: b.alloc(f, V * E)?,
            moments,
            step: 0,
        })
    }

    /// The calls of one training step, in order; `t` is Adam's step counter (from 1).
    pub fn calls(&self, t: u32) -> Vec<Call<'_, Buf>> {
        let rows = B * S;
        let s = self;
        let mut v = vec![
            // Forward.
            call(
                "embedding_lookup",
                EmbeddingLookup {
                    b: B,
                    s: S,
                    vocab: V,
                    dim: E,
                }
                .into(),
                &[Some(&s.idx), Some(&s.table), Some(&s.x0)],
            ),
            call(
                "matmul x0·w1",
                MatMul {
                    b: B,
                    m: S,
                    k: E,
                    n: H,
                }
                .into(),
                &[Some(&s.x0), Some(&s.w1), Some(&s.hpre)],
            ),
            call(
                "add_bias b1",
                AddBias { b: B, m: S, n: H }.into(),
                &[Some(&s.hpre), Some(&s.b1), Some(&s.hpre)],
            ),
            call(
                "gelu",
                Gelu { n: rows * H }.into(),
                &[Some(&s.hpre), Some(&s.h)],
            ),
            call(
                "threshold_spike",
                ThresholdSpike {
                    n: rows * H,
                    threshold: 0.5,
                }
                .into(),
                &[Some(&s.h), Some(&s.spikes)],
            ),
            call(
                "hebbian_update",
                HebbianUpdate {
                    b: B,
                    m: S,
                    k: H,
                    n: H,
                    lr: 1e-4,
                    decay: 1e-3,
                }
                .into(),
                &[Some(&s.spikes), Some(&s.h), Some(&s.whebb)],
            ),
            call(
                "dynamic_token_assignment",
                DynamicTokenAssignment {
                    b: B,
                    s: S,
                    e: H,
                    t: T,
                    want_best: false,
                }
                .into(),
                &[Some(&s.h), Some(&s.proto), Some(&s.assign), None],
            ),
            call(
                "proto_segmented_sum",
                ProtoSegmentedSum {
                    m: rows,
                    e: H,
                    t: T,
                    mode: SumMode::Deterministic,
                }
                .into(),
                &[Some(&s.h), Some(&s.assign), Some(&s.sums), Some(&s.counts)],
            ),
            call(
                "proto_update_step",
                ProtoUpdateStep {
                    t: T,
                    e: H,
                    lr: 0.05,
                }
                .into(),
                &[Some(&s.proto), Some(&s.sums), Some(&s.counts)],
            ),
            call(
                "matmul h·w2",
                MatMul {
                    b: B,
                    m: S,
                    k: H,
                    n: V,
                }
                .into(),
                &[Some(&s.h), Some(&s.w2), Some(&s.logits)],
            ),
            call(
                "add_bias b2",
                AddBias { b: B, m: S, n: V }.into(),
                &[Some(&s.logits), Some(&s.b2), Some(&s.logits)],
            ),
            call(
                "log_softmax",
                LogSoftmax { rows, len: V }.into(),
                &[Some(&s.logits), Some(&s.logp)],
            ),
            call(
                "cross_entropy_loss_grad",
                CrossEntropyLossGrad { rows, vocab: V }.into(),
                &[Some(&s.logp), Some(&s.target), Some(&s.grad), Some(&s.loss)],
            ),
            // Backward.
            call(
                "matmul_backward h·w2",
                MatMulBackward {
                    b: B,
                    m: S,
                    k: H,
                    n: V,
                    want_d_a: true,
                    want_d_w: true,
                }
                .into(),
                &[
                    Some(&s.h),
                    Some(&s.w2),
                    Some(&s.grad),
                    Some(&s.dh),
                    Some(&s.dw2),
                ],
            ),
            call(
                "reduce_sum_01 db2",
                ReduceSum01 { b: B, m: S, n: V }.into(),
                &[Some(&s.grad), Some(&s.db2)],
            ),
            call(
                "gelu_backward",
                GeluBackward { n: rows * H }.into(),
                &[Some(&s.hpre), Some(&s.dh), Some(&s.dhpre)],
            ),
            call(
                "matmul_backward x0·w1",
                MatMulBackward {
                    b: B,
                    m: S,
                    k: E,
                    n: H,
                    want_d_a: true,
                    want_d_w: true,
                }
                .into(),
                &[
                    Some(&s.x0),
                    Some(&s.w1),
                    Some(&s.dhpre),
                    Some(&s.dx0),
                    Some(&s.dw1),
                ],
            ),
            call(
                "reduce_sum_01 db1",
                ReduceSum01 { b: B, m: S, n: H }.into(),
                &[Some(&s.dhpre), Some(&s.db1)],
            ),
            call(
                "embedding_backward",
                EmbeddingBackward {
                    b: B,
                    s: S,
                    vocab: V,
                    dim: E,
                }
                .into(),
                &[Some(&s.dx0), Some(&s.idx), Some(&s.dtable)],
            ),
        ];
        // Adam on the embedding table and both linear layers.
        let params: [(&'static str, &Buf, &Buf); 5] = [
            ("adam_update table", &s.table, &s.dtable),
            ("adam_update w1", &s.w1, &s.dw1),
            ("adam_update b1", &s.b1, &s.db1),
            ("adam_update w2", &s.w2, &s.dw2),
            ("adam_update b2", &s.b2, &s.db2),
        ];
        for ((label, p, g), (m, v2)) in params.into_iter().zip(&s.moments) {
            v.push(call(
                label,
                AdamUpdate {
                    n: p.len(),
                    lr: 1e-3,
                    beta1: 0.9,
                    beta2: 0.999,
                    eps: 1e-8,
                    weight_decay: 0.0,
                    t,
                    decoupled: false,
                }
                .into(),
                &[Some(p), Some(g), Some(m), Some(v2)],
            ));
        }
        v
    }

    /// One training step, synchronized at its end.
    pub fn step<Bk>(&mut self, b: &Bk, dtype: FloatType) -> Result<(), Bk::Error>
    where
        Bk: Backend<Buffer = Buf>,
    {
        self.step += 1;
        for c in self.calls(self.step) {
            b.run(&c.op, dtype, &c.args)?;
        }
        b.synchronize()
    }

    /// One training step synchronized after every op, returning each op's label and wall
    /// time in ms: where the step's time goes. The sum can differ from a plain step's time
    /// both ways: synchronizing costs, and a device that overlaps queued ops loses that.
    pub fn step_profiled<Bk>(
        &mut self,
        b: &Bk,
        dtype: FloatType,
    ) -> Result<Vec<(&'static str, f64)>, Bk::Error>
    where
        Bk: Backend<Buffer = Buf>,
    {
        self.step += 1;
        // Nothing queued from before may be charged to the first op.
        b.synchronize()?;
        let calls = self.calls(self.step);
        let mut times = Vec::with_capacity(calls.len());
        for c in calls {
            let t0 = Instant::now();
            b.run(&c.op, dtype, &c.args)?;
            b.synchronize()?;
            times.push((c.label, t0.elapsed().as_secs_f64() * 1e3));
        }
        Ok(times)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use neurokern_backend_cpu::CpuBackend;
    use rand::SeedableRng;

    /// Every call of the step is a valid call (shapes, element types, aliasing), in both
    /// dtypes, with labels unique within the step; checked without running it.
    #[test]
    fn every_call_of_the_step_validates() {
        let b = CpuBackend::new();
        for dt in FloatType::ALL {
            let m = Model::new(&b, dt, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
            let calls = m.calls(1);
            assert_eq!(calls.len(), 24);
            for c in &calls {
                neurokern_core::backend::check_call(&c.op, dt, &c.args)
                    .unwrap_or_else(|e| panic!("{} {dt:?}: {e}", c.label));
            }
            let mut labels: Vec<&str> = calls.iter().map(|c| c.label).collect();
            labels.sort_unstable();
            labels.dedup();
            assert_eq!(labels.len(), calls.len());
        }
    }
}
