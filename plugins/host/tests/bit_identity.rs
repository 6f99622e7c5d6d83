//! The ABI is proven: every op kind, in f32 and f16, run through the CPU plugin loaded by
//! the host gives the same bits as `neurokern_core::reference::run` in process, on the
//! same random inputs and on edge cases (padding targets −1, out-of-range indices, NaN and
//! infinities, zero-sized dims, optional outputs off, ties). With NaN among the inputs,
//! NaNs are compared as NaNs (IEEE leaves their sign and payload open; see `compare`).

mod common;

use common::Rng;
use neurokern::{Backend, Device, Runtime};
use neurokern_core::op::*;
use neurokern_core::reference::{self, Arg};
use neurokern_core::{f16, ElemType, FloatType, Op, OpKind, Role};

fn device() -> Device {
    let rt = Runtime::load(common::cpu_plugin()).expect("load the CPU plugin");
    rt.device("cpu").expect("open cpu:0")
}

/// How inputs are drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Values {
    /// Uniform in [-3, 3].
    Normal,
    /// Small integers (ties for the argmax ops).
    Ties,
    /// Uniform, with NaN, ±inf, ±80, huge and subnormal values mixed in.
    Special,
}

/// A random descriptor of `kind`, built from its field list: dims in `1..=6` (an op's
/// only dim, and `proto_segmented_sum`'s rows, a product of two: longer elementwise calls,
/// several rows per segment); `zero` makes one of the first four dims zero (or none, for
/// an op with fewer); random flags, but a deterministic `proto_segmented_sum`; scalars in
/// their domains, some of them random.
fn random_op(kind: OpKind, r: &mut Rng, zero: bool) -> Op {
    use neurokern_core::op::FieldKind;
    use OpKind as K;
    let (mut dims, mut scalars, mut flags) = ([0usize; 8], [0f32; 8], 0u32);
    let only_dim = kind
        .fields()
        .iter()
        .filter(|f| f.kind == FieldKind::Dim)
        .count()
        == 1;
    for f in kind.fields() {
        match f.kind {
            FieldKind::Dim => {
                let d = r.usize(1, 6);
                dims[f.slot] = if only_dim || (kind, f.name) == (K::ProtoSegmentedSum, "m") {
                    d * r.usize(1, 6)
                } else {
                    d
                };
            }
            FieldKind::Count => dims[f.slot] = r.usize(1, 20),
            FieldKind::Flag => {
                let set = kind != K::ProtoSegmentedSum && r.bool();
                flags |= u32::from(set) << f.slot;
            }
            FieldKind::Scalar => {
                scalars[f.slot] = match (kind, f.name) {
                    (K::AdamUpdate, "lr") => 1e-2,
                    (K::AdamUpdate, "eps") => 1e-8,
                    (K::LayerNorm, "eps") => 1e-5,
                    (_, "eps") => 1e-3,
                    (_, "beta1") => 0.9,
                    (_, "beta2") => 0.999,
                    (_, "weight_decay") => {
                        if r.bool() {
                            0.01
                        } else {
                            0.0
                        }
                    }
                    (_, "decay") => {
                        if r.bool() {
                            0.05
                        } else {
                            0.0
                        }
                    }
                    (K::HebbianUpdate, "lr") => 0.1,
                    (K::ThresholdSpike, "threshold") => r.unit(),
                    (K::ShapeLoss, "penalty") => 1.0,
                    (K::ShapeLoss, "threshold") => 0.3,
                    (_, "lr") => 0.3,
                    // `reward`, and any new scalar: 0.5 is finite, > 0, in [0, 1) and not
                    // NaN, so it lies in every scalar domain of OPS.md.
                    _ => 0.5,
                };
            }
        }
    }
    if zero {
        let i = r.usize(0, 3);
        if let Some(f) = kind
            .fields()
            .iter()
            .filter(|f| f.kind == FieldKind::Dim)
            .nth(i)
        {
            dims[f.slot] = 0;
        }
    }
    Op::from_fields(kind, &dims, &scalars, flags).expect("fields from the kind's own list")
}

