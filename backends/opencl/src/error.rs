//! The backend's error type, and the named mapping of every OpenCL status code.

use std::fmt;

use cl_sys::cl_int;

/// Errors of the OpenCL backend.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum OclError {
    /// An OpenCL call failed.
    Cl {
        /// The API function, e.g. `"clEnqueueNDRangeKernel"`, and what it was doing.
        call: String,
        /// The status code.
        code: cl_int,
    },
    /// The device could not provide the memory asked for. Recoverable: the device, and the
    /// buffers allocated before, stay usable.
    OutOfMemory {
        /// Bytes requested.
        bytes: usize,
        /// What failed and the limit involved.
        detail: String,
    },
    /// A program failed to compile; `log` is the compiler's build log.
    Build {
        /// The program (e.g. `"neurokern f16"`) or kernel set.
        program: String,
        /// The status code of `clBuildProgram`.
        code: cl_int,
        /// The build log of the device.
        log: String,
    },
    /// No usable OpenCL platform or device, or the selection matched none.
    NoDevice(String),
    /// The device lacks something the backend needs (a probe failure).
    Unusable(String),
    /// A setting (an environment variable such as `NEUROKERN_OPENCL_GEMM`) is invalid: the
    /// message names it and the accepted form.
    Config(String),
}

impl fmt::Display for OclError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OclError::Cl { call, code } => {
                write!(
                    f,
                    "OpenCL: {call} failed with {} ({code})",
                    status_name(*code)
                )
            }
            OclError::OutOfMemory { bytes, detail } => {
                write!(
                    f,
                    "OpenCL: out of device memory allocating {bytes} bytes: {detail}"
                )
            }
            OclError::Build { program, code, log } => write!(
                f,
                "OpenCL: program `{program}` failed to build ({}); build log:\n{log}",
                status_name(*code)
            ),
            OclError::NoDevice(why) => write!(f, "OpenCL: no device: {why}"),
            OclError::Unusable(why) => write!(f, "OpenCL: device cannot run neurokern: {why}"),
            OclError::Config(why) => write!(f, "OpenCL: invalid setting: {why}"),
        }
    }
}

impl std::error::Error for OclError {}

/// True for the status codes that mean "the device ran out of memory".
pub fn is_out_of_memory(code: cl_int) -> bool {
    matches!(
        code,
        cl_sys::CL_MEM_OBJECT_ALLOCATION_FAILURE
            | cl_sys::CL_OUT_OF_RESOURCES
            | cl_sys::CL_OUT_OF_HOST_MEMORY
            | cl_sys::CL_INVALID_BUFFER_SIZE
    )
}

/// Maps a status code to a typed error: out-of-memory codes become
/// [`OclError::OutOfMemory`], everything else [`OclError::Cl`].
pub fn status_to_error(code: cl_int, call: &str, bytes: usize) -> OclError {
    if is_out_of_memory(code) && bytes > 0 {
        OclError::OutOfMemory {
            bytes,
            detail: format!("{call}: {}", status_name(code)),
        }
    } else {
        OclError::Cl {
            call: call.to_string(),
            code,
        }
    }
}

/// `Ok(())` for `CL_SUCCESS`, else the typed error of `code`.
pub fn check(code: cl_int, call: &str) -> Result<(), OclError> {
    if code == cl_sys::CL_SUCCESS {
        Ok(())
    } else {
        Err(status_to_error(code, call, 0))
    }
}

