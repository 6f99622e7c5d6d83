//! [`VulkanDevice`]: the [`neurokern_gpu::Device`] of one Vulkan physical device.
//!
//! Execution is synchronous: each primitive records one command buffer (its dispatches
//! with barriers between passes, then a barrier to host reads), submits it and waits for
//! its fence, all under one lock (`Inner::state`) that serializes queue use, descriptor
//! pool, staging and scratch. So `read` sees every earlier step, a workspace is reusable
//! as soon as a call returns, and `synchronize` has nothing to wait for.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use ash::vk;
use neurokern_core::{FloatType, OpKind};
use neurokern_gpu::gemm::Gemm;
use neurokern_gpu::kernel::{Arg, Kernel};
use neurokern_gpu::{Device, Limits};

use crate::conv::{self, MemoryPlan};
use crate::error::{Check, Result, VkError};
use crate::instance::{DeviceInfo, Instance};
use crate::launch::{self, Pass, Shape};
use crate::memory::{Mem, RawBuf};
use crate::pipeline::{Pipe, PipeKey};

/// Push-constant words after a kernel's own scalars: the chunk base (3) and pass words (3).
const EXTRAS: u32 = 6;
/// Largest K slice of one GEMM dispatch (one loop iteration per k, well inside
/// [`launch::LOOP_LIMIT`] with the epilogue's short loops).
pub const GEMM_K_SLICE: usize = 16_384;
/// Staging buffer size for devices whose buffers are not host-visible.
const STAGING_BYTES: u64 = 16 << 20;
/// Descriptor sets per submission (one per pipeline used).
const SETS: u32 = 4;
/// Storage-buffer bindings per set, at most.
const MAX_BINDINGS: u32 = 8;

/// Multiply-adds from which [`GemmRoute::Auto`] packs texel panels (below, the packing
/// passes cost more than they save).
pub const TEXEL_MIN_MACS: usize = 1 << 21;

/// Which GEMM kernel runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GemmRoute {
    /// Meant to pick `nk_gemm_tex` over texel-buffer panels for products of at least
    /// [`TEXEL_MIN_MACS`] multiply-adds with `m ≥ 32` and `n ≥ 16` whose panels fit
    /// `maxTexelBufferElements` and `maxStorageBufferRange`. For now it always runs
    /// `nk_gemm`: on lavapipe (Mesa 22.3.6) the texel kernel's first dispatch compiles for
    /// minutes and it then reached only 2–3 GFLOP/s here (its 128 inlined guarded stores
    /// are the suspect), so it stays opt-in ([`GemmRoute::Texel`]) until it is faster.
    #[default]
    Auto,
    /// The texel route wherever the panels fit (tests of its edges on small shapes).
    Texel,
    /// Always the storage-buffer kernel.
    Storage,
}

/// Options of a `VulkanDevice` when it is opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Use device-local buffers and a staging buffer even where a device-local memory type
    /// is host-visible (tests the discrete-GPU path on any device).
    pub force_staging: bool,
    /// The GEMM kernel.
    pub gemm: GemmRoute,
}

/// A texel-buffer binding: `range` bytes of `mem` from `offset`, as RGBA32F texels.
struct Texel<'a> {
    mem: &'a Mem,
    offset: u64,
    range: u64,
}

/// The packed panels of the texel route, in one workspace buffer: A's at 0, B's at
/// `b_off` (aligned for a texel view).
#[derive(Clone, Copy, Debug)]
struct TexPlan {
    /// K in texels (K rounded up to 4, over 4).
    kq: usize,
    /// Rows of A's panel (m rounded up to 32).
    mp: usize,
    /// Columns of B's panel (n rounded up to 16).
    np: usize,
    /// Batches packed of A and B (1 for a matrix shared by every batch).
    ba: usize,
    bb: usize,
    /// Bytes of A's panel; B's offset and bytes.
    a_bytes: u64,
    b_off: u64,
    b_bytes: u64,
}

impl TexPlan {
    fn total(&self) -> u64 {
        self.b_off + self.b_bytes
    }
}

/// What the lock protects.
pub(crate) struct State {
    queue: vk::Queue,
    cmd_pool: vk::CommandPool,
    cmd: vk::CommandBuffer,
    fence: vk::Fence,
    desc_pool: vk::DescriptorPool,
    pipes: HashMap<PipeKey, Pipe>,
    dummy: RawBuf,
    scratch: Option<RawBuf>,
    staging: Option<RawBuf>,
}

/// The logical device and everything the buffers need to free themselves.
pub(crate) struct Inner {
    pub device: ash::Device,
    pub info: DeviceInfo,
    pub plan: MemoryPlan,
    state: Mutex<Option<State>>,
    _instance: Arc<Instance>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("device", &self.info.name)
            .finish()
    }
}

