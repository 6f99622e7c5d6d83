//! The training loop: epochs of shuffled batches, the learning-rate schedule, validation
//! and a sample after each epoch, checkpoints, the JSON log and the progress bar.

use std::path::PathBuf;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use neurokern::Device;

use crate::checkpoint::{self, Checkpoint, Header, Progress};
use crate::config::Hyper;
use crate::data::{entropies, epoch_order, sequence_starts, Batch, Corpus};
use crate::error::{Error, Result};
use crate::generate::generate;
use crate::log::{Log, Record};
use crate::model::{Model, Stats, StepReport};

/// How long to train and where to write: the options that may change on resume.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Train until this many epochs are complete.
    pub epochs: u32,
    /// …or until this many steps are done (counted from the start of training, across
    /// resumes).
    pub max_steps: Option<u64>,
    /// The checkpoint file (written after each epoch, every `checkpoint_every` steps, and
    /// at the end); `None`: none.
    pub checkpoint: Option<PathBuf>,
    /// Steps between checkpoints (0: only at epoch ends and at the end).
    pub checkpoint_every: u64,
    /// The JSON Lines log; `None`: none.
    pub log: Option<PathBuf>,
    /// The prompt of the sample after each epoch.
    pub prompt: String,
    /// Characters generated after each epoch (0: no sample).
    pub sample_len: usize,
    /// Sampling temperature.
    pub temperature: f32,
    /// Draw a progress bar on stderr (when it is a terminal).
    pub progress: bool,
}

/// A model, its text and where training stands.
#[derive(Debug)]
pub struct Trainer {
    /// The model.
    pub model: Model,
    /// The text.
    pub corpus: Corpus,
    /// Where training stands.
    pub progress: Progress,
    starts: Vec<u32>,
    resumed_at: u64,
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Every step's report, in order.
    pub steps: Vec<StepReport>,
    /// Wall time of each step (ms).
    pub step_ms: Vec<f64>,
    /// The last validation (`None` without validation text).
    pub val: Option<Stats>,
    /// The samples, one per epoch end (and one at a stop inside an epoch).
    pub samples: Vec<String>,
}

fn pair_ids(hp: &Hyper, corpus: &Corpus) -> Result<Vec<(i32, i32)>> {
    Ok(hp
        .pairs()?
        .into_iter()
        .filter_map(|(a, b)| Some((corpus.vocab.id(a)?, corpus.vocab.id(b)?)))
        .collect())
}

impl Trainer {
    /// A fresh model on `dev`.
    pub fn new(dev: &Device, hp: &Hyper, corpus: Corpus) -> Result<Trainer> {
        hp.validate()?;
        let pairs = pair_ids(hp, &corpus)?;
        let model = Model::new(dev, hp, corpus.vocab.len(), &pairs)?;
        let starts = sequence_starts(corpus.train.len(), hp.stride);
        let progress = Progress {
            step: 0,
            epoch: 0,
            epoch_step: 0,
            order: epoch_order(starts.len(), hp.seed, 0),
        };
        Ok(Trainer {
            model,
            corpus,
            progress,
            starts,
            resumed_at: 0,
        })
    }

    /// The model of checkpoint `ck` on `dev`, continuing where it stopped; `corpus` must
    /// be the same text (checked by its fingerprint).
    pub fn resume(dev: &Device, ck: &Checkpoint, corpus: Corpus) -> Result<Trainer> {
        let h = &ck.header;
        let mismatch = |m: String| Error::Checkpoint {
            path: PathBuf::from("(resume)"),
            message: m,
        };
        if h.text_fnv1a != corpus.fingerprint || h.vocab != corpus.vocab {
            return Err(mismatch(
                "the checkpoint was trained on another text (fingerprint or vocabulary differ)"
                    .into(),
            ));
        }
        let mut t = Trainer::new(dev, &h.hyper, corpus)?;
        if h.progress.order.len() != t.starts.len() {
            return Err(mismatch(format!(
                "its data order has {} sequences, the text gives {}",
                h.progress.order.len(),
                t.starts.len()
            )));
        }
        let expected = epoch_order(t.starts.len(), h.hyper.seed, h.progress.epoch);
        if h.progress.order != expected {
            return Err(mismatch(
                "its data order is not the one its seed gives for its epoch".into(),
            ));
        }
        ck.restore(&mut t.model)?;
        t.progress = h.progress.clone();
        t.resumed_at = h.progress.step;
        Ok(t)
    }

