//! [`NkOp`]: core's [`Op`] as a `#[repr(C)]` value — a kind code plus fixed arrays of
//! dims, scalars and flags — and the lossless conversions both ways.

use core::fmt;

use neurokern_core::op::{FieldError, FieldKind, Value};
use neurokern_core::{Op, OpKind};

/// Number of dim slots in an [`NkOp`].
pub const NK_OP_DIMS: usize = 6;
/// Number of scalar slots in an [`NkOp`].
pub const NK_OP_SCALARS: usize = 6;

/// An op descriptor as it crosses the C ABI.
///
/// `kind` is the [`OpKind`] code; `dims`, `scalars` and `flags` hold the descriptor's
/// fields at the slots [`OpKind::fields`] gives (the table in `ABI.md` is generated from
/// it; e.g. `matmul`: `dims = [b, m, k, n]`; `adam_update`: `dims = [n, t]`, `scalars =
/// [lr, beta1, beta2, eps, weight_decay]`, `flags` bit 0 = `decoupled`). Unused slots must
/// be zero (bit pattern zero for scalars), and flags outside the kind's defined bits must
/// be clear: [`NkOp::to_op`] rejects anything else, so every `NkOp` it accepts converts
/// back to the same bits.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct NkOp {
    /// [`OpKind`] code.
    pub kind: u32,
    /// Boolean options, one bit each (see `ABI.md`).
    pub flags: u32,
    /// Dims (and Adam's step `t`), in the kind's order.
    pub dims: [u64; NK_OP_DIMS],
    /// `f32` scalars, in the kind's order.
    pub scalars: [f32; NK_OP_SCALARS],
}

/// Why an [`NkOp`] is not a valid descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DescError {
    /// `kind` is no [`OpKind`] code this version knows.
    UnknownKind(u32),
    /// The slots are not the fields of a descriptor of that kind: undefined flag bits, a
    /// non-zero unused slot, a dim that does not fit its field (Adam's `t` over
    /// `u32::MAX`, or any dim over this host's `usize`).
    Field(FieldError),
}

impl fmt::Display for DescError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DescError::UnknownKind(k) => write!(f, "op descriptor: unknown op kind code {k}"),
            DescError::Field(e) => e.fmt(f),
        }
    }
}

impl From<FieldError> for DescError {
    fn from(e: FieldError) -> DescError {
        DescError::Field(e)
    }
}

// Every kind's fields fit the fixed slots; this is what makes the indexing in
// `NkOp::from_op` infallible. A kind that outgrows them needs a new ABI major.
const _: () = {
    let mut i = 0;
    while i < OpKind::ALL.len() {
        let kind = OpKind::ALL[i];
        assert!(
            kind.dim_count() <= NK_OP_DIMS,
            "an op has more dims than nk_op"
        );
        assert!(
            kind.scalar_count() <= NK_OP_SCALARS,
            "an op has more scalars than nk_op"
        );
        i += 1;
    }
};

impl NkOp {
    /// Packs a core descriptor: each field at its slot.
    pub fn from_op(op: &Op) -> NkOp {
        let mut d = NkOp {
            kind: op.kind() as u32,
            ..NkOp::default()
        };
        for (field, value) in op.fields().iter() {
            match value {
                Value::Dim(v) => d.dims[field.slot] = v as u64,
                Value::Scalar(v) => d.scalars[field.slot] = v,
                Value::Flag(v) => d.flags |= u32::from(v) << field.slot,
            }
        }
        d
    }

    /// Unpacks into a core descriptor, rejecting anything [`NkOp::from_op`] would not have
    /// produced. Dims are not validated here (that is [`Op::validate`]'s job).
    pub fn to_op(&self) -> Result<Op, DescError> {
        let kind = OpKind::from_u32(self.kind).ok_or(DescError::UnknownKind(self.kind))?;
        let mut dims = [0usize; NK_OP_DIMS];
        for (index, (&v, out)) in self.dims.iter().zip(dims.iter_mut()).enumerate() {
            *out = usize::try_from(v).map_err(|_| {
                let op = kind.name();
                match kind.fields().iter().find(|f| {
                    matches!(f.kind, FieldKind::Dim | FieldKind::Count) && f.slot == index
                }) {
                    Some(f) => FieldError::Overflow {
                        op,
                        field: f.name,
                        index,
                    },
                    None => FieldError::UnusedDim { op, index },
                }
            })?;
        }
        Ok(Op::from_fields(kind, &dims, &self.scalars, self.flags)?)
    }

