//! The per-device choices of the OpenCL backend: GEMM tile and work-group shape, when to
//! pack `A`, rowwise kernel shape. Defaults come from what the device reports; tuners and
//! tests override them.

use crate::device::DeviceInfo;
pub use neurokern_kernels::opencl::GemmParams;

/// When the GEMM packs its `A` operand (`NEUROKERN_OPENCL_PACK_A`: `1` always, `0` never).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackA {
    /// Always pack.
    Always,
    /// Never pack (except a transposed `A` of an f32-output GEMM, which has no in-place
    /// variant).
    Never,
    /// Pack when transposed or f16 (the default): f32 `A` as is is read in place (MR
    /// sequential streams), which measured faster than packing it.
    Transposed,
}

impl PackA {
    /// The policy `NEUROKERN_OPENCL_PACK_A` asks for (`Transposed` when unset).
    pub fn from_env() -> PackA {
        match std::env::var("NEUROKERN_OPENCL_PACK_A").as_deref() {
            Ok("0") => PackA::Never,
            Ok("1") => PackA::Always,
            _ => PackA::Transposed,
        }
    }
}

/// The GEMM tile for `info`: `NEUROKERN_OPENCL_GEMM=mr,nv,nr` when set and valid, else a
/// choice from the device's preferred vector width.
pub fn default_gemm(info: &DeviceInfo) -> GemmParams {
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
pub fn default_gemm_local(info: &DeviceInfo) -> Option<[usize; 2]> {
    if let Ok(s) = std::env::var("NEUROKERN_OPENCL_GEMM_LOCAL") {
        let v: Vec<usize> = s.split(',').filter_map(|x| x.trim().parse().ok()).collect();
        return match v[..] {
            [a, b] if a > 0 && b > 0 => Some([a, b]),
            _ => None,
        };
    }
    info.is_cpu.then_some([1, 1])
}
