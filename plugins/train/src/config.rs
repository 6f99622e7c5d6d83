//! Every hyper-parameter of the model and its training, as clap flags (defaults: the
//! seed's), stored in each checkpoint so that a resumed run continues with the same ones.

use clap::ValueEnum;
use neurokern::FloatType;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The float dtype of parameters, activations and gradients (Adam's moments are f32).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
pub enum Dtype {
    /// IEEE binary32.
    F32,
    /// IEEE binary16 storage, f32 arithmetic (the op contract's f16).
    F16,
}

impl Dtype {
    /// The op contract's dtype.
    pub fn float(self) -> FloatType {
        match self {
            Dtype::F32 => FloatType::F32,
            Dtype::F16 => FloatType::F16,
        }
    }
    /// `"f32"` or `"f16"`.
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "f32",
            Dtype::F16 => "f16",
        }
    }
}

/// How gradients are clipped to `--clip`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
pub enum ClipMode {
    /// Each gradient tensor to norm `clip` on its own (the seed).
    PerTensor,
    /// All gradient tensors together to global norm `clip`.
    Global,
}

/// The model's and the optimizer's hyper-parameters.
#[derive(Clone, Debug, PartialEq, clap::Args, Serialize, Deserialize)]
pub struct Hyper {
    /// Seed of the initialisation, the data order and the samples.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Sequences per batch.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Characters per sequence.
    #[arg(long, default_value_t = 64)]
    pub seq: usize,
    /// Characters between the starts of consecutive training sequences (1: every
    /// position starts one, the seed's overlapping sequences).
    #[arg(long, default_value_t = 1)]
    pub stride: usize,
    /// The fraction of the text (its tail) kept for validation.
    #[arg(long, default_value_t = 0.1)]
    pub val_fraction: f64,
    /// Embedding width E.
    #[arg(long, default_value_t = 128)]
    pub embed: usize,
    /// Hidden width H of the bio-inspired layer.
    #[arg(long, default_value_t = 384)]
    pub hidden: usize,
    /// Number of prototypes.
    #[arg(long, default_value_t = 384)]
    pub prototypes: usize,
    /// A hidden unit spikes where its activation exceeds this.
    #[arg(long, default_value_t = 0.45)]
    pub spike_threshold: f32,
    /// Hebbian learning rate, applied to the batch mean of `spikesᵀ·h` (per valid row).
    #[arg(long, default_value_t = 0.01)]
    pub hebb_lr: f32,
    /// Hebbian decay per step (`W ← (1 − decay)·W + …`).
    #[arg(long, default_value_t = 0.0)]
    pub hebb_decay: f32,
    /// Prototype moving-average rate.
    #[arg(long, default_value_t = 0.005)]
    pub proto_lr: f32,
    /// Adam's learning rate in the first epoch.
    #[arg(long, default_value_t = 1e-2)]
    pub lr: f32,
    /// The learning rate is multiplied by this after every epoch.
    #[arg(long, default_value_t = 0.7)]
    pub lr_decay: f32,
    /// Adam β1.
    #[arg(long, default_value_t = 0.9)]
    pub beta1: f32,
    /// Adam β2.
    #[arg(long, default_value_t = 0.999)]
    pub beta2: f32,
    /// Adam ε.
    #[arg(long, default_value_t = 1e-8)]
    pub eps: f32,
    /// Weight decay of the two linear layers (none on the embedding, like the seed).
    #[arg(long, default_value_t = 0.01)]
    pub weight_decay: f32,
    /// Decoupled weight decay (AdamW) instead of L2 added to the gradient.
    #[arg(long)]
    pub adamw: bool,
    /// Gradient clipping norm (0: no clipping).
    #[arg(long, default_value_t = 1.0)]
    pub clip: f32,
    /// Clip each gradient tensor on its own, or all together.
    #[arg(long, value_enum, default_value_t = ClipMode::PerTensor)]
    pub clip_mode: ClipMode,
    /// Loss shaping: added to a row's loss when (target, prediction) is a confusable pair.
    #[arg(long, default_value_t = 0.5)]
    pub penalty: f32,
    /// Loss shaping: subtracted from a row's loss when the prediction is right with
    /// probability at least `--reward-threshold`.
    #[arg(long, default_value_t = 0.2)]
    pub reward: f32,
    /// See `--reward`.
    #[arg(long, default_value_t = 0.9)]
    pub reward_threshold: f32,
    /// A confusable (target, prediction) pair: two characters, `\n`, `\t` and `\\`
    /// escaped; repeat the flag for more. Pairs outside the vocabulary are dropped.
    #[arg(long = "confusable", value_name = "PAIR", default_values_t = [".".to_string() + " ", "\\n ".to_string()])]
    pub confusable: Vec<String>,
    /// Float dtype of parameters and activations.
    #[arg(long, value_enum, default_value_t = Dtype::F32)]
    pub dtype: Dtype,
}