#[derive(Clone, Debug)]
enum Host {
    F32(Vec<f32>),
    F16(Vec<f16>),
    I32(Vec<i32>),
}

impl Host {
    fn bits(&self) -> Vec<u32> {
        match self {
            Host::F32(v) => v.iter().map(|x| x.to_bits()).collect(),
            Host::F16(v) => v.iter().map(|x| u32::from(x.to_bits())).collect(),
            Host::I32(v) => v.iter().map(|&x| x as u32).collect(),
        }
    }
}

fn float_value(r: &mut Rng, values: Values) -> f32 {
    match values {
        Values::Normal => r.unit() * 3.0,
        Values::Ties => r.range(-2, 2) as f32,
        Values::Special => match r.range(0, 11) {
            0 => f32::NAN,
            1 => f32::INFINITY,
            2 => f32::NEG_INFINITY,
            3 => 80.0 * r.unit().signum(),
            4 => 60000.0 * r.unit(),
            5 => 1e-40 * r.unit(),
            6 => -0.0,
            _ => r.unit() * 3.0,
        },
    }
}

/// Initial contents of operand `name` of `op`.
fn operand_data(
    op: &Op,
    name: &str,
    elem: ElemType,
    len: usize,
    r: &mut Rng,
    values: Values,
) -> Host {
    match elem {
        ElemType::I32 => {
            // Index-like operands: mostly in range, with padding (−1) and out-of-range
            // values; counts: small non-negative numbers (and some zeros).
            let hi = match op {
                Op::EmbeddingLookup(d) => d.vocab as i64,
                Op::EmbeddingBackward(d) => d.vocab as i64,
                Op::CrossEntropyLossGrad(d) => d.vocab as i64,
                Op::ShapeLoss(d) => d.vocab as i64,
                Op::ProtoSegmentedSum(d) => d.t as i64,
                _ => 6,
            };
            let v = (0..len)
                .map(|_| {
                    if name == "counts" {
                        r.range(0, 3) as i32
                    } else {
                        match r.range(0, 9) {
                            0 => -1,
                            1 => (hi + r.range(0, 2)) as i32,
                            2 => i32::MIN,
                            _ => r.range(0, (hi - 1).max(0)) as i32,
                        }
                    }
                })
                .collect();
            Host::I32(v)
        }
        ElemType::F32 | ElemType::F16 => {
            let v: Vec<f32> = (0..len)
                .map(|_| {
                    let x = float_value(r, values);
                    // Adam's second moment is a running mean of squares.
                    if name == "v" && values != Values::Special {
                        x.abs()
                    } else if name == "logp" && values != Values::Special {
                        -x.abs()
                    } else {
                        x
                    }
                })
                .collect();
            if elem == ElemType::F32 {
                Host::F32(v)
            } else {
                Host::F16(v.into_iter().map(f16::from_f32).collect())
            }
        }
    }
}

fn bytes(h: &Host) -> Vec<u8> {
    match h {
        Host::F32(v) => v.iter().flat_map(|x| x.to_ne_bytes()).collect(),
        Host::F16(v) => v.iter().flat_map(|x| x.to_ne_bytes()).collect(),
        Host::I32(v) => v.iter().flat_map(|x| x.to_ne_bytes()).collect(),
    }
}

fn from_bytes(elem: ElemType, b: &[u8]) -> Host {
    match elem {
        ElemType::F32 => Host::F32(
            b.chunks_exact(4)
                .map(|c| f32::from_ne_bytes(c.try_into().unwrap()))
                .collect(),
        ),
        ElemType::F16 => Host::F16(
            b.chunks_exact(2)
                .map(|c| f16::from_ne_bytes(c.try_into().unwrap()))
                .collect(),
        ),
        ElemType::I32 => Host::I32(
            b.chunks_exact(4)
                .map(|c| i32::from_ne_bytes(c.try_into().unwrap()))
                .collect(),
        ),
    }
}