    /// Bitwise equality (scalars compared by bits, so NaN payloads count).
    pub fn bits_eq(&self, other: &NkOp) -> bool {
        self.kind == other.kind
            && self.flags == other.flags
            && self.dims == other.dims
            && self
                .scalars
                .iter()
                .zip(&other.scalars)
                .all(|(a, b)| a.to_bits() == b.to_bits())
    }
}

impl From<&Op> for NkOp {
    fn from(op: &Op) -> NkOp {
        NkOp::from_op(op)
    }
}

impl TryFrom<&NkOp> for Op {
    type Error = DescError;
    fn try_from(d: &NkOp) -> Result<Op, DescError> {
        d.to_op()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::string::ToString;
    use std::vec::Vec;

    use super::*;

    /// A descriptor of `kind` built from its field list: dims distinct and non-zero (a
    /// count at `u32::MAX`), scalars distinct and awkward (−0, −inf, a NaN payload, a
    /// subnormal), flags all `set`.
    fn sample(kind: OpKind, set: bool) -> Op {
        const SCALARS: [f32; NK_OP_SCALARS] = [1e-3, -0.0, f32::NEG_INFINITY, 1e-40, 0.9, 7.5];
        let (mut dims, mut scalars, mut flags) = ([0usize; NK_OP_DIMS], [0f32; NK_OP_SCALARS], 0);
        for f in kind.fields() {
            match f.kind {
                FieldKind::Dim => dims[f.slot] = 2 + kind as usize + 3 * f.slot,
                FieldKind::Count => dims[f.slot] = u32::MAX as usize,
                FieldKind::Scalar => scalars[f.slot] = SCALARS[f.slot],
                FieldKind::Flag => flags |= u32::from(set) << f.slot,
            }
        }
        Op::from_fields(kind, &dims, &scalars, flags).expect("a sample from the field list")
    }

    fn samples() -> Vec<Op> {
        OpKind::ALL
            .iter()
            .flat_map(|&k| [sample(k, true), sample(k, false)])
            .chain(OpKind::ALL.iter().map(|&k| {
                Op::from_fields(k, &[], &[], 0).unwrap_or_else(|_| {
                    // Kinds with dims or scalars need slots: all zero.
                    Op::from_fields(k, &[0; NK_OP_DIMS], &[0.0; NK_OP_SCALARS], 0).unwrap()
                })
            }))
            .collect()
    }

    #[test]
    fn every_kind_round_trips() {
        for op in samples() {
            let c = NkOp::from_op(&op);
            assert_eq!(c.kind, op.kind() as u32);
            let back = c.to_op().unwrap();
            assert!(NkOp::from_op(&back).bits_eq(&c), "{}", op.name());
            // Compared through Debug: the NaN-free samples compare equal, and Debug keeps
            // -0 apart from 0.
            assert_eq!(std::format!("{back:?}"), std::format!("{op:?}"));
        }
    }

    /// The `nk_op` packing of ABI 1: the slot of every field of every kind of ABI 1.0,
    /// as `(op, dims, scalars, flags)`. The packing is derived from the `ops!` table, so
    /// this pin is what catches a reordered row there: changing an existing kind's
    /// packing is an ABI major bump. New kinds are not listed (appending is minor).
    /// `(op, dims, scalars, flags)`, each list in slot order.
    type Packing = (
        &'static str,
        &'static [&'static str],
        &'static [&'static str],
        &'static [&'static str],
    );

    const WIRE_1: &[Packing] = &[
        ("matmul", &["b", "m", "k", "n"], &[], &[]),
        (
            "matmul_backward",
            &["b", "m", "k", "n"],
            &[],
            &["want_d_a", "want_d_w"],
        ),
        ("matmul_batched", &["b", "m", "k", "n"], &[], &[]),
        (
            "matmul_batched_backward",
            &["b", "m", "k", "n"],
            &[],
            &["want_d_a", "want_d_w"],
        ),
        ("softmax", &["rows", "len"], &[], &[]),
        ("log_softmax", &["rows", "len"], &[], &[]),
        ("softmax_backward", &["rows", "len"], &[], &[]),
        ("cross_entropy_loss_grad", &["rows", "vocab"], &[], &[]),
        ("gelu", &["n"], &[], &[]),
        ("gelu_backward", &["n"], &[], &[]),
        ("add", &["n"], &[], &[]),
        ("mul", &["n"], &[], &[]),
        ("mul_backward", &["n"], &[], &["want_d_a", "want_d_b"]),
        ("layer_norm", &["rows", "len"], &["eps"], &["affine"]),
        (
            "layer_norm_backward",
            &["rows", "len"],
            &["eps"],
            &["affine"],
        ),
        ("transpose", &["rows", "cols"], &[], &[]),
        ("transpose_batched", &["b", "d1", "d2"], &[], &[]),
        ("transpose_12", &["b", "d1", "d2", "d3"], &[], &[]),
        (
            "adam_update",
            &["n", "t"],
            &["lr", "beta1", "beta2", "eps", "weight_decay"],
            &["decoupled"],
        ),
        ("embedding_lookup", &["b", "s", "vocab", "dim"], &[], &[]),
        ("embedding_backward", &["b", "s", "vocab", "dim"], &[], &[]),
        ("reduce_sum_01", &["b", "m", "n"], &[], &[]),
        ("add_bias", &["b", "m", "n"], &[], &[]),
        ("add_broadcast_pe", &["b", "s", "e"], &[], &[]),
        (
            "hebbian_update",
            &["b", "m", "k", "n"],
            &["lr", "decay"],
            &[],
        ),
        ("threshold_spike", &["n"], &["threshold"], &[]),
        (
            "dynamic_token_assignment",
            &["b", "s", "e", "t"],
            &[],
            &["want_best"],
        ),
        ("pairwise_similarity", &["n", "d"], &[], &[]),
        ("proto_segmented_sum", &["m", "e", "t"], &[], &["mode"]),
        ("proto_update_step", &["t", "e"], &["lr"], &[]),
        (
            "shape_loss",
            &["rows", "vocab", "pairs"],
            &["penalty", "reward", "threshold"],
            &[],
        ),
    ];

    #[test]
    fn the_packing_of_abi_1_is_unchanged() {
        assert_eq!(crate::ABI_MAJOR, 1, "a new major: pin its packing here");
        for &(name, dims, scalars, flags) in WIRE_1 {
            let kind = OpKind::from_name(name).expect("an ABI 1 kind");
            let slots = |class: &[FieldKind]| -> Vec<&str> {
                let mut v: Vec<_> = kind
                    .fields()
                    .iter()
                    .filter(|f| class.contains(&f.kind))
                    .map(|f| (f.slot, f.name))
                    .collect();
                v.sort();
                v.into_iter().map(|(_, n)| n).collect()
            };
            assert_eq!(
                slots(&[FieldKind::Dim, FieldKind::Count]),
                dims,
                "{name} dims"
            );
            assert_eq!(slots(&[FieldKind::Scalar]), scalars, "{name} scalars");
            assert_eq!(slots(&[FieldKind::Flag]), flags, "{name} flags");
        }
        // Adam's step is the one count; `proto_segmented_sum`'s flag means `Atomic`.
        let adam = OpKind::AdamUpdate.field("t").unwrap();
        assert_eq!((adam.kind, adam.slot), (FieldKind::Count, 1));
        let mode = OpKind::ProtoSegmentedSum.field("mode").unwrap();
        assert_eq!(mode.set_means, Some("atomic"));
    }

    #[test]
    fn fields_land_in_their_slots() {
        use neurokern_core::op::{AdamUpdate, ProtoSegmentedSum, SumMode};
        let adam = NkOp::from_op(&Op::from(AdamUpdate {
            n: 7,
            lr: 1.0,
            beta1: 2.0,
            beta2: 3.0,
            eps: 4.0,
            weight_decay: 5.0,
            t: 9,
            decoupled: true,
        }));
        assert_eq!(adam.kind, 18);
        assert_eq!(adam.dims, [7, 9, 0, 0, 0, 0]);
        assert_eq!(adam.scalars, [1.0, 2.0, 3.0, 4.0, 5.0, 0.0]);
        assert_eq!(adam.flags, 1);
        let sum = NkOp::from_op(&Op::from(ProtoSegmentedSum {
            m: 1,
            e: 2,
            t: 3,
            mode: SumMode::Atomic,
        }));
        assert_eq!(
            (sum.kind, sum.dims[..3].to_vec(), sum.flags),
            (28, [1, 2, 3].to_vec(), 1)
        );
    }

    #[test]
    fn nan_scalars_keep_their_bits() {
        let nan = f32::from_bits(0x7fc0_1234);
        let op = Op::from_fields(OpKind::HebbianUpdate, &[1, 1, 1, 1], &[nan, -0.0], 0).unwrap();
        let c = NkOp::from_op(&op);
        let back = NkOp::from_op(&c.to_op().unwrap());
        assert!(back.bits_eq(&c));
        assert_eq!(back.scalars[0].to_bits(), 0x7fc0_1234);
        assert_eq!(back.scalars[1].to_bits(), (-0.0f32).to_bits());
    }

    #[test]
    fn garbage_is_rejected() {
        let field = |e| DescError::Field(e);
        let mut c = NkOp {
            kind: 9999,
            ..NkOp::default()
        };
        assert_eq!(c.to_op(), Err(DescError::UnknownKind(9999)));
        c.kind = OpKind::MatMul as u32;
        c.flags = 1;
        assert!(matches!(
            c.to_op(),
            Err(DescError::Field(FieldError::UnknownFlags { bits: 1, .. }))
        ));
        c.flags = 0;
        c.dims[4] = 1;
        assert_eq!(
            c.to_op(),
            Err(field(FieldError::UnusedDim {
                op: "matmul",
                index: 4
            }))
        );
        c.dims[4] = 0;
        c.scalars[0] = -0.0;
        assert_eq!(
            c.to_op(),
            Err(field(FieldError::UnusedScalar {
                op: "matmul",
                index: 0
            }))
        );
        let mut a = NkOp::from_op(&sample(OpKind::AdamUpdate, true));
        a.dims[1] = u64::from(u32::MAX) + 1;
        assert_eq!(
            a.to_op(),
            Err(field(FieldError::Overflow {
                op: "adam_update",
                field: "t",
                index: 1
            }))
        );
        assert!(a.to_op().unwrap_err().to_string().contains("`t`"));
        // Every kind with random garbage in every field: never a panic, and whatever is
        // accepted converts back to the same bits.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut accepted = 0;
        for _ in 0..20_000 {
            let mut next = || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            let mut d = NkOp {
                kind: (next() % 40) as u32,
                flags: (next() % 8) as u32,
                ..NkOp::default()
            };
            for v in d.dims.iter_mut() {
                *v = if next() % 2 == 0 {
                    0
                } else {
                    next() >> (next() % 64)
                };
            }
            for v in d.scalars.iter_mut() {
                *v = if next() % 2 == 0 {
                    0.0
                } else {
                    f32::from_bits(next() as u32)
                };
            }
            if let Ok(op) = d.to_op() {
                assert!(NkOp::from_op(&op).bits_eq(&d));
                let _ = op.validate();
                accepted += 1;
            }
        }
        assert!(
            accepted > 0,
            "the garbage generator never made a valid descriptor"
        );
    }
}
