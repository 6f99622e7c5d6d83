//! The curve as JSON Lines: one object per line (`"kind"`: `start`, `step`, `epoch`,
//! `end`), appended as training goes, so a resumed run continues the same file.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::Hyper;
use crate::data::Entropies;
use crate::error::{Error, Result};

/// One line of the log.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    /// A run starts (or resumes).
    Start {
        /// The device's label.
        device: String,
        /// The hyper-parameters.
        hyper: Hyper,
        /// Vocabulary size.
        vocab: usize,
        /// `ln V`: the loss of a uniform prediction.
        ln_vocab: f64,
        /// Training and validation characters.
        train_chars: usize,
        /// Validation characters.
        val_chars: usize,
        /// The entropies that bound this model's loss.
        entropies: Entropies,
        /// Batches per epoch.
        steps_per_epoch: usize,
        /// The step resumed from (0 for a fresh run).
        resumed_at: u64,
    },
    /// One training step.
    Step {
        /// Adam's step counter.
        step: u64,
        /// Epoch, from 0.
        epoch: u32,
        /// Mean cross-entropy of the batch (nats).
        loss: f64,
        /// Mean shaped loss (penalty and reward added).
        shaped_loss: f64,
        /// Fraction predicted.
        accuracy: f64,
        /// Learning rate.
        lr: f32,
        /// Global gradient norm before clipping.
        grad_norm: f64,
        /// Gradient tensors clipped.
        clipped: usize,
        /// Prototypes that received a row.
        protos_used: usize,
        /// Real targets in the batch.
        tokens: usize,
        /// Wall time of the step (ms).
        ms: f64,
    },
    /// An epoch ended (or training stopped inside one: `complete` false).
    Epoch {
        /// Epoch, from 0.
        epoch: u32,
        /// Steps done so far.
        step: u64,
        /// Whether the epoch ran to its end.
        complete: bool,
        /// Mean training loss of the epoch's steps in this run.
        train_loss: f64,
        /// Training accuracy likewise.
        train_accuracy: f64,
        /// Validation loss (`None` without validation text).
        val_loss: Option<f64>,
        /// Validation accuracy.
        val_accuracy: Option<f64>,
        /// A sample from the prompt.
        sample: String,
    },
}

/// An open log file.
#[derive(Debug)]
pub struct Log {
    path: PathBuf,
    out: BufWriter<File>,
}

impl Log {
    /// Opens `path`: appended to when `append`, else truncated.
    pub fn open(path: &Path, append: bool) -> Result<Log> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let f = OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        Ok(Log {
            path: path.to_path_buf(),
            out: BufWriter::new(f),
        })
    }

    /// Writes one record as a line (flushed, so the curve can be followed live).
    pub fn write(&mut self, r: &Record) -> Result<()> {
        serde_json::to_writer(&mut self.out, r)?;
        self.out
            .write_all(b"\n")
            .and_then(|()| self.out.flush())
            .map_err(|e| Error::io(&self.path, e))
    }
}
