//! Buffers: one `VkBuffer` bound to its own `VkDeviceMemory`, mapped for their lifetime
//! when the memory type is host-visible.

use std::ptr::NonNull;
use std::sync::Arc;

use ash::vk;

use crate::device::Inner;
use crate::error::{Check, Result, VkError};

/// A buffer and its memory, without an owner (the device's own staging, scratch and dummy
/// buffers; [`Mem`] wraps one for the skeleton). Destroyed explicitly by its owner.
#[derive(Debug)]
pub(crate) struct RawBuf {
    pub buffer: vk::Buffer,
    pub memory: vk::DeviceMemory,
    /// Allocated bytes (a multiple of 4, at least 4).
    pub size: u64,
    /// The mapping, for host-visible memory.
    pub ptr: Option<NonNull<u8>>,
}

// SAFETY: the mapping pointer is only dereferenced by the device while it holds its
// queue lock (`Inner::state`), which serializes every host access and submission; the
// Vulkan handles themselves are plain identifiers that may be used from any thread.
unsafe impl Send for RawBuf {}
// SAFETY: as above: shared references only reach the memory through the device's lock.
unsafe impl Sync for RawBuf {}

impl RawBuf {
    /// Creates a buffer of at least `bytes` (rounded up to 4) in memory type `type_index`,
    /// mapped when `map`.
    pub fn new(dev: &ash::Device, bytes: u64, type_index: u32, map: bool) -> Result<RawBuf> {
        let size = bytes.max(4).div_ceil(4) * 4;
        let info = vk::BufferCreateInfo::default()
            .size(size)
            .usage(
                vk::BufferUsageFlags::STORAGE_BUFFER
                    | vk::BufferUsageFlags::UNIFORM_TEXEL_BUFFER
                    | vk::BufferUsageFlags::TRANSFER_SRC
                    | vk::BufferUsageFlags::TRANSFER_DST,
            )
            .sharing_mode(vk::SharingMode::EXCLUSIVE);
        // SAFETY: `info` is valid for the call; the buffer is destroyed on every error path
        // below and by the owner otherwise.
        let buffer = unsafe { dev.create_buffer(&info, None) }.check("vkCreateBuffer")?;
        let destroy_buffer = |e: VkError| {
            // SAFETY: the buffer was created above, is unbound or bound to memory that is
            // freed separately, and is used by nothing.
            unsafe { dev.destroy_buffer(buffer, None) };
            e
        };
        // SAFETY: a query of the buffer just created.
        let req = unsafe { dev.get_buffer_memory_requirements(buffer) };
        if req.memory_type_bits & (1 << type_index) == 0 {
            return Err(destroy_buffer(VkError::NoDevice(format!(
                "storage buffers cannot use memory type {type_index} (allowed types {:#b})",
                req.memory_type_bits
            ))));
        }
        let alloc = vk::MemoryAllocateInfo::default()
            .allocation_size(req.size)
            .memory_type_index(type_index);
        // SAFETY: `alloc` is valid; the memory is freed on the error paths below and by
        // the owner otherwise.
        let memory = unsafe { dev.allocate_memory(&alloc, None) }
            .map_err(|r| destroy_buffer(VkError::api("vkAllocateMemory", r)))?;
        let free = |e: VkError| {
            // SAFETY: the memory was allocated above and nothing uses it.
            unsafe { dev.free_memory(memory, None) };
            destroy_buffer(e)
        };
        // SAFETY: buffer and memory are fresh, the memory is large enough (its size came
        // from the buffer's requirements) and offset 0 is aligned.
        unsafe { dev.bind_buffer_memory(buffer, memory, 0) }
            .map_err(|r| free(VkError::api("vkBindBufferMemory", r)))?;
        let ptr = if map {
            // SAFETY: the memory is host-visible (the caller chose such a type) and not
            // mapped yet; it stays mapped until it is freed.
            let p =
                unsafe { dev.map_memory(memory, 0, vk::WHOLE_SIZE, vk::MemoryMapFlags::empty()) }
                    .map_err(|r| free(VkError::api("vkMapMemory", r)))?;
            NonNull::new(p.cast::<u8>())
        } else {
            None
        };
        Ok(RawBuf {
            buffer,
            memory,
            size,
            ptr,
        })
    }

    /// Destroys the buffer and frees its memory.
    ///
    /// # Safety
    /// No queued or running command may use the buffer, and it is not used afterwards.
    pub unsafe fn destroy(&self, dev: &ash::Device) {
        // SAFETY: the caller guarantees nothing uses the buffer any more; freeing mapped
        // memory unmaps it.
        unsafe {
            dev.destroy_buffer(self.buffer, None);
            dev.free_memory(self.memory, None);
        }
    }
}

/// A buffer of a [`crate::VulkanDevice`], freed on drop.
pub struct Mem {
    pub(crate) raw: RawBuf,
    pub(crate) owner: Arc<Inner>,
}

impl std::fmt::Debug for Mem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mem")
            .field("bytes", &self.raw.size)
            .field("mapped", &self.raw.ptr.is_some())
            .finish()
    }
}

impl Mem {
    /// Allocated bytes (a multiple of 4).
    pub fn size(&self) -> u64 {
        self.raw.size
    }
}

impl Drop for Mem {
    fn drop(&mut self) {
        // Every submission waits for its fence before returning, so no command still uses
        // the buffer; taking the lock orders this after any submission in progress.
        let _guard = self.owner.lock();
        // SAFETY: see above; the buffer is not used after this.
        unsafe { self.raw.destroy(&self.owner.device) };
    }
}
