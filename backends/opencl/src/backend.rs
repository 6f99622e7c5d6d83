//! [`OpenClDevice`]: one OpenCL device as a [`neurokern_gpu::Device`]: buffers, the
//! launchers of the GEMM and of every table kernel, `synchronize`.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use cl_sys::*;
use neurokern_core::FloatType;
use neurokern_gpu::gemm::Gemm;
use neurokern_gpu::kernel::{Arg, Kernel};
use neurokern_gpu::{Device, Limits};

use crate::config::{default_gemm, default_gemm_local, GemmParams, PackA};
use crate::device::{self, DeviceInfo, DeviceSelector};
use crate::error::{self, OclError};
use crate::memory::Budget;
use crate::raw::{launch, Context, KArg, Kernel as ClKernel, Mem, Program, Queue};

/// Compiled programs and kernels, one set per storage type.
#[derive(Debug, Default)]
pub(crate) struct State {
    programs: [Option<Program>; 2],
    kernels: HashMap<(FloatType, &'static str), ClKernel>,
}

/// One OpenCL device: a context and an in-order queue.
#[derive(Debug)]
pub struct OpenClDevice {
    pub(crate) info: DeviceInfo,
    label: String,
    pub(crate) gemm: GemmParams,
    pub(crate) gemm_local: Option<[usize; 2]>,
    pub(crate) pack_a: PackA,
    /// Rowwise ops with one work-item per row (CPU devices) instead of one work-group.
    rows_per_item: bool,
    score_budget: u64,
    /// Every buffer is counted against this before the driver is asked.
    budget: Budget,
    // Field order matters for drop: kernels and programs before the queue and context.
    state: Mutex<State>,
    pub(crate) queue: Queue,
    ctx: Context,
}

// SAFETY: OpenCL contexts, queues, programs and memory objects are thread-safe; the only
// non-thread-safe use (setting kernel arguments, then enqueueing) happens under `state`'s
// mutex.
unsafe impl Send for OpenClDevice {}
// SAFETY: as above.
unsafe impl Sync for OpenClDevice {}

/// The largest power of two ≤ `x` (1 for 0).
fn pow2_floor(x: usize) -> usize {
    if x == 0 {
        1
    } else {
        1 << (usize::BITS - 1 - x.leading_zeros())
    }
}

impl OpenClDevice {
    /// Opens the device `sel` picks.
    pub fn new(sel: &DeviceSelector) -> Result<Self, OclError> {
        Self::from_info(device::select(sel)?)
    }

    /// Opens a device from [`crate::devices`].
    pub fn from_info(info: DeviceInfo) -> Result<Self, OclError> {
        // Invalid settings are an error here rather than silently ignored.
        crate::config::check_env()?;
        let missing = info.missing();
        if !missing.is_empty() {
            return Err(OclError::Unusable(format!(
                "{} / {}: {}",
                info.platform,
                info.name,
                missing.join("; ")
            )));
        }
        let ctx = Context::new(info.platform_id, info.id)?;
        let queue = Queue::new(&ctx, info.id)?;
        let memory = crate::config::memory_limit(&info);
        let device = OpenClDevice {
            label: format!("{} / {}", info.platform, info.name),
            gemm: default_gemm(&info),
            gemm_local: default_gemm_local(&info),
            rows_per_item: info.is_cpu,
            score_budget: info.max_alloc.min(memory / 4),
            budget: Budget::new(info.id as usize, memory),
            pack_a: PackA::from_env(),
            info,
            state: Mutex::new(State::default()),
            queue,
            ctx,
        };
        // The plan `nk-tune` stored for this device, driver and kernels, if any.
        Ok(crate::tuned::at_open(device))
    }

    /// Replaces the GEMM tile parameters (programs are rebuilt on next use).
    pub fn with_gemm_params(mut self, p: GemmParams) -> Self {
        self.gemm = p;
        let st = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        st.kernels.clear();
        st.programs = [None, None];
        self
    }

