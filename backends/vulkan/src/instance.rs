//! The loader, the instance, and what each physical device offers.

use std::ffi::CStr;
use std::sync::Arc;

use ash::vk;

use crate::conv;
use crate::error::{Check, Result, VkError};

/// The loaded library and one instance; destroyed when the last owner drops it.
pub(crate) struct Instance {
    /// Keeps the loader library loaded while the instance lives.
    _entry: ash::Entry,
    pub raw: ash::Instance,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Instance")
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        // SAFETY: every device and object created from this instance holds an Arc to it,
        // so they are all gone when this runs.
        unsafe { self.raw.destroy_instance(None) };
    }
}

impl Instance {
    /// Loads `libvulkan.so.1` and creates a Vulkan 1.1 instance (enumerating portability
    /// drivers too).
    pub fn new() -> Result<Arc<Instance>> {
        // SAFETY: loading the system's Vulkan loader runs its initializers; it is the
        // library this backend is for.
        let entry = unsafe { ash::Entry::load() }.map_err(|e| VkError::NoLoader {
            detail: e.to_string(),
        })?;
        let app = vk::ApplicationInfo::default()
            .application_name(c"neurokern")
            .engine_name(c"neurokern")
            .api_version(vk::make_api_version(0, 1, 1, 0));
        // SAFETY: a plain query of the loader.
        let exts =
            unsafe { entry.enumerate_instance_extension_properties(None) }.unwrap_or_default();
        let portability = exts.iter().any(|e| {
            e.extension_name_as_c_str()
                .is_ok_and(|n| n == ash::khr::portability_enumeration::NAME)
        });
        let names = [ash::khr::portability_enumeration::NAME.as_ptr()];
        let mut info = vk::InstanceCreateInfo::default().application_info(&app);
        if portability {
            info = info
                .enabled_extension_names(&names)
                .flags(vk::InstanceCreateFlags::ENUMERATE_PORTABILITY_KHR);
        }
        // SAFETY: `info` and what it points to live across the call.
        let raw = unsafe { entry.create_instance(&info, None) }.check("vkCreateInstance")?;
        Ok(Arc::new(Instance { _entry: entry, raw }))
    }
}

/// What a physical device offers the backend.
#[derive(Clone, Debug)]
pub struct DeviceInfo {
    /// Position in [`crate::devices`].
    pub index: usize,
    /// `deviceName`.
    pub name: String,
    /// Device type in words.
    pub kind: &'static str,
    /// Vulkan version the device supports.
    pub api_version: String,
    /// The driver's name and information (`driverName`, `driverInfo`), when reported.
    pub driver: String,
    /// True for lavapipe (llvmpipe).
    pub lavapipe: bool,
    /// A queue family with compute.
    pub compute_queue: Option<u32>,
    /// `storageBuffer16BitAccess`: f16 ops run.
    pub storage16: bool,
    /// `shaderSignedZeroInfNanPreserveFloat32` (with `VK_KHR_shader_float_controls`).
    pub preserve_f32: bool,
    /// `shaderDenormPreserveFloat32`: f32 denormals survive arithmetic (lavapipe: false).
    pub denorm_preserve_f32: bool,
    /// `maxStorageBufferRange` in bytes.
    pub max_storage_buffer_range: u64,
    /// `maxComputeWorkGroupCount`.
    pub max_group_count: [u32; 3],
    /// `maxTexelBufferElements`: the GEMM's texel-buffer route needs its packed panels
    /// within it.
    pub max_texel_elements: u64,
    /// `minTexelBufferOffsetAlignment` in bytes.
    pub texel_offset_alignment: u64,
    /// `maxComputeWorkGroupInvocations`.
    pub max_group_invocations: u32,
    /// `maxPushConstantsSize` in bytes.
    pub max_push_constants: u32,
    /// `maxMemoryAllocationSize` (Vulkan 1.1).
    pub max_allocation: u64,
    /// The largest device-local heap, in bytes.
    pub device_memory: u64,
    /// Whether the device's API version is at least 1.1 (the shaders' target).
    pub vulkan_1_1: bool,
    pub(crate) raw: vk::PhysicalDevice,
    pub(crate) float_controls_ext: bool,
}

impl DeviceInfo {
    /// Why the device cannot run the backend at all, if it cannot.
    pub fn missing(&self) -> Option<String> {
        if !self.vulkan_1_1 {
            Some(format!(
                "Vulkan {} is older than 1.1 (the shaders target SPIR-V 1.3)",
                self.api_version
            ))
        } else if self.compute_queue.is_none() {
            Some("no queue family with compute".into())
        } else {
            None
        }
    }

    /// Why f16 ops cannot run, if they cannot.
    pub fn f16_missing(&self) -> Option<String> {
        (!self.storage16).then(|| {
            "the device lacks storageBuffer16BitAccess (16-bit storage), which f16 storage needs; \
             f32 ops run"
                .to_string()
        })
    }

