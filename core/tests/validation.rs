//! Validation: every error kind is produced, with a message naming the op and the operand;
//! and arbitrary descriptors and buffers never make validation or the reference panic.

mod common;

use common::*;
use neurokern_core::backend::check_call;
use neurokern_core::op::*;
use neurokern_core::reference::{self, scratch_len, Arg};
use neurokern_core::{f16, ArgDesc, DeviceBuffer, ElemType, Error, FloatType, Op, OpKind, Role};
use proptest::prelude::*;

const F32: FloatType = FloatType::F32;
const F16: FloatType = FloatType::F16;

/// Asserts the error and that its message names the op and the operand (or scalar).
fn expect(res: Result<(), Error>, want: Error, names: &[&str]) {
    let err = res.expect_err("the call must be rejected");
    assert_eq!(err, want);
    let msg = err.to_string();
    assert!(msg.contains(err.op()), "message lacks the op: {msg}");
    for n in names {
        assert!(msg.contains(n), "message lacks `{n}`: {msg}");
    }
}

fn matmul(b: usize, m: usize, k: usize, n: usize) -> Op {
    MatMul { b, m, k, n }.into()
}

#[test]
fn too_large_dims() {
    let big = usize::MAX;
    // A dim that alone exceeds everything, a product that would overflow even u64
    // (2^33·2^33), and products that only exceed i32::MAX (2^16·2^16 = 2^32;
    // 46341² = 2147488281 = i32::MAX + 4634).
    let cases: [(Op, &str); 7] = [
        (matmul(big, 1, 1, 1), "a"),
        (matmul(1 << 33, 1 << 33, 1, 1), "a"),
        (matmul(65536, 65536, 1, 1), "a"),
        (matmul(1, 1, 46341, 46341), "w"),
        (
            Transpose {
                rows: 46341,
                cols: 46341,
            }
            .into(),
            "x",
        ),
        (
            ShapeLoss {
                rows: 1,
                vocab: 1,
                pairs: 1 << 30, // pairs·2 = 2^31 = i32::MAX + 1
                ..Default::default()
            }
            .into(),
            "pairs",
        ),
        (
            EmbeddingLookup {
                b: 1,
                s: 1,
                vocab: 2,
                dim: (1 << 30) + 1, // the table is too large, not the output
            }
            .into(),
            "table",
        ),
    ];
    // dynamic_token_assignment's implicit score matrix (B·S, T): every operand is small
    // (act 4096, proto 2^20, idx 4096) but B·S·T = 2^32.
    let dta = Op::from(DynamicTokenAssignment {
        b: 64,
        s: 64,
        e: 1,
        t: 1 << 20,
        want_best: false,
    });
    assert_eq!(
        dta.validate().unwrap_err(),
        Error::TooLarge {
            op: "dynamic_token_assignment",
            operand: "scores",
        }
    );
    for (op, operand) in cases {
        let want = Error::TooLarge {
            op: op.name(),
            operand,
        };
        assert_eq!(op.validate().unwrap_err(), want, "{op:?}");
        assert_eq!(scratch_len(&op, F32).unwrap_err(), want);
        let mut args: Vec<Arg<'_>> = (0..op.operands().map_or(3, |o| o.len()))
            .map(|_| Arg::Absent)
            .collect();
        expect(
            reference::run(&op, F32, &mut args, &mut []),
            want,
            &[operand, "i32::MAX"],
        );
    }
    // Exactly i32::MAX elements is allowed (validation only; no buffer that large here).
    assert!(matmul(1, 1, i32::MAX as usize, 1).validate().is_ok());
    assert!(matmul(1, 1, i32::MAX as usize + 1, 1).validate().is_err());
}

