//! Host memory of the simulated device, and the typed, bounds-checked access every
//! simulated primitive goes through.
//!
//! A buffer is bytes behind a mutex. A primitive first copies what it reads out of its
//! input buffers (widening f16 exactly to f32), each lock held only for the copy; then it
//! locks each output once and writes it (rounding to f16 once, at the store). So an
//! output that is also an input (`add`'s `c == a`, an in-place update) reads the old
//! values, no lock is ever taken twice, and no two references to one buffer's bytes
//! exist at once.
//!
//! Every access is checked against the extent the primitive's dims imply before it
//! happens, so a lowering that hands a kernel a too-short buffer (or a wrong `ld`) is a
//! [`SimError`], not a panic or a silent wrong answer.

use std::fmt;
use std::sync::{Mutex, MutexGuard};

use half::f16;
use neurokern_core::FloatType;

use super::SimError;

/// One allocation of the simulated device: zero-filled host bytes.
pub struct SimMem {
    bytes: Mutex<Vec<u8>>,
}

impl fmt::Debug for SimMem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimMem")
            .field("bytes", &self.lock().len())
            .finish()
    }
}

impl SimMem {
    /// `bytes` zero bytes, or [`SimError::OutOfMemory`] when the host has none to give
    /// (`try_reserve`, so that a failed allocation is an error, not an abort).
    pub(super) fn zeroed(bytes: usize) -> Result<Self, SimError> {
        let mut v = Vec::new();
        v.try_reserve_exact(bytes)
            .map_err(|_| SimError::OutOfMemory { bytes })?;
        v.resize(bytes, 0);
        Ok(SimMem {
            bytes: Mutex::new(v),
        })
    }

    /// The bytes. A panic while the lock was held cannot leave them in a state worse than
    /// a half-written output, which the failed step reported anyway.
    pub(super) fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        self.bytes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Size in bytes.
    pub fn len_bytes(&self) -> usize {
        self.lock().len()
    }
}

/// The storage type of a float buffer argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ty {
    /// binary16: widened exactly on load, rounded to nearest-even on store.
    F16,
    /// binary32.
    F32,
}

impl Ty {
    /// The storage type of a call's `T` buffers.
    pub(super) fn of(t: FloatType) -> Ty {
        match t {
            FloatType::F32 => Ty::F32,
            FloatType::F16 => Ty::F16,
        }
    }

    /// Bytes per element.
    pub(super) const fn size(self) -> usize {
        match self {
            Ty::F16 => 2,
            Ty::F32 => 4,
        }
    }
}

/// Elements of a float buffer, still in their storage form: what a copy kernel moves
/// (an f16 NaN keeps its exact bits, which a widen-and-round would not promise).
#[derive(Debug)]
pub(super) struct Raw {
    bytes: Vec<u8>,
    size: usize,
    arg: &'static str,
}

/// Where a primitive is, for its errors, and its storage type.
#[derive(Clone, Copy, Debug)]
pub(super) struct Launch {
    /// The kernel's name (`nk_gelu`, `gemm`).
    pub kernel: &'static str,
    /// The call's storage type (the `T` buffers).
    pub t: Ty,
}

impl Launch {
    /// The product of `dims`, the element count an argument must hold.
    pub(super) fn extent(&self, arg: &'static str, dims: &[usize]) -> Result<usize, SimError> {
        dims.iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or(SimError::Overflow {
                kernel: self.kernel,
                arg,
            })
    }

