//! The simulated device: every primitive of [`crate::Device`] in plain Rust on host
//! memory, run through the same skeleton and lowering as a real GPU backend.
//!
//! Its purpose is to test what is shared. The conformance suite runs it as device `sim`,
//! so a lowering bug (a wrong transpose flag, stride, workspace size or argument) fails
//! there for every backend, on any machine. Its kernels follow the semantics of the table
//! ([`crate::kernel`]) and of the OpenCL sources, which implement the same kernels: f32
//! arithmetic, f16 widened exactly and rounded once at store, sums in increasing index
//! order, transcendental functions evaluated in f64 and rounded to f32 (module `math`). They
//! are this module's own code, not calls into the reference, so that the suite compares
//! two implementations.
//!
//! Steps run synchronously, in order, when handed over. Every buffer access is checked
//! against the extent the step's dims imply (module `mem`); a step that would read or write
//! past a buffer is a [`SimError`], which the real devices could not report.

mod argmax;
mod elementwise;
mod gemm;
mod layout;
mod math;
mod mem;
mod rowwise;
mod scatter;

use crate::device::{Device, Limits};
use crate::gemm::Gemm;
use crate::kernel::Kernel;
use crate::GpuBackend;
use neurokern_core::FloatType;

pub use mem::SimMem;
use mem::{Launch, Ty};

/// The GPU backend over the simulated device.
pub type SimBackend = GpuBackend<SimDevice>;

impl Default for SimBackend {
    fn default() -> Self {
        GpuBackend::new(SimDevice::new())
    }
}

/// Errors of the simulated device.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// An allocation larger than [`Limits::max_alloc`].
    #[error("an allocation of {bytes} bytes exceeds the device's limit of {max} bytes")]
    TooLarge {
        /// Bytes asked for.
        bytes: usize,
        /// The limit.
        max: u64,
    },
    /// The host could not provide the memory.
    #[error("out of memory allocating {bytes} bytes")]
    OutOfMemory {
        /// Bytes asked for.
        bytes: usize,
    },
    /// A step's dims imply more elements than its buffer holds (a lowering bug).
    #[error("{kernel}: argument `{arg}` needs {need} elements, its buffer holds {have}")]
    OutOfBounds {
        /// The kernel (`gemm` for the GEMM).
        kernel: &'static str,
        /// The argument.
        arg: &'static str,
        /// Elements the step accesses.
        need: usize,
        /// Elements the buffer holds.
        have: usize,
    },
    /// An index read from a buffer (segment offsets, bucket orders) is out of range.
    #[error("{kernel}: argument `{arg}` holds {value}, outside [0, {bound})")]
    BadIndex {
        /// The kernel.
        kernel: &'static str,
        /// The argument holding the index.
        arg: &'static str,
        /// The index.
        value: i32,
        /// Its exclusive upper bound.
        bound: usize,
    },
    /// A dim the kernel cannot run with (a lowering bug).
    #[error("{kernel}: argument `{arg}` = {value} is not allowed")]
    BadDim {
        /// The kernel.
        kernel: &'static str,
        /// The argument.
        arg: &'static str,
        /// Its value.
        value: usize,
    },
    /// An optional buffer the launch's flags need is absent (a lowering bug).
    #[error("{kernel}: argument `{arg}` is absent, but the launch's flags need it")]
    Missing {
        /// The kernel.
        kernel: &'static str,
        /// The argument.
        arg: &'static str,
    },
    /// A step's dims overflow the host's index type.
    #[error("{kernel}: the extent of argument `{arg}` overflows")]
    Overflow {
        /// The kernel.
        kernel: &'static str,
        /// The argument.
        arg: &'static str,
    },
    /// A host copy or buffer copy larger than a buffer.
    #[error("{op}: {bytes} bytes do not fit a buffer of {have} bytes")]
    Copy {
        /// `write`, `read` or `copy`.
        op: &'static str,
        /// Bytes to move.
        bytes: usize,
        /// Bytes the buffer holds.
        have: usize,
    },
}

/// The simulated device.
#[derive(Debug, Clone)]
pub struct SimDevice {
    limits: Limits,
}

impl Default for SimDevice {
    fn default() -> Self {
        Self::new()
    }
}

impl SimDevice {
    /// The default limits: allocations up to 4 GiB, token-assignment score matrices up to
    /// 256 MiB (larger ones take the direct kernel).
    pub const DEFAULT_LIMITS: Limits = Limits {
        max_alloc: 1 << 32,
        score_budget: 1 << 28,
    };

    /// A device with [`SimDevice::DEFAULT_LIMITS`].
    pub fn new() -> Self {
        Self::with_limits(Self::DEFAULT_LIMITS)
    }

