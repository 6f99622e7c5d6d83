//! Every failing input is kept, whatever the plugin under test did to the process.
//!
//! libFuzzer saves a failing input from its own fatal-signal handlers: a Rust panic aborts
//! (libfuzzer-sys's panic hook), and the SIGABRT handler writes `crash-<sha1>` under
//! `-artifact_prefix`. A plugin's driver can take those handlers away: PoCL installs
//! LLVM's crash handlers (SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGINT, SIGTERM) when it
//! creates a context, and LLVM's SIGABRT handler prints a backtrace and lets `abort`
//! end the process, so a failing input of the OpenCL plugin was lost. Two defences:
//!
//! * [`keep`] records each input before the target runs it and installs (once) a panic
//!   hook that writes the recorded input to the artifact directory before the process
//!   aborts, independent of any signal handler;
//! * [`keeping_signal_handlers`] puts back the fatal-signal handlers in place before a
//!   plugin's device was opened, so crashes inside the plugin (a driver's own `abort`, a
//!   segfault) reach libFuzzer again.
//!
//! The directory is `NEUROKERN_FUZZ_ARTIFACTS` (set by `cargo xtask fuzz` to
//! `fuzz/artifacts/TARGET`), else `fuzz/artifacts/TARGET` of this crate. The name is
//! libFuzzer's (`crash-` and the SHA-1 of the input), so an input libFuzzer saves too is
//! one file.

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::Once;

std::thread_local! {
    /// The target and input being run on this thread.
    static CURRENT: RefCell<(&'static str, Vec<u8>)> = const { RefCell::new(("", Vec::new())) };
}

/// The artifact directory of `target`.
pub fn dir(target: &str) -> PathBuf {
    match std::env::var_os("NEUROKERN_FUZZ_ARTIFACTS") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("artifacts")
            .join(target),
    }
}

/// libFuzzer's name for a crashing input: `crash-` and the input's SHA-1 in hex.
pub fn file_name(input: &[u8]) -> String {
    format!("crash-{}", sha1_smol::Sha1::from(input).digest())
}

/// Writes `input` as a crash artifact of `target`; returns its path.
pub fn save(target: &str, input: &[u8]) -> std::io::Result<PathBuf> {
    let d = dir(target);
    std::fs::create_dir_all(&d)?;
    let path = d.join(file_name(input));
    std::fs::write(&path, input)?;
    Ok(path)
}

/// Records `input` as the one `target` is about to run, so that a panic while running it
/// saves it (see the module docs). Called by each `fuzz_targets/*.rs` before the body.
pub fn keep(target: &'static str, input: &[u8]) {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        // libfuzzer-sys installed its hook (print, then abort) before the first input:
        // ours saves the input, then hands over to it.
        let next = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let saved = CURRENT
                .try_with(|c| {
                    c.try_borrow()
                        .ok()
                        .map(|c| (c.0, save(c.0, &c.1).map_err(|e| e.to_string())))
                })
                .ok()
                .flatten();
            match saved {
                Some((_, Ok(path))) => {
                    eprintln!(
                        "neurokern-fuzz: the failing input is saved as {}",
                        path.display()
                    )
                }
                Some((t, Err(e))) => {
                    eprintln!("neurokern-fuzz: saving the failing input of `{t}` failed: {e}")
                }
                None => eprintln!("neurokern-fuzz: no recorded input to save"),
            }
            next(info);
        }));
    });
    CURRENT.with(|c| {
        let mut c = c.borrow_mut();
        c.0 = target;
        c.1.clear();
        c.1.extend_from_slice(input);
    });
}

/// The signals whose handlers a driver may replace and the harness needs back. SIGFPE is
/// left alone: PoCL's own handler turns integer division traps in kernels into results.
const FATAL: [libc::c_int; 6] = [
    libc::SIGABRT,
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGILL,
    libc::SIGINT,
    libc::SIGTERM,
];

/// Runs `f` (which loads a plugin and opens its devices) and then restores the handlers of
/// the fatal signals to what they were before, so that the fuzzing harness, not the
/// driver, handles a crash.
pub fn keeping_signal_handlers<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: an all-zero `sigaction` is a valid value of the C struct (no handler, empty
    // mask); it is only read after `sigaction` filled it.
    let mut saved: [libc::sigaction; FATAL.len()] = unsafe { std::mem::zeroed() };
    let mut ok = [false; FATAL.len()];
    for (i, &sig) in FATAL.iter().enumerate() {
        // SAFETY: querying only (null new action); `saved[i]` is a valid out pointer.
        ok[i] = unsafe { libc::sigaction(sig, std::ptr::null(), &mut saved[i]) } == 0;
    }
    let out = f();
    for (i, &sig) in FATAL.iter().enumerate() {
        if ok[i] {
            // SAFETY: re-installing an action the kernel returned for this signal.
            unsafe { libc::sigaction(sig, &saved[i], std::ptr::null_mut()) };
        }
    }
    out
}