/// Runs `op` both ways and compares every operand bit for bit.
fn compare(dev: &Device, op: &Op, dtype: FloatType, r: &mut Rng, values: Values) {
    let operands = op.validate().unwrap_or_else(|e| panic!("{op:?}: {e}"));
    let data: Vec<Option<Host>> = operands
        .iter()
        .map(|s| {
            s.present
                .then(|| operand_data(op, s.name, s.elem.resolve(dtype), s.len, r, values))
        })
        .collect();

    // In process.
    let mut expect = data.clone();
    let mut args: Vec<Arg<'_>> = expect
        .iter_mut()
        .zip(operands.iter())
        .map(|(h, s)| match (h, s.role == Role::Input) {
            (None, _) => Arg::Absent,
            (Some(Host::F32(v)), true) => Arg::F32(v),
            (Some(Host::F16(v)), true) => Arg::F16(v),
            (Some(Host::I32(v)), true) => Arg::I32(v),
            (Some(Host::F32(v)), false) => Arg::F32Mut(v),
            (Some(Host::F16(v)), false) => Arg::F16Mut(v),
            (Some(Host::I32(v)), false) => Arg::I32Mut(v),
        })
        .collect();
    let mut scratch = vec![0.0f32; reference::scratch_len(op, dtype).unwrap()];
    reference::run(op, dtype, &mut args, &mut scratch)
        .unwrap_or_else(|e| panic!("reference {op:?}: {e}"));
    drop(args);

    // Through the plugin.
    let bufs: Vec<Option<neurokern::Buffer>> = data
        .iter()
        .zip(operands.iter())
        .map(|(h, s)| {
            h.as_ref().map(|h| {
                let b = dev.alloc(s.elem.resolve(dtype), s.len).unwrap();
                dev.write(&b, &bytes(h)).unwrap();
                b
            })
        })
        .collect();
    let refs: Vec<Option<&neurokern::Buffer>> = bufs.iter().map(Option::as_ref).collect();
    dev.run(op, dtype, &refs)
        .unwrap_or_else(|e| panic!("plugin {op:?} {dtype}: {e}"));
    dev.synchronize().unwrap();
    for ((b, want), s) in bufs.iter().zip(&expect).zip(operands.iter()) {
        let (Some(b), Some(want)) = (b, want) else {
            continue;
        };
        let elem = s.elem.resolve(dtype);
        let mut out = vec![0u8; s.len * elem.size()];
        dev.read(b, &mut out).unwrap();
        let got = from_bytes(elem, &out);
        let (mut got, mut want) = (got.bits(), want.bits());
        if values == Values::Special {
            // IEEE 754 leaves the sign and payload of a NaN produced by an operation
            // unspecified, and the compiler may commute operands differently at the test
            // profile's and the plugin's optimization levels (x86 propagates the first
            // operand's NaN). With NaN inputs, a NaN must stay a NaN; every other value
            // must match to the bit.
            canonical_nans(elem, &mut got);
            canonical_nans(elem, &mut want);
        }
        assert_eq!(
            got,
            want,
            "{} {dtype} ({values:?}) operand `{}` differs between the plugin and the reference; op {op:?}",
            op.name(),
            s.name
        );
    }
}

fn canonical_nans(elem: ElemType, bits: &mut [u32]) {
    for b in bits {
        let nan = match elem {
            ElemType::F32 => f32::from_bits(*b).is_nan(),
            ElemType::F16 => f16::from_bits(*b as u16).is_nan(),
            ElemType::I32 => false,
        };
        if nan {
            *b = u32::MAX;
        }
    }
}

#[test]
fn every_op_and_dtype_is_bit_identical_through_the_plugin() {
    let dev = device();
    let mut r = Rng(0x5eed_1234_abcd_0001);
    let mut cases = 0;
    for &kind in OpKind::ALL {
        for dtype in FloatType::ALL {
            assert!(
                dev.supports(kind, dtype),
                "the CPU plugin must support {} {dtype}",
                kind.name()
            );
            for i in 0..12 {
                let values = [Values::Normal, Values::Ties, Values::Special][i % 3];
                let zero = i == 11;
                let op = random_op(kind, &mut r, zero);
                compare(&dev, &op, dtype, &mut r, values);
                cases += 1;
            }
        }
    }
    assert_eq!(cases, OpKind::ALL.len() * 2 * 12);
}