    /// A device with `limits` (e.g. a `score_budget` of 0 forces token assignment's direct
    /// path, a small `max_alloc` makes allocations fail).
    pub fn with_limits(limits: Limits) -> Self {
        SimDevice { limits }
    }
}

impl Device for SimDevice {
    type Mem = SimMem;
    type Error = SimError;

    fn name(&self) -> &str {
        "sim"
    }

    fn limits(&self) -> Limits {
        self.limits
    }

    fn alloc(&self, bytes: usize) -> Result<SimMem, SimError> {
        if bytes as u64 > self.limits.max_alloc {
            return Err(SimError::TooLarge {
                bytes,
                max: self.limits.max_alloc,
            });
        }
        SimMem::zeroed(bytes)
    }

    fn write(&self, dst: &SimMem, src: &[u8]) -> Result<(), SimError> {
        let mut d = dst.lock();
        let have = d.len();
        d.get_mut(..src.len())
            .ok_or(SimError::Copy {
                op: "write",
                bytes: src.len(),
                have,
            })?
            .copy_from_slice(src);
        Ok(())
    }

    fn read(&self, src: &SimMem, dst: &mut [u8]) -> Result<(), SimError> {
        let s = src.lock();
        let b = s.get(..dst.len()).ok_or(SimError::Copy {
            op: "read",
            bytes: dst.len(),
            have: s.len(),
        })?;
        dst.copy_from_slice(b);
        Ok(())
    }

    fn copy(&self, src: &SimMem, dst: &SimMem, bytes: usize) -> Result<(), SimError> {
        // Copied out first, so that one lock is held at a time even if `src` were `dst`.
        let data = {
            let s = src.lock();
            s.get(..bytes)
                .ok_or(SimError::Copy {
                    op: "copy",
                    bytes,
                    have: s.len(),
                })?
                .to_vec()
        };
        self.write(dst, &data).map_err(|e| match e {
            SimError::Copy { bytes, have, .. } => SimError::Copy {
                op: "copy",
                bytes,
                have,
            },
            e => e,
        })
    }

    fn gemm(
        &self,
        dtype: FloatType,
        g: &Gemm<&SimMem>,
        _work: [Option<&SimMem>; 2],
    ) -> Result<(), SimError> {
        gemm::gemm(Ty::of(dtype), g)
    }

    fn launch(&self, dtype: FloatType, k: &Kernel<&SimMem>) -> Result<(), SimError> {
        let l = Launch {
            kernel: k.name(),
            t: Ty::of(dtype),
        };
        match k {
            Kernel::Add(k) => elementwise::add(&l, k),
            Kernel::Mul(k) => elementwise::mul(&l, k),
            Kernel::Gelu(k) => elementwise::gelu(&l, k),
            Kernel::GeluBackward(k) => elementwise::gelu_backward(&l, k),
            Kernel::Threshold(k) => elementwise::threshold(&l, k),
            Kernel::Adam(k) => elementwise::adam(&l, k),
            Kernel::ProtoUpdate(k) => elementwise::proto_update(&l, k),
            Kernel::Gather(k) => layout::gather(&l, k),
            Kernel::Transpose(k) => layout::transpose(&l, k),
            Kernel::ColumnSumsPartial(k) => layout::column_sums_partial(&l, k),
            Kernel::ColumnSumsFinal(k) => layout::column_sums_final(&l, k),
            Kernel::CrossEntropy(k) => rowwise::cross_entropy(&l, k),
            Kernel::Softmax(k) => rowwise::softmax(&l, k),
            Kernel::SoftmaxBackward(k) => rowwise::softmax_backward(&l, k),
            Kernel::LayerNorm(k) => rowwise::layer_norm(&l, k),
            Kernel::LayerNormBackward(k) => rowwise::layer_norm_backward(&l, k),
            Kernel::LayerNormBackwardCols(k) => rowwise::layer_norm_backward_cols(&l, k),
            Kernel::ArgmaxRows(k) => argmax::argmax_rows(&l, k),
            Kernel::TokenAssignDirect(k) => argmax::token_assign_direct(&l, k),
            Kernel::ShapeLoss(k) => argmax::shape_loss(&l, k),
            Kernel::Bucket(k) => scatter::bucket(&l, k),
            Kernel::SegmentSum(k) => scatter::segment_sum(&l, k),
            Kernel::SegmentCounts(k) => scatter::segment_counts(&l, k),
        }
    }

    fn synchronize(&self) -> Result<(), SimError> {
        // Every step ran when it was handed over.
        Ok(())
    }
}
