//! On the machine's OpenCL device (skipped, with a note, when there is none): a broken
//! plan and a plan the gate is forced to fail are rejected, a tiny budget keeps and caches
//! the default.

use std::time::Duration;

use neurokern_backend_opencl::tuned::{Cache, Lookup, Plan};
use neurokern_backend_opencl::{device, DeviceInfo, DeviceSelector};
use neurokern_bench::measure::Reps;
use neurokern_conformance::cases::Tier;
use neurokern_core::FloatType;
use neurokern_tune::classes;
use neurokern_tune::opencl::OpenCl;
use neurokern_tune::search::Evaluator;
use neurokern_tune::{tune, Options};

fn info() -> Option<DeviceInfo> {
    match device::select(&DeviceSelector::Default) {
        Ok(i) if i.missing().is_empty() => Some(i),
        Ok(i) => {
            eprintln!("skipping: {} cannot run: {:?}", i.name, i.missing());
            None
        }
        Err(e) => {
            eprintln!("skipping: {e}");
            None
        }
    }
}

fn small_classes() -> Vec<classes::Class> {
    classes::select(&["matmul 4096x384x96".into()], &[FloatType::F32]).unwrap()
}

fn reps() -> Reps {
    Reps {
        min: 1,
        max: 2,
        budget: Duration::ZERO,
    }
}

#[test]
fn a_broken_tile_fails_the_gate() {
    let Some(info) = info() else { return };
    let mut ev = OpenCl::new(info.clone(), small_classes(), reps(), Tier::Edge);
    // A vector width of 5 is no OpenCL vector type: the program does not build.
    let broken = Plan {
        nv: 5,
        ..Plan::default_for(&info)
    };
    let e = ev
        .gate(&broken)
        .expect_err("a tile of float5 vectors cannot build");
    assert!(!e.is_empty());
    ev.gate(&Plan::default_for(&info))
        .expect("the default passes");
}

#[test]
fn forced_gate_failures_are_rejected_and_the_default_kept() {
    let Some(info) = info() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tune.json");
    let default = Plan::default_for(&info);
    let report = tune(
        &info,
        Some(&path),
        Options {
            classes: small_classes(),
            budget: Duration::from_secs(600),
            reps: reps(),
            tier: Tier::Edge,
            warm: false,
            // Every plan but the default "gives wrong results".
            fail: Some(Box::new(move |p: &Plan| *p != default)),
            verbose: false,
        },
    )
    .unwrap();
    let o = &report.outcome;
    assert!(o.rejected.len() > 5, "{} rejected", o.rejected.len());
    assert!(o.rejected.iter().all(|r| r.why.contains("test hook")));
    assert_eq!(o.timed.len(), 1, "only the default was timed");
    assert_eq!(report.entry.plan, default);
}

#[test]
fn a_tiny_budget_caches_the_default_for_this_driver_and_kernels() {
    let Some(info) = info() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tune.json");
    let report = tune(
        &info,
        Some(&path),
        Options {
            classes: small_classes(),
            budget: Duration::ZERO,
            reps: reps(),
            tier: Tier::Edge,
            warm: true,
            fail: None,
            verbose: false,
        },
    )
    .unwrap();
    assert_eq!(report.entry.plan, Plan::default_for(&info));
    assert_eq!(report.outcome.timed.len(), 1);
    let cache = Cache::load(&path).unwrap();
    match cache.lookup(&info) {
        Lookup::Fresh(e) => {
            assert_eq!(e.plan, Plan::default_for(&info));
            let c = &e.classes["f32 matmul 4096x384x96"];
            assert!(c.default_ms > 0.0 && c.plan_ms > 0.0);
        }
        other => panic!("expected a fresh entry, got {other:?}"),
    }
}
