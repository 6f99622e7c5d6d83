//! The pre-flight load in a child process: libraries that crash the loader, their own
//! initializer or their entry point are rejected with the reason, and this process goes on.
//! Pinned from the `plugin_file` fuzz target, which found a mutated library whose
//! initializer crashed the host. C libraries are built with the system C compiler; the
//! test is skipped with a message where none is installed.

mod common;

use std::path::PathBuf;
use std::process::Command;

use neurokern::{Error, Runtime};

fn compile(name: &str, source: &str) -> Option<PathBuf> {
    let cc = ["cc", "gcc", "clang"].into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })?;
    let dir = common::temp_dir(&format!("preflight-{name}"));
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, source).unwrap();
    let out = dir.join(neurokern::dev::plugin_file_name(name));
    let ok = Command::new(cc)
        .args(["-shared", "-fPIC", "-O0", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .unwrap()
        .success();
    assert!(ok, "the fixture library {name} does not compile");
    Some(out)
}

fn assert_rejected_as_crash(path: &std::path::Path) {
    match Runtime::load(path) {
        Err(Error::Load { reason, .. }) => {
            assert!(
                reason.contains("test process"),
                "unexpected reason: {reason}"
            );
        }
        Err(e) => panic!("rejected for another reason: {e}"),
        Ok(_) => panic!("a crashing library was loaded"),
    }
}

#[test]
fn a_library_whose_initializer_crashes_is_rejected_and_the_host_survives() {
    let Some(lib) = compile(
        "crashing_init",
        "__attribute__((constructor)) static void boom(void) { *(volatile int *)0 = 1; }\n\
         int unrelated(void) { return 0; }\n",
    ) else {
        eprintln!("no C compiler found: skipping");
        return;
    };
    assert_rejected_as_crash(&lib);
    // Discovery of the same directory reports it and goes on.
    let rt = Runtime::builder()
        .only_explicit()
        .path(lib.parent().unwrap())
        .build();
    assert!(rt.plugins().is_empty());
    assert_eq!(rt.candidates().len(), 1);
    assert!(rt.candidates()[0].outcome.is_err());
}

#[test]
fn a_library_whose_entry_point_crashes_is_rejected() {
    let Some(lib) = compile(
        "crashing_entry",
        "void *neurokern_plugin_entry(void) { return *(void *volatile *)0; }\n",
    ) else {
        eprintln!("no C compiler found: skipping");
        return;
    };
    assert_rejected_as_crash(&lib);
}

#[test]
fn a_library_whose_entry_point_returns_a_wild_pointer_is_rejected() {
    let Some(lib) = compile(
        "wild_table",
        "void *neurokern_plugin_entry(void) { return (void *)0x10; }\n",
    ) else {
        eprintln!("no C compiler found: skipping");
        return;
    };
    assert_rejected_as_crash(&lib);
}

/// Pinned from the `plugin_file` fuzz target: a library without the entry symbol is
/// reported as such without ever being mapped into this process, so a broken destructor
/// in it cannot crash the host at exit (this test binary would die at exit otherwise).
#[test]
fn a_library_without_the_entry_symbol_is_never_loaded_in_process() {
    let Some(lib) = compile(
        "crashing_fini",
        "__attribute__((destructor)) static void boom(void) { *(volatile int *)0 = 1; }\n\
         int unrelated(void) { return 0; }\n",
    ) else {
        eprintln!("no C compiler found: skipping");
        return;
    };
    match Runtime::load(&lib) {
        Err(Error::NoEntrySymbol { .. }) => {}
        other => panic!("expected NoEntrySymbol, got {other:?}"),
    }
}
