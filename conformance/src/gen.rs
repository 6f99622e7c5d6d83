//! Deterministic, seeded input generators (ChaCha8): the value ranges the cases draw from.

use neurokern_core::{f16, FloatType};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::data::HostData;

/// A distribution of float values. Values are drawn in `f64` and rounded once to the
/// call's dtype.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Dist {
    /// Normal with mean 0 and this standard deviation.
    Normal(f64),
    /// Normal with this mean and standard deviation.
    Shifted(f64, f64),
    /// Uniform in `[lo, hi)`.
    Uniform(f64, f64),
    /// Integers uniform in `[lo, hi]` (exact in every dtype, and so are their small sums).
    Ints(i32, i32),
    /// Magnitudes in `[60000, 65504]` (the top of f16's range), random sign.
    NearMax,
    /// f16 subnormals (`k·2⁻²⁴`, `1 ≤ k < 1024`) and tiny normals, random sign.
    Subnormal,
    /// Unit normal values with NaN, +inf and −inf sprinkled in (about one in eight).
    Special,
}

/// The generator of one case: a ChaCha8 stream seeded from the case ID, and the dtype.
#[derive(Debug)]
pub struct Gen {
    rng: ChaCha8Rng,
    /// The call's float dtype.
    pub dtype: FloatType,
}

impl Gen {
    /// A generator for `dtype` from `seed`.
    pub fn new(seed: u64, dtype: FloatType) -> Self {
        Gen {
            rng: ChaCha8Rng::seed_from_u64(seed),
            dtype,
        }
    }

    /// A uniform `f64` in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        self.rng.gen::<f64>()
    }

    /// A uniform integer in `[lo, hi]`.
    pub fn int(&mut self, lo: i64, hi: i64) -> i64 {
        self.rng.gen_range(lo..=hi)
    }

    /// A uniform index in `[0, n)`.
    pub fn index(&mut self, n: usize) -> usize {
        self.rng.gen_range(0..n)
    }

    /// A standard normal value (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit(); // (0, 1]
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// One value of `dist`, in f64 (before rounding to the dtype).
    pub fn value(&mut self, dist: Dist) -> f64 {
        let sign = |g: &mut Gen| if g.unit() < 0.5 { -1.0 } else { 1.0 };
        match dist {
            Dist::Normal(s) => s * self.normal(),
            Dist::Shifted(m, s) => m + s * self.normal(),
            Dist::Uniform(lo, hi) => lo + (hi - lo) * self.unit(),
            Dist::Ints(lo, hi) => self.int(i64::from(lo), i64::from(hi)) as f64,
            Dist::NearMax => sign(self) * (60000.0 + 5504.0 * self.unit()),
            Dist::Subnormal => {
                let k = self.int(1, 2047) as f64;
                sign(self) * k * 2f64.powi(-24)
            }
            Dist::Special => match self.index(16) {
                0 => f64::NAN,
                1 => f64::INFINITY,
                2 => f64::NEG_INFINITY,
                _ => self.normal(),
            },
        }
    }

    /// `n` values of `dist` in the call's dtype.
    pub fn floats(&mut self, n: usize, dist: Dist) -> HostData {
        let v: Vec<f64> = (0..n).map(|_| self.value(dist)).collect();
        self.from_f64(&v)
    }

    /// `n` values of `dist` as `f32`, whatever the dtype (Adam's moments).
    pub fn f32s(&mut self, n: usize, dist: Dist) -> HostData {
        HostData::F32((0..n).map(|_| self.value(dist) as f32).collect())
    }

    /// Values given in f64, rounded once to the call's dtype.
    pub fn from_f64(&self, v: &[f64]) -> HostData {
        match self.dtype {
            FloatType::F32 => HostData::F32(v.iter().map(|&x| x as f32).collect()),
            FloatType::F16 => HostData::F16(v.iter().map(|&x| f16::from_f64(x)).collect()),
        }
    }

    /// `3·groups` rows of `width` that make sums depend visibly on their order, even
    /// after rounding to f16: each group is `+big`, `small`, `−big` per column, with `big`
    /// a multiple of 1024 (exact in f16) and `small` about 0.01, so the small values are
    /// rounded at the big values' scale and the big ones cancel exactly.
    pub fn cancelling_rows(&mut self, groups: usize, width: usize) -> Vec<f64> {
        let mut v = Vec::with_capacity(3 * groups * width);
        for _ in 0..groups {
            let big: Vec<f64> = (0..width).map(|_| 1024.0 * self.int(1, 8) as f64).collect();
            v.extend(big.iter().copied());
            v.extend((0..width).map(|_| 0.01 * self.normal()));
            v.extend(big.iter().map(|b| -b));
        }
        v
    }

    /// `n` indices uniform in `[0, hi)`, with a fraction `pad` of them replaced by
    /// out-of-range values (−1 as padding, `hi`, `hi + 7`, `i32::MIN`, `i32::MAX`).
    pub fn indices(&mut self, n: usize, hi: usize, pad: f64) -> HostData {
        let hi_i = i32::try_from(hi).unwrap_or(i32::MAX);
        let v = (0..n)
            .map(|_| {
                if hi == 0 || self.unit() < pad {
                    match self.index(5) {
                        0 | 1 => -1,
                        2 => hi_i,
                        3 => hi_i.saturating_add(7),
                        _ => {
                            if self.unit() < 0.5 {
                                i32::MIN
                            } else {
                                i32::MAX
                            }
                        }
                    }
                } else {
                    self.index(hi) as i32
                }
            })
            .collect();
        HostData::I32(v)
    }
}

/// A stable 64-bit seed from a case ID (FNV-1a): the same ID always replays the same data.
pub fn seed_of(id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
