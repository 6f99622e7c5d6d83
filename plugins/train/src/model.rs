//! The hybrid model on one device: parameters, Adam's moments, the Hebbian matrix and the
//! prototypes, the buffers of one batch, and the training step as a sequence of typed op
//! calls.
//!
//! Forward: `x0 = table[idx]` (rows, E) → `hpre = x0·W1 + b1` → `h = gelu(hpre)` (rows, H)
//! → `logits = h·W2 + b2` (rows, V) → `logp = log_softmax` → `cross_entropy_loss_grad`
//! (padding targets −1 give loss 0 and gradient 0). Beside it, never seen by the forward
//! pass and never trained by backprop: `spikes = h > θ` and `W_hebb += lr/N · spikesᵀ·h`;
//! each row of `h` assigned to its most similar prototype, and each prototype moved toward
//! the mean of its rows. Backward: `matmul_backward` through both linears,
//! `reduce_sum_01` for the biases, `gelu_backward`, `embedding_backward`. Then the host
//! takes the mean over real targets and clips ([`crate::optim`]), and `adam_update` runs
//! on the device.

use neurokern::{Device, ElemType, SumMode, Tensor};

use crate::config::{Dtype, Hyper};
use crate::data::{Batch, PAD};
use crate::error::{Error, Result};
use crate::host;
use crate::init::Init;
use crate::optim::{scale_and_clip, ClipReport};

/// The trained tensors, in the order of [`Model::params`] and the checkpoint.
pub const PARAM_NAMES: [&str; 5] = ["table", "w1", "b1", "w2", "b2"];

/// The model's sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    /// Sequences per batch.
    pub batch: usize,
    /// Characters per sequence.
    pub seq: usize,
    /// Vocabulary.
    pub vocab: usize,
    /// Embedding width.
    pub embed: usize,
    /// Hidden width.
    pub hidden: usize,
    /// Prototypes.
    pub protos: usize,
}

impl Dims {
    /// `batch · seq`: the rows every rowwise op sees.
    pub fn rows(&self) -> usize {
        self.batch * self.seq
    }
    /// The shape of each parameter, in [`PARAM_NAMES`] order.
    pub fn param_shapes(&self) -> [Vec<usize>; 5] {
        let (v, e, h) = (self.vocab, self.embed, self.hidden);
        [vec![v, e], vec![e, h], vec![h], vec![h, v], vec![v]]
    }
}

/// What one step (or one validation batch) measured, summed over its real targets.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    /// Σ cross-entropy (nats).
    pub loss: f64,
    /// Σ shaped loss (the seed's penalty and reward added).
    pub shaped: f64,
    /// Predictions (argmax) equal to the target.
    pub correct: usize,
    /// Real targets.
    pub valid: usize,
}

impl Stats {
    /// Adds `o` in.
    pub fn add(&mut self, o: &Stats) {
        self.loss += o.loss;
        self.shaped += o.shaped;
        self.correct += o.correct;
        self.valid += o.valid;
    }
    /// Mean loss per real target.
    pub fn mean_loss(&self) -> f64 {
        self.loss / self.valid.max(1) as f64
    }
    /// Mean shaped loss.
    pub fn mean_shaped(&self) -> f64 {
        self.shaped / self.valid.max(1) as f64
    }
    /// Fraction of targets predicted.
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.valid.max(1) as f64
    }
}

/// One training step's report.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepReport {
    /// Loss, shaped loss and accuracy of the batch (before the update).
    pub stats: Stats,
    /// Gradient norm and clipping.
    pub clip: ClipReport,
    /// Prototypes that received at least one row.
    pub protos_used: usize,
}

/// The activations and gradients of one batch.
struct Scratch {
    idx: Tensor,
    target: Tensor,
    x0: Tensor,
    hlin: Tensor,
    hpre: Tensor,
    h: Tensor,
    spikes: Tensor,
    assign: Tensor,
    sums: Tensor,
    counts: Tensor,
    olin: Tensor,
    logits: Tensor,
    logp: Tensor,
    grad: Tensor,
    loss: Tensor,
    probs: Tensor,
    shaped: Tensor,
    pred: Tensor,
    dh: Tensor,
    dhpre: Tensor,
    dx0: Tensor,
    grads: Vec<Tensor>,
}

