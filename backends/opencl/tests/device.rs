//! Device handling: out-of-memory recovery, build errors with the log, validation errors
//! identical to the reference's, in-place (aliased) calls, enumeration and selection.

mod common;

use common::*;
use neurokern_backend_opencl::{devices, probe, DeviceSelector, OclError, OpenClBackend};
use neurokern_core::op::*;
use neurokern_core::reference::{self, Arg};
use neurokern_core::{Backend, ElemType, FloatType, Op};

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_ne_bytes()).collect()
}

fn read_f32(b: &OpenClBackend, buf: &neurokern_backend_opencl::OclBuffer, n: usize) -> Vec<f32> {
    let mut bytes = vec![0u8; n * 4];
    b.read(buf, &mut bytes).unwrap();
    bytes
        .chunks(4)
        .map(|c| f32::from_ne_bytes(c.try_into().unwrap()))
        .collect()
}

#[test]
fn out_of_memory_is_recoverable() {
    let Some(b) = backend() else { return };
    let keep: Vec<f32> = (0..1000).map(|i| i as f32 * 0.5).collect();
    let buf = b.alloc(ElemType::F32, keep.len()).unwrap();
    b.write(&buf, &f32_bytes(&keep)).unwrap();

    // Larger than the largest single allocation the device allows.
    let too_big = (b.info().max_alloc as usize / 4).saturating_add(1024);
    match b.alloc(ElemType::F32, too_big) {
        Err(OclError::OutOfMemory { .. }) => {}
        other => panic!("expected OutOfMemory, got {other:?}"),
    }
    // More than the whole device memory (an allocation can never exceed it).
    let beyond = (b.info().global_mem as usize / 4).saturating_mul(2);
    assert!(matches!(
        b.alloc(ElemType::F32, beyond),
        Err(OclError::OutOfMemory { .. })
    ));

    // The device still works and the old buffer kept its contents.
    assert_eq!(read_f32(&b, &buf, keep.len()), keep);
    let out = b.alloc(ElemType::F32, keep.len()).unwrap();
    b.run(
        &Op::Gelu(Gelu { n: keep.len() }),
        FloatType::F32,
        &[Some(&buf), Some(&out)],
    )
    .unwrap();
    b.synchronize().unwrap();
    assert!(read_f32(&b, &out, keep.len())[2] > 0.8);
}

#[test]
fn compile_error_carries_the_build_log() {
    let Some(b) = backend() else { return };
    let err = b
        .build_source(
            "broken",
            "__kernel void k(__global float* x) { x[0] = undefined_name; }",
        )
        .unwrap_err();
    match &err {
        OclError::Build { log, program, .. } => {
            assert_eq!(program, "broken");
            assert!(log.contains("undefined_name"), "build log: {log}");
        }
        other => panic!("expected a build error, got {other:?}"),
    }
    assert!(err.to_string().contains("build log"));
    // And a good program builds.
    b.build_source(
        "fine",
        "__kernel void k(__global float* x) { x[0] = 1.0f; }",
    )
    .unwrap();
}

/// The error the reference gives for a call with these buffer descriptions.
fn reference_error(
    op: &Op,
    dtype: FloatType,
    lens: &[Option<(ElemType, usize)>],
) -> Option<neurokern_core::Error> {
    let mut f32s: Vec<Vec<f32>> = Vec::new();
    let mut f16s: Vec<Vec<neurokern_core::f16>> = Vec::new();
    let mut i32s: Vec<Vec<i32>> = Vec::new();
    for l in lens.iter().flatten() {
        match l.0 {
            ElemType::F32 => f32s.push(vec![0.0; l.1]),
            ElemType::F16 => f16s.push(vec![neurokern_core::f16::ZERO; l.1]),
            ElemType::I32 => i32s.push(vec![0; l.1]),
        }
    }
    let (mut a, mut h, mut i) = (f32s.iter_mut(), f16s.iter_mut(), i32s.iter_mut());
    let mut args: Vec<Arg<'_>> = lens
        .iter()
        .map(|l| match l {
            None => Arg::Absent,
            Some((ElemType::F32, _)) => Arg::F32Mut(a.next().unwrap()),
            Some((ElemType::F16, _)) => Arg::F16Mut(h.next().unwrap()),
            Some((ElemType::I32, _)) => Arg::I32Mut(i.next().unwrap()),
        })
        .collect();
    let mut scratch = vec![0.0f32; reference::scratch_len(op, dtype).unwrap_or(0)];
    reference::run(op, dtype, &mut args, &mut scratch).err()
}