#[test]
fn typical_model_sizes_are_bit_identical() {
    // A few of the seed model's shapes, where tiling and blocking matter.
    let dev = device();
    let mut r = Rng(7);
    let ops: [Op; 6] = [
        MatMul {
            b: 2,
            m: 64,
            k: 128,
            n: 72,
        }
        .into(),
        MatMulBackward {
            b: 2,
            m: 16,
            k: 128,
            n: 100,
            want_d_a: true,
            want_d_w: true,
        }
        .into(),
        LogSoftmax { rows: 64, len: 100 }.into(),
        CrossEntropyLossGrad {
            rows: 64,
            vocab: 100,
        }
        .into(),
        DynamicTokenAssignment {
            b: 2,
            s: 32,
            e: 128,
            t: 72,
            want_best: true,
        }
        .into(),
        HebbianUpdate {
            b: 2,
            m: 32,
            k: 128,
            n: 96,
            lr: 0.01,
            decay: 0.001,
        }
        .into(),
    ];
    for op in &ops {
        for dtype in FloatType::ALL {
            compare(&dev, op, dtype, &mut r, Values::Normal);
        }
    }
}

#[test]
fn edge_cases_are_bit_identical() {
    let dev = device();
    let mut r = Rng(99);
    // All-padding targets, all out-of-range indices, zero-sized everything.
    let ops: [Op; 8] = [
        CrossEntropyLossGrad { rows: 5, vocab: 4 }.into(),
        EmbeddingBackward {
            b: 2,
            s: 3,
            vocab: 2,
            dim: 3,
        }
        .into(),
        MatMul {
            b: 0,
            m: 3,
            k: 4,
            n: 5,
        }
        .into(),
        ReduceSum01 { b: 0, m: 3, n: 4 }.into(),
        MatMulBackward {
            b: 1,
            m: 2,
            k: 3,
            n: 4,
            want_d_a: false,
            want_d_w: false,
        }
        .into(),
        LayerNormBackward {
            rows: 3,
            len: 0,
            eps: 1e-5,
            affine: true,
        }
        .into(),
        DynamicTokenAssignment {
            b: 1,
            s: 3,
            e: 2,
            t: 0,
            want_best: true,
        }
        .into(),
        ProtoSegmentedSum {
            m: 6,
            e: 2,
            t: 3,
            mode: SumMode::Atomic,
        }
        .into(),
    ];
    for op in &ops {
        for dtype in FloatType::ALL {
            for values in [Values::Normal, Values::Special, Values::Ties] {
                compare(&dev, op, dtype, &mut r, values);
            }
        }
    }
}

#[test]
fn validation_errors_match_the_reference() {
    let dev = device();
    let op: Op = MatMul {
        b: 1,
        m: 2,
        k: 3,
        n: 4,
    }
    .into();
    let a = dev.alloc(ElemType::F32, 6).unwrap();
    let w = dev.alloc(ElemType::F32, 11).unwrap();
    let c = dev.alloc(ElemType::F32, 8).unwrap();
    let err = dev
        .run(&op, FloatType::F32, &[Some(&a), Some(&w), Some(&c)])
        .unwrap_err();
    let want = neurokern_core::Error::Length {
        op: "matmul",
        operand: "w",
        expected: 12,
        got: 11,
    };
    assert!(
        matches!(err, neurokern::Error::Invalid(e) if e == want),
        "{err}"
    );
    let bad: Op = AdamUpdate {
        n: 1,
        lr: 0.1,
        beta1: 0.9,
        beta2: 0.99,
        eps: 1e-8,
        weight_decay: 0.0,
        t: 0,
        decoupled: false,
    }
    .into();
    let p = dev.alloc(ElemType::F32, 1).unwrap();
    let m = dev.alloc(ElemType::F32, 1).unwrap();
    let v = dev.alloc(ElemType::F32, 1).unwrap();
    let g = dev.alloc(ElemType::F32, 1).unwrap();
    let err = dev
        .run(
            &bad,
            FloatType::F32,
            &[Some(&p), Some(&g), Some(&m), Some(&v)],
        )
        .unwrap_err();
    assert!(err.to_string().contains("scalar `t` must be >= 1"), "{err}");
}
