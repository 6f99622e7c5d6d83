//! The reference CPU implementation of neurokern as a [`Backend`]: buffers are host
//! vectors, and [`Backend::run`] calls [`neurokern_core::reference::run`]. It is the
//! backend of the CPU plugin, and the in-process oracle the conformance suite compares
//! every device with.
//!
//! Buffers live behind a mutex each, so the backend and its buffers are `Send + Sync`;
//! a call locks its distinct buffers in address order, so concurrent calls on overlapping
//! buffers cannot deadlock.

use std::sync::{Mutex, MutexGuard};

use neurokern_core::backend::{check_bytes, check_call};
use neurokern_core::reference::{self, Arg};
use neurokern_core::{f16, Backend, DeviceBuffer, ElemType, Error, FloatType, Op, OpKind, Role};

/// Host storage of one buffer.
#[derive(Debug)]
enum Storage {
    F32(Vec<f32>),
    F16(Vec<f16>),
    I32(Vec<i32>),
}

impl Storage {
    fn bytes(&self) -> &[u8] {
        match self {
            Storage::F32(v) => as_bytes(v),
            Storage::F16(v) => as_bytes(v),
            Storage::I32(v) => as_bytes(v),
        }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        match self {
            Storage::F32(v) => as_bytes_mut(v),
            Storage::F16(v) => as_bytes_mut(v),
            Storage::I32(v) => as_bytes_mut(v),
        }
    }

    fn arg_mut(&mut self) -> Arg<'_> {
        match self {
            Storage::F32(v) => Arg::F32Mut(v),
            Storage::F16(v) => Arg::F16Mut(v),
            Storage::I32(v) => Arg::I32Mut(v),
        }
    }

    fn arg(&self) -> Arg<'_> {
        match self {
            Storage::F32(v) => Arg::F32(v),
            Storage::F16(v) => Arg::F16(v),
            Storage::I32(v) => Arg::I32(v),
        }
    }
}

/// Plain-old-data element types whose bytes may be viewed directly.
trait Pod: Copy {}
impl Pod for f32 {}
impl Pod for f16 {}
impl Pod for i32 {}

