//! What is particular to the OpenCL device, beside the conformance suite (which judges
//! every op, see `tests/conformance.rs`): out-of-memory recovery, build errors with the
//! log, the shared kernel table against the sources, enumeration and selection, and the
//! integer-written f16 conversions (exhaustively).

mod common;

use common::backend;
use neurokern_backend_opencl::{devices, open, probe, DeviceSelector, OclError, OpenClBackend};
use neurokern_core::op::*;
use neurokern_core::{Backend, ElemType, FloatType, Op};
use neurokern_gpu::kernel::SIGNATURES;
use neurokern_gpu::GpuError;

fn oom<T>(r: &Result<T, neurokern_backend_opencl::Error>) -> bool {
    matches!(
        r,
        Err(GpuError::Device {
            source: OclError::OutOfMemory { .. },
            ..
        })
    )
}

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

    // Larger than the largest single allocation the device allows (or, where that is
    // more than i32::MAX elements, than any buffer may be: the rule of every backend).
    let too_big = (b.device().info().max_alloc as usize / 4).saturating_add(1024);
    let r = b.alloc(ElemType::F32, too_big);
    assert!(
        oom(&r) || (too_big > i32::MAX as usize && matches!(r, Err(GpuError::TooLarge { .. }))),
        "{r:?}"
    );
    // More than the whole device memory (an allocation can never exceed it).
    let beyond = (b.device().info().global_mem as usize / 4).saturating_mul(2);
    let r = b.alloc(ElemType::F32, beyond);
    assert!(
        oom(&r) || matches!(r, Err(GpuError::TooLarge { .. })),
        "{r:?}"
    );

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
        .device()
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
    b.device()
        .build_source(
            "fine",
            "__kernel void k(__global float* x) { x[0] = 1.0f; }",
        )
        .unwrap();
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
    let by_index = open(&DeviceSelector::Index(b.device().info().index)).unwrap();
    assert_eq!(by_index.device_name(), b.device_name());
    let frag = b.device().info().name.chars().take(6).collect::<String>();
    let by_name = open(&DeviceSelector::Name(frag.to_uppercase())).unwrap();
    assert_eq!(
        by_name.device().info().index,
        b.device().info().index.min(by_name.device().info().index)
    );
    assert!(matches!(
        open(&DeviceSelector::Index(10_000)),
        Err(OclError::NoDevice(_))
    ));
    assert!(matches!(
        open(&DeviceSelector::Name("no such device anywhere".into())),
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
fn f16_rounding_is_correct_on_random_products() {
    // Products of two f16 values are exact in f32; their rounding to f16 (ties, overflow,
    // subnormals) must be the correctly rounded one, bit for bit.
    let Some(b) = backend() else { return };
    let n = 200_000;
    let mut state = 99u64;
    let mut pick = || {
        // SplitMix64: a fixed, seeded stream.
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) & 0xffff) as u16
    };
    let xa: Vec<u16> = (0..n).map(|_| pick()).collect();
    let xb: Vec<u16> = (0..n).map(|_| pick()).collect();
    let bytes = |v: &[u16]| -> Vec<u8> { v.iter().flat_map(|x| x.to_ne_bytes()).collect() };
    let (x, y, z) = (
        b.alloc(ElemType::F16, n).unwrap(),
        b.alloc(ElemType::F16, n).unwrap(),
        b.alloc(ElemType::F16, n).unwrap(),
    );
    b.write(&x, &bytes(&xa)).unwrap();
    b.write(&y, &bytes(&xb)).unwrap();
    b.run(
        &Op::Mul(Mul { n }),
        FloatType::F16,
        &[Some(&x), Some(&y), Some(&z)],
    )
    .unwrap();
    let mut out = vec![0u8; 2 * n];
    b.read(&z, &mut out).unwrap();
    for e in 0..n {
        let f = |v: u16| neurokern_core::f16::from_bits(v).to_f32();
        let want = neurokern_core::f16::from_f32(f(xa[e]) * f(xb[e]));
        let got = neurokern_core::f16::from_ne_bytes([out[2 * e], out[2 * e + 1]]);
        assert!(
            want.to_bits() == got.to_bits() || (want.is_nan() && got.is_nan()),
            "[{e}] {:#06x} * {:#06x}: {want} vs {got}",
            xa[e],
            xb[e]
        );
    }
}

#[test]
fn the_kernel_table_matches_the_sources() {
    // The generic launcher sets the arguments the shared table lists; every table kernel
    // must declare exactly that many in both programs.
    let Some(b) = backend() else { return };
    for dt in FloatType::ALL {
        for sig in SIGNATURES {
            let n = b.device().kernel_arg_count(dt, sig.name).unwrap();
            assert_eq!(n as usize, sig.args.len(), "{} ({dt})", sig.name);
        }
    }
}
