//! Cross-entropy and the seed's loss shaping.

use super::{OpDesc, OpKind};
use crate::error::Error;
use crate::operand::{count, finite, not_nan, ElemRule, OperandSpec as S, Operands};

/// `cross_entropy_loss_grad`: `logp (R,V)` log-probabilities, `target (R)` i32 →
/// `grad (R,V) = exp(logp) − onehot(target)`, `loss (R) = max(0, −logp[target])`.
///
/// **(fix)** a row whose target is outside `[0,V)` (padding, conventionally −1) is
/// ignored: loss 0 and grad 0.
///
/// Operands: `logp`, `target`, `grad`, `loss`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CrossEntropyLossGrad {
    /// Rows.
    pub rows: usize,
    /// Vocabulary (row length).
    pub vocab: usize,
}

impl OpDesc for CrossEntropyLossGrad {
    const KIND: OpKind = OpKind::CrossEntropyLossGrad;
    fn operands(&self) -> Result<Operands, Error> {
        let op = Self::KIND.name();
        let x = count(op, "logp", &[self.rows, self.vocab])?;
        let r = count(op, "target", &[self.rows])?;
        Ok(Operands::from_slice(&[
            S::input("logp", ElemRule::Float, x),
            S::input("target", ElemRule::I32, r),
            S::output("grad", ElemRule::Float, x),
            S::output("loss", ElemRule::Float, r),
        ]))
    }
}

/// `shape_loss`: per row with a valid target (`0 ≤ target < V`): `pred = argmax probs`
/// (first max, NaN never wins); `loss_out = loss_in + penalty` if `(target, pred)` is one
/// of the `pairs`; `− reward` if `pred == target` and `probs[target] ≥ threshold`. Rows with
/// invalid targets pass through unchanged. The seed's single-pair form is a list of one.
///
/// Operands: `loss_in (R)`, `probs (R,V)`, `target (R)` i32, `pairs (P,2)` i32, `loss_out (R)`.
/// `penalty`, `reward` finite; `threshold` not NaN.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct ShapeLoss {
    /// Rows.
    pub rows: usize,
    /// Vocabulary (row length of `probs`).
    pub vocab: usize,
    /// Number of `(target, pred)` pairs that are penalized.
    pub pairs: usize,
    /// Added for a listed confusion.
    pub penalty: f32,
    /// Subtracted for a confident correct prediction.
    pub reward: f32,
    /// Probability at or above which a correct prediction is rewarded.
    pub threshold: f32,
}

impl OpDesc for ShapeLoss {
    const KIND: OpKind = OpKind::ShapeLoss;
    fn operands(&self) -> Result<Operands, Error> {
        let op = Self::KIND.name();
        let r = count(op, "loss_in", &[self.rows])?;
        Ok(Operands::from_slice(&[
            S::input("loss_in", ElemRule::Float, r),
            S::input(
                "probs",
                ElemRule::Float,
                count(op, "probs", &[self.rows, self.vocab])?,
            ),
            S::input("target", ElemRule::I32, r),
            S::input(
                "pairs",
                ElemRule::I32,
                count(op, "pairs", &[self.pairs, 2])?,
            ),
            S::output("loss_out", ElemRule::Float, r),
        ]))
    }
    fn check_scalars(&self) -> Result<(), Error> {
        let op = Self::KIND.name();
        finite(op, "penalty", self.penalty)?;
        finite(op, "reward", self.reward)?;
        not_nan(op, "threshold", self.threshold)
    }
}
