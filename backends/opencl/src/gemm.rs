//! The GEMM launcher: packs `B` (and `A` when transposed or f16) into zero-padded f32
//! panels, then runs the register-blocked kernel (`kernels/opencl/gemm.cl`). A batch
//! stride of 0 shares an operand across batches (packed once).

use neurokern_core::FloatType;
use neurokern_gpu::gemm::Gemm;

use crate::backend::OpenClDevice;
use crate::config::PackA;
use crate::error::OclError;
use crate::raw::{launch, KArg, Mem};

/// `k` per work-item of the packing kernels (`PACK_KC` in `pack.cl`).
const PACK_KC: usize = 64;

fn i(v: usize) -> KArg {
    // Validation bounds every dim and product by i32::MAX.
    KArg::I32(v as i32)
}

fn long(v: usize) -> KArg {
    KArg::I64(v as i64)
}

impl OpenClDevice {
    /// Whether `A` is packed for this GEMM.
    fn packs_a<B>(&self, dtype: FloatType, g: &Gemm<B>) -> bool {
        match self.pack_a {
            PackA::Transposed => g.a.trans || dtype == FloatType::F16,
            PackA::Always => true,
            // There is no f32-output variant that reads a transposed A in place.
            PackA::Never => g.a.trans && g.c_f32,
        }
    }

    /// Panel sizes in bytes: packed `A` (0 when read in place), packed `B`.
    pub(crate) fn gemm_scratch(&self, dtype: FloatType, g: &Gemm<()>) -> [usize; 2] {
        // A zero tile is refused by `run_gemm`; here it must only not divide by zero.
        let (mr, nb) = (
            self.gemm.mr.max(1) as usize,
            self.gemm.cols().max(1) as usize,
        );
        let pa = g.m.div_ceil(mr) * mr * g.k;
        let pb = g.n.div_ceil(nb) * nb * g.k;
        let per = |stride: usize| if stride == 0 { 1 } else { g.batch };
        let a = if self.packs_a(dtype, g) {
            pa * per(g.a.stride) * 4
        } else {
            0
        };
        [a, pb * per(g.b.stride) * 4]
    }

    pub(crate) fn run_gemm(
        &self,
        dt: FloatType,
        g: &Gemm<&Mem>,
        work: [Option<&Mem>; 2],
    ) -> Result<(), OclError> {
        let packed = self.packs_a(dt, g);
        let name = match (g.c_f32, g.a.trans, packed) {
            (false, _, true) => "nk_gemm_pn",
            (false, false, false) => "nk_gemm_nn",
            (false, true, false) => "nk_gemm_tn",
            (true, _, true) => "nk_gemm_pn_f32out",
            (true, false, false) => "nk_gemm_nn_f32out",
            (true, true, false) => unreachable!("transposed A is always packed"),
        };
        // A panel of no bytes (K = 0) is never touched: a null handle stands for it.
        let scratch = |w: Option<&Mem>, bytes: usize| match w {
            Some(m) => Ok(m.mem),
            None if bytes == 0 => Ok(std::ptr::null_mut()),
            None => Err(OclError::Cl {
                call: format!("gemm: {bytes} bytes of packing scratch missing"),
                code: cl_sys::CL_INVALID_MEM_OBJECT,
            }),
        };
        if self.gemm.mr == 0 || self.gemm.cols() == 0 {
            return Err(OclError::Unusable(format!(
                "GEMM tile {:?} has no rows or no columns",
                self.gemm
            )));
        }
        let (m, n, k, batch) = (g.m, g.n, g.k, g.batch);
        let (mr, nb) = (self.gemm.mr as usize, self.gemm.cols() as usize);
        let (mblocks, nblocks) = (m.div_ceil(mr), n.div_ceil(nb));
        let kchunks = k.div_ceil(PACK_KC);
        let pb = nblocks * nb * k;
        let bb = if g.b.stride == 0 { 1 } else { batch };
        let bp = scratch(work[1], pb * bb)?;
        let mut st = self.lock();
        let (a, lda, sa) = if packed {
            let pa = mblocks * mr * k;
            let ba = if g.a.stride == 0 { 1 } else { batch };
            let ap = scratch(work[0], pa * ba)?;
            let args = [
                i(m),
                i(k),
                KArg::Mem(g.a.buf.mem),
                i(g.a.ld),
                i(g.a.stride),
                KArg::I32(i32::from(g.a.trans)),
                KArg::Mem(ap),
                long(pa),
            ];
            self.launch_tiled(&mut st, dt, "nk_pack_a", &args, [mblocks, kchunks, ba])?;
            (ap, 0, if g.a.stride == 0 { 0 } else { pa })
        } else {
            (g.a.buf.mem, g.a.ld, g.a.stride)
        };
        let args = [
            i(n),
            i(k),
            KArg::Mem(g.b.buf.mem),
            i(g.b.ld),
            i(g.b.stride),
            KArg::I32(i32::from(g.b.trans)),
            KArg::Mem(bp),
            long(pb),
        ];
        self.launch_tiled(&mut st, dt, "nk_pack_b", &args, [nblocks, kchunks, bb])?;
        let args = [
            i(m),
            i(n),
            i(k),
            KArg::Mem(a),
            i(lda),
            long(sa),
            KArg::Mem(bp),
            long(if g.b.stride == 0 { 0 } else { pb }),
            KArg::Mem(g.c.buf.mem),
            i(g.c.ld),
            i(g.c.stride),
            KArg::F32(g.alpha),
            KArg::F32(g.beta),
            KArg::I32(i32::from(g.accumulate)),
        ];
        self.launch_tiled(&mut st, dt, name, &args, [mblocks, nblocks, batch])
    }

    /// Launches a GEMM-shaped kernel (each work-item owns a block and loops) with the
    /// device's GEMM work-group shape.
    fn launch_tiled(
        &self,
        st: &mut crate::backend::State,
        dt: FloatType,
        name: &'static str,
        args: &[KArg],
        global: [usize; 3],
    ) -> Result<(), OclError> {
        let kern = self.kernel(st, dt, name)?;
        let (global, local) = match self.gemm_local {
            Some(l) => (
                [
                    global[0].div_ceil(l[0]) * l[0],
                    global[1].div_ceil(l[1]) * l[1],
                    global[2],
                ],
                Some([l[0], l[1], 1]),
            ),
            None => (global, None),
        };
        // SAFETY: the three call sites above pass the argument lists of `nk_pack_a`,
        // `nk_pack_b` and the `nk_gemm_*` variants exactly as `pack.cl` and `gemm.cl`
        // declare them (ints, longs, floats and buffers in order).
        unsafe {
            launch(
                &self.queue,
                kern,
                name,
                args,
                &global,
                local.as_ref().map(|l| &l[..]),
            )
        }
    }
}
