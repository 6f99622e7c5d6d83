//! A descriptor's fields as data. The `ops!` table lists, for every op kind, its fields by
//! name and type in declaration order; from that list come
//!
//! * [`OpKind::fields`]: each field's name, [`FieldKind`] and slot — its index among the
//!   kind's dims, scalars or flag bits, counted in declaration order;
//! * [`Op::fields`]: a descriptor's values by field;
//! * [`Op::from_fields`]: the one constructor from numbers — dims, scalars and flag bits
//!   by slot — which rejects anything [`Op::fields`] would not have produced.
//!
//! Everything that turns numbers into an [`Op`] or back (the C ABI's `NkOp`, the fuzzers'
//! generators, the generated field table of `ABI.md`) goes through these, so a new op
//! needs its row in the table and nothing else.

use core::fmt;

use super::{Op, OpKind};

/// What a field holds, and so which slot it takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldKind {
    /// A size (`usize`): a dim slot.
    Dim,
    /// A counter that must fit `u32` (Adam's step `t`): a dim slot.
    Count,
    /// An `f32`, carried by its bits: a scalar slot.
    Scalar,
    /// A boolean option, or a mode with two values: one flag bit.
    Flag,
}

impl FieldKind {
    /// The slot class: dims and counts share the dim slots.
    const fn class(self) -> u8 {
        match self {
            FieldKind::Dim | FieldKind::Count => 0,
            FieldKind::Scalar => 1,
            FieldKind::Flag => 2,
        }
    }
}

/// One field of a descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Field {
    /// The descriptor field's name (`"want_d_a"`).
    pub name: &'static str,
    /// What it holds.
    pub kind: FieldKind,
    /// Its index among the kind's dim slots ([`FieldKind::Dim`], [`FieldKind::Count`]),
    /// scalar slots or flag bits (bit `slot`), in declaration order.
    pub slot: usize,
    /// What a set flag means when the field is not a `bool` (`"atomic"` for
    /// [`SumMode`](super::SumMode)).
    pub set_means: Option<&'static str>,
}

/// A field's value as its slot holds it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    /// A dim slot ([`FieldKind::Dim`] or [`FieldKind::Count`]).
    Dim(usize),
    /// A scalar slot.
    Scalar(f32),
    /// A flag bit.
    Flag(bool),
}

/// A type a descriptor field may have: how its values sit in a slot.
pub trait FieldType: Copy {
    /// What the field holds.
    const KIND: FieldKind;
    /// For a flag that is not a `bool`: what a set bit means.
    const SET_MEANS: Option<&'static str> = None;
    /// The value as its slot holds it.
    fn to_value(self) -> Value;
    /// The field's value from its slot, or `None` when the slot's value is outside the
    /// type's range (a count over `u32::MAX`) or of another kind.
    fn from_value(value: Value) -> Option<Self>;
}

impl FieldType for usize {
    const KIND: FieldKind = FieldKind::Dim;
    fn to_value(self) -> Value {
        Value::Dim(self)
    }
    fn from_value(value: Value) -> Option<Self> {
        match value {
            Value::Dim(d) => Some(d),
            _ => None,
        }
    }
}

impl FieldType for u32 {
    const KIND: FieldKind = FieldKind::Count;
    fn to_value(self) -> Value {
        // usize is at least 32 bits on every target the crate builds for.
        Value::Dim(self as usize)
    }
    fn from_value(value: Value) -> Option<Self> {
        match value {
            Value::Dim(d) => u32::try_from(d).ok(),
            _ => None,
        }
    }
}

impl FieldType for f32 {
    const KIND: FieldKind = FieldKind::Scalar;
    fn to_value(self) -> Value {
        Value::Scalar(self)
    }
    fn from_value(value: Value) -> Option<Self> {
        match value {
            Value::Scalar(s) => Some(s),
            _ => None,
        }
    }
}

impl FieldType for bool {
    const KIND: FieldKind = FieldKind::Flag;
    fn to_value(self) -> Value {
        Value::Flag(self)
    }
    fn from_value(value: Value) -> Option<Self> {
        match value {
            Value::Flag(b) => Some(b),
            _ => None,
        }
    }
}

/// The most fields a descriptor has (a row of the `ops!` table with more fails to compile).
pub const MAX_FIELDS: usize = 8;

/// Slots per class of a kind: dims, scalars, flag bits.
const fn counts(fields: &[Field]) -> [usize; 3] {
    let mut n = [0usize; 3];
    let mut i = 0;
    while i < fields.len() {
        n[fields[i].kind.class() as usize] += 1;
        i += 1;
    }
    n
}

