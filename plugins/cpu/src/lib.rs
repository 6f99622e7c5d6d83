//! The reference CPU backend ([`neurokern_backend_cpu::CpuBackend`]) as a neurokern
//! plugin: one device, `reference`, that runs every op in `f32` and `f16` exactly as
//! `neurokern_core::reference` does. Loading it through the host and comparing with the
//! in-process reference proves the plugin ABI bit for bit.

use std::ffi::CStr;

use neurokern_abi::export::Plugin;
use neurokern_abi::Status;
use neurokern_backend_cpu::{CpuBackend, CpuError};

/// The CPU plugin.
#[derive(Debug)]
pub struct CpuPlugin;

impl Plugin for CpuPlugin {
    type Backend = CpuBackend;
    const NAME: &'static CStr = c"cpu";

    fn probe() -> Result<(), String> {
        Ok(())
    }

    fn devices() -> Vec<String> {
        vec!["reference".to_string()]
    }

    fn open(_index: usize) -> Result<CpuBackend, String> {
        Ok(CpuBackend::new())
    }

    /// Each error's category, so that it survives the ABI (a wrong byte count is the
    /// caller's invalid argument, not a backend failure).
    fn error_status(e: &CpuError) -> Status {
        match e {
            CpuError::Invalid(_) => Status::VALIDATION,
            CpuError::Bytes { .. } | CpuError::CopyMismatch => Status::INVALID_ARGUMENT,
            CpuError::TooLarge | CpuError::OutOfMemory { .. } => Status::OUT_OF_MEMORY,
        }
    }
}

neurokern_abi::export_plugin!(CpuPlugin);