impl Inner {
    /// The queue lock (a panic under it leaves state that is still consistent: every
    /// submission is complete before the lock is released or the panic unwinds past it).
    pub(crate) fn lock(&self) -> MutexGuard<'_, Option<State>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let state = self
            .state
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        // SAFETY: the last owner is going away: every Mem is gone (each holds an Arc), no
        // submission is in flight (each waits for its fence), so every object is idle.
        unsafe {
            let _ = self.device.device_wait_idle();
            if let Some(s) = state {
                for p in s.pipes.values() {
                    p.destroy(&self.device);
                }
                s.dummy.destroy(&self.device);
                if let Some(b) = &s.scratch {
                    b.destroy(&self.device);
                }
                if let Some(b) = &s.staging {
                    b.destroy(&self.device);
                }
                self.device.destroy_descriptor_pool(s.desc_pool, None);
                self.device.destroy_fence(s.fence, None);
                self.device.destroy_command_pool(s.cmd_pool, None);
            }
            self.device.destroy_device(None);
        }
    }
}

/// One Vulkan device.
#[derive(Debug, Clone)]
pub struct VulkanDevice {
    inner: Arc<Inner>,
    name: String,
    gemm_route: GemmRoute,
}

impl VulkanDevice {
    /// Opens the device described by `info` (from [`crate::devices`]).
    pub(crate) fn open(instance: Arc<Instance>, info: DeviceInfo, opts: Options) -> Result<Self> {
        if let Some(why) = info.missing() {
            return Err(VkError::NoDevice(format!("{}: {why}", info.name)));
        }
        let family = info.compute_queue.unwrap_or(0);
        let raw = &instance.raw;
        // SAFETY: a query of a physical device of this live instance.
        let mem_props = unsafe { raw.get_physical_device_memory_properties(info.raw) };
        let plan = conv::memory_plan(&mem_props, opts.force_staging).ok_or_else(|| {
            VkError::NoDevice(format!(
                "{}: no host-visible, coherent memory type",
                info.name
            ))
        })?;
        let prio = [1.0f32];
        let queues = [vk::DeviceQueueCreateInfo::default()
            .queue_family_index(family)
            .queue_priorities(&prio)];
        let mut f16 = vk::PhysicalDevice16BitStorageFeatures::default()
            .storage_buffer16_bit_access(info.storage16);
        let mut exts = Vec::new();
        if info.float_controls_ext {
            exts.push(ash::khr::shader_float_controls::NAME.as_ptr());
        }
        let create = vk::DeviceCreateInfo::default()
            .queue_create_infos(&queues)
            .enabled_extension_names(&exts)
            .push_next(&mut f16);
        // SAFETY: `create` and everything it points to outlive the call; the features and
        // extensions enabled are ones the device reported.
        let device =
            unsafe { raw.create_device(info.raw, &create, None) }.check("vkCreateDevice")?;
        let name = format!("{} ({})", info.name, info.kind);
        let inner = Arc::new(Inner {
            device,
            info,
            plan,
            state: Mutex::new(None),
            _instance: instance,
        });
        let state = State::new(&inner.device, family, plan)?;
        *inner.lock() = Some(state);
        Ok(VulkanDevice {
            inner,
            name,
            gemm_route: opts.gemm,
        })
    }

    /// The texel route's panels for `g`, or `None` where the storage-buffer kernel runs
    /// ([`GemmRoute`]).
    fn tex_plan(&self, g: &Gemm<()>) -> Option<TexPlan> {
        let info = &self.inner.info;
        match self.gemm_route {
            GemmRoute::Storage | GemmRoute::Auto => return None,
            GemmRoute::Texel => {}
        }
        if g.k == 0 || g.is_empty() {
            return None;
        }
        let kq = g.k.div_ceil(4);
        let mp = g.m.div_ceil(32) * 32;
        let np = g.n.div_ceil(16) * 16;
        let ba = if g.a.stride == 0 { 1 } else { g.batch };
        let bb = if g.b.stride == 0 { 1 } else { g.batch };
        let a_floats = (ba as u64) * (mp as u64) * (4 * kq as u64);
        let b_floats = (bb as u64) * (4 * kq as u64) * (np as u64);
        let align = info.texel_offset_alignment.max(16);
        let a_bytes = a_floats * 4;
        let plan = TexPlan {
            kq,
            mp,
            np,
            ba,
            bb,
            a_bytes,
            b_off: a_bytes.div_ceil(align) * align,
            b_bytes: b_floats * 4,
        };
        // The packing kernel binds the whole workspace as one storage buffer, and the
        // shader indexes it with 32-bit integers.
        let fits = plan.total() <= info.max_storage_buffer_range
            && a_floats / 4 <= info.max_texel_elements
            && b_floats / 4 <= info.max_texel_elements
            && plan.total() / 4 < i32::MAX as u64;
        fits.then_some(plan)
    }

