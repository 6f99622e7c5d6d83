//! The trait each GPU API implements: buffers, one launcher per primitive, synchronize.
//!
//! This is all a new backend writes besides its FFI layer and its kernels (the model is
//! wgpu-hal's `Api` trait). Validation, calls with nothing to do, the workspace arena,
//! byte-count and ownership checks and error mapping live in [`crate::GpuBackend`], once.

use std::fmt;

use neurokern_core::{FloatType, OpKind};

use crate::gemm::Gemm;
use crate::kernel::Kernel;

/// What the lowering needs to know of a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest single allocation, in bytes.
    pub max_alloc: u64,
    /// The largest `(rows, T)` f32 score matrix `dynamic_token_assignment` materializes
    /// for the GEMM path, in bytes; larger ones take the direct kernel, which needs none.
    pub score_budget: u64,
}

/// One device of a GPU API.
///
/// Steps are handed over in order; a device may queue them and run them later, as long
/// as it runs them in order and [`Device::read`] / [`Device::synchronize`] see their
/// results. The skeleton serializes calls that share workspace, so a device needs no
/// locking of its own for that.
pub trait Device: Send + Sync + 'static {
    /// A memory handle: one allocation, freed on drop.
    type Mem: Send + Sync + fmt::Debug;
    /// The API's error.
    type Error: fmt::Display + fmt::Debug + Send + Sync + 'static;

    /// A human-readable device name.
    fn name(&self) -> &str;

    /// Whether the device implements `kind` in `dtype` (default: everything).
    fn supports(&self, _kind: OpKind, _dtype: FloatType) -> bool {
        true
    }

    /// Why `kind` in `dtype` is not supported (for error messages), when it is not.
    fn unsupported_reason(&self, _kind: OpKind, _dtype: FloatType) -> Option<String> {
        None
    }

    /// What the lowering needs to know.
    fn limits(&self) -> Limits;

    /// Allocates `bytes` of zero-filled memory (`bytes` may be 0). Out-of-memory must be a
    /// recoverable error: the device and its other buffers stay usable.
    fn alloc(&self, bytes: usize) -> Result<Self::Mem, Self::Error>;

    /// Writes `src` to the start of `dst` (the skeleton checked the size).
    fn write(&self, dst: &Self::Mem, src: &[u8]) -> Result<(), Self::Error>;

    /// Reads the start of `src` into `dst`, after every step queued before.
    fn read(&self, src: &Self::Mem, dst: &mut [u8]) -> Result<(), Self::Error>;

    /// Copies `bytes` from the start of `src` to the start of `dst` (distinct buffers).
    fn copy(&self, src: &Self::Mem, dst: &Self::Mem, bytes: usize) -> Result<(), Self::Error>;

    /// Scratch the device's GEMM needs for `g` (e.g. packed panels of `A` and `B`): two
    /// buffers, in bytes, 0 for none.
    fn gemm_workspace(&self, _dtype: FloatType, _g: &Gemm<()>) -> [usize; 2] {
        [0, 0]
    }

    /// Runs a GEMM (never an empty one). `work[i]` holds at least `gemm_workspace(..)[i]`
    /// bytes, `None` where it asked for none.
    fn gemm(
        &self,
        dtype: FloatType,
        g: &Gemm<&Self::Mem>,
        work: [Option<&Self::Mem>; 2],
    ) -> Result<(), Self::Error>;

    /// Runs one kernel of the table over its grid (never an empty one).
    fn launch(&self, dtype: FloatType, k: &Kernel<&Self::Mem>) -> Result<(), Self::Error>;

    /// Waits until every queued step has finished.
    fn synchronize(&self) -> Result<(), Self::Error>;
}
