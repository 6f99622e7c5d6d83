//! Layer normalization and its gradient.

use super::{OpDesc, OpKind};
use crate::error::Error;
use crate::operand::{count, positive, ElemRule::Float, OperandSpec as S, Operands};

/// `layer_norm`: `X (R,L)` → `x̂ = (x − μ)/√(σ² + eps)` per row, population variance;
/// `Y = x̂`, or `Y = γ⊙x̂ + β` when `affine`.
///
/// Operands: `x`, `gamma (L)` and `beta (L)` (if `affine`), `y`. `eps` must be finite and
/// `> 0`.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct LayerNorm {
    /// Rows.
    pub rows: usize,
    /// Row length.
    pub len: usize,
    /// Added to the variance.
    pub eps: f32,
    /// Apply `γ`, `β`.
    pub affine: bool,
}

impl OpDesc for LayerNorm {
    const KIND: OpKind = OpKind::LayerNorm;
    fn operands(&self) -> Result<Operands, Error> {
        let op = Self::KIND.name();
        let x = count(op, "x", &[self.rows, self.len])?;
        let l = count(op, "gamma", &[self.len])?;
        Ok(Operands::from_slice(&[
            S::input("x", Float, x),
            S::input("gamma", Float, l).optional(self.affine),
            S::input("beta", Float, l).optional(self.affine),
            S::output("y", Float, x),
        ]))
    }
    fn check_scalars(&self) -> Result<(), Error> {
        positive(Self::KIND.name(), "eps", self.eps)
    }
}

/// `layer_norm_backward`: `dX = rstd/L · (L·g − Σg − x̂·Σ(g·x̂))` with `g = dY` (or
/// `dY⊙γ` when `affine`); when `affine` also `dγ = Σ_rows dY⊙x̂` and `dβ = Σ_rows dY`.
///
/// Operands: `d_y`, `x`, `gamma` (if `affine`), `d_x`, `d_gamma`, `d_beta` (if `affine`).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct LayerNormBackward {
    /// Rows.
    pub rows: usize,
    /// Row length.
    pub len: usize,
    /// The forward pass's eps.
    pub eps: f32,
    /// The forward pass was affine.
    pub affine: bool,
}

impl OpDesc for LayerNormBackward {
    const KIND: OpKind = OpKind::LayerNormBackward;
    fn operands(&self) -> Result<Operands, Error> {
        let op = Self::KIND.name();
        let x = count(op, "x", &[self.rows, self.len])?;
        let l = count(op, "gamma", &[self.len])?;
        Ok(Operands::from_slice(&[
            S::input("d_y", Float, x),
            S::input("x", Float, x),
            S::input("gamma", Float, l).optional(self.affine),
            S::output("d_x", Float, x),
            S::output("d_gamma", Float, l).optional(self.affine),
            S::output("d_beta", Float, l).optional(self.affine),
        ]))
    }
    fn check_scalars(&self) -> Result<(), Error> {
        positive(Self::KIND.name(), "eps", self.eps)
    }
}
