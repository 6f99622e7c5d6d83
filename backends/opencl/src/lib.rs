//! # neurokern-backend-opencl
//!
//! The OpenCL backend of neurokern: [`OpenClBackend`] implements
//! [`neurokern_core::Backend`] for any OpenCL 1.2+ device, including CPUs without
//! `cl_khr_fp16` (PoCL), with every op of the catalog in `f32` and `f16`.
//!
//! ## Design
//!
//! * **Layers.** [`error`] maps every `cl_int` to a typed [`OclError`] by named functions
//!   ([`error::status_name`], [`error::status_to_error`]); `raw` owns OpenCL objects
//!   (release on drop) and wraps the few calls made; [`device`] enumerates platforms and
//!   devices, queries what the backend depends on (work-group and work-item limits, local
//!   and global memory, largest allocation, vector width, float config, extensions) and
//!   selects one by index or name; this module implements the trait.
//! * **Programs.** The kernels (crate `neurokern-kernels`, OpenCL C) are one program per
//!   storage type, built lazily once per backend (= context) and cached with their kernel
//!   objects. A compile failure is [`OclError::Build`] with the device's build log.
//! * **f16 is storage.** Widened exactly on load and rounded once, to nearest-even, on
//!   store (the semantics of `vload_half` / `vstore_half_rte`, written with integer
//!   operations so that they vectorize); arithmetic is f32; no `cl_khr_fp16` is needed.
//! * **One GEMM.** `matmul`, both backward products, the batched forms, `hebbian_update`
//!   (`alpha = lr`, `beta = 1 − decay`, `A = Preᵀ`), `pairwise_similarity` and the scores of
//!   `dynamic_token_assignment` (an f32 output, then a row argmax) are one register-blocked
//!   GEMM, `C = alpha·op(A)·op(B) + beta·C`, with transpose flags and batch strides. `B` is
//!   packed into zero-padded f32 panels (applying its transpose and widening f16), so the
//!   inner loop reads it as contiguous vectors; `A` is read in place, or packed too when it
//!   is transposed or f16. Each work-item owns an `mr × nr·nv` block of `C` in registers
//!   (the tile is a build-time parameter, [`GemmParams`]: chosen from the device's preferred
//!   vector width, overridable with [`OpenClBackend::with_gemm_params`] or
//!   `NEUROKERN_OPENCL_GEMM=mr,nv,nr`; `nk-bench --tune` times the candidates on a device).
//!   On CPU devices the GEMM runs one work-item per work-group, so that the block compiles
//!   to straight-line SIMD code (a 6 × 32 f32 block is 24 AVX registers of accumulators);
//!   elsewhere the work-group shape is the implementation's.
//! * **Rowwise ops** (softmax family, layer norm) run one work-group per row with tree
//!   reductions in local memory, or, on CPU devices, one work-item per row with serial
//!   loops ([`OpenClBackend::with_rows_per_item`]); both are deterministic. Column sums
//!   (`reduce_sum_01`) run in two fixed-order passes.
//! * **Determinism.** No float atomics anywhere. Reductions have a fixed shape (work-group
//!   trees, or serial loops in increasing index order). Scatter sums
//!   (`embedding_backward`, `proto_segmented_sum`, also in `SumMode::Atomic`) run a stable
//!   counting sort of the indices on the device, then sum each segment's rows in
//!   increasing row order: `O(rows·width + segments·width)`.
//! * **Validation** is [`neurokern_core::backend::check_call`], before anything touches
//!   memory, so errors are identical to the reference's. Calls with nothing to write
//!   return at once; kernels index with 32 bits, which validation guarantees suffices.
//! * **Memory.** An allocation larger than the device allows is a recoverable
//!   [`OclError::OutOfMemory`]: the backend and existing buffers are unaffected.
//! * **Threads.** The backend is `Send + Sync`; one mutex serializes kernel-argument
//!   setting and enqueueing (OpenCL kernels are not thread-safe to configure).

pub mod device;
pub mod error;
mod raw;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use cl_sys::*;
use neurokern_core::backend::{check_bytes, check_call};
use neurokern_core::{Backend, DeviceBuffer, ElemType, FloatType, Op, OpKind};

pub use device::{devices, probe, DeviceInfo, DeviceSelector};
pub use error::OclError;
pub use neurokern_kernels::opencl::GemmParams;

use raw::{launch, Context, KArg, Kernel, Mem, Program, Queue};

/// `k` per work-item of the packing kernels (`PACK_KC` in `pack.cl`).
const PACK_KC: usize = 64;

static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

/// A device buffer of the OpenCL backend (released on drop).
#[derive(Debug)]
pub struct OclBuffer {
    mem: Mem,
    elem: ElemType,
    len: usize,
    id: usize,
}

// SAFETY: a cl_mem is a reference-counted handle that OpenCL allows to be used from any
// thread; the buffer holds no other state.
unsafe impl Send for OclBuffer {}
// SAFETY: as above; reads and writes go through the backend's queue.
unsafe impl Sync for OclBuffer {}

