//! # neurokern
//!
//! The crate users link. It finds backend plugins (shared libraries speaking the C ABI of
//! `neurokern-abi`), loads them, and runs the ops of the neurokern catalog on their devices
//! through a typed API:
//!
//! ```no_run
//! use neurokern::{ElemType, Runtime};
//!
//! let rt = Runtime::discover();
//! let dev = rt.device("cpu")?; // the CPU plugin, or the built-in CPU device
//! let a = dev.upload(&[2, 3], &[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0])?;
//! let w = dev.upload(&[3, 1], &[1.0f32, 1.0, 1.0])?;
//! let c = dev.matmul(&a, &w)?; // allocating; `matmul_into` writes a given tensor
//! assert_eq!(c.download::<f32>()?, vec![6.0, 15.0]);
//! let mut c2 = dev.zeros(ElemType::F32, &[2, 1])?;
//! dev.matmul_into(&a, &w, &mut c2)?;
//! # Ok::<(), neurokern::Error>(())
//! ```
//!
//! ## Discovery
//!
//! [`Runtime::discover`] considers, in this order:
//!
//! 1. explicit paths given to [`RuntimeBuilder::path`] (a file of any name, or a
//!    directory);
//! 2. the entries of `NEUROKERN_PLUGIN_PATH` ([`PLUGIN_PATH_ENV`]), files or directories,
//!    separated like `PATH`;
//! 3. the directory of the running executable;
//! 4. the cargo target directory the executable was built in (`target/debug` for a test
//!    binary in `target/debug/deps`; found by walking up to the directory that holds
//!    cargo's `CACHEDIR.TAG`), so `cargo build` + `cargo run` in the workspace just works.
//!
//! In a directory, only files named like `libneurokern_plugin_<name>.so` (the platform's
//! prefix and suffix: `.dylib`, `.dll`) are candidates, in name order. Every candidate is
//! recorded in [`Runtime::candidates`] with its path, its [`Source`], and the loaded
//! [`Plugin`] or the [`Error`] that rejected it — `neurokern devices` (or
//! `cargo xtask devices`) prints them.
//!
//! Each candidate is loaded with `dlopen`; then, before anything else is called, the table
//! returned by the entry symbol `neurokern_plugin_entry` is checked: its ABI major must be
//! the host's, its `struct_size` large enough for its declared minor, every entry point
//! non-null. Then `probe()` says whether the plugin can run here, and why not. A plugin
//! found twice (same file, same content, or the same plugin name) is loaded once: the
//! first found wins. **Libraries are never unloaded** (Rust thread-locals and `dlclose` do
//! not mix); a rejected library that was opened stays mapped too.
//!
//! ## Errors
//!
//! Everything fails with one [`Error`] enum. The loading errors name the file and what is
//! wrong with it:
//!
//! * [`Error::Load`] — `dlopen` failed (not a shared library, truncated, wrong
//!   architecture): the dynamic loader's message;
//! * [`Error::NoEntrySymbol`] — a shared library without `neurokern_plugin_entry`;
//! * [`Error::AbiMajor`] — built against another ABI major: both versions, and the fix;
//! * [`Error::TableTooSmall`], [`Error::NullEntry`], [`Error::BadString`], [`Error::BadTable`]
//!   — a malformed table;
//! * [`Error::Duplicate`] — skipped because the same plugin was already loaded;
//! * [`Error::Unavailable`] — the plugin's probe says it cannot run here, and why.
//!
//! The call errors name the op and the operand:
//!
//! * [`Error::Invalid`] — the call failed core validation (lengths, element types,
//!   aliasing, scalar domains, unsupported dtype): the same
//!   [`neurokern_core::Error`] as the reference gives;
//! * [`Error::Shape`], [`Error::ElemType`] — a tensor's shape or element type does not fit
//!   the typed method;
//! * [`Error::WrongDevice`] — a tensor of one device passed to another;
//! * [`Error::HostLength`] — an upload or download with the wrong host slice length;
//! * [`Error::Plugin`] — an entry point failed: the plugin, its file, the entry point, the
//!   [`Status`] and the plugin's own message (a panic inside the
//!   plugin arrives here, as status `panic`, and the host goes on).
//!
//! ## Devices, tensors and the `Backend` trait
//!
//! [`Device`] is one opened device of a plugin (name, plugin, capabilities). It implements
//! [`neurokern_core::Backend`] with [`Buffer`] as its buffer type, so code generic over
//! `Backend` (the conformance suite) runs on any plugin. [`Tensor`] is a buffer with a
//! shape, with [`Tensor::write`] / [`Tensor::download`]. The typed methods (`matmul`,
//! `layer_norm`, …: one per op, see [`ops`]) build the descriptor from the tensors'
//! shapes. Every call checks that its buffers belong to the device it runs on.
//!
//! ## Threads
//!
//! [`Runtime`], [`Plugin`], [`Device`], [`Buffer`] and [`Tensor`] are `Send + Sync`. The
//! ABI requires every plugin entry point to be callable from any thread, concurrently; a
//! device serializes nothing itself. The typed API takes outputs as `&mut Tensor`, so safe
//! code cannot write one tensor from two calls at once; through the `Backend` trait
//! (buffers by `&`), concurrent calls that write the same buffer race on its contents
//! (never on memory safety: the plugin decides, e.g. the CPU plugin locks each buffer).
//! A plugin's error message is kept per thread, so concurrent failures do not mix up their
//! messages.

