//! Conversions between Vulkan's types and the backend's: versions, device types, memory
//! type selection.

use ash::vk;

/// `major.minor.patch` of a Vulkan version number.
pub fn version(v: u32) -> String {
    format!(
        "{}.{}.{}",
        vk::api_version_major(v),
        vk::api_version_minor(v),
        vk::api_version_patch(v)
    )
}

/// A device type in words.
pub fn device_type(t: vk::PhysicalDeviceType) -> &'static str {
    match t {
        vk::PhysicalDeviceType::DISCRETE_GPU => "discrete GPU",
        vk::PhysicalDeviceType::INTEGRATED_GPU => "integrated GPU",
        vk::PhysicalDeviceType::VIRTUAL_GPU => "virtual GPU",
        vk::PhysicalDeviceType::CPU => "CPU",
        _ => "other",
    }
}

/// A NUL-terminated name from a fixed array (device and driver names).
pub fn name(raw: &[std::ffi::c_char]) -> String {
    let bytes: Vec<u8> = raw
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Where buffers live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryPlan {
    /// The memory type of the buffers kernels use.
    pub device: u32,
    /// True when that type is host-visible and coherent: buffers are mapped and copied
    /// to and from directly (lavapipe, integrated GPUs). Otherwise host copies go through
    /// a staging buffer of type [`MemoryPlan::staging`].
    pub mapped: bool,
    /// The host-visible, coherent memory type for staging.
    pub staging: u32,
}

/// Chooses memory types: device-local and host-visible-coherent in one when the device
/// has it, else device-local buffers and host-visible-coherent staging.
pub fn memory_plan(
    props: &vk::PhysicalDeviceMemoryProperties,
    force_staging: bool,
) -> Option<MemoryPlan> {
    let types = &props.memory_types[..props.memory_type_count as usize];
    let find = |want: vk::MemoryPropertyFlags| {
        types
            .iter()
            .position(|t| t.property_flags.contains(want))
            .map(|i| i as u32)
    };
    let host = vk::MemoryPropertyFlags::HOST_VISIBLE | vk::MemoryPropertyFlags::HOST_COHERENT;
    let local = vk::MemoryPropertyFlags::DEVICE_LOCAL;
    let staging = find(host)?;
    match find(local | host) {
        Some(both) if !force_staging => Some(MemoryPlan {
            device: both,
            mapped: true,
            staging,
        }),
        _ => Some(MemoryPlan {
            device: find(local).unwrap_or(staging),
            mapped: false,
            staging,
        }),
    }
}