    /// Packs `x` (`rows × cols` after its transpose) into `panel` at float `off`, padded
    /// with zeros to `rp × cp`, for `batches` batches.
    #[allow(clippy::too_many_arguments)]
    fn pack(
        &self,
        dtype: FloatType,
        x: &neurokern_gpu::gemm::MatRef<&Mem>,
        rows: usize,
        cols: usize,
        rp: usize,
        cp: usize,
        batches: usize,
        panel: &Mem,
        off: u64,
    ) -> Result<()> {
        let fit = |arg: &'static str, v: usize| {
            i32::try_from(v)
                .map(|v| v as u32)
                .map_err(|_| VkError::DimTooLarge {
                    kernel: "nk_gemm_pack",
                    arg,
                    value: v,
                })
        };
        let scalars = [
            fit("rows", rows)?,
            fit("cols", cols)?,
            fit("padded rows", rp)?,
            fit("padded cols", cp)?,
            fit("ld", x.ld)?,
            fit("stride", x.stride)?,
            u32::from(x.trans),
            fit("batches", batches)?,
            fit("offset", off as usize)?,
        ];
        let shape = Shape {
            groups: false,
            local: [64, 1, 1],
            passes: vec![Pass {
                grid: [cp as u64, rp as u64, batches as u64],
                p: [0; 3],
            }],
            scratch: 0,
        };
        let key = PipeKey {
            name: "nk_gemm_pack",
            half: dtype == FloatType::F16,
            spec: [0; 3],
        };
        self.dispatch(
            key,
            "nk_gemm_pack",
            &[Some(self.mine(x.buf)?), Some(panel)],
            &scalars,
            &shape,
        )
    }

    /// The GEMM over packed texel panels (`nk_gemm_tex`).
    fn gemm_tex(
        &self,
        dtype: FloatType,
        g: &Gemm<&Mem>,
        t: TexPlan,
        panel: &Mem,
        w: Option<&Mem>,
    ) -> Result<()> {
        let fit = |arg: &'static str, v: usize| {
            i32::try_from(v)
                .map(|v| v as u32)
                .map_err(|_| VkError::DimTooLarge {
                    kernel: "nk_gemm_tex",
                    arg,
                    value: v,
                })
        };
        let kp = 4 * t.kq;
        self.pack(dtype, &g.a, g.m, g.k, t.mp, kp, t.ba, panel, 0)?;
        self.pack(dtype, &g.b, g.k, g.n, kp, t.np, t.bb, panel, t.b_off / 4)?;
        let sa = if t.ba == 1 { 0 } else { t.mp * t.kq };
        let sb = if t.bb == 1 { 0 } else { kp * t.np / 4 };
        let scalars = [
            fit("m", g.m)?,
            fit("n", g.n)?,
            fit("k", g.k)?,
            fit("batch", g.batch)?,
            fit("kq", t.kq)?,
            fit("nq", t.np / 4)?,
            fit("a stride", sa)?,
            fit("b stride", sb)?,
            fit("ldc", g.c.ld)?,
            fit("c stride", g.c.stride)?,
            g.alpha.to_bits(),
            g.beta.to_bits(),
            u32::from(g.accumulate),
        ];
        let c = self.mine(g.c.buf)?;
        let (ct, cf) = if g.c_f32 {
            (None, Some(c))
        } else {
            (Some(c), None)
        };
        let grid = [(t.np / 16) as u64, (t.mp / 32) as u64, g.batch as u64];
        let shape = Shape {
            groups: false,
            local: [8, 1, 1],
            passes: k_passes(g.k, grid),
            scratch: 0,
        };
        let key = PipeKey {
            name: "nk_gemm_tex",
            half: dtype == FloatType::F16,
            spec: [u32::from(g.c_f32), 0, 0],
        };
        let texels = [
            Texel {
                mem: panel,
                offset: 0,
                range: t.a_bytes,
            },
            Texel {
                mem: panel,
                offset: t.b_off,
                range: t.b_bytes,
            },
        ];
        self.dispatch_with(key, "nk_gemm_tex", &texels, &[ct, cf, w], &scalars, &shape)
    }

    /// What the device offers.
    pub fn info(&self) -> &DeviceInfo {
        &self.inner.info
    }

    /// True when buffers are mapped directly (no staging).
    pub fn mapped(&self) -> bool {
        self.inner.plan.mapped
    }

    fn mine<'a>(&self, m: &'a Mem) -> Result<&'a Mem> {
        if Arc::ptr_eq(&m.owner, &self.inner) {
            Ok(m)
        } else {
            Err(VkError::ForeignMemory)
        }
    }

    fn bindable(&self, what: &str, m: &Mem) -> Result<()> {
        let limit = self.inner.info.max_storage_buffer_range;
        if m.size() > limit {
            return Err(VkError::Limit {
                what: format!("{what}: a buffer of {} bytes", m.size()),
                limit_name: "maxStorageBufferRange",
                limit,
                need: m.size(),
            });
        }
        Ok(())
    }

    /// Runs `record` in a fresh command buffer, submits it and waits.
    fn submit(
        &self,
        st: &mut State,
        record: impl FnOnce(&ash::Device, &mut State, vk::CommandBuffer) -> Result<()>,
    ) -> Result<()> {
        let dev = &self.inner.device;
        let cb = st.cmd;
        // SAFETY: the command buffer, pool and fence are this state's, and
        // idle: the previous submission was waited for before its lock was released.
        unsafe {
            dev.reset_descriptor_pool(st.desc_pool, vk::DescriptorPoolResetFlags::empty())
                .check("vkResetDescriptorPool")?;
            dev.begin_command_buffer(
                cb,
                &vk::CommandBufferBeginInfo::default()
                    .flags(vk::CommandBufferUsageFlags::ONE_TIME_SUBMIT),
            )
            .check("vkBeginCommandBuffer")?;
        }
        let recorded = record(dev, st, cb);
        // SAFETY: recording into the command buffer begun above.
        unsafe {
            let to_host = [vk::MemoryBarrier::default()
                .src_access_mask(vk::AccessFlags::SHADER_WRITE | vk::AccessFlags::TRANSFER_WRITE)
                .dst_access_mask(vk::AccessFlags::HOST_READ | vk::AccessFlags::HOST_WRITE)];
            dev.cmd_pipeline_barrier(
                cb,
                vk::PipelineStageFlags::COMPUTE_SHADER | vk::PipelineStageFlags::TRANSFER,
                vk::PipelineStageFlags::HOST,
                vk::DependencyFlags::empty(),
                &to_host,
                &[],
                &[],
            );
            dev.end_command_buffer(cb).check("vkEndCommandBuffer")?;
        }
        recorded?;
        let cbs = [cb];
        let submit = [vk::SubmitInfo::default().command_buffers(&cbs)];
        // SAFETY: the command buffer is complete, every resource it names is alive (the
        // caller's borrows and this state), and the fence is unsignaled.
        unsafe {
            dev.queue_submit(st.queue, &submit, st.fence)
                .check("vkQueueSubmit")?;
            let waited = dev
                .wait_for_fences(&[st.fence], true, u64::MAX)
                .check("vkWaitForFences");
            dev.reset_fences(&[st.fence]).check("vkResetFences")?;
            waited
        }
    }

    fn pipe<'s>(
        &self,
        st: &'s mut State,
        key: PipeKey,
        texels: u32,
        bindings: u32,
        push_words: u32,
    ) -> Result<&'s Pipe> {
        if let std::collections::hash_map::Entry::Vacant(slot) = st.pipes.entry(key) {
            let spirv = neurokern_kernels::spirv::kernel(key.name)
                .ok_or(VkError::NoShader(key.name))?
                .get(key.half, self.inner.info.preserve_f32);
            let p = Pipe::new(
                &self.inner.device,
                key,
                spirv,
                texels,
                bindings,
                push_words,
                self.inner.info.max_push_constants,
            )?;
            slot.insert(p);
        }
        Ok(&st.pipes[&key])
    }

    /// Makes sure the scratch buffer holds `bytes`.
    fn scratch(&self, st: &mut State, bytes: u64) -> Result<()> {
        if st.scratch.as_ref().is_some_and(|s| s.size >= bytes) {
            return Ok(());
        }
        if let Some(old) = st.scratch.take() {
            // SAFETY: the device is idle between submissions (under the lock).
            unsafe { old.destroy(&self.inner.device) };
        }
        let plan = self.inner.plan;
        st.scratch = Some(RawBuf::new(
            &self.inner.device,
            bytes,
            plan.device,
            plan.mapped,
        )?);
        Ok(())
    }

    /// Records and runs one kernel: its pipeline, its buffers (absent ones and unused
    /// bindings get a dummy buffer), its scalars and its passes.
    fn dispatch(
        &self,
        key: PipeKey,
        what: &str,
        bufs: &[Option<&Mem>],
        scalars: &[u32],
        shape: &Shape,
    ) -> Result<()> {
        self.dispatch_with(key, what, &[], bufs, scalars, shape)
    }

    /// [`Self::dispatch`] with texel-buffer bindings first (`texels`), then `bufs`.
    fn dispatch_with(
        &self,
        key: PipeKey,
        what: &str,
        texels: &[Texel<'_>],
        bufs: &[Option<&Mem>],
        scalars: &[u32],
        shape: &Shape,
    ) -> Result<()> {
        for b in bufs.iter().flatten() {
            self.bindable(what, b)?;
        }
        for t in texels {
            self.mine(t.mem)?;
            let need = t.range / 16;
            if need > self.inner.info.max_texel_elements {
                return Err(VkError::Limit {
                    what: format!("{what}: a texel buffer of {need} texels"),
                    limit_name: "maxTexelBufferElements",
                    limit: self.inner.info.max_texel_elements,
                    need,
                });
            }
        }
        if shape.scratch > self.inner.info.max_storage_buffer_range {
            return Err(VkError::Limit {
                what: format!("{what}: scratch of {} bytes", shape.scratch),
                limit_name: "maxStorageBufferRange",
                limit: self.inner.info.max_storage_buffer_range,
                need: shape.scratch,
            });
        }
        let ntex = texels.len() as u32;
        let bindings = ntex + bufs.len() as u32 + 1;
        debug_assert!(bindings <= MAX_BINDINGS && ntex <= 2);
        let push_words = scalars.len() as u32 + EXTRAS;
        let max_count = self.inner.info.max_group_count;
        let mut guard = self.inner.lock();
        let st = guard
            .as_mut()
            .ok_or(VkError::NoDevice("device state is gone".into()))?;
        if shape.scratch > 0 {
            self.scratch(st, shape.scratch)?;
        }
        self.pipe(st, key, ntex, bindings, push_words)?;
        let dev = &self.inner.device;
        let mut views = Vec::with_capacity(texels.len());
        for t in texels {
            // SAFETY: the buffer is alive (borrowed) and was created with the
            // uniform-texel usage; the range is inside it (the caller's plan) and the offset
            // aligned (TexPlan). The view is destroyed below, after the submission waited.
            let made = unsafe {
                dev.create_buffer_view(
                    &vk::BufferViewCreateInfo::default()
                        .buffer(t.mem.raw.buffer)
                        .format(vk::Format::R32G32B32A32_SFLOAT)
                        .offset(t.offset)
                        .range(t.range),
                    None,
                )
            };
            match made {
                Ok(v) => views.push(v),
                Err(r) => {
                    // SAFETY: views made so far are unused.
                    unsafe { views.iter().for_each(|&v| dev.destroy_buffer_view(v, None)) };
                    return Err(VkError::api("vkCreateBufferView", r));
                }
            }
        }
        let done = self.submit(st, |dev, st, cb| {
            let pipe = &st.pipes[&key];
            let set_layouts = [pipe.set_layout];
            // SAFETY: the pool and layout are this device's; the set is
            // written with live buffers before the dispatches that use it, and the
            // commands are recorded into the command buffer `submit` began.
            unsafe {
                let set = dev
                    .allocate_descriptor_sets(
                        &vk::DescriptorSetAllocateInfo::default()
                            .descriptor_pool(st.desc_pool)
                            .set_layouts(&set_layouts),
                    )
                    .check("vkAllocateDescriptorSets")?[0];
                let scratch = st.scratch.as_ref().filter(|_| shape.scratch > 0);
                let infos: Vec<[vk::DescriptorBufferInfo; 1]> = bufs
                    .iter()
                    .map(|b| b.map(|m| &m.raw))
                    .chain(std::iter::once(scratch))
                    .map(|b| {
                        let b = b.unwrap_or(&st.dummy);
                        [vk::DescriptorBufferInfo::default()
                            .buffer(b.buffer)
                            .offset(0)
                            .range(b.size)]
                    })
                    .collect();
                let view_arrays: Vec<[vk::BufferView; 1]> = views.iter().map(|&v| [v]).collect();
                let writes: Vec<_> = view_arrays
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        vk::WriteDescriptorSet::default()
                            .dst_set(set)
                            .dst_binding(i as u32)
                            .descriptor_type(vk::DescriptorType::UNIFORM_TEXEL_BUFFER)
                            .texel_buffer_view(v)
                    })
                    .chain(infos.iter().enumerate().map(|(i, info)| {
                        vk::WriteDescriptorSet::default()
                            .dst_set(set)
                            .dst_binding(ntex + i as u32)
                            .descriptor_type(vk::DescriptorType::STORAGE_BUFFER)
                            .buffer_info(info)
                    }))
                    .collect();
                dev.update_descriptor_sets(&writes, &[]);
                dev.cmd_bind_pipeline(cb, vk::PipelineBindPoint::COMPUTE, pipe.pipeline);
                dev.cmd_bind_descriptor_sets(
                    cb,
                    vk::PipelineBindPoint::COMPUTE,
                    pipe.layout,
                    0,
                    &[set],
                    &[],
                );
                for pass in &shape.passes {
                    record_pass(dev, cb, pipe, scalars, shape, pass, max_count);
                }
            }
            Ok(())
        });
        // SAFETY: the submission completed (or never started): no command uses the views.
        unsafe { views.iter().for_each(|&v| dev.destroy_buffer_view(v, None)) };
        done
    }

    fn staged_copy(
        &self,
        st: &mut State,
        to_device: bool,
        m: &Mem,
        host: *mut u8,
        len: usize,
    ) -> Result<()> {
        if st.staging.is_none() {
            let plan = self.inner.plan;
            st.staging = Some(RawBuf::new(
                &self.inner.device,
                STAGING_BYTES,
                plan.staging,
                true,
            )?);
        }
        let mut done = 0usize;
        while done < len {
            let n = (len - done).min(STAGING_BYTES as usize);
            let (stage_buf, stage_ptr) = {
                let s = st
                    .staging
                    .as_ref()
                    .ok_or(VkError::NoDevice("staging".into()))?;
                (
                    s.buffer,
                    s.ptr
                        .ok_or(VkError::NoDevice("staging is not mapped".into()))?,
                )
            };
            if to_device {
                // SAFETY: `host` holds `len` readable bytes (the caller's slice) and the
                // staging mapping `STAGING_BYTES`; the device is idle (under the lock).
                unsafe { std::ptr::copy_nonoverlapping(host.add(done), stage_ptr.as_ptr(), n) };
            }
            let region = [vk::BufferCopy::default()
                .src_offset(if to_device { 0 } else { done as u64 })
                .dst_offset(if to_device { done as u64 } else { 0 })
                .size(n as u64)];
            let (src, dst) = if to_device {
                (stage_buf, m.raw.buffer)
            } else {
                (m.raw.buffer, stage_buf)
            };
            self.submit(st, |dev, _, cb| {
                // SAFETY: both buffers are alive and the region is inside both.
                unsafe { dev.cmd_copy_buffer(cb, src, dst, &region) };
                Ok(())
            })?;
            if !to_device {
                // SAFETY: the copy has completed (fence) and `host` has `len` writable bytes.
                unsafe { std::ptr::copy_nonoverlapping(stage_ptr.as_ptr(), host.add(done), n) };
            }
            done += n;
        }
        Ok(())
    }

    fn state(&self) -> Result<MutexGuard<'_, Option<State>>> {
        let g = self.inner.lock();
        if g.is_none() {
            return Err(VkError::NoDevice("device state is gone".into()));
        }
        Ok(g)
    }
}