    /// A required buffer the kernel's signature makes optional (`best` when `want_best`,
    /// `gamma` when `affine`).
    pub(super) fn needed<'m>(
        &self,
        b: Option<&'m SimMem>,
        arg: &'static str,
    ) -> Result<&'m SimMem, SimError> {
        b.ok_or(SimError::Missing {
            kernel: self.kernel,
            arg,
        })
    }

    /// The first `n` elements of `mem` (of `size` bytes each) as bytes, or the error
    /// naming `arg` when the buffer is shorter.
    fn bytes(
        &self,
        mem: &SimMem,
        arg: &'static str,
        size: usize,
        n: usize,
    ) -> Result<Vec<u8>, SimError> {
        let g = mem.lock();
        let have = g.len() / size;
        match n.checked_mul(size).and_then(|b| g.get(..b)) {
            Some(b) => Ok(b.to_vec()),
            None => Err(SimError::OutOfBounds {
                kernel: self.kernel,
                arg,
                need: n,
                have,
            }),
        }
    }

    /// The first `n` elements of a float buffer stored as `ty`, widened to f32.
    pub(super) fn load(
        &self,
        mem: &SimMem,
        arg: &'static str,
        ty: Ty,
        n: usize,
    ) -> Result<Vec<f32>, SimError> {
        let b = self.bytes(mem, arg, ty.size(), n)?;
        Ok(match ty {
            Ty::F16 => b
                .chunks_exact(2)
                .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Ty::F32 => b
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        })
    }

    /// The first `n` elements of a `T` buffer, widened.
    pub(super) fn t(
        &self,
        mem: &SimMem,
        arg: &'static str,
        n: usize,
    ) -> Result<Vec<f32>, SimError> {
        self.load(mem, arg, self.t, n)
    }

    /// The first `n` elements of an `f32` buffer.
    pub(super) fn f32(
        &self,
        mem: &SimMem,
        arg: &'static str,
        n: usize,
    ) -> Result<Vec<f32>, SimError> {
        self.load(mem, arg, Ty::F32, n)
    }

    /// The first `n` elements of an `i32` buffer.
    pub(super) fn i32(
        &self,
        mem: &SimMem,
        arg: &'static str,
        n: usize,
    ) -> Result<Vec<i32>, SimError> {
        let b = self.bytes(mem, arg, 4, n)?;
        Ok(b.chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    /// The whole of an `i32` buffer (its extent depends on data, e.g. a bucket order).
    pub(super) fn i32_all(&self, mem: &SimMem, arg: &'static str) -> Result<Vec<i32>, SimError> {
        let n = mem.len_bytes() / 4;
        self.i32(mem, arg, n)
    }

    /// The whole of a `T` buffer, widened.
    pub(super) fn t_all(&self, mem: &SimMem, arg: &'static str) -> Result<Vec<f32>, SimError> {
        let n = mem.len_bytes() / self.t.size();
        self.t(mem, arg, n)
    }

    /// The first `n` elements of a `T` buffer, in storage form.
    pub(super) fn raw_t(&self, mem: &SimMem, arg: &'static str, n: usize) -> Result<Raw, SimError> {
        let size = self.t.size();
        Ok(Raw {
            bytes: self.bytes(mem, arg, size, n)?,
            size,
            arg,
        })
    }

    /// Writes elements of `mem` (float storage `ty`, extent `n`) through `f`, the buffer
    /// locked once. `f` must not touch any other buffer: it computes from loaded copies.
    pub(super) fn store(
        &self,
        mem: &SimMem,
        arg: &'static str,
        ty: Ty,
        n: usize,
        f: impl FnOnce(&mut Out<'_>) -> Result<(), SimError>,
    ) -> Result<(), SimError> {
        let mut g = mem.lock();
        let have = g.len() / ty.size();
        let bytes = n
            .checked_mul(ty.size())
            .and_then(|b| g.get_mut(..b))
            .ok_or(SimError::OutOfBounds {
                kernel: self.kernel,
                arg,
                need: n,
                have,
            })?;
        let mut out = Out {
            bytes,
            ty,
            past_end: None,
            src_past_end: None,
        };
        f(&mut out)?;
        if let Some(index) = out.past_end {
            return Err(SimError::OutOfBounds {
                kernel: self.kernel,
                arg,
                need: index + 1,
                have: n,
            });
        }
        if let Some((src, index, have)) = out.src_past_end {
            return Err(SimError::OutOfBounds {
                kernel: self.kernel,
                arg: src,
                need: index + 1,
                have,
            });
        }
        Ok(())
    }

    /// [`Launch::store`] into a `T` buffer.
    pub(super) fn store_t(
        &self,
        mem: &SimMem,
        arg: &'static str,
        n: usize,
        f: impl FnOnce(&mut Out<'_>) -> Result<(), SimError>,
    ) -> Result<(), SimError> {
        self.store(mem, arg, self.t, n, f)
    }

    /// [`Launch::store`] into an `f32` buffer.
    pub(super) fn store_f32(
        &self,
        mem: &SimMem,
        arg: &'static str,
        n: usize,
        f: impl FnOnce(&mut Out<'_>) -> Result<(), SimError>,
    ) -> Result<(), SimError> {
        self.store(mem, arg, Ty::F32, n, f)
    }

    /// Writes `vals` to the start of an `i32` buffer.
    pub(super) fn store_i32(
        &self,
        mem: &SimMem,
        arg: &'static str,
        vals: &[i32],
    ) -> Result<(), SimError> {
        let mut g = mem.lock();
        let have = g.len() / 4;
        let bytes = g.get_mut(..vals.len() * 4).ok_or(SimError::OutOfBounds {
            kernel: self.kernel,
            arg,
            need: vals.len(),
            have,
        })?;
        for (c, v) in bytes.chunks_exact_mut(4).zip(vals) {
            c.copy_from_slice(&v.to_le_bytes());
        }
        Ok(())
    }
}

/// The locked elements of one output buffer.
#[derive(Debug)]
pub(super) struct Out<'a> {
    bytes: &'a mut [u8],
    ty: Ty,
    /// The first index written past the extent (reported after the store).
    past_end: Option<usize>,
    /// The first copy from past a source's loaded extent: its argument, the index, the
    /// extent.
    src_past_end: Option<(&'static str, usize, usize)>,
}

impl Out<'_> {
    fn slot(&mut self, i: usize) -> Option<&mut [u8]> {
        let size = self.ty.size();
        let s = i
            .checked_mul(size)
            .and_then(|b| self.bytes.get_mut(b..b + size));
        if s.is_none() && self.past_end.is_none() {
            self.past_end = Some(i);
        }
        s
    }

    /// Stores `v` at element `i`, rounded once to the storage type.
    pub(super) fn set(&mut self, i: usize, v: f32) {
        let ty = self.ty;
        if let Some(s) = self.slot(i) {
            match ty {
                Ty::F16 => s.copy_from_slice(&f16::from_f32(v).to_le_bytes()),
                Ty::F32 => s.copy_from_slice(&v.to_le_bytes()),
            }
        }
    }

    /// Copies element `j` of `src` (same storage type) to element `i`, bits unchanged.
    pub(super) fn copy(&mut self, i: usize, src: &Raw, j: usize) {
        let size = src.size;
        let b = j.checked_mul(size).and_then(|o| src.bytes.get(o..o + size));
        match (b, self.slot(i)) {
            (Some(b), Some(s)) if b.len() == s.len() => s.copy_from_slice(b),
            (None, _) => {
                self.src_past_end
                    .get_or_insert((src.arg, j, src.bytes.len() / size));
            }
            // A past-the-end `i` is recorded by `slot`; sizes always agree (`T` to `T`).
            _ => {}
        }
    }
}
