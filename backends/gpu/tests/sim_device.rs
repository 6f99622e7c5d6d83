//! The simulated device's own guarantees: f16 rounded once to nearest-even at store,
//! copies that keep bits, outputs that alias inputs, recoverable allocation failures,
//! and steps that would leave their buffers reported as errors instead of panicking.

mod common;

use neurokern_core::op::{Add, Gelu, Mul, ProtoUpdateStep, ThresholdSpike, Transpose};
use neurokern_core::{f16, Backend, ElemType, FloatType, Op};
use neurokern_gpu::gemm::{Gemm, MatOut, MatRef};
use neurokern_gpu::kernel::{self, Kernel};
use neurokern_gpu::sim::{SimBackend, SimDevice, SimError, SimMem};
use neurokern_gpu::{Device, Limits};

fn f16_bytes(v: &[f32]) -> Vec<u8> {
    v.iter()
        .flat_map(|&x| f16::from_f32(x).to_le_bytes())
        .collect()
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn f16_sums_round_once_to_nearest_even() {
    let be = SimBackend::default();
    let e10 = 2f32.powi(-10);
    let e11 = 2f32.powi(-11);
    // Exact f32 sums: two ties (to the even neighbour) and one just above a tie (up).
    let a = [1.0, 1.0 + e10, 1.0];
    let b = [e11, e11, e11 + 2f32.powi(-20)];
    let op: Op = Add { n: 3 }.into();
    let data = vec![Some(f16_bytes(&a)), Some(f16_bytes(&b)), Some(vec![0; 6])];
    let out = common::run(&be, &op, FloatType::F16, &data).unwrap();
    let got = common::floats(ElemType::F16, out[2].as_ref().unwrap());
    // 1 + 2⁻¹¹ ties to 1; 1 + 3·2⁻¹¹ ties to 1 + 2⁻⁹ (even), not 1 + 2⁻¹⁰ (truncation);
    // 1 + 2⁻¹¹ + 2⁻²⁰ is past the tie and rounds up.
    assert_eq!(got, [1.0, 1.0 + 2.0 * e10, 1.0 + e10]);
}

#[test]
fn copies_keep_f16_bits() {
    let be = SimBackend::default();
    // A signalling NaN with a payload, −0 and a subnormal: a widen-and-round would be
    // allowed to quiet the NaN; the transpose is a copy.
    let bits: [u16; 4] = [0x7d01, 0x8000, 0x0001, 0x3c00];
    let x: Vec<u8> = bits.iter().flat_map(|b| b.to_le_bytes()).collect();
    let op: Op = Transpose { rows: 2, cols: 2 }.into();
    let out = common::run(&be, &op, FloatType::F16, &[Some(x), Some(vec![0; 8])]).unwrap();
    let y: Vec<u16> = out[1]
        .as_ref()
        .unwrap()
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    assert_eq!(y, [0x7d01, 0x0001, 0x8000, 0x3c00]);
}

#[test]
fn outputs_may_alias_their_input() {
    let be = SimBackend::default();
    let n = 11;
    let a: Vec<f32> = (0..n).map(|i| i as f32 * 0.37 - 1.5).collect();
    let b: Vec<f32> = (0..n).map(|i| 2.0 - i as f32 * 0.21).collect();
    let cases: [(Op, bool); 4] = [
        (Add { n }.into(), true),
        (Mul { n }.into(), true),
        (Gelu { n }.into(), false),
        (ThresholdSpike { n, threshold: 0.1 }.into(), false),
    ];
    for (op, binary) in cases {
        let separate = {
            let mut data = vec![Some(f32_bytes(&a))];
            if binary {
                data.push(Some(f32_bytes(&b)));
            }
            data.push(Some(vec![0; 4 * n]));
            let out = common::run(&be, &op, FloatType::F32, &data).unwrap();
            out.last().unwrap().clone().unwrap()
        };
        let x = be.alloc(ElemType::F32, n).unwrap();
        be.write(&x, &f32_bytes(&a)).unwrap();
        let y = be.alloc(ElemType::F32, n).unwrap();
        be.write(&y, &f32_bytes(&b)).unwrap();
        let args: Vec<_> = if binary {
            vec![Some(&x), Some(&y), Some(&x)]
        } else {
            vec![Some(&x), Some(&x)]
        };
        be.run(&op, FloatType::F32, &args).unwrap();
        let mut got = vec![0u8; 4 * n];
        be.read(&x, &mut got).unwrap();
        assert_eq!(got, separate, "{} in place", op.name());
    }
}

#[test]
fn proto_update_leaves_rows_without_members_bit_for_bit() {
    let be = SimBackend::default();
    let op: Op = ProtoUpdateStep {
        t: 2,
        e: 2,
        lr: 0.5,
    }
    .into();
    // Row 0 holds a signalling f16 NaN and has no members; row 1 is updated.
    let proto: Vec<u8> = [0x7d01u16, 0x3c00, 0x3c00, 0x3c00]
        .iter()
        .flat_map(|b| b.to_le_bytes())
        .collect();
    let sums = f16_bytes(&[5.0, 5.0, 4.0, 8.0]);
    let counts: Vec<u8> = [0i32, 2].iter().flat_map(|c| c.to_le_bytes()).collect();
    let out = common::run(
        &be,
        &op,
        FloatType::F16,
        &[Some(proto), Some(sums), Some(counts)],
    )
    .unwrap();
    let p = out[0].as_ref().unwrap();
    assert_eq!(p[..4], [0x01, 0x7d, 0x00, 0x3c]);
    // 0.5·1 + 0.5·(4/2) = 1.5, 0.5·1 + 0.5·(8/2) = 2.5.
    assert_eq!(common::floats(ElemType::F16, &p[4..]), [1.5, 2.5]);
}

#[test]
fn an_allocation_past_the_limit_is_a_recoverable_error() {
    let be = SimBackend::new(SimDevice::with_limits(Limits {
        max_alloc: 4096,
        ..SimDevice::DEFAULT_LIMITS
    }));
    let e = be.alloc(ElemType::F32, 2000).unwrap_err();
    assert!(
        matches!(
            e.device_error(),
            Some(SimError::TooLarge {
                bytes: 8000,
                max: 4096
            })
        ),
        "{e}"
    );
    // The device is still usable.
    let op: Op = Add { n: 3 }.into();
    let data = vec![
        Some(f32_bytes(&[1.0, 2.0, 3.0])),
        Some(f32_bytes(&[0.5, 0.5, 0.5])),
        Some(vec![0; 12]),
    ];
    let out = common::run(&be, &op, FloatType::F32, &data).unwrap();
    assert_eq!(
        common::floats(ElemType::F32, out[2].as_ref().unwrap()),
        [1.5, 2.5, 3.5]
    );
}

fn mem(dev: &SimDevice, bytes: &[u8]) -> SimMem {
    let m = dev.alloc(bytes.len()).unwrap();
    dev.write(&m, bytes).unwrap();
    m
}

#[test]
fn a_kernel_past_its_buffer_is_an_error() {
    let dev = SimDevice::new();
    let small = mem(&dev, &f32_bytes(&[1.0; 4]));
    let big = mem(&dev, &f32_bytes(&[1.0; 16]));
    let e = dev
        .launch(
            FloatType::F32,
            &Kernel::Gelu(kernel::Gelu {
                n: 10,
                x: &small,
                y: &big,
            }),
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            SimError::OutOfBounds {
                kernel: "nk_gelu",
                arg: "x",
                need: 10,
                have: 4
            }
        ),
        "{e}"
    );
    let e = dev
        .launch(
            FloatType::F32,
            &Kernel::Gelu(kernel::Gelu {
                n: 10,
                x: &big,
                y: &small,
            }),
        )
        .unwrap_err();
    assert!(matches!(e, SimError::OutOfBounds { arg: "y", .. }), "{e}");
    // Nothing was written to the short output.
    let mut b = [0u8; 16];
    dev.read(&small, &mut b).unwrap();
    assert_eq!(b.to_vec(), f32_bytes(&[1.0; 4]));
}