impl DeviceBuffer for OclBuffer {
    fn elem(&self) -> ElemType {
        self.elem
    }
    fn len(&self) -> usize {
        self.len
    }
    fn id(&self) -> usize {
        self.id
    }
}

impl OclBuffer {
    fn raw(&self) -> cl_mem {
        self.mem.mem
    }
}

/// When the GEMM packs its `A` operand (`NEUROKERN_OPENCL_PACK_A`: `1` always, `0` never).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PackA {
    Always,
    Never,
    Transposed,
}

/// Compiled programs and kernels, one set per storage type.
#[derive(Debug, Default)]
struct State {
    programs: [Option<Program>; 2],
    kernels: HashMap<(FloatType, &'static str), Kernel>,
    scratch: [Option<Mem>; 2],
}

/// The OpenCL backend: one device, one context, one in-order queue.
#[derive(Debug)]
pub struct OpenClBackend {
    info: DeviceInfo,
    label: String,
    gemm: GemmParams,
    gemm_local: Option<[usize; 2]>,
    /// When to pack `A` into panels before the GEMM (else it is read in place).
    pack_a: PackA,
    /// Rowwise ops with one work-item per row (CPU devices) instead of one work-group.
    rows_per_item: bool,
    /// Largest token-assignment score matrix materialized, in bytes.
    score_budget: u64,
    // Field order matters for drop: kernels and programs before the queue and context.
    state: Mutex<State>,
    queue: Queue,
    ctx: Context,
}

// SAFETY: OpenCL contexts, queues, programs and memory objects are thread-safe; the only
// non-thread-safe use (setting kernel arguments, then enqueueing) happens under `state`'s
// mutex.
unsafe impl Send for OpenClBackend {}
// SAFETY: as above.
unsafe impl Sync for OpenClBackend {}

fn default_gemm(info: &DeviceInfo) -> GemmParams {
    if let Ok(s) = std::env::var("NEUROKERN_OPENCL_GEMM") {
        let v: Vec<u32> = s.split(',').filter_map(|x| x.trim().parse().ok()).collect();
        if let [mr, nv, nr] = v[..] {
            if mr > 0 && matches!(nv, 2 | 4 | 8 | 16) && nr > 0 {
                return GemmParams { mr, nv, nr };
            }
        }
    }
    if info.is_cpu {
        let nv = match info.preferred_float_width {
            w if w >= 16 => 16,
            w if w >= 8 => 8,
            _ => 4,
        };
        // 6 × 4 vectors of 8: 24 accumulators, which fit the 32 vector registers of
        // AVX-512 (compilers prefer 256-bit vectors there) with room for the operands.
        if nv >= 8 {
            GemmParams {
                mr: 6,
                nv: 8,
                nr: 4,
            }
        } else {
            GemmParams { mr: 4, nv, nr: 3 }
        }
    } else {
        GemmParams {
            mr: 4,
            nv: 4,
            nr: 1,
        }
    }
}

/// The GEMM's work-group shape: on CPU devices one work-item per work-group, so that each
/// work-item's register tile is compiled as straight-line SIMD code (CPU OpenCL compilers
/// otherwise vectorize across the work-items of a group, spilling the accumulators);
/// elsewhere the implementation's choice. `NEUROKERN_OPENCL_GEMM_LOCAL=x,y` overrides it,
/// `=0` leaves it to the implementation.
fn default_gemm_local(info: &DeviceInfo) -> Option<[usize; 2]> {
    if let Ok(s) = std::env::var("NEUROKERN_OPENCL_GEMM_LOCAL") {
        let v: Vec<usize> = s.split(',').filter_map(|x| x.trim().parse().ok()).collect();
        return match v[..] {
            [a, b] if a > 0 && b > 0 => Some([a, b]),
            _ => None,
        };
    }
    info.is_cpu.then_some([1, 1])
}

/// The largest power of two ≤ `x` (1 for 0).
fn pow2_floor(x: usize) -> usize {
    if x == 0 {
        1
    } else {
        1 << (usize::BITS - 1 - x.leading_zeros())
    }
}

fn i(v: usize) -> KArg {
    // Validation bounds every dim and product by i32::MAX.
    KArg::I32(v as i32)
}

fn mem(b: Option<&OclBuffer>) -> KArg {
    KArg::Mem(b.map_or(std::ptr::null_mut(), OclBuffer::raw))
}

impl OpenClBackend {
    /// Opens the device `sel` picks.
    pub fn new(sel: &DeviceSelector) -> Result<Self, OclError> {
        let info = device::select(sel)?;
        Self::from_info(info)
    }

    /// Opens the default device ([`DeviceSelector::Default`]).
    pub fn default_device() -> Result<Self, OclError> {
        Self::new(&DeviceSelector::Default)
    }

