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

/// SPIR-V of the GLSL compute shaders (`kernels/glsl`), compiled ahead of time by
/// `cargo xtask kernels`, for the Vulkan backend.
pub mod spirv;
