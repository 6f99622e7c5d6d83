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
//! * `--plugin opencl` (or `cuda`, `vulkan`, or a plugin file's path) builds that plugin
//!   and points the `differential` target at it (`NEUROKERN_FUZZ_PLUGIN`) instead of the
//!   CPU plugin.
//!
//! Every failure leaves its input in `fuzz/artifacts/TARGET` (`crash-<sha1>`, written by
//! libFuzzer and by the targets' own panic hook, see `fuzz/src/artifact.rs`); a failed run
//! names the files and the command that replays them.
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
    /// libFuzzer's RSS limit per process, in MiB (default 2048; with a GPU plugin, 3072:
    /// see `DEVICE_MEMORY`).
    #[arg(long)]
    rss_limit_mb: Option<u64>,
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
    /// The plugin the `differential` target attacks: `cpu` (default), `opencl`, `cuda`,
    /// `vulkan` (built in release mode first) or a plugin file's path.
    #[arg(long)]
    plugin: Option<String>,
}

/// The plugin file `--plugin` names (built first when it is a plugin of this workspace);
/// `None` for the CPU plugin, which the targets find themselves.
fn plugin_file(a: &Args) -> Result<Option<PathBuf>, String> {
    match a.plugin.as_deref() {
        None | Some("cpu") => Ok(None),
        Some(name @ ("opencl" | "cuda" | "vulkan")) => {
            exec(crate::util::cargo().args([
                "build",
                "--release",
                "-p",
                &format!("neurokern-plugin-{name}"),
            ]))?;
            let file = format!(
                "{}neurokern_plugin_{name}{}",
                std::env::consts::DLL_PREFIX,
                std::env::consts::DLL_SUFFIX
            );
            Ok(Some(root().join("target").join("release").join(file)))
        }
        Some(path) => {
            let p = PathBuf::from(path);
            if p.is_file() {
                Ok(Some(p))
            } else {
                Err(format!(
                    "--plugin `{path}` is neither cpu, opencl, cuda, vulkan nor a plugin file"
                ))
            }
        }
    }
}

/// Points a fuzz command at `plugin` (when given) and at the target's artifact directory.
fn environment(cmd: &mut Command, plugin: Option<&Path>, artifacts: &Path) {
    if let Some(p) = plugin {
        cmd.env("NEUROKERN_FUZZ_PLUGIN", p);
    }
    if uses_plugin(plugin) {
        if std::env::var_os("NEUROKERN_OPENCL_MEMORY").is_none() {
            cmd.env("NEUROKERN_OPENCL_MEMORY", format!("{DEVICE_MEMORY_MB}M"));
        }
        // The driver's allocations for the life of the process (see `libfuzzer_flags`)
        // are also reported by LeakSanitizer's check at exit, which libFuzzer's
        // `-detect_leaks=0` does not turn off.
        let mut asan = std::env::var("ASAN_OPTIONS").unwrap_or_default();
        if !asan.contains("detect_leaks") {
            if !asan.is_empty() {
                asan.push(':');
            }
            asan.push_str("detect_leaks=0");
        }
        cmd.env("ASAN_OPTIONS", asan);
    }
    cmd.env("NEUROKERN_FUZZ_ARTIFACTS", artifacts);
}

