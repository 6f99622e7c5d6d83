//! The CUDA backend's errors: every failure is a value, never a panic.

/// An error of the CUDA backend.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CudaError {
    /// The driver library is not installed.
    #[error("libcuda.so.1 not found: no NVIDIA driver")]
    NoDriver,
    /// NVRTC is not installed (or not where `NEUROKERN_NVRTC_PATH` says).
    #[error("libnvrtc not found: {0}")]
    NoNvrtc(String),
    /// A driver call failed.
    #[error("{during}: {code}")]
    Driver {
        /// The call (`cuMemAlloc`, `cuLaunchKernel nk_gelu`, …).
        during: String,
        /// The driver's error code.
        code: String,
    },
    /// NVRTC failed (compile errors carry the log).
    #[error("NVRTC {during} for {target}: {what}")]
    Nvrtc {
        /// The NVRTC call.
        during: &'static str,
        /// The target (`sm_90`, `compute_80`).
        target: String,
        /// The error and, for a compile, the log.
        what: String,
    },
    /// A call into cudarc panicked (a missing symbol of an older library, …); caught.
    #[error("{during}: the CUDA library call failed: {message}")]
    Panicked {
        /// What was being done.
        during: String,
        /// The panic's message.
        message: String,
    },
    /// A kernel or GEMM argument does not fit its 32-bit parameter.
    #[error("{kernel}: argument `{arg}` = {value} does not fit a 32-bit kernel parameter")]
    TooLarge {
        /// The kernel.
        kernel: &'static str,
        /// The argument.
        arg: &'static str,
        /// Its value.
        value: usize,
    },
    /// A launch's arguments do not match the kernel's signature (a bug, reported).
    #[error("{kernel}: {what}")]
    Signature {
        /// The kernel.
        kernel: &'static str,
        /// What is wrong.
        what: String,
    },
}

impl CudaError {
    /// A driver error during `during`.
    pub(crate) fn driver(during: impl Into<String>, e: cudarc::driver::DriverError) -> Self {
        CudaError::Driver {
            during: during.into(),
            code: format!("{:?}", e.0),
        }
    }
}
