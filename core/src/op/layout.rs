//! Transposes: pure data movement, exact on every backend.

use super::{OpDesc, OpKind};
use crate::error::Error;
use crate::operand::{count, ElemRule::Float, OperandSpec as S, Operands};

/// `transpose`: `X (R,C)` → `Y (C,R)`, `Y[c,r] = X[r,c]`.
///
/// Operands: `x`, `y`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Transpose {
    /// Rows of `X`.
    pub rows: usize,
    /// Columns of `X`.
    pub cols: usize,
}

impl OpDesc for Transpose {
    const KIND: OpKind = OpKind::Transpose;
    fn operands(&self) -> Result<Operands, Error> {
        let op = Self::KIND.name();
        let n = count(op, "x", &[self.rows, self.cols])?;
        Ok(Operands::from_slice(&[
            S::input("x", Float, n),
            S::output("y", Float, n),
        ]))
    }
}

/// `transpose_batched`: `X (B,D1,D2)` → `Y (B,D2,D1)`.
///
/// Operands: `x`, `y`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TransposeBatched {
    /// Batches.
    pub b: usize,
    /// First transposed dim.
    pub d1: usize,
    /// Second transposed dim.
    pub d2: usize,
}

impl OpDesc for TransposeBatched {
    const KIND: OpKind = OpKind::TransposeBatched;
    fn operands(&self) -> Result<Operands, Error> {
        let op = Self::KIND.name();
        let n = count(op, "x", &[self.b, self.d1, self.d2])?;
        Ok(Operands::from_slice(&[
            S::input("x", Float, n),
            S::output("y", Float, n),
        ]))
    }
}

/// `transpose_12`: `X (B,D1,D2,D3)` → `Y (B,D2,D1,D3)` (swap the middle dims; e.g. heads
/// and sequence).
///
/// Operands: `x`, `y`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Transpose12 {
    /// Batches.
    pub b: usize,
    /// First swapped dim.
    pub d1: usize,
    /// Second swapped dim.
    pub d2: usize,
    /// Innermost dim, moved as a block.
    pub d3: usize,
}

impl OpDesc for Transpose12 {
    const KIND: OpKind = OpKind::Transpose12;
    fn operands(&self) -> Result<Operands, Error> {
        let op = Self::KIND.name();
        let n = count(op, "x", &[self.b, self.d1, self.d2, self.d3])?;
        Ok(Operands::from_slice(&[
            S::input("x", Float, n),
            S::output("y", Float, n),
        ]))
    }
}
