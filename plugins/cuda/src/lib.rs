//! The CUDA backend ([`neurokern_backend_cuda::CudaBackend`]) as a neurokern plugin.
//!
//! Devices are the CUDA devices in ordinal order, by name. `probe` fails with the exact
//! reason when the driver, NVRTC or a device is missing ("libcuda.so.1 not found: no
//! NVIDIA driver"); nothing CUDA is needed to build or load the plugin.

use std::ffi::CStr;

use neurokern_abi::export::Plugin;
use neurokern_backend_cuda::{devices, open, probe, CudaBackend};

/// The CUDA plugin.
#[derive(Debug)]
pub struct CudaPlugin;

impl Plugin for CudaPlugin {
    type Backend = CudaBackend;
    const NAME: &'static CStr = c"cuda";

    fn probe() -> Result<(), String> {
        probe().map_err(|e| e.to_string())
    }

    fn devices() -> Vec<String> {
        devices().unwrap_or_default()
    }

    fn open(index: usize) -> Result<CudaBackend, String> {
        open(index).map_err(|e| e.to_string())
    }
}

neurokern_abi::export_plugin!(CudaPlugin);

#[cfg(test)]
mod tests {
    use super::*;
    use neurokern_core::Backend;

    #[test]
    fn probe_devices_and_open_agree() {
        match CudaPlugin::probe() {
            Ok(()) => {
                let names = CudaPlugin::devices();
                assert!(!names.is_empty());
                let b = CudaPlugin::open(0).unwrap();
                assert_eq!(b.device_name(), names[0]);
                assert!(CudaPlugin::open(names.len()).is_err());
            }
            Err(why) => {
                let required = std::env::var("NEUROKERN_REQUIRE")
                    .map(|v| v.split(',').any(|s| s.trim() == "cuda"))
                    .unwrap_or(false);
                assert!(!required, "NEUROKERN_REQUIRE names cuda: {why}");
                assert!(CudaPlugin::devices().is_empty() || why.contains("nvrtc"));
                assert!(CudaPlugin::open(0).is_err());
                eprintln!("skipping: {why}");
            }
        }
    }

    #[test]
    fn the_entry_point_returns_a_table() {
        assert!(!neurokern_plugin_entry().is_null());
    }
}
