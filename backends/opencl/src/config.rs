//! The per-device choices of the OpenCL backend: GEMM tile and work-group shape, when to
//! pack `A`, rowwise kernel shape. Defaults come from what the device reports; tuners and
//! tests override them.

use crate::device::DeviceInfo;
use crate::error::OclError;
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
    /// The policy `NEUROKERN_OPENCL_PACK_A` asks for (`Transposed` when unset or invalid;
    /// [`check_env`] reports an invalid value when a device opens).
    pub fn from_env() -> PackA {
        env(PACK_A_ENV)
            .and_then(|s| parse_pack_a(&s).ok())
            .unwrap_or(PackA::Transposed)
    }
}

/// The variable that overrides the GEMM tile.
pub const GEMM_ENV: &str = "NEUROKERN_OPENCL_GEMM";
/// The variable that overrides the GEMM work-group shape.
pub const GEMM_LOCAL_ENV: &str = "NEUROKERN_OPENCL_GEMM_LOCAL";
/// The variable that overrides when `A` is packed.
pub const PACK_A_ENV: &str = "NEUROKERN_OPENCL_PACK_A";

/// The variable that limits the device memory neurokern's buffers may hold.
pub const MEMORY_ENV: &str = "NEUROKERN_OPENCL_MEMORY";

/// Parses `NEUROKERN_OPENCL_MEMORY`: bytes, or a number with `K`, `M` or `G` (binary
/// units: `512M`, `2G`).
pub fn parse_memory(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, unit) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&t[..i], c.to_ascii_uppercase()),
        _ => (t, 'B'),
    };
    let scale: u64 = match unit {
        'B' => 1,
        'K' => 1 << 10,
        'M' => 1 << 20,
        'G' => 1 << 30,
        _ => 0,
    };
    match num.trim().parse::<u64>() {
        Ok(n) if n > 0 && scale > 0 => n
            .checked_mul(scale)
            .ok_or_else(|| format!("{MEMORY_ENV}=`{s}` is too large")),
        _ => Err(format!(
            "{MEMORY_ENV}=`{s}` is not an amount of memory: expected a number of bytes ≥ 1, \
             optionally with K, M or G (binary units), e.g. `1G` or `512M`"
        )),
    }
}

/// The device memory neurokern's buffers may hold on `info`: its global memory, or less
/// when `NEUROKERN_OPENCL_MEMORY` says so (an invalid value stops the device from
/// opening, [`check_env`]). A process that shares the device, or a harness that bounds
/// its own memory where device memory is host memory (a fuzzer on PoCL), sets it.
pub fn memory_limit(info: &DeviceInfo) -> u64 {
    env(MEMORY_ENV)
        .and_then(|s| parse_memory(&s).ok())
        .map_or(info.global_mem, |m| m.min(info.global_mem))
}

/// A set, non-empty variable.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|s| !s.trim().is_empty())
}

/// Parses `NEUROKERN_OPENCL_GEMM`'s `mr,nv,nr`.
pub fn parse_gemm(s: &str) -> Result<GemmParams, String> {
    let v: Result<Vec<u32>, _> = s.split(',').map(|x| x.trim().parse::<u32>()).collect();
    match v.as_deref() {
        Ok(&[mr, nv, nr]) if mr > 0 && matches!(nv, 2 | 4 | 8 | 16) && nr > 0 => {
            Ok(GemmParams { mr, nv, nr })
        }
        _ => Err(format!(
            "{GEMM_ENV}=`{s}` is not a GEMM tile: expected `mr,nv,nr` (three integers: rows \
             per work-item ≥ 1, vector width 2, 4, 8 or 16, column vectors ≥ 1), e.g. `6,8,4`"
        )),
    }
}

