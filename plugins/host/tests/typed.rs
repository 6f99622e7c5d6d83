//! The typed API: every `Device` method builds the descriptor the op's operands imply from
//! the tensors' shapes. Each case runs the typed method on one set of tensors and the
//! explicit descriptor through `Backend::run` on an identical set, and compares every
//! tensor afterwards; then shape and element-type mistakes are reported by name.

mod common;

use common::Rng;
use neurokern::{
    AdamParams, Backend, Device, ElemType, Error, FloatType, Runtime, SumMode, Tensor,
};
use neurokern_core::op::*;
use neurokern_core::Op;

fn device() -> Device {
    Runtime::load(common::cpu_plugin())
        .unwrap()
        .device("cpu")
        .unwrap()
}

type Slots = Vec<Option<Tensor>>;

fn make(dev: &Device, op: &Op, dtype: FloatType, shapes: &[&[usize]], seed: u64) -> Slots {
    let operands = op.operands().unwrap();
    let mut r = Rng(seed);
    let mut shapes = shapes.iter();
    operands
        .iter()
        .map(|s| {
            if !s.present {
                return None;
            }
            let shape = shapes.next().expect("a shape per present operand");
            let elem = s.elem.resolve(dtype);
            let n: usize = shape.iter().product();
            assert_eq!(n, s.len, "{}: shape of `{}`", op.name(), s.name);
            Some(match elem {
                ElemType::I32 => {
                    let v: Vec<i32> = (0..n)
                        .map(|_| if s.name == "counts" { r.range(0, 3) } else { r.range(-1, 4) } as i32)
                        .collect();
                    dev.upload(shape, &v).unwrap()
                }
                ElemType::F32 => {
                    let v: Vec<f32> = (0..n).map(|_| r.unit() * 2.0).collect();
                    let v: Vec<f32> = if s.name == "v" { v.iter().map(|x| x.abs()).collect() } else { v };
                    dev.upload(shape, &v).unwrap()
                }
                ElemType::F16 => {
                    let v: Vec<neurokern::f16> =
                        (0..n).map(|_| neurokern::f16::from_f32(r.unit() * 2.0)).collect();
                    dev.upload(shape, &v).unwrap()
                }
            })
        })
        .collect()
}

fn bits(t: &Tensor) -> Vec<u32> {
    match t.elem() {
        ElemType::F32 => t
            .download::<f32>()
            .unwrap()
            .iter()
            .map(|x| x.to_bits())
            .collect(),
        ElemType::F16 => t
            .download::<neurokern::f16>()
            .unwrap()
            .iter()
            .map(|x| u32::from(x.to_bits()))
            .collect(),
        ElemType::I32 => t
            .download::<i32>()
            .unwrap()
            .iter()
            .map(|&x| x as u32)
            .collect(),
    }
}

/// Runs `typed` on one set of tensors and `op` through `Backend::run` on another with the
/// same contents; every tensor must end up identical.
fn case(dev: &Device, op: impl Into<Op>, shapes: &[&[usize]], typed: impl Fn(&Device, &mut Slots)) {
    let op = op.into();
    for dtype in FloatType::ALL {
        let mut a = make(dev, &op, dtype, shapes, 11);
        let b = make(dev, &op, dtype, shapes, 11);
        typed(dev, &mut a);
        let args: Vec<Option<&neurokern::Buffer>> =
            b.iter().map(|t| t.as_ref().map(Tensor::buffer)).collect();
        dev.run(&op, dtype, &args).unwrap();
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            if let (Some(x), Some(y)) = (x, y) {
                assert_eq!(bits(x), bits(y), "{} {dtype}: slot {i}", op.name());
            }
        }
    }
}

macro_rules! slots {
    ($t:expr, [$($p:pat),*]) => {
        let [$($p),*] = &mut $t[..] else { panic!("slot count") };
    };
}

