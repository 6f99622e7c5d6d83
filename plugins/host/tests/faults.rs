//! Faults the host survives. Where loading a bad library could crash the process (a
//! truncated ELF, a plugin that panics), the test re-runs itself in a subprocess and
//! checks the child's verdict, so a crash fails the test instead of the whole run.
//!
//! The fixture plugin (`tests/fixtures/plugin`) picks its behaviour from
//! `NEUROKERN_FIXTURE_MODE` when its entry symbol is called; each mode runs in its own
//! subprocess, because a library is loaded (and its entry called) once per process.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use neurokern::{Backend, Device, ElemType, Error, Runtime, Source, Status, Tensor};

const CHILD: &str = "NEUROKERN_FAULT_TEST_CHILD";
const FIXTURE: &str = "NEUROKERN_FAULT_TEST_FIXTURE";
const CPU: &str = "NEUROKERN_FAULT_TEST_CPU";

/// Runs `body` in a child process (this test binary, only test `name`) with the fixture
/// in `mode`; in the child, runs it directly.
fn in_child(name: &str, mode: &str, body: impl FnOnce(&Path, &Path)) {
    if std::env::var_os(CHILD).is_some() {
        let fixture = PathBuf::from(std::env::var_os(FIXTURE).expect("fixture path"));
        let cpu = PathBuf::from(std::env::var_os(CPU).expect("cpu path"));
        body(&fixture, &cpu);
        return;
    }
    let fixture = common::fixture_plugin();
    let cpu = common::cpu_plugin();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env(FIXTURE, &fixture)
        .env(CPU, &cpu)
        .env("NEUROKERN_FIXTURE_MODE", mode)
        .env_remove("NEUROKERN_PLUGIN_PATH")
        .output()
        .expect("run the child test");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "child `{name}` failed ({}):\n{text}",
        out.status
    );
    assert!(
        text.contains("1 passed"),
        "child `{name}` did not run the test:\n{text}"
    );
}

/// A copy of `src` in a fresh directory, under `name` (a distinct file: `dlopen` loads
/// it afresh).
fn copy_as(src: &Path, name: &str) -> PathBuf {
    let dir = common::temp_dir("copy");
    let dst = dir.join(name);
    std::fs::copy(src, &dst).unwrap();
    dst
}

#[test]
fn wrong_abi_major_is_refused_naming_file_and_versions() {
    in_child(
        "wrong_abi_major_is_refused_naming_file_and_versions",
        "wrong_major",
        |fixture, _| {
            let err = Runtime::load(fixture).unwrap_err();
            match &err {
                Error::AbiMajor {
                    path,
                    plugin_major,
                    plugin_minor,
                    host_major,
                    ..
                } => {
                    assert_eq!(path, fixture);
                    assert_eq!(*plugin_major, neurokern::ABI_MAJOR + 1);
                    assert_eq!(*plugin_minor, 3);
                    assert_eq!(*host_major, neurokern::ABI_MAJOR);
                }
                e => panic!("expected AbiMajor, got {e}"),
            }
            let msg = err.to_string();
            assert!(msg.contains(&fixture.display().to_string()), "{msg}");
            assert!(msg.contains("ABI 2.3") && msg.contains("ABI 1.0"), "{msg}");
        },
    );
}

#[test]
fn table_too_small_for_its_version_is_refused() {
    in_child(
        "table_too_small_for_its_version_is_refused",
        "too_small",
        |fixture, _| match Runtime::load(fixture).unwrap_err() {
            Error::TableTooSmall {
                size: 16,
                needed,
                major: 1,
                minor: 0,
                ..
            } => {
                assert_eq!(needed, std::mem::size_of::<neurokern_abi::PluginTable>());
            }
            e => panic!("expected TableTooSmall, got {e}"),
        },
    );
}