    /// Opens a device from [`devices`].
    pub fn from_info(info: DeviceInfo) -> Result<Self, OclError> {
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
        Ok(OpenClBackend {
            label: format!("{} / {}", info.platform, info.name),
            gemm: default_gemm(&info),
            gemm_local: default_gemm_local(&info),
            rows_per_item: info.is_cpu,
            score_budget: info.max_alloc.min(info.global_mem / 4),
            pack_a: match std::env::var("NEUROKERN_OPENCL_PACK_A").as_deref() {
                Ok("0") => PackA::Never,
                Ok("1") => PackA::Always,
                _ => PackA::Transposed,
            },
            info,
            state: Mutex::new(State::default()),
            queue,
            ctx,
        })
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

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic under the lock leaves at worst a partly filled cache, which stays valid.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn kernel<'s>(
        &self,
        st: &'s mut State,
        dt: FloatType,
        name: &'static str,
    ) -> Result<&'s Kernel, OclError> {
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
            let k = Kernel::new(p, name, self.info.id)?;
            st.kernels.insert((dt, name), k);
        }
        Ok(&st.kernels[&(dt, name)])
    }

    fn launch(
        &self,
        st: &mut State,
        dt: FloatType,
        name: &'static str,
        args: &[KArg],
        global: &[usize],
    ) -> Result<(), OclError> {
        let k = self.kernel(st, dt, name)?;
        launch(&self.queue, k, name, args, global, None)
    }

    /// A work-group size for the rowwise kernels: a power of two within the device's and
    /// the kernel's limits and the local memory, no larger than the row needs.
    fn row_wg(
        &self,
        st: &mut State,
        dt: FloatType,
        name: &'static str,
        len: usize,
    ) -> Result<usize, OclError> {
        let k = self.kernel(st, dt, name)?;
        let lim = k
            .max_wg
            .min(self.info.max_work_group)
            .min(self.info.max_work_item_sizes[0].max(1))
            .min((self.info.local_mem / 8).max(1) as usize)
            .min(256)
            .min(len.next_power_of_two().max(1));
        Ok(pow2_floor(lim))
    }

    #[allow(clippy::too_many_arguments)]
    /// Launches a rowwise kernel: one work-group per row, the `__local` scratch last but
    /// one (the kernels take it before their trailing flag, if any).
    fn launch_rows(
        &self,
        st: &mut State,
        dt: FloatType,
        name: &'static str,
        rows: usize,
        len: usize,
        args: &mut Vec<KArg>,
        local_at: usize,
    ) -> Result<(), OclError> {
        let wg = self.row_wg(st, dt, name, len)?;
        args.insert(local_at, KArg::Local(wg * 4));
        let k = self.kernel(st, dt, name)?;
        launch(&self.queue, k, name, args, &[rows * wg], Some(&[wg]))
    }

    fn scratch(&self, bytes: usize) -> Result<Mem, OclError> {
        Mem::new(&self.ctx, bytes, self.info.max_alloc)
    }

    /// A cached scratch buffer of at least `bytes` (slot 0: packed A, 1: packed B). Reuse
    /// is safe: the queue is in order and calls are serialized by the lock.
    fn cached_scratch(
        &self,
        st: &mut State,
        slot: usize,
        bytes: usize,
    ) -> Result<cl_mem, OclError> {
        let have = st.scratch[slot].as_ref().map_or(0, |m| m.bytes);
        if have < bytes {
            st.scratch[slot] = None;
            st.scratch[slot] = Some(
                self.scratch(
                    bytes
                        .next_power_of_two()
                        .min(self.info.max_alloc as usize)
                        .max(bytes),
                )?,
            );
        }
        Ok(st.scratch[slot]
            .as_ref()
            .map_or(std::ptr::null_mut(), |m| m.mem))
    }

    /// `C[b] = alpha·op(A[b])·op(B[b]) + beta·C[b]` (see `kernels/opencl/gemm.cl`): packs
    /// `B` into panels, then runs the register-blocked kernel. A batch stride of 0 shares
    /// an operand across batches (packed once).
    #[allow(clippy::too_many_arguments)]
    fn gemm(
        &self,
        st: &mut State,
        dt: FloatType,
        name: &'static str,
        (m, n, k, batch): (usize, usize, usize, usize),
        (a, lda, sa, ta): (cl_mem, usize, usize, bool),
        (b, ldb, sb, tb): (cl_mem, usize, usize, bool),
        (c, ldc, sc): (cl_mem, usize, usize),
        (alpha, beta, use_c): (f32, f32, bool),
    ) -> Result<(), OclError> {
        if m == 0 || n == 0 || batch == 0 {
            return Ok(());
        }
        // Transposed A is packed (its MR values per k are strided otherwise), and so is f16
        // (widened once, not once per column block); f32 A as is is read in place (MR
        // sequential streams), which measured faster than packing it.
        let packed = match self.pack_a {
            PackA::Transposed => ta || dt == FloatType::F16,
            PackA::Always => true,
            PackA::Never => false,
        };
        let name = match (name, ta, packed) {
            ("nk_gemm", _, true) => "nk_gemm_pn",
            ("nk_gemm", false, false) => "nk_gemm_nn",
            ("nk_gemm", true, false) => "nk_gemm_tn",
            ("nk_gemm_f32out", _, true) => "nk_gemm_pn_f32out",
            ("nk_gemm_f32out", false, false) => "nk_gemm_nn_f32out",
            _ => unreachable!("no GEMM variant {name} with transposed, unpacked A"),
        };
        let g = self.gemm;
        let (mr, nb) = (g.mr as usize, g.cols() as usize);
        let (mblocks, nblocks) = (m.div_ceil(mr), n.div_ceil(nb));
        let pb = nblocks * nb * k;
        let bb = if sb == 0 { 1 } else { batch };
        let bp = self.cached_scratch(st, 1, pb * bb * 4)?;
        let long = |v: usize| KArg::I64(v as i64);
        let kchunks = k.div_ceil(PACK_KC);
        let (a, lda, sa) = if packed {
            let pa = mblocks * mr * k;
            let ba = if sa == 0 { 1 } else { batch };
            let ap = self.cached_scratch(st, 0, pa * ba * 4)?;
            self.launch_tiled(
                st,
                dt,
                "nk_pack_a",
                &[
                    i(m),
                    i(k),
                    KArg::Mem(a),
                    i(lda),
                    i(sa),
                    KArg::I32(i32::from(ta)),
                    KArg::Mem(ap),
                    long(pa),
                ],
                [mblocks, kchunks, ba],
            )?;
            (ap, 0, if sa == 0 { 0 } else { pa })
        } else {
            (a, lda, sa)
        };
        self.launch_tiled(
            st,
            dt,
            "nk_pack_b",
            &[
                i(n),
                i(k),
                KArg::Mem(b),
                i(ldb),
                i(sb),
                KArg::I32(i32::from(tb)),
                KArg::Mem(bp),
                long(pb),
            ],
            [nblocks, kchunks, bb],
        )?;
        let args = [
            i(m),
            i(n),
            i(k),
            KArg::Mem(a),
            i(lda),
            long(sa),
            KArg::Mem(bp),
            long(if sb == 0 { 0 } else { pb }),
            KArg::Mem(c),
            i(ldc),
            i(sc),
            KArg::F32(alpha),
            KArg::F32(beta),
            KArg::I32(i32::from(use_c)),
        ];
        self.launch_tiled(st, dt, name, &args, [mblocks, nblocks, batch])
    }

    /// Launches a GEMM-shaped kernel (each work-item owns a block and loops) with the
    /// device's GEMM work-group shape.
    fn launch_tiled(
        &self,
        st: &mut State,
        dt: FloatType,
        name: &'static str,
        args: &[KArg],
        global: [usize; 3],
    ) -> Result<(), OclError> {
        match self.gemm_local {
            Some(l) => {
                let global = [
                    global[0].div_ceil(l[0]) * l[0],
                    global[1].div_ceil(l[1]) * l[1],
                    global[2],
                ];
                let kern = self.kernel(st, dt, name)?;
                launch(
                    &self.queue,
                    kern,
                    name,
                    args,
                    &global,
                    Some(&[l[0], l[1], 1]),
                )
            }
            None => self.launch(st, dt, name, args, &global),
        }
    }

    /// `y (B, D2, D1, D3) ← x (B, D1, D2, D3)`.
    #[allow(clippy::too_many_arguments)]
    fn transpose(
        &self,
        st: &mut State,
        dt: FloatType,
        (b, d1, d2, d3): (usize, usize, usize, usize),
        x: cl_mem,
        y: cl_mem,
    ) -> Result<(), OclError> {
        self.launch(
            st,
            dt,
            "nk_transpose_12",
            &[i(d1), i(d2), i(d3), i(b), KArg::Mem(x), KArg::Mem(y)],
            &[d1, d2, b],
        )
    }

    /// `c = a + b` with `b` repeating every `period` elements, `reps` times.
    fn add(
        &self,
        st: &mut State,
        dt: FloatType,
        (period, reps): (usize, usize),
        a: &[Option<&OclBuffer>],
    ) -> Result<(), OclError> {
        self.launch(
            st,
            dt,
            "nk_add",
            &[i(period), i(reps), mem(a[0]), mem(a[1]), mem(a[2])],
            &[period, reps],
        )
    }

    /// `y[j] = Σ_r x[r, j]` over `rows` rows of width `n`, in two fixed-order passes (row
    /// chunks, then the chunks' partial sums), spread over `n × chunks` work-items.
    fn column_sums(
        &self,
        st: &mut State,
        dt: FloatType,
        (rows, n): (usize, usize),
        x: KArg,
        y: KArg,
    ) -> Result<(), OclError> {
        // About 64 rows per chunk, at most 64 chunks.
        let chunks = rows.div_ceil(64).clamp(1, 64);
        let chunk = rows.div_ceil(chunks).max(1);
        let part = self.scratch(chunks * n * 4)?;
        self.launch(
            st,
            dt,
            "nk_reduce_rows_part",
            &[i(rows), i(n), i(chunk), x, KArg::Mem(part.mem)],
            &[n, chunks],
        )?;
        self.launch(
            st,
            dt,
            "nk_reduce_rows_final",
            &[i(chunks), i(n), KArg::Mem(part.mem), y],
            &[n],
        )
    }

    /// Deterministic segmented sum of `src (rows, width)` by `idx` into `dst (segs, width)`
    /// and, when given, `counts (segs)`.
    #[allow(clippy::too_many_arguments)]
    fn segment_sum(
        &self,
        st: &mut State,
        dt: FloatType,
        (rows, width, segs): (usize, usize, usize),
        src: cl_mem,
        idx: cl_mem,
        dst: cl_mem,
        counts: Option<cl_mem>,
    ) -> Result<(), OclError> {
        let offs = self.scratch((segs + 1) * 4)?;
        let order = self.scratch(rows.max(1) * 4)?;
        let cursor = self.scratch(segs.max(1) * 4)?;
        self.launch(
            st,
            dt,
            "nk_bucket",
            &[
                i(rows),
                i(segs),
                KArg::Mem(idx),
                KArg::Mem(offs.mem),
                KArg::Mem(order.mem),
                KArg::Mem(cursor.mem),
            ],
            &[1],
        )?;
        self.launch(
            st,
            dt,
            "nk_segment_sum",
            &[
                i(width),
                i(segs),
                KArg::Mem(src),
                KArg::Mem(offs.mem),
                KArg::Mem(order.mem),
                KArg::Mem(dst),
            ],
            &[width, segs],
        )?;
        if let Some(c) = counts {
            self.launch(
                st,
                dt,
                "nk_segment_counts",
                &[i(segs), KArg::Mem(offs.mem), KArg::Mem(c)],
                &[segs],
            )?;
        }
        Ok(())
    }

    fn dispatch(&self, op: &Op, dt: FloatType, a: &[Option<&OclBuffer>]) -> Result<(), OclError> {
        let mut guard = self.lock();
        let st = &mut *guard;
        let m = |j: usize| a[j].map_or(std::ptr::null_mut(), OclBuffer::raw);
        match op {
            Op::MatMul(d) => self.gemm(
                st,
                dt,
                "nk_gemm",
                (d.b * d.m, d.n, d.k, 1),
                (m(0), d.k, 0, false),
                (m(1), d.n, 0, false),
                (m(2), d.n, 0),
                (1.0, 0.0, false),
            ),
            Op::MatMulBatched(d) => self.gemm(
                st,
                dt,
                "nk_gemm",
                (d.m, d.n, d.k, d.b),
                (m(0), d.k, d.m * d.k, false),
                (m(1), d.n, d.k * d.n, false),
                (m(2), d.n, d.m * d.n),
                (1.0, 0.0, false),
            ),
            Op::MatMulBackward(d) => {
                if d.want_d_a {
                    // dA (BM, K) = dC (BM, N) · Wᵀ.
                    self.gemm(
                        st,
                        dt,
                        "nk_gemm",
                        (d.b * d.m, d.k, d.n, 1),
                        (m(2), d.n, 0, false),
                        (m(1), d.n, 0, true),
                        (m(3), d.k, 0),
                        (1.0, 0.0, false),
                    )?;
                }
                if d.want_d_w {
                    // dW (K, N) = Aᵀ (K, BM) · dC (BM, N).
                    self.gemm(
                        st,
                        dt,
                        "nk_gemm",
                        (d.k, d.n, d.b * d.m, 1),
                        (m(0), d.k, 0, true),
                        (m(2), d.n, 0, false),
                        (m(4), d.n, 0),
                        (1.0, 0.0, false),
                    )?;
                }
                Ok(())
            }
            Op::MatMulBatchedBackward(d) => {
                if d.want_d_a {
                    self.gemm(
                        st,
                        dt,
                        "nk_gemm",
                        (d.m, d.k, d.n, d.b),
                        (m(2), d.n, d.m * d.n, false),
                        (m(1), d.n, d.k * d.n, true),
                        (m(3), d.k, d.m * d.k),
                        (1.0, 0.0, false),
                    )?;
                }
                if d.want_d_w {
                    self.gemm(
                        st,
                        dt,
                        "nk_gemm",
                        (d.k, d.n, d.m, d.b),
                        (m(0), d.k, d.m * d.k, true),
                        (m(2), d.n, d.m * d.n, false),
                        (m(4), d.n, d.k * d.n),
                        (1.0, 0.0, false),
                    )?;
                }
                Ok(())
            }
            Op::HebbianUpdate(d) => self.gemm(
                st,
                dt,
                "nk_gemm",
                (d.k, d.n, d.b * d.m, 1),
                (m(0), d.k, 0, true),
                (m(1), d.n, 0, false),
                (m(2), d.n, 0),
                (d.lr, 1.0f32 - d.decay, true),
            ),
            Op::PairwiseSimilarity(d) => self.gemm(
                st,
                dt,
                "nk_gemm",
                (d.n, d.n, d.d, 1),
                (m(0), d.d, 0, false),
                (m(0), d.d, 0, true),
                (m(1), d.n, 0),
                (1.0, 0.0, false),
            ),
            Op::DynamicTokenAssignment(d) => {
                let rows = d.b * d.s;
                // The f32 scores (rows, T) live in a scratch buffer indexed with 32 bits.
                if rows.checked_mul(d.t).is_none_or(|n| n > i32::MAX as usize) {
                    return Err(OclError::OutOfMemory {
                        bytes: rows.saturating_mul(d.t).saturating_mul(4),
                        detail: "dynamic_token_assignment: the (rows, T) score matrix exceeds \
                                 i32::MAX elements; split the rows into several calls"
                            .into(),
                    });
                }
                // A score matrix much larger than the operands (large T with a small E:
                // the inputs fit, the scores would not) is not materialized: one work-item
                // per row scans the prototypes with its own dot products instead.
                if (rows * d.t * 4) as u64 > self.score_budget {
                    return self.launch(
                        st,
                        dt,
                        "nk_token_assign_direct",
                        &[
                            i(rows),
                            i(d.t),
                            i(d.e),
                            KArg::Mem(m(0)),
                            KArg::Mem(m(1)),
                            KArg::Mem(m(2)),
                            KArg::Mem(m(3)),
                            KArg::I32(i32::from(d.want_best)),
                        ],
                        &[rows],
                    );
                }
                let scores = self.scratch(rows * d.t * 4)?;
                self.gemm(
                    st,
                    dt,
                    "nk_gemm_f32out",
                    (rows, d.t, d.e, 1),
                    (m(0), d.e, 0, false),
                    (m(1), d.e, 0, true),
                    (scores.mem, d.t, 0),
                    (1.0, 0.0, false),
                )?;
                self.launch(
                    st,
                    dt,
                    "nk_argmax_rows",
                    &[
                        i(rows),
                        i(d.t),
                        KArg::Mem(scores.mem),
                        KArg::Mem(m(2)),
                        KArg::Mem(m(3)),
                        KArg::I32(i32::from(d.want_best)),
                    ],
                    &[rows],
                )
            }
            _ => self.dispatch_rest(st, op, dt, a),
        }
    }
}

