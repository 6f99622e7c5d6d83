//! # neurokern-train
//!
//! The seed system's hybrid character language model, trained end to end on any
//! neurokern device through the public `neurokern` API: the proof that the op set is
//! complete and usable, and the end-to-end benchmark.
//!
//! The model: embedding `(V, E)` → linear `E → H` + bias → GELU (the bio-inspired layer:
//! its spikes `h > θ` feed a Hebbian matrix, its rows are assigned to prototypes that
//! follow their members by a moving average; neither feeds the forward pass nor is trained
//! by backprop) → linear `H → V` + bias → log-softmax → cross-entropy. Each position sees
//! only its own character, so the training loss is bounded below by the text's bigram
//! entropy `H(next | current)` ([`data::entropies`]).
//!
//! | module | what it holds |
//! |---|---|
//! | [`data`] | vocabulary, split, overlapping sequences, seeded order, batches, entropies |
//! | [`config`] | every hyper-parameter as a clap flag |
//! | [`init`] | the seed's initialisation |
//! | [`model`] | the tensors on the device and the step as op calls |
//! | [`optim`] | the mean over real targets and gradient clipping, on the host |
//! | [`checkpoint`] | safetensors checkpoints, bit-exact resume |
//! | [`generate`] | sampling with temperature |
//! | [`log`] | the JSON Lines curve |
//! | [`trainer`] | the loop: epochs, schedule, validation, samples, progress bar |
//!
//! ```no_run
//! use neurokern::Runtime;
//! use neurokern_train::{config::Hyper, data::Corpus, trainer::Trainer};
//!
//! let rt = Runtime::discover();
//! let dev = rt.device("cpu")?;
//! let corpus = Corpus::from_text("to be or not to be, that is the question", 0.0)?;
//! let hp = Hyper { batch: 4, seq: 8, embed: 16, hidden: 32, prototypes: 8, ..Hyper::default() };
//! let mut t = Trainer::new(&dev, &hp, corpus)?;
//! let report = t.step()?;
//! println!("loss {:.3}", report.stats.mean_loss());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

pub mod checkpoint;
pub mod config;
pub mod data;
mod error;
pub mod generate;
mod host;
pub mod init;
pub mod log;
pub mod model;
pub mod optim;
pub mod trainer;

pub use error::{Error, Result};