/// Parses `NEUROKERN_OPENCL_GEMM_LOCAL`'s `x,y` (or `0`: the implementation's choice).
pub fn parse_gemm_local(s: &str) -> Result<Option<[usize; 2]>, String> {
    if s.trim() == "0" {
        return Ok(None);
    }
    let v: Result<Vec<usize>, _> = s.split(',').map(|x| x.trim().parse::<usize>()).collect();
    match v.as_deref() {
        Ok(&[a, b]) if a > 0 && b > 0 => Ok(Some([a, b])),
        _ => Err(format!(
            "{GEMM_LOCAL_ENV}=`{s}` is not a work-group shape: expected `x,y` (two integers \
             ≥ 1, e.g. `1,1`) or `0` for the implementation's choice"
        )),
    }
}

/// Parses `NEUROKERN_OPENCL_PACK_A`: `1` always, `0` never.
pub fn parse_pack_a(s: &str) -> Result<PackA, String> {
    match s.trim() {
        "1" => Ok(PackA::Always),
        "0" => Ok(PackA::Never),
        _ => Err(format!(
            "{PACK_A_ENV}=`{s}` is not a packing policy: expected `1` (always pack A) or `0` \
             (never); unset, A is packed when transposed or f16"
        )),
    }
}

/// Every set override, checked: a device does not open with a setting it would ignore.
pub fn check_env() -> Result<(), OclError> {
    let mut bad = Vec::new();
    if let Some(s) = env(GEMM_ENV) {
        bad.extend(parse_gemm(&s).err());
    }
    if let Some(s) = env(GEMM_LOCAL_ENV) {
        bad.extend(parse_gemm_local(&s).err());
    }
    if let Some(s) = env(PACK_A_ENV) {
        bad.extend(parse_pack_a(&s).err());
    }
    if let Some(s) = env(MEMORY_ENV) {
        bad.extend(parse_memory(&s).err());
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(OclError::Config(bad.join("; ")))
    }
}

/// The GEMM tile for `info`: `NEUROKERN_OPENCL_GEMM=mr,nv,nr` when set and valid (an
/// invalid value stops the device from opening, [`check_env`]), else a choice from the
/// device's preferred vector width.
pub fn default_gemm(info: &DeviceInfo) -> GemmParams {
    if let Some(p) = env(GEMM_ENV).and_then(|s| parse_gemm(&s).ok()) {
        return p;
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
    if let Some(local) = env(GEMM_LOCAL_ENV).and_then(|s| parse_gemm_local(&s).ok()) {
        return local;
    }
    info.is_cpu.then_some([1, 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_or_say_what_is_expected() {
        assert_eq!(
            parse_gemm(" 6, 8 ,4"),
            Ok(GemmParams {
                mr: 6,
                nv: 8,
                nr: 4
            })
        );
        for bad in ["6,8", "6,7,4", "0,8,4", "a,b,c", "6;8;4", "6,8,4,1"] {
            let e = parse_gemm(bad).unwrap_err();
            assert!(e.contains(GEMM_ENV) && e.contains("mr,nv,nr"), "{e}");
        }
        assert_eq!(parse_gemm_local("1,1"), Ok(Some([1, 1])));
        assert_eq!(parse_gemm_local("0"), Ok(None));
        for bad in ["1", "0,1", "x,y", "1,1,1"] {
            let e = parse_gemm_local(bad).unwrap_err();
            assert!(e.contains(GEMM_LOCAL_ENV) && e.contains("x,y"), "{e}");
        }
        assert_eq!(parse_memory("1G"), Ok(1 << 30));
        assert_eq!(parse_memory("512m"), Ok(512 << 20));
        assert_eq!(parse_memory(" 4096 "), Ok(4096));
        for bad in ["", "0", "1T", "G", "-1M", "1.5G"] {
            let e = parse_memory(bad).unwrap_err();
            assert!(e.contains(MEMORY_ENV) && e.contains("512M"), "{e}");
        }
        assert_eq!(parse_pack_a("1"), Ok(PackA::Always));
        assert!(parse_pack_a("yes").unwrap_err().contains(PACK_A_ENV));
    }
}
