//! `cargo xtask kernels [--check]`: the kernels that are compiled ahead of time.
//!
//! Each GPU API with an offline compiler has its own part here, beside the others:
//! [`spirv`] (GLSL → SPIR-V with glslc, validated by spirv-val, committed under
//! `kernels/spirv/` with a manifest). A part builds and writes its outputs, or with
//! `--check` compiles into a temporary directory and fails when the committed outputs
//! differ (stale sources, or a compiler that produces other bytes).

mod cuda;
mod spirv;

/// The options every part receives.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Compile and compare with what is committed instead of writing.
    pub check: bool,
}

pub fn run(args: &[String]) -> Result<(), String> {
    let mut opts = Options { check: false };
    for a in args {
        match a.as_str() {
            "--check" => opts.check = true,
            "-h" | "--help" => {
                println!(
                    "usage: cargo xtask kernels [--check]\n\
                     Compiles the ahead-of-time kernels: GLSL (kernels/glsl/*.comp) to SPIR-V \
                     with glslc and spirv-val, written to kernels/spirv/ with manifest.tsv.\n\
                     --check  compile into a temporary directory and fail when the committed \
                     files differ; also compile every CUDA program with NVRTC and ptxas \
                     (PyPI wheels, installed into target/cuda-tools)"
                );
                return Ok(());
            }
            other => return Err(format!("kernels: unknown argument `{other}` (see --help)")),
        }
    }
    spirv::run(opts)?;
    // CUDA kernels are compiled at run time (NVRTC): nothing to write, only to check.
    if opts.check {
        cuda::check()?;
    }
    Ok(())
}