    /// Batches per epoch.
    pub fn steps_per_epoch(&self) -> usize {
        self.starts.len().div_ceil(self.model.hyper().batch)
    }

    fn header(&self) -> Header {
        Header {
            hyper: self.model.hyper().clone(),
            vocab: self.corpus.vocab.clone(),
            text_fnv1a: self.corpus.fingerprint,
            progress: self.progress.clone(),
        }
    }

    /// Writes a checkpoint of the current state.
    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        checkpoint::save(path, &self.model, &self.header())
    }

    /// One step on the next batch of the current epoch.
    pub fn step(&mut self) -> Result<StepReport> {
        let hp = self.model.hyper();
        let (b, s) = (hp.batch, hp.seq);
        let lo = self.progress.epoch_step * b;
        let hi = (lo + b).min(self.progress.order.len());
        let starts: Vec<u32> = self.progress.order[lo..hi]
            .iter()
            .map(|&i| self.starts[i as usize])
            .collect();
        let batch = Batch::gather(&self.corpus.train, &starts, b, s);
        let lr = hp.lr_at(self.progress.epoch);
        let t = u32::try_from(self.progress.step + 1)
            .map_err(|_| Error::config("max-steps", "Adam's step counter is 32 bits"))?;
        let r = self.model.train_step(&batch, lr, t)?;
        self.progress.step += 1;
        self.progress.epoch_step += 1;
        Ok(r)
    }

    /// Loss and accuracy on the validation text (non-overlapping sequences, so every
    /// character is scored once); `None` without validation text.
    pub fn validate(&mut self) -> Result<Option<Stats>> {
        if self.corpus.val.len() < 2 {
            return Ok(None);
        }
        let (b, s) = (self.model.hyper().batch, self.model.hyper().seq);
        let starts = sequence_starts(self.corpus.val.len(), s);
        let mut total = Stats::default();
        for chunk in starts.chunks(b) {
            let batch = Batch::gather(&self.corpus.val, chunk, b, s);
            total.add(&self.model.evaluate(&batch)?);
        }
        Ok(Some(total))
    }

    /// Starts the next epoch: its order, its learning rate.
    fn next_epoch(&mut self) {
        self.progress.epoch += 1;
        self.progress.epoch_step = 0;
        self.progress.order = epoch_order(
            self.starts.len(),
            self.model.hyper().seed,
            self.progress.epoch,
        );
    }

    /// A sample of `len` characters from `prompt`, seeded by the seed and the step.
    pub fn sample(&self, prompt: &str, len: usize, temperature: f32) -> Result<String> {
        let seed = self.model.hyper().seed ^ self.progress.step.rotate_left(32);
        generate(
            &self.model,
            &self.corpus.vocab,
            prompt,
            len,
            temperature,
            seed,
        )
    }

    /// Trains until `opts` says stop, logging, sampling and checkpointing as it goes.
    pub fn run(&mut self, opts: &RunOptions) -> Result<Summary> {
        let spe = self.steps_per_epoch() as u64;
        let goal = {
            let by_epochs = u64::from(opts.epochs) * spe;
            opts.max_steps.map_or(by_epochs, |m| m.min(by_epochs))
        };
        let mut log = match &opts.log {
            Some(p) => Some(Log::open(p, self.resumed_at > 0)?),
            None => None,
        };
        let v = self.corpus.vocab.len();
        if let Some(l) = &mut log {
            l.write(&Record::Start {
                device: self.model.device().label().to_string(),
                hyper: self.model.hyper().clone(),
                vocab: v,
                ln_vocab: (v as f64).ln(),
                train_chars: self.corpus.train.len(),
                val_chars: self.corpus.val.len(),
                entropies: entropies(&self.corpus.train, &self.corpus.val, v),
                steps_per_epoch: spe as usize,
                resumed_at: self.resumed_at,
            })?;
        }
        let bar = if opts.progress {
            ProgressBar::new(goal)
        } else {
            ProgressBar::with_draw_target(Some(goal), ProgressDrawTarget::hidden())
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:30} {pos}/{len} {msg} [{elapsed_precise} < {eta_precise}]",
            )
            .map_err(|e| Error::config("progress", e.to_string()))?,
        );
        bar.set_position(self.progress.step);
        let mut summary = Summary::default();
        let mut epoch_stats = Stats::default();
        let started = Instant::now();
        let mut tokens = 0usize;
        while self.progress.step < goal {
            let t0 = Instant::now();
            let r = self.step()?;
            let ms = t0.elapsed().as_secs_f64() * 1e3;
            epoch_stats.add(&r.stats);
            tokens += r.stats.valid;
            let tps = tokens as f64 / started.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!(
                "loss {:.3} acc {:.1}% {:.0} tok/s",
                r.stats.mean_loss(),
                100.0 * r.stats.accuracy(),
                tps
            ));
            bar.inc(1);
            if let Some(l) = &mut log {
                l.write(&Record::Step {
                    step: self.progress.step,
                    epoch: self.progress.epoch,
                    loss: r.stats.mean_loss(),
                    shaped_loss: r.stats.mean_shaped(),
                    accuracy: r.stats.accuracy(),
                    lr: self.model.hyper().lr_at(self.progress.epoch),
                    grad_norm: r.clip.norm,
                    clipped: r.clip.clipped,
                    protos_used: r.protos_used,
                    tokens: r.stats.valid,
                    ms,
                })?;
            }
            summary.steps.push(r);
            summary.step_ms.push(ms);
            let epoch_done = self.progress.epoch_step as u64 == spe;
            let stopping = self.progress.step == goal;
            if epoch_done || stopping {
                let epoch = self.progress.epoch;
                let val = self.validate()?;
                let sample = if opts.sample_len > 0 {
                    self.sample(&opts.prompt, opts.sample_len, opts.temperature)?
                } else {
                    String::new()
                };
                bar.println(format!(
                    "epoch {epoch} step {}: train loss {:.4} acc {:.1}%{}\n  {sample:?}",
                    self.progress.step,
                    epoch_stats.mean_loss(),
                    100.0 * epoch_stats.accuracy(),
                    val.map_or(String::new(), |v| format!(
                        ", validation loss {:.4} acc {:.1}%",
                        v.mean_loss(),
                        100.0 * v.accuracy()
                    ))
                ));
                if let Some(l) = &mut log {
                    l.write(&Record::Epoch {
                        epoch,
                        step: self.progress.step,
                        complete: epoch_done,
                        train_loss: epoch_stats.mean_loss(),
                        train_accuracy: epoch_stats.accuracy(),
                        val_loss: val.map(|v| v.mean_loss()),
                        val_accuracy: val.map(|v| v.accuracy()),
                        sample: sample.clone(),
                    })?;
                }
                summary.val = val;
                summary.samples.push(sample);
                epoch_stats = Stats::default();
                if epoch_done {
                    self.next_epoch();
                }
            }
            let periodic =
                opts.checkpoint_every > 0 && self.progress.step % opts.checkpoint_every == 0;
            if let Some(p) = &opts.checkpoint {
                if periodic || epoch_done || stopping {
                    self.save(p)?;
                }
            }
        }
        bar.finish_and_clear();
        Ok(summary)
    }
}
