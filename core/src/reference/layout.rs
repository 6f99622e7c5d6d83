//! Transposes (exact copies).

use super::{RefFloat, Slots};
use crate::error::Error;

/// `(B, D1, D2, D3) → (B, D2, D1, D3)`; `transpose` is `(1, R, C, 1)` and
/// `transpose_batched` is `(B, D1, D2, 1)`.
pub(super) fn transpose_12<T: RefFloat>(
    b: usize,
    d1: usize,
    d2: usize,
    d3: usize,
    s: &mut Slots<'_, '_>,
) -> Result<(), Error> {
    let (x, y) = (s.input::<T>(0)?, s.output::<T>(1)?);
    for bb in 0..b {
        for i in 0..d1 {
            for j in 0..d2 {
                let src = ((bb * d1 + i) * d2 + j) * d3;
                let dst = ((bb * d2 + j) * d1 + i) * d3;
                y[dst..dst + d3].copy_from_slice(&x[src..src + d3]);
            }
        }
    }
    Ok(())
}
