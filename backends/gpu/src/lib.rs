//! # neurokern-gpu
//!
//! What every GPU backend of neurokern shares, so that a backend is an FFI layer,
//! primitive launchers and kernels, and nothing per op.
//!
//! ## Design
//!
//! * **Lowering, written once** ([`lower`]). Each op of the contract becomes a [`Plan`]: a
//!   short list of primitive [`Step`]s over the call's operands, named as the descriptors
//!   name them, and declared workspace. The primitives are a GEMM ([`gemm::Gemm`]:
//!   transpose flags, batch strides, `alpha`/`beta`, optional f32 output) and the kernels
//!   of one table ([`kernel`]): elementwise maps, rowwise reductions, row argmax,
//!   counting-sort segment sums, column sums, transposes.
//! * **Kernels are data** ([`kernel`]). The table gives every kernel's name, its argument
//!   list in the sources' order with kinds (dims, flags, scalars, buffers with element
//!   types and access) and its grid. Backends with kernel sources launch any kernel
//!   through its generic argument list, checked against the signature; the simulated
//!   device matches on the typed enum.
//! * **One skeleton** ([`GpuBackend`]) implements `neurokern_core::Backend` over a small
//!   per-API trait ([`Device`]: buffers, `gemm`, `launch`, `synchronize`), as wgpu-hal's
//!   `Api` trait does: validation, calls with nothing to do, ownership and byte-count
//!   checks, the workspace arena and error mapping are written here once. FFI stays in
//!   each backend's own layers (raw calls, then `Result` wrappers, then RAII owners, as
//!   in cudarc).
//! * **A simulated device** ([`sim`]): the primitives in plain Rust on host memory, run
//!   through the same skeleton and lowering. The conformance suite runs it as device
//!   `sim` everywhere, so a lowering bug is caught for every backend without a GPU. Its
//!   primitives are its own code, not calls into the reference.

pub mod device;
pub mod gemm;
pub mod kernel;
pub mod lower;
pub mod plan;
pub mod sim;
mod skeleton;

pub use device::{Device, Limits};
pub use plan::{Buf, Plan, Step, Work};
pub use skeleton::{GpuBackend, GpuBuffer, GpuError, Lowering};