#[test]
fn length_elem_type_missing_unexpected_arg_count() {
    let a = [1.0f32; 6];
    let w = [1.0f32; 6];
    let mut c = [0.0f32; 4];
    let op = matmul(1, 2, 3, 2);
    // Length: c has 4 elements, not 2·2 = 4? It has; make w short instead.
    expect(
        reference::run(
            &op,
            F32,
            &mut [Arg::F32(&a), Arg::F32(&w[..5]), Arg::F32Mut(&mut c)],
            &mut [],
        ),
        Error::Length {
            op: "matmul",
            operand: "w",
            expected: 6,
            got: 5,
        },
        &["`w`", "6", "5"],
    );
    // ElemType: an f16 buffer in an f32 call.
    let a16 = [f16::ONE; 6];
    expect(
        reference::run(
            &op,
            F32,
            &mut [Arg::F16(&a16), Arg::F32(&w), Arg::F32Mut(&mut c)],
            &mut [],
        ),
        Error::ElemType {
            op: "matmul",
            operand: "a",
            expected: ElemType::F32,
            got: ElemType::F16,
        },
        &["`a`", "f32", "f16"],
    );
    // ElemType: a float buffer for an index operand, and Adam's moments must be f32 even
    // in an f16 call.
    let mut out8 = [0.0f32; 8];
    let idx_f = [0.0f32; 4];
    let table = [0.0f32; 6];
    expect(
        reference::run(
            &EmbeddingLookup {
                b: 2,
                s: 2,
                vocab: 3,
                dim: 2,
            }
            .into(),
            F32,
            &mut [Arg::F32(&idx_f), Arg::F32(&table), Arg::F32Mut(&mut out8)],
            &mut [],
        ),
        Error::ElemType {
            op: "embedding_lookup",
            operand: "idx",
            expected: ElemType::I32,
            got: ElemType::F32,
        },
        &["`idx`", "i32"],
    );
    let mut p = [f16::ONE; 2];
    let g = [f16::ONE; 2];
    let mut m16 = [f16::ZERO; 2];
    let mut v = [0.0f32; 2];
    let adam = Op::from(AdamUpdate {
        n: 2,
        lr: 0.1,
        beta1: 0.9,
        beta2: 0.99,
        eps: 1e-8,
        weight_decay: 0.0,
        t: 1,
        decoupled: false,
    });
    expect(
        reference::run(
            &adam,
            F16,
            &mut [
                Arg::F16Mut(&mut p),
                Arg::F16(&g),
                Arg::F16Mut(&mut m16),
                Arg::F32Mut(&mut v),
            ],
            &mut [],
        ),
        Error::ElemType {
            op: "adam_update",
            operand: "m",
            expected: ElemType::F32,
            got: ElemType::F16,
        },
        &["`m`"],
    );

    // Missing: a required operand, and an optional one the descriptor enables.
    expect(
        reference::run(
            &op,
            F32,
            &mut [Arg::F32(&a), Arg::Absent, Arg::F32Mut(&mut c)],
            &mut [],
        ),
        Error::Missing {
            op: "matmul",
            operand: "w",
        },
        &["`w`"],
    );
    let mb = MatMulBackward {
        b: 1,
        m: 2,
        k: 3,
        n: 2,
        want_d_a: true,
        want_d_w: false,
    };
    let dc = [0.0f32; 4];
    let mut da = [0.0f32; 6];
    let mut dw = [0.0f32; 6];
    expect(
        reference::run(
            &mb.into(),
            F32,
            &mut [
                Arg::F32(&a),
                Arg::F32(&w),
                Arg::F32(&dc),
                Arg::Absent,
                Arg::Absent,
            ],
            &mut [],
        ),
        Error::Missing {
            op: "matmul_backward",
            operand: "d_a",
        },
        &["`d_a`"],
    );
    // Unexpected: a buffer for the disabled d_w.
    expect(
        reference::run(
            &mb.into(),
            F32,
            &mut [
                Arg::F32(&a),
                Arg::F32(&w),
                Arg::F32(&dc),
                Arg::F32Mut(&mut da),
                Arg::F32Mut(&mut dw),
            ],
            &mut [],
        ),
        Error::Unexpected {
            op: "matmul_backward",
            operand: "d_w",
        },
        &["`d_w`"],
    );
    // Unexpected: layer_norm without affine given gamma.
    let x = [0.0f32; 4];
    let gm = [1.0f32; 2];
    let mut y = [0.0f32; 4];
    expect(
        reference::run(
            &LayerNorm {
                rows: 2,
                len: 2,
                eps: 1e-5,
                affine: false,
            }
            .into(),
            F32,
            &mut [
                Arg::F32(&x),
                Arg::F32(&gm),
                Arg::Absent,
                Arg::F32Mut(&mut y),
            ],
            &mut [],
        ),
        Error::Unexpected {
            op: "layer_norm",
            operand: "gamma",
        },
        &["`gamma`"],
    );
    // ArgCount: too few and too many slots.
    expect(
        reference::run(&op, F32, &mut [Arg::F32(&a), Arg::F32(&w)], &mut []),
        Error::ArgCount {
            op: "matmul",
            expected: 3,
            got: 2,
        },
        &["3", "2"],
    );
    expect(
        reference::run(
            &op,
            F32,
            &mut [Arg::F32(&a), Arg::F32(&w), Arg::F32Mut(&mut c), Arg::Absent],
            &mut [],
        ),
        Error::ArgCount {
            op: "matmul",
            expected: 3,
            got: 4,
        },
        &[],
    );
    // Scratch too short for an op that needs it.
    let lnb = Op::from(LayerNormBackward {
        rows: 1,
        len: 2,
        eps: 1e-5,
        affine: true,
    });
    let (dy, x2) = ([1.0f32; 2], [1.0f32, 2.0]);
    let (mut dx, mut dg, mut db) = ([0.0f32; 2], [0.0f32; 2], [0.0f32; 2]);
    expect(
        reference::run(
            &lnb,
            F32,
            &mut [
                Arg::F32(&dy),
                Arg::F32(&x2),
                Arg::F32(&gm),
                Arg::F32Mut(&mut dx),
                Arg::F32Mut(&mut dg),
                Arg::F32Mut(&mut db),
            ],
            &mut [0.0; 3],
        ),
        Error::Length {
            op: "layer_norm_backward",
            operand: "scratch",
            expected: 4,
            got: 3,
        },
        &["scratch"],
    );
}

