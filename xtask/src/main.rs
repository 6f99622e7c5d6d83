//! Repository tasks, in the cargo-xtask convention: `cargo xtask <task>`.
//!
//! One cheap binary (clap only); each task lives in its own module and receives the rest
//! of the command line, so a task can grow its own options without touching the others.

mod bench;
mod ci;
mod conformance;
mod devices;
mod fuzz;
mod gpu_bundle;
mod kernels;
mod train;
mod tune;
mod util;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "neurokern repository tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// What CI runs: fmt check, clippy -D warnings, every test, the docs, the conformance run.
    Ci(Rest),
    /// The conformance suite on every backend found (the CPU always).
    Conformance(Rest),
    /// Every plugin found, its devices, and why any was rejected or cannot run.
    Devices(Rest),
    /// Per-op benchmarks and the seed model's training step.
    Bench(Rest),
    /// The fuzz targets (cargo-fuzz).
    Fuzz(Rest),
    /// The archive of a prepared GPU run: release binaries, run.sh, the PyTorch anchors.
    GpuBundle(Rest),
    /// Compiles the ahead-of-time kernels (GLSL → SPIR-V); `--check` compares with the committed files.
    Kernels(Rest),
    /// Trains the seed's hybrid character model on a text: `--backend B --data FILE`.
    Train(Rest),
    /// Tunes a backend's kernels on a device and caches the plan: `--backend opencl [--budget S]`.
    Tune(Rest),
}

/// The task's own arguments, passed through untouched.
#[derive(clap::Args)]
struct Rest {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Ci(r) => ci::run(&r.args),
        Task::Conformance(r) => conformance::run(&r.args),
        Task::Devices(r) => devices::run(&r.args),
        Task::Bench(r) => bench::run(&r.args),
        Task::Fuzz(r) => fuzz::run(&r.args),
        Task::GpuBundle(r) => gpu_bundle::run(&r.args),
        Task::Kernels(r) => kernels::run(&r.args),
        Task::Train(r) => train::run(&r.args),
        Task::Tune(r) => tune::run(&r.args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