/// The passes of a GEMM over `grid`: one, or one per K slice of [`GEMM_K_SLICE`] (a
/// multiple of 4, as the texel kernel's steps need) with the running sums in the split-K
/// workspace between them.
fn k_passes(k: usize, grid: [u64; 3]) -> Vec<Pass> {
    if k > GEMM_K_SLICE {
        (0..k)
            .step_by(GEMM_K_SLICE)
            .map(|lo| Pass {
                grid,
                p: [
                    1,
                    lo as i32,
                    (lo + GEMM_K_SLICE).min(i32::MAX as usize) as i32,
                ],
            })
            .collect()
    } else {
        vec![Pass {
            grid,
            p: [0, 0, k as i32],
        }]
    }
}

/// Records the dispatches of one pass, chunked so that no dimension exceeds
/// `maxComputeWorkGroupCount` (the chunk's base goes to the shader as a push constant),
/// then a barrier for the next pass.
///
/// # Safety
/// `cb` is recording, with `pipe` bound.
unsafe fn record_pass(
    dev: &ash::Device,
    cb: vk::CommandBuffer,
    pipe: &Pipe,
    scalars: &[u32],
    shape: &Shape,
    pass: &Pass,
    max_count: [u32; 3],
) {
    let local = shape.local;
    let groups: [u64; 3] = std::array::from_fn(|d| {
        if shape.groups {
            pass.grid[d]
        } else {
            pass.grid[d].div_ceil(u64::from(local[d]))
        }
    });
    let unit: [u64; 3] =
        std::array::from_fn(|d| if shape.groups { 1 } else { u64::from(local[d]) });
    let step: [u64; 3] = std::array::from_fn(|d| u64::from(max_count[d].max(1)));
    let mut words: Vec<u32> = scalars.to_vec();
    words.extend([0u32; EXTRAS as usize]);
    let n = scalars.len();
    for z in (0..groups[2]).step_by(step[2] as usize) {
        for y in (0..groups[1]).step_by(step[1] as usize) {
            for x in (0..groups[0]).step_by(step[0] as usize) {
                let base = [x * unit[0], y * unit[1], z * unit[2]];
                for d in 0..3 {
                    words[n + d] = base[d] as u32;
                }
                for (i, p) in pass.p.iter().enumerate() {
                    words[n + 3 + i] = *p as u32;
                }
                let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
                // SAFETY: the caller guarantees a recording command buffer with `pipe`
                // bound; the push range covers `bytes` (checked at pipeline creation).
                unsafe {
                    dev.cmd_push_constants(
                        cb,
                        pipe.layout,
                        vk::ShaderStageFlags::COMPUTE,
                        0,
                        &bytes,
                    );
                    dev.cmd_dispatch(
                        cb,
                        (groups[0] - x).min(step[0]) as u32,
                        (groups[1] - y).min(step[1]) as u32,
                        (groups[2] - z).min(step[2]) as u32,
                    );
                }
            }
        }
    }
    let barrier = [vk::MemoryBarrier::default()
        .src_access_mask(vk::AccessFlags::SHADER_WRITE)
        .dst_access_mask(vk::AccessFlags::SHADER_READ | vk::AccessFlags::SHADER_WRITE)];
    // SAFETY: as above.
    unsafe {
        dev.cmd_pipeline_barrier(
            cb,
            vk::PipelineStageFlags::COMPUTE_SHADER,
            vk::PipelineStageFlags::COMPUTE_SHADER,
            vk::DependencyFlags::empty(),
            &barrier,
            &[],
            &[],
        );
    }
}

