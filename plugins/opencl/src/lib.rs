//! The OpenCL backend ([`neurokern_backend_opencl::OpenClBackend`]) as a neurokern plugin.
//!
//! Devices are every device of every OpenCL platform, in platform order (the backend's
//! [`neurokern_backend_opencl::devices`] list), named `platform / device`.
//! `probe` fails with the reason when no platform or no usable device exists (no ICD
//! installed, no compiler, OpenCL older than 1.2), never silently.
//!
//! The crate links the OpenCL ICD loader (`libOpenCL.so`) at build time (cl-sys); it is
//! outside the workspace's default members for that reason.

use std::ffi::CStr;

use neurokern_abi::export::Plugin;
use neurokern_abi::Status;
use neurokern_backend_opencl::{devices, open, probe, DeviceSelector, OclError, OpenClBackend};
use neurokern_core::Backend;
use neurokern_gpu::GpuError;

/// The OpenCL plugin.
#[derive(Debug)]
pub struct OpenClPlugin;

impl Plugin for OpenClPlugin {
    type Backend = OpenClBackend;
    const NAME: &'static CStr = c"opencl";

    fn probe() -> Result<(), String> {
        probe(&DeviceSelector::Default).map(|_| ())
    }

    fn devices() -> Vec<String> {
        devices()
            .map(|list| {
                list.iter()
                    .map(|d| format!("{} / {}", d.platform, d.name))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn open(index: usize) -> Result<OpenClBackend, String> {
        open(&DeviceSelector::Index(index)).map_err(|e| e.to_string())
    }

    fn error_status(e: &<OpenClBackend as Backend>::Error) -> Status {
        status(e)
    }
}

/// The ABI category of an OpenCL backend error, so that it survives the C ABI: a caller's
/// mistake is not reported as a device failure, and out-of-memory stays recoverable.
fn status(e: &GpuError<OclError>) -> Status {
    match e {
        GpuError::Invalid(_) => Status::VALIDATION,
        GpuError::Bytes { .. } | GpuError::CopyMismatch { .. } => Status::INVALID_ARGUMENT,
        GpuError::ForeignBuffer { .. } => Status::WRONG_HANDLE,
        GpuError::TooLarge { .. } => Status::OUT_OF_MEMORY,
        GpuError::Unsupported { .. } => Status::UNSUPPORTED,
        GpuError::Device { source, .. } => match source {
            OclError::OutOfMemory { .. } => Status::OUT_OF_MEMORY,
            OclError::NoDevice(_) | OclError::Unusable(_) => Status::UNAVAILABLE,
            _ => Status::BACKEND,
        },
        // A lowering bug, and any category added later, is the backend's failure.
        _ => Status::BACKEND,
    }
}

neurokern_abi::export_plugin!(OpenClPlugin);

#[cfg(test)]
mod tests {
    use super::*;
    use neurokern_core::{ElemType, Error as CoreError};

    #[test]
    fn probe_devices_and_open_agree() {
        match OpenClPlugin::probe() {
            Ok(()) => {
                let names = OpenClPlugin::devices();
                assert!(!names.is_empty());
                let b = OpenClPlugin::open(0).unwrap();
                assert_eq!(b.device_name(), names[0]);
                assert!(OpenClPlugin::open(names.len()).is_err());
            }
            Err(why) => {
                let required = std::env::var("NEUROKERN_REQUIRE")
                    .map(|v| v.split(',').any(|s| s.trim() == "opencl"))
                    .unwrap_or(false);
                assert!(!required, "NEUROKERN_REQUIRE names opencl: {why}");
                eprintln!("skipping: {why}");
            }
        }
    }

    #[test]
    fn the_entry_point_returns_a_table() {
        assert!(!neurokern_plugin_entry().is_null());
    }

    #[test]
    fn errors_keep_their_category_across_the_abi() {
        let oom = GpuError::Device {
            during: "alloc".into(),
            source: OclError::OutOfMemory {
                bytes: 1,
                detail: String::new(),
            },
        };
        assert_eq!(status(&oom), Status::OUT_OF_MEMORY);
        let too_large = GpuError::TooLarge {
            elem: ElemType::F32,
            len: usize::MAX,
        };
        assert_eq!(status(&too_large), Status::OUT_OF_MEMORY);
        let bytes = GpuError::Bytes {
            op: "write",
            expected: 8,
            got: 4,
        };
        assert_eq!(status(&bytes), Status::INVALID_ARGUMENT);
        let foreign = GpuError::ForeignBuffer {
            op: "read",
            operand: "buffer",
            device: "d".into(),
        };
        assert_eq!(status(&foreign), Status::WRONG_HANDLE);
        let build = GpuError::Device {
            during: "gemm".into(),
            source: OclError::Cl {
                call: "clEnqueueNDRangeKernel".into(),
                code: -5,
            },
        };
        assert_eq!(status(&build), Status::BACKEND);
        let invalid: GpuError<OclError> = GpuError::Invalid(CoreError::TooLarge {
            op: "matmul",
            operand: "a",
        });
        assert_eq!(status(&invalid), Status::VALIDATION);

        // Through the plugin's own table, when a device opens here: a wrong byte count is
        // an invalid argument, an allocation past the device's memory out of memory.
        let Ok(b) = OpenClPlugin::open(0) else { return };
        let buf = b.alloc(ElemType::F32, 4).unwrap();
        assert_eq!(
            OpenClPlugin::error_status(&b.write(&buf, &[0u8; 3]).unwrap_err()),
            Status::INVALID_ARGUMENT
        );
        // (A small budget stands for the device's memory: nothing large is allocated.)
        let dev = neurokern_backend_opencl::OpenClDevice::new(&DeviceSelector::Index(0))
            .unwrap()
            .with_memory_budget(1 << 20);
        let small = OpenClBackend::new(dev);
        let e = small.alloc(ElemType::F32, (1 << 18) + 1).unwrap_err();
        assert_eq!(OpenClPlugin::error_status(&e), Status::OUT_OF_MEMORY, "{e}");
    }
}
