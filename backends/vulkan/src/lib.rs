//! The Vulkan backend of neurokern: `ash`, with `libvulkan.so.1` loaded at run time
//! (nothing Vulkan is needed to build).
//!
//! The backend is [`neurokern_gpu::GpuBackend`] over [`VulkanDevice`]: validation,
//! lowering and workspace are the shared skeleton's; this crate holds the FFI layers and
//! the primitive launchers:
//!
//! * [`instance`]: the loader, the instance, and what each physical device offers
//!   ([`DeviceInfo`]: compute queue, 16-bit storage, float controls, limits);
//! * [`conv`]: conversions of Vulkan's types, memory-type choice;
//! * `memory`: buffers (device-local; mapped where that memory is host-visible, as on
//!   lavapipe; otherwise staged);
//! * `pipeline`: one compute pipeline per kernel × storage type (× GEMM specialization)
//!   from the committed SPIR-V ([`neurokern_kernels::spirv`]);
//! * [`launch`]: each table kernel's dispatch shape, within lavapipe's loop cap;
//! * [`device`]: the [`neurokern_gpu::Device`] implementation.
//!
//! Every device of every physical GPU is listed by [`devices`]; [`DeviceSelector`]
//! picks one by index or name.

pub mod conv;
pub mod device;
pub mod error;
pub mod instance;
pub mod launch;
mod memory;
mod pipeline;

pub use device::{GemmRoute, Options, VulkanDevice};
pub use error::VkError;
pub use instance::DeviceInfo;
pub use memory::Mem;

use instance::Instance;

/// The Vulkan backend.
pub type VulkanBackend = neurokern_gpu::GpuBackend<VulkanDevice>;

/// Which device to open.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum DeviceSelector {
    /// `NEUROKERN_VULKAN_DEVICE` if set (an index or a name fragment), else the first
    /// device that can run (GPUs before CPUs).
    #[default]
    Default,
    /// The device at this position of [`devices`].
    Index(usize),
    /// The first device whose name contains this (case-insensitive).
    Name(String),
}

impl DeviceSelector {
    /// Parses `"3"` as an index and anything else as a name fragment.
    pub fn parse(s: &str) -> DeviceSelector {
        match s.trim().parse() {
            Ok(i) => DeviceSelector::Index(i),
            Err(_) => DeviceSelector::Name(s.trim().to_string()),
        }
    }
}

/// Every Vulkan physical device, in the loader's order.
pub fn devices() -> Result<Vec<DeviceInfo>, VkError> {
    instance::enumerate(&*Instance::new()?)
}

fn select(list: Vec<DeviceInfo>, sel: &DeviceSelector) -> Result<DeviceInfo, VkError> {
    if list.is_empty() {
        return Err(VkError::NoDevice(
            "the loader lists no physical device; on Debian/Ubuntu, lavapipe (a Vulkan device \
             on the CPU) is in mesa-vulkan-drivers"
                .into(),
        ));
    }
    match sel {
        DeviceSelector::Default => match std::env::var("NEUROKERN_VULKAN_DEVICE") {
            Ok(s) if !s.trim().is_empty() => select(list, &DeviceSelector::parse(&s)),
            _ => {
                let usable = |d: &&DeviceInfo| d.missing().is_none();
                let best = list
                    .iter()
                    .filter(usable)
                    .find(|d| d.kind != "CPU")
                    .or_else(|| list.iter().find(usable))
                    .unwrap_or(&list[0]);
                Ok(best.clone())
            }
        },
        DeviceSelector::Index(i) => list
            .get(*i)
            .cloned()
            .ok_or_else(|| VkError::NotFound(format!("index {i} of {}", list.len()))),
        DeviceSelector::Name(n) => {
            let n = n.to_lowercase();
            list.iter()
                .find(|d| d.name.to_lowercase().contains(&n))
                .cloned()
                .ok_or(VkError::NotFound(n))
        }
    }
}

/// Whether the selected device can run, and why not: no loader (and what to install), no
/// device, no compute queue, Vulkan older than 1.1. A device without 16-bit storage
/// passes (its f16 ops are unsupported, with that reason). Returns the device's name.
pub fn probe(sel: &DeviceSelector) -> Result<String, String> {
    let inst = Instance::new().map_err(|e| e.to_string())?;
    let list = instance::enumerate(&inst).map_err(|e| e.to_string())?;
    let d = select(list, sel).map_err(|e| e.to_string())?;
    match d.missing() {
        None => Ok(d.name),
        Some(why) => Err(format!("{}: {why}", d.name)),
    }
}

impl VulkanDevice {
    /// Opens the selected device.
    pub fn new(sel: &DeviceSelector) -> Result<VulkanDevice, VkError> {
        VulkanDevice::with_options(sel, Options::default())
    }

    /// Opens the selected device with options.
    pub fn with_options(sel: &DeviceSelector, opts: Options) -> Result<VulkanDevice, VkError> {
        let inst = Instance::new()?;
        let info = select(instance::enumerate(&inst)?, sel)?;
        VulkanDevice::open(inst, info, opts)
    }
}

/// Opens the selected device as a backend.
pub fn open(sel: &DeviceSelector) -> Result<VulkanBackend, VkError> {
    Ok(VulkanBackend::new(VulkanDevice::new(sel)?))
}
