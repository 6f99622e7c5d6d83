//! Elementwise arithmetic, the broadcasting adds and the bias-gradient reduction.
//! Elementwise results are computed in f64 from the widened inputs and rounded once,
//! which for `+` and `×` of f32 values gives the correctly rounded f32 result.

use super::{RefFloat, Slots};

use crate::error::Error;

/// `c[i] = f(a[i], b[i mod period])` where `a` is input 0 (or, when aliased, the output's
/// own contents), `b` input 1 and `c` output 2. `period = len(b)` broadcasts `b`.
fn binary<T: RefFloat>(s: &mut Slots<'_, '_>, f: impl Fn(f64, f64) -> f64) -> Result<(), Error> {
    let a = s.input_or_aliased::<T>(0)?;
    let b = s.input::<T>(1)?;
    let c = s.output::<T>(2)?;
    if b.is_empty() {
        return Ok(()); // then c is empty too (its length is a multiple of b's)
    }
    let apply = |av: T, bv: T| T::narrow_f64(f(f64::from(av.widen()), f64::from(bv.widen())));
    match a {
        Some(a) => {
            for ((cc, ac), bb) in c
                .chunks_mut(b.len())
                .zip(a.chunks(b.len()))
                .zip(core::iter::repeat(b))
            {
                for ((o, av), bv) in cc.iter_mut().zip(ac).zip(bb) {
                    *o = apply(*av, *bv);
                }
            }
        }
        None => {
            for cc in c.chunks_mut(b.len()) {
                for (o, bv) in cc.iter_mut().zip(b) {
                    *o = apply(*o, *bv);
                }
            }
        }
    }
    Ok(())
}

pub(super) fn add<T: RefFloat>(s: &mut Slots<'_, '_>) -> Result<(), Error> {
    binary::<T>(s, |a, b| a + b)
}

pub(super) fn mul<T: RefFloat>(s: &mut Slots<'_, '_>) -> Result<(), Error> {
    binary::<T>(s, |a, b| a * b)
}

/// `dA = dC⊙B`, `dB = dC⊙A`.
pub(super) fn mul_backward<T: RefFloat>(s: &mut Slots<'_, '_>) -> Result<(), Error> {
    let (dc, a, b) = (s.input::<T>(0)?, s.input::<T>(1)?, s.input::<T>(2)?);
    let prod = |x: &T, y: &T| T::narrow_f64(f64::from(x.widen()) * f64::from(y.widen()));
    if let Some(da) = s.optional_output::<T>(3)? {
        for ((o, g), bv) in da.iter_mut().zip(dc).zip(b) {
            *o = prod(g, bv);
        }
    }
    if let Some(db) = s.optional_output::<T>(4)? {
        for ((o, g), av) in db.iter_mut().zip(dc).zip(a) {
            *o = prod(g, av);
        }
    }
    Ok(())
}

/// `y[n] = Σ_{r} x[r, n]` over the `B·M` rows in increasing order, f32 accumulation.
pub(super) fn reduce_sum_01<T: RefFloat>(n: usize, s: &mut Slots<'_, '_>) -> Result<(), Error> {
    let (x, y) = (s.input::<T>(0)?, s.output::<T>(1)?);
    const BLOCK: usize = 64;
    for n0 in (0..n).step_by(BLOCK) {
        let width = BLOCK.min(n - n0);
        let mut acc = [0.0f32; BLOCK];
        for row in x.chunks_exact(n) {
            for (a, v) in acc.iter_mut().zip(&row[n0..n0 + width]) {
                *a += v.widen();
            }
        }
        super::store(&mut y[n0..n0 + width], &acc[..width]);
    }
    Ok(())
}