/// The crash artifacts in `dir`.
fn artifacts_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// A failed fuzz run's error, naming the inputs it left behind.
fn failure(t: &str, err: String, before: &[PathBuf], artifacts: &Path) -> String {
    let new: Vec<String> = artifacts_in(artifacts)
        .into_iter()
        .filter(|p| !before.contains(p))
        .map(|p| p.display().to_string())
        .collect();
    if new.is_empty() {
        format!(
            "{err}\nfuzz target `{t}` failed and left no new input in {}: see the output \
             above (a failure outside any input, such as a leak report at exit, or one that \
             cannot be replayed, which is a bug of the harness)",
            artifacts.display()
        )
    } else {
        format!(
            "{err}\nfuzz target `{t}` failed; its input: {}\nreplay: cargo fuzz run --release \
             --features libfuzzer {t} FILE (in fuzz/), or pin it: copy it to \
             fuzz/regressions/{t}/ and fix until `cargo xtask fuzz --replay` passes",
            new.join(", ")
        )
    }
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
            let plugin = plugin_file(&a)?;
            for t in &targets {
                fuzz(t, &a, plugin.as_deref())?;
            }
            Ok(())
        }
        "replay" => {
            ensure_cargo_fuzz()?;
            build_plugins()?;
            let plugin = plugin_file(&a)?;
            for t in &targets {
                replay(t, &a, plugin.as_deref())?;
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

/// The device memory a GPU plugin under the fuzzer may use (`NEUROKERN_OPENCL_MEMORY`,
/// unless set), in MiB. On a CPU device (PoCL) device memory is the process's memory, so
/// the RSS limit grows by as much; without a cap a legal call could ask for gigabytes of
/// workspace (found by the differential fuzzer: `dynamic_token_assignment` with `e = 0`
/// and 16.7 M prototypes materialized a 2 GiB score matrix within PoCL's 20 GiB).
const DEVICE_MEMORY_MB: u64 = 1024;

fn uses_plugin(plugin: Option<&Path>) -> bool {
    plugin.is_some() || std::env::var_os("NEUROKERN_FUZZ_PLUGIN").is_some()
}

fn libfuzzer_flags(a: &Args, plugin: Option<&Path>) -> Vec<String> {
    let rss = a.rss_limit_mb.unwrap_or(if uses_plugin(plugin) {
        2048 + DEVICE_MEMORY_MB
    } else {
        2048
    });
    let mut flags = vec![
        format!("-rss_limit_mb={rss}"),
        format!("-timeout={}", a.timeout),
        "-malloc_limit_mb=1024".into(),
    ];
    if uses_plugin(plugin) {
        // A vendor driver behind the plugin (PoCL, a GPU runtime) keeps allocations for
        // the life of the process, which LeakSanitizer reports at exit as ours.
        flags.push("-detect_leaks=0".into());
    }
    flags
}

fn fuzz(t: &str, a: &Args, plugin: Option<&Path>) -> Result<(), String> {
    let (corpus, seeds, _, artifacts) = dirs(t);
    for d in [&corpus, &artifacts] {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let mut cmd = cargo_fuzz();
    environment(&mut cmd, plugin, &artifacts);
    cmd.args(["run", "--release", "--features", "libfuzzer", t])
        .arg(&corpus);
    if seeds.is_dir() {
        cmd.arg(&seeds);
    }
    cmd.arg("--")
        .args(libfuzzer_flags(a, plugin))
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
    let before = artifacts_in(&artifacts);
    exec(&mut cmd).map_err(|e| failure(t, e, &before, &artifacts))
}

fn replay(t: &str, a: &Args, plugin: Option<&Path>) -> Result<(), String> {
    let (_, seeds, regressions, artifacts) = dirs(t);
    let inputs: Vec<&Path> = [seeds.as_path(), regressions.as_path()]
        .into_iter()
        .filter(|d| d.is_dir())
        .collect();
    if inputs.is_empty() {
        return Err(format!(
            "fuzz target `{t}` has no committed seeds (fuzz/seeds/{t})"
        ));
    }
    std::fs::create_dir_all(&artifacts).map_err(|e| format!("{}: {e}", artifacts.display()))?;
    let mut cmd = cargo_fuzz();
    environment(&mut cmd, plugin, &artifacts);
    cmd.args(["run", "--release", "--features", "libfuzzer", t])
        .args(&inputs);
    cmd.arg("--")
        .args(libfuzzer_flags(a, plugin))
        .arg("-runs=0")
        .arg(format!("-artifact_prefix={}/", artifacts.display()));
    let before = artifacts_in(&artifacts);
    exec(&mut cmd).map_err(|e| failure(t, e, &before, &artifacts))
}

/// The fuzz part of `cargo xtask ci`: the targets' properties under proptest (`cargo test`
/// of the fuzz crate, no libFuzzer needed), then the replay of every committed seed and
/// pinned crash, then a smoke run of each target for a few seconds; then, where the OpenCL
/// loader is installed, the `differential` target against the OpenCL plugin: its seeds and
/// pinned crashes replayed, and a short seeded run.
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
        replay(t, &a, None)?;
    }
    // A fixed seed and input count: the same smoke run every time (the seed corpus
    // first, then mutations), so CI does not go red by chance.
    for t in TARGETS {
        let runs = if *t == "plugin_file" { "300" } else { "20000" };
        fuzz(t, &smoke(runs, "60")?, None)?;
    }
    if crate::util::opencl_available() {
        // Every GPU plugin CI can run: OpenCL (PoCL on CI's CPU). About a minute: the
        // first call compiles the programs (PoCL caches them), then ~200 inputs/s.
        let a = Args::try_parse_from(["fuzz", "--plugin", "opencl"]).map_err(|e| e.to_string())?;
        let plugin = plugin_file(&a)?;
        replay("differential", &a, plugin.as_deref())?;
        fuzz("differential", &smoke("4000", "60")?, plugin.as_deref())?;
    }
    Ok(())
}

/// A reproducible smoke run: seed 1, at most `runs` inputs and `seconds`.
fn smoke(runs: &str, seconds: &str) -> Result<Args, String> {
    Args::try_parse_from([
        "fuzz",
        "run",
        "--seconds",
        seconds,
        "--seed",
        "1",
        "--runs",
        runs,
    ])
    .map_err(|e| e.to_string())
}
