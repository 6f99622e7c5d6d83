//! # neurokern-tune
//!
//! `nk-tune`: finds each OpenCL device's fastest correct kernel parameters and remembers
//! them. A beam search ([`search`]) over the GEMM tile, its work-group shape, the
//! `A`-packing policy and the rowwise kernel shape ([`space`]); every candidate must pass
//! the conformance suite before it is timed ([`opencl`]), and is timed side by side with the
//! best so far on the shape classes ([`classes`]). The winner goes into the cache the
//! backend reads when it opens the device (`neurokern_backend_opencl::tuned`).
//!
//! The plan applied at open is one per device, because the GEMM tile is a build-time
//! define of the program: it is the winner of the weighted geometric mean of the time
//! ratios over all classes (f32 and f16 alike). Each class's own best is stored too: a
//! later run for a new class starts from the nearest known class's plan ([`classes::seeds`]).

pub mod classes;
pub mod opencl;
pub mod search;
pub mod space;
pub mod tune;

pub use tune::{tune, Options, Report};