#[test]
fn aliasing_rules() {
    // matmul does not allow c to be a's buffer.
    let mut a = [1.0f32; 4];
    let w = [1.0f32; 4];
    expect(
        reference::run(
            &matmul(1, 2, 2, 2),
            F32,
            &mut [Arg::F32Mut(&mut a), Arg::F32(&w), Arg::SameAs(0)],
            &mut [],
        ),
        Error::Alias {
            op: "matmul",
            operand: "c",
            other: "a",
        },
        &["`c`", "`a`"],
    );
    // add allows c = a, not c = b.
    let mut b = [1.0f32; 4];
    expect(
        reference::run(
            &Add { n: 4 }.into(),
            F32,
            &mut [Arg::F32(&w), Arg::F32Mut(&mut b), Arg::SameAs(1)],
            &mut [],
        ),
        Error::Alias {
            op: "add",
            operand: "c",
            other: "b",
        },
        &["`c`", "`b`"],
    );
    // Through the descriptor-level check (what backends see): two outputs sharing a
    // buffer, and an in-place state sharing with an input.
    let mb = Op::from(MulBackward {
        n: 3,
        want_d_a: true,
        want_d_b: true,
    });
    let buf = |id| ArgDesc::buffer(ElemType::F32, 3, id);
    assert_eq!(
        mb.check_call(F32, &[buf(1), buf(2), buf(3), buf(4), buf(4)])
            .unwrap_err(),
        Error::Alias {
            op: "mul_backward",
            operand: "d_b",
            other: "d_a",
        }
    );
    // Two inputs reading one buffer are fine.
    assert!(mb
        .check_call(F32, &[buf(1), buf(1), buf(1), buf(4), buf(5)])
        .is_ok());
    // Empty buffers never alias.
    let e = ArgDesc::buffer(ElemType::F32, 0, 9);
    assert!(Op::from(Add { n: 0 }).check_call(F32, &[e, e, e]).is_ok());
    let adam = Op::from(AdamUpdate {
        n: 3,
        lr: 0.1,
        beta1: 0.9,
        beta2: 0.99,
        eps: 1e-8,
        weight_decay: 0.0,
        t: 1,
        decoupled: false,
    });
    assert_eq!(
        adam.check_call(F32, &[buf(1), buf(1), buf(2), buf(3)])
            .unwrap_err(),
        Error::Alias {
            op: "adam_update",
            operand: "p",
            other: "g",
        }
    );
}

/// A device buffer of the test backend: only what validation looks at.
struct FakeBuf(ElemType, usize, usize);

impl DeviceBuffer for FakeBuf {
    fn elem(&self) -> ElemType {
        self.0
    }
    fn len(&self) -> usize {
        self.1
    }
    fn id(&self) -> usize {
        self.2
    }
}

