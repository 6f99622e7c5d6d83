//! # neurokern-backend-opencl
//!
//! The OpenCL backend of neurokern: [`OpenClBackend`] implements
//! [`neurokern_core::Backend`] for any OpenCL 1.2+ device, including CPUs without
//! `cl_khr_fp16` (PoCL), with every op of the catalog in `f32` and `f16`.
//!
//! ## Design
//!
//! * **On the shared skeleton.** [`OpenClBackend`] is `neurokern_gpu::GpuBackend` over
//!   [`OpenClDevice`]: validation, the lowering of every op to GEMMs and table kernels,
//!   the workspace arena, ownership and byte-count checks live in `neurokern-gpu`, once
//!   for every GPU backend. This crate is an FFI layer, primitive launchers and kernels.
//! * **Layers.** [`error`] maps every `cl_int` to a typed [`OclError`] by named functions
//!   ([`error::status_name`], [`error::status_to_error`]); `raw` owns OpenCL objects
//!   (release on drop) and wraps the few calls made; [`device`] enumerates platforms and
//!   devices, queries what the backend depends on (work-group and work-item limits, local
//!   and global memory, largest allocation, vector width, float config, extensions) and
//!   selects one by index or name; [`config`] holds the per-device choices; `backend`
//!   implements `neurokern_gpu::Device` (buffers, the generic launcher of every table
//!   kernel) and `gemm` the GEMM launcher.
//! * **Programs.** The kernels (crate `neurokern-kernels`, OpenCL C) are one program per
//!   storage type, built lazily once per backend (= context) and cached with their kernel
//!   objects. A compile failure is [`OclError::Build`] with the device's build log.
//! * **f16 is storage.** Widened exactly on load and rounded once, to nearest-even, on
//!   store (the semantics of `vload_half` / `vstore_half_rte`, written with integer
//!   operations so that they vectorize); arithmetic is f32; no `cl_khr_fp16` is needed.
//! * **One GEMM.** `matmul`, both backward products, the batched forms, `hebbian_update`
//!   (`alpha = lr`, `beta = 1 − decay`, `A = Preᵀ`), `pairwise_similarity` and the scores of
//!   `dynamic_token_assignment` (an f32 output, then a row argmax) are one register-blocked
//!   GEMM, `C = alpha·op(A)·op(B) + beta·C`, with transpose flags and batch strides. `B` is
//!   packed into zero-padded f32 panels (applying its transpose and widening f16), so the
//!   inner loop reads it as contiguous vectors; `A` is read in place, or packed too when it
//!   is transposed or f16. Each work-item owns an `mr × nr·nv` block of `C` in registers
//!   (the tile is a build-time parameter, [`GemmParams`]: chosen from the device's preferred
//!   vector width, overridable with [`OpenClDevice::with_gemm_params`] or
//!   `NEUROKERN_OPENCL_GEMM=mr,nv,nr`).
//!   On CPU devices the GEMM runs one work-item per work-group, so that the block compiles
//!   to straight-line SIMD code (a 6 × 32 f32 block is 24 AVX registers of accumulators);
//!   elsewhere the work-group shape is the implementation's.
//! * **Rowwise ops** (softmax family, layer norm) run one work-group per row with tree
//!   reductions in local memory, or, on CPU devices, one work-item per row with serial
//!   loops ([`OpenClDevice::with_rows_per_item`]); both are deterministic. Column sums
//!   (`reduce_sum_01`) run in two fixed-order passes.
//! * **Determinism.** No float atomics anywhere. Reductions have a fixed shape (work-group
//!   trees, or serial loops in increasing index order). Scatter sums
//!   (`embedding_backward`, `proto_segmented_sum`, also in `SumMode::Atomic`) run a stable
//!   counting sort of the indices on the device, then sum each segment's rows in
//!   increasing row order: `O(rows·width + segments·width)`.
//! * **Memory.** Every buffer is counted against the device's global memory, or
//!   `NEUROKERN_OPENCL_MEMORY` (`1G`, `512M`) when set lower (shared by the process's
//!   contexts on the device, [`OpenClDevice::with_memory_budget`]), before
//!   the driver is asked, since drivers over-commit (PoCL accepted 20 GiB on a 2 GiB
//!   device). An allocation past the budget or the largest allocation, or one the driver
//!   refuses, is a recoverable [`OclError::OutOfMemory`]: the backend and existing buffers
//!   are unaffected. On CPU devices buffers are allocated at creation
//!   (`CL_MEM_ALLOC_HOST_PTR`), so that a host allocation failure is a status code, not
//!   PoCL's assertion at first use; the zero fill is queued, never waited for.
//! * **Threads.** The backend is `Send + Sync`; one mutex serializes kernel-argument
//!   setting and enqueueing (OpenCL kernels are not thread-safe to configure).

mod backend;
pub mod config;
pub mod device;
pub mod error;
mod gemm;
mod memory;
mod raw;
pub mod tuned;

pub use backend::OpenClDevice;
pub use config::{GemmParams, PackA};
pub use device::{devices, probe, DeviceInfo, DeviceSelector};
pub use error::OclError;
pub use raw::Mem;

/// The OpenCL backend: the shared GPU skeleton over an [`OpenClDevice`].
pub type OpenClBackend = neurokern_gpu::GpuBackend<OpenClDevice>;
/// A buffer of the OpenCL backend.
pub type OclBuffer = neurokern_gpu::GpuBuffer<Mem>;
/// An error of the OpenCL backend.
pub type Error = neurokern_gpu::GpuError<OclError>;

/// Opens the device `sel` picks as a backend.
pub fn open(sel: &DeviceSelector) -> Result<OpenClBackend, OclError> {
    OpenClDevice::new(sel).map(OpenClBackend::new)
}

/// Opens the default device ([`DeviceSelector::Default`]) as a backend.
pub fn open_default() -> Result<OpenClBackend, OclError> {
    open(&DeviceSelector::Default)
}
