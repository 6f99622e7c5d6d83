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
        .builtin(false)
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

/// Runs test `name` of this binary again in a child process with `env` set, and checks
/// that it passed there: a test whose failure mode is the death (or the silent exit) of
/// the whole process cannot judge itself.
fn in_child(name: &str, env: &[(&str, &std::path::Path)]) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env("NEUROKERN_PREFLIGHT_TEST_CHILD", "1")
        .env_remove("NEUROKERN_PLUGIN_PATH");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run the child test");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("1 passed"),
        "child `{name}` did not pass ({}):\n{text}",
        out.status
    );
}

const LIB: &str = "NEUROKERN_PREFLIGHT_TEST_LIB";

fn child_lib() -> PathBuf {
    PathBuf::from(std::env::var_os(LIB).expect("library path"))
}

/// Issue 10, break 1: with `SIGCHLD` ignored, `waitpid` fails with `ECHILD`; the check
/// took that as "load it", and a library whose initializer segfaults was opened in the
/// host, which died of SIGSEGV. The verdict now comes on a pipe.
#[test]
fn with_sigchld_ignored_a_crashing_initializer_is_still_rejected() {
    const NAME: &str = "with_sigchld_ignored_a_crashing_initializer_is_still_rejected";
    if std::env::var_os("NEUROKERN_PREFLIGHT_TEST_CHILD").is_none() {
        let Some(lib) = compile(
            "crashing_init_sigchld",
            "__attribute__((constructor)) static void boom(void) { *(volatile int *)0 = 1; }\n",
        ) else {
            eprintln!("no C compiler found: skipping");
            return;
        };
        let cpu = common::cpu_plugin();
        in_child(NAME, &[(LIB, &lib), ("NEUROKERN_PREFLIGHT_TEST_CPU", &cpu)]);
        return;
    }
    // SAFETY: setting a signal disposition; this child process runs only this test.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
    let err = Runtime::load(child_lib()).unwrap_err();
    assert!(matches!(err, Error::Load { .. }), "{err}");
    assert!(err.to_string().contains("not loaded"), "{err}");
    // A good plugin still loads under the same disposition.
    let cpu = PathBuf::from(std::env::var_os("NEUROKERN_PREFLIGHT_TEST_CPU").unwrap());
    Runtime::load(cpu).expect("the CPU plugin loads with SIGCHLD ignored");
}

/// Issue 10, break 2: an initializer that ends the process with the check's own success
/// code (0), or with the code it used for "dlopen refused" (71), passed the check and
/// then ended the host. Neither can forge a verdict now.
#[test]
fn an_initializer_that_exits_cannot_pass_the_check() {
    const NAME: &str = "an_initializer_that_exits_cannot_pass_the_check";
    if std::env::var_os("NEUROKERN_PREFLIGHT_TEST_CHILD").is_none() {
        for (name, code) in [("exit0", "_exit(0)"), ("exit71", "exit(71)")] {
            let Some(lib) = compile(
                name,
                &format!(
                    "#include <stdlib.h>\n#include <unistd.h>\n\
                     __attribute__((constructor)) static void bye(void) {{ {code}; }}\n\
                     void *neurokern_plugin_entry(void) {{ return 0; }}\n"
                ),
            ) else {
                eprintln!("no C compiler found: skipping");
                return;
            };
            in_child(NAME, &[(LIB, &lib)]);
        }
        return;
    }
    let err = Runtime::load(child_lib()).unwrap_err();
    assert!(matches!(err, Error::Load { .. }), "{err}");
    assert!(err.to_string().contains("exit code"), "{err}");
}

/// Issue 10, break 3: the check forked this multi-threaded process and called `dlopen`
/// in the child; with another thread inside `dlopen` at the moment of the fork, good
/// plugins were rejected (6 of 40 discoveries). The check now runs in a fresh process.
#[test]
fn discovery_while_another_thread_calls_dlopen_accepts_the_cpu_plugin() {
    let cpu = common::cpu_plugin();
    let Some(other) = compile("busy_loader", "int busy(void) { return 1; }\n") else {
        eprintln!("no C compiler found: skipping");
        return;
    };
    let c_other = std::ffi::CString::new(other.to_str().unwrap()).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // SAFETY: loading and unloading a trivial library with no initializers.
                unsafe {
                    let h = libc::dlopen(c_other.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
                    if !h.is_null() {
                        libc::dlclose(h);
                    }
                }
            }
        });
        let mut failures = Vec::new();
        for i in 0..40 {
            // A fresh copy each time: a library already mapped here would skip the check.
            let dir = common::temp_dir("busy");
            let copy = dir.join(neurokern::dev::plugin_file_name("cpu"));
            std::fs::copy(&cpu, &copy).unwrap();
            if let Err(e) = neurokern::Runtime::builder()
                .only_explicit()
                .builtin(false)
                .path(&copy)
                .build()
                .candidates()[0]
                .outcome
                .as_ref()
            {
                failures.push(format!("discovery {i}: {e}"));
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(failures.is_empty(), "{failures:#?}");
    });
}
