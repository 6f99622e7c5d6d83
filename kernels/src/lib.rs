//! Kernel sources of neurokern, as data.
//!
//! Backends compile these at run time (OpenCL: `clBuildProgram`) and cache the result per
//! device. This crate depends on nothing and contains no logic beyond assembling sources.
//!
//! ## OpenCL
//!
//! [`opencl`] holds OpenCL C 1.2 sources. f16 is storage only (`vload_half` /
//! `vstore_half_rte`), so no `cl_khr_fp16` is needed. A program is one translation unit
//! per storage type: the host prepends `#define NK_HALF 0|1` and the GEMM tile parameters
//! (see [`opencl::GemmParams`]), and [`opencl::program_source`] stamps the GEMM template
//! once per variant (transpose of `A`, f32 output).
//!
//! ## CUDA
//!
//! [`cuda`] holds CUDA C sources for NVRTC (no headers): the table kernels with the
//! OpenCL kernels' names, arguments and formulas, written as grid-stride loops, and the
//! GEMMs (strict f32 on the FP32 cores, f16 storage on the tensor cores). A program is one
//! translation unit per storage type ([`cuda::program_source`]).

/// OpenCL C sources (`kernels/opencl/*.cl`).
pub mod opencl {
    /// Prelude: storage-type macros, NaN-propagating max, work-group reductions.
    pub const COMMON: &str = include_str!("../opencl/common.cl");
    /// The register-blocked GEMM template (`GEMM_NAME`, `GEMM_TA`, `GEMM_CF32`).
    pub const GEMM: &str = include_str!("../opencl/gemm.cl");
    /// Packing of the GEMM's `B` into panels (transpose, f16 widening, padding).
    pub const PACK: &str = include_str!("../opencl/pack.cl");
    /// Elementwise ops, activations, Adam, lookups, transposes, per-row ops.
    pub const ELEMENTWISE: &str = include_str!("../opencl/elementwise.cl");
    /// Rowwise ops with work-group reductions (softmax family, layer norm).
    pub const ROWWISE: &str = include_str!("../opencl/rowwise.cl");
    /// Deterministic segmented sums (counting sort + ordered per-segment sums).
    pub const SCATTER: &str = include_str!("../opencl/scatter.cl");

    /// The GEMM variants stamped from [`GEMM`]: kernel name, how `A` is read (`GEMM_TA`:
    /// 0 as is, 1 transposed, 2 packed), f32 output.
    pub const GEMM_VARIANTS: &[(&str, u8, bool)] = &[
        ("nk_gemm_nn", 0, false),
        ("nk_gemm_tn", 1, false),
        ("nk_gemm_pn", 2, false),
        ("nk_gemm_nn_f32out", 0, true),
        ("nk_gemm_pn_f32out", 2, true),
    ];

    /// Tile parameters of the GEMM, build-time defines chosen per device (or by a tuner).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct GemmParams {
        /// Rows of `C` per work-item.
        pub mr: u32,
        /// Vector width of a column block: 2, 4, 8 or 16.
        pub nv: u32,
        /// Column vectors per work-item: a work-item owns `mr × nr·nv` outputs.
        pub nr: u32,
    }

    impl GemmParams {
        /// Output columns per work-item.
        pub const fn cols(&self) -> u32 {
            self.nv * self.nr
        }
    }

    /// The full source of one program: the defines, the prelude, every GEMM variant, and
    /// the other kernels.
    pub fn program_source(half: bool, gemm: GemmParams) -> String {
        let mut s = String::with_capacity(32 * 1024);
        s.push_str(&format!(
            "#define NK_HALF {}\n#define GEMM_MR {}\n#define GEMM_NV {}\n#define GEMM_NR {}\n",
            u8::from(half),
            gemm.mr,
            gemm.nv,
            gemm.nr
        ));
        s.push_str(COMMON);
        s.push_str(PACK);
        for &(name, ta, f32_out) in GEMM_VARIANTS {
            s.push_str(&format!(
                "\n#define GEMM_NAME {name}\n#define GEMM_TA {}\n#define GEMM_CF32 {}\n",
                ta,
                u8::from(f32_out)
            ));
            s.push_str(GEMM);
            s.push_str("\n#undef GEMM_NAME\n#undef GEMM_TA\n#undef GEMM_CF32\n");
        }
        s.push_str(ELEMENTWISE);
        s.push_str(ROWWISE);
        s.push_str(SCATTER);
        s
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn every_gemm_variant_is_stamped_once() {
            let p = GemmParams {
                mr: 6,
                nv: 16,
                nr: 2,
            };
            let src = program_source(true, p);
            for (name, _, _) in GEMM_VARIANTS {
                assert_eq!(
                    src.matches(&format!("#define GEMM_NAME {name}\n")).count(),
                    1
                );
            }
            assert!(src.starts_with("#define NK_HALF 1\n"));
        }
    }
}