#[test]
fn validation_errors_match_the_reference() {
    let Some(b) = backend() else { return };
    let mm: Op = MatMul {
        b: 1,
        m: 2,
        k: 3,
        n: 4,
    }
    .into();
    let adam0: Op = AdamUpdate {
        n: 2,
        lr: 0.1,
        beta1: 0.9,
        beta2: 0.9,
        eps: 1e-8,
        weight_decay: 0.0,
        t: 0,
        decoupled: false,
    }
    .into();
    let huge: Op = MatMul {
        b: 1 << 20,
        m: 1 << 20,
        k: 4,
        n: 4,
    }
    .into();
    type Slots = Vec<Option<(ElemType, usize)>>;
    let cases: Vec<(Op, FloatType, Slots)> = vec![
        // wrong length
        (
            mm,
            FloatType::F32,
            vec![
                Some((ElemType::F32, 6)),
                Some((ElemType::F32, 11)),
                Some((ElemType::F32, 8)),
            ],
        ),
        // wrong dtype
        (
            mm,
            FloatType::F32,
            vec![
                Some((ElemType::F16, 6)),
                Some((ElemType::F32, 12)),
                Some((ElemType::F32, 8)),
            ],
        ),
        // missing operand
        (
            mm,
            FloatType::F16,
            vec![Some((ElemType::F16, 6)), None, Some((ElemType::F16, 8))],
        ),
        // wrong slot count
        (
            mm,
            FloatType::F32,
            vec![Some((ElemType::F32, 6)), Some((ElemType::F32, 12))],
        ),
        // scalar domain
        (
            adam0,
            FloatType::F32,
            vec![
                Some((ElemType::F32, 2)),
                Some((ElemType::F32, 2)),
                Some((ElemType::F32, 2)),
                Some((ElemType::F32, 2)),
            ],
        ),
        // too large
        (huge, FloatType::F32, vec![None, None, None]),
    ];
    for (op, dt, lens) in cases {
        let expected = reference_error(&op, dt, &lens).expect("the reference rejects it");
        let bufs: Vec<Option<_>> = lens
            .iter()
            .map(|l| l.map(|(e, n)| b.alloc(e, n).unwrap()))
            .collect();
        let args: Vec<Option<&_>> = bufs.iter().map(Option::as_ref).collect();
        match b.run(&op, dt, &args) {
            Err(OclError::Invalid(e)) => assert_eq!(e, expected, "{}", op.name()),
            other => panic!("{}: expected {expected:?}, got {other:?}", op.name()),
        }
    }
    // Aliasing an output that may not alias.
    let x = b.alloc(ElemType::F32, 8).unwrap();
    let op: Op = Softmax { rows: 2, len: 4 }.into();
    match b.run(&op, FloatType::F32, &[Some(&x), Some(&x)]) {
        Err(OclError::Invalid(neurokern_core::Error::Alias { .. })) => {}
        other => panic!("expected an alias error, got {other:?}"),
    }
}

