//! How each table kernel is dispatched: the grid, the work-group shape and the passes.
//!
//! Arguments are generic (buffers → storage-buffer bindings in order, then one f32 scratch
//! binding; scalars → push constants in order, then the chunk base and three pass words,
//! `NK_EXTRAS` in `kernels/glsl/common.glsl`). What differs per kernel is only its shape,
//! chosen so that no invocation loops longer than [`LOOP_LIMIT`]:
//!
//! * elementwise kernels: one invocation per grid point (the transpose per element of its
//!   output, not per `D3` block);
//! * rowwise reductions, row argmaxes, token assignment and `shape_loss`: one work-group of
//!   [`WG`] invocations per row with strided loops and a fixed tree, so a row costs each
//!   invocation `len / WG` iterations; longer rows are refused with [`VkError::LoopLimit`];
//! * sequential sums (column sums, `dγ`/`dβ`, segment sums) and the counting sort: passes
//!   of at most [`SERIAL`] iterations, the running state kept between passes in f32
//!   memory, so the result is the bits of one sequential loop.

use neurokern_gpu::kernel::Kernel;

use crate::error::{Result, VkError};
use crate::memory::Mem;

/// lavapipe's per-invocation loop cap (all loops of a shader together; loops silently
/// stop there). Kept on every device: it also bounds the time one invocation runs.
pub const LOOP_LIMIT: u64 = 65_535;
/// Iterations of one pass of the sequential kernels (the rest of the budget covers the
/// shaders' short fixed loops).
pub const SERIAL: usize = 32_768;
/// Invocations per work-group of the per-row kernels (`WG` in the shaders).
pub const WG: usize = 256;
/// Invocations per work-group of the elementwise kernels (`local_size_x` in the shaders).
pub const ITEMS: u32 = 64;
/// Loop iterations of one work-group tree reduction (log2 WG).
const TREE: u64 = 8;

/// One dispatch sequence of a kernel: its grid and its pass words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pass {
    /// Invocations (elementwise kernels) or work-groups (per-row kernels) per dimension.
    pub grid: [u64; 3],
    /// `nk_p0`, `nk_p1`, `nk_p2`.
    pub p: [i32; 3],
}

/// How a kernel is dispatched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape {
    /// One work-group per row (`grid` counts work-groups; the base is in work-groups).
    pub groups: bool,
    /// The shader's work-group size.
    pub local: [u32; 3],
    /// Passes, in order, each after the previous one's writes.
    pub passes: Vec<Pass>,
    /// Bytes of f32 scratch the kernel's last binding needs (0: none).
    pub scratch: u64,
}

fn grid(g: [usize; 3]) -> [u64; 3] {
    g.map(|d| d as u64)
}

fn items(g: [usize; 3]) -> Shape {
    Shape {
        groups: false,
        local: [ITEMS, 1, 1],
        passes: vec![Pass {
            grid: grid(g),
            p: [0, 0, i32::MAX],
        }],
        scratch: 0,
    }
}

fn rows(kernel: &'static str, rows: usize, iterations: u64, what: String) -> Result<Shape> {
    check(kernel, iterations, what)?;
    Ok(Shape {
        groups: true,
        local: [WG as u32, 1, 1],
        passes: vec![Pass {
            grid: [rows as u64, 1, 1],
            p: [0, 0, i32::MAX],
        }],
        scratch: 0,
    })
}

fn check(kernel: &'static str, iterations: u64, what: String) -> Result<()> {
    if iterations > LOOP_LIMIT {
        Err(VkError::LoopLimit {
            kernel,
            what,
            iterations,
            limit: LOOP_LIMIT,
        })
    } else {
        Ok(())
    }
}

/// Strided iterations of one invocation over `len` elements.
fn strided(len: usize) -> u64 {
    len.div_ceil(WG) as u64
}

/// Passes `[lo, lo + SERIAL)` over `0..len` (at least one), with `p0`.
fn serial(g: [usize; 3], len: usize, p0: i32) -> Vec<Pass> {
    (0..len.max(1))
        .step_by(SERIAL)
        .map(|lo| Pass {
            grid: grid(g),
            p: [p0, lo as i32, (lo + SERIAL) as i32],
        })
        .collect()
}