#[test]
fn a_gemm_whose_leading_dimension_leaves_its_buffer_is_an_error() {
    let dev = SimDevice::new();
    let a = mem(&dev, &f32_bytes(&[1.0; 6]));
    let b = mem(&dev, &f32_bytes(&[1.0; 6]));
    let c = mem(&dev, &f32_bytes(&[0.0; 4]));
    let mat = |buf, ld, trans| MatRef {
        buf,
        ld,
        stride: 0,
        trans,
    };
    let g = |lda| Gemm {
        m: 2,
        n: 2,
        k: 3,
        batch: 1,
        a: mat(&a, lda, false),
        b: mat(&b, 3, true),
        c: MatOut {
            buf: &c,
            ld: 2,
            stride: 0,
        },
        alpha: 1.0,
        beta: 0.0,
        accumulate: false,
        c_f32: false,
    };
    dev.gemm(FloatType::F32, &g(3), [None, None]).unwrap();
    let mut out = [0u8; 16];
    dev.read(&c, &mut out).unwrap();
    assert_eq!(common::floats(ElemType::F32, &out), [3.0; 4]);
    let e = dev.gemm(FloatType::F32, &g(4), [None, None]).unwrap_err();
    assert!(
        matches!(
            e,
            SimError::OutOfBounds {
                kernel: "gemm",
                arg: "a",
                need: 7,
                have: 6
            }
        ),
        "{e}"
    );
}

#[test]
fn corrupt_segment_indices_and_absent_buffers_are_errors() {
    let dev = SimDevice::new();
    let i32s = |v: &[i32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let src = mem(&dev, &f32_bytes(&[1.0; 6]));
    let dst = mem(&dev, &f32_bytes(&[0.0; 6]));
    let offs = mem(&dev, &i32s(&[0, 2, 3]));
    let order = mem(&dev, &i32s(&[0, 5, 1]));
    let e = dev
        .launch(
            FloatType::F32,
            &Kernel::SegmentSum(kernel::SegmentSum {
                width: 2,
                segs: 2,
                src: &src,
                offs: &offs,
                order: &order,
                dst: &dst,
            }),
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            SimError::BadIndex {
                arg: "order",
                value: 5,
                bound: 3,
                ..
            }
        ),
        "{e}"
    );
    let e = dev
        .launch(
            FloatType::F32,
            &Kernel::LayerNorm(kernel::LayerNorm {
                rows: 1,
                len: 6,
                eps: 1e-5,
                x: &src,
                gamma: None,
                beta: Some(&src),
                y: &dst,
                affine: true,
            }),
        )
        .unwrap_err();
    assert!(matches!(e, SimError::Missing { arg: "gamma", .. }), "{e}");
}
