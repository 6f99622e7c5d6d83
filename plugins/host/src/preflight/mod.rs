//! The pre-flight load: before a candidate is opened in this process, a fresh process
//! opens it first — `dlopen`, the entry symbol, the call to it and a read of the table's
//! header — and reports what it found. `dlopen` cannot be made safe against a hostile or
//! corrupt file inside one process (relocations, initializers and destructors run its
//! contents); another process can take the crash instead.
//!
//! **A fresh process, not a fork.** The check runs a small helper program
//! (`helper/preflight.rs`, embedded in this crate: see [`helper`]) with
//! `std::process::Command`, which starts it with `posix_spawn` or `fork` immediately
//! followed by `exec`. Forking the application and calling `dlopen` in the child, as this
//! crate once did, is undefined in a multi-threaded process (only async-signal-safe calls
//! are allowed after `fork`): a thread of the application inside `dlopen` at the moment of
//! the fork left the child's loader state broken, and good plugins were rejected.
//!
//! **The verdict is a line on a pipe, tagged with a nonce** that this process draws for
//! each check. The helper's exit status proves nothing: a library whose initializer calls
//! `_exit(0)` (or exits with any code) ends the helper without a verdict and is rejected.
//! The exit status only explains a missing verdict (the signal of a crash). An application
//! that ignores `SIGCHLD` has its children reaped by the system, so no status can be read
//! at all: the pipe still carries the verdict, and a missing one still rejects the file.
//! (The nonce stops accidents, not a library written to fool this check: such a library
//! gets to run in the application anyway once loaded.)
//!
//! **Whose fault.** A crash, a hang past [`TIMEOUT`] or an exit during the load are the
//! file's ([`Error::Load`]); a check that cannot run (no process can be started, the
//! helper cannot be executed anywhere, it was killed from outside) is not, and says so
//! ([`Error::PreflightUnavailable`]); the file is not loaded either way.

mod helper;

use std::path::Path;

use crate::error::{Error, Result};

/// How long the helper may take to load a candidate.
pub const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// What the helper found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// The library loads and its entry symbol returns: load it in process.
    Load,
    /// The library loads but does not export the entry symbol: not a plugin, and never
    /// mapped into this process (its destructors could be as broken as its contents).
    NoEntrySymbol,
}

/// Signals that mean the code in the process crashed (the file's fault), as opposed to
/// being killed from outside.
#[cfg(unix)]
const CRASH_SIGNALS: [(i32, &str); 7] = [
    (libc::SIGSEGV, "SIGSEGV"),
    (libc::SIGBUS, "SIGBUS"),
    (libc::SIGILL, "SIGILL"),
    (libc::SIGFPE, "SIGFPE"),
    (libc::SIGABRT, "SIGABRT"),
    (libc::SIGSYS, "SIGSYS"),
    (libc::SIGTRAP, "SIGTRAP"),
];