impl Default for Hyper {
    fn default() -> Self {
        use clap::Parser;
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            h: Hyper,
        }
        Only::parse_from(["defaults"]).h
    }
}

fn positive(flag: &'static str, v: usize) -> Result<()> {
    if v == 0 {
        return Err(Error::config(flag, "must be at least 1"));
    }
    Ok(())
}

fn in_range(flag: &'static str, v: f32, lo: f32, hi: f32) -> Result<()> {
    if !(v.is_finite() && (lo..=hi).contains(&v)) {
        return Err(Error::config(flag, format!("{v} is outside [{lo}, {hi}]")));
    }
    Ok(())
}

impl Hyper {
    /// Checks every value's domain, naming the flag of the first one out of it.
    pub fn validate(&self) -> Result<()> {
        positive("batch", self.batch)?;
        positive("seq", self.seq)?;
        positive("stride", self.stride)?;
        positive("embed", self.embed)?;
        positive("hidden", self.hidden)?;
        positive("prototypes", self.prototypes)?;
        in_range("lr", self.lr, f32::MIN_POSITIVE, 10.0)?;
        in_range("lr-decay", self.lr_decay, 0.0, 1.0)?;
        in_range("beta1", self.beta1, 0.0, 0.999_999)?;
        in_range("beta2", self.beta2, 0.0, 0.999_999_9)?;
        in_range("eps", self.eps, 0.0, 1.0)?;
        in_range("weight-decay", self.weight_decay, 0.0, 1.0)?;
        in_range("clip", self.clip, 0.0, f32::MAX)?;
        in_range("hebb-lr", self.hebb_lr, 0.0, 1.0)?;
        in_range("hebb-decay", self.hebb_decay, 0.0, 1.0)?;
        in_range("proto-lr", self.proto_lr, 0.0, 1.0)?;
        in_range("spike-threshold", self.spike_threshold, f32::MIN, f32::MAX)?;
        in_range("penalty", self.penalty, f32::MIN, f32::MAX)?;
        in_range("reward", self.reward, f32::MIN, f32::MAX)?;
        in_range("reward-threshold", self.reward_threshold, 0.0, 1.0)?;
        if !(0.0..1.0).contains(&self.val_fraction) {
            return Err(Error::config(
                "val-fraction",
                format!("{} is outside [0, 1)", self.val_fraction),
            ));
        }
        for p in &self.confusable {
            parse_pair(p)?;
        }
        Ok(())
    }

    /// The confusable pairs as characters.
    pub fn pairs(&self) -> Result<Vec<(char, char)>> {
        self.confusable.iter().map(|p| parse_pair(p)).collect()
    }

    /// The learning rate of epoch `epoch` (from 0).
    pub fn lr_at(&self, epoch: u32) -> f32 {
        self.lr * self.lr_decay.powi(epoch as i32)
    }
}

/// `". "` → `('.', ' ')`; `"\n "` (backslash, n) → `('\n', ' ')`.
pub fn parse_pair(s: &str) -> Result<(char, char)> {
    let mut out = Vec::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        out.push(if c == '\\' {
            match it.next() {
                Some('n') => '\n',
                Some('t') => '\t',
                Some('r') => '\r',
                Some('\\') => '\\',
                other => {
                    return Err(Error::config(
                        "confusable",
                        format!(
                            "{s:?}: unknown escape `\\{}`",
                            other.map_or(String::new(), String::from)
                        ),
                    ))
                }
            }
        } else {
            c
        });
    }
    match out[..] {
        [a, b] => Ok((a, b)),
        _ => Err(Error::config(
            "confusable",
            format!(
                "{s:?} is {} characters: a pair is two (escapes \\n \\t \\r \\\\)",
                out.len()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_seeds() {
        let h = Hyper::default();
        assert_eq!(
            (h.batch, h.seq, h.embed, h.hidden, h.prototypes),
            (64, 64, 128, 384, 384)
        );
        assert_eq!(h.pairs().unwrap(), vec![('.', ' '), ('\n', ' ')]);
        assert_eq!((h.lr, h.weight_decay, h.clip), (1e-2, 0.01, 1.0));
        h.validate().unwrap();
        assert!((h.lr_at(2) - 1e-2 * 0.49).abs() < 1e-9);
    }

    #[test]
    fn bad_values_name_their_flag() {
        let h = Hyper {
            hidden: 0,
            ..Hyper::default()
        };
        assert!(h.validate().unwrap_err().to_string().contains("--hidden"));
        assert!(parse_pair("abc").is_err());
        assert!(parse_pair("\\q ").is_err());
        assert_eq!(parse_pair("\\t\\\\").unwrap(), ('\t', '\\'));
    }
}
