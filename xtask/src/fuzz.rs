//! `cargo xtask fuzz`: the cargo-fuzz targets of `fuzz/`.
//!
//! * `cargo xtask fuzz` lists the targets;
//! * `cargo xtask fuzz [run] [TARGET…] --seconds N` fuzzes each target (all by default) for
//!   N seconds, with an RSS limit and a per-input timeout; the working corpus grows in
//!   `fuzz/corpus/TARGET`, crashes land in `fuzz/artifacts/TARGET`;
//! * `cargo xtask fuzz --replay` (or `replay`) runs every committed seed
//!   (`fuzz/seeds/TARGET`) and every pinned crash (`fuzz/regressions/TARGET`) once, as a
//!   regression test (`-runs=0`).
//!
//! cargo-fuzz is installed with `cargo install cargo-fuzz` when missing. The sanitizer
//! flags it passes (`-Zsanitizer=address`, coverage instrumentation) are nightly-only
//! options of rustc; the stable toolchain accepts them when `RUSTC_BOOTSTRAP=1` is set,
//! which this task does for the fuzz build only.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;

use crate::util::{exec, root};

/// Every target, in the order `all` runs them.
const TARGETS: &[&str] = &[
    "validate",
    "reference",
    "differential",
    "plugin_file",
    "abi",
];

#[derive(Parser, Debug)]
#[command(name = "cargo xtask fuzz", about = "Fuzz targets (cargo-fuzz)")]
struct Args {
    /// `run`, `replay` or `list` (default: `run` with `--seconds`, `replay` with
    /// `--replay`, else `list`).
    action: Option<String>,
    /// Targets (default: all).
    targets: Vec<String>,
    /// Seconds per target (implies `run` when no action is given; default 60).
    #[arg(long)]
    seconds: Option<u64>,
    /// Replay the seeds and pinned crashes (same as the `replay` action).
    #[arg(long)]
    replay: bool,
    /// libFuzzer's RSS limit per process, in MiB.
    #[arg(long, default_value_t = 2048)]
    rss_limit_mb: u64,
    /// libFuzzer's per-input timeout, in seconds.
    #[arg(long, default_value_t = 20)]
    timeout: u64,
    /// Stop after this many inputs instead of after `--seconds` (with `--seed`, a
    /// reproducible run).
    #[arg(long)]
    runs: Option<u64>,
    /// libFuzzer's random seed (0: chosen by libFuzzer).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Parallel fuzzing jobs per target.
    #[arg(long, default_value_t = 1)]
    jobs: u32,
}

pub fn run(args: &[String]) -> Result<(), String> {
    let a = Args::try_parse_from(std::iter::once("fuzz".to_string()).chain(args.iter().cloned()))
        .map_err(|e| e.to_string())?;
    let mut a = a;
    // `cargo xtask fuzz abi --seconds 30`: a first word that names a target is a target.
    if let Some(first) = a.action.take() {
        if TARGETS.contains(&first.as_str()) {
            a.targets.insert(0, first);
        } else {
            a.action = Some(first);
        }
    }
    let action = match (&a.action, a.replay, a.seconds) {
        (_, true, _) => "replay".to_string(),
        (Some(action), false, _) => action.clone(),
        (None, false, Some(_)) => "run".to_string(), // `cargo xtask fuzz --seconds 600`
        (None, false, None) => "list".to_string(),
    };
    let targets: Vec<String> = if a.targets.is_empty() || a.targets.iter().any(|t| t == "all") {
        TARGETS.iter().map(|s| s.to_string()).collect()
    } else {
        for t in &a.targets {
            if !TARGETS.contains(&t.as_str()) {
                return Err(format!(
                    "unknown fuzz target `{t}`; targets: {}",
                    TARGETS.join(", ")
                ));
            }
        }
        a.targets.clone()
    };
    match action.as_str() {
        "list" => {
            for t in TARGETS {
                println!("{t}");
            }
            Ok(())
        }
        "run" => {
            ensure_cargo_fuzz()?;
            build_plugins()?;
            for t in &targets {
                fuzz(t, &a)?;
            }
            Ok(())
        }
        "replay" => {
            ensure_cargo_fuzz()?;
            build_plugins()?;
            for t in &targets {
                replay(t, &a)?;
            }
            Ok(())
        }
        other => Err(format!(
            "unknown fuzz action `{other}`: use run, replay or list"
        )),
    }
}

fn fuzz_dir() -> PathBuf {
    root().join("fuzz")
}