#[test]
fn backend_check_call() {
    let op = matmul(1, 2, 2, 2);
    let a = FakeBuf(ElemType::F32, 4, 1);
    let w = FakeBuf(ElemType::F32, 4, 2);
    let c = FakeBuf(ElemType::F32, 4, 3);
    assert!(check_call(&op, F32, &[Some(&a), Some(&w), Some(&c)]).is_ok());
    // c is a's allocation: not allowed for matmul.
    let c_as_a = FakeBuf(ElemType::F32, 4, 1);
    assert_eq!(
        check_call(&op, F32, &[Some(&a), Some(&w), Some(&c_as_a)]).unwrap_err(),
        Error::Alias {
            op: "matmul",
            operand: "c",
            other: "a",
        }
    );
    // More slots than any op has.
    let many: Vec<Option<&FakeBuf>> = vec![None; 9];
    assert_eq!(
        check_call(&op, F32, &many).unwrap_err(),
        Error::ArgCount {
            op: "matmul",
            expected: 3,
            got: 9,
        }
    );
    assert_eq!(
        check_call(&op, F16, &[Some(&a), Some(&w), Some(&c)]).unwrap_err(),
        Error::ElemType {
            op: "matmul",
            operand: "a",
            expected: ElemType::F16,
            got: ElemType::F32,
        }
    );
}

#[test]
fn read_only_outputs() {
    let a = [1.0f32; 2];
    let b = [1.0f32; 2];
    let c = [0.0f32; 2];
    let add = Op::from(Add { n: 2 });
    // An output given as a read-only slice.
    expect(
        reference::run(
            &add,
            F32,
            &mut [Arg::F32(&a), Arg::F32(&b), Arg::F32(&c)],
            &mut [],
        ),
        Error::ReadOnly {
            op: "add",
            operand: "c",
        },
        &["`c`"],
    );
    // In place into a read-only input.
    expect(
        reference::run(
            &add,
            F32,
            &mut [Arg::F32(&a), Arg::F32(&b), Arg::SameAs(0)],
            &mut [],
        ),
        Error::ReadOnly {
            op: "add",
            operand: "c",
        },
        &["`c`"],
    );
    // SameAs naming itself or a missing slot names no buffer at all: the output is
    // missing, as it would be on a device given no buffer for it.
    let mut am = [1.0f32; 2];
    for args in [
        [Arg::F32(&a), Arg::F32(&b), Arg::SameAs(2)],
        [Arg::F32(&a), Arg::F32(&b), Arg::SameAs(7)],
    ] {
        let mut args = args;
        assert_eq!(
            reference::run(&add, F32, &mut args, &mut []).unwrap_err(),
            Error::Missing {
                op: "add",
                operand: "c",
            }
        );
    }
    // SameAs used for an input: a slice-only restriction, reported after every check a
    // device would make.
    let mut cm = [0.0f32; 2];
    assert_eq!(
        reference::run(
            &add,
            F32,
            &mut [Arg::F32Mut(&mut am), Arg::SameAs(0), Arg::F32Mut(&mut cm)],
            &mut [],
        )
        .unwrap_err(),
        Error::ReadOnly {
            op: "add",
            operand: "b",
        }
    );
    // An in-place state (Hebbian weights) given read-only, and an i32 output read-only.
    let heb = Op::from(HebbianUpdate {
        b: 1,
        m: 1,
        k: 1,
        n: 1,
        lr: 0.1,
        decay: 0.0,
    });
    let (one, pre, post) = ([1.0f32], [1.0f32], [1.0f32]);
    expect(
        reference::run(
            &heb,
            F32,
            &mut [Arg::F32(&pre), Arg::F32(&post), Arg::F32(&one)],
            &mut [],
        ),
        Error::ReadOnly {
            op: "hebbian_update",
            operand: "w",
        },
        &["`w`"],
    );
    let counts = [0i32; 1];
    let mut sums = [0.0f32; 1];
    expect(
        reference::run(
            &ProtoSegmentedSum {
                m: 1,
                e: 1,
                t: 1,
                mode: SumMode::Deterministic,
            }
            .into(),
            F32,
            &mut [
                Arg::F32(&one),
                Arg::I32(&[0]),
                Arg::F32Mut(&mut sums),
                Arg::I32(&counts),
            ],
            &mut [],
        ),
        Error::ReadOnly {
            op: "proto_segmented_sum",
            operand: "counts",
        },
        &["`counts`"],
    );
}