/// CUDA C sources (`kernels/cuda/*`), compiled at run time by NVRTC.
pub mod cuda {
    /// Prelude: storage type, f16 conversions by `cvt` (inline PTX), grid-stride loops,
    /// warp reductions, the shared `erfc` fit.
    pub const COMMON: &str = include_str!("../cuda/common.cuh");
    /// Elementwise ops, activations, Adam, lookups, the transpose, column sums, per-row ops.
    pub const ELEMENTWISE: &str = include_str!("../cuda/elementwise.cu");
    /// Rowwise ops, one warp per row (softmax family, layer norm).
    pub const ROWWISE: &str = include_str!("../cuda/rowwise.cu");
    /// Deterministic segmented sums (counting sort + ordered per-segment sums).
    pub const SCATTER: &str = include_str!("../cuda/scatter.cu");
    /// The GEMMs: FP32-core (`nk_gemm_simt_*`) and tensor-core (`nk_gemm_mma_*`, f16, sm_80+).
    pub const GEMM: &str = include_str!("../cuda/gemm.cu");

    /// Rows per block of the rowwise kernels (one warp per row); `NK_ROWS_PER_BLOCK` in
    /// [`COMMON`].
    pub const ROWS_PER_BLOCK: u32 = 8;
    /// Threads per block of the GEMM kernels (`__launch_bounds__(256)` in [`GEMM`]).
    pub const GEMM_THREADS: u32 = 256;
    /// Output tile of both GEMM kernels, rows × columns.
    pub const GEMM_TILE: (u32, u32) = (128, 128);
    /// The lowest compute capability with the tensor-core GEMM (`mma.sync.m16n8k16`).
    pub const MMA_MIN_ARCH: u32 = 80;

    /// The name of a GEMM variant: `tensor_cores` (f16 storage, sm_80+) or FP32 cores,
    /// transposes of `A` and `B`, f32 output.
    pub fn gemm_name(tensor_cores: bool, ta: bool, tb: bool, f32_out: bool) -> String {
        format!(
            "nk_gemm_{}_{}{}{}",
            if tensor_cores { "mma" } else { "simt" },
            if ta { 't' } else { 'n' },
            if tb { 't' } else { 'n' },
            if f32_out { "_f32out" } else { "" }
        )
    }

    /// Every GEMM kernel a program of this storage type holds when compiled for
    /// compute capability `arch` (e.g. 90).
    pub fn gemm_names(half: bool, arch: u32) -> Vec<String> {
        let mut v = Vec::new();
        for tc in [false, true] {
            if tc && !(half && arch >= MMA_MIN_ARCH) {
                continue;
            }
            for ta in [false, true] {
                for tb in [false, true] {
                    for f32_out in [false, true] {
                        v.push(gemm_name(tc, ta, tb, f32_out));
                    }
                }
            }
        }
        v
    }

    /// The full source of one program: the storage-type define, the prelude, and every
    /// kernel.
    pub fn program_source(half: bool) -> String {
        let mut s = String::with_capacity(48 * 1024);
        s.push_str(&format!("#define NK_HALF {}\n", u8::from(half)));
        for part in [COMMON, ELEMENTWISE, ROWWISE, SCATTER, GEMM] {
            s.push_str(part);
            s.push('\n');
        }
        s
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn every_gemm_variant_is_stamped() {
            let src = program_source(true);
            for name in gemm_names(true, 90) {
                assert_eq!(src.matches(&format!(", {name}, ")).count(), 1, "{name}");
            }
            assert_eq!(gemm_names(false, 90).len(), 8);
            assert_eq!(gemm_names(true, 75).len(), 8);
            assert_eq!(gemm_names(true, 80).len(), 16);
            assert!(src.starts_with("#define NK_HALF 1\n"));
        }

        #[test]
        fn the_rust_constants_match_the_sources() {
            assert!(COMMON.contains(&format!("#define NK_ROWS_PER_BLOCK {ROWS_PER_BLOCK}\n")));
            assert!(GEMM.contains(&format!("__launch_bounds__({GEMM_THREADS})")));
            assert!(GEMM.contains(&format!("#define SIMT_BM {}\n", GEMM_TILE.0)));
            assert!(GEMM.contains(&format!("#define MMA_BN {}\n", GEMM_TILE.1)));
            assert!(GEMM.contains(&format!("__CUDA_ARCH__ >= {}0", MMA_MIN_ARCH)));
        }
    }
}

/// SPIR-V of the GLSL compute shaders (`kernels/glsl`), compiled ahead of time by
/// `cargo xtask kernels`, for the Vulkan backend.
pub mod spirv;