    /// One line of capabilities, for device listings.
    pub fn capabilities(&self) -> String {
        format!(
            "{} · Vulkan {} · {} · f16 storage: {} · SignedZeroInfNanPreserve f32: {} · \
             f32 denormals: {} · maxStorageBufferRange {} · maxTexelBufferElements {} · \
             maxComputeWorkGroupCount {:?} · maxPushConstantsSize {} · maxMemoryAllocationSize {}",
            self.kind,
            self.api_version,
            self.driver,
            yes(self.storage16),
            yes(self.preserve_f32),
            if self.denorm_preserve_f32 {
                "preserved"
            } else {
                "may flush"
            },
            self.max_storage_buffer_range,
            self.max_texel_elements,
            self.max_group_count,
            self.max_push_constants,
            self.max_allocation
        )
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// Every physical device of the instance, in the loader's order.
pub(crate) fn enumerate(inst: &Instance) -> Result<Vec<DeviceInfo>> {
    // SAFETY: a plain query of a live instance.
    let pds =
        unsafe { inst.raw.enumerate_physical_devices() }.check("vkEnumeratePhysicalDevices")?;
    pds.into_iter()
        .enumerate()
        .map(|(index, pd)| describe(inst, index, pd))
        .collect()
}

fn describe(inst: &Instance, index: usize, pd: vk::PhysicalDevice) -> Result<DeviceInfo> {
    let raw = &inst.raw;
    // SAFETY: queries of a physical device of this live instance; every output structure
    // outlives its call.
    unsafe {
        let props = raw.get_physical_device_properties(pd);
        let api = props.api_version;
        let vulkan_1_1 = api >= vk::make_api_version(0, 1, 1, 0);
        let exts = raw
            .enumerate_device_extension_properties(pd)
            .unwrap_or_default();
        let has = |n: &CStr| {
            exts.iter()
                .any(|e| e.extension_name_as_c_str().is_ok_and(|x| x == n))
        };
        let float_controls_ext = has(ash::khr::shader_float_controls::NAME);
        let driver_props_ext =
            has(ash::khr::driver_properties::NAME) || api >= vk::make_api_version(0, 1, 2, 0);
        let queue = raw
            .get_physical_device_queue_family_properties(pd)
            .iter()
            .position(|q| q.queue_flags.contains(vk::QueueFlags::COMPUTE))
            .map(|i| i as u32);
        let mem = raw.get_physical_device_memory_properties(pd);
        let device_memory = mem.memory_heaps[..mem.memory_heap_count as usize]
            .iter()
            .filter(|h| h.flags.contains(vk::MemoryHeapFlags::DEVICE_LOCAL))
            .map(|h| h.size)
            .max()
            .unwrap_or(0);
        let (mut storage16, mut preserve_f32, mut denorm, mut max_alloc) =
            (false, false, false, 1u64 << 30);
        let (mut driver, mut lavapipe) = (String::new(), false);
        if vulkan_1_1 {
            let mut f16 = vk::PhysicalDevice16BitStorageFeatures::default();
            let mut feats = vk::PhysicalDeviceFeatures2::default().push_next(&mut f16);
            raw.get_physical_device_features2(pd, &mut feats);
            storage16 = f16.storage_buffer16_bit_access == vk::TRUE;
            let mut m3 = vk::PhysicalDeviceMaintenance3Properties::default();
            let mut fc = vk::PhysicalDeviceFloatControlsProperties::default();
            let mut dp = vk::PhysicalDeviceDriverProperties::default();
            let mut p2 = vk::PhysicalDeviceProperties2::default().push_next(&mut m3);
            if float_controls_ext {
                p2 = p2.push_next(&mut fc);
            }
            if driver_props_ext {
                p2 = p2.push_next(&mut dp);
            }
            raw.get_physical_device_properties2(pd, &mut p2);
            max_alloc = m3.max_memory_allocation_size;
            if float_controls_ext {
                preserve_f32 = fc.shader_signed_zero_inf_nan_preserve_float32 == vk::TRUE;
                denorm = fc.shader_denorm_preserve_float32 == vk::TRUE;
            }
            if driver_props_ext {
                driver = format!(
                    "{} {}",
                    conv::name(&dp.driver_name),
                    conv::name(&dp.driver_info)
                )
                .trim()
                .to_string();
                lavapipe = dp.driver_id == vk::DriverId::MESA_LLVMPIPE;
            }
        }
        let name = conv::name(&props.device_name);
        lavapipe |= name.contains("llvmpipe");
        let l = &props.limits;
        Ok(DeviceInfo {
            index,
            name,
            kind: conv::device_type(props.device_type),
            api_version: conv::version(api),
            driver,
            lavapipe,
            compute_queue: queue,
            storage16,
            preserve_f32,
            denorm_preserve_f32: denorm,
            max_storage_buffer_range: u64::from(l.max_storage_buffer_range),
            max_group_count: l.max_compute_work_group_count,
            max_texel_elements: u64::from(l.max_texel_buffer_elements),
            texel_offset_alignment: l.min_texel_buffer_offset_alignment.max(1),
            max_group_invocations: l.max_compute_work_group_invocations,
            max_push_constants: l.max_push_constants_size,
            max_allocation: max_alloc,
            device_memory,
            vulkan_1_1,
            raw: pd,
            float_controls_ext,
        })
    }
}
