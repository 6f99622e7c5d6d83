//! Run-time compilation with NVRTC: CUDA C to a CUBIN for the device's exact compute
//! capability when NVRTC knows it, else to PTX for the newest architecture NVRTC knows at
//! or below it (the driver compiles that PTX; a CUBIN avoids
//! `CUDA_ERROR_UNSUPPORTED_PTX_VERSION` on drivers older than NVRTC).

use std::ffi::{c_char, c_int, CString};

use cudarc::nvrtc::{result, sys};

use crate::error::CudaError;
use crate::guard::{guard, nvrtc_present};

/// The floating-point options of every compile: no flush to zero, IEEE division and
/// square root, and no contraction of `a·b + c` into fma (the formulas are evaluated as
/// written, as the reference does; the GEMMs call `fmaf` explicitly). Never
/// `--use_fast_math`.
pub const FP_OPTIONS: &[&str] = &[
    "--ftz=false",
    "--prec-div=true",
    "--prec-sqrt=true",
    "--fmad=false",
];

/// What NVRTC produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Output {
    /// Machine code for one architecture (`sm_XY`).
    Cubin,
    /// PTX for a virtual architecture (`compute_XY`), compiled by the driver at load.
    Ptx,
}

/// A compile target: an architecture (`90` for sm_90) and the output kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    /// Compute capability × 10 + minor (`90`, `86`).
    pub arch: u32,
    /// CUBIN or PTX.
    pub output: Output,
}

impl Target {
    /// The `--gpu-architecture` value.
    pub fn name(&self) -> String {
        match self.output {
            Output::Cubin => format!("sm_{}", self.arch),
            Output::Ptx => format!("compute_{}", self.arch),
        }
    }
}

/// NVRTC's version, `(major, minor)`.
pub fn version() -> Result<(i32, i32), CudaError> {
    nvrtc_present()?;
    guard("nvrtcVersion", || {
        let (mut major, mut minor): (c_int, c_int) = (0, 0);
        // SAFETY: two valid out-pointers; the library is present (checked above).
        unsafe { sys::nvrtcVersion(&mut major, &mut minor) }
            .result()
            .map_err(|e| nvrtc_err("nvrtcVersion", "-", e))?;
        Ok((major, minor))
    })
}

/// The real architectures NVRTC can compile for (`[50, 52, …, 90]`).
pub fn supported_archs() -> Result<Vec<u32>, CudaError> {
    nvrtc_present()?;
    guard("nvrtcGetSupportedArchs", || {
        let mut n: c_int = 0;
        // SAFETY: a valid out-pointer.
        unsafe { sys::nvrtcGetNumSupportedArchs(&mut n) }
            .result()
            .map_err(|e| nvrtc_err("nvrtcGetNumSupportedArchs", "-", e))?;
        let mut v = vec![0 as c_int; usize::try_from(n).unwrap_or(0)];
        // SAFETY: `v` holds the number of entries NVRTC reported.
        unsafe { sys::nvrtcGetSupportedArchs(v.as_mut_ptr()) }
            .result()
            .map_err(|e| nvrtc_err("nvrtcGetSupportedArchs", "-", e))?;
        Ok(v.into_iter()
            .filter_map(|a| u32::try_from(a).ok())
            .collect())
    })
}

/// The target for a device of compute capability `arch`: its CUBIN when NVRTC supports
/// it, else PTX for the newest supported architecture below it.
pub fn target_for(arch: u32) -> Result<Target, CudaError> {
    let archs = supported_archs()?;
    if archs.contains(&arch) {
        return Ok(Target {
            arch,
            output: Output::Cubin,
        });
    }
    archs
        .iter()
        .copied()
        .filter(|&a| a <= arch)
        .max()
        .map(|a| Target {
            arch: a,
            output: Output::Ptx,
        })
        .ok_or_else(|| CudaError::Nvrtc {
            during: "target selection",
            target: format!("sm_{arch}"),
            what: format!("this NVRTC supports only {archs:?}"),
        })
}

fn nvrtc_err(during: &'static str, target: &str, e: result::NvrtcError) -> CudaError {
    CudaError::Nvrtc {
        during,
        target: target.to_string(),
        what: format!("{:?}", e.0),
    }
}

/// An NVRTC program, destroyed on drop.
struct Program(sys::nvrtcProgram);

impl Drop for Program {
    fn drop(&mut self) {
        // SAFETY: created by nvrtcCreateProgram and destroyed once, here. A failure to
        // destroy leaks the program, which is all it can do; a panic is fenced.
        let _ = std::panic::catch_unwind(|| unsafe { result::destroy_program(self.0) });
    }
}

/// Compiles `src` for `target`. A CUBIN is returned as is; PTX with its terminating NUL
/// (what `cuModuleLoadData` reads).
pub fn compile(src: &str, name: &str, target: Target) -> Result<Vec<u8>, CudaError> {
    nvrtc_present()?;
    let tname = target.name();
    let err = |during: &'static str, what: String| CudaError::Nvrtc {
        during,
        target: tname.clone(),
        what,
    };
    let csrc = CString::new(src).map_err(|_| err("source", "contains a NUL byte".into()))?;
    let cname = CString::new(name).map_err(|_| err("source", "name contains NUL".into()))?;
    guard(format!("NVRTC compile for {tname}"), || {
        let prog = Program(
            result::create_program(&csrc, Some(&cname))
                .map_err(|e| nvrtc_err("nvrtcCreateProgram", &tname, e))?,
        );
        let mut opts: Vec<String> = FP_OPTIONS.iter().map(|s| s.to_string()).collect();
        opts.push(format!("--gpu-architecture={tname}"));
        opts.push("--std=c++17".into());
        // SAFETY: `prog` is a live program; the options are plain strings without NUL.
        let compiled = unsafe { result::compile_program(prog.0, &opts) };
        if let Err(e) = compiled {
            // SAFETY: `prog` is live.
            let log = unsafe { result::get_program_log(prog.0) }
                .map(|l| c_chars_to_string(&l))
                .unwrap_or_default();
            return Err(err(
                "compile",
                format!("{:?} ({}):\n{log}", e.0, opts.join(" ")),
            ));
        }
        match target.output {
            Output::Ptx => {
                // SAFETY: `prog` compiled successfully.
                let ptx = unsafe { result::get_ptx(prog.0) }
                    .map_err(|e| nvrtc_err("nvrtcGetPTX", &tname, e))?;
                let mut bytes: Vec<u8> = ptx.iter().map(|&c| c as u8).collect();
                if bytes.last() != Some(&0) {
                    bytes.push(0);
                }
                Ok(bytes)
            }
            Output::Cubin => {
                let mut size = 0usize;
                // SAFETY: `prog` compiled successfully; a valid out-pointer.
                unsafe { sys::nvrtcGetCUBINSize(prog.0, &mut size) }
                    .result()
                    .map_err(|e| nvrtc_err("nvrtcGetCUBINSize", &tname, e))?;
                let mut cubin = vec![0u8; size];
                // SAFETY: `cubin` holds the size NVRTC reported.
                unsafe { sys::nvrtcGetCUBIN(prog.0, cubin.as_mut_ptr().cast::<c_char>()) }
                    .result()
                    .map_err(|e| nvrtc_err("nvrtcGetCUBIN", &tname, e))?;
                Ok(cubin)
            }
        }
    })
}

fn c_chars_to_string(v: &[c_char]) -> String {
    let bytes: Vec<u8> = v
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}