fn adam(lr: f32, beta1: f32, beta2: f32, eps: f32, wd: f32, t: u32) -> Op {
    AdamUpdate {
        n: 1,
        lr,
        beta1,
        beta2,
        eps,
        weight_decay: wd,
        t,
        decoupled: false,
    }
    .into()
}

#[test]
fn scalar_domains() {
    let nan = f32::NAN;
    let inf = f32::INFINITY;
    let cases: Vec<(Op, &str)> = vec![
        (adam(0.1, 0.9, 0.99, 1e-8, 0.0, 0), "t"),
        (adam(0.1, 0.9, 0.99, 0.0, 0.0, 1), "eps"),
        (adam(0.1, 0.9, 0.99, -1e-8, 0.0, 1), "eps"),
        (adam(0.1, 0.9, 0.99, nan, 0.0, 1), "eps"),
        (adam(0.1, 0.9, 0.99, inf, 0.0, 1), "eps"),
        (adam(nan, 0.9, 0.99, 1e-8, 0.0, 1), "lr"),
        (adam(inf, 0.9, 0.99, 1e-8, 0.0, 1), "lr"),
        (adam(-inf, 0.9, 0.99, 1e-8, 0.0, 1), "lr"),
        (adam(0.1, 1.0, 0.99, 1e-8, 0.0, 1), "beta1"),
        (adam(0.1, -0.1, 0.99, 1e-8, 0.0, 1), "beta1"),
        (adam(0.1, nan, 0.99, 1e-8, 0.0, 1), "beta1"),
        (adam(0.1, 0.9, 1.0, 1e-8, 0.0, 1), "beta2"),
        (adam(0.1, 0.9, 1.5, 1e-8, 0.0, 1), "beta2"),
        (adam(0.1, 0.9, 0.99, 1e-8, nan, 1), "weight_decay"),
        (
            LayerNorm {
                rows: 1,
                len: 1,
                eps: 0.0,
                affine: false,
            }
            .into(),
            "eps",
        ),
        (
            LayerNormBackward {
                rows: 1,
                len: 1,
                eps: -1.0,
                affine: true,
            }
            .into(),
            "eps",
        ),
        (
            HebbianUpdate {
                lr: nan,
                ..Default::default()
            }
            .into(),
            "lr",
        ),
        (
            HebbianUpdate {
                decay: inf,
                ..Default::default()
            }
            .into(),
            "decay",
        ),
        (
            ThresholdSpike {
                n: 1,
                threshold: nan,
            }
            .into(),
            "threshold",
        ),
        (
            ProtoUpdateStep {
                t: 1,
                e: 1,
                lr: inf,
            }
            .into(),
            "lr",
        ),
        (
            ShapeLoss {
                penalty: nan,
                ..Default::default()
            }
            .into(),
            "penalty",
        ),
        (
            ShapeLoss {
                reward: -inf,
                ..Default::default()
            }
            .into(),
            "reward",
        ),
        (
            ShapeLoss {
                threshold: nan,
                ..Default::default()
            }
            .into(),
            "threshold",
        ),
    ];
    for (op, name) in cases {
        let err = op.validate().unwrap_err();
        match err {
            Error::Scalar { op: o, name: n, .. } => {
                assert_eq!((o, n), (op.name(), name), "{op:?}");
            }
            other => panic!("{op:?}: expected a scalar error, got {other:?}"),
        }
        let msg = err.to_string();
        assert!(msg.contains(op.name()) && msg.contains(name), "{msg}");
        // The reference rejects the call before looking at any buffer.
        let n = op.operands().unwrap().len();
        let mut args: Vec<Arg<'_>> = (0..n).map(|_| Arg::Absent).collect();
        // (Compared through Debug: the value may be NaN, which is not equal to itself.)
        assert_eq!(
            format!(
                "{:?}",
                reference::run(&op, F32, &mut args, &mut []).unwrap_err()
            ),
            format!("{err:?}")
        );
    }
    // The edges of the domains are accepted: β = 0, a tiny eps, ±inf thresholds, a
    // negative learning rate (finite), t = u32::MAX.
    assert!(adam(0.1, 0.0, 0.0, f32::MIN_POSITIVE, 0.0, u32::MAX)
        .validate()
        .is_ok());
    assert!(adam(-0.1, 0.999_999_94, 0.5, 1e-8, -1.0, 1)
        .validate()
        .is_ok());
    for th in [inf, -inf, 0.0] {
        assert!(Op::from(ThresholdSpike {
            n: 1,
            threshold: th
        })
        .validate()
        .is_ok());
    }
}

