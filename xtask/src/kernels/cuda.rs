//! CUDA: a compile check of every program variant, without a GPU.
//!
//! The CUDA kernels are compiled at run time by NVRTC (backends/cuda), so nothing is
//! committed; `--check` proves here that they compile and assemble. NVRTC and ptxas come
//! from NVIDIA's PyPI wheels, installed into `target/cuda-tools` (not system-wide; set
//! `NEUROKERN_CUDA_TOOLS` to use another directory holding them):
//!
//! 1. `nk-cuda-compile` (a binary of the backend) compiles both storage types for each
//!    architecture to PTX and to CUBIN through the backend's own compile function, with
//!    `NEUROKERN_NVRTC_PATH` pointing at the wheel's NVRTC (the run-time path, proven), and
//!    checks that each program defines every kernel the backend loads;
//! 2. `ptxas -v` assembles every PTX for its architecture and reports registers, spills
//!    and shared memory per kernel (`target/cuda-check/ptxas.tsv`).
//!
//! A kernel that fails to compile or assemble fails the task.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{cargo, exec, root};

/// The wheels, pinned so that every machine compiles with the same NVRTC and ptxas.
const WHEELS: &[&str] = &[
    "nvidia-cuda-nvrtc-cu12==12.9.86",
    "nvidia-cuda-nvcc-cu12==12.9.86",
];
/// The architectures checked: Ampere (the oldest with the tensor-core GEMM) and Hopper.
const ARCHS: &[u32] = &[80, 90];

/// Where the wheels' files are.
struct Tools {
    nvrtc_lib: PathBuf,
    ptxas: PathBuf,
}

fn tools() -> Result<Tools, String> {
    let dir = std::env::var_os("NEUROKERN_CUDA_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/cuda-tools"));
    let t = Tools {
        nvrtc_lib: dir.join("nvidia/cuda_nvrtc/lib"),
        ptxas: dir.join("nvidia/cuda_nvcc/bin/ptxas"),
    };
    if !t.nvrtc_lib.join("libnvrtc.so.12").is_file() || !t.ptxas.is_file() {
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
        exec(
            Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .args(["--no-deps", "--upgrade", "--target"])
                .arg(&dir)
                .args(WHEELS),
        )
        .map_err(|e| format!("{e}; the CUDA check needs python3 with pip and PyPI access"))?;
    }
    // The wheel ships ptxas without its executable bit.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&t.ptxas, fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("{}: {e}", t.ptxas.display()))?;
    }
    Ok(t)
}

/// One kernel's resources as ptxas reports them.
#[derive(Debug, Default, Clone)]
struct Usage {
    kernel: String,
    registers: u32,
    spill_stores: u32,
    spill_loads: u32,
    stack: u32,
    smem: u32,
}

/// The number before `unit` in `line` ("Used 40 registers" → 40 for "registers").
fn number_before(line: &str, unit: &str) -> Option<u32> {
    let at = line.find(unit)?;
    line[..at].split_whitespace().last()?.parse().ok()
}

/// Parses `ptxas -v` output.
fn parse_ptxas(out: &str) -> Vec<Usage> {
    let mut v: Vec<Usage> = Vec::new();
    for line in out.lines() {
        if let Some(rest) = line.split("Compiling entry function '").nth(1) {
            let name = rest.split('\'').next().unwrap_or_default();
            v.push(Usage {
                kernel: name.to_string(),
                ..Usage::default()
            });
        } else if let Some(u) = v.last_mut() {
            if line.contains("bytes stack frame") {
                u.stack = number_before(line, "bytes stack frame").unwrap_or(0);
                u.spill_stores = number_before(line, "bytes spill stores").unwrap_or(0);
                u.spill_loads = number_before(line, "bytes spill loads").unwrap_or(0);
            } else if line.contains("Used ") && line.contains("registers") {
                u.registers = number_before(line, "registers").unwrap_or(0);
                u.smem = number_before(line, "bytes smem").unwrap_or(0);
            }
        }
    }
    v
}