/// The model on a device.
pub struct Model {
    dev: Device,
    hp: Hyper,
    dims: Dims,
    /// `table, w1, b1, w2, b2` in the model's dtype.
    pub params: Vec<Tensor>,
    /// Adam's `(m, v)` per parameter, f32.
    pub moments: Vec<(Tensor, Tensor)>,
    /// The Hebbian matrix `(H, H)`.
    pub whebb: Tensor,
    /// The prototypes `(T, H)`.
    pub proto: Tensor,
    /// The identity `(V, V)`: `dynamic_token_assignment(logp, eye)` is the argmax of each
    /// row of `logp` (each similarity is one log-probability plus exact zeros), which the
    /// op set has no other op for.
    eye: Tensor,
    /// The confusable pairs as ids, `(P, 2)` i32.
    pairs: Tensor,
    s: Scratch,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("device", &self.dev.label())
            .field("dims", &self.dims)
            .field("dtype", &self.hp.dtype)
            .finish()
    }
}

impl Model {
    /// The model with the seed's initialisation (seeded by `hp.seed`) for a vocabulary of
    /// `vocab`; `pairs` are the confusable (target, prediction) pairs as ids.
    pub fn new(dev: &Device, hp: &Hyper, vocab: usize, pairs: &[(i32, i32)]) -> Result<Model> {
        hp.validate()?;
        if vocab == 0 {
            return Err(Error::Data("the vocabulary is empty".into()));
        }
        let dims = Dims {
            batch: hp.batch,
            seq: hp.seq,
            vocab,
            embed: hp.embed,
            hidden: hp.hidden,
            protos: hp.prototypes,
        };
        for kind in neurokern::OpKind::ALL {
            if !dev.supports(*kind, hp.dtype.float()) && needed(*kind) {
                return Err(Error::config(
                    "dtype",
                    format!(
                        "device {} does not run `{}` in {}",
                        dev.label(),
                        kind.name(),
                        hp.dtype.name()
                    ),
                ));
            }
        }
        let init = Init::new(hp.seed, vocab, hp.embed, hp.hidden, hp.prototypes);
        let dt = hp.dtype;
        let shapes = dims.param_shapes();
        let values = [&init.table, &init.w1, &init.b1, &init.w2, &init.b2];
        let params = shapes
            .iter()
            .zip(values)
            .map(|(s, v)| host::upload(dev, dt, s, v))
            .collect::<Result<Vec<_>>>()?;
        let moments = shapes
            .iter()
            .map(|s| Ok((dev.zeros(ElemType::F32, s)?, dev.zeros(ElemType::F32, s)?)))
            .collect::<Result<Vec<_>>>()?;
        let (h, t, v) = (hp.hidden, hp.prototypes, vocab);
        let whebb = host::upload(dev, dt, &[h, h], &vec![0.0; h * h])?;
        let proto = host::upload(dev, dt, &[t, h], &init.proto)?;
        let mut eye_host = vec![0.0f32; v * v];
        for i in 0..v {
            eye_host[i * v + i] = 1.0;
        }
        let eye = host::upload(dev, dt, &[v, v], &eye_host)?;
        let flat: Vec<i32> = pairs.iter().flat_map(|&(a, b)| [a, b]).collect();
        let pairs = dev.upload(&[pairs.len(), 2], &flat)?;
        let s = Scratch::new(dev, dt, &dims)?;
        Ok(Model {
            dev: dev.clone(),
            hp: hp.clone(),
            dims,
            params,
            moments,
            whebb,
            proto,
            eye,
            pairs,
            s,
        })
    }

    /// The device.
    pub fn device(&self) -> &Device {
        &self.dev
    }
    /// The sizes.
    pub fn dims(&self) -> Dims {
        self.dims
    }
    /// The hyper-parameters.
    pub fn hyper(&self) -> &Hyper {
        &self.hp
    }

    fn load_batch(&mut self, batch: &Batch) -> Result<()> {
        let rows = self.dims.rows();
        if batch.idx.len() != rows || batch.target.len() != rows {
            return Err(Error::Data(format!(
                "a batch of {} positions for a model of {rows} rows",
                batch.idx.len()
            )));
        }
        self.s.idx.write(&batch.idx)?;
        self.s.target.write(&batch.target)?;
        Ok(())
    }