fn as_bytes<T: Pod>(v: &[T]) -> &[u8] {
    // SAFETY: T is f32, f16 or i32: no padding, every byte initialized, and u8 has
    // alignment 1; the length covers exactly the slice's memory.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

fn as_bytes_mut<T: Pod>(v: &mut [T]) -> &mut [u8] {
    // SAFETY: as in `as_bytes`; moreover every bit pattern is a valid f32, f16 or i32, so
    // any bytes written through the view leave valid values.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

/// `len` copies of `zero`, or [`CpuError::OutOfMemory`] when the host cannot provide them
/// (instead of aborting the process, as `vec!` would).
fn zeroed<T: Clone>(len: usize, zero: T) -> Result<Vec<T>, CpuError> {
    let mut v = Vec::new();
    v.try_reserve_exact(len)
        .map_err(|_| CpuError::OutOfMemory { elements: len })?;
    v.resize(len, zero);
    Ok(v)
}

/// A host buffer of the CPU backend.
#[derive(Debug)]
pub struct CpuBuffer {
    elem: ElemType,
    len: usize,
    data: Box<Mutex<Storage>>,
}

impl CpuBuffer {
    fn lock(&self) -> MutexGuard<'_, Storage> {
        // A panic while holding the lock cannot leave the storage half-typed (it is plain
        // numbers), so a poisoned lock is still safe to use.
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl DeviceBuffer for CpuBuffer {
    fn elem(&self) -> ElemType {
        self.elem
    }
    fn len(&self) -> usize {
        self.len
    }
    fn id(&self) -> usize {
        // The mutex is boxed, so its address is stable for the buffer's life and unique.
        &*self.data as *const Mutex<Storage> as usize
    }
}

/// Errors of the CPU backend.
#[derive(Debug, Clone, PartialEq)]
pub enum CpuError {
    /// The call was rejected by validation.
    Invalid(Error),
    /// A host copy had the wrong byte count.
    Bytes {
        /// Bytes the buffer holds.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// A copy between buffers of different types or lengths.
    CopyMismatch,
    /// The buffer would have more than `i32::MAX` elements (no op can address them).
    TooLarge,
    /// The host could not allocate the buffer.
    OutOfMemory {
        /// Elements asked for.
        elements: usize,
    },
}

impl From<Error> for CpuError {
    fn from(e: Error) -> Self {
        CpuError::Invalid(e)
    }
}

impl std::fmt::Display for CpuError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CpuError::Invalid(e) => e.fmt(f),
            CpuError::Bytes { expected, got } => {
                write!(f, "host copy: the buffer holds {expected} bytes, got {got}")
            }
            CpuError::CopyMismatch => {
                f.write_str("copy: source and destination differ in element type or length")
            }
            CpuError::TooLarge => {
                f.write_str("alloc: more than i32::MAX elements, which no op can address")
            }
            CpuError::OutOfMemory { elements } => {
                write!(f, "alloc: the host could not allocate {elements} elements")
            }
        }
    }
}

impl std::error::Error for CpuError {}

/// The reference CPU implementation as a backend.
#[derive(Debug, Default, Clone, Copy)]
pub struct CpuBackend;

impl CpuBackend {
    /// The backend (stateless).
    pub fn new() -> Self {
        CpuBackend
    }
}

impl Backend for CpuBackend {
    type Buffer = CpuBuffer;
    type Error = CpuError;

    fn device_name(&self) -> &str {
        "reference"
    }

    fn supports(&self, _kind: OpKind, _dtype: FloatType) -> bool {
        true
    }

    fn alloc(&self, elem: ElemType, len: usize) -> Result<CpuBuffer, CpuError> {
        // No operand of any op can have more than i32::MAX elements (validation rejects
        // it), so a larger buffer could never be used: refuse it before asking the
        // allocator, like a device refuses more than its maximum allocation.
        if len > i32::MAX as usize {
            return Err(CpuError::TooLarge);
        }
        let storage = match elem {
            ElemType::F32 => Storage::F32(zeroed(len, 0.0)?),
            ElemType::F16 => Storage::F16(zeroed(len, f16::ZERO)?),
            ElemType::I32 => Storage::I32(zeroed(len, 0)?),
        };
        Ok(CpuBuffer {
            elem,
            len,
            data: Box::new(Mutex::new(storage)),
        })
    }

    fn write(&self, buf: &CpuBuffer, src: &[u8]) -> Result<(), CpuError> {
        check_bytes(buf.elem, buf.len, src.len())
            .map_err(|(expected, got)| CpuError::Bytes { expected, got })?;
        buf.lock().bytes_mut().copy_from_slice(src);
        Ok(())
    }

    fn read(&self, buf: &CpuBuffer, dst: &mut [u8]) -> Result<(), CpuError> {
        check_bytes(buf.elem, buf.len, dst.len())
            .map_err(|(expected, got)| CpuError::Bytes { expected, got })?;
        dst.copy_from_slice(buf.lock().bytes());
        Ok(())
    }

    fn copy(&self, src: &CpuBuffer, dst: &CpuBuffer) -> Result<(), CpuError> {
        if src.elem != dst.elem || src.len != dst.len {
            return Err(CpuError::CopyMismatch);
        }
        if src.id() == dst.id() {
            return Ok(());
        }
        let bytes = src.lock().bytes().to_vec();
        dst.lock().bytes_mut().copy_from_slice(&bytes);
        Ok(())
    }

    fn run(&self, op: &Op, dtype: FloatType, args: &[Option<&CpuBuffer>]) -> Result<(), CpuError> {
        let operands = check_call(op, dtype, args)?;
        // Distinct buffers, locked in address order (no lock-order deadlocks).
        let mut distinct: Vec<&CpuBuffer> = args.iter().flatten().copied().collect();
        distinct.sort_by_key(|b| b.id());
        distinct.dedup_by_key(|b| b.id());
        let written: Vec<bool> = distinct
            .iter()
            .map(|b| {
                operands
                    .iter()
                    .zip(args)
                    .any(|(s, a)| s.role != Role::Input && a.is_some_and(|a| a.id() == b.id()))
            })
            .collect();
        let mut guards: Vec<MutexGuard<'_, Storage>> = distinct.iter().map(|b| b.lock()).collect();
        let mut mutable: Vec<Option<&mut Storage>> =
            guards.iter_mut().map(|g| Some(&mut **g)).collect();
        let mut shared: Vec<Option<&Storage>> = vec![None; distinct.len()];
        let mut first_slot: Vec<Option<usize>> = vec![None; distinct.len()];
        let mut slots: Vec<Arg<'_>> = Vec::with_capacity(args.len());
        for (i, a) in args.iter().enumerate() {
            let Some(buf) = a else {
                slots.push(Arg::Absent);
                continue;
            };
            if buf.is_empty() {
                // Empty buffers never count as shared (validation skips them), so each
                // slot gets an empty slice of its own rather than an in-place alias.
                slots.push(match buf.elem() {
                    ElemType::F32 => Arg::F32Mut(&mut []),
                    ElemType::F16 => Arg::F16Mut(&mut []),
                    ElemType::I32 => Arg::I32Mut(&mut []),
                });
                continue;
            }
            let g = distinct
                .iter()
                .position(|d| d.id() == buf.id())
                .unwrap_or(0);
            if written[g] {
                // Validation allowed this sharing only for an output aliasing an earlier
                // input: the first slot owns the mutable view, later ones compute in place.
                match (first_slot[g], mutable[g].take()) {
                    (None, Some(storage)) => {
                        first_slot[g] = Some(i);
                        slots.push(storage.arg_mut());
                    }
                    (Some(first), _) => slots.push(Arg::SameAs(first)),
                    (None, None) => slots.push(Arg::Absent),
                }
            } else {
                if shared[g].is_none() {
                    shared[g] = mutable[g].take().map(|m| &*m);
                }
                slots.push(shared[g].map_or(Arg::Absent, Storage::arg));
            }
        }
        let mut scratch = vec![0.0f32; reference::scratch_len(op, dtype)?];
        reference::run(op, dtype, &mut slots, &mut scratch)?;
        Ok(())
    }

    fn synchronize(&self) -> Result<(), CpuError> {
        Ok(())
    }
}