#[test]
fn null_table_and_null_entry_point_are_refused() {
    in_child(
        "null_table_and_null_entry_point_are_refused",
        "null_table",
        |fixture, _| {
            let err = Runtime::load(fixture).unwrap_err();
            assert!(matches!(err, Error::BadTable { what: "null", .. }), "{err}");
        },
    );
}

#[test]
fn null_entry_point_is_refused() {
    in_child("null_entry_point_is_refused", "null_entry", |fixture, _| {
        let err = Runtime::load(fixture).unwrap_err();
        assert!(
            matches!(err, Error::NullEntry { entry: "run", .. }),
            "{err}"
        );
    });
}

#[test]
fn failing_probe_is_reported_with_its_reason() {
    in_child(
        "failing_probe_is_reported_with_its_reason",
        "probe_fails",
        |fixture, _| {
            let rt = Runtime::load(fixture).expect("a plugin that cannot run still loads");
            let p = rt.plugin("fixture").unwrap();
            assert_eq!(p.probe(), Err("libfixture-driver.so.1 not found (fixture)"));
            let err = rt.device("fixture").unwrap_err();
            assert!(matches!(err, Error::Unavailable { .. }), "{err}");
            assert!(
                err.to_string()
                    .contains("cannot run here: libfixture-driver.so.1"),
                "{err}"
            );
            // Only the built-in CPU device remains.
            let devs = rt.devices();
            assert_eq!(devs.len(), 1);
            assert_eq!(devs[0].backend_name(), neurokern::BUILTIN);
            let rejected = rt.rejected();
            assert_eq!(rejected.len(), 1, "{rejected:?}");
            assert_eq!(rejected[0].0, "fixture");
            assert!(
                rejected[0].1.contains("libfixture-driver.so.1 not found"),
                "{rejected:?}"
            );
        },
    );
}

#[test]
fn library_without_entry_symbol_is_refused() {
    let libm = [
        "/lib/x86_64-linux-gnu/libm.so.6",
        "/usr/lib/x86_64-linux-gnu/libm.so.6",
        "/lib/aarch64-linux-gnu/libm.so.6",
        "/usr/lib/aarch64-linux-gnu/libm.so.6",
        "/lib64/libm.so.6",
        "/usr/lib64/libm.so.6",
        "/usr/lib/libm.so.6",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.is_file());
    let Some(libm) = libm else {
        eprintln!("no libm.so.6 found: skipping");
        return;
    };
    let err = Runtime::load(&libm).unwrap_err();
    match &err {
        Error::NoEntrySymbol { path, symbol } => {
            assert_eq!(path, &libm);
            assert_eq!(*symbol, "neurokern_plugin_entry");
        }
        e => panic!("expected NoEntrySymbol, got {e}"),
    }
    assert!(err.to_string().contains("not a neurokern plugin"), "{err}");
}

#[test]
fn random_bytes_named_like_a_plugin_are_rejected_and_discovery_goes_on() {
    let dir = common::temp_dir("garbage");
    let mut r = common::Rng(42);
    let bytes: Vec<u8> = (0..8192).map(|_| r.next_u64() as u8).collect();
    let garbage = dir.join(neurokern::dev::plugin_file_name("garbage"));
    std::fs::write(&garbage, bytes).unwrap();
    std::fs::copy(
        common::cpu_plugin(),
        dir.join(neurokern::dev::plugin_file_name("cpu")),
    )
    .unwrap();
    // An empty file, too.
    std::fs::write(dir.join(neurokern::dev::plugin_file_name("empty")), b"").unwrap();
    let rt = Runtime::builder().only_explicit().path(&dir).build();
    assert_eq!(rt.candidates().len(), 3);
    let bad: Vec<_> = rt
        .candidates()
        .iter()
        .filter(|c| c.outcome.is_err())
        .collect();
    assert_eq!(bad.len(), 2);
    for c in bad {
        assert_eq!(c.source, Source::Explicit);
        let e = c.outcome.as_ref().unwrap_err();
        assert!(matches!(e, Error::Load { .. }), "{e}");
        assert!(
            e.to_string()
                .contains("cannot be loaded as a shared library"),
            "{e}"
        );
    }
    assert_eq!(rt.rejected().len(), 2, "{:?}", rt.rejected());
    // The good plugin next to the garbage still works (the built-in device comes last).
    assert_eq!(rt.devices().len(), 2);
    assert_eq!(rt.devices()[0].backend_name(), "cpu");
    let dev = rt.device("cpu").unwrap();
    matmul_check(&dev);
}

