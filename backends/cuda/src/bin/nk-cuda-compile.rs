//! Compiles every CUDA program variant with the backend's own NVRTC path (the run-time
//! compile, without a GPU): both storage types, for each requested architecture, to PTX
//! and to CUBIN. `cargo xtask kernels --check` runs it with `NEUROKERN_NVRTC_PATH`
//! pointing at NVRTC, then assembles the PTX with ptxas.
//!
//! ```text
//! nk-cuda-compile --out DIR [--arch 80 --arch 90]
//! ```
//! Writes `DIR/neurokern_{f32,f16}.sm_XY.{ptx,cubin}` and prints one line per file; checks
//! that each PTX defines every kernel the backend loads (the table's and the GEMMs); exits
//! non-zero on the first failure, with NVRTC's log.

use std::path::PathBuf;
use std::process::ExitCode;

use neurokern_backend_cuda::compile::{self, Output, Target};
use neurokern_gpu::kernel::SIGNATURES;
use neurokern_kernels::cuda::{gemm_names, program_source};

fn main() -> ExitCode {
    let mut out = None;
    let mut archs = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--out", Some(v)) => out = Some(PathBuf::from(v)),
            ("--arch", Some(v)) => match v.trim_start_matches("sm_").parse::<u32>() {
                Ok(n) => archs.push(n),
                Err(_) => return fail(&format!("--arch {v}: not an architecture like 90")),
            },
            _ => {
                return fail(&format!(
                    "unexpected argument `{a}`; usage: --out DIR [--arch N]…"
                ))
            }
        }
    }
    let Some(out) = out else {
        return fail("--out DIR is required");
    };
    if archs.is_empty() {
        archs = vec![80, 90];
    }
    if let Err(e) = std::fs::create_dir_all(&out) {
        return fail(&format!("{}: {e}", out.display()));
    }
    let version = match compile::version() {
        Ok(v) => v,
        Err(e) => return fail(&e.to_string()),
    };
    println!("NVRTC {}.{}", version.0, version.1);
    for arch in archs {
        for half in [false, true] {
            let src = program_source(half);
            let stem = format!("neurokern_{}", if half { "f16" } else { "f32" });
            for output in [Output::Ptx, Output::Cubin] {
                let target = Target { arch, output };
                let t0 = std::time::Instant::now();
                let image = match compile::compile(&src, &format!("{stem}.cu"), target) {
                    Ok(i) => i,
                    Err(e) => return fail(&e.to_string()),
                };
                let ext = match output {
                    Output::Ptx => "ptx",
                    Output::Cubin => "cubin",
                };
                if output == Output::Ptx {
                    let ptx = String::from_utf8_lossy(&image);
                    let mut want: Vec<String> =
                        SIGNATURES.iter().map(|s| s.name.to_string()).collect();
                    want.extend(gemm_names(half, arch));
                    let missing: Vec<_> = want
                        .iter()
                        .filter(|n| !ptx.contains(&format!(".entry {n}(")))
                        .collect();
                    if !missing.is_empty() {
                        return fail(&format!("{stem} for sm_{arch} lacks {missing:?}"));
                    }
                }
                let path = out.join(format!("{stem}.sm_{arch}.{ext}"));
                // PTX files without the NUL terminator the driver wants, for ptxas.
                let bytes = match output {
                    Output::Ptx => image.strip_suffix(&[0]).unwrap_or(&image),
                    Output::Cubin => &image[..],
                };
                if let Err(e) = std::fs::write(&path, bytes) {
                    return fail(&format!("{}: {e}", path.display()));
                }
                println!(
                    "{:<14} {:>9} bytes  {:>6.2} s  {}",
                    target.name(),
                    bytes.len(),
                    t0.elapsed().as_secs_f64(),
                    path.display()
                );
            }
        }
    }
    ExitCode::SUCCESS
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("nk-cuda-compile: {msg}");
    ExitCode::FAILURE
}
