//! Where the pre-flight helper runs from. Its bytes are embedded in this crate (built by
//! `build.rs`); before the first check they are put where the system can execute them:
//!
//! 1. on Linux, an anonymous in-memory file (`memfd_create`), executed as
//!    `/proc/self/fd/N`: nothing on disk, immune to `noexec` temp directories;
//! 2. otherwise (no memfd, `/proc` not mounted, or executing memfds forbidden by
//!    `vm.memfd_noexec`), a file in the user's cache directory
//!    (`$XDG_CACHE_HOME/neurokern` or `~/.cache/neurokern`; the temp directory as a last
//!    resort) named by a hash of its content, written once, atomically (write a private
//!    temporary file, then rename) and checked byte for byte before each first use.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Mutex;

/// The helper program (see `helper/preflight.rs`).
static HELPER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/neurokern-preflight"));

/// Where the helper was last run from successfully, so later checks start there.
static WORKING: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Starts the helper with `configure` applied to its command, trying each place it can
/// run from in turn. The error says why no place worked.
pub(crate) fn spawn(configure: impl Fn(&mut Command)) -> Result<Child, String> {
    if HELPER.is_empty() {
        return Err("this build embeds no pre-flight helper".into());
    }
    let known = WORKING.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if let Some(p) = known {
        let mut cmd = Command::new(&p);
        configure(&mut cmd);
        match cmd.spawn() {
            Ok(c) => return Ok(c),
            Err(e) if !unusable(&e) => return Err(format!("cannot start {}: {e}", p.display())),
            Err(_) => {} // removed or replaced since: place it again
        }
    }
    let mut why = Vec::new();
    for place in [memfd as fn() -> Result<PathBuf, String>, cache_file] {
        let p = match place() {
            Ok(p) => p,
            Err(e) => {
                why.push(e);
                continue;
            }
        };
        let mut cmd = Command::new(&p);
        configure(&mut cmd);
        match cmd.spawn() {
            Ok(c) => {
                *WORKING.lock().unwrap_or_else(|p| p.into_inner()) = Some(p);
                return Ok(c);
            }
            Err(e) if unusable(&e) => why.push(format!("{} cannot be executed: {e}", p.display())),
            // Out of processes or memory: another place would fail the same way.
            Err(e) => return Err(format!("cannot start {}: {e}", p.display())),
        }
    }
    Err(why.join("; "))
}

/// An error that says this place cannot run programs (as opposed to a lack of resources).
fn unusable(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), NotFound | PermissionDenied) || e.raw_os_error() == Some(libc::ENOEXEC)
}

#[cfg(target_os = "linux")]
fn memfd() -> Result<PathBuf, String> {
    use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
    use std::sync::OnceLock;
    // One memfd per process, kept open for its lifetime (close-on-exec: programs the
    // application runs do not inherit it).
    static FD: OnceLock<Result<i32, String>> = OnceLock::new();
    let fd = FD.get_or_init(|| {
        // SAFETY: a valid nul-terminated name and flags; the result is checked.
        let raw = unsafe { libc::memfd_create(c"neurokern-preflight".as_ptr(), libc::MFD_CLOEXEC) };
        if raw < 0 {
            return Err(format!("memfd_create: {}", std::io::Error::last_os_error()));
        }
        // SAFETY: a descriptor just created and owned by nobody else.
        let owned = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut f = std::fs::File::from(owned);
        f.write_all(HELPER)
            .map_err(|e| format!("writing the in-memory helper: {e}"))?;
        Ok(OwnedFd::from(f).into_raw_fd())
    });
    let fd = fd.clone()?;
    let p = PathBuf::from(format!("/proc/self/fd/{fd}"));
    if !p.exists() {
        return Err("/proc is not mounted".into());
    }
    Ok(p)
}

#[cfg(not(target_os = "linux"))]
fn memfd() -> Result<PathBuf, String> {
    Err("no in-memory executables on this system".into())
}

/// The helper as a file in the cache directory (see the module documentation).
fn cache_file() -> Result<PathBuf, String> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in HELPER {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let name = format!("preflight-{}-{h:016x}", env!("CARGO_PKG_VERSION"));
    let mut tried = Vec::new();
    for dir in cache_dirs() {
        match place_in(&dir, &name) {
            Ok(p) => return Ok(p),
            Err(e) => tried.push(format!("{}: {e}", dir.display())),
        }
    }
    Err(format!(
        "no cache directory to put the helper in ({})",
        tried.join("; ")
    ))
}

fn cache_dirs() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        v.push(PathBuf::from(d).join("neurokern"));
    }
    if let Some(d) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        v.push(PathBuf::from(d).join(".cache/neurokern"));
    }
    // SAFETY: `getuid` has no preconditions.
    let uid = unsafe { libc::getuid() };
    v.push(std::env::temp_dir().join(format!("neurokern-{uid}")));
    v
}

fn place_in(dir: &Path, name: &str) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    // A shared directory (the temp dir fallback) must be ours alone, or another user
    // could swap the program between our check and its execution.
    let meta = std::fs::metadata(dir)?;
    // SAFETY: `getuid` has no preconditions.
    if meta.uid() != unsafe { libc::getuid() } || meta.mode() & 0o022 != 0 {
        return Err(std::io::Error::other(
            "owned by another user or writable by others",
        ));
    }
    let path = dir.join(name);
    if std::fs::read(&path).is_ok_and(|b| b == HELPER) {
        return Ok(path);
    }
    let tmp = dir.join(format!("{name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o700)
        .open(&tmp)?;
    let written = f.write_all(HELPER).and_then(|()| f.sync_all());
    drop(f);
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, &path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(path)
}