/// Loads `path` in the helper process first: what it found, or why the file is not
/// loaded.
#[cfg(unix)]
pub(crate) fn check(path: &Path) -> Result<Found> {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;

    let unavailable = |reason: String| Error::PreflightUnavailable {
        path: path.to_path_buf(),
        reason,
    };
    let nonce = nonce();
    let mut child = helper::spawn(|cmd| {
        cmd.arg(&nonce)
            .arg(path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
    })
    .map_err(unavailable)?;
    let (out, err, timed_out) = collect(&mut child);
    if timed_out {
        let _ = child.kill();
        let _ = child.wait();
        return Err(Error::Load {
            path: path.to_path_buf(),
            reason: format!(
                "loading it in a test process did not finish within {} s (an initializer \
                 that never returns?), so it was not loaded",
                TIMEOUT.as_secs()
            ),
        });
    }
    // Both pipes are closed: the helper has exited or is about to. `None` when the
    // system reaped it already (this process ignores SIGCHLD).
    let status = wait_briefly(&mut child);
    let verdict = parse(&out, &nonce);
    let crash = |what: String| {
        let stderr = String::from_utf8_lossy(&err);
        let stderr = stderr.trim();
        let mut reason = format!(
            "loading it in a test process {what}: the file is a corrupt or hostile shared \
             library, so it was not loaded"
        );
        if !stderr.is_empty() {
            reason.push_str(&format!(" (its output: {})", clip(stderr)));
        }
        Error::Load {
            path: path.to_path_buf(),
            reason,
        }
    };
    if let Some(st) = status {
        if let Some(sig) = st.signal() {
            return match CRASH_SIGNALS.iter().find(|(s, _)| *s == sig) {
                Some((_, name)) => Err(crash(format!("crashed with signal {sig} ({name})"))),
                None => Err(unavailable(format!(
                    "the check process was killed by signal {sig} from outside (out of \
                     memory?)"
                ))),
            };
        }
        if verdict.is_some() && st.code() != Some(0) {
            // The verdict was written, then something of the library's (a thread it
            // started) ended the process with another code.
            return Err(crash(format!(
                "ended with exit code {} after the load",
                st.code().unwrap_or(-1)
            )));
        }
    }
    match verdict {
        Some(Verdict::Loaded) => Ok(Found::Load),
        Some(Verdict::NoSymbol) => Ok(Found::NoEntrySymbol),
        Some(Verdict::NoLibrary(msg)) => Err(Error::Load {
            path: path.to_path_buf(),
            reason: crate::error::strip_path(path, &msg),
        }),
        None => match status.and_then(|s| s.code()) {
            Some(code) => Err(crash(format!(
                "ended with exit code {code} before the load finished (the library's own \
                 code exited)"
            ))),
            None => Err(crash(
                "ended without a verdict (its exit status cannot be read: this process \
                 ignores SIGCHLD, so the system reaped it)"
                    .into(),
            )),
        },
    }
}

/// Without `posix_spawn`/`fork`, candidates are loaded in process directly.
#[cfg(not(unix))]
pub(crate) fn check(_path: &Path) -> Result<Found> {
    Ok(Found::Load)
}

#[derive(Debug, PartialEq)]
enum Verdict {
    Loaded,
    NoSymbol,
    NoLibrary(String),
}

/// The verdict line carrying `nonce`, if the helper wrote one.
fn parse(out: &[u8], nonce: &str) -> Option<Verdict> {
    let text = String::from_utf8_lossy(out);
    let prefix = format!("neurokern-preflight {nonce} ");
    let line = text.lines().find_map(|l| l.strip_prefix(&prefix))?;
    let (word, detail) = line.split_once(' ').unwrap_or((line, ""));
    match word {
        "loaded" => Some(Verdict::Loaded),
        "no-symbol" => Some(Verdict::NoSymbol),
        "no-library" => Some(Verdict::NoLibrary(detail.trim().to_string())),
        _ => None,
    }
}

/// 128 random bits, hex: from the system's random source, else from std's randomly
/// keyed hasher mixed with the time and a counter.
fn nonce() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::io::Read as _;
    let mut b = [0u8; 16];
    let from_os = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    if from_os.is_err() {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        for half in b.chunks_mut(8) {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(N.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos()),
            );
            half.copy_from_slice(&h.finish().to_le_bytes());
        }
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn clip(s: &str) -> String {
    const MAX: usize = 2000;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Reads the helper's stdout and stderr until both close or [`TIMEOUT`] passes (bounded:
/// at most 64 KiB of each is kept). Returns `(stdout, stderr, timed_out)`.
#[cfg(unix)]
fn collect(child: &mut std::process::Child) -> (Vec<u8>, Vec<u8>, bool) {
    use std::io::Read as _;
    use std::os::fd::AsRawFd;
    const KEEP: usize = 64 << 10;
    let deadline = std::time::Instant::now() + TIMEOUT;
    /// A pipe being read: the reader, its descriptor, what was kept, closed yet.
    type Pipe = (Box<dyn std::io::Read>, i32, Vec<u8>, bool);
    let mut pipes: Vec<Pipe> = Vec::new();
    if let Some(o) = child.stdout.take() {
        let fd = o.as_raw_fd();
        pipes.push((Box::new(o), fd, Vec::new(), false));
    }
    if let Some(e) = child.stderr.take() {
        let fd = e.as_raw_fd();
        pipes.push((Box::new(e), fd, Vec::new(), false));
    }
    loop {
        let open: Vec<usize> = (0..pipes.len()).filter(|&i| !pipes[i].3).collect();
        if open.is_empty() {
            break;
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            let mut it = pipes.into_iter().map(|p| p.2);
            return (
                it.next().unwrap_or_default(),
                it.next().unwrap_or_default(),
                true,
            );
        }
        let mut fds: Vec<libc::pollfd> = open
            .iter()
            .map(|&i| libc::pollfd {
                fd: pipes[i].1,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let ms = i32::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX);
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd structures.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if r < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            break;
        }
        for (k, &i) in open.iter().enumerate() {
            if fds[k].revents == 0 {
                continue;
            }
            let mut chunk = [0u8; 4096];
            let p = &mut pipes[i];
            match p.0.read(&mut chunk) {
                Ok(0) | Err(_) => p.3 = true,
                Ok(n) => {
                    let room = KEEP.saturating_sub(p.2.len());
                    p.2.extend_from_slice(&chunk[..n.min(room)]);
                }
            }
        }
    }
    let mut it = pipes.into_iter().map(|p| p.2);
    (
        it.next().unwrap_or_default(),
        it.next().unwrap_or_default(),
        false,
    )
}

/// The helper's exit status, waiting a little for a process whose pipes are closed;
/// `None` when it cannot be read (reaped by the system, or still running).
#[cfg(unix)]
fn wait_briefly(child: &mut std::process::Child) -> Option<std::process::ExitStatus> {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return Some(s),
            Ok(None) if std::time::Instant::now() < until => {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Ok(None) => {
                // It closed its pipes but lives on: end it; the verdict decides.
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            Err(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verdict_counts_only_with_the_nonce() {
        let out = b"noise\nneurokern-preflight abc loaded \n";
        assert_eq!(parse(out, "abc"), Some(Verdict::Loaded));
        assert_eq!(parse(out, "abd"), None);
        assert_eq!(
            parse(b"neurokern-preflight n no-library x: bad ELF\n", "n"),
            Some(Verdict::NoLibrary("x: bad ELF".into()))
        );
        assert_ne!(nonce(), nonce());
    }
}
