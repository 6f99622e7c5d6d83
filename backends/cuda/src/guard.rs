//! Library presence checks and the panic fence around cudarc.
//!
//! cudarc loads `libcuda` and `libnvrtc` lazily and panics when a library or a symbol is
//! missing. A plugin must never unwind into its host or abort, so every path into cudarc
//! is checked first ([`driver_present`], [`nvrtc_present`]) and runs inside [`guard`],
//! which turns a panic into [`CudaError::Panicked`].

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::CudaError;

/// The environment variable naming the NVRTC library (a file, or a directory holding
/// `libnvrtc.so.12`), for machines where it is not on the loader's path (a Python
/// wheel's `nvidia/cuda_nvrtc/lib`).
pub const NVRTC_PATH_ENV: &str = "NEUROKERN_NVRTC_PATH";

/// Runs `f`, turning a panic into an error naming `during`.
pub(crate) fn guard<T>(
    during: impl Into<String>,
    f: impl FnOnce() -> Result<T, CudaError>,
) -> Result<T, CudaError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| {
        let message = p
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into());
        Err(CudaError::Panicked {
            during: during.into(),
            message,
        })
    })
}

/// Whether the driver library can be loaded. Checked once per process.
pub fn driver_present() -> Result<(), CudaError> {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    let present = *PRESENT.get_or_init(|| {
        // SAFETY: only tries to dlopen the library by its usual names; loading
        // libcuda runs no code of ours.
        catch_unwind(|| unsafe { cudarc::driver::sys::is_culib_present() }).unwrap_or(false)
    });
    if present {
        Ok(())
    } else {
        Err(CudaError::NoDriver)
    }
}

/// Whether NVRTC can be loaded, after loading it from `NEUROKERN_NVRTC_PATH` when that is
/// set. Checked once per process.
pub fn nvrtc_present() -> Result<(), CudaError> {
    static PRESENT: OnceLock<Result<(), String>> = OnceLock::new();
    PRESENT
        .get_or_init(|| {
            let preloaded = match std::env::var_os(NVRTC_PATH_ENV) {
                Some(p) if !p.is_empty() => Some(preload(Path::new(&p))?),
                _ => None,
            };
            // SAFETY: only tries to dlopen the library by its usual names.
            let found =
                catch_unwind(|| unsafe { cudarc::nvrtc::sys::is_culib_present() }).unwrap_or(false);
            match (found, preloaded) {
                (true, _) => Ok(()),
                (false, Some(p)) => Err(format!(
                    "{} was loaded from {NVRTC_PATH_ENV} but its soname is not one cudarc \
                     looks for (libnvrtc.so.11 or .12)",
                    p.display()
                )),
                (false, None) => Err(format!(
                    "install NVRTC (the CUDA toolkit's libnvrtc.so.12, or `pip install \
                     nvidia-cuda-nvrtc-cu12`), or set {NVRTC_PATH_ENV}"
                )),
            }
        })
        .clone()
        .map_err(CudaError::NoNvrtc)
}

/// Loads the NVRTC library at `path` (a file or a directory) and keeps it loaded for the
/// life of the process, so that cudarc's load by name finds it by its soname.
fn preload(path: &Path) -> Result<PathBuf, String> {
    let file = if path.is_dir() {
        ["libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so"]
            .iter()
            .map(|n| path.join(n))
            .find(|p| p.is_file())
            .ok_or_else(|| format!("{NVRTC_PATH_ENV}={} holds no libnvrtc.so*", path.display()))?
    } else {
        path.to_path_buf()
    };
    // SAFETY: loading NVRTC runs its initializers only, which are the vendor's; the
    // handle is leaked on purpose (libraries are never unloaded, as in the host).
    let lib = unsafe { libloading::Library::new(&file) }
        .map_err(|e| format!("{NVRTC_PATH_ENV}={}: {e}", file.display()))?;
    std::mem::forget(lib);
    Ok(file)
}