impl State {
    fn new(dev: &ash::Device, family: u32, plan: MemoryPlan) -> Result<State> {
        // SAFETY: create-infos outlive their calls. On an error the objects
        // made so far leak until the device is destroyed with them (Inner::drop destroys
        // the device, which Vulkan requires to be done after its children; a leak of a
        // few handles on a failed open is accepted).
        unsafe {
            let queue = dev.get_device_queue(family, 0);
            let cmd_pool = dev
                .create_command_pool(
                    &vk::CommandPoolCreateInfo::default()
                        .queue_family_index(family)
                        .flags(vk::CommandPoolCreateFlags::RESET_COMMAND_BUFFER),
                    None,
                )
                .check("vkCreateCommandPool")?;
            let cmd = dev
                .allocate_command_buffers(
                    &vk::CommandBufferAllocateInfo::default()
                        .command_pool(cmd_pool)
                        .level(vk::CommandBufferLevel::PRIMARY)
                        .command_buffer_count(1),
                )
                .check("vkAllocateCommandBuffers")?[0];
            let fence = dev
                .create_fence(&vk::FenceCreateInfo::default(), None)
                .check("vkCreateFence")?;
            let sizes = [
                vk::DescriptorPoolSize::default()
                    .ty(vk::DescriptorType::STORAGE_BUFFER)
                    .descriptor_count(SETS * MAX_BINDINGS),
                vk::DescriptorPoolSize::default()
                    .ty(vk::DescriptorType::UNIFORM_TEXEL_BUFFER)
                    .descriptor_count(SETS * 2),
            ];
            let desc_pool = dev
                .create_descriptor_pool(
                    &vk::DescriptorPoolCreateInfo::default()
                        .max_sets(SETS)
                        .pool_sizes(&sizes),
                    None,
                )
                .check("vkCreateDescriptorPool")?;
            let dummy = RawBuf::new(dev, 16, plan.device, plan.mapped)?;
            Ok(State {
                queue,
                cmd_pool,
                cmd,
                fence,
                desc_pool,
                pipes: HashMap::new(),
                dummy,
                scratch: None,
                staging: None,
            })
        }
    }
}