    /// Sets the GEMM's work-group shape (`None`: the implementation's choice).
    pub fn with_gemm_local(mut self, local: Option<[usize; 2]>) -> Self {
        self.gemm_local = local.filter(|l| l[0] > 0 && l[1] > 0);
        self
    }

    /// Sets when the GEMM packs `A`.
    pub fn with_pack_a(mut self, pack: PackA) -> Self {
        self.pack_a = pack;
        self
    }

    /// Chooses the rowwise kernels: one work-item per row (`true`, the default on CPU
    /// devices) or one work-group per row with tree reductions (`false`).
    pub fn with_rows_per_item(mut self, per_item: bool) -> Self {
        self.rows_per_item = per_item;
        self
    }

    /// The largest (rows, T) f32 score matrix `dynamic_token_assignment` materializes for
    /// the GEMM path, in bytes (default: the smaller of the largest allocation and a
    /// quarter of global memory); larger ones take the direct kernel, which needs none.
    pub fn with_score_budget(mut self, bytes: u64) -> Self {
        self.score_budget = bytes;
        self
    }

    /// Limits the device memory this device's buffers may hold (default: its global
    /// memory, `CL_DEVICE_GLOBAL_MEM_SIZE`, or `NEUROKERN_OPENCL_MEMORY`). Buffers of every
    /// context on the device count, so the limit is on the device's total. The score
    /// matrix budget shrinks with it (at most a quarter).
    pub fn with_memory_budget(mut self, bytes: u64) -> Self {
        self.budget = self.budget.with_limit(bytes);
        self.score_budget = self.score_budget.min(bytes / 4);
        self
    }

    /// The memory budget (bytes) and the bytes live buffers on the device hold now.
    pub fn memory(&self) -> (u64, u64) {
        (self.budget.limit(), self.budget.used())
    }

    /// The GEMM tile parameters in use.
    pub fn gemm_params(&self) -> GemmParams {
        self.gemm
    }

    /// What the backend knows of its device.
    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    /// The build options used for every program on this device.
    pub fn build_options(&self) -> String {
        let mut o = String::from("-cl-std=CL1.2");
        if self.info.correctly_rounded_div_sqrt {
            o.push_str(" -cl-fp32-correctly-rounded-divide-sqrt");
        }
        o
    }

    /// Builds arbitrary OpenCL C for this device and discards it: how a tuner or a test
    /// checks a kernel compiles. A failure carries the build log.
    pub fn build_source(&self, name: &str, src: &str) -> Result<(), OclError> {
        Program::build(&self.ctx, self.info.id, name, src, &self.build_options()).map(drop)
    }

    /// Builds both programs now (otherwise they are built on first use).
    pub fn warm_up(&self) -> Result<(), OclError> {
        let mut st = self.lock();
        for dt in FloatType::ALL {
            self.kernel(&mut st, dt, "nk_add")?;
        }
        Ok(())
    }

    /// The number of arguments kernel `name` of the `dtype` program declares: how a test
    /// checks the shared signature table against the sources.
    pub fn kernel_arg_count(&self, dtype: FloatType, name: &'static str) -> Result<u32, OclError> {
        let mut st = self.lock();
        self.kernel(&mut st, dtype, name)?.num_args()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic under the lock leaves at worst a partly filled cache, which stays valid.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn kernel<'s>(
        &self,
        st: &'s mut State,
        dt: FloatType,
        name: &'static str,
    ) -> Result<&'s ClKernel, OclError> {
        if !st.kernels.contains_key(&(dt, name)) {
            let slot = dt as usize;
            if st.programs[slot].is_none() {
                let src =
                    neurokern_kernels::opencl::program_source(dt == FloatType::F16, self.gemm);
                let p = Program::build(
                    &self.ctx,
                    self.info.id,
                    &format!("neurokern {dt}"),
                    &src,
                    &self.build_options(),
                )?;
                st.programs[slot] = Some(p);
            }
            let p = st.programs[slot].as_ref().expect("built above");
            let k = ClKernel::new(p, name, self.info.id)?;
            st.kernels.insert((dt, name), k);
        }
        Ok(&st.kernels[&(dt, name)])
    }

