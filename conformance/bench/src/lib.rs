//! # neurokern-bench
//!
//! `nk-bench`: benchmarks of any neurokern backend, side by side in one run. Every device
//! is reached through [`neurokern_core::Backend`]: the in-process reference (`reference`),
//! the simulated GPU (`sim`), every plugin the host discovers (`cpu`, `opencl`, …), and
//! plugin files named on the command line, so two builds of one plugin (before and after
//! a change) compare in one process.
//!
//! * [`cases`]: every op at the seed model's shapes, and the seed model's training step
//!   ([`model`]).
//! * [`subject::bench()`]: the one generic entry point, turning any backend into a device
//!   the runner can prepare cases on.
//! * [`measure`]: interleaved repetitions (the devices take turns, so that load changes
//!   hit all alike), medians and spread, the process's CPU time; the per-op profile of
//!   the training step (`--profile`).
//! * [`anchors`]: OpenBLAS through numpy and the step in JAX/XLA, when the machine has
//!   them; a missing anchor is reported, never an error.
//! * [`report`]: JSON (serde) and Markdown, ratios against a baseline device.
//!
//! Times are never asserted anywhere: the tests check the harness.

pub mod anchors;
pub mod cases;
pub mod cli;
pub mod data;
pub mod devices;
pub mod measure;
pub mod model;
pub mod report;
pub mod run;
pub mod subject;

pub use cli::Cli;
pub use run::{list, run, Written};
