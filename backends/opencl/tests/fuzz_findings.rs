//! The differential fuzzer's findings against the OpenCL plugin, as cases judged by the
//! conformance suite on the default OpenCL device (the fuzz inputs themselves are pinned
//! in `fuzz/regressions/differential/`, replayed by `cargo xtask fuzz --replay` with
//! `NEUROKERN_FUZZ_PLUGIN` naming the OpenCL plugin).
//!
//! Both were f32 intermediates that overflow on the device while the reference stays
//! finite, judged too strictly by the bound model (`conformance/src/bounds.rs`), not
//! kernel bugs: the device's result is the IEEE result of an evaluation the contract
//! allows.

mod common;

use common::backend;
use neurokern_backend_opencl::OpenClBackend;
use neurokern_conformance::cases::Case;
use neurokern_conformance::data::HostData;
use neurokern_conformance::run::{compare, execute, prepare};
use neurokern_core::op::{AdamUpdate, HebbianUpdate};
use neurokern_core::{f16, FloatType, Op};

/// Runs `case` on the device and returns the suite's failures.
fn failures(b: &OpenClBackend, case: &Case) -> (Vec<Option<HostData>>, String) {
    let p = prepare(case).expect("a valid case");
    let got = execute(b, &p, 0).expect("the device runs the call");
    let v = compare(&p, &got, false);
    let why = if v.failed == 0 {
        String::new()
    } else {
        format!("{} failed: {:?}", case.id, v.failures)
    };
    (got, why)
}

/// `hebbian_update`: `Σ pre·post = 3e38·2 + 3e38·(−2)`, exactly 0. The reference rounds
/// each product to f32 (`+inf`, `−inf`) and gets NaN; the device's fused multiply-add
/// overflows to `+inf` on the first term and stays there. Any order, and fused or separate
/// products, are allowed (OPS.md), so an element whose finite terms can overflow f32
/// accepts any result, as in `matmul` (the fuzzer reported "expected NaN, got inf").
#[test]
fn hebbian_sum_whose_terms_overflow_f32_is_order_dependent() {
    let Some(b) = backend() else { return };
    let op = Op::HebbianUpdate(HebbianUpdate {
        b: 1,
        m: 2,
        k: 1,
        n: 1,
        lr: 1.0,
        decay: 0.0,
    });
    let slots = vec![
        Some(HostData::F32(vec![3e38, 3e38])),
        Some(HostData::F32(vec![2.0, -2.0])),
        Some(HostData::F32(vec![-0.0])),
    ];
    let case = Case::custom(
        "fuzz/hebbian_update overflow",
        op,
        FloatType::F32,
        slots,
        None,
    );
    let (_, why) = failures(&b, &case);
    assert!(why.is_empty(), "{why}");
}

/// `adam_update` in f16 with `lr = 0`, `m = 3e38`: `m/(1 − β1ᵗ)` overflows f32 (the
/// reference, in f64, stays finite), and `lr·inf` is NaN. That is the f32 evaluation of
/// OPS.md's formula (PyTorch's `p − (lr/c1)·(m/den)` overflows likewise), so the bound
/// is unbounded there; the model used to treat `0 × unbounded` as an exact 0.
#[test]
fn adam_with_an_overflowing_bias_corrected_moment_is_unbounded() {
    let Some(b) = backend() else { return };
    let op = Op::AdamUpdate(AdamUpdate {
        n: 1,
        lr: 0.0,
        beta1: 0.999,
        beta2: 0.999,
        eps: 0.001,
        weight_decay: 0.0,
        t: 1,
        decoupled: false,
    });
    let tiny = f16::from_f32(5.96e-8);
    let slots = vec![
        Some(HostData::F16(vec![f16::from_f32(-65504.0)])),
        Some(HostData::F16(vec![tiny])),
        Some(HostData::F32(vec![3e38])),
        Some(HostData::F32(vec![5.96e-8])),
    ];
    let case = Case::custom("fuzz/adam_update overflow", op, FloatType::F16, slots, None);
    let (_, why) = failures(&b, &case);
    assert!(why.is_empty(), "{why}");
}