#[test]
fn in_place_ops_match_the_reference() {
    let Some(b) = backend() else { return };
    let mut rng = Rng::new(5);
    let n = 1001;
    for dtype in FloatType::ALL {
        let e = dtype.elem();
        let xs = draw(&mut rng, Dist::Normal(2.0), e, n);
        let ys = draw(&mut rng, Dist::Normal(2.0), e, n);
        let ops: Vec<(Op, bool)> = vec![
            (Add { n }.into(), true),
            (Mul { n }.into(), true),
            (Gelu { n }.into(), false),
            (ThresholdSpike { n, threshold: 0.1 }.into(), false),
            (AddBias { b: 1, m: 1, n }.into(), true),
        ];
        for (op, binary) in ops {
            // Reference: out-of-place result.
            let mut slots = vec![Some(Data::F(xs.clone()))];
            if binary {
                slots.push(Some(Data::F(ys.clone())));
            }
            slots.push(Some(Data::F(vec![f64::NAN; n])));
            let case = Case { op, dtype, slots };
            let r = run_reference(&case);
            let expect = bits(r.last().unwrap().as_ref().unwrap());
            // Device: in place.
            let xb = b.alloc(e, n).unwrap();
            let yb = b.alloc(e, n).unwrap();
            let enc = |v: &[f64]| -> Vec<u8> {
                match dtype {
                    FloatType::F32 => v.iter().flat_map(|x| (*x as f32).to_ne_bytes()).collect(),
                    FloatType::F16 => v
                        .iter()
                        .flat_map(|x| neurokern_core::f16::from_f64(*x).to_ne_bytes())
                        .collect(),
                }
            };
            b.write(&xb, &enc(&xs)).unwrap();
            b.write(&yb, &enc(&ys)).unwrap();
            let args: Vec<Option<&_>> = if binary {
                vec![Some(&xb), Some(&yb), Some(&xb)]
            } else {
                vec![Some(&xb), Some(&xb)]
            };
            b.run(&op, dtype, &args).unwrap();
            let mut bytes = vec![0u8; n * e.size()];
            b.read(&xb, &mut bytes).unwrap();
            let got: Vec<f64> = match dtype {
                FloatType::F32 => bytes
                    .chunks(4)
                    .map(|c| f64::from(f32::from_ne_bytes(c.try_into().unwrap())))
                    .collect(),
                FloatType::F16 => bytes
                    .chunks(2)
                    .map(|c| {
                        f64::from(
                            neurokern_core::f16::from_ne_bytes(c.try_into().unwrap()).to_f32(),
                        )
                    })
                    .collect(),
            };
            let d = [Some(Data::F(got))];
            if matches!(op, Op::Gelu(_)) {
                let mut rr = r.clone();
                rr[0] = case.slots[0].clone();
                let mut dd = rr.clone();
                dd[1] = d[0].clone();
                compare(&case, &rr, &dd);
            } else if matches!(op, Op::ThresholdSpike(_)) {
                assert_eq!(
                    bits(d[0].as_ref().unwrap()),
                    expect,
                    "{} {dtype} in place",
                    op.name()
                );
            } else {
                // add / mul: one rounding of an exact f64 result on both sides (f32), or
                // within one f16 ulp after the f32 intermediate (f16).
                let (rv, dv) = (
                    r.last().unwrap().as_ref().unwrap().f(),
                    d[0].as_ref().unwrap().f(),
                );
                for (x, y) in rv.iter().zip(dv) {
                    let tol = if dtype == FloatType::F16 {
                        ulp16(*x)
                    } else {
                        0.0
                    };
                    assert!(
                        (x - y).abs() <= tol,
                        "{} {dtype} in place: {x} vs {y}",
                        op.name()
                    );
                }
            }
        }
    }
}

