//! Launch shapes and the generic argument packing of the kernel table.
//!
//! A table kernel is launched from its signature alone ([`Kernel::args`]): each `i32`,
//! flag and `f32` becomes a 4-byte parameter, each buffer an 8-byte device pointer (0 for
//! an absent optional one), in the table's order, which is the CUDA sources' order
//! (checked by the tests against the sources). Shapes follow the convention of
//! `kernels/cuda/common.cuh`: grid-stride loops over every logical dim, so the CUDA grid
//! may be clamped to the hardware limits; the rowwise kernels run one warp per row.

use std::ffi::c_void;

use neurokern_gpu::kernel::{Arg, ArgKind, Kernel};
use neurokern_kernels::cuda::ROWS_PER_BLOCK;

use crate::error::CudaError;

/// The hardware limits of a grid: x, and y / z.
const MAX_GRID_X: usize = (1 << 31) - 1;
const MAX_GRID_YZ: usize = 65_535;
/// Threads per block of the table kernels.
const BLOCK: usize = 256;

/// A CUDA launch shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Blocks per dim.
    pub grid: (u32, u32, u32),
    /// Threads per dim.
    pub block: (u32, u32, u32),
}

fn clamp(v: usize, max: usize) -> u32 {
    // `max` fits u32.
    v.clamp(1, max) as u32
}

/// The shape a table kernel runs with.
pub fn shape<B>(k: &Kernel<B>) -> Shape {
    let g = k.grid();
    if k.is_rowwise() {
        let rpb = ROWS_PER_BLOCK as usize;
        return Shape {
            grid: (clamp(g[0].div_ceil(rpb), MAX_GRID_X), 1, 1),
            block: ((32 * rpb) as u32, 1, 1),
        };
    }
    // x: up to 256 threads along dim 0, at least a warp; the rest of the block along
    // dim 1 when dim 0 is short (a 2-D kernel over narrow rows).
    let tx = if g[0] >= BLOCK {
        BLOCK
    } else {
        g[0].next_power_of_two().max(32)
    };
    let ty = (BLOCK / tx).min(g[1].next_power_of_two()).max(1);
    Shape {
        grid: (
            clamp(g[0].div_ceil(tx), MAX_GRID_X),
            clamp(g[1].div_ceil(ty), MAX_GRID_YZ),
            clamp(g[2], MAX_GRID_YZ),
        ),
        block: (tx as u32, ty as u32, 1),
    }
}

/// The launch parameters of one kernel: 8-byte aligned slots (4-byte values in their
/// first bytes) and the pointers `cuLaunchKernel` copies them from.
#[derive(Debug)]
pub struct Params {
    slots: Vec<u64>,
}

impl Params {
    /// An empty list.
    pub fn new() -> Self {
        Params { slots: Vec::new() }
    }

    /// Appends a 4-byte `int`.
    pub fn i32(&mut self, v: i32) -> &mut Self {
        self.four(v.to_ne_bytes())
    }

    /// Appends a 4-byte `float`.
    pub fn f32(&mut self, v: f32) -> &mut Self {
        self.four(v.to_ne_bytes())
    }

    /// Appends an 8-byte `long long`.
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.slots.push(u64::from_ne_bytes(v.to_ne_bytes()));
        self
    }

    /// Appends a device pointer (0: none).
    pub fn ptr(&mut self, p: u64) -> &mut Self {
        self.slots.push(p);
        self
    }

    fn four(&mut self, b: [u8; 4]) -> &mut Self {
        let mut s = [0u8; 8];
        s[..4].copy_from_slice(&b);
        self.slots.push(u64::from_ne_bytes(s));
        self
    }

    /// The parameter pointers for `cuLaunchKernel`; valid while `self` is neither moved
    /// nor changed.
    pub fn pointers(&mut self) -> Vec<*mut c_void> {
        self.slots
            .iter_mut()
            .map(|s| (s as *mut u64).cast::<c_void>())
            .collect()
    }

    /// The number of parameters.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

impl Default for Params {
    fn default() -> Self {
        Self::new()
    }
}

/// The parameters of a table kernel, checked against its signature; `ptr` gives a
/// buffer's device address.
pub fn table_params<B>(k: &Kernel<B>, ptr: impl Fn(&B) -> u64) -> Result<Params, CudaError> {
    let sig = k.sig();
    let args = k.args().map_err(|e| CudaError::TooLarge {
        kernel: e.kernel,
        arg: e.arg,
        value: e.value,
    })?;
    if args.len() != sig.args.len() {
        return Err(CudaError::Signature {
            kernel: sig.name,
            what: format!("{} arguments for {} parameters", args.len(), sig.args.len()),
        });
    }
    let mut p = Params::new();
    for ((name, kind), a) in sig.args.iter().zip(&args) {
        match (kind, a) {
            (ArgKind::I32 | ArgKind::Flag, Arg::I32(v)) => p.i32(*v),
            (ArgKind::F32, Arg::F32(v)) => p.f32(*v),
            (ArgKind::Buf { .. }, Arg::Buf(b)) => p.ptr(b.map_or(0, &ptr)),
            _ => {
                return Err(CudaError::Signature {
                    kernel: sig.name,
                    what: format!("argument `{name}` is not a {kind:?}"),
                })
            }
        };
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use neurokern_gpu::kernel::{Add, Gelu, Softmax};

    #[test]
    fn shapes_cover_the_grid_within_the_limits() {
        let k: Kernel<u32> = Kernel::Gelu(Gelu {
            n: 1000,
            x: 0,
            y: 1,
        });
        assert_eq!(
            shape(&k),
            Shape {
                grid: (4, 1, 1),
                block: (256, 1, 1)
            }
        );
        // Narrow rows, many of them: the block spreads over dim 1, the grid is clamped
        // (the kernels loop).
        let k: Kernel<u32> = Kernel::Add(Add {
            period: 10,
            reps: 10_000_000,
            a: 0,
            b: 1,
            c: 2,
        });
        let s = shape(&k);
        assert_eq!(s.block, (32, 8, 1));
        assert_eq!(s.grid, (1, 65_535, 1));
        let k: Kernel<u32> = Kernel::Softmax(Softmax {
            rows: 17,
            len: 5,
            x: 0,
            y: 1,
            log: false,
        });
        assert_eq!(shape(&k).grid, (3, 1, 1));
        assert_eq!(shape(&k).block, (256, 1, 1));
    }

    #[test]
    fn parameters_follow_the_signature() {
        let k: Kernel<u32> = Kernel::Gelu(Gelu { n: 7, x: 3, y: 4 });
        let mut p = table_params(&k, |b| u64::from(*b) << 32).unwrap();
        assert_eq!(p.len(), 3);
        let ptrs = p.pointers();
        // SAFETY: each pointer addresses one live 8-byte slot of `p`.
        let first = unsafe { *ptrs[0].cast::<i32>() };
        // SAFETY: as above.
        let second = unsafe { *ptrs[1].cast::<u64>() };
        assert_eq!((first, second), (7, 3 << 32));
    }
}
