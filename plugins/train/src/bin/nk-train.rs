//! `nk-train`: train the hybrid character model on a text, on any neurokern device, and
//! generate from a checkpoint.
//!
//! ```text
//! nk-train train --backend cpu --data text.txt [--epochs N] [--max-steps N] [--dtype f16] [--resume CKPT]
//! nk-train generate --checkpoint out/checkpoint.safetensors --prompt "The " --len 300
//! nk-train entropy --data text.txt
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use neurokern::{Device, Runtime, RuntimeBuilder};
use neurokern_train::checkpoint::Checkpoint;
use neurokern_train::config::Hyper;
use neurokern_train::data::{entropies, Corpus};
use neurokern_train::generate::generate;
use neurokern_train::model::Model;
use neurokern_train::trainer::{RunOptions, Trainer};
use neurokern_train::{Error, Result};

#[derive(Parser)]
#[command(
    name = "nk-train",
    about = "Train the seed's hybrid character language model on any neurokern device"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Train (or resume) on a UTF-8 text.
    Train(Box<TrainArgs>),
    /// Generate text from a checkpoint.
    Generate(GenArgs),
    /// The unigram and bigram entropies of a text: the floors of this model's loss.
    Entropy(EntropyArgs),
}

#[derive(Args)]
struct DeviceArgs {
    /// The device: `cpu` (the CPU plugin, else the built-in device), `builtin`,
    /// `opencl`, `vulkan`, `cuda`, or `plugin:index`.
    #[arg(long, default_value = "cpu")]
    backend: String,
    /// A plugin file or directory to search first (repeatable).
    #[arg(long)]
    plugin: Vec<PathBuf>,
}

impl DeviceArgs {
    fn open(&self) -> Result<Device> {
        let mut b = RuntimeBuilder::default();
        for p in &self.plugin {
            b = b.path(p);
        }
        let rt: Runtime = b.build();
        Ok(rt.device(&self.backend)?)
    }
}

#[derive(Args)]
struct TrainArgs {
    #[command(flatten)]
    device: DeviceArgs,
    /// The training text (UTF-8).
    #[arg(long)]
    data: PathBuf,
    /// Epochs to train.
    #[arg(long, default_value_t = 1)]
    epochs: u32,
    /// Stop after this many steps (counted across resumes).
    #[arg(long)]
    max_steps: Option<u64>,
    /// Directory of the checkpoint (`checkpoint.safetensors`) and the log (`log.jsonl`).
    #[arg(long, default_value = "train-out")]
    out: PathBuf,
    /// Steps between checkpoints (0: at epoch ends and at the end only).
    #[arg(long, default_value_t = 0)]
    checkpoint_every: u64,
    /// Continue from this checkpoint (its hyper-parameters are used).
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Prompt of the samples after each epoch.
    #[arg(long, default_value = "The ")]
    prompt: String,
    /// Characters sampled after each epoch (0: none).
    #[arg(long, default_value_t = 200)]
    sample_len: usize,
    /// Sampling temperature (0: most likely character).
    #[arg(long, default_value_t = 0.8)]
    temperature: f32,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    hyper: Hyper,
}

#[derive(Args)]
struct GenArgs {
    #[command(flatten)]
    device: DeviceArgs,
    /// The checkpoint.
    #[arg(long)]
    checkpoint: PathBuf,
    /// The prompt (characters of the training vocabulary).
    #[arg(long, default_value = "The ")]
    prompt: String,
    /// Characters to generate.
    #[arg(long, default_value_t = 300)]
    len: usize,
    /// Sampling temperature (0: most likely character).
    #[arg(long, default_value_t = 0.8)]
    temperature: f32,
    /// Seed of the sampling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Args)]
struct EntropyArgs {
    /// The text.
    #[arg(long)]
    data: PathBuf,
    /// The fraction kept for validation.
    #[arg(long, default_value_t = 0.1)]
    val_fraction: f64,
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len() / 2).copied().unwrap_or(f64::NAN)
}

