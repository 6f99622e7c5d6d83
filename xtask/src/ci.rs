//! `cargo xtask ci`: everything CI checks, in the order that fails fastest.
//!
//! 1. `cargo fmt --check` (the workspace and the fuzz crate);
//! 2. `cargo clippy --all-targets -D warnings` (the workspace and the fuzz crate);
//! 3. `cargo test` of the workspace (the OpenCL crates when the loader is installed);
//! 4. `cargo doc` with warnings denied;
//! 5. `cargo xtask kernels --check`: the committed SPIR-V is what the GLSL builds to, and
//!    every CUDA kernel compiles with NVRTC (PTX and CUBIN, sm_80 and sm_90) and ptxas;
//! 6. the conformance suite on every device found (see `conformance::ci`);
//! 7. the fuzz properties under proptest, the replay of every committed seed and pinned
//!    crash, and a short smoke run of each fuzz target; then, where the OpenCL loader is
//!    installed, the `differential` target against the OpenCL plugin: its seeds and pinned
//!    crashes replayed and a short seeded run (see `fuzz::ci`).

use crate::util::{cargo, exec, opencl_packages, root};

pub fn run_ci() -> Result<(), String> {
    let mut all = vec!["--workspace"];
    all.append(&mut opencl_packages());
    let fuzz_manifest = root().join("fuzz").join("Cargo.toml");
    exec(cargo().args(["fmt", "--all", "--", "--check"]))?;
    exec(
        cargo()
            .args(["fmt", "--manifest-path"])
            .arg(&fuzz_manifest)
            .args(["--", "--check"]),
    )?;
    exec(
        cargo()
            .arg("clippy")
            .args(&all)
            .args(["--all-targets", "--", "-D", "warnings"]),
    )?;
    exec(
        cargo()
            .args(["clippy", "--manifest-path"])
            .arg(&fuzz_manifest)
            .args(["--all-targets", "--", "-D", "warnings"]),
    )?;
    exec(cargo().arg("test").args(&all))?;
    exec(
        cargo()
            .arg("doc")
            .args(&all)
            .arg("--no-deps")
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    crate::kernels::run(&["--check".to_string()])?;
    crate::conformance::ci()?;
    crate::fuzz::ci()?;
    Ok(())
}

pub fn run(args: &[String]) -> Result<(), String> {
    if let Some(a) = args.first() {
        return Err(format!("ci takes no arguments (got `{a}`)"));
    }
    run_ci()
}
