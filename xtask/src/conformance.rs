//! `cargo xtask conformance [ARGS]`: builds the conformance suite in release mode and runs
//! it on every device found (the in-process reference always; every plugin the host
//! finds). `ARGS` go to the suite: `--backend NAME`, `--op OP`, `--dtype f32|f16`,
//! `--case ID`, `--quick`, `--list`, `--out DIR` (see `--help`). The report is written to
//! the workspace's `target/conformance/` (`report.json`, `report.md`) unless `--out`
//! says otherwise. `NEUROKERN_REQUIRE=cpu,opencl` makes a backend that cannot run a
//! failure instead of a skip.

use crate::util::{cargo, exec, root};

/// Builds and runs the suite with `args` (release mode).
pub fn run(args: &[String]) -> Result<(), String> {
    let mut cmd = cargo();
    cmd.args([
        "run",
        "--release",
        "--package",
        "neurokern-conformance",
        "--bin",
        "conformance",
        "--",
    ]);
    if !args.iter().any(|a| a == "--out" || a.starts_with("--out=")) {
        cmd.arg("--out").arg(root().join("target").join("conformance"));
    }
    cmd.args(args);
    exec(&mut cmd).map_err(|e| format!("conformance suite: {e}"))
}

/// The conformance part of `cargo xtask ci`: the whole suite (seed-size cases included)
/// on the reference and on every plugin the host finds, the CPU plugin among them.
pub fn ci() -> Result<(), String> {
    run(&["--quiet".to_string()])
}