    /// The forward pass to `loss` and `grad` of the loaded batch, and the measurements.
    fn forward(&mut self, batch: &Batch) -> Result<Stats> {
        let d = &self.dev;
        let s = &mut self.s;
        let [table, w1, b1, w2, b2] = &self.params[..] else {
            unreachable!("five parameters")
        };
        d.embedding_lookup_into(&s.idx, table, &mut s.x0)?;
        d.matmul_into(&s.x0, w1, &mut s.hlin)?;
        d.add_bias_into(&s.hlin, b1, &mut s.hpre)?;
        d.gelu_into(&s.hpre, &mut s.h)?;
        d.matmul_into(&s.h, w2, &mut s.olin)?;
        d.add_bias_into(&s.olin, b2, &mut s.logits)?;
        d.log_softmax_into(&s.logits, &mut s.logp)?;
        d.cross_entropy_loss_grad_into(&s.logp, &s.target, &mut s.grad, &mut s.loss)?;
        // Measurements: the seed's shaped loss beside the plain one, and the argmax.
        d.softmax_into(&s.logits, &mut s.probs)?;
        let hp = &self.hp;
        d.shape_loss_into(
            &s.loss,
            &s.probs,
            &s.target,
            &self.pairs,
            &mut s.shaped,
            hp.penalty,
            hp.reward,
            hp.reward_threshold,
        )?;
        d.dynamic_token_assignment_into(&s.logp, &self.eye, &mut s.pred, None)?;
        let loss = host::download(&s.loss)?;
        let shaped = host::download(&s.shaped)?;
        let pred: Vec<i32> = s.pred.download()?;
        let mut st = Stats::default();
        for (i, &t) in batch.target.iter().enumerate() {
            if t != PAD {
                st.valid += 1;
                st.loss += f64::from(loss[i]);
                st.shaped += f64::from(shaped[i]);
                st.correct += usize::from(pred[i] == t);
            }
        }
        Ok(st)
    }

    /// The Hebbian and prototype updates from the current `h`, padding rows left out.
    fn bio_updates(&mut self, batch: &Batch) -> Result<usize> {
        let d = &self.dev;
        let s = &mut self.s;
        let hp = &self.hp;
        d.threshold_spike_into(&s.h, &mut s.spikes, hp.spike_threshold)?;
        if batch.padded() {
            // A padding row's h is gelu(b1), not a character's: zero its spikes so that
            // it adds nothing to W_hebb (rare: the tail of the text only).
            let mut sp = host::download(&s.spikes)?;
            let hdim = self.dims.hidden;
            for (r, &t) in batch.target.iter().enumerate() {
                if t == PAD {
                    sp[r * hdim..(r + 1) * hdim].fill(0.0);
                }
            }
            host::write(&s.spikes, &sp)?;
        }
        if batch.valid > 0 {
            let lr = hp.hebb_lr / batch.valid as f32;
            d.hebbian_update(&s.spikes, &s.h, &mut self.whebb, lr, hp.hebb_decay)?;
        }
        d.dynamic_token_assignment_into(&s.h, &self.proto, &mut s.assign, None)?;
        if batch.padded() {
            // Index −1 is outside [0, T): proto_segmented_sum skips the row.
            let mut a: Vec<i32> = s.assign.download()?;
            for (r, &t) in batch.target.iter().enumerate() {
                if t == PAD {
                    a[r] = PAD;
                }
            }
            s.assign.write(&a)?;
        }
        d.proto_segmented_sum_into(
            &s.h,
            &s.assign,
            &mut s.sums,
            &mut s.counts,
            SumMode::Deterministic,
        )?;
        d.proto_update_step(&mut self.proto, &s.sums, &s.counts, hp.proto_lr)?;
        let counts: Vec<i32> = s.counts.download()?;
        Ok(counts.iter().filter(|&&c| c > 0).count())
    }

    /// The gradients of the summed loss into `s.grads`.
    fn backward(&mut self) -> Result<()> {
        let d = &self.dev;
        let s = &mut self.s;
        let [dtable, dw1, db1, dw2, db2] = &mut s.grads[..] else {
            unreachable!("five gradients")
        };
        let (w1, w2) = (&self.params[1], &self.params[3]);
        d.matmul_backward_into(&s.h, w2, &s.grad, Some(&mut s.dh), Some(dw2))?;
        d.reduce_sum_01_into(&s.grad, db2)?;
        d.gelu_backward_into(&s.hpre, &s.dh, &mut s.dhpre)?;
        d.matmul_backward_into(&s.x0, w1, &s.dhpre, Some(&mut s.dx0), Some(dw1))?;
        d.reduce_sum_01_into(&s.dhpre, db1)?;
        d.embedding_backward_into(&s.dx0, &s.idx, dtable)?;
        Ok(())
    }