/// `cargo fuzz …` in `fuzz/`, with the flags stable rustc needs.
fn cargo_fuzz() -> Command {
    let mut cmd = crate::util::cargo();
    cmd.current_dir(fuzz_dir())
        .env("RUSTC_BOOTSTRAP", "1")
        .arg("fuzz");
    cmd
}

fn ensure_cargo_fuzz() -> Result<(), String> {
    let ok = crate::util::cargo()
        .args(["fuzz", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("cargo-fuzz is not installed: installing it (once) with `cargo install cargo-fuzz --locked`");
        exec(crate::util::cargo().args(["install", "cargo-fuzz", "--locked"]))?;
    }
    Ok(())
}

/// The differential, plugin-file and ABI targets load the CPU plugin from the main
/// workspace's target directory.
fn build_plugins() -> Result<(), String> {
    exec(crate::util::cargo().args(["build", "--release", "-p", "neurokern-plugin-cpu"]))
}

fn dirs(t: &str) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    let f = fuzz_dir();
    (
        f.join("corpus").join(t),
        f.join("seeds").join(t),
        f.join("regressions").join(t),
        f.join("artifacts").join(t),
    )
}

fn libfuzzer_flags(a: &Args) -> Vec<String> {
    let mut flags = vec![
        format!("-rss_limit_mb={}", a.rss_limit_mb),
        format!("-timeout={}", a.timeout),
        "-malloc_limit_mb=1024".into(),
    ];
    if std::env::var_os("NEUROKERN_FUZZ_PLUGIN").is_some() {
        // A vendor driver behind the plugin (PoCL, a GPU runtime) keeps allocations for
        // the life of the process, which LeakSanitizer reports at exit as ours.
        flags.push("-detect_leaks=0".into());
    }
    flags
}

fn fuzz(t: &str, a: &Args) -> Result<(), String> {
    let (corpus, seeds, _, artifacts) = dirs(t);
    for d in [&corpus, &artifacts] {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let mut cmd = cargo_fuzz();
    cmd.args(["run", "--release", "--features", "libfuzzer", t])
        .arg(&corpus);
    if seeds.is_dir() {
        cmd.arg(&seeds);
    }
    cmd.arg("--")
        .args(libfuzzer_flags(a))
        .arg(format!("-max_total_time={}", a.seconds.unwrap_or(60)))
        .arg(format!("-seed={}", a.seed));
    if let Some(runs) = a.runs {
        cmd.arg(format!("-runs={runs}"));
    }
    cmd.arg(format!("-artifact_prefix={}/", artifacts.display()));
    if a.jobs > 1 {
        cmd.arg(format!("-jobs={}", a.jobs))
            .arg(format!("-workers={}", a.jobs));
    }
    cmd.arg("-print_final_stats=1");
    exec(&mut cmd)
}

fn replay(t: &str, a: &Args) -> Result<(), String> {
    let (_, seeds, regressions, _) = dirs(t);
    let inputs: Vec<&Path> = [seeds.as_path(), regressions.as_path()]
        .into_iter()
        .filter(|d| d.is_dir())
        .collect();
    if inputs.is_empty() {
        return Err(format!(
            "fuzz target `{t}` has no committed seeds (fuzz/seeds/{t})"
        ));
    }
    let mut cmd = cargo_fuzz();
    cmd.args(["run", "--release", "--features", "libfuzzer", t])
        .args(&inputs);
    cmd.arg("--").args(libfuzzer_flags(a)).arg("-runs=0");
    exec(&mut cmd)
}

/// The fuzz part of `cargo xtask ci`: the targets' properties under proptest (`cargo test`
/// of the fuzz crate, no libFuzzer needed), then the replay of every committed seed and
/// pinned crash, then a smoke run of each target for a few seconds.
pub fn ci() -> Result<(), String> {
    build_plugins()?;
    let manifest = fuzz_dir().join("Cargo.toml");
    exec(
        crate::util::cargo()
            .args(["test", "--release", "--manifest-path"])
            .arg(&manifest),
    )?;
    let a = Args::try_parse_from(["fuzz"]).map_err(|e| e.to_string())?;
    ensure_cargo_fuzz()?;
    for t in TARGETS {
        replay(t, &a)?;
    }
    // A fixed seed and input count: the same smoke run every time (the seed corpus
    // first, then mutations), so CI does not go red by chance.
    for t in TARGETS {
        let runs = if *t == "plugin_file" { "300" } else { "20000" };
        let smoke = Args::try_parse_from([
            "fuzz",
            "run",
            "--seconds",
            "60",
            "--seed",
            "1",
            "--runs",
            runs,
        ])
        .map_err(|e| e.to_string())?;
        fuzz(t, &smoke)?;
    }
    Ok(())
}
