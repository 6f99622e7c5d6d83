//! Embedding lookup and its deterministic gradient.

use super::{OpDesc, OpKind};
use crate::error::Error;
use crate::operand::{count, ElemRule, OperandSpec as S, Operands};

/// `embedding_lookup`: `idx (B,S)` i32, `table (V,D)` → `out (B,S,D)`,
/// `out[b,s] = table[idx[b,s]]`; an index outside `[0,V)` yields a zero row.
///
/// Operands: `idx`, `table`, `out`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct EmbeddingLookup {
    /// Batches.
    pub b: usize,
    /// Sequence length.
    pub s: usize,
    /// Table rows (vocabulary).
    pub vocab: usize,
    /// Row width.
    pub dim: usize,
}

impl OpDesc for EmbeddingLookup {
    const KIND: OpKind = OpKind::EmbeddingLookup;
    fn operands(&self) -> Result<Operands, Error> {
        let op = Self::KIND.name();
        Ok(Operands::from_slice(&[
            S::input("idx", ElemRule::I32, count(op, "idx", &[self.b, self.s])?),
            S::input(
                "table",
                ElemRule::Float,
                count(op, "table", &[self.vocab, self.dim])?,
            ),
            S::output(
                "out",
                ElemRule::Float,
                count(op, "out", &[self.b, self.s, self.dim])?,
            ),
        ]))
    }
}

/// `embedding_backward`: `dOut (B,S,D)`, `idx (B,S)` → `dTable (V,D)`,
/// `dTable[v] = Σ_{pos: idx[pos] = v} dOut[pos]`, summed in increasing position order;
/// out-of-range indices contribute nothing. Deterministic, `O(B·S·D + V·D)`.
///
/// Operands: `d_out`, `idx`, `d_table`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct EmbeddingBackward {
    /// Batches.
    pub b: usize,
    /// Sequence length.
    pub s: usize,
    /// Table rows (vocabulary).
    pub vocab: usize,
    /// Row width.
    pub dim: usize,
}

impl OpDesc for EmbeddingBackward {
    const KIND: OpKind = OpKind::EmbeddingBackward;
    fn operands(&self) -> Result<Operands, Error> {
        let op = Self::KIND.name();
        Ok(Operands::from_slice(&[
            S::input(
                "d_out",
                ElemRule::Float,
                count(op, "d_out", &[self.b, self.s, self.dim])?,
            ),
            S::input("idx", ElemRule::I32, count(op, "idx", &[self.b, self.s])?),
            S::output(
                "d_table",
                ElemRule::Float,
                count(op, "d_table", &[self.vocab, self.dim])?,
            ),
        ]))
    }
}