impl OpenClBackend {
    fn dispatch_rest(
        &self,
        st: &mut State,
        op: &Op,
        dt: FloatType,
        a: &[Option<&OclBuffer>],
    ) -> Result<(), OclError> {
        let m = |j: usize| mem(a[j]);
        match op {
            Op::Softmax(d) if self.rows_per_item => self.launch(
                st,
                dt,
                "nk_softmax_wi",
                &[i(d.rows), i(d.len), m(0), m(1), KArg::I32(0)],
                &[d.rows],
            ),
            Op::LogSoftmax(d) if self.rows_per_item => self.launch(
                st,
                dt,
                "nk_softmax_wi",
                &[i(d.rows), i(d.len), m(0), m(1), KArg::I32(1)],
                &[d.rows],
            ),
            Op::SoftmaxBackward(d) if self.rows_per_item => self.launch(
                st,
                dt,
                "nk_softmax_backward_wi",
                &[i(d.rows), i(d.len), m(0), m(1), m(2)],
                &[d.rows],
            ),
            Op::Softmax(d) => self.launch_rows(
                st,
                dt,
                "nk_softmax",
                d.rows,
                d.len,
                &mut vec![i(d.len), m(0), m(1), KArg::I32(0)],
                3,
            ),
            Op::LogSoftmax(d) => self.launch_rows(
                st,
                dt,
                "nk_softmax",
                d.rows,
                d.len,
                &mut vec![i(d.len), m(0), m(1), KArg::I32(1)],
                3,
            ),
            Op::SoftmaxBackward(d) => self.launch_rows(
                st,
                dt,
                "nk_softmax_backward",
                d.rows,
                d.len,
                &mut vec![i(d.len), m(0), m(1), m(2)],
                4,
            ),
            Op::CrossEntropyLossGrad(d) => self.launch(
                st,
                dt,
                "nk_cross_entropy",
                &[i(d.rows), i(d.vocab), m(0), m(1), m(2), m(3)],
                &[d.vocab.max(1), d.rows],
            ),
            Op::Gelu(d) => self.launch(st, dt, "nk_gelu", &[i(d.n), m(0), m(1)], &[d.n]),
            Op::GeluBackward(d) => self.launch(
                st,
                dt,
                "nk_gelu_backward",
                &[i(d.n), m(0), m(1), m(2)],
                &[d.n],
            ),
            Op::ThresholdSpike(d) => self.launch(
                st,
                dt,
                "nk_threshold",
                &[i(d.n), KArg::F32(d.threshold), m(0), m(1)],
                &[d.n],
            ),
            Op::Add(d) => self.add(st, dt, (d.n, 1), a),
            Op::AddBias(d) => self.add(st, dt, (d.n, d.b * d.m), a),
            Op::AddBroadcastPe(d) => self.add(st, dt, (d.s * d.e, d.b), a),
            Op::Mul(d) => self.launch(st, dt, "nk_mul", &[i(d.n), m(0), m(1), m(2)], &[d.n]),
            Op::MulBackward(d) => {
                if d.want_d_a {
                    self.launch(st, dt, "nk_mul", &[i(d.n), m(0), m(2), m(3)], &[d.n])?;
                }
                if d.want_d_b {
                    self.launch(st, dt, "nk_mul", &[i(d.n), m(0), m(1), m(4)], &[d.n])?;
                }
                Ok(())
            }
            Op::LayerNorm(d) if self.rows_per_item => self.launch(
                st,
                dt,
                "nk_layer_norm_wi",
                &[
                    i(d.rows),
                    i(d.len),
                    KArg::F32(d.eps),
                    m(0),
                    m(1),
                    m(2),
                    m(3),
                    KArg::I32(i32::from(d.affine)),
                ],
                &[d.rows],
            ),
            Op::LayerNorm(d) => self.launch_rows(
                st,
                dt,
                "nk_layer_norm",
                d.rows,
                d.len,
                &mut vec![
                    i(d.len),
                    KArg::F32(d.eps),
                    m(0),
                    m(1),
                    m(2),
                    m(3),
                    KArg::I32(i32::from(d.affine)),
                ],
                6,
            ),
            Op::LayerNormBackward(d) => {
                let stats = self.scratch(d.rows * 2 * 4)?;
                if self.rows_per_item {
                    self.launch(
                        st,
                        dt,
                        "nk_layer_norm_backward_wi",
                        &[
                            i(d.rows),
                            i(d.len),
                            KArg::F32(d.eps),
                            m(0),
                            m(1),
                            m(2),
                            m(3),
                            KArg::Mem(stats.mem),
                            KArg::I32(i32::from(d.affine)),
                        ],
                        &[d.rows],
                    )?;
                } else {
                    self.launch_rows(
                        st,
                        dt,
                        "nk_layer_norm_backward",
                        d.rows,
                        d.len,
                        &mut vec![
                            i(d.len),
                            KArg::F32(d.eps),
                            m(0),
                            m(1),
                            m(2),
                            m(3),
                            KArg::Mem(stats.mem),
                            KArg::I32(i32::from(d.affine)),
                        ],
                        7,
                    )?;
                }
                if d.affine {
                    self.launch(
                        st,
                        dt,
                        "nk_layer_norm_backward_cols",
                        &[
                            i(d.rows),
                            i(d.len),
                            m(0),
                            m(1),
                            KArg::Mem(stats.mem),
                            m(4),
                            m(5),
                        ],
                        &[d.len],
                    )?;
                }
                Ok(())
            }
            Op::Transpose(d) => {
                self.transpose(st, dt, (1, d.rows, d.cols, 1), mraw(a[0]), mraw(a[1]))
            }
            Op::TransposeBatched(d) => {
                self.transpose(st, dt, (d.b, d.d1, d.d2, 1), mraw(a[0]), mraw(a[1]))
            }
            Op::Transpose12(d) => {
                self.transpose(st, dt, (d.b, d.d1, d.d2, d.d3), mraw(a[0]), mraw(a[1]))
            }
            Op::AdamUpdate(d) => {
                let t = f64::from(d.t);
                let (b1, b2) = (f64::from(d.beta1), f64::from(d.beta2));
                let c1 = (1.0 - b1.powf(t)) as f32;
                let c2 = (1.0 - b2.powf(t)) as f32;
                self.launch(
                    st,
                    dt,
                    "nk_adam",
                    &[
                        i(d.n),
                        m(0),
                        m(1),
                        m(2),
                        m(3),
                        KArg::F32(d.lr),
                        KArg::F32(d.beta1),
                        KArg::F32((1.0 - b1) as f32),
                        KArg::F32(d.beta2),
                        KArg::F32((1.0 - b2) as f32),
                        KArg::F32(d.eps),
                        KArg::F32(d.weight_decay),
                        KArg::F32(c1),
                        KArg::F32(c2),
                        KArg::I32(i32::from(d.decoupled)),
                    ],
                    &[d.n],
                )
            }
            Op::EmbeddingLookup(d) => self.launch(
                st,
                dt,
                "nk_embedding_lookup",
                &[i(d.b * d.s), i(d.dim), i(d.vocab), m(0), m(1), m(2)],
                &[d.dim, d.b * d.s],
            ),
            Op::EmbeddingBackward(d) => self.segment_sum(
                st,
                dt,
                (d.b * d.s, d.dim, d.vocab),
                mraw(a[0]),
                mraw(a[1]),
                mraw(a[2]),
                None,
            ),
            Op::ProtoSegmentedSum(d) => {
                // SumMode::Atomic allows any order; this backend always takes the
                // deterministic path (no float atomics), which is as fast here.
                self.segment_sum(
                    st,
                    dt,
                    (d.m, d.e, d.t),
                    mraw(a[0]),
                    mraw(a[1]),
                    mraw(a[2]),
                    Some(mraw(a[3])),
                )
            }
            Op::ProtoUpdateStep(d) => {
                let n = d.t * d.e;
                self.launch(
                    st,
                    dt,
                    "nk_proto_update",
                    &[
                        i(n),
                        i(d.e.max(1)),
                        KArg::F32(1.0f32 - d.lr),
                        KArg::F32(d.lr),
                        m(0),
                        m(1),
                        m(2),
                    ],
                    &[n],
                )
            }
            Op::ReduceSum01(d) => self.column_sums(st, dt, (d.b * d.m, d.n), m(0), m(1)),
            Op::ShapeLoss(d) => self.launch(
                st,
                dt,
                "nk_shape_loss",
                &[
                    i(d.rows),
                    i(d.vocab),
                    i(d.pairs),
                    m(0),
                    m(1),
                    m(2),
                    m(3),
                    m(4),
                    KArg::F32(d.penalty),
                    KArg::F32(d.reward),
                    KArg::F32(d.threshold),
                ],
                &[d.rows],
            ),
            // The GEMM family is handled by `dispatch`.
            Op::MatMul(_)
            | Op::MatMulBatched(_)
            | Op::MatMulBackward(_)
            | Op::MatMulBatchedBackward(_)
            | Op::HebbianUpdate(_)
            | Op::PairwiseSimilarity(_)
            | Op::DynamicTokenAssignment(_) => unreachable!("handled by dispatch"),
        }
    }
}

