//! The catalogue and the bounds themselves: coverage of every op and dtype, stable IDs
//! and seeds, reproducible data, and the reference within its own bounds.

use std::collections::{BTreeMap, BTreeSet};

use neurokern_conformance::bounds::Check;
use neurokern_conformance::cases::{self, Tier};
use neurokern_conformance::gen::seed_of;
use neurokern_conformance::report::Report;
use neurokern_conformance::run::{fraction, prepare};
use neurokern_conformance::suite::{select, Filter};
use neurokern_core::{FloatType, OpKind};

#[test]
fn every_op_and_dtype_has_cases_of_every_kind() {
    let all = cases::all();
    let mut by: BTreeMap<(OpKind, FloatType), BTreeSet<Tier>> = BTreeMap::new();
    for c in &all {
        by.entry((c.kind, c.dtype)).or_default().insert(c.tier);
    }
    for &k in OpKind::ALL {
        for t in FloatType::ALL {
            let tiers = by.get(&(k, t)).cloned().unwrap_or_default();
            assert!(
                tiers.contains(&Tier::Seed),
                "{} {t}: no seed-size case",
                k.name()
            );
            assert!(
                tiers.contains(&Tier::Edge),
                "{} {t}: no edge case",
                k.name()
            );
        }
    }
    // Zero-sized dims: every op has a case with an empty operand.
    let mut empty: BTreeSet<OpKind> = BTreeSet::new();
    for c in all.iter().filter(|c| c.tier == Tier::Edge) {
        let b = c.build();
        if b.op
            .operands()
            .unwrap()
            .iter()
            .any(|s| s.present && s.len == 0)
        {
            empty.insert(c.kind);
        }
    }
    for &k in OpKind::ALL {
        assert!(empty.contains(&k), "{}: no zero-sized case", k.name());
    }
}

#[test]
fn ids_are_unique_and_seeds_stable() {
    let all = cases::all();
    let ids: BTreeSet<&str> = all.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids.len(), all.len(), "duplicate case IDs");
    for c in &all {
        assert_eq!(c.seed, seed_of(&c.id));
        assert_eq!(c.id, format!("{}/{}/{}", c.kind.name(), c.dtype, c.variant));
    }
    // The hash is part of the replay contract: pin one value.
    assert_eq!(seed_of(""), 0xcbf2_9ce4_8422_2325);
}

#[test]
fn a_case_regenerates_the_same_data() {
    let filter = Filter {
        cases: vec![
            "softmax/f16/pm80_64x97".into(),
            "adam_update/f32/adamw".into(),
        ],
        ..Filter::default()
    };
    let picked = select(&filter);
    assert_eq!(picked.len(), 2);
    for c in picked {
        let (a, b) = (c.build(), c.build());
        assert_eq!(a.op, b.op);
        assert_eq!(a.slots, b.slots);
    }
}

