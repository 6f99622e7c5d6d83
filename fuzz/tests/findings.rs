//! What the pinned inputs of findings against GPU plugins decode to. The replay
//! (`tests/properties.rs`, `cargo xtask fuzz --replay`) runs them on the CPU plugin, and on
//! the OpenCL plugin when `NEUROKERN_FUZZ_PLUGIN` names it (as `cargo xtask ci` does); this
//! test keeps each file meaning the call it was pinned for, whatever the generators become.

use std::path::Path;

use neurokern_core::op::{AdamUpdate, HebbianUpdate};
use neurokern_core::{f16, FloatType, Op};
use neurokern_fuzz::{args, dtype, op, Data};

fn decode(name: &str) -> (Op, FloatType, Vec<Data>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("regressions/differential")
        .join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut u = arbitrary::Unstructured::new(&bytes);
    let op = op(&mut u).expect("an op");
    let dtype = dtype(&mut u).expect("a dtype");
    let data = args(&mut u, &op, dtype).expect("arguments");
    (op, dtype, data)
}

fn f32s(d: &Data) -> Vec<f32> {
    match d {
        Data::F32(v) => v.clone(),
        Data::F16(v) => v.iter().map(|x| x.to_f32()).collect(),
        other => panic!("not float data: {other:?}"),
    }
}

/// OpenCL, "hebbian_update: expected NaN, got inf": `3e38·2 + 3e38·(−2)` in f32.
#[test]
fn hebbian_overflowing_terms() {
    let (op, dtype, data) = decode("crash-4d9569ff9c3f3d83d52b72c8651496c01d2dade7");
    assert_eq!(
        op,
        Op::HebbianUpdate(HebbianUpdate {
            b: 1,
            m: 2,
            k: 1,
            n: 1,
            lr: 1.0,
            decay: 0.0
        })
    );
    assert_eq!(dtype, FloatType::F32);
    assert_eq!(f32s(&data[0]), [3e38, 3e38]);
    assert_eq!(f32s(&data[1]), [2.0, -2.0]);
    assert_eq!(f32s(&data[2])[0].to_bits(), (-0.0f32).to_bits());
}

/// OpenCL, "adam_update, operand p, expected -65504, got NaN": `lr = 0`, `m = 3e38`, f16.
#[test]
fn adam_overflowing_moment_with_zero_lr() {
    let (op, dtype, data) = decode("crash-a6b8bff399ae0b1ee565a2d1004f0c525db362bc");
    assert_eq!(
        op,
        Op::AdamUpdate(AdamUpdate {
            n: 1,
            lr: 0.0,
            beta1: 0.999,
            beta2: 0.999,
            eps: 0.001,
            weight_decay: 0.0,
            t: 1,
            decoupled: false
        })
    );
    assert_eq!(dtype, FloatType::F16);
    assert!(matches!(&data[0], Data::F16(v) if v[..] == [f16::from_f32(-65504.0)]));
    assert_eq!(f32s(&data[2]), [3e38]);
}
