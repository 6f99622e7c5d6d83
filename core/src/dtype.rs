//! Element types: the float dtype of a call, the element type of an operand, and the
//! [`Float`] trait the reference is generic over.

use core::fmt;
use half::f16;

/// The floating-point storage type of one op call. Every float operand of a call has this
/// type (except Adam's moments, which are always `f32`). Arithmetic is always `f32` or
/// wider: `F16` means storage only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
pub enum FloatType {
    /// IEEE binary32.
    F32 = 0,
    /// IEEE binary16 (the `half` crate's `f16`), widened exactly to `f32` on load and
    /// rounded once, to nearest-even, on store.
    F16 = 1,
}

impl FloatType {
    /// Both float types, in a fixed order (used by suites that iterate over dtypes).
    pub const ALL: [FloatType; 2] = [FloatType::F32, FloatType::F16];

    /// The lower-case name (`"f32"`, `"f16"`).
    pub const fn name(self) -> &'static str {
        match self {
            FloatType::F32 => "f32",
            FloatType::F16 => "f16",
        }
    }

    /// The element type an operand of this float type has.
    pub const fn elem(self) -> ElemType {
        match self {
            FloatType::F32 => ElemType::F32,
            FloatType::F16 => ElemType::F16,
        }
    }

    /// Parses `"f32"` or `"f16"`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "f32" => Some(FloatType::F32),
            "f16" => Some(FloatType::F16),
            _ => None,
        }
    }
}

impl fmt::Display for FloatType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The element type of a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
pub enum ElemType {
    /// `f32`.
    F32 = 0,
    /// `f16` (binary16).
    F16 = 1,
    /// `i32` (indices, counts, pairs).
    I32 = 2,
}

impl ElemType {
    /// Size of one element in bytes.
    pub const fn size(self) -> usize {
        match self {
            ElemType::F32 | ElemType::I32 => 4,
            ElemType::F16 => 2,
        }
    }

    /// The lower-case name (`"f32"`, `"f16"`, `"i32"`).
    pub const fn name(self) -> &'static str {
        match self {
            ElemType::F32 => "f32",
            ElemType::F16 => "f16",
            ElemType::I32 => "i32",
        }
    }

    /// Converts a raw discriminant (as it crosses the C ABI) back.
    pub const fn from_u32(v: u32) -> Option<Self> {
        match v {
            0 => Some(ElemType::F32),
            1 => Some(ElemType::F16),
            2 => Some(ElemType::I32),
            _ => None,
        }
    }
}

impl fmt::Display for ElemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A float storage type the reference is generic over: `f32` or `f16`.
///
/// `widen` is exact; `narrow` rounds once, to nearest-even (for `f16`: overflow gives
/// ±inf, tiny values give subnormals or ±0, NaN stays NaN).
pub trait Float: Copy + Default + PartialEq + fmt::Debug + Send + Sync + 'static {
    /// The dtype tag for this type.
    const DTYPE: FloatType;
    /// Widens to `f32` exactly.
    fn widen(self) -> f32;
    /// Rounds an `f32` to this type (round to nearest, ties to even).
    fn narrow(x: f32) -> Self;
    /// Rounds an `f64` to this type with a single rounding.
    fn narrow_f64(x: f64) -> Self;
}

impl Float for f32 {
    const DTYPE: FloatType = FloatType::F32;
    #[inline(always)]
    fn widen(self) -> f32 {
        self
    }
    #[inline(always)]
    fn narrow(x: f32) -> Self {
        x
    }
    #[inline(always)]
    fn narrow_f64(x: f64) -> Self {
        x as f32
    }
}

impl Float for f16 {
    const DTYPE: FloatType = FloatType::F16;
    #[inline(always)]
    fn widen(self) -> f32 {
        self.to_f32()
    }
    #[inline(always)]
    fn narrow(x: f32) -> Self {
        f16::from_f32(x)
    }
    #[inline(always)]
    fn narrow_f64(x: f64) -> Self {
        f16_from_f64(x)
    }
}

/// Rounds an `f64` to `f16` once, to nearest-even.
///
/// `half`'s own `f16::from_f64` does not: it drops the low 32 bits of the f64 significand
/// before rounding (or, with the `f16c` instruction set, rounds to f32 first), so a value
/// just above a midpoint between two f16 values can round down as if it were a tie. Here
/// the value is first rounded to f32 *to odd* (truncate, then set the last bit if anything
/// was dropped), which keeps the information "exactly a midpoint or not"; f32 has 13 more
/// significand bits than f16 (≥ 2 are needed), so the final nearest-even rounding to f16 is
/// the correctly rounded result, subnormals and overflow included.
pub fn f16_from_f64(x: f64) -> f16 {
    if x.is_nan() {
        return f16::NAN;
    }
    let r = x as f32; // nearest-even; ±inf when beyond f32's range
    if f64::from(r) == x {
        return f16::from_f32(r);
    }
    let mut bits = r.to_bits();
    if f64::from(r).abs() > x.abs() {
        bits -= 1; // one step toward zero: the truncation of x (inf becomes f32::MAX)
    }
    f16::from_f32(f32::from_bits(bits | 1))
}