impl Device for VulkanDevice {
    type Mem = Mem;
    type Error = VkError;

    fn name(&self) -> &str {
        &self.name
    }

    fn supports(&self, _kind: OpKind, dtype: FloatType) -> bool {
        match dtype {
            FloatType::F32 => true,
            FloatType::F16 => self.inner.info.storage16,
        }
    }

    fn unsupported_reason(&self, kind: OpKind, dtype: FloatType) -> Option<String> {
        if self.supports(kind, dtype) {
            None
        } else {
            self.inner.info.f16_missing()
        }
    }

    fn limits(&self) -> Limits {
        let info = &self.inner.info;
        Limits {
            max_alloc: info.max_allocation.min(info.device_memory.max(1 << 20)),
            // The score matrix must be bindable as one storage buffer.
            score_budget: info.max_storage_buffer_range,
        }
    }

    fn alloc(&self, bytes: usize) -> Result<Mem> {
        let info = &self.inner.info;
        if bytes as u64 > info.max_allocation {
            return Err(VkError::Limit {
                what: format!("an allocation of {bytes} bytes"),
                limit_name: "maxMemoryAllocationSize",
                limit: info.max_allocation,
                need: bytes as u64,
            });
        }
        let plan = self.inner.plan;
        let raw = RawBuf::new(&self.inner.device, bytes as u64, plan.device, plan.mapped)?;
        let mem = Mem {
            raw,
            owner: self.inner.clone(),
        };
        let mut guard = self.state()?;
        let st = guard
            .as_mut()
            .ok_or(VkError::NoDevice("device state is gone".into()))?;
        match mem.raw.ptr {
            // SAFETY: the mapping holds `size` bytes and nothing else uses the new buffer.
            Some(p) => unsafe { std::ptr::write_bytes(p.as_ptr(), 0, mem.raw.size as usize) },
            None => {
                let buf = mem.raw.buffer;
                self.submit(st, |dev, _, cb| {
                    // SAFETY: the buffer is alive; WHOLE_SIZE fills its multiple-of-4 size.
                    unsafe { dev.cmd_fill_buffer(cb, buf, 0, vk::WHOLE_SIZE, 0) };
                    Ok(())
                })?;
            }
        }
        drop(guard);
        Ok(mem)
    }

