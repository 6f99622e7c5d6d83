//! Operand lists: what buffers an op reads and writes, with their element types and
//! element counts, and the checks of a call's buffers against them.

use crate::dtype::{ElemType, FloatType};
use crate::error::Error;

/// The most operands any op has (`layer_norm_backward`: dy, x, gamma, dx, dgamma, dbeta).
pub const MAX_OPERANDS: usize = 6;

/// How an op uses an operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Role {
    /// Read only.
    Input = 0,
    /// Written only; fully overwritten (no op requires its caller to zero it first).
    Output = 1,
    /// Read, then updated in place (Adam's state, Hebbian weights, prototypes).
    InOut = 2,
}

impl Role {
    /// True when the op writes this operand.
    pub const fn is_written(self) -> bool {
        matches!(self, Role::Output | Role::InOut)
    }
}

/// The element type of an operand, relative to the call's float dtype.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ElemRule {
    /// The call's float dtype (`f32` or `f16`).
    Float = 0,
    /// Always `i32` (indices, counts, pairs).
    I32 = 1,
    /// Always `f32` (Adam's moments).
    F32 = 2,
}

impl ElemRule {
    /// The concrete element type for a call of float type `dtype`.
    pub const fn resolve(self, dtype: FloatType) -> ElemType {
        match self {
            ElemRule::Float => dtype.elem(),
            ElemRule::I32 => ElemType::I32,
            ElemRule::F32 => ElemType::F32,
        }
    }
}

/// One operand of an op call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OperandSpec {
    /// Its name, as OPS.md writes it (`a`, `w`, `d_c`, `gamma`, …).
    pub name: &'static str,
    /// Read, written or updated.
    pub role: Role,
    /// Element type rule.
    pub elem: ElemRule,
    /// Element count the buffer must have (checked: no product of dims overflowed).
    pub len: usize,
    /// False for an optional operand the descriptor disables: its slot must be empty.
    pub present: bool,
    /// For an output that may share its buffer with an input (`add`'s `c` with `a`): that
    /// input's position.
    pub may_alias: Option<usize>,
}

impl OperandSpec {
    pub(crate) const fn new(name: &'static str, role: Role, elem: ElemRule, len: usize) -> Self {
        OperandSpec {
            name,
            role,
            elem,
            len,
            present: true,
            may_alias: None,
        }
    }
    pub(crate) const fn input(name: &'static str, elem: ElemRule, len: usize) -> Self {
        Self::new(name, Role::Input, elem, len)
    }
    pub(crate) const fn output(name: &'static str, elem: ElemRule, len: usize) -> Self {
        Self::new(name, Role::Output, elem, len)
    }
    pub(crate) const fn in_out(name: &'static str, elem: ElemRule, len: usize) -> Self {
        Self::new(name, Role::InOut, elem, len)
    }
    pub(crate) const fn optional(mut self, present: bool) -> Self {
        self.present = present;
        self
    }
    pub(crate) const fn aliasing(mut self, input: usize) -> Self {
        self.may_alias = Some(input);
        self
    }
}

/// The operand list of one descriptor, in argument order. Fixed capacity: no allocator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Operands {
    items: [OperandSpec; MAX_OPERANDS],
    len: usize,
}

impl Operands {
    pub(crate) fn from_slice(specs: &[OperandSpec]) -> Self {
        assert!(
            specs.len() <= MAX_OPERANDS,
            "an op declares more than MAX_OPERANDS operands"
        );
        let mut items = [OperandSpec::input("", ElemRule::Float, 0); MAX_OPERANDS];
        items[..specs.len()].copy_from_slice(specs);
        Operands {
            items,
            len: specs.len(),
        }
    }

    /// The operands, in argument order.
    pub fn as_slice(&self) -> &[OperandSpec] {
        &self.items[..self.len]
    }

    /// Number of operand slots.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for an op with no operands (none exists; here for clippy's `len_without_is_empty`).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Iterates over the operands.
    pub fn iter(&self) -> core::slice::Iter<'_, OperandSpec> {
        self.as_slice().iter()
    }

    /// The position of the operand called `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.iter().position(|s| s.name == name)
    }
}

impl core::ops::Index<usize> for Operands {
    type Output = OperandSpec;
    fn index(&self, i: usize) -> &OperandSpec {
        &self.as_slice()[i]
    }
}

/// What validation needs to know of one argument slot: whether a buffer is there, its
/// element type and length, and an identity used to detect shared buffers (a pointer or
/// handle value; only compared for equality).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgDesc {
    /// `None` for an empty slot.
    pub elem: Option<ElemType>,
    /// Element count of the buffer.
    pub len: usize,
    /// Buffer identity: two slots with the same identity share a buffer.
    pub id: usize,
}

