//! `cargo xtask bench [--backend opencl] [nk-bench options]`: per-op benchmarks and the
//! seed model's training step, in release mode, printed as a table and written as JSON to
//! `target/bench/<backend>.json` (with the device and date).
//!
//! The measuring binary lives with its backend (`backends/opencl/src/bin/nk-bench.rs`), so
//! this task stays a cheap dispatcher; every option other than `--backend` is passed
//! through (`--device SEL`, `--gemm MR,NV,NR`, `--only NAME`, `--quick`, `--json PATH`).

use crate::util::{cargo, exec, opencl_available, root};

pub fn run(args: &[String]) -> Result<(), String> {
    let mut backend = String::from("opencl");
    let mut rest: Vec<String> = Vec::new();
    let mut has_json = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--backend" => {
                backend = it
                    .next()
                    .cloned()
                    .ok_or("--backend needs a value (opencl)")?;
            }
            "--help" | "-h" => {
                println!(
                    "cargo xtask bench [--backend opencl] [--device SEL] [--gemm MR,NV,NR] \
                     [--only NAME] [--quick] [--json PATH]"
                );
                return Ok(());
            }
            other => {
                has_json |= other == "--json";
                rest.push(other.to_string());
            }
        }
    }
    match backend.as_str() {
        "opencl" => {
            if !opencl_available() {
                return Err("the OpenCL ICD loader (libOpenCL.so) is not installed; on \
                            Debian/Ubuntu: apt-get install ocl-icd-opencl-dev pocl-opencl-icd"
                    .into());
            }
            if !has_json {
                let path = root().join("target").join("bench").join("opencl.json");
                rest.push("--json".into());
                rest.push(path.display().to_string());
            }
            exec(
                cargo()
                    .args([
                        "run",
                        "--release",
                        "-p",
                        "neurokern-backend-opencl",
                        "--bin",
                        "nk-bench",
                        "--",
                        "--backend",
                        "opencl",
                    ])
                    .args(&rest),
            )
        }
        other => Err(format!(
            "no benchmark for backend `{other}` yet (available: opencl)"
        )),
    }
}