    fn write(&self, dst: &Mem, src: &[u8]) -> Result<()> {
        let dst = self.mine(dst)?;
        let mut guard = self.state()?;
        let st = guard
            .as_mut()
            .ok_or(VkError::NoDevice("device state is gone".into()))?;
        let n = src.len().min(dst.raw.size as usize);
        match dst.raw.ptr {
            // SAFETY: the mapping holds at least `n` bytes; the device is idle (under the
            // lock, every submission complete) and host-coherent memory needs no flush.
            Some(p) => unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), p.as_ptr(), n) },
            None => self.staged_copy(st, true, dst, src.as_ptr().cast_mut(), n)?,
        }
        Ok(())
    }

    fn read(&self, src: &Mem, dst: &mut [u8]) -> Result<()> {
        let src = self.mine(src)?;
        let mut guard = self.state()?;
        let st = guard
            .as_mut()
            .ok_or(VkError::NoDevice("device state is gone".into()))?;
        let n = dst.len().min(src.raw.size as usize);
        match src.raw.ptr {
            // SAFETY: the mapping holds at least `n` bytes; every submission that wrote
            // it completed with a barrier to host reads.
            Some(p) => unsafe { std::ptr::copy_nonoverlapping(p.as_ptr(), dst.as_mut_ptr(), n) },
            None => self.staged_copy(st, false, src, dst.as_mut_ptr(), n)?,
        }
        Ok(())
    }

    fn copy(&self, src: &Mem, dst: &Mem, bytes: usize) -> Result<()> {
        let (src, dst) = (self.mine(src)?, self.mine(dst)?);
        let mut guard = self.state()?;
        let st = guard
            .as_mut()
            .ok_or(VkError::NoDevice("device state is gone".into()))?;
        let region = [vk::BufferCopy::default().size(bytes as u64)];
        let (s, d) = (src.raw.buffer, dst.raw.buffer);
        self.submit(st, |dev, _, cb| {
            // SAFETY: both buffers are alive and hold `bytes` (checked by the skeleton).
            unsafe { dev.cmd_copy_buffer(cb, s, d, &region) };
            Ok(())
        })
    }

    fn gemm_workspace(&self, _dtype: FloatType, g: &Gemm<()>) -> [usize; 2] {
        let split = if g.k > GEMM_K_SLICE {
            g.batch * g.m * g.n * 4
        } else {
            0
        };
        let panels = self.tex_plan(g).map_or(0, |t| t.total() as usize);
        [split, panels]
    }

    fn gemm(&self, dtype: FloatType, g: &Gemm<&Mem>, work: [Option<&Mem>; 2]) -> Result<()> {
        let fit = |arg: &'static str, v: usize| {
            i32::try_from(v)
                .map(|v| v as u32)
                .map_err(|_| VkError::DimTooLarge {
                    kernel: "nk_gemm",
                    arg,
                    value: v,
                })
        };
        let multi = g.k > GEMM_K_SLICE;
        let w = match (multi, work[0]) {
            (false, _) => None,
            (true, Some(w)) => Some(self.mine(w)?),
            (true, None) => {
                return Err(VkError::NoDevice(
                    "nk_gemm: split-K workspace missing".into(),
                ))
            }
        };
        fit("batch·m·n", g.batch * g.m * g.n)?;
        if let Some(t) = self.tex_plan(&g.shape()) {
            let panel = work[1].ok_or(VkError::NoDevice(
                "nk_gemm_tex: panel workspace missing".into(),
            ))?;
            return self.gemm_tex(dtype, g, t, self.mine(panel)?, w);
        }
        let scalars = [
            fit("m", g.m)?,
            fit("n", g.n)?,
            fit("k", g.k)?,
            fit("batch", g.batch)?,
            fit("lda", g.a.ld)?,
            fit("a stride", g.a.stride)?,
            fit("ldb", g.b.ld)?,
            fit("b stride", g.b.stride)?,
            fit("ldc", g.c.ld)?,
            fit("c stride", g.c.stride)?,
            g.alpha.to_bits(),
            g.beta.to_bits(),
            u32::from(g.accumulate),
        ];
        let (a, b, c) = (
            self.mine(g.a.buf)?,
            self.mine(g.b.buf)?,
            self.mine(g.c.buf)?,
        );
        let (ct, cf) = if g.c_f32 {
            (None, Some(c))
        } else {
            (Some(c), None)
        };
        let grid = [
            g.n.div_ceil(4) as u64,
            g.m.div_ceil(4) as u64,
            g.batch as u64,
        ];
        let shape = Shape {
            groups: false,
            local: [8, 8, 1],
            passes: k_passes(g.k, grid),
            scratch: 0,
        };
        let key = PipeKey {
            name: "nk_gemm",
            half: dtype == FloatType::F16,
            spec: [
                u32::from(g.a.trans),
                u32::from(g.b.trans),
                u32::from(g.c_f32),
            ],
        };
        self.dispatch(
            key,
            "nk_gemm",
            &[Some(a), Some(b), ct, cf, w],
            &scalars,
            &shape,
        )
    }

    fn launch(&self, dtype: FloatType, k: &Kernel<&Mem>) -> Result<()> {
        let name = k.name();
        let args = k.args().map_err(|e| VkError::DimTooLarge {
            kernel: e.kernel,
            arg: e.arg,
            value: e.value,
        })?;
        let mut scalars = Vec::new();
        let mut bufs = Vec::new();
        for a in args {
            match a {
                Arg::I32(v) => scalars.push(v as u32),
                Arg::F32(v) => scalars.push(v.to_bits()),
                Arg::Buf(b) => bufs.push(match b {
                    Some(m) => Some(self.mine(m)?),
                    None => None,
                }),
            }
        }
        let shape = launch::shape(k)?;
        let key = PipeKey {
            name,
            half: dtype == FloatType::F16,
            spec: [0; 3],
        };
        self.dispatch(key, name, &bufs, &scalars, &shape)
    }

    fn synchronize(&self) -> Result<()> {
        // Every primitive waits for its own completion.
        Ok(())
    }
}
