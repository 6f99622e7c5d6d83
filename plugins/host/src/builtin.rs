//! The built-in CPU device: the reference ([`neurokern_backend_cpu::CpuBackend`]) compiled
//! into this crate and reached through the same C ABI shims a plugin file exports
//! ([`neurokern_abi::export::table`]), so it behaves exactly like the CPU plugin — same
//! checks, same handles, same errors, bit-identical results — with no file to build or
//! find. It is what makes a [`Runtime`](crate::Runtime) always have a device.

use std::ffi::CStr;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use neurokern_abi::PluginTable;
use neurokern_backend_cpu::{CpuBackend, CpuError};

use crate::error::Result;
use crate::plugin::Plugin;

/// The built-in plugin's name: `rt.device("builtin")` is always the built-in CPU device
/// (and `rt.device("cpu")` too when no CPU plugin file was loaded).
pub const BUILTIN: &str = "builtin";

/// The path the built-in plugin reports (it has no file).
pub const BUILTIN_PATH: &str = "(built into the neurokern crate)";

/// The reference backend as an in-process plugin.
#[derive(Debug)]
struct Builtin;

impl neurokern_abi::export::Plugin for Builtin {
    type Backend = CpuBackend;
    const NAME: &'static CStr = c"builtin";

    fn probe() -> std::result::Result<(), String> {
        Ok(())
    }

    fn devices() -> Vec<String> {
        vec!["reference".to_string()]
    }

    fn open(_index: usize) -> std::result::Result<CpuBackend, String> {
        Ok(CpuBackend::new())
    }

    // The same mapping as the CPU plugin's (`plugins/cpu`), which the host cannot link.
    fn error_status(e: &CpuError) -> neurokern_abi::Status {
        use neurokern_abi::Status;
        match e {
            CpuError::Invalid(_) => Status::VALIDATION,
            CpuError::Bytes { .. } | CpuError::CopyMismatch => Status::INVALID_ARGUMENT,
            CpuError::TooLarge | CpuError::OutOfMemory { .. } => Status::OUT_OF_MEMORY,
        }
    }
}

static TABLE: PluginTable = neurokern_abi::export::table::<Builtin>(
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes(),
    concat!("neurokern ", env!("CARGO_PKG_VERSION"), " (built in)\0").as_bytes(),
);

/// The built-in plugin, checked like any table (once per process).
pub(crate) fn plugin() -> Result<Arc<Plugin>> {
    static P: OnceLock<Result<Arc<Plugin>>> = OnceLock::new();
    P.get_or_init(|| Plugin::from_table(Path::new(BUILTIN_PATH), &TABLE).map(Arc::new))
        .clone()
}