#[test]
fn unsupported_and_kind_names() {
    // Only backends produce `Unsupported`; its message names the op and the dtype.
    let e = Error::Unsupported {
        op: "gelu",
        dtype: F16,
    };
    let msg = e.to_string();
    assert!(msg.contains("gelu") && msg.contains("f16"), "{msg}");
    assert_eq!(e.kind_name(), "unsupported");
    assert_eq!(e.op(), "gelu");
}

#[test]
fn operand_lists_are_consistent() {
    // Names are unique per op, aliasing targets are inputs, and optional operands follow
    // the flags.
    for &kind in OpKind::ALL {
        for flags in [[false, false], [true, true]] {
            let op = small_op(kind, [2, 3, 4, 5], flags);
            let ops = op.validate().unwrap();
            for (j, s) in ops.iter().enumerate() {
                assert_eq!(
                    ops.position(s.name),
                    Some(j),
                    "{}: duplicate name",
                    op.name()
                );
                if let Some(t) = s.may_alias {
                    assert_eq!(s.role, Role::Output);
                    assert_eq!(ops[t].role, Role::Input);
                    assert_eq!(ops[t].len, s.len);
                }
            }
            assert_eq!(op.kind(), kind);
            assert_eq!(OpKind::from_name(kind.name()), Some(kind));
            assert_eq!(OpKind::from_u32(kind as u32), Some(kind));
        }
    }
    assert_eq!(OpKind::ALL.len(), 31);
}

// ---------------------------------------------------------------------------------------
// Arbitrary calls never panic.

fn dim() -> impl Strategy<Value = usize> {
    prop_oneof![
        30 => 0usize..5,
        1 => Just(i32::MAX as usize),
        1 => Just(i32::MAX as usize + 1),
        1 => Just(usize::MAX),
        1 => Just(1usize << 32),
        1 => Just(65536usize),
        1 => any::<usize>(),
    ]
}

fn scalar() -> impl Strategy<Value = f32> {
    prop_oneof![
        4 => Just(0.5f32),
        1 => Just(0.0f32),
        1 => Just(1.0f32),
        1 => Just(-1.0f32),
        1 => Just(f32::NAN),
        1 => Just(f32::INFINITY),
        1 => Just(f32::NEG_INFINITY),
        1 => Just(1e-8f32),
        1 => any::<f32>(),
    ]
}

/// A descriptor of any kind with the dims and flags of [`small_op`], the scalars
/// `s[0], s[1], s[2], s[0]·s[1], s[2] − 0.5` in slot order, and Adam's step `t`.
fn any_op(kind: OpKind, d: [usize; 4], fl: [bool; 2], s: [f32; 3], t: u32) -> Op {
    let pool = [s[0], s[1], s[2], s[0] * s[1], s[2] - 0.5];
    let (mut dims, mut scalars, mut flags) = ([0usize; 6], [0f32; 6], 0u32);
    for (f, v) in small_op(kind, d, fl).fields().iter() {
        match (f.kind, v) {
            (FieldKind::Count, _) => dims[f.slot] = t as usize,
            (_, Value::Dim(x)) => dims[f.slot] = x,
            (_, Value::Scalar(_)) => scalars[f.slot] = pool.get(f.slot).copied().unwrap_or(0.5),
            (_, Value::Flag(b)) => flags |= u32::from(b) << f.slot,
        }
    }
    Op::from_fields(kind, &dims, &scalars, flags).expect("fields from the kind's own list")
}

/// How one argument slot is filled.
#[derive(Clone, Debug)]
enum SlotPlan {
    /// The element type and length the operand wants, writable.
    Right,
    /// The right buffer, but read-only.
    ReadOnly,
    /// An empty slot.
    Absent,
    /// `SameAs(n)`.
    SameAs(usize),
    /// A buffer of element type code `e` (0 f32, 1 f16, 2 i32) and length `len`.
    Other(u8, usize, bool),
}

