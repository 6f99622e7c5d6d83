//! Prototype (vector-quantization-like) ops: assignment, segmented sums, update.

use super::fields::{FieldKind, FieldType, Value};
use super::{OpDesc, OpKind};
use crate::error::Error;
use crate::operand::{count, finite, ElemRule, OperandSpec as S, Operands};

/// `dynamic_token_assignment`: `act (B,S,E)`, `proto (T,E)` →
/// `idx (B,S) = argmax_t ⟨act[b,s], proto[t]⟩` (i32). The first maximum wins (strict `>`
/// while scanning `t` upward); a NaN similarity never wins; `−1` if no similarity beats
/// −inf. **(ext)** optional `best (B,S)`: the winning similarity (−inf when `idx = −1`).
///
/// Besides the operands, the implicit score matrix `(B·S, T)` must stay within
/// `i32::MAX` elements (reported as [`Error::TooLarge`] for `"scores"`).
///
/// Operands: `act`, `proto`, `idx`, `best` (if `want_best`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct DynamicTokenAssignment {
    /// Batches.
    pub b: usize,
    /// Sequence length.
    pub s: usize,
    /// Embedding width.
    pub e: usize,
    /// Prototypes.
    pub t: usize,
    /// Also write the winning similarity.
    pub want_best: bool,
}

impl OpDesc for DynamicTokenAssignment {
    const KIND: OpKind = OpKind::DynamicTokenAssignment;
    fn operands(&self) -> Result<Operands, Error> {
        let op = Self::KIND.name();
        let rows = count(op, "idx", &[self.b, self.s])?;
        // The scores `act·protoᵀ (B·S, T)` are an intermediate every GEMM-based backend
        // indexes (or materializes), so their count obeys the i32::MAX limit too.
        count(op, "scores", &[self.b, self.s, self.t])?;
        Ok(Operands::from_slice(&[
            S::input(
                "act",
                ElemRule::Float,
                count(op, "act", &[self.b, self.s, self.e])?,
            ),
            S::input(
                "proto",
                ElemRule::Float,
                count(op, "proto", &[self.t, self.e])?,
            ),
            S::output("idx", ElemRule::I32, rows),
            S::output("best", ElemRule::Float, rows).optional(self.want_best),
        ]))
    }
}

/// How `proto_segmented_sum` orders its additions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u32)]
pub enum SumMode {
    /// Each sum is taken in increasing row order: same bits on every run (the default).
    #[default]
    Deterministic = 0,
    /// **(ext)** opt-in: a backend may add in any order (float atomics, the seed's
    /// behaviour). Results then vary within the dot-product bound from run to run.
    Atomic = 1,
}

/// A flag bit: set for [`SumMode::Atomic`].
impl FieldType for SumMode {
    const KIND: FieldKind = FieldKind::Flag;
    const SET_MEANS: Option<&'static str> = Some("atomic");
    fn to_value(self) -> Value {
        Value::Flag(self == SumMode::Atomic)
    }
    fn from_value(value: Value) -> Option<Self> {
        match value {
            Value::Flag(true) => Some(SumMode::Atomic),
            Value::Flag(false) => Some(SumMode::Deterministic),
            _ => None,
        }
    }
}

/// `proto_segmented_sum`: `act (M,E)`, `idx (M)` i32 → `sums (T,E)`, `counts (T)` i32:
/// per prototype, the sum and number of rows assigned to it; indices outside `[0,T)` are
/// skipped. `O(M·E + T·E)`.
///
/// Operands: `act`, `idx`, `sums`, `counts`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ProtoSegmentedSum {
    /// Rows.
    pub m: usize,
    /// Row width.
    pub e: usize,
    /// Prototypes.
    pub t: usize,
    /// Summation order.
    pub mode: SumMode,
}

impl OpDesc for ProtoSegmentedSum {
    const KIND: OpKind = OpKind::ProtoSegmentedSum;
    fn operands(&self) -> Result<Operands, Error> {
        let op = Self::KIND.name();
        Ok(Operands::from_slice(&[
            S::input("act", ElemRule::Float, count(op, "act", &[self.m, self.e])?),
            S::input("idx", ElemRule::I32, count(op, "idx", &[self.m])?),
            S::output(
                "sums",
                ElemRule::Float,
                count(op, "sums", &[self.t, self.e])?,
            ),
            S::output("counts", ElemRule::I32, count(op, "counts", &[self.t])?),
        ]))
    }
}

/// `proto_update_step` (in place): for each `t` with `counts[t] > 0`:
/// `proto[t] ← (1−lr)·proto[t] + lr·sums[t]/counts[t]`; other rows unchanged.
///
/// Operands: `proto (T,E)` (in/out), `sums (T,E)`, `counts (T)` i32. `lr` finite.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct ProtoUpdateStep {
    /// Prototypes.
    pub t: usize,
    /// Prototype width.
    pub e: usize,
    /// Moving-average rate.
    pub lr: f32,
}

impl OpDesc for ProtoUpdateStep {
    const KIND: OpKind = OpKind::ProtoUpdateStep;
    fn operands(&self) -> Result<Operands, Error> {
        let op = Self::KIND.name();
        let p = count(op, "proto", &[self.t, self.e])?;
        Ok(Operands::from_slice(&[
            S::in_out("proto", ElemRule::Float, p),
            S::input("sums", ElemRule::Float, p),
            S::input("counts", ElemRule::I32, count(op, "counts", &[self.t])?),
        ]))
    }
    fn check_scalars(&self) -> Result<(), Error> {
        finite(Self::KIND.name(), "lr", self.lr)
    }
}
