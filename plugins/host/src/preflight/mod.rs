//! The pre-flight load: before a candidate is opened in this process, a forked child
//! process opens it first — `dlopen`, the entry symbol, the call to it and a read of the
//! table's header — and exits with a known code. If the child dies of a signal, or exits
//! with any other code (a sanitizer or the library itself may turn a crash into one) —
//! a corrupt library whose dynamic section, symbol table, relocations or initializers
//! make the loader or the entry point crash — the candidate is rejected with that reason and this process never
//! loads it. `dlopen` cannot be made safe against a hostile or corrupt file inside one
//! process; a child process can take the crash instead.
//!
//! Loads are serialized within the host (one at a time), so the fork never happens while
//! another host thread is inside `dlopen`; an application that calls `dlopen` on other
//! threads while it discovers plugins should discover first. The child does nothing but
//! the load and `_exit`. A child that hangs (a library whose
//! initializer never returns, or a lock held by another thread at the moment of the fork)
//! is killed after [`TIMEOUT`] and the candidate is rejected as timed out. Where `fork`
//! itself fails, the check is skipped and the load goes on in process.

use std::path::Path;
#[cfg(unix)]
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// The child's exit code when `dlopen` refused the file.
#[cfg(unix)]
const EXIT_NO_LIBRARY: i32 = 71;
/// The child's exit code when the library has no entry symbol.
#[cfg(unix)]
const EXIT_NO_SYMBOL: i32 = 72;

/// How long a child may take to load a candidate.
#[cfg(unix)]
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// What the child found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// The library loads and exports the entry symbol (or the check could not run): load
    /// it in process.
    Load,
    /// The library loads but does not export the entry symbol: not a plugin, and never
    /// mapped into this process (its destructors could be as broken as its contents).
    NoEntrySymbol,
}

/// Loads `path` in a child process first; an error when that crashed or hung.
#[cfg(unix)]
pub(crate) fn check(path: &Path) -> Result<Found> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;

    let reject = |reason: String| Error::Load {
        path: path.to_path_buf(),
        reason,
    };
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| reject("the path contains a nul byte".into()))?;
    // SAFETY: fork has no memory-safety preconditions. The child below only calls dlopen,
    // dlsym, the entry function, a volatile read and _exit, then never returns into Rust
    // code that could observe state copied from other threads.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Ok(Found::Load); // no child to spare: load in process, as without the check
    }
    if pid == 0 {
        // SAFETY: in the child. `c_path` is a valid C string; the symbol is looked up by a
        // nul-terminated name; the entry function's type is the ABI's; the header read is
        // guarded against null and misalignment, and a bad pointer can only crash this
        // child, which is the point. `_exit` skips destructors and atexit handlers that
        // belong to the parent.
        unsafe {
            // Die of the signal itself, not through handlers this process may have
            // installed (a sanitizer's or a fuzzer's would report the child's crash as
            // the parent's and turn it into an exit code).
            for sig in [
                libc::SIGSEGV,
                libc::SIGBUS,
                libc::SIGILL,
                libc::SIGFPE,
                libc::SIGABRT,
            ] {
                libc::signal(sig, libc::SIG_DFL);
            }
            let h = libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
            if h.is_null() {
                libc::_exit(EXIT_NO_LIBRARY);
            }
            let sym = libc::dlsym(h, neurokern_abi::ENTRY_SYMBOL_NUL.as_ptr().cast());
            if sym.is_null() {
                libc::_exit(EXIT_NO_SYMBOL);
            }
            let entry: neurokern_abi::EntryFn =
                std::mem::transmute::<*mut libc::c_void, neurokern_abi::EntryFn>(sym);
            let table = entry();
            if !table.is_null() && table.is_aligned() {
                let _ = std::ptr::read_volatile(table.cast::<neurokern_abi::TableHeader>());
            }
            libc::_exit(0);
        }
    }
    let start = Instant::now();
    loop {
        let mut status = 0;
        // SAFETY: waiting for our own child; `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            if libc::WIFSIGNALED(status) {
                let sig = libc::WTERMSIG(status);
                return Err(reject(format!(
                    "loading it in a test process crashed with signal {sig} ({}): the file is a corrupt or \
                     hostile shared library, so it was not loaded",
                    signal_name(sig)
                )));
            }
            if libc::WIFEXITED(status) {
                let code = libc::WEXITSTATUS(status);
                if code == EXIT_NO_SYMBOL {
                    return Ok(Found::NoEntrySymbol);
                }
                if code == 0 || code == EXIT_NO_LIBRARY {
                    // Loaded, or refused by `dlopen`: the in-process load reports details.
                    return Ok(Found::Load);
                }
                // Any other exit is a crash that something in the child (a sanitizer's
                // signal handler, the library's own code) turned into an exit code.
                return Err(reject(format!(
                    "loading it in a test process failed with exit code {code}: the file is a corrupt or \
                     hostile shared library, so it was not loaded"
                )));
            }
            return Ok(Found::Load);
        }
        if r < 0 {
            return Ok(Found::Load); // the child is not ours to wait for (reaped elsewhere)
        }
        if start.elapsed() > TIMEOUT {
            // SAFETY: killing and reaping our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return Err(reject(format!(
                "loading it in a test process did not finish within {} s (an initializer that never returns?)",
                TIMEOUT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[cfg(unix)]
fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGABRT => "SIGABRT",
        libc::SIGKILL => "SIGKILL",
        _ => "signal",
    }
}

/// Without `fork`, candidates are loaded in process directly.
#[cfg(not(unix))]
pub(crate) fn check(_path: &Path) -> Result<Found> {
    Ok(Found::Load)
}