#![deny(missing_docs)]

mod builtin;
mod device;
mod error;
pub mod ops;
mod plugin;
mod preflight;
mod runtime;

pub use builtin::{BUILTIN, BUILTIN_PATH};
pub use device::{Buffer, Device, Element, Tensor};
pub use error::{Error, Result};
pub use ops::AdamParams;
pub use plugin::Plugin;
pub use runtime::{
    is_plugin_file_name, target_profile_dir, Candidate, Runtime, RuntimeBuilder, Source,
    MAX_PLUGIN_FILE_SIZE, PLUGIN_PATH_ENV,
};

/// The op descriptors (`MatMul`, `LayerNorm`, …, gathered in [`Op`]) for the lower-level
/// API ([`Backend::run`] on a [`Device`]), so it needs no second crate.
pub use neurokern_core::op;

pub use neurokern_abi::{Status, ABI_MAJOR, ABI_MINOR};
pub use neurokern_core::op::SumMode;
pub use neurokern_core::{f16, Backend, DeviceBuffer, ElemType, FloatType, Op, OpKind};

/// Helpers for building and finding the workspace's plugins from tests, examples and
/// tools run inside the neurokern workspace (they run `cargo`).
pub mod dev {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// The file name of plugin crate `name`'s library (`cpu` →
    /// `libneurokern_plugin_cpu.so`).
    pub fn plugin_file_name(name: &str) -> String {
        format!(
            "{}neurokern_plugin_{name}{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        )
    }

    /// Builds package `package` with `cargo build -p` (the `CARGO` of the running build,
    /// or `cargo`) into the target directory the current executable lives in, and returns
    /// that profile directory. Meant for tests and examples run by cargo in the workspace.
    pub fn build_package(package: &str, workspace: &Path) -> Result<PathBuf, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let profile = crate::target_profile_dir(&exe)
            .ok_or_else(|| format!("{} is not inside a cargo target directory", exe.display()))?;
        let target = profile
            .parent()
            .ok_or("the profile directory has no parent")?
            .to_path_buf();
        let release = profile.file_name().is_some_and(|n| n == "release");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(workspace)
            .args(["build", "--quiet", "-p", package])
            .arg("--target-dir")
            .arg(&target);
        if release {
            cmd.arg("--release");
        }
        let out = cmd.output().map_err(|e| format!("cannot run cargo: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "`cargo build -p {package}` failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(profile)
    }

    /// Builds the CPU plugin (see [`build_package`]) and returns its library's path.
    pub fn cpu_plugin(workspace: &Path) -> Result<PathBuf, String> {
        let dir = build_package("neurokern-plugin-cpu", workspace)?;
        let p = dir.join(plugin_file_name("cpu"));
        if p.is_file() {
            Ok(p)
        } else {
            Err(format!("{} was not produced by the build", p.display()))
        }
    }
}