#[test]
fn every_typed_method_builds_the_right_descriptor() {
    let d = device();
    let (b, m, k, n) = (2, 3, 4, 5);
    case(
        &d,
        MatMul { b, m, k, n },
        &[&[b, m, k], &[k, n], &[b, m, n]],
        |d, t| {
            slots!(t, [Some(a), Some(w), Some(c)]);
            d.matmul_into(a, w, c).unwrap();
        },
    );
    // A 2-D A is the 3-D one with B = 1.
    case(
        &d,
        MatMul { b: 1, m, k, n },
        &[&[m, k], &[k, n], &[m, n]],
        |d, t| {
            slots!(t, [Some(a), Some(w), Some(c)]);
            d.matmul_into(a, w, c).unwrap();
        },
    );
    let mb = MatMulBackward {
        b,
        m,
        k,
        n,
        want_d_a: true,
        want_d_w: false,
    };
    case(
        &d,
        mb,
        &[&[b, m, k], &[k, n], &[b, m, n], &[b, m, k]],
        |d, t| {
            slots!(t, [Some(a), Some(w), Some(dc), da, dw]);
            d.matmul_backward_into(a, w, dc, da.as_mut(), dw.as_mut())
                .unwrap();
        },
    );
    case(
        &d,
        MatMulBatched { b, m, k, n },
        &[&[b, m, k], &[b, k, n], &[b, m, n]],
        |d, t| {
            slots!(t, [Some(a), Some(w), Some(c)]);
            d.matmul_batched_into(a, w, c).unwrap();
        },
    );
    let mbb = MatMulBatchedBackward {
        b,
        m,
        k,
        n,
        want_d_a: false,
        want_d_w: true,
    };
    case(
        &d,
        mbb,
        &[&[b, m, k], &[b, k, n], &[b, m, n], &[b, k, n]],
        |d, t| {
            slots!(t, [Some(a), Some(w), Some(dc), da, dw]);
            d.matmul_batched_backward_into(a, w, dc, da.as_mut(), dw.as_mut())
                .unwrap();
        },
    );
    case(
        &d,
        Softmax { rows: 6, len: 5 },
        &[&[2, 3, 5], &[2, 3, 5]],
        |d, t| {
            slots!(t, [Some(x), Some(y)]);
            d.softmax_into(x, y).unwrap();
        },
    );
    case(
        &d,
        LogSoftmax { rows: 6, len: 5 },
        &[&[6, 5], &[6, 5]],
        |d, t| {
            slots!(t, [Some(x), Some(y)]);
            d.log_softmax_into(x, y).unwrap();
        },
    );
    case(
        &d,
        SoftmaxBackward { rows: 6, len: 5 },
        &[&[6, 5], &[6, 5], &[6, 5]],
        |d, t| {
            slots!(t, [Some(dy), Some(y), Some(dx)]);
            d.softmax_backward_into(dy, y, dx).unwrap();
        },
    );
    case(
        &d,
        CrossEntropyLossGrad { rows: 6, vocab: 4 },
        &[&[6, 4], &[6], &[6, 4], &[6]],
        |d, t| {
            slots!(t, [Some(lp), Some(tg), Some(g), Some(l)]);
            d.cross_entropy_loss_grad_into(lp, tg, g, l).unwrap();
        },
    );
    case(&d, Gelu { n: 12 }, &[&[3, 4], &[3, 4]], |d, t| {
        slots!(t, [Some(x), Some(y)]);
        d.gelu_into(x, y).unwrap();
    });
    case(
        &d,
        GeluBackward { n: 12 },
        &[&[12], &[12], &[12]],
        |d, t| {
            slots!(t, [Some(x), Some(dy), Some(dx)]);
            d.gelu_backward_into(x, dy, dx).unwrap();
        },
    );
    case(&d, Add { n: 12 }, &[&[12], &[12], &[12]], |d, t| {
        slots!(t, [Some(a), Some(b), Some(c)]);
        d.add_into(a, b, c).unwrap();
    });
    case(&d, Mul { n: 12 }, &[&[12], &[12], &[12]], |d, t| {
        slots!(t, [Some(a), Some(b), Some(c)]);
        d.mul_into(a, b, c).unwrap();
    });
    let mub = MulBackward {
        n: 12,
        want_d_a: true,
        want_d_b: true,
    };
    case(&d, mub, &[&[12], &[12], &[12], &[12], &[12]], |d, t| {
        slots!(t, [Some(dc), Some(a), Some(b), da, db]);
        d.mul_backward_into(dc, a, b, da.as_mut(), db.as_mut())
            .unwrap();
    });
    let ln = LayerNorm {
        rows: 4,
        len: 6,
        eps: 1e-5,
        affine: true,
    };
    case(&d, ln, &[&[4, 6], &[6], &[6], &[4, 6]], |d, t| {
        slots!(t, [Some(x), g, b, Some(y)]);
        d.layer_norm_into(x, g.as_ref(), b.as_ref(), y, 1e-5)
            .unwrap();
    });
    let ln = LayerNorm {
        rows: 4,
        len: 6,
        eps: 1e-5,
        affine: false,
    };
    case(&d, ln, &[&[4, 6], &[4, 6]], |d, t| {
        slots!(t, [Some(x), g, b, Some(y)]);
        d.layer_norm_into(x, g.as_ref(), b.as_ref(), y, 1e-5)
            .unwrap();
    });
    let lnb = LayerNormBackward {
        rows: 4,
        len: 6,
        eps: 1e-3,
        affine: true,
    };
    case(
        &d,
        lnb,
        &[&[4, 6], &[4, 6], &[6], &[4, 6], &[6], &[6]],
        |d, t| {
            slots!(t, [Some(dy), Some(x), g, Some(dx), dg, db]);
            d.layer_norm_backward_into(dy, x, g.as_ref(), dx, dg.as_mut(), db.as_mut(), 1e-3)
                .unwrap();
        },
    );
    case(
        &d,
        Transpose { rows: 3, cols: 4 },
        &[&[3, 4], &[4, 3]],
        |d, t| {
            slots!(t, [Some(x), Some(y)]);
            d.transpose_into(x, y).unwrap();
        },
    );
    case(
        &d,
        TransposeBatched { b: 2, d1: 3, d2: 4 },
        &[&[2, 3, 4], &[2, 4, 3]],
        |d, t| {
            slots!(t, [Some(x), Some(y)]);
            d.transpose_batched_into(x, y).unwrap();
        },
    );
    let t12 = Transpose12 {
        b: 2,
        d1: 3,
        d2: 4,
        d3: 2,
    };
    case(&d, t12, &[&[2, 3, 4, 2], &[2, 4, 3, 2]], |d, t| {
        slots!(t, [Some(x), Some(y)]);
        d.transpose_12_into(x, y).unwrap();
    });
    let hp = AdamParams {
        lr: 0.01,
        weight_decay: 0.1,
        decoupled: true,
        ..AdamParams::default()
    };
    let adam = AdamUpdate {
        n: 10,
        lr: hp.lr,
        beta1: hp.beta1,
        beta2: hp.beta2,
        eps: hp.eps,
        weight_decay: hp.weight_decay,
        t: 3,
        decoupled: true,
    };
    case(&d, adam, &[&[10], &[10], &[10], &[10]], |d, t| {
        slots!(t, [Some(p), Some(g), Some(m), Some(v)]);
        d.adam_update(p, g, m, v, &hp, 3).unwrap();
    });
    let el = EmbeddingLookup {
        b: 2,
        s: 3,
        vocab: 4,
        dim: 5,
    };
    case(&d, el, &[&[2, 3], &[4, 5], &[2, 3, 5]], |d, t| {
        slots!(t, [Some(i), Some(tb), Some(o)]);
        d.embedding_lookup_into(i, tb, o).unwrap();
    });
    let eb = EmbeddingBackward {
        b: 2,
        s: 3,
        vocab: 4,
        dim: 5,
    };
    case(&d, eb, &[&[2, 3, 5], &[2, 3], &[4, 5]], |d, t| {
        slots!(t, [Some(o), Some(i), Some(tb)]);
        d.embedding_backward_into(o, i, tb).unwrap();
    });
    case(
        &d,
        ReduceSum01 { b: 2, m: 3, n: 4 },
        &[&[2, 3, 4], &[4]],
        |d, t| {
            slots!(t, [Some(x), Some(y)]);
            d.reduce_sum_01_into(x, y).unwrap();
        },
    );
    case(
        &d,
        AddBias { b: 2, m: 3, n: 4 },
        &[&[2, 3, 4], &[4], &[2, 3, 4]],
        |d, t| {
            slots!(t, [Some(x), Some(b), Some(y)]);
            d.add_bias_into(x, b, y).unwrap();
        },
    );
    case(
        &d,
        AddBroadcastPe { b: 2, s: 3, e: 4 },
        &[&[2, 3, 4], &[3, 4], &[2, 3, 4]],
        |d, t| {
            slots!(t, [Some(x), Some(pe), Some(y)]);
            d.add_broadcast_pe_into(x, pe, y).unwrap();
        },
    );
    let hb = HebbianUpdate {
        b,
        m,
        k,
        n,
        lr: 0.1,
        decay: 0.01,
    };
    case(&d, hb, &[&[b, m, k], &[b, m, n], &[k, n]], |d, t| {
        slots!(t, [Some(pre), Some(post), Some(w)]);
        d.hebbian_update(pre, post, w, 0.1, 0.01).unwrap();
    });
    case(
        &d,
        ThresholdSpike {
            n: 12,
            threshold: 0.25,
        },
        &[&[12], &[12]],
        |d, t| {
            slots!(t, [Some(x), Some(y)]);
            d.threshold_spike_into(x, y, 0.25).unwrap();
        },
    );
    let dta = DynamicTokenAssignment {
        b: 2,
        s: 3,
        e: 4,
        t: 5,
        want_best: true,
    };
    case(&d, dta, &[&[2, 3, 4], &[5, 4], &[2, 3], &[2, 3]], |d, t| {
        slots!(t, [Some(a), Some(p), Some(i), best]);
        d.dynamic_token_assignment_into(a, p, i, best.as_mut())
            .unwrap();
    });
    case(
        &d,
        PairwiseSimilarity { n: 4, d: 3 },
        &[&[4, 3], &[4, 4]],
        |d, t| {
            slots!(t, [Some(x), Some(s)]);
            d.pairwise_similarity_into(x, s).unwrap();
        },
    );
    let pss = ProtoSegmentedSum {
        m: 6,
        e: 3,
        t: 4,
        mode: SumMode::Deterministic,
    };
    case(&d, pss, &[&[6, 3], &[6], &[4, 3], &[4]], |d, t| {
        slots!(t, [Some(a), Some(i), Some(s), Some(c)]);
        d.proto_segmented_sum_into(a, i, s, c, SumMode::Deterministic)
            .unwrap();
    });
    case(
        &d,
        ProtoUpdateStep {
            t: 4,
            e: 3,
            lr: 0.3,
        },
        &[&[4, 3], &[4, 3], &[4]],
        |d, t| {
            slots!(t, [Some(p), Some(s), Some(c)]);
            d.proto_update_step(p, s, c, 0.3).unwrap();
        },
    );
    let sl = ShapeLoss {
        rows: 4,
        vocab: 5,
        pairs: 2,
        penalty: 1.0,
        reward: 0.5,
        threshold: 0.1,
    };
    case(&d, sl, &[&[4], &[4, 5], &[4], &[2, 2], &[4]], |d, t| {
        slots!(t, [Some(li), Some(p), Some(tg), Some(pr), Some(lo)]);
        d.shape_loss_into(li, p, tg, pr, lo, 1.0, 0.5, 0.1).unwrap();
    });
}