    /// One training step on `batch` with learning rate `lr` at Adam step `t` (from 1).
    pub fn train_step(&mut self, batch: &Batch, lr: f32, t: u32) -> Result<StepReport> {
        self.load_batch(batch)?;
        let stats = self.forward(batch)?;
        let protos_used = self.bio_updates(batch)?;
        if batch.valid == 0 {
            return Ok(StepReport {
                stats,
                protos_used,
                ..StepReport::default()
            });
        }
        self.backward()?;
        let mut g = self
            .s
            .grads
            .iter()
            .map(host::download)
            .collect::<Result<Vec<_>>>()?;
        let clip = scale_and_clip(
            &mut g,
            1.0 / batch.valid as f64,
            self.hp.clip,
            self.hp.clip_mode,
        );
        for (dst, src) in self.s.grads.iter().zip(&g) {
            host::write(dst, src)?;
        }
        for (i, (p, (m, v))) in self
            .params
            .iter_mut()
            .zip(self.moments.iter_mut())
            .enumerate()
        {
            // The seed decays the layers, not the embedding.
            let wd = if i == 0 { 0.0 } else { self.hp.weight_decay };
            let ap = neurokern::AdamParams {
                lr,
                beta1: self.hp.beta1,
                beta2: self.hp.beta2,
                eps: self.hp.eps,
                weight_decay: wd,
                decoupled: self.hp.adamw,
            };
            self.dev.adam_update(p, &self.s.grads[i], m, v, &ap, t)?;
        }
        Ok(StepReport {
            stats,
            clip,
            protos_used,
        })
    }

    /// Loss and accuracy of `batch` without changing anything.
    pub fn evaluate(&mut self, batch: &Batch) -> Result<Stats> {
        self.load_batch(batch)?;
        self.forward(batch)
    }

    /// The logits of the last position of `context` (at most `seq` ids are used: the
    /// tail). Nothing is updated.
    pub fn next_logits(&self, context: &[i32]) -> Result<Vec<f32>> {
        let ctx = &context[context.len().saturating_sub(self.dims.seq)..];
        if ctx.is_empty() {
            return Err(Error::Data(
                "generation needs a prompt of at least one character".into(),
            ));
        }
        let d = &self.dev;
        let [table, w1, b1, w2, b2] = &self.params[..] else {
            unreachable!("five parameters")
        };
        let idx = d.upload(&[ctx.len()], ctx)?;
        let x0 = d.embedding_lookup(&idx, table)?;
        let h = d.gelu(&d.add_bias(&d.matmul(&x0, w1)?, b1)?)?;
        let logits = d.add_bias(&d.matmul(&h, w2)?, b2)?;
        let all = host::download(&logits)?;
        Ok(all[(ctx.len() - 1) * self.dims.vocab..].to_vec())
    }
}

/// The ops the step calls.
fn needed(kind: neurokern::OpKind) -> bool {
    use neurokern::OpKind as K;
    matches!(
        kind,
        K::EmbeddingLookup
            | K::MatMul
            | K::AddBias
            | K::Gelu
            | K::ThresholdSpike
            | K::HebbianUpdate
            | K::DynamicTokenAssignment
            | K::ProtoSegmentedSum
            | K::ProtoUpdateStep
            | K::LogSoftmax
            | K::Softmax
            | K::CrossEntropyLossGrad
            | K::ShapeLoss
            | K::MatMulBackward
            | K::ReduceSum01
            | K::GeluBackward
            | K::EmbeddingBackward
            | K::AdamUpdate
    )
}

impl Scratch {
    fn new(dev: &Device, dt: Dtype, d: &Dims) -> Result<Scratch> {
        let f = match dt {
            Dtype::F32 => ElemType::F32,
            Dtype::F16 => ElemType::F16,
        };
        let rows = d.rows();
        let (e, h, v, t) = (d.embed, d.hidden, d.vocab, d.protos);
        let z = |shape: &[usize]| dev.zeros(f, shape);
        let zi = |shape: &[usize]| dev.zeros(ElemType::I32, shape);
        Ok(Scratch {
            idx: zi(&[rows])?,
            target: zi(&[rows])?,
            x0: z(&[rows, e])?,
            hlin: z(&[rows, h])?,
            hpre: z(&[rows, h])?,
            h: z(&[rows, h])?,
            spikes: z(&[rows, h])?,
            assign: zi(&[rows])?,
            sums: z(&[t, h])?,
            counts: zi(&[t])?,
            olin: z(&[rows, v])?,
            logits: z(&[rows, v])?,
            logp: z(&[rows, v])?,
            grad: z(&[rows, v])?,
            loss: z(&[rows])?,
            probs: z(&[rows, v])?,
            shaped: z(&[rows])?,
            pred: zi(&[rows])?,
            dh: z(&[rows, h])?,
            dhpre: z(&[rows, h])?,
            dx0: z(&[rows, e])?,
            grads: d
                .param_shapes()
                .iter()
                .map(|s| z(s))
                .collect::<neurokern::Result<Vec<_>>>()?,
        })
    }
}
