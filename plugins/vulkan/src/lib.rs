//! The Vulkan backend ([`neurokern_backend_vulkan::VulkanBackend`]) as a neurokern plugin.
//!
//! Devices are every Vulkan physical device, in the loader's order (the backend's
//! [`neurokern_backend_vulkan::devices`] list), named `device (type)`. `probe` fails with
//! the reason when the backend cannot run: no loader (and what to install), no device, no
//! compute queue. A device without 16-bit storage runs f32 ops and reports f16 ones as
//! unsupported, with that reason.
//!
//! `libvulkan.so.1` is loaded at run time, so the plugin builds everywhere.

use std::ffi::CStr;

use neurokern_abi::export::Plugin;
use neurokern_abi::Status;
use neurokern_backend_vulkan::{devices, probe, DeviceSelector, VkError, VulkanBackend};
use neurokern_gpu::GpuError;

/// The Vulkan plugin.
#[derive(Debug)]
pub struct VulkanPlugin;

impl Plugin for VulkanPlugin {
    type Backend = VulkanBackend;
    const NAME: &'static CStr = c"vulkan";

    fn probe() -> Result<(), String> {
        probe(&DeviceSelector::Default).map(|_| ())
    }

    fn devices() -> Vec<String> {
        devices()
            .map(|list| {
                list.iter()
                    .map(|d| format!("{} ({})", d.name, d.kind))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn open(index: usize) -> Result<VulkanBackend, String> {
        neurokern_backend_vulkan::open(&DeviceSelector::Index(index)).map_err(|e| e.to_string())
    }

    fn error_status(e: &GpuError<VkError>) -> Status {
        match e {
            GpuError::Invalid(_) => Status::VALIDATION,
            GpuError::ForeignBuffer { .. } => Status::WRONG_HANDLE,
            GpuError::Bytes { .. } | GpuError::CopyMismatch { .. } => Status::INVALID_ARGUMENT,
            GpuError::TooLarge { .. } => Status::OUT_OF_MEMORY,
            GpuError::Unsupported { .. } => Status::UNSUPPORTED,
            GpuError::Device { source, .. } => match source {
                VkError::OutOfMemory { .. } => Status::OUT_OF_MEMORY,
                VkError::Limit {
                    limit_name: "maxMemoryAllocationSize",
                    ..
                } => Status::OUT_OF_MEMORY,
                _ => Status::BACKEND,
            },
            _ => Status::BACKEND,
        }
    }
}

neurokern_abi::export_plugin!(VulkanPlugin);

#[cfg(test)]
mod tests {
    use super::*;
    use neurokern_core::Backend;

    #[test]
    fn probe_devices_and_open_agree() {
        match VulkanPlugin::probe() {
            Ok(()) => {
                let names = VulkanPlugin::devices();
                assert!(!names.is_empty());
                let b = VulkanPlugin::open(0).unwrap();
                assert_eq!(b.device_name(), names[0]);
                assert!(VulkanPlugin::open(names.len()).is_err());
            }
            Err(why) => {
                let required = std::env::var("NEUROKERN_REQUIRE")
                    .map(|v| v.split(',').any(|s| s.trim() == "vulkan"))
                    .unwrap_or(false);
                assert!(!required, "NEUROKERN_REQUIRE names vulkan: {why}");
                eprintln!("skipping: {why}");
            }
        }
    }

    #[test]
    fn the_entry_point_returns_a_table() {
        assert!(!neurokern_plugin_entry().is_null());
    }
}
