//! The CUDA backend of neurokern: cudarc (driver API and NVRTC, both loaded at run time)
//! under the shared GPU skeleton ([`neurokern_gpu::GpuBackend`]).
//!
//! ## Design
//!
//! * **Nothing CUDA at build time.** cudarc's `dynamic-loading`: `libcuda` and `libnvrtc`
//!   are opened when first needed. [`probe`] says exactly what is missing
//!   ("libcuda.so.1 not found: no NVIDIA driver", "libnvrtc not found: …, or set
//!   NEUROKERN_NVRTC_PATH").
//! * **Never panics.** cudarc panics when a library or a symbol is missing; the libraries
//!   are checked first and every call into cudarc runs inside a panic fence
//!   (the `guard` module), so a failure is a [`CudaError`].
//! * **No per-op code.** [`CudaDevice`] implements the skeleton's small device trait:
//!   memory, one GEMM launcher, one generic launcher for every table kernel (arguments
//!   packed from the table's signature, [`launch`]) and synchronize.
//! * **Kernels** are CUDA C (`kernels/cuda/`, [`neurokern_kernels::cuda`]), compiled by
//!   NVRTC at run time for the device's compute capability ([`compile`]), cached on disk
//!   by source hash, target and NVRTC version ([`cache`]). IEEE arithmetic: no flush to
//!   zero, IEEE divide and square root, no contraction; f16 is storage, converted with
//!   `cvt`; no float atomics.
//! * **GEMM.** Strict f32 on the FP32 cores (no TF32); f16 storage on the tensor cores
//!   (`mma.sync.m16n8k16`, f32 accumulation) on sm_80 and newer.

pub mod cache;
pub mod compile;
mod device;
mod error;
mod guard;
pub mod launch;

use std::sync::OnceLock;

use cudarc::driver::result;

pub use device::{CudaDevice, DevMem, TENSOR_CORES_ENV};
pub use error::CudaError;
pub use guard::{driver_present, nvrtc_present, NVRTC_PATH_ENV};

/// The CUDA backend: the GPU skeleton over a [`CudaDevice`].
pub type CudaBackend = neurokern_gpu::GpuBackend<CudaDevice>;

/// The driver library is present and `cuInit` succeeded (once per process).
pub(crate) fn driver_ready() -> Result<(), CudaError> {
    driver_present()?;
    static INIT: OnceLock<Result<(), CudaError>> = OnceLock::new();
    INIT.get_or_init(|| {
        guard::guard("cuInit", || {
            result::init().map_err(|e| CudaError::driver("cuInit", e))
        })
    })
    .clone()
}

/// The CUDA devices, by name, in ordinal order.
pub fn devices() -> Result<Vec<String>, CudaError> {
    driver_ready()?;
    guard::guard("listing CUDA devices", || {
        let n =
            result::device::get_count().map_err(|e| CudaError::driver("cuDeviceGetCount", e))?;
        (0..n)
            .map(|i| {
                let d = result::device::get(i).map_err(|e| CudaError::driver("cuDeviceGet", e))?;
                result::device::get_name(d).map_err(|e| CudaError::driver("cuDeviceGetName", e))
            })
            .collect()
    })
}

/// Whether the backend can run here: the driver, NVRTC and at least one device.
pub fn probe() -> Result<(), CudaError> {
    driver_present()?;
    nvrtc_present()?;
    let list = devices()?;
    if list.is_empty() {
        return Err(CudaError::Driver {
            during: "cuDeviceGetCount".into(),
            code: "no CUDA device".into(),
        });
    }
    compile::version().map(|_| ())
}

/// Opens device `ordinal` as a backend.
pub fn open(ordinal: usize) -> Result<CudaBackend, CudaError> {
    probe()?;
    Ok(CudaBackend::new(CudaDevice::new(ordinal)?))
}

#[cfg(test)]
mod tests;
