//! `cargo xtask conformance [ARGS]`: builds the plugins and the conformance suite in
//! release mode and runs the suite on every device found: the in-process reference
//! and the simulated GPU device (`sim`) always, and every plugin the host finds (the CPU
//! plugin, and the OpenCL plugin where the OpenCL loader is installed; configured OpenCL
//! devices run in that crate's tests). `ARGS` go to the suite: `--backend NAME`, `--op OP`,
//! `--dtype f32|f16`, `--case ID`, `--quick`, `--list`, `--out DIR` (see `--help`). The
//! report is written to the workspace's `target/conformance/` (`report.json`,
//! `report.md`) unless `--out` says otherwise. `NEUROKERN_REQUIRE=cpu,opencl` makes a
//! backend that cannot run a failure instead of a skip.

use crate::util::{cargo, exec, opencl_available, root};

/// Builds the plugins (release) so that the suite's plugin discovery finds them in the
/// target directory, next to the suite's binary.
fn build_plugins(opencl: bool) -> Result<(), String> {
    let mut cmd = cargo();
    // The Vulkan and CUDA plugins load their driver at run time, so they build anywhere;
    // on a machine without one they report why in the suite's skipped list.
    cmd.args([
        "build",
        "--release",
        "-p",
        "neurokern-plugin-cpu",
        "-p",
        "neurokern-plugin-vulkan",
        "-p",
        "neurokern-plugin-cuda",
    ]);
    if opencl {
        cmd.args(["-p", "neurokern-plugin-opencl"]);
    }
    exec(&mut cmd)
}

fn run_suite(args: &[String], envs: &[(&str, &str)]) -> Result<(), String> {
    let mut cmd = cargo();
    cmd.args(["run", "--release", "--package", "neurokern-conformance"]);
    cmd.args(["--bin", "conformance", "--"]);
    if !args.iter().any(|a| a == "--out" || a.starts_with("--out=")) {
        cmd.arg("--out")
            .arg(root().join("target").join("conformance"));
    }
    cmd.args(args);
    cmd.envs(envs.iter().copied());
    exec(&mut cmd).map_err(|e| format!("conformance suite: {e}"))
}

/// Builds the plugins and the suite and runs it with `args` (release mode).
pub fn run(args: &[String]) -> Result<(), String> {
    if args
        .iter()
        .any(|a| a == "--help" || a == "-h" || a == "--list")
    {
        return run_suite(args, &[]);
    }
    let opencl = opencl_available();
    if !opencl {
        eprintln!(
            "note: the OpenCL ICD loader (libOpenCL.so) is not installed, so the OpenCL plugin \
             is not built; on Debian/Ubuntu: apt-get install ocl-icd-opencl-dev pocl-opencl-icd"
        );
    }
    build_plugins(opencl)?;
    run_suite(args, &[])
}

/// The conformance part of `cargo xtask ci`: the main job — the whole suite (seed-size
/// cases included) on every device found — with the in-process reference, the simulated
/// GPU device and the CPU plugin always required (the plugin must be bit-identical to the reference), plus
/// whatever `NEUROKERN_REQUIRE` already names (CI names `opencl`).
pub fn ci() -> Result<(), String> {
    let mut required: Vec<String> = std::env::var("NEUROKERN_REQUIRE")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    for b in ["reference", "sim", "cpu"] {
        if !required.iter().any(|r| r == b) {
            required.push(b.to_string());
        }
    }
    let opencl = opencl_available();
    build_plugins(opencl)?;
    let required = required.join(",");
    run_suite(
        &["--quiet".to_string()],
        &[("NEUROKERN_REQUIRE", required.as_str())],
    )
}