/// The symbolic name of an OpenCL status code.
pub fn status_name(code: cl_int) -> &'static str {
    match code {
        0 => "CL_SUCCESS",
        -1 => "CL_DEVICE_NOT_FOUND",
        -2 => "CL_DEVICE_NOT_AVAILABLE",
        -3 => "CL_COMPILER_NOT_AVAILABLE",
        -4 => "CL_MEM_OBJECT_ALLOCATION_FAILURE",
        -5 => "CL_OUT_OF_RESOURCES",
        -6 => "CL_OUT_OF_HOST_MEMORY",
        -7 => "CL_PROFILING_INFO_NOT_AVAILABLE",
        -8 => "CL_MEM_COPY_OVERLAP",
        -9 => "CL_IMAGE_FORMAT_MISMATCH",
        -10 => "CL_IMAGE_FORMAT_NOT_SUPPORTED",
        -11 => "CL_BUILD_PROGRAM_FAILURE",
        -12 => "CL_MAP_FAILURE",
        -13 => "CL_MISALIGNED_SUB_BUFFER_OFFSET",
        -14 => "CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST",
        -15 => "CL_COMPILE_PROGRAM_FAILURE",
        -16 => "CL_LINKER_NOT_AVAILABLE",
        -17 => "CL_LINK_PROGRAM_FAILURE",
        -18 => "CL_DEVICE_PARTITION_FAILED",
        -19 => "CL_KERNEL_ARG_INFO_NOT_AVAILABLE",
        -30 => "CL_INVALID_VALUE",
        -31 => "CL_INVALID_DEVICE_TYPE",
        -32 => "CL_INVALID_PLATFORM",
        -33 => "CL_INVALID_DEVICE",
        -34 => "CL_INVALID_CONTEXT",
        -35 => "CL_INVALID_QUEUE_PROPERTIES",
        -36 => "CL_INVALID_COMMAND_QUEUE",
        -37 => "CL_INVALID_HOST_PTR",
        -38 => "CL_INVALID_MEM_OBJECT",
        -39 => "CL_INVALID_IMAGE_FORMAT_DESCRIPTOR",
        -40 => "CL_INVALID_IMAGE_SIZE",
        -41 => "CL_INVALID_SAMPLER",
        -42 => "CL_INVALID_BINARY",
        -43 => "CL_INVALID_BUILD_OPTIONS",
        -44 => "CL_INVALID_PROGRAM",
        -45 => "CL_INVALID_PROGRAM_EXECUTABLE",
        -46 => "CL_INVALID_KERNEL_NAME",
        -47 => "CL_INVALID_KERNEL_DEFINITION",
        -48 => "CL_INVALID_KERNEL",
        -49 => "CL_INVALID_ARG_INDEX",
        -50 => "CL_INVALID_ARG_VALUE",
        -51 => "CL_INVALID_ARG_SIZE",
        -52 => "CL_INVALID_KERNEL_ARGS",
        -53 => "CL_INVALID_WORK_DIMENSION",
        -54 => "CL_INVALID_WORK_GROUP_SIZE",
        -55 => "CL_INVALID_WORK_ITEM_SIZE",
        -56 => "CL_INVALID_GLOBAL_OFFSET",
        -57 => "CL_INVALID_EVENT_WAIT_LIST",
        -58 => "CL_INVALID_EVENT",
        -59 => "CL_INVALID_OPERATION",
        -60 => "CL_INVALID_GL_OBJECT",
        -61 => "CL_INVALID_BUFFER_SIZE",
        -62 => "CL_INVALID_MIP_LEVEL",
        -63 => "CL_INVALID_GLOBAL_WORK_SIZE",
        -64 => "CL_INVALID_PROPERTY",
        -65 => "CL_INVALID_IMAGE_DESCRIPTOR",
        -66 => "CL_INVALID_COMPILER_OPTIONS",
        -67 => "CL_INVALID_LINKER_OPTIONS",
        -68 => "CL_INVALID_DEVICE_PARTITION_COUNT",
        -69 => "CL_INVALID_PIPE_SIZE",
        -70 => "CL_INVALID_DEVICE_QUEUE",
        -71 => "CL_INVALID_SPEC_ID",
        -72 => "CL_MAX_SIZE_RESTRICTION_EXCEEDED",
        -1001 => "CL_PLATFORM_NOT_FOUND_KHR",
        _ => "unknown OpenCL status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_names_and_oom_is_typed() {
        assert_eq!(status_name(-4), "CL_MEM_OBJECT_ALLOCATION_FAILURE");
        assert_eq!(status_name(-11), "CL_BUILD_PROGRAM_FAILURE");
        assert!(matches!(
            status_to_error(-4, "clCreateBuffer", 10),
            OclError::OutOfMemory { bytes: 10, .. }
        ));
        assert!(matches!(
            check(-38, "x"),
            Err(OclError::Cl { code: -38, .. })
        ));
        assert!(check(0, "x").is_ok());
    }
}