fn fits(kernel: &'static str, arg: &'static str, v: usize) -> Result<i32> {
    i32::try_from(v).map_err(|_| VkError::DimTooLarge {
        kernel,
        arg,
        value: v,
    })
}

/// The shape of `k`'s launch.
pub fn shape(k: &Kernel<&Mem>) -> Result<Shape> {
    let name = k.name();
    Ok(match k {
        Kernel::Transpose(t) => {
            let n = t.d1 * t.d2 * t.d3 * t.batches;
            fits(name, "d1·d2·d3·batches", n)?;
            items([n, 1, 1])
        }
        Kernel::ColumnSumsPartial(c) => Shape {
            passes: serial(k.grid(), c.chunk, 0),
            ..items(k.grid())
        },
        Kernel::ColumnSumsFinal(c) => {
            check(name, c.chunks as u64, format!("{} chunks", c.chunks))?;
            items(k.grid())
        }
        Kernel::LayerNormBackwardCols(c) => {
            if c.rows <= SERIAL {
                items(k.grid())
            } else {
                Shape {
                    passes: serial(k.grid(), c.rows, 1),
                    scratch: 8 * c.len as u64,
                    ..items(k.grid())
                }
            }
        }
        Kernel::SegmentSum(s) => {
            // The longest segment has at most as many rows as `order` holds.
            let bound = (s.order.size() / 4) as usize;
            if bound <= SERIAL {
                items(k.grid())
            } else {
                Shape {
                    passes: serial(k.grid(), bound, 1),
                    scratch: 4 * (s.width as u64) * (s.segs as u64),
                    ..items(k.grid())
                }
            }
        }
        Kernel::Bucket(b) => {
            fits(name, "segs + 1", b.segs + 1)?;
            let mut passes = vec![Pass {
                grid: [b.segs as u64 + 1, 1, 1],
                p: [0, 0, 0],
            }];
            if b.rows > 0 {
                passes.push(Pass {
                    grid: [b.rows as u64, 1, 1],
                    p: [1, 0, 0],
                });
            }
            passes.extend(serial([1, 1, 1], b.segs, 2));
            if b.rows > 0 {
                passes.extend(serial([1, 1, 1], b.rows, 3));
            }
            Shape {
                passes,
                ..items([1, 1, 1])
            }
        }
        Kernel::Softmax(s) => rows(
            name,
            s.rows,
            3 * strided(s.len) + 2 * TREE,
            format!("a row of {}", s.len),
        )?,
        Kernel::SoftmaxBackward(s) => rows(
            name,
            s.rows,
            2 * strided(s.len) + TREE,
            format!("a row of {}", s.len),
        )?,
        Kernel::LayerNorm(s) => rows(
            name,
            s.rows,
            3 * strided(s.len) + 2 * TREE,
            format!("a row of {}", s.len),
        )?,
        Kernel::LayerNormBackward(s) => rows(
            name,
            s.rows,
            4 * strided(s.len) + 4 * TREE,
            format!("a row of {}", s.len),
        )?,
        Kernel::ArgmaxRows(a) => rows(
            name,
            a.rows,
            strided(a.cols) + TREE,
            format!("a row of {} scores", a.cols),
        )?,
        Kernel::TokenAssignDirect(t) => rows(
            name,
            t.rows,
            strided(t.protos).saturating_mul(t.e as u64 + 1) + TREE,
            format!("{} prototypes of width {}", t.protos, t.e),
        )?,
        Kernel::ShapeLoss(s) => rows(
            name,
            s.rows,
            strided(s.vocab) + strided(s.pairs) + 2 * TREE,
            format!("a row of {} with {} pairs", s.vocab, s.pairs),
        )?,
        _ => items(k.grid()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_passes_cover_the_range_once() {
        let p = serial([3, 1, 1], 70_000, 1);
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].p, [1, 0, SERIAL as i32]);
        assert_eq!(p[2].p[1], 2 * SERIAL as i32);
        assert!(p[2].p[2] as usize >= 70_000);
        assert_eq!(serial([1, 1, 1], 0, 2).len(), 1);
    }

    #[test]
    fn long_rows_are_refused_not_truncated() {
        assert!(rows("k", 1, LOOP_LIMIT, String::new()).is_ok());
        let e = rows("k", 1, LOOP_LIMIT + 1, "a row".into()).unwrap_err();
        assert!(e.to_string().contains("65535"), "{e}");
    }
}
