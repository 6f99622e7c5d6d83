//! The fuzz targets' properties under proptest, inside `cargo test`: the same target
//! bodies, fed random bytes with a small budget, plus every committed seed and pinned
//! crash (the regressions). `cargo xtask ci` runs this after building the CPU plugin in
//! release mode (the `differential` target loads it from the main workspace's
//! `target/release`).

use std::path::Path;

use neurokern_fuzz::targets;
use proptest::prelude::*;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..600)
}

/// Runs `target` on every file of `fuzz/seeds/NAME` and `fuzz/regressions/NAME`.
fn replay(name: &str, target: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for dir in ["seeds", "regressions"] {
        let Ok(rd) = std::fs::read_dir(root.join(dir).join(name)) else {
            continue;
        };
        for e in rd.flatten() {
            target(&std::fs::read(e.path()).expect("reading a committed input"));
            n += 1;
        }
    }
    assert!(n > 0, "no committed inputs for {name}");
}

#[test]
fn committed_inputs_replay() {
    replay("validate", targets::validate::run);
    replay("reference", targets::reference::run);
    replay("differential", targets::differential::run);
    replay("abi", targets::abi::run);
    replay("plugin_file", targets::plugin_file::run);
}

proptest! {
    #![proptest_config(config(2000))]
    #[test]
    fn validation_never_panics(b in bytes()) {
        targets::validate::run(&b);
    }
}

proptest! {
    #![proptest_config(config(600))]
    #[test]
    fn the_reference_never_panics_on_any_call(b in bytes()) {
        targets::reference::run(&b);
    }

    #[test]
    fn the_cpu_plugin_matches_the_reference(b in bytes()) {
        targets::differential::run(&b);
    }

    #[test]
    fn the_c_abi_answers_every_call_with_a_status(b in bytes()) {
        targets::abi::run(&b);
    }
}

proptest! {
    #![proptest_config(config(40))]
    #[test]
    fn garbage_files_are_never_accepted_as_plugins(b in bytes()) {
        targets::plugin_file::run(&b);
    }
}
