//! Discovery reads only regular files of a plausible size and lists everything else it
//! met with the reason (issue 10, break 4: a FIFO named like a plugin blocked discovery
//! forever, `/dev/zero` read until memory ran out, and directories named like a plugin or
//! symlink loops were skipped without a word). Each discovery runs on a thread with a
//! deadline, so a blocking read fails the test instead of hanging it.

#![cfg(unix)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use neurokern::{Error, Runtime};

/// Discovers `paths` (explicit) and `env` (as `NEUROKERN_PLUGIN_PATH`) on a thread;
/// `(path, error message)` for every rejected candidate.
fn discover(paths: Vec<PathBuf>, env: Option<PathBuf>) -> Vec<(PathBuf, String, bool)> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut b = Runtime::builder().only_explicit().builtin(false);
        for p in paths {
            b = b.path(p);
        }
        let rt = b.env_path(env.map(PathBuf::into_os_string)).build();
        let v: Vec<(PathBuf, String, bool)> = rt
            .candidates()
            .iter()
            .filter_map(|c| {
                c.outcome.as_ref().err().map(|e| {
                    (
                        c.path.clone(),
                        e.to_string(),
                        matches!(e, Error::NotAPluginFile { .. }),
                    )
                })
            })
            .collect();
        let _ = tx.send(v);
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("discovery did not finish within 60 s")
}

fn reason_for<'a>(rejected: &'a [(PathBuf, String, bool)], p: &Path) -> &'a str {
    let r = rejected
        .iter()
        .find(|(q, _, _)| q == p)
        .unwrap_or_else(|| panic!("{} is not listed: {rejected:?}", p.display()));
    assert!(r.2, "{} rejected by the wrong error: {}", p.display(), r.1);
    &r.1
}

#[test]
fn a_fifo_named_like_a_plugin_is_listed_not_read() {
    let dir = common::temp_dir("fifo");
    let fifo = dir.join(neurokern::dev::plugin_file_name("fifo"));
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid path string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    // In the environment variable as a directory, and named directly.
    let r = discover(vec![fifo.clone()], Some(dir.clone()));
    assert!(reason_for(&r, &fifo).contains("FIFO"), "{r:?}");
    assert_eq!(r.len(), 1, "reached twice, listed once: {r:?}");
}

#[test]
fn a_device_file_is_listed_not_read() {
    let zero = PathBuf::from("/dev/zero");
    if !zero.exists() {
        return;
    }
    let r = discover(vec![zero.clone()], None);
    assert!(reason_for(&r, &zero).contains("character device"), "{r:?}");
}

#[test]
fn directories_and_symlink_loops_named_like_plugins_are_listed() {
    let dir = common::temp_dir("odd");
    let sub = dir.join(neurokern::dev::plugin_file_name("adir"));
    std::fs::create_dir(&sub).unwrap();
    let a = dir.join(neurokern::dev::plugin_file_name("loop_a"));
    let b = dir.join(neurokern::dev::plugin_file_name("loop_b"));
    std::os::unix::fs::symlink(&b, &a).unwrap();
    std::os::unix::fs::symlink(&a, &b).unwrap();
    let dangling = dir.join(neurokern::dev::plugin_file_name("dangling"));
    std::os::unix::fs::symlink(dir.join("nothing-here"), &dangling).unwrap();
    let r = discover(vec![dir.clone()], None);
    assert!(reason_for(&r, &sub).contains("directory"), "{r:?}");
    assert!(reason_for(&r, &a).contains("symbolic link loop"), "{r:?}");
    assert!(reason_for(&r, &b).contains("symbolic link loop"), "{r:?}");
    assert!(
        reason_for(&r, &dangling).contains("link to nothing"),
        "{r:?}"
    );
}

#[test]
fn a_file_over_the_size_limit_is_listed_not_read() {
    let dir = common::temp_dir("big");
    let big = dir.join(neurokern::dev::plugin_file_name("big"));
    // Sparse: no disk space used.
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(neurokern::MAX_PLUGIN_FILE_SIZE + 1).unwrap();
    drop(f);
    let r = discover(vec![dir], None);
    assert!(reason_for(&r, &big).contains("limit"), "{r:?}");
}

/// Issue 10, first-time user item 1: the error names every directory searched and the
/// command that builds the plugin.
#[test]
fn no_such_device_names_every_directory_searched_and_the_build_command() {
    let dir = common::temp_dir("empty");
    let rt = Runtime::builder()
        .only_explicit()
        .builtin(false)
        .path(&dir)
        .env_path(Some(dir.join("envdir").into_os_string()))
        .build();
    let err = rt.device("opencl").unwrap_err().to_string();
    assert!(err.contains(dir.to_str().unwrap()), "{err}");
    assert!(err.contains(dir.join("envdir").to_str().unwrap()), "{err}");
    assert!(
        err.contains("cargo build --release -p neurokern-plugin-opencl"),
        "{err}"
    );
    assert!(err.contains("[dependencies]"), "{err}");
}
