//! The backend applies a fresh cached plan when it opens the device, and ignores one whose
//! driver or kernel hash changed. One test in this binary: it sets the process's
//! `NEUROKERN_TUNE_CACHE`.

use std::collections::BTreeMap;

use neurokern_backend_opencl::tuned::{self, Cache, Entry, Lookup, PackPolicy, Plan, CACHE_ENV};
use neurokern_backend_opencl::{device, DeviceSelector, GemmParams, OpenClDevice};

#[test]
fn fresh_entries_apply_at_open_and_stale_ones_are_ignored() {
    let info = match device::select(&DeviceSelector::Default) {
        Ok(i) if i.missing().is_empty() => i,
        other => {
            eprintln!("skipping: no usable OpenCL device ({other:?})");
            return;
        }
    };
    for v in [
        "NEUROKERN_OPENCL_GEMM",
        "NEUROKERN_OPENCL_GEMM_LOCAL",
        "NEUROKERN_OPENCL_PACK_A",
    ] {
        if std::env::var_os(v).is_some() {
            eprintln!("skipping: {v} is set and overrides the cache");
            return;
        }
    }
    let default = Plan::default_for(&info);
    // A plan unlike the default in its tile.
    let tuned_plan = Plan {
        mr: if default.mr == 3 { 2 } else { 3 },
        nv: 4,
        nr: 2,
        local: default.local,
        pack_a: PackPolicy::Always,
        rows_per_item: default.rows_per_item,
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tune.json");
    let entry = |driver: &str, hash: &str| Entry {
        platform: info.platform.clone(),
        device: info.name.clone(),
        driver: driver.into(),
        kernel_hash: hash.into(),
        plan: tuned_plan,
        classes: BTreeMap::new(),
        tuning_s: 1.0,
        tuned_at: 0,
    };
    let write = |e: Entry| {
        let mut c = Cache::default();
        c.insert(e);
        c.save(&path).unwrap();
    };
    std::env::set_var(CACHE_ENV, &path);
    let opened = || OpenClDevice::from_info(info.clone()).unwrap().gemm_params();

    write(entry(&info.driver_version, &tuned::kernel_hash()));
    assert_eq!(opened(), tuned_plan.gemm(), "a fresh entry applies");

    write(entry("another driver 0.0", &tuned::kernel_hash()));
    let c = Cache::load(&path).unwrap();
    assert!(matches!(c.lookup(&info), Lookup::Stale(_, ref why) if why.contains("driver")));
    assert_eq!(opened(), default.gemm(), "a stale driver is ignored");

    write(entry(&info.driver_version, "0123456789abcdef"));
    let c = Cache::load(&path).unwrap();
    assert!(matches!(c.lookup(&info), Lookup::Stale(_, ref why) if why.contains("kernel")));
    assert_eq!(opened(), default.gemm(), "changed kernels are ignored");

    std::env::set_var(CACHE_ENV, "off");
    write(entry(&info.driver_version, &tuned::kernel_hash()));
    assert_eq!(opened(), default.gemm(), "`off` disables the cache");
    let _: GemmParams = default.gemm();
}
