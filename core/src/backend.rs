//! The trait every backend implements: buffer management, a capability query, one entry
//! point that runs any [`Op`], and `synchronize`.
//!
//! A backend instance is one device. Buffers are device allocations owned by the caller
//! (freed on drop) and passed to [`Backend::run`] by shared reference: a buffer is a
//! handle, and the backend writes device memory through it, as OpenCL, CUDA and Vulkan
//! do. Shared buffers between operands are detected by [`DeviceBuffer::id`] and allowed
//! only where the op allows aliasing.

use core::fmt;

use crate::dtype::{ElemType, FloatType};
use crate::error::Error;
use crate::op::{Op, OpKind};
use crate::operand::{ArgDesc, Operands, MAX_OPERANDS};

/// What a backend's buffers tell about themselves.
pub trait DeviceBuffer {
    /// Element type.
    fn elem(&self) -> ElemType;
    /// Element count.
    fn len(&self) -> usize;
    /// True when the buffer holds no elements.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// An identity: equal for two handles of the same allocation, different otherwise.
    fn id(&self) -> usize;
}

/// A device that runs neurokern ops.
pub trait Backend {
    /// A device buffer.
    type Buffer: DeviceBuffer;
    /// The backend's error: validation errors convert into it.
    type Error: From<Error> + fmt::Display + fmt::Debug;

    /// A human-readable device name (`"pthread-AMD EPYC 7B13"`, `"reference"`).
    fn device_name(&self) -> &str;

    /// Whether [`Backend::run`] implements `kind` in `dtype`.
    fn supports(&self, kind: OpKind, dtype: FloatType) -> bool;

    /// Allocates a buffer of `len` elements, zero-filled.
    fn alloc(&self, elem: ElemType, len: usize) -> Result<Self::Buffer, Self::Error>;

    /// Copies host bytes (native endianness, exactly `len · elem.size()` of them) into the
    /// buffer.
    fn write(&self, buf: &Self::Buffer, src: &[u8]) -> Result<(), Self::Error>;

    /// Copies the buffer's contents into host bytes (exactly `len · elem.size()`).
    fn read(&self, buf: &Self::Buffer, dst: &mut [u8]) -> Result<(), Self::Error>;

    /// Copies `src` into `dst` (same element type and length).
    fn copy(&self, src: &Self::Buffer, dst: &Self::Buffer) -> Result<(), Self::Error>;

    /// Runs `op` in `dtype` on `args`, one slot per operand of [`Op::operands`] in order,
    /// `None` for a disabled optional operand. Implementations call [`check_call`] first.
    fn run(
        &self,
        op: &Op,
        dtype: FloatType,
        args: &[Option<&Self::Buffer>],
    ) -> Result<(), Self::Error>;

    /// Waits until all work submitted so far has finished.
    fn synchronize(&self) -> Result<(), Self::Error>;
}

/// Validates a backend call: the descriptor, then the buffers' presence, element types,
/// lengths and sharing. Backends call this before touching memory, so every backend
/// rejects the same calls with the same error.
pub fn check_call<B: DeviceBuffer>(
    op: &Op,
    dtype: FloatType,
    args: &[Option<&B>],
) -> Result<Operands, Error> {
    if args.len() > MAX_OPERANDS {
        let expected = op.operands()?.len();
        return Err(Error::ArgCount {
            op: op.name(),
            expected,
            got: args.len(),
        });
    }
    let mut descs = [ArgDesc::ABSENT; MAX_OPERANDS];
    for (d, a) in descs.iter_mut().zip(args) {
        if let Some(b) = a {
            *d = ArgDesc::buffer(b.elem(), b.len(), b.id());
        }
    }
    op.check_call(dtype, &descs[..args.len()])
}

/// Checks a byte count for [`Backend::write`] / [`Backend::read`]: returns the expected
/// byte count on success.
pub fn check_bytes(elem: ElemType, len: usize, bytes: usize) -> Result<(), (usize, usize)> {
    let expected = len.saturating_mul(elem.size());
    if expected == bytes {
        Ok(())
    } else {
        Err((expected, bytes))
    }
}
