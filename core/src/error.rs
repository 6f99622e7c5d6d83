//! The one error type of validation: every failure names the op, the operand (or scalar)
//! and what was expected, so a caller can act on it without reading our code.

use core::fmt;

use crate::dtype::{ElemType, FloatType};

/// Why an op call was rejected before anything ran.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// A product of dims overflowed `usize` or exceeded `i32::MAX` (kernels index with 32
    /// bits).
    TooLarge {
        /// Op name, e.g. `"matmul"`.
        op: &'static str,
        /// The operand whose element count (or an intermediate product of its dims) is too
        /// large.
        operand: &'static str,
    },
    /// A buffer has the wrong number of elements.
    Length {
        /// Op name.
        op: &'static str,
        /// Operand name.
        operand: &'static str,
        /// Elements the descriptor requires.
        expected: usize,
        /// Elements the buffer has.
        got: usize,
    },
    /// A buffer has the wrong element type.
    ElemType {
        /// Op name.
        op: &'static str,
        /// Operand name.
        operand: &'static str,
        /// Required element type.
        expected: ElemType,
        /// Element type of the buffer given.
        got: ElemType,
    },
    /// The descriptor enables an operand (or it is always required) but none was given.
    Missing {
        /// Op name.
        op: &'static str,
        /// Operand name.
        operand: &'static str,
    },
    /// A buffer was given for an operand the descriptor disables (e.g. `d_a` when
    /// `want_d_a` is false).
    Unexpected {
        /// Op name.
        op: &'static str,
        /// Operand name.
        operand: &'static str,
    },
    /// The argument list has the wrong length (one slot per operand, present or not).
    ArgCount {
        /// Op name.
        op: &'static str,
        /// Slots the op has.
        expected: usize,
        /// Slots given.
        got: usize,
    },
    /// Two operands share a buffer where the op does not allow it.
    Alias {
        /// Op name.
        op: &'static str,
        /// The output (or in-place) operand.
        operand: &'static str,
        /// The operand it overlaps.
        other: &'static str,
    },
    /// A scalar is outside its domain.
    Scalar {
        /// Op name.
        op: &'static str,
        /// Scalar name, e.g. `"eps"`.
        name: &'static str,
        /// The domain, e.g. `"finite and > 0"`.
        expected: &'static str,
        /// The value given.
        got: f64,
    },
    /// An operand the op writes was given a read-only slice (reference entry point), or an
    /// [`Arg::SameAs`](crate::reference::Arg::SameAs) names a slot that holds no writable
    /// buffer.
    ReadOnly {
        /// Op name.
        op: &'static str,
        /// Operand name.
        operand: &'static str,
    },
    /// A backend does not implement this op for this dtype.
    Unsupported {
        /// Op name.
        op: &'static str,
        /// The dtype asked for.
        dtype: FloatType,
    },
}

impl Error {
    /// The op the error is about.
    pub fn op(&self) -> &'static str {
        match *self {
            Error::TooLarge { op, .. }
            | Error::Length { op, .. }
            | Error::ElemType { op, .. }
            | Error::Missing { op, .. }
            | Error::Unexpected { op, .. }
            | Error::ArgCount { op, .. }
            | Error::Alias { op, .. }
            | Error::Scalar { op, .. }
            | Error::ReadOnly { op, .. }
            | Error::Unsupported { op, .. } => op,
        }
    }

    /// A stable short name of the error kind (used by the C ABI, the fuzzers and the
    /// differential tests to compare errors across backends).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Error::TooLarge { .. } => "too_large",
            Error::Length { .. } => "length",
            Error::ElemType { .. } => "elem_type",
            Error::Missing { .. } => "missing",
            Error::Unexpected { .. } => "unexpected",
            Error::ArgCount { .. } => "arg_count",
            Error::Alias { .. } => "alias",
            Error::Scalar { .. } => "scalar",
            Error::ReadOnly { .. } => "read_only",
            Error::Unsupported { .. } => "unsupported",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::TooLarge { op, operand } => write!(
                f,
                "{op}: operand `{operand}` is too large: a product of its dims exceeds i32::MAX ({})",
                i32::MAX
            ),
            Error::Length { op, operand, expected, got } => write!(
                f,
                "{op}: operand `{operand}` must have {expected} elements, got a buffer of {got}"
            ),
            Error::ElemType { op, operand, expected, got } => write!(
                f,
                "{op}: operand `{operand}` must have element type {expected}, got {got}"
            ),
            Error::Missing { op, operand } => {
                write!(f, "{op}: operand `{operand}` is required but no buffer was given")
            }
            Error::Unexpected { op, operand } => write!(
                f,
                "{op}: a buffer was given for operand `{operand}`, which this descriptor disables"
            ),
            Error::ArgCount { op, expected, got } => write!(
                f,
                "{op}: expected {expected} operand slots (one per operand, absent ones empty), got {got}"
            ),
            Error::Alias { op, operand, other } => write!(
                f,
                "{op}: operand `{operand}` shares its buffer with `{other}`, which this op does not allow"
            ),
            Error::Scalar { op, name, expected, got } => {
                write!(f, "{op}: scalar `{name}` must be {expected}, got {got}")
            }
            Error::ReadOnly { op, operand } => write!(
                f,
                "{op}: operand `{operand}` is written by the op but no writable buffer was given"
            ),
            Error::Unsupported { op, dtype } => {
                write!(f, "{op}: not supported for dtype {dtype} by this backend")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}