/// Numbers the fields' slots in declaration order, per class. Used by the `ops!` table to
/// build each kind's field list at compile time.
#[doc(hidden)]
pub const fn layout<const N: usize>(
    fields: [(&'static str, FieldKind, Option<&'static str>); N],
) -> [Field; N] {
    assert!(
        N <= MAX_FIELDS,
        "a descriptor has more than MAX_FIELDS fields"
    );
    let mut out = [Field {
        name: "",
        kind: FieldKind::Dim,
        slot: 0,
        set_means: None,
    }; N];
    let mut next = [0usize; 3];
    let mut i = 0;
    while i < N {
        let (name, kind, set_means) = fields[i];
        let class = kind.class() as usize;
        out[i] = Field {
            name,
            kind,
            slot: next[class],
            set_means,
        };
        next[class] += 1;
        i += 1;
    }
    out
}

impl OpKind {
    /// The number of dim slots the kind uses (dims and counts).
    pub const fn dim_count(self) -> usize {
        counts(self.fields())[0]
    }

    /// The number of scalar slots the kind uses.
    pub const fn scalar_count(self) -> usize {
        counts(self.fields())[1]
    }

    /// The flag bits the kind defines (bit `slot` for each flag field).
    pub const fn flag_mask(self) -> u32 {
        let n = counts(self.fields())[2];
        if n >= 32 {
            u32::MAX
        } else {
            (1u32 << n) - 1
        }
    }

    /// The field called `name`, if the kind has one.
    pub fn field(self, name: &str) -> Option<&'static Field> {
        self.fields().iter().find(|f| f.name == name)
    }
}

/// Why numbers are not the fields of a descriptor ([`Op::from_fields`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldError {
    /// Bits set in `flags` that the kind does not define.
    UnknownFlags {
        /// The op.
        op: &'static str,
        /// The offending bits.
        bits: u32,
    },
    /// A dim slot the kind does not use is non-zero.
    UnusedDim {
        /// The op.
        op: &'static str,
        /// Slot index.
        index: usize,
    },
    /// A scalar slot the kind does not use is non-zero (bit pattern: `-0.0` counts).
    UnusedScalar {
        /// The op.
        op: &'static str,
        /// Slot index.
        index: usize,
    },
    /// Fewer slots were given than the kind has fields of that class.
    Missing {
        /// The op.
        op: &'static str,
        /// The first field without a slot.
        field: &'static str,
    },
    /// A slot's value does not fit its field (a count over `u32::MAX`, or on the C ABI a
    /// dim over this host's `usize`).
    Overflow {
        /// The op.
        op: &'static str,
        /// The field.
        field: &'static str,
        /// Its dim slot.
        index: usize,
    },
}

impl FieldError {
    /// The op the error is about.
    pub fn op(&self) -> &'static str {
        match *self {
            FieldError::UnknownFlags { op, .. }
            | FieldError::UnusedDim { op, .. }
            | FieldError::UnusedScalar { op, .. }
            | FieldError::Missing { op, .. }
            | FieldError::Overflow { op, .. } => op,
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FieldError::UnknownFlags { op, bits } => {
                write!(f, "{op}: op descriptor has undefined flag bits {bits:#x}")
            }
            FieldError::UnusedDim { op, index } => {
                write!(
                    f,
                    "{op}: op descriptor dim slot {index} is unused but non-zero"
                )
            }
            FieldError::UnusedScalar { op, index } => write!(
                f,
                "{op}: op descriptor scalar slot {index} is unused but non-zero"
            ),
            FieldError::Missing { op, field } => {
                write!(f, "{op}: op descriptor has no slot for field `{field}`")
            }
            FieldError::Overflow { op, field, index } => write!(
                f,
                "{op}: op descriptor dim slot {index} (`{field}`) does not fit the field"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for FieldError {}

/// A descriptor's values, in declaration order ([`Op::fields`]); no allocation.
#[derive(Clone, Copy, Debug)]
pub struct Fields {
    kind: OpKind,
    values: [Value; MAX_FIELDS],
}

impl Fields {
    /// Pairs `values` (declaration order) with the kind's fields.
    #[doc(hidden)]
    pub fn new(kind: OpKind, values: &[Value]) -> Fields {
        let mut out = [Value::Flag(false); MAX_FIELDS];
        // The `ops!` rows make `values` exactly one per field, at most MAX_FIELDS.
        for (slot, v) in out.iter_mut().zip(values) {
            *slot = *v;
        }
        Fields { kind, values: out }
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.kind.fields().len()
    }

    /// True for a descriptor without fields.
    pub fn is_empty(&self) -> bool {
        self.kind.fields().is_empty()
    }

    /// The value of the field called `name`.
    pub fn get(&self, name: &str) -> Option<Value> {
        self.iter().find(|(f, _)| f.name == name).map(|(_, v)| v)
    }

    /// Each field with its value, in declaration order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static Field, Value)> + '_ {
        self.kind.fields().iter().zip(self.values.iter().copied())
    }
}

/// Reads a kind's fields, in declaration order, from slot form.
#[doc(hidden)]
#[derive(Debug)]
pub struct Reader<'a> {
    kind: OpKind,
    dims: &'a [usize],
    scalars: &'a [f32],
    flags: u32,
    next: usize,
}

impl<'a> Reader<'a> {
    /// Checks what no field reads: undefined flag bits, non-zero unused slots, too few
    /// slots.
    pub fn new(
        kind: OpKind,
        dims: &'a [usize],
        scalars: &'a [f32],
        flags: u32,
    ) -> Result<Reader<'a>, FieldError> {
        let op = kind.name();
        let bits = flags & !kind.flag_mask();
        if bits != 0 {
            return Err(FieldError::UnknownFlags { op, bits });
        }
        let (nd, ns) = (kind.dim_count(), kind.scalar_count());
        if let Some(index) = (nd..dims.len()).find(|&i| dims[i] != 0) {
            return Err(FieldError::UnusedDim { op, index });
        }
        if let Some(index) = (ns..scalars.len()).find(|&i| scalars[i].to_bits() != 0) {
            return Err(FieldError::UnusedScalar { op, index });
        }
        if let Some(f) = kind.fields().iter().find(|f| match f.kind.class() {
            0 => f.slot >= dims.len(),
            1 => f.slot >= scalars.len(),
            _ => false,
        }) {
            return Err(FieldError::Missing { op, field: f.name });
        }
        Ok(Reader {
            kind,
            dims,
            scalars,
            flags,
            next: 0,
        })
    }