#[test]
fn truncated_elf_is_rejected() {
    in_child("truncated_elf_is_rejected", "ok", |_, cpu| {
        let bytes = std::fs::read(cpu).unwrap();
        assert_eq!(
            &bytes[..4],
            b"\x7fELF",
            "the CPU plugin is an ELF file on this platform"
        );
        for cut in [16, 64, 4096, bytes.len() / 2, bytes.len() - 1] {
            let dir = common::temp_dir("trunc");
            let p = dir.join(neurokern::dev::plugin_file_name("truncated"));
            std::fs::write(&p, &bytes[..cut]).unwrap();
            let err = Runtime::load(&p).unwrap_err();
            assert!(matches!(err, Error::Load { .. }), "cut at {cut}: {err}");
        }
    });
}

#[test]
fn panicking_plugin_gives_an_error_and_the_host_goes_on() {
    in_child(
        "panicking_plugin_gives_an_error_and_the_host_goes_on",
        "panic",
        |fixture, cpu| {
            let rt = Runtime::builder()
                .only_explicit()
                .path(fixture)
                .path(cpu)
                .build();
            assert_eq!(
                rt.plugins().len(),
                3,
                "two files and the built-in: {:?}",
                rt.candidates()
            );
            let bad = rt.device("fixture").unwrap();
            let a = bad.upload(&[2, 2], &[1.0f32, 2.0, 3.0, 4.0]).unwrap();
            let w = bad.upload(&[2, 2], &[1.0f32, 0.0, 0.0, 1.0]).unwrap();
            let mut c = bad.zeros(ElemType::F32, &[2, 2]).unwrap();
            for _ in 0..3 {
                let err = bad.matmul_into(&a, &w, &mut c).unwrap_err();
                match &err {
                    Error::Plugin {
                        plugin,
                        entry,
                        status,
                        message,
                        ..
                    } => {
                        assert_eq!(plugin, "fixture");
                        assert_eq!(*entry, "run");
                        assert_eq!(*status, Status::PANIC);
                        assert!(
                            message.contains("deliberate panic in run (matmul)"),
                            "{message}"
                        );
                    }
                    e => panic!("expected a plugin panic, got {e}"),
                }
            }
            let err = bad.synchronize().unwrap_err();
            assert!(
                matches!(
                    &err,
                    Error::Plugin {
                        status: Status::PANIC,
                        entry: "synchronize",
                        ..
                    }
                ),
                "{err}"
            );
            assert!(err.to_string().contains("index out of bounds"), "{err}");
            // Panics on several threads at once: each thread gets its own message.
            std::thread::scope(|s| {
                for t in 0..4 {
                    let bad = &bad;
                    s.spawn(move || {
                        for _ in 0..20 {
                            let x = bad.zeros(ElemType::F32, &[t + 1]).unwrap();
                            let mut y = bad.zeros(ElemType::F32, &[t + 1]).unwrap();
                            let err = if t % 2 == 0 {
                                bad.gelu_into(&x, &mut y).unwrap_err()
                            } else {
                                bad.synchronize().unwrap_err()
                            };
                            let want = if t % 2 == 0 {
                                "run (gelu)"
                            } else {
                                "index out of bounds"
                            };
                            assert!(err.to_string().contains(want), "thread {t}: {err}");
                        }
                    });
                }
            });
            // The same device still works for what does not panic, and so does another plugin.
            assert_eq!(a.download::<f32>().unwrap(), vec![1.0, 2.0, 3.0, 4.0]);
            matmul_check(&rt.device("cpu").unwrap());
        },
    );
}

