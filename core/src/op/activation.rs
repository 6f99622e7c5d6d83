//! Rowwise softmax family and the elementwise activations.

use super::{OpDesc, OpKind};
use crate::error::Error;
use crate::operand::{count, not_nan, ElemRule::Float, OperandSpec as S, Operands};

/// `softmax`: `X (R,L)` → rowwise `Y = exp(x − max) / Σ exp(x − max)`.
///
/// Operands: `x`, `y`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Softmax {
    /// Rows.
    pub rows: usize,
    /// Row length.
    pub len: usize,
}

impl OpDesc for Softmax {
    const KIND: OpKind = OpKind::Softmax;
    fn operands(&self) -> Result<Operands, Error> {
        let op = Self::KIND.name();
        let n = count(op, "x", &[self.rows, self.len])?;
        Ok(Operands::from_slice(&[
            S::input("x", Float, n),
            S::output("y", Float, n),
        ]))
    }
}

/// `log_softmax`: `X (R,L)` → rowwise `Y = x − max − ln Σ exp(x − max)`.
///
/// Operands: `x`, `y`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct LogSoftmax {
    /// Rows.
    pub rows: usize,
    /// Row length.
    pub len: usize,
}

impl OpDesc for LogSoftmax {
    const KIND: OpKind = OpKind::LogSoftmax;
    fn operands(&self) -> Result<Operands, Error> {
        let op = Self::KIND.name();
        let n = count(op, "x", &[self.rows, self.len])?;
        Ok(Operands::from_slice(&[
            S::input("x", Float, n),
            S::output("y", Float, n),
        ]))
    }
}

/// `softmax_backward`: `dY (R,L)`, `Y (R,L)` (the softmax output) →
/// `dX = Y ⊙ (dY − Σ_row dY⊙Y)`.
///
/// Operands: `d_y`, `y`, `d_x`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SoftmaxBackward {
    /// Rows.
    pub rows: usize,
    /// Row length.
    pub len: usize,
}

impl OpDesc for SoftmaxBackward {
    const KIND: OpKind = OpKind::SoftmaxBackward;
    fn operands(&self) -> Result<Operands, Error> {
        let op = Self::KIND.name();
        let n = count(op, "d_y", &[self.rows, self.len])?;
        Ok(Operands::from_slice(&[
            S::input("d_y", Float, n),
            S::input("y", Float, n),
            S::output("d_x", Float, n),
        ]))
    }
}

/// `gelu`: `y = 0.5·x·(1 + erf(x/√2))`, the exact erf form. `y` may be `x`'s buffer.
///
/// Operands: `x`, `y`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Gelu {
    /// Element count.
    pub n: usize,
}

impl OpDesc for Gelu {
    const KIND: OpKind = OpKind::Gelu;
    fn operands(&self) -> Result<Operands, Error> {
        let n = count(Self::KIND.name(), "x", &[self.n])?;
        Ok(Operands::from_slice(&[
            S::input("x", Float, n),
            S::output("y", Float, n).aliasing(0),
        ]))
    }
}

/// `gelu_backward`: `dX = dY·(Φ(x) + x·φ(x))`, `Φ(x) = 0.5(1+erf(x/√2))`,
/// `φ(x) = exp(−x²/2)/√(2π)`.
///
/// Operands: `x`, `d_y`, `d_x`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct GeluBackward {
    /// Element count.
    pub n: usize,
}

impl OpDesc for GeluBackward {
    const KIND: OpKind = OpKind::GeluBackward;
    fn operands(&self) -> Result<Operands, Error> {
        let n = count(Self::KIND.name(), "x", &[self.n])?;
        Ok(Operands::from_slice(&[
            S::input("x", Float, n),
            S::input("d_y", Float, n),
            S::output("d_x", Float, n),
        ]))
    }
}

/// `threshold_spike`: `y = 1` where `x > θ`, else `0` (NaN gives 0), in x's dtype. `y` may
/// be `x`'s buffer. `θ` must not be NaN.
///
/// Operands: `x`, `y`.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct ThresholdSpike {
    /// Element count.
    pub n: usize,
    /// Threshold θ.
    pub threshold: f32,
}

impl OpDesc for ThresholdSpike {
    const KIND: OpKind = OpKind::ThresholdSpike;
    fn operands(&self) -> Result<Operands, Error> {
        let n = count(Self::KIND.name(), "x", &[self.n])?;
        Ok(Operands::from_slice(&[
            S::input("x", Float, n),
            S::output("y", Float, n).aliasing(0),
        ]))
    }
    fn check_scalars(&self) -> Result<(), Error> {
        not_nan(Self::KIND.name(), "threshold", self.threshold)
    }
}