/// The reference's own f16 results lie within the bounds derived for them: the bound
/// model covers the reference's arithmetic (f64 functions, one rounding) as well as the
/// f32 path the bound is centred on.
#[test]
fn the_reference_is_within_its_own_bounds() {
    let filter = Filter {
        max_tier: Some(Tier::Typical),
        ..Filter::default()
    };
    let mut bad = Vec::new();
    for c in select(&filter) {
        let p = prepare(&c).unwrap_or_else(|e| panic!("{}: {e}", c.id));
        for (i, check) in p.checks.iter().enumerate() {
            let Check::Bound(delta) = check else { continue };
            let (Some(exp), Some(center)) = (&p.expected[i], &p.center[i]) else {
                continue;
            };
            for k in 0..exp.len() {
                let (r, cv) = (exp.get(k), center[k]);
                if !r.is_finite() || !cv.is_finite() {
                    continue;
                }
                let f = fraction(exp.elem(), cv, delta[k], r);
                if f > 1.0 {
                    bad.push(format!("{}[{k}]: {f}", c.id));
                }
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn the_report_has_the_table_and_the_failures() {
    use neurokern_conformance::devices::{BackendDevice, DeviceUnderTest};
    use neurokern_conformance::suite::run_all;
    let devices: Vec<Box<dyn DeviceUnderTest>> = vec![Box::new(BackendDevice::new(
        "reference",
        neurokern_backend_cpu::CpuBackend::new(),
        true,
    ))];
    let filter = Filter {
        ops: vec![OpKind::Transpose],
        max_tier: Some(Tier::Typical),
        ..Filter::default()
    };
    let mut results = run_all(&devices, &select(&filter), true);
    assert!(results
        .iter()
        .all(|r| r.status == neurokern_conformance::suite::Status::Pass));
    // Pretend one failed, to see the failure section.
    results[0].status = neurokern_conformance::suite::Status::Fail;
    results[0].message = Some("1 of 1 elements outside their bound".into());
    let report = Report::new(
        vec!["reference".into()],
        Vec::new(),
        Vec::new(),
        1.0,
        results,
    );
    assert!(!report.passed());
    let table = report.table();
    assert!(table.contains("transpose") && table.contains("FAIL (1/"));
    let md = report.markdown();
    assert!(md.contains("| op | dtype | device |") && md.contains("## Failures"));
    let dir = std::env::temp_dir().join(format!("nk-conformance-{}", std::process::id()));
    report.write(&dir).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["totals"]["failed"], 1);
    std::fs::remove_dir_all(&dir).ok();
}

/// Pinned from the differential fuzz target: a call whose outputs are all empty is
/// judged without deriving any bound (that walked all 2³¹ rows of this call), as the
/// reference runs it without a loop.
#[test]
fn bounds_of_a_call_with_empty_outputs_are_not_derived() {
    use neurokern_conformance::bounds::{checks, Check};
    use neurokern_core::op::MatMul;
    let op = neurokern_core::Op::from(MatMul {
        b: i32::MAX as usize,
        m: 1,
        k: 0,
        n: 0,
    });
    let c = checks(&op, &[Some(vec![]), Some(vec![]), None]);
    assert!(
        matches!(
            c.as_slice(),
            [Check::NotWritten, Check::NotWritten, Check::Exact]
        ),
        "{c:?}"
    );
}

/// Pinned from the differential fuzz target: where finite terms can overflow f32, the
/// summation order decides between ±inf, NaN and a finite result, and every order is
/// allowed; where a NaN term or two opposite infinities occur, every order gives NaN and
/// NaN stays required.
#[test]
fn order_dependent_overflow_is_accepted_but_certain_nan_is_required() {
    use neurokern_conformance::bounds::{gemm_check, ORDER_DEPENDENT};
    use neurokern_conformance::run::judge;
    use neurokern_core::ElemType;
    let inf = f64::INFINITY;
    // Rows of A · a column of ones: [−3e38, −3e38, +inf], [+inf, −inf, 1], [1, 2, 3].
    let a = [-3e38, -3e38, inf, inf, -inf, 1.0, 1.0, 2.0, 3.0];
    let b = [1.0, 1.0, 1.0];
    let d = gemm_check(&a, &b, 3, 3, 1);
    assert_eq!(d[0], ORDER_DEPENDENT);
    assert_ne!(d[1], ORDER_DEPENDENT);
    assert!(d[2].is_finite());
    for got in [inf, -inf, f64::NAN, 1.0] {
        assert!(judge(ElemType::F32, f64::NAN, f64::NAN, d[0], got).0);
    }
    assert!(!judge(ElemType::F32, f64::NAN, f64::NAN, d[1], inf).0);
    assert!(judge(ElemType::F32, f64::NAN, f64::NAN, d[1], f64::NAN).0);
    assert!(!judge(ElemType::F32, 6.0, 6.0, d[2], 7.0).0);
    // A single infinite term without overflowing finite ones: that infinity, exactly.
    let e = gemm_check(&[inf, 1.0], &[1.0, 1.0], 1, 2, 1);
    assert_eq!(e[0], 0.0);
    assert!(!judge(ElemType::F32, inf, inf, e[0], f64::NAN).0);
    assert!(judge(ElemType::F32, inf, inf, e[0], inf).0);
}

/// Pinned from the differential fuzz target (`adam_update` with `g = 3e38`): an
/// intermediate that can overflow f32 (here `g²`) makes the result unbounded — an f32
/// device legitimately differs from the f64 reference — while ordinary values keep a
/// finite bound; and an unbounded element admits NaN, a bounded one does not.
#[test]
fn f32_overflow_of_an_intermediate_unbounds_the_result() {
    use neurokern_conformance::bounds::{DEV, E};
    use neurokern_conformance::run::judge;
    use neurokern_core::ElemType;
    assert!(DEV.mul(E::x(3e38), E::x(3e38)).e.is_infinite());
    assert!(DEV.mul(E::x(3.0), E::x(4.0)).e.is_finite());
    assert!(judge(ElemType::F32, 8.3, 8.3, f64::INFINITY, 7.2).0);
    assert!(judge(ElemType::F32, 8.3, 8.3, f64::INFINITY, f64::NAN).0);
    assert!(!judge(ElemType::F32, 8.3, 8.3, 1e-3, f64::NAN).0);
    // A reference that rounds an unbounded finite value to −inf (f16 store) admits the
    // f32 device's 0; an exact infinity (c infinite) stays required.
    assert!(judge(ElemType::F16, f64::NEG_INFINITY, -1e19, f64::INFINITY, 0.0).0);
    assert!(
        !judge(
            ElemType::F16,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
            0.0,
            0.0
        )
        .0
    );
}

/// Pinned from the differential fuzz target (`dynamic_token_assignment`): a similarity
/// whose finite terms overflow f32 is order-dependent, and so is the row's winner.
#[test]
fn argmax_rows_with_overflowing_similarities_are_order_dependent() {
    use neurokern_conformance::bounds::Argmax;
    let a = Argmax {
        act: vec![3e38, 3e38, 1.0, 1.0],
        proto: vec![-1.0, -1.0, 2.0, 0.5],
        e: 2,
        t: 2,
    };
    assert!(a.order_dependent(0, 0));
    assert!(!a.order_dependent(1, 1));
}