#[test]
fn two_copies_of_a_plugin_load_once_deterministically() {
    let dir = common::temp_dir("dup");
    let cpu = common::cpu_plugin();
    // Named so that directory order decides: `…_cpu` before `…_cpu_copy`.
    let first = dir.join(neurokern::dev::plugin_file_name("cpu"));
    let second = dir.join(neurokern::dev::plugin_file_name("cpu_copy"));
    std::fs::copy(&cpu, &second).unwrap();
    std::fs::copy(&cpu, &first).unwrap();
    for _ in 0..3 {
        // Found twice more: explicitly as a file and through the (injected) environment.
        let rt = Runtime::builder()
            .only_explicit()
            .path(&dir)
            .env_path(Some(dir.clone().into_os_string()))
            .build();
        assert_eq!(rt.plugins().len(), 2, "one file and the built-in");
        assert_eq!(rt.plugins()[0].path(), first);
        let c = rt.candidates();
        assert_eq!(
            c.len(),
            2,
            "the same files reached twice are listed once: {c:?}"
        );
        assert!(c[0].outcome.is_ok());
        match &c[1].outcome {
            Err(Error::Duplicate {
                path,
                first: f,
                why,
            }) => {
                assert_eq!(path, &second);
                assert_eq!(f, &first);
                assert_eq!(*why, "same content as");
            }
            other => panic!("expected a duplicate, got {other:?}"),
        }
    }
    // A plugin with the same name but other content (the in-tree build next to a copy
    // of the fixture in "ok" mode is named `fixture`, not `cpu`): the name rule.
    let fixture = copy_as(
        &common::fixture_plugin(),
        &neurokern::dev::plugin_file_name("fixture"),
    );
    let rt = Runtime::builder()
        .only_explicit()
        .path(&fixture)
        .path(&dir)
        .build();
    let names: Vec<&str> = rt.plugins().iter().map(|p| p.name()).collect();
    assert_eq!(names, ["fixture", "cpu", neurokern::BUILTIN]);
}