fn slot_plan() -> impl Strategy<Value = SlotPlan> {
    prop_oneof![
        12 => Just(SlotPlan::Right),
        1 => Just(SlotPlan::ReadOnly),
        1 => Just(SlotPlan::Absent),
        1 => (0usize..8).prop_map(SlotPlan::SameAs),
        1 => (0u8..3, 0usize..40, any::<bool>()).prop_map(|(e, l, m)| SlotPlan::Other(e, l, m)),
    ]
}

/// Buffers larger than this are not allocated (the slot gets a short one instead).
const MAX_ALLOC: usize = 4096;

enum Owned {
    F32(Vec<f32>, bool),
    F16(Vec<f16>, bool),
    I32(Vec<i32>, bool),
    Absent,
    SameAs(usize),
}

fn build(op: &Op, dt: FloatType, plans: &[SlotPlan], values: &[f32]) -> Vec<Owned> {
    let specs: Vec<_> = op
        .operands()
        .map(|o| o.iter().copied().collect())
        .unwrap_or_default();
    let fill = |e: u8, len: usize, m: bool| -> Owned {
        let v = |j: usize| values[j % values.len()];
        match e {
            0 => Owned::F32((0..len).map(v).collect(), m),
            1 => Owned::F16((0..len).map(|j| f16::from_f32(v(j))).collect(), m),
            _ => Owned::I32((0..len).map(|j| (v(j) * 3.0) as i32).collect(), m),
        }
    };
    plans
        .iter()
        .enumerate()
        .map(|(j, p)| {
            let spec = specs.get(j);
            let right = |m: bool| match spec {
                Some(s) if s.present && s.len <= MAX_ALLOC => {
                    let e = match s.elem.resolve(dt) {
                        ElemType::F32 => 0,
                        ElemType::F16 => 1,
                        ElemType::I32 => 2,
                    };
                    fill(e, s.len, m)
                }
                Some(s) if !s.present => Owned::Absent,
                _ => fill(0, 3, m),
            };
            match p {
                SlotPlan::Right => right(true),
                SlotPlan::ReadOnly => right(false),
                SlotPlan::Absent => Owned::Absent,
                SlotPlan::SameAs(n) => Owned::SameAs(*n),
                SlotPlan::Other(e, l, m) => fill(*e, *l, *m),
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_calls_never_panic(
        kind in 0usize..31,
        d in [dim(), dim(), dim(), dim()],
        fl in any::<[bool; 2]>(),
        s in [scalar(), scalar(), scalar()],
        t in prop_oneof![Just(0u32), Just(1u32), any::<u32>()],
        f16_call in any::<bool>(),
        extra_slots in prop_oneof![8 => Just(0usize), 1 => 1usize..4],
        drop_slot in any::<bool>(),
        plans in proptest::collection::vec(slot_plan(), 8),
        values in proptest::collection::vec(
            prop_oneof![4 => -4.0f32..4.0, 1 => Just(f32::NAN), 1 => Just(f32::INFINITY),
                        1 => Just(65504.0f32), 1 => Just(-1.0f32)],
            1..8),
        scratch_short in any::<bool>(),
    ) {
        let kind = OpKind::ALL[kind];
        let op = any_op(kind, d, fl, s, t);
        let dt = if f16_call { F16 } else { F32 };
        // Validation entry points return, whatever the descriptor.
        let _ = op.validate();
        let _ = op.has_work();
        let need = scratch_len(&op, dt);
        let n = op.operands().map_or(3, |o| o.len());
        let n = if drop_slot && n > 0 { n - 1 } else { n + extra_slots };
        let mut owned = build(&op, dt, &plans[..n.min(8)], &values);
        while owned.len() < n {
            owned.push(Owned::Absent);
        }
        let mut args: Vec<Arg<'_>> = owned
            .iter_mut()
            .map(|o| match o {
                Owned::F32(v, true) => Arg::F32Mut(v),
                Owned::F32(v, false) => Arg::F32(v),
                Owned::F16(v, true) => Arg::F16Mut(v),
                Owned::F16(v, false) => Arg::F16(v),
                Owned::I32(v, true) => Arg::I32Mut(v),
                Owned::I32(v, false) => Arg::I32(v),
                Owned::Absent => Arg::Absent,
                Owned::SameAs(j) => Arg::SameAs(*j),
            })
            .collect();
        let len = match need {
            Ok(l) if l <= MAX_ALLOC => if scratch_short { l.saturating_sub(1) } else { l },
            _ => 0,
        };
        let mut scratch = vec![0.0f32; len];
        let _ = reference::validate(&op, dt, &args);
        // Ok or Err: either is fine, a panic is not.
        let _ = reference::run(&op, dt, &mut args, &mut scratch);
    }

    #[test]
    fn valid_small_calls_succeed(
        kind in 0usize..31,
        d in [0usize..5, 0usize..5, 0usize..5, 0usize..5],
        fl in any::<[bool; 2]>(),
        f16_call in any::<bool>(),
        values in proptest::collection::vec(-4.0f32..4.0, 1..8),
        ints in proptest::collection::vec(-2i32..6, 1..8),
    ) {
        // Any call with small dims and right buffers is accepted and runs.
        let op = small_op(OpKind::ALL[kind], d, fl);
        let dt = if f16_call { F16 } else { F32 };
        let mut bufs = slots_for(&op, dt, &values, &ints);
        prop_assert!(try_run(op, dt, &mut bufs).is_ok());
    }
}

/// Pinned from the differential fuzzer: a disabled optional output whose slot says
/// `SameAs` an empty slot names no buffer, so the call is valid (a device given no buffer
/// there accepts it too); and a `SameAs` naming an absent slot of a required output is
/// `Missing`, in the order a device would report it.
#[test]
fn same_as_on_disabled_or_absent_slots_matches_devices() {
    let op = Op::from(neurokern_core::op::MatMulBackward {
        b: 1,
        m: 1,
        k: 1,
        n: 1,
        want_d_a: false,
        want_d_w: false,
    });
    let (a, w, dc) = ([1.0f32], [2.0f32], [3.0f32]);
    let mut args = [
        Arg::F32(&a),
        Arg::F32(&w),
        Arg::F32(&dc),
        Arg::Absent,
        Arg::SameAs(3),
    ];
    assert_eq!(reference::run(&op, F32, &mut args, &mut []), Ok(()));
    let mut x = [0.0f32; 2];
    let add = Op::from(Add { n: 2 });
    let mut args = [Arg::Absent, Arg::F32Mut(&mut x), Arg::SameAs(0)];
    assert_eq!(
        reference::run(&add, F32, &mut args, &mut []).unwrap_err(),
        Error::Missing {
            op: "add",
            operand: "a"
        }
    );
}

/// Pinned from the differential fuzzer: an output `SameAs` an empty input shares nothing
/// (empty buffers never alias), so the input stays readable and the call runs, as on a
/// device given one empty buffer twice.
#[test]
fn same_as_an_empty_buffer_is_not_an_alias() {
    use neurokern_core::op::CrossEntropyLossGrad;
    let op = Op::from(CrossEntropyLossGrad { rows: 0, vocab: 3 });
    let mut logp: [f32; 0] = [];
    let target: [i32; 0] = [];
    let mut loss: [f32; 0] = [];
    let mut args = [
        Arg::F32Mut(&mut logp),
        Arg::I32(&target),
        Arg::SameAs(0),
        Arg::F32Mut(&mut loss),
    ];
    assert_eq!(reference::run(&op, F32, &mut args, &mut []), Ok(()));
}

/// Pinned from the differential fuzzer: a disabled optional output `SameAs` a disabled
/// optional input names no buffer; the call runs (it used to take the input's slot).
#[test]
fn same_as_between_disabled_slots_runs() {
    let op = Op::from(LayerNormBackward {
        rows: 1,
        len: 2,
        eps: 0.5,
        affine: false,
    });
    let (dy, x) = ([1.0f32, 2.0], [3.0f32, 5.0]);
    let mut dx = [0.0f32; 2];
    let mut args = [
        Arg::F32(&dy),
        Arg::F32(&x),
        Arg::Absent,
        Arg::F32Mut(&mut dx),
        Arg::SameAs(2),
        Arg::Absent,
    ];
    assert_eq!(reference::run(&op, F32, &mut args, &mut []), Ok(()));
}