#[test]
fn enumeration_and_selection() {
    let Some(b) = backend() else { return };
    let all = devices().unwrap();
    assert!(!all.is_empty());
    for d in &all {
        assert!(
            d.max_work_group >= 1 && d.local_mem > 0 && d.max_alloc > 0,
            "{d:?}"
        );
    }
    let by_index = OpenClBackend::new(&DeviceSelector::Index(b.info().index)).unwrap();
    assert_eq!(by_index.device_name(), b.device_name());
    let frag = b.info().name.chars().take(6).collect::<String>();
    let by_name = OpenClBackend::new(&DeviceSelector::Name(frag.to_uppercase())).unwrap();
    assert_eq!(
        by_name.info().index,
        b.info().index.min(by_name.info().index)
    );
    assert!(matches!(
        OpenClBackend::new(&DeviceSelector::Index(10_000)),
        Err(OclError::NoDevice(_))
    ));
    assert!(matches!(
        OpenClBackend::new(&DeviceSelector::Name("no such device anywhere".into())),
        Err(OclError::NoDevice(_))
    ));
    assert!(probe(&DeviceSelector::Default).is_ok());
    assert_eq!(DeviceSelector::parse("2"), DeviceSelector::Index(2));
}

#[test]
fn every_f16_value_round_trips() {
    // x·1 widens every binary16 value exactly and narrows it back: the result must be the
    // same value (NaN stays NaN).
    let Some(b) = backend() else { return };
    let n = 1 << 16;
    let xs: Vec<u8> = (0..n as u32)
        .flat_map(|v| (v as u16).to_ne_bytes())
        .collect();
    let ones: Vec<u8> = (0..n)
        .flat_map(|_| neurokern_core::f16::ONE.to_ne_bytes())
        .collect();
    let x = b.alloc(ElemType::F16, n).unwrap();
    let one = b.alloc(ElemType::F16, n).unwrap();
    let y = b.alloc(ElemType::F16, n).unwrap();
    b.write(&x, &xs).unwrap();
    b.write(&one, &ones).unwrap();
    b.run(
        &Op::Mul(Mul { n }),
        FloatType::F16,
        &[Some(&x), Some(&one), Some(&y)],
    )
    .unwrap();
    let mut out = vec![0u8; 2 * n];
    b.read(&y, &mut out).unwrap();
    for v in 0..n {
        let (a, r) = (
            neurokern_core::f16::from_bits(v as u16),
            neurokern_core::f16::from_ne_bytes([out[2 * v], out[2 * v + 1]]),
        );
        if a.is_nan() {
            assert!(r.is_nan(), "{v:#06x}");
        } else {
            assert_eq!(a.to_bits(), r.to_bits(), "{v:#06x}");
        }
    }
}

#[test]
fn f16_rounding_matches_the_reference_on_random_products() {
    // Products of two f16 values are exact in f32; their rounding to f16 (ties, overflow,
    // subnormals) must match the reference bit for bit.
    let Some(b) = backend() else { return };
    let mut rng = Rng::new(99);
    let n = 200_000;
    let pick = |rng: &mut Rng| -> u16 { (rng.next_u64() & 0xffff) as u16 };
    let xa: Vec<u16> = (0..n).map(|_| pick(&mut rng)).collect();
    let xb: Vec<u16> = (0..n).map(|_| pick(&mut rng)).collect();
    let case = Case {
        op: Mul { n }.into(),
        dtype: FloatType::F16,
        slots: vec![
            Some(Data::F(
                xa.iter()
                    .map(|&v| f64::from(neurokern_core::f16::from_bits(v).to_f32()))
                    .collect(),
            )),
            Some(Data::F(
                xb.iter()
                    .map(|&v| f64::from(neurokern_core::f16::from_bits(v).to_f32()))
                    .collect(),
            )),
            Some(Data::F(vec![f64::NAN; n])),
        ],
    };
    let r = run_reference(&case);
    let d = run_device(&b, &case);
    let (rv, dv) = (r[2].as_ref().unwrap().f(), d[2].as_ref().unwrap().f());
    for (e, (x, y)) in rv.iter().zip(dv).enumerate() {
        assert!(
            x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
            "[{e}] {x} vs {y}"
        );
    }
}
