//! The Vulkan backend's error.

use ash::vk;

/// What went wrong on a Vulkan device.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VkError {
    /// The Vulkan loader could not be loaded.
    #[error(
        "the Vulkan loader (libvulkan.so.1) could not be loaded ({detail}); on Debian/Ubuntu: \
         apt-get install libvulkan1 mesa-vulkan-drivers"
    )]
    NoLoader {
        /// The loader's message.
        detail: String,
    },
    /// No device can run the backend.
    #[error("no usable Vulkan device: {0}")]
    NoDevice(String),
    /// A selector matched no device.
    #[error("no Vulkan device matches `{0}`")]
    NotFound(String),
    /// A Vulkan call failed.
    #[error("{call} failed: {result}")]
    Api {
        /// The call.
        call: &'static str,
        /// Its result.
        result: vk::Result,
    },
    /// The device or host ran out of memory; the device and its other buffers stay usable.
    #[error("out of {which} memory while {during}")]
    OutOfMemory {
        /// `device` or `host`.
        which: &'static str,
        /// What was being done.
        during: String,
    },
    /// A request past a device limit.
    #[error("{what} needs {need}, past the device limit {limit_name} = {limit}")]
    Limit {
        /// What needed it (a kernel and its argument, an allocation).
        what: String,
        /// The limit's Vulkan name.
        limit_name: &'static str,
        /// The limit.
        limit: u64,
        /// What was needed.
        need: u64,
    },
    /// A kernel whose invocations would loop longer than the backend allows (lavapipe
    /// silently stops loops at 65 535 iterations per invocation).
    #[error(
        "{kernel}: {what} would need {iterations} loop iterations in one invocation, past the \
         limit of {limit} (lavapipe stops loops silently there)"
    )]
    LoopLimit {
        /// The kernel.
        kernel: &'static str,
        /// Which dimension is too long.
        what: String,
        /// Iterations needed.
        iterations: u64,
        /// The limit.
        limit: u64,
    },
    /// A kernel argument that does not fit the kernel's 32-bit argument.
    #[error("{kernel}: argument `{arg}` = {value} does not fit 32 bits")]
    DimTooLarge {
        /// The kernel.
        kernel: &'static str,
        /// The argument.
        arg: &'static str,
        /// Its value.
        value: usize,
    },
    /// A buffer of another device was handed to this one.
    #[error("a buffer of another Vulkan device was passed")]
    ForeignMemory,
    /// A kernel without SPIR-V (a bug: the table and the shaders disagree).
    #[error("no SPIR-V for kernel `{0}`")]
    NoShader(&'static str),
}

impl VkError {
    /// The error of a failed call, out-of-memory results made recoverable ones.
    pub(crate) fn api(call: &'static str, result: vk::Result) -> VkError {
        match result {
            vk::Result::ERROR_OUT_OF_DEVICE_MEMORY => VkError::OutOfMemory {
                which: "device",
                during: call.into(),
            },
            vk::Result::ERROR_OUT_OF_HOST_MEMORY => VkError::OutOfMemory {
                which: "host",
                during: call.into(),
            },
            result => VkError::Api { call, result },
        }
    }
}

/// `Result` with [`VkError`].
pub type Result<T, E = VkError> = std::result::Result<T, E>;

/// Maps a `vk::Result` error to [`VkError`], naming the call.
pub(crate) trait Check<T> {
    fn check(self, call: &'static str) -> Result<T>;
}

impl<T> Check<T> for std::result::Result<T, vk::Result> {
    fn check(self, call: &'static str) -> Result<T> {
        self.map_err(|r| VkError::api(call, r))
    }
}