    /// The kind being read.
    pub fn kind(&self) -> OpKind {
        self.kind
    }

    /// The next field's value.
    pub fn read<T: FieldType>(&mut self) -> Result<T, FieldError> {
        let op = self.kind.name();
        let f = self.kind.fields()[self.next];
        self.next += 1;
        // `new` checked that every field has its slot.
        let value = match f.kind {
            FieldKind::Dim | FieldKind::Count => Value::Dim(self.dims[f.slot]),
            FieldKind::Scalar => Value::Scalar(self.scalars[f.slot]),
            FieldKind::Flag => Value::Flag(self.flags & (1 << f.slot) != 0),
        };
        T::from_value(value).ok_or(FieldError::Overflow {
            op,
            field: f.name,
            index: f.slot,
        })
    }
}

impl Op {
    /// The descriptor's fields with their values, in declaration order.
    pub fn fields(&self) -> Fields {
        self.field_values()
    }

    /// The descriptor of `kind` whose fields are `dims` and `scalars` (by slot: see
    /// [`OpKind::fields`]) and the flag bits `flags`. Slots past the kind's own must be
    /// zero (scalars: bit pattern zero) and flag bits it does not define clear, so that
    /// [`Op::fields`] gives back exactly these numbers. Dims are not validated here (that
    /// is [`Op::validate`]'s job).
    ///
    /// ```
    /// use neurokern_core::{op::MatMulBackward, Op, OpKind};
    /// let op = Op::from_fields(OpKind::MatMulBackward, &[1, 2, 3, 4], &[], 0b10).unwrap();
    /// assert_eq!(
    ///     op,
    ///     Op::from(MatMulBackward { b: 1, m: 2, k: 3, n: 4, want_d_a: false, want_d_w: true })
    /// );
    /// ```
    pub fn from_fields(
        kind: OpKind,
        dims: &[usize],
        scalars: &[f32],
        flags: u32,
    ) -> Result<Op, FieldError> {
        Op::read_fields(Reader::new(kind, dims, scalars, flags)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{AdamUpdate, LayerNorm, ProtoSegmentedSum, SumMode};

    /// Slot-form numbers for `kind`: dims `base + slot`, scalars `0.5 + slot`, a count
    /// `count`, every flag `set`.
    fn slots(kind: OpKind, base: usize, count: usize, set: bool) -> ([usize; 8], [f32; 8], u32) {
        let (mut d, mut s, mut f) = ([0; 8], [0.0; 8], 0);
        for field in kind.fields() {
            match field.kind {
                FieldKind::Dim => d[field.slot] = base + field.slot,
                FieldKind::Count => d[field.slot] = count,
                FieldKind::Scalar => s[field.slot] = 0.5 + field.slot as f32,
                FieldKind::Flag => f |= u32::from(set) << field.slot,
            }
        }
        (d, s, f)
    }

    #[test]
    fn every_kind_round_trips_through_its_fields() {
        for &kind in OpKind::ALL {
            for set in [false, true] {
                let (d, s, f) = slots(kind, 3, 7, set);
                let op = Op::from_fields(kind, &d, &s, f).unwrap();
                assert_eq!(op.kind(), kind);
                let fields = op.fields();
                assert_eq!(fields.len(), kind.fields().len());
                let (mut d2, mut s2, mut f2) = ([0; 8], [0.0; 8], 0);
                for (field, value) in fields.iter() {
                    match value {
                        Value::Dim(v) => d2[field.slot] = v,
                        Value::Scalar(v) => s2[field.slot] = v,
                        Value::Flag(v) => f2 |= u32::from(v) << field.slot,
                    }
                }
                assert_eq!((d, s, f), (d2, s2, f2), "{}", kind.name());
                // Exactly the kind's slots: one dim fewer is missing a field.
                let nd = kind.dim_count();
                assert!(matches!(
                    Op::from_fields(kind, &d[..nd - 1], &s, f),
                    Err(FieldError::Missing { .. })
                ));
            }
        }
    }

    #[test]
    fn slots_follow_declaration_order_per_class() {
        let f = OpKind::AdamUpdate.fields();
        let names: [&str; 8] = core::array::from_fn(|i| f[i].name);
        assert_eq!(
            names,
            [
                "n",
                "lr",
                "beta1",
                "beta2",
                "eps",
                "weight_decay",
                "t",
                "decoupled"
            ]
        );
        let slots: [usize; 8] = core::array::from_fn(|i| f[i].slot);
        assert_eq!(slots, [0, 0, 1, 2, 3, 4, 1, 0]);
        assert_eq!(OpKind::AdamUpdate.dim_count(), 2);
        assert_eq!(OpKind::AdamUpdate.scalar_count(), 5);
        assert_eq!(OpKind::MatMulBackward.flag_mask(), 0b11);
        assert_eq!(OpKind::MatMul.flag_mask(), 0);
        let op = Op::from_fields(
            OpKind::AdamUpdate,
            &[10, 4],
            &[0.1, 0.9, 0.99, 1e-8, 0.0],
            1,
        )
        .unwrap();
        assert_eq!(
            op,
            Op::from(AdamUpdate {
                n: 10,
                lr: 0.1,
                beta1: 0.9,
                beta2: 0.99,
                eps: 1e-8,
                weight_decay: 0.0,
                t: 4,
                decoupled: true,
            })
        );
        assert_eq!(op.fields().get("t"), Some(Value::Dim(4)));
        assert_eq!(op.fields().get("nope"), None);
        let sum = Op::from_fields(OpKind::ProtoSegmentedSum, &[1, 2, 3], &[], 1).unwrap();
        assert_eq!(
            sum,
            Op::from(ProtoSegmentedSum {
                m: 1,
                e: 2,
                t: 3,
                mode: SumMode::Atomic
            })
        );
    }

    #[test]
    fn numbers_that_are_no_descriptor_are_rejected() {
        let ln = OpKind::LayerNorm;
        assert_eq!(
            Op::from_fields(ln, &[1, 2], &[1e-5], 0b10),
            Err(FieldError::UnknownFlags {
                op: "layer_norm",
                bits: 0b10
            })
        );
        assert_eq!(
            Op::from_fields(ln, &[1, 2, 0, 5], &[1e-5], 0),
            Err(FieldError::UnusedDim {
                op: "layer_norm",
                index: 3
            })
        );
        assert_eq!(
            Op::from_fields(ln, &[1, 2], &[1e-5, -0.0], 0),
            Err(FieldError::UnusedScalar {
                op: "layer_norm",
                index: 1
            })
        );
        assert_eq!(
            Op::from_fields(ln, &[1, 2], &[], 0),
            Err(FieldError::Missing {
                op: "layer_norm",
                field: "eps"
            })
        );
        assert_eq!(
            Op::from_fields(ln, &[1, 2, 0, 0], &[1e-5, 0.0], 1),
            Ok(Op::from(LayerNorm {
                rows: 1,
                len: 2,
                eps: 1e-5,
                affine: true
            }))
        );
        let too_big = u32::MAX as usize + 1;
        let e = Op::from_fields(OpKind::AdamUpdate, &[1, too_big], &[0.0; 5], 0).unwrap_err();
        assert_eq!(
            e,
            FieldError::Overflow {
                op: "adam_update",
                field: "t",
                index: 1
            }
        );
        assert_eq!(e.op(), "adam_update");
    }
}