#[test]
fn a_tensor_of_device_a_passed_to_device_b_is_an_error() {
    let rt = Runtime::builder()
        .only_explicit()
        .path(common::cpu_plugin())
        .path(common::fixture_plugin())
        .build();
    let a_dev = rt.device("cpu").unwrap();
    let b_dev = rt.device("fixture").unwrap();
    // A second instance of the same device (`Runtime::device` would return the first).
    let a2_dev = rt.plugin("cpu").unwrap().open(0).unwrap();
    assert!(rt.device("cpu").unwrap().same_device(&a_dev));
    assert!(!a2_dev.same_device(&a_dev));
    let x = a_dev.upload(&[2, 2], &[1.0f32; 4]).unwrap();
    let w = b_dev.upload(&[2, 2], &[1.0f32; 4]).unwrap();
    let mut c = b_dev.zeros(ElemType::F32, &[2, 2]).unwrap();
    let err = b_dev.matmul_into(&x, &w, &mut c).unwrap_err();
    match &err {
        Error::WrongDevice {
            op,
            operand,
            expected,
            got,
        } => {
            assert_eq!(*op, "matmul");
            assert_eq!(*operand, "a");
            assert!(expected.starts_with("fixture:0"), "{expected}");
            assert!(got.starts_with("cpu:0"), "{got}");
        }
        e => panic!("expected WrongDevice, got {e}"),
    }
    let mut y = a2_dev.zeros(ElemType::F32, &[2, 2]).unwrap();
    let err = a2_dev.gelu_into(&x, &mut y).unwrap_err();
    assert!(
        matches!(err, Error::WrongDevice { operand: "x", .. }),
        "{err}"
    );
    // Through the Backend trait, and for copies and host transfers.
    let err = a_dev.copy(x.buffer(), y.buffer()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::WrongDevice {
                op: "copy",
                operand: "dst",
                ..
            }
        ),
        "{err}"
    );
    let err = b_dev.write(x.buffer(), &[0u8; 16]).unwrap_err();
    assert!(
        matches!(err, Error::WrongDevice { op: "write", .. }),
        "{err}"
    );
    let mut t = y;
    let err = t.copy_from(&x).unwrap_err();
    assert!(matches!(err, Error::WrongDevice { .. }), "{err}");
    // Nothing was written.
    assert_eq!(c.download::<f32>().unwrap(), vec![0.0; 4]);
}

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn runtime_device_tensor_are_send_and_sync_and_work_from_many_threads() {
    assert_send_sync::<Runtime>();
    assert_send_sync::<neurokern::Plugin>();
    assert_send_sync::<Device>();
    assert_send_sync::<neurokern::Buffer>();
    assert_send_sync::<Tensor>();
    assert_send_sync::<Error>();
    let rt = Runtime::load(common::cpu_plugin()).unwrap();
    let dev = rt.device("cpu").unwrap();
    let shared_w = dev
        .upload(&[3, 2], &[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0])
        .unwrap();
    std::thread::scope(|s| {
        for t in 0..8 {
            let dev = dev.clone();
            let w = &shared_w;
            s.spawn(move || {
                for i in 0..50 {
                    let v = (t * 100 + i) as f32;
                    let a = dev.upload(&[1, 3], &[v, 1.0, 0.0]).unwrap();
                    let mut c = dev.zeros(ElemType::F32, &[1, 2]).unwrap();
                    dev.matmul_into(&a, w, &mut c).unwrap();
                    assert_eq!(c.download::<f32>().unwrap(), vec![v + 3.0, 2.0 * v + 4.0]);
                    // Errors carry their own message on every thread.
                    let mut bad = dev.zeros(ElemType::F32, &[1, 3]).unwrap();
                    let err = dev.matmul_into(&a, w, &mut bad).unwrap_err();
                    assert!(matches!(err, Error::Shape { operand: "c", .. }), "{err}");
                }
            });
        }
        // Devices opened on one thread and used on another; tensors moved across threads.
        let dev2 = rt.device("cpu").unwrap();
        let x = dev2.upload(&[4], &[1.0f32, -1.0, 0.5, 2.0]).unwrap();
        s.spawn(move || {
            let mut y = dev2.zeros(ElemType::F32, &[4]).unwrap();
            dev2.threshold_spike_into(&x, &mut y, 0.75).unwrap();
            assert_eq!(y.download::<f32>().unwrap(), vec![1.0, 0.0, 0.0, 1.0]);
        });
    });
}

#[test]
fn missing_file_and_empty_discovery_are_explained() {
    let err = Runtime::load("/nonexistent/libneurokern_plugin_nothing.so").unwrap_err();
    assert!(matches!(err, Error::NotAPluginFile { .. }), "{err}");
    assert!(err.to_string().contains("no such file"), "{err}");
    let rt = Runtime::builder().only_explicit().builtin(false).build();
    let err = rt.device("cpu").unwrap_err();
    assert!(err.to_string().contains("no plugin loaded"), "{err}");
    assert!(err.to_string().contains("NEUROKERN_PLUGIN_PATH"), "{err}");
    assert!(
        err.to_string()
            .contains("cargo build --release -p neurokern-plugin-cpu"),
        "{err}"
    );
}

fn matmul_check(dev: &Device) {
    let a = dev.upload(&[2, 2], &[1.0f32, 2.0, 3.0, 4.0]).unwrap();
    let w = dev.upload(&[2, 2], &[1.0f32, 0.0, 0.0, 1.0]).unwrap();
    let mut c = dev.zeros(ElemType::F32, &[2, 2]).unwrap();
    dev.matmul_into(&a, &w, &mut c).unwrap();
    assert_eq!(c.download::<f32>().unwrap(), vec![1.0, 2.0, 3.0, 4.0]);
}