fn train(a: TrainArgs) -> Result<()> {
    let dev = a.device.open()?;
    let (mut trainer, corpus_note) = match &a.resume {
        Some(path) => {
            let ck = Checkpoint::read(path)?;
            if ck.header.hyper != a.hyper {
                eprintln!("note: resuming with the checkpoint's hyper-parameters (the flags given differ)");
            }
            let corpus = Corpus::load(&a.data, ck.header.hyper.val_fraction)?;
            (
                Trainer::resume(&dev, &ck, corpus)?,
                format!("resumed at step {}", ck.header.progress.step),
            )
        }
        None => {
            let corpus = Corpus::load(&a.data, a.hyper.val_fraction)?;
            (Trainer::new(&dev, &a.hyper, corpus)?, "fresh".to_string())
        }
    };
    let c = &trainer.corpus;
    let v = c.vocab.len();
    let e = entropies(&c.train, &c.val, v);
    let hp = trainer.model.hyper();
    eprintln!(
        "device {} ({}), {}; {} training + {} validation characters, V = {v} (ln V = {:.4}); \
         unigram entropy {:.4}, bigram entropy {:.4}{}; {} steps per epoch of {}×{}",
        dev.label(),
        hp.dtype.name(),
        corpus_note,
        c.train.len(),
        c.val.len(),
        (v as f64).ln(),
        e.unigram,
        e.bigram,
        e.bigram_table_val.map_or(String::new(), |x| format!(
            ", bigram table on validation {x:.4}"
        )),
        trainer.steps_per_epoch(),
        hp.batch,
        hp.seq,
    );
    let opts = RunOptions {
        epochs: a.epochs,
        max_steps: a.max_steps,
        checkpoint: Some(a.out.join("checkpoint.safetensors")),
        checkpoint_every: a.checkpoint_every,
        log: Some(a.out.join("log.jsonl")),
        prompt: a.prompt,
        sample_len: a.sample_len,
        temperature: a.temperature,
        progress: !a.quiet,
    };
    let s = trainer.run(&opts)?;
    if s.steps.is_empty() {
        eprintln!("nothing to do: the checkpoint is already at the requested step or epoch");
        return Ok(());
    }
    let tail = &s.steps[s.steps.len().saturating_sub(20)..];
    let mut last = neurokern_train::model::Stats::default();
    for r in tail {
        last.add(&r.stats);
    }
    let ms = median(&s.step_ms);
    let tokens = (trainer.model.hyper().batch * trainer.model.hyper().seq) as f64;
    eprintln!(
        "{} steps; last {} steps: loss {:.4}, shaped {:.4}, accuracy {:.1}%{}; \
         step median {ms:.1} ms ({:.0} tokens/s); first-step loss {:.4}",
        s.steps.len(),
        tail.len(),
        last.mean_loss(),
        last.mean_shaped(),
        100.0 * last.accuracy(),
        s.val.map_or(String::new(), |v| format!(
            "; validation loss {:.4}, accuracy {:.1}%",
            v.mean_loss(),
            100.0 * v.accuracy()
        )),
        tokens / ms * 1e3,
        s.steps[0].stats.mean_loss(),
    );
    eprintln!(
        "checkpoint {}, log {}",
        a.out.join("checkpoint.safetensors").display(),
        a.out.join("log.jsonl").display()
    );
    Ok(())
}

fn gen(a: GenArgs) -> Result<()> {
    let dev = a.device.open()?;
    let ck = Checkpoint::read(&a.checkpoint)?;
    let h = &ck.header;
    let pairs: Vec<(i32, i32)> = h
        .hyper
        .pairs()?
        .into_iter()
        .filter_map(|(x, y)| Some((h.vocab.id(x)?, h.vocab.id(y)?)))
        .collect();
    let mut model = Model::new(&dev, &h.hyper, h.vocab.len(), &pairs)?;
    ck.restore(&mut model)?;
    let text = generate(&model, &h.vocab, &a.prompt, a.len, a.temperature, a.seed)?;
    println!("{text}");
    Ok(())
}

fn entropy(a: EntropyArgs) -> Result<()> {
    let c = Corpus::load(&a.data, a.val_fraction)?;
    let v = c.vocab.len();
    let e = entropies(&c.train, &c.val, v);
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "vocab": v,
            "ln_vocab": (v as f64).ln(),
            "train_chars": c.train.len(),
            "val_chars": c.val.len(),
            "entropies": e,
        }))
        .map_err(Error::from)?
    );
    Ok(())
}

fn main() -> ExitCode {
    let r = match Cli::parse().cmd {
        Cmd::Train(a) => train(*a),
        Cmd::Generate(a) => gen(a),
        Cmd::Entropy(a) => entropy(a),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nk-train: {e}");
            ExitCode::FAILURE
        }
    }
}