impl ArgDesc {
    /// An empty slot.
    pub const ABSENT: ArgDesc = ArgDesc {
        elem: None,
        len: 0,
        id: 0,
    };

    /// A slot holding a buffer.
    pub const fn buffer(elem: ElemType, len: usize, id: usize) -> Self {
        ArgDesc {
            elem: Some(elem),
            len,
            id,
        }
    }
}

/// Checks a call's argument slots against an op's operand list: slot count, presence,
/// element types, lengths, and shared buffers (allowed only where an operand says
/// `may_alias`; empty buffers never count as shared).
pub fn check_args(
    op: &'static str,
    operands: &Operands,
    dtype: FloatType,
    args: &[ArgDesc],
) -> Result<(), Error> {
    if args.len() != operands.len() {
        return Err(Error::ArgCount {
            op,
            expected: operands.len(),
            got: args.len(),
        });
    }
    for (spec, arg) in operands.iter().zip(args) {
        let operand = spec.name;
        match (spec.present, arg.elem) {
            (true, None) => return Err(Error::Missing { op, operand }),
            (false, Some(_)) => return Err(Error::Unexpected { op, operand }),
            (false, None) => continue,
            (true, Some(got)) => {
                let expected = spec.elem.resolve(dtype);
                if got != expected {
                    return Err(Error::ElemType {
                        op,
                        operand,
                        expected,
                        got,
                    });
                }
                if arg.len != spec.len {
                    return Err(Error::Length {
                        op,
                        operand,
                        expected: spec.len,
                        got: arg.len,
                    });
                }
            }
        }
    }
    // Shared buffers: every pair of present, non-empty slots with the same identity where
    // at least one is written must be an allowed output/input pair.
    for (i, (si, ai)) in operands.iter().zip(args).enumerate() {
        if ai.elem.is_none() || ai.len == 0 {
            continue;
        }
        for (j, (sj, aj)) in operands.iter().zip(args).enumerate().skip(i + 1) {
            if aj.elem.is_none() || aj.len == 0 || ai.id != aj.id {
                continue;
            }
            if !si.role.is_written() && !sj.role.is_written() {
                continue; // two reads of one buffer are harmless
            }
            let allowed = sj.may_alias == Some(i) || si.may_alias == Some(j);
            if !allowed {
                let (out, other) = if sj.role.is_written() {
                    (sj, si)
                } else {
                    (si, sj)
                };
                return Err(Error::Alias {
                    op,
                    operand: out.name,
                    other: other.name,
                });
            }
        }
    }
    Ok(())
}

/// The element count of an operand with dims `dims`, checked: every dim and every
/// product of leading dims must stay within `i32::MAX` (kernels index with 32 bits).
pub(crate) fn count(
    op: &'static str,
    operand: &'static str,
    dims: &[usize],
) -> Result<usize, Error> {
    const LIMIT: usize = i32::MAX as usize;
    let mut n: usize = 1;
    for &d in dims {
        if d > LIMIT {
            return Err(Error::TooLarge { op, operand });
        }
        n = match n.checked_mul(d) {
            Some(v) if v <= LIMIT => v,
            _ => return Err(Error::TooLarge { op, operand }),
        };
    }
    Ok(n)
}

/// A scalar that must be finite.
pub(crate) fn finite(op: &'static str, name: &'static str, v: f32) -> Result<(), Error> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(Error::Scalar {
            op,
            name,
            expected: "finite",
            got: v as f64,
        })
    }
}

/// A scalar that must be finite and strictly positive.
pub(crate) fn positive(op: &'static str, name: &'static str, v: f32) -> Result<(), Error> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(Error::Scalar {
            op,
            name,
            expected: "finite and > 0",
            got: v as f64,
        })
    }
}

/// A scalar that must lie in `[0, 1)`.
pub(crate) fn unit_open(op: &'static str, name: &'static str, v: f32) -> Result<(), Error> {
    if (0.0..1.0).contains(&v) {
        Ok(())
    } else {
        Err(Error::Scalar {
            op,
            name,
            expected: "in [0, 1)",
            got: v as f64,
        })
    }
}

/// A scalar that must not be NaN (±inf allowed).
pub(crate) fn not_nan(op: &'static str, name: &'static str, v: f32) -> Result<(), Error> {
    if v.is_nan() {
        Err(Error::Scalar {
            op,
            name,
            expected: "not NaN",
            got: v as f64,
        })
    } else {
        Ok(())
    }
}
