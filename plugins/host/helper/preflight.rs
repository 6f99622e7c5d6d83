//! The pre-flight helper: a tiny program that the `neurokern` host runs, in a fresh
//! process, before it maps a candidate plugin into its own. It `dlopen`s the file, looks up
//! the entry symbol, calls it and reads the table's header, then writes one verdict line
//! tagged with the nonce the host passed and `_exit`s.
//!
//! It is compiled by `plugins/host/build.rs` with the same `rustc` and target as the host
//! crate and embedded in it as bytes, so it has no dependencies: the few libc functions it
//! needs are declared here.
//!
//! Usage: `neurokern-preflight NONCE PATH`; the verdict goes to standard output:
//! `neurokern-preflight NONCE loaded`, `… no-symbol` or `… no-library MESSAGE`.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::os::unix::ffi::OsStrExt;

#[cfg(any(target_os = "macos", target_os = "ios"))]
const RTLD_NOW: c_int = 0x2;
#[cfg(any(target_os = "macos", target_os = "ios"))]
const RTLD_LOCAL: c_int = 0x4;
#[cfg(any(target_os = "macos", target_os = "ios"))]
const F_DUPFD_CLOEXEC: c_int = 67;
#[cfg(not(any(target_os = "macos", target_os = "ios")))]
const RTLD_NOW: c_int = 0x2;
#[cfg(not(any(target_os = "macos", target_os = "ios")))]
const RTLD_LOCAL: c_int = 0;
#[cfg(not(any(target_os = "macos", target_os = "ios")))]
const F_DUPFD_CLOEXEC: c_int = 1030;

extern "C" {
    fn dlopen(filename: *const c_char, flag: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    fn dlerror() -> *mut c_char;
    fn fcntl(fd: c_int, cmd: c_int, ...) -> c_int;
    fn dup2(from: c_int, to: c_int) -> c_int;
    fn write(fd: c_int, buf: *const c_void, n: usize) -> isize;
    fn _exit(code: c_int) -> !;
}

/// Writes the verdict and ends the process without running anything of the library's
/// (no `atexit` handlers, no destructors).
fn verdict(fd: c_int, nonce: &str, word: &str, detail: &str) -> ! {
    let detail: String = detail
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    let line = format!("neurokern-preflight {nonce} {word} {detail}\n");
    let mut rest = line.as_bytes();
    while !rest.is_empty() {
        // SAFETY: `rest` is valid for `rest.len()` bytes of reads.
        let n = unsafe { write(fd, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            break;
        }
        rest = &rest[n as usize..];
    }
    // SAFETY: `_exit` has no preconditions.
    unsafe { _exit(0) }
}

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.len() != 3 {
        eprintln!("usage: neurokern-preflight NONCE PATH (run by the neurokern host)");
        std::process::exit(2);
    }
    let nonce = args[1].to_string_lossy().into_owned();
    let Ok(path) = CString::new(args[2].as_bytes()) else {
        std::process::exit(2);
    };
    // The verdict goes to a private, close-on-exec copy of standard output; standard
    // output itself is pointed at standard error, so nothing the library prints (or a
    // program it executes) can write into the verdict pipe.
    // SAFETY: plain descriptor calls on descriptors this process owns.
    let fd = unsafe { fcntl(1, F_DUPFD_CLOEXEC, 3) };
    // SAFETY: as above.
    if fd < 0 || unsafe { dup2(2, 1) } < 0 {
        std::process::exit(2);
    }
    // SAFETY: `path` is a valid C string. Loading runs the library's initializers: a crash
    // there ends this process, which is what it is for.
    let h = unsafe { dlopen(path.as_ptr(), RTLD_NOW | RTLD_LOCAL) };
    if h.is_null() {
        // SAFETY: `dlerror` returns null or a nul-terminated string.
        let e = unsafe { dlerror() };
        let msg = if e.is_null() {
            String::from("the dynamic loader gave no reason")
        } else {
            // SAFETY: non-null, nul-terminated (see above).
            unsafe { CStr::from_ptr(e) }.to_string_lossy().into_owned()
        };
        verdict(fd, &nonce, "no-library", &msg);
    }
    // SAFETY: a live handle and a nul-terminated name.
    let sym = unsafe { dlsym(h, c"neurokern_plugin_entry".as_ptr()) };
    if sym.is_null() {
        verdict(fd, &nonce, "no-symbol", "");
    }
    // SAFETY: the ABI's entry type (`extern "C" fn() -> *const PluginTable`); a library
    // that exports the name with another type can only crash this process.
    let entry = unsafe { std::mem::transmute::<*mut c_void, extern "C" fn() -> *const u32>(sym) };
    let table = entry();
    if !table.is_null() && table.is_aligned() {
        // The header: struct_size, abi_major, abi_minor, flags. A wild pointer crashes
        // this process instead of the host.
        for i in 0..4 {
            // SAFETY: non-null and aligned; whether it is readable is what is tested.
            let _ = unsafe { std::ptr::read_volatile(table.add(i)) };
        }
    }
    verdict(fd, &nonce, "loaded", "");
}