#[test]
fn add_assign_computes_in_place() {
    let d = device();
    let mut a = d.upload(&[3], &[1.0f32, 2.0, 3.0]).unwrap();
    let b = d.upload(&[3], &[10.0f32, 20.0, 30.0]).unwrap();
    d.add_assign(&mut a, &b).unwrap();
    assert_eq!(a.download::<f32>().unwrap(), vec![11.0, 22.0, 33.0]);
}

#[test]
fn shape_and_type_mistakes_name_the_op_and_operand() {
    let d = device();
    let a = d.zeros(ElemType::F32, &[2, 3, 4]).unwrap();
    let w = d.zeros(ElemType::F32, &[5, 6]).unwrap();
    let mut c = d.zeros(ElemType::F32, &[2, 3, 6]).unwrap();
    let err = d.matmul_into(&a, &w, &mut c).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Shape {
                op: "matmul",
                operand: "w",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "matmul: operand `w` has shape [5, 6], expected [4, 6]"
    );
    let i = d.zeros(ElemType::I32, &[2, 3, 4]).unwrap();
    let err = d.gelu_into(&i, &mut c).unwrap_err();
    assert!(
        matches!(
            err,
            Error::ElemType {
                op: "gelu",
                operand: "x",
                got: ElemType::I32,
                ..
            }
        ),
        "{err}"
    );
    // Mixed dtypes are caught by core validation, with core's error.
    let h = d.zeros(ElemType::F16, &[2, 3, 4]).unwrap();
    let mut y = d.zeros(ElemType::F32, &[2, 3, 4]).unwrap();
    let err = d.gelu_into(&h, &mut y).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Invalid(neurokern_core::Error::ElemType { operand: "y", .. })
        ),
        "{err}"
    );
    // Scalars out of their domain.
    let (mut p, g) = (
        d.zeros(ElemType::F32, &[3]).unwrap(),
        d.zeros(ElemType::F32, &[3]).unwrap(),
    );
    let (mut m, mut v) = (
        d.zeros(ElemType::F32, &[3]).unwrap(),
        d.zeros(ElemType::F32, &[3]).unwrap(),
    );
    let err = d
        .adam_update(&mut p, &g, &mut m, &mut v, &AdamParams::default(), 0)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("adam_update: scalar `t` must be >= 1"),
        "{err}"
    );
    // Host transfers of the wrong length or type.
    let err = a.write(&[1.0f32; 5]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::HostLength {
                expected: 24,
                got: 5,
                ..
            }
        ),
        "{err}"
    );
    let err = a.download::<i32>().unwrap_err();
    assert!(matches!(err, Error::ElemType { .. }), "{err}");
    let err = d
        .zeros(ElemType::F32, &[2, 3])
        .unwrap()
        .reshape(&[7])
        .unwrap_err();
    assert!(matches!(err, Error::Shape { op: "reshape", .. }), "{err}");
}

#[test]
fn device_reports_its_identity_and_capabilities() {
    let d = device();
    assert_eq!(d.name(), "reference");
    assert_eq!(d.backend_name(), "cpu");
    assert_eq!(d.index(), 0);
    assert_eq!(d.capabilities().len(), neurokern::OpKind::ALL.len() * 2);
    assert!(d.label().starts_with("cpu:0 reference #"));
    assert!(d.plugin().build_info().contains("neurokern-plugin-cpu"));
    assert_eq!(
        d.plugin().abi(),
        (neurokern::ABI_MAJOR, neurokern::ABI_MINOR)
    );
    let t = d.zeros(ElemType::F16, &[0, 3]).unwrap();
    assert!(t.is_empty());
    assert!(t.device().same_device(&d));
    assert_eq!(t.download::<neurokern::f16>().unwrap(), vec![]);
}