    /// A work-group size for the rowwise kernels: a power of two within the device's and
    /// the kernel's limits and the local memory, no larger than the row needs.
    fn row_wg(&self, k: &ClKernel, len: usize) -> usize {
        let lim = k
            .max_wg
            .min(self.info.max_work_group)
            .min(self.info.max_work_item_sizes[0].max(1))
            .min((self.info.local_mem / 8).max(1) as usize)
            .min(256)
            .min(len.next_power_of_two().max(1));
        pow2_floor(lim)
    }
}

/// The OpenCL form of a table argument.
fn karg(a: &Arg<'_, &Mem>) -> KArg {
    match a {
        Arg::I32(v) => KArg::I32(*v),
        Arg::F32(v) => KArg::F32(*v),
        Arg::Buf(b) => KArg::Mem(b.map_or(std::ptr::null_mut(), |m| m.mem)),
    }
}

impl Device for OpenClDevice {
    type Mem = Mem;
    type Error = OclError;

    fn name(&self) -> &str {
        &self.label
    }

    fn limits(&self) -> Limits {
        Limits {
            max_alloc: self.info.max_alloc,
            score_budget: self.score_budget,
        }
    }

    fn alloc(&self, bytes: usize) -> Result<Mem, OclError> {
        if bytes == 0 {
            return Ok(Mem::empty());
        }
        // Counted against the device's global memory first: drivers over-commit.
        let reservation = self.budget.reserve(bytes)?;
        // On CPU devices the device's memory is host memory, which PoCL allocates lazily,
        // at the buffer's first use: a failure there (under `ulimit -v`) is an assertion
        // that aborts the process (`pocl_create_migration_commands`), for a fill or a
        // write alike. `CL_MEM_ALLOC_HOST_PTR` makes the implementation allocate at
        // creation, where a failure is a status code; measured as fast as the plain buffer
        // (the same host allocation, done earlier). GPUs keep device memory.
        let flags = if self.info.is_cpu {
            CL_MEM_READ_WRITE | CL_MEM_ALLOC_HOST_PTR
        } else {
            CL_MEM_READ_WRITE
        };
        let mem = Mem::new(&self.ctx, bytes, flags, self.info.max_alloc, reservation)?;
        let zero = 0u32;
        // SAFETY: valid queue and buffer of `bytes` bytes; every buffer is a whole number
        // of 2-byte elements and the pattern size 2 divides it; the pattern is copied
        // before the call returns. Not waited for: the queue is in order, so every later
        // command on the buffer sees the zeros, and a failure of the fill surfaces at the
        // next synchronizing call.
        let code = unsafe {
            clEnqueueFillBuffer(
                self.queue.0,
                mem.mem,
                (&zero as *const u32).cast(),
                if bytes % 4 == 0 { 4 } else { 2 },
                0,
                bytes,
                0,
                std::ptr::null(),
                std::ptr::null_mut(),
            )
        };
        if code != CL_SUCCESS {
            return Err(error::status_to_error(code, "clEnqueueFillBuffer", bytes));
        }
        Ok(mem)
    }

    fn write(&self, dst: &Mem, src: &[u8]) -> Result<(), OclError> {
        // SAFETY: blocking write of `src.len()` bytes (checked by the skeleton against the
        // buffer's size) from a live host slice.
        let code = unsafe {
            clEnqueueWriteBuffer(
                self.queue.0,
                dst.mem,
                CL_TRUE,
                0,
                src.len(),
                src.as_ptr().cast(),
                0,
                std::ptr::null(),
                std::ptr::null_mut(),
            )
        };
        error::check(code, "clEnqueueWriteBuffer")
    }