fn mraw(b: Option<&OclBuffer>) -> cl_mem {
    b.map_or(std::ptr::null_mut(), OclBuffer::raw)
}

impl Backend for OpenClBackend {
    type Buffer = OclBuffer;
    type Error = OclError;

    fn device_name(&self) -> &str {
        &self.label
    }

    fn supports(&self, _kind: OpKind, _dtype: FloatType) -> bool {
        true
    }

    fn alloc(&self, elem: ElemType, len: usize) -> Result<OclBuffer, OclError> {
        let bytes = len.checked_mul(elem.size()).ok_or(OclError::OutOfMemory {
            bytes: usize::MAX,
            detail: "the size overflows the address space".into(),
        })?;
        let mem = Mem::new(&self.ctx, bytes, self.info.max_alloc)?;
        if bytes > 0 {
            let zero = 0u32;
            // SAFETY: valid queue and buffer of `bytes` bytes (a multiple of 2 and of the
            // pattern size 2 or 4); the pattern lives until the call returns (it is copied).
            let code = unsafe {
                clEnqueueFillBuffer(
                    self.queue.0,
                    mem.mem,
                    (&zero as *const u32).cast(),
                    elem.size(),
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
            // Surface a lazy allocation failure here, as an error of this call.
            self.queue.finish().map_err(|e| match e {
                OclError::Cl { code, call } if error::is_out_of_memory(code) => {
                    error::status_to_error(code, &call, bytes)
                }
                e => e,
            })?;
        }
        Ok(OclBuffer {
            mem,
            elem,
            len,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        })
    }

    fn write(&self, buf: &OclBuffer, src: &[u8]) -> Result<(), OclError> {
        check_bytes(buf.elem, buf.len, src.len())
            .map_err(|(expected, got)| OclError::Bytes { expected, got })?;
        if src.is_empty() {
            return Ok(());
        }
        // SAFETY: blocking write of exactly the buffer's size from a live host slice.
        let code = unsafe {
            clEnqueueWriteBuffer(
                self.queue.0,
                buf.raw(),
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

    fn read(&self, buf: &OclBuffer, dst: &mut [u8]) -> Result<(), OclError> {
        check_bytes(buf.elem, buf.len, dst.len())
            .map_err(|(expected, got)| OclError::Bytes { expected, got })?;
        if dst.is_empty() {
            return Ok(());
        }
        // SAFETY: blocking read of exactly the buffer's size into a live host slice.
        let code = unsafe {
            clEnqueueReadBuffer(
                self.queue.0,
                buf.raw(),
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

    fn copy(&self, src: &OclBuffer, dst: &OclBuffer) -> Result<(), OclError> {
        if src.elem != dst.elem || src.len != dst.len {
            return Err(OclError::CopyMismatch);
        }
        if src.id == dst.id || src.len == 0 {
            return Ok(());
        }
        // SAFETY: two distinct buffers of the same size; in-order queue.
        let code = unsafe {
            clEnqueueCopyBuffer(
                self.queue.0,
                src.raw(),
                dst.raw(),
                0,
                0,
                src.mem.bytes,
                0,
                std::ptr::null(),
                std::ptr::null_mut(),
            )
        };
        error::check(code, "clEnqueueCopyBuffer")
    }

    fn run(&self, op: &Op, dtype: FloatType, args: &[Option<&OclBuffer>]) -> Result<(), OclError> {
        check_call(op, dtype, args)?;
        if !op.has_work()? {
            return Ok(());
        }
        self.dispatch(op, dtype, args)
    }

    fn synchronize(&self) -> Result<(), OclError> {
        self.queue.finish()
    }
}
