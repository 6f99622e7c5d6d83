//! Elementwise arithmetic and the broadcasting adds, and their reduction.

use super::{OpDesc, OpKind};
use crate::error::Error;
use crate::operand::{count, ElemRule::Float, OperandSpec as S, Operands};

/// `add`: `C = A + B` elementwise. `c` may be `a`'s buffer.
///
/// Operands: `a`, `b`, `c`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Add {
    /// Element count.
    pub n: usize,
}

impl OpDesc for Add {
    const KIND: OpKind = OpKind::Add;
    fn operands(&self) -> Result<Operands, Error> {
        binary(Self::KIND.name(), self.n)
    }
}

/// `mul`: `C = A ⊙ B` elementwise. `c` may be `a`'s buffer.
///
/// Operands: `a`, `b`, `c`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Mul {
    /// Element count.
    pub n: usize,
}

impl OpDesc for Mul {
    const KIND: OpKind = OpKind::Mul;
    fn operands(&self) -> Result<Operands, Error> {
        binary(Self::KIND.name(), self.n)
    }
}

fn binary(op: &'static str, n: usize) -> Result<Operands, Error> {
    let n = count(op, "a", &[n])?;
    Ok(Operands::from_slice(&[
        S::input("a", Float, n),
        S::input("b", Float, n),
        S::output("c", Float, n).aliasing(0),
    ]))
}

/// `mul_backward`: `dA = dC⊙B`, `dB = dC⊙A`, each optional.
///
/// Operands: `d_c`, `a`, `b`, `d_a` (if `want_d_a`), `d_b` (if `want_d_b`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MulBackward {
    /// Element count.
    pub n: usize,
    /// Compute `d_a`.
    pub want_d_a: bool,
    /// Compute `d_b`.
    pub want_d_b: bool,
}

impl OpDesc for MulBackward {
    const KIND: OpKind = OpKind::MulBackward;
    fn operands(&self) -> Result<Operands, Error> {
        let n = count(Self::KIND.name(), "d_c", &[self.n])?;
        Ok(Operands::from_slice(&[
            S::input("d_c", Float, n),
            S::input("a", Float, n),
            S::input("b", Float, n),
            S::output("d_a", Float, n).optional(self.want_d_a),
            S::output("d_b", Float, n).optional(self.want_d_b),
        ]))
    }
}

/// `add_bias`: `X (B,M,N)`, `bias (N)` → `Y = X + bias` broadcast over `B`, `M`. `y` may be
/// `x`'s buffer.
///
/// Operands: `x`, `bias`, `y`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct AddBias {
    /// Batches.
    pub b: usize,
    /// Rows per batch.
    pub m: usize,
    /// Columns (bias length).
    pub n: usize,
}

impl OpDesc for AddBias {
    const KIND: OpKind = OpKind::AddBias;
    fn operands(&self) -> Result<Operands, Error> {
        let op = Self::KIND.name();
        let x = count(op, "x", &[self.b, self.m, self.n])?;
        Ok(Operands::from_slice(&[
            S::input("x", Float, x),
            S::input("bias", Float, count(op, "bias", &[self.n])?),
            S::output("y", Float, x).aliasing(0),
        ]))
    }
}

/// `add_broadcast_pe`: `X (B,S,E)`, `pe (S,E)` → `Y = X + pe` broadcast over `B`. `y` may
/// be `x`'s buffer.
///
/// Operands: `x`, `pe`, `y`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct AddBroadcastPe {
    /// Batches.
    pub b: usize,
    /// Sequence length.
    pub s: usize,
    /// Embedding width.
    pub e: usize,
}

impl OpDesc for AddBroadcastPe {
    const KIND: OpKind = OpKind::AddBroadcastPe;
    fn operands(&self) -> Result<Operands, Error> {
        let op = Self::KIND.name();
        let x = count(op, "x", &[self.b, self.s, self.e])?;
        Ok(Operands::from_slice(&[
            S::input("x", Float, x),
            S::input("pe", Float, count(op, "pe", &[self.s, self.e])?),
            S::output("y", Float, x).aliasing(0),
        ]))
    }
}

/// `reduce_sum_01`: `X (B,M,N)` → `Y (N)`, the sum over `B` and `M` (a bias gradient).
/// With `B·M = 0` the output is zeros.
///
/// Operands: `x`, `y`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ReduceSum01 {
    /// Batches.
    pub b: usize,
    /// Rows per batch.
    pub m: usize,
    /// Columns.
    pub n: usize,
}

impl OpDesc for ReduceSum01 {
    const KIND: OpKind = OpKind::ReduceSum01;
    fn operands(&self) -> Result<Operands, Error> {
        let op = Self::KIND.name();
        Ok(Operands::from_slice(&[
            S::input("x", Float, count(op, "x", &[self.b, self.m, self.n])?),
            S::output("y", Float, count(op, "y", &[self.n])?),
        ]))
    }
}