    fn read(&self, src: &Mem, dst: &mut [u8]) -> Result<(), OclError> {
        // SAFETY: blocking read of `dst.len()` bytes (checked by the skeleton against the
        // buffer's size) into a live host slice.
        let code = unsafe {
            clEnqueueReadBuffer(
                self.queue.0,
                src.mem,
                CL_TRUE,
                0,
                dst.len(),
                dst.as_mut_ptr().cast(),
                0,
                std::ptr::null(),
                std::ptr::null_mut(),
            )
        };
        error::check(code, "clEnqueueReadBuffer")
    }

    fn copy(&self, src: &Mem, dst: &Mem, bytes: usize) -> Result<(), OclError> {
        // SAFETY: two distinct buffers of at least `bytes` bytes; in-order queue.
        let code = unsafe {
            clEnqueueCopyBuffer(
                self.queue.0,
                src.mem,
                dst.mem,
                0,
                0,
                bytes,
                0,
                std::ptr::null(),
                std::ptr::null_mut(),
            )
        };
        error::check(code, "clEnqueueCopyBuffer")
    }

    fn gemm_workspace(&self, dtype: FloatType, g: &Gemm<()>) -> [usize; 2] {
        self.gemm_scratch(dtype, g)
    }

    fn gemm(
        &self,
        dtype: FloatType,
        g: &Gemm<&Mem>,
        work: [Option<&Mem>; 2],
    ) -> Result<(), OclError> {
        self.run_gemm(dtype, g, work)
    }

    fn launch(&self, dtype: FloatType, k: &Kernel<&Mem>) -> Result<(), OclError> {
        let sig = k.sig();
        let args = k.args().map_err(|e| OclError::Cl {
            call: format!(
                "{}: argument `{}` = {} exceeds i32",
                e.kernel, e.arg, e.value
            ),
            code: CL_INVALID_ARG_VALUE,
        })?;
        let mut args: Vec<KArg> = args.iter().map(karg).collect();
        let grid = k.grid();
        let dims = grid.iter().rposition(|&g| g != 1).map_or(1, |i| i + 1);
        let mut st = self.lock();
        if k.is_rowwise() && !self.rows_per_item {
            // One work-group per row: the `_wi` kernel's twin without the row count, with
            // `__local` scratch before its trailing flag (if any).
            let name = sig.name.strip_suffix("_wi").unwrap_or(sig.name);
            let (rows, len) = match (args[0], args[1]) {
                (KArg::I32(r), KArg::I32(l)) => (r as usize, l as usize),
                _ => unreachable!("rowwise kernels start with rows, len"),
            };
            let flag_last = matches!(
                sig.args.last(),
                Some((_, neurokern_gpu::kernel::ArgKind::Flag))
            );
            args.remove(0);
            let kern = self.kernel(&mut st, dtype, name)?;
            let wg = self.row_wg(kern, len);
            let at = if flag_last {
                args.len() - 1
            } else {
                args.len()
            };
            args.insert(at, KArg::Local(wg * 4));
            // SAFETY: the argument list is the `_wi` signature of the shared table with
            // its first argument removed and `__local` scratch inserted, which is the
            // declaration of the work-group twin in `rowwise.cl`.
            return unsafe { launch(&self.queue, kern, name, &args, &[rows * wg], Some(&[wg])) };
        }
        let kern = self.kernel(&mut st, dtype, sig.name)?;
        // SAFETY: `args` is `Kernel::args`, generated from the shared signature table,
        // whose order and kinds mirror the `.cl` declarations (a test builds every
        // kernel's argument list against the program).
        unsafe { launch(&self.queue, kern, sig.name, &args, &grid[..dims], None) }
    }

    fn synchronize(&self) -> Result<(), OclError> {
        self.queue.finish()
    }
}