/// `cargo xtask kernels --check`, the CUDA part.
pub fn check() -> Result<(), String> {
    let t = tools()?;
    let out = root().join("target/cuda-check");
    exec(cargo().args([
        "build",
        "-q",
        "-p",
        "neurokern-backend-cuda",
        "--bin",
        "nk-cuda-compile",
    ]))?;
    let bin = root().join("target/debug/nk-cuda-compile");
    let mut cmd = Command::new(&bin);
    cmd.env("NEUROKERN_NVRTC_PATH", &t.nvrtc_lib)
        .arg("--out")
        .arg(&out);
    for a in ARCHS {
        cmd.args(["--arch", &a.to_string()]);
    }
    exec(&mut cmd)?;

    let mut tsv =
        String::from("arch\tprogram\tkernel\tregisters\tspill_stores\tspill_loads\tstack\tsmem\n");
    let mut spills = Vec::new();
    println!(
        "{:<6} {:<5} {:<32} {:>5} {:>13} {:>6} {:>6}",
        "arch", "type", "kernel", "regs", "spills st/ld", "stack", "smem"
    );
    for arch in ARCHS {
        for ty in ["f32", "f16"] {
            let ptx = out.join(format!("neurokern_{ty}.sm_{arch}.ptx"));
            let usage = ptxas(&t.ptxas, &ptx, *arch)?;
            if usage.is_empty() {
                return Err(format!("ptxas reported no kernel for {}", ptx.display()));
            }
            for u in &usage {
                println!(
                    "sm_{arch:<3} {ty:<5} {:<32} {:>5} {:>6}/{:<6} {:>6} {:>6}",
                    u.kernel, u.registers, u.spill_stores, u.spill_loads, u.stack, u.smem
                );
                tsv.push_str(&format!(
                    "sm_{arch}\t{ty}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                    u.kernel, u.registers, u.spill_stores, u.spill_loads, u.stack, u.smem
                ));
                if u.spill_stores + u.spill_loads > 0 {
                    spills.push(format!("sm_{arch} {ty} {}", u.kernel));
                }
            }
        }
    }
    let report = out.join("ptxas.tsv");
    fs::write(&report, tsv).map_err(|e| format!("{}: {e}", report.display()))?;
    if spills.is_empty() {
        println!("cuda: every kernel compiles (NVRTC) and assembles (ptxas) for {ARCHS:?}, no spills; {}", report.display());
    } else {
        println!(
            "cuda: every kernel compiles and assembles for {ARCHS:?}; register spills in: {}",
            spills.join(", ")
        );
    }
    Ok(())
}

/// Assembles one PTX file for `sm_<arch>` and returns ptxas's per-kernel report.
fn ptxas(ptxas: &Path, ptx: &Path, arch: u32) -> Result<Vec<Usage>, String> {
    let cubin = ptx.with_extension("ptxas.cubin");
    let o = Command::new(ptxas)
        .arg(format!("-arch=sm_{arch}"))
        .arg("-v")
        .arg(ptx)
        .arg("-o")
        .arg(&cubin)
        .output()
        .map_err(|e| format!("could not start {}: {e}", ptxas.display()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    if !o.status.success() {
        return Err(format!(
            "ptxas failed on {} ({}):\n{text}",
            ptx.display(),
            o.status
        ));
    }
    Ok(parse_ptxas(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ptxas_reports_are_parsed_per_kernel() {
        let out = "ptxas info    : 0 bytes gmem\n\
ptxas info    : Compiling entry function 'nk_gemm_simt_nn' for 'sm_90'\n\
ptxas info    : Function properties for nk_gemm_simt_nn\n\
    8 bytes stack frame, 4 bytes spill stores, 12 bytes spill loads\n\
ptxas info    : Used 128 registers, used 1 barriers, 8448 bytes smem, 400 bytes cmem[0]\n\
ptxas info    : Compiling entry function 'nk_add' for 'sm_90'\n\
ptxas info    : Function properties for nk_add\n\
    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n\
ptxas info    : Used 14 registers, 384 bytes cmem[0]\n";
        let u = parse_ptxas(out);
        assert_eq!(u.len(), 2);
        assert_eq!(u[0].kernel, "nk_gemm_simt_nn");
        assert_eq!(
            (u[0].registers, u[0].spill_stores, u[0].spill_loads),
            (128, 4, 12)
        );
        assert_eq!((u[0].stack, u[0].smem), (8, 8448));
        assert_eq!(
            (u[1].kernel.as_str(), u[1].registers, u[1].smem),
            ("nk_add", 14, 0)
        );
    }
}
