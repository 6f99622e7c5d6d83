//! The Adam optimizer step.

use super::{OpDesc, OpKind};
use crate::error::Error;
use crate::operand::{count, finite, positive, unit_open, ElemRule, OperandSpec as S, Operands};

/// `adam_update` (in place): parameters `p` and gradient `g` (the call's dtype), moments
/// `m`, `v` (always `f32`).
///
/// `g' = g + wd·p` (L2, the seed's behaviour) or, when `decoupled`, `p ← p − lr·wd·p`
/// first (AdamW) and `g' = g`; then `m ← β1·m + (1−β1)·g'`, `v ← β2·v + (1−β2)·g'²`,
/// `p ← p − lr·(m/(1−β1ᵗ)) / (√(v/(1−β2ᵗ)) + eps)`.
///
/// Domains: `lr`, `weight_decay` finite; `β1`, `β2` in `[0, 1)`; `eps` finite and `> 0`;
/// `t ≥ 1` (`t = 0` would divide by `1 − β⁰ = 0`).
///
/// Operands: `p` (in/out), `g`, `m` (in/out, f32), `v` (in/out, f32).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct AdamUpdate {
    /// Element count.
    pub n: usize,
    /// Learning rate.
    pub lr: f32,
    /// First-moment decay.
    pub beta1: f32,
    /// Second-moment decay.
    pub beta2: f32,
    /// Added to the denominator.
    pub eps: f32,
    /// Weight decay (L2 or decoupled).
    pub weight_decay: f32,
    /// Step number, from 1.
    pub t: u32,
    /// AdamW: decay the weights directly instead of adding `wd·p` to the gradient.
    pub decoupled: bool,
}

impl OpDesc for AdamUpdate {
    const KIND: OpKind = OpKind::AdamUpdate;
    fn operands(&self) -> Result<Operands, Error> {
        let n = count(Self::KIND.name(), "p", &[self.n])?;
        Ok(Operands::from_slice(&[
            S::in_out("p", ElemRule::Float, n),
            S::input("g", ElemRule::Float, n),
            S::in_out("m", ElemRule::F32, n),
            S::in_out("v", ElemRule::F32, n),
        ]))
    }
    fn check_scalars(&self) -> Result<(), Error> {
        let op = Self::KIND.name();
        finite(op, "lr", self.lr)?;
        unit_open(op, "beta1", self.beta1)?;
        unit_open(op, "beta2", self.beta2)?;
        positive(op, "eps", self.eps)?;
        finite(op, "weight_decay", self.weight_decay)?;
        if self.t == 0 {
            return Err(Error::Scalar {
                op,
                name: "t",
                expected: ">= 1",
                got: 0.0,
            });
        }
        Ok(())
    }
}
