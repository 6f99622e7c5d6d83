//! The on-disk cache of compiled kernels, keyed by a 128-bit FNV-1a hash of the source,
//! the target (architecture and CUBIN/PTX), the NVRTC version and the options.
//!
//! Directory: `NEUROKERN_CUDA_CACHE`, else `$XDG_CACHE_HOME/neurokern/cuda`, else
//! `$HOME/.cache/neurokern/cuda`; none (no caching) when none is set or it cannot be
//! created. Entries are written to a temporary file and renamed, so a reader never sees
//! a partial one; a corrupt entry is found when the driver rejects it, removed, and
//! compiled again by the caller.

use std::path::PathBuf;

use crate::compile::{Target, FP_OPTIONS};

/// The environment variable overriding the cache directory.
pub const CACHE_ENV: &str = "NEUROKERN_CUDA_CACHE";

/// 128-bit FNV-1a.
fn fnv1a128(parts: &[&[u8]]) -> u128 {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;
    let mut h = OFFSET;
    for part in parts {
        // Length first, so that part boundaries are part of the key.
        for b in (part.len() as u64).to_le_bytes().iter().chain(part.iter()) {
            h ^= u128::from(*b);
            h = h.wrapping_mul(PRIME);
        }
    }
    h
}

/// The cache key of one compile.
pub fn key(src: &str, target: Target, nvrtc: (i32, i32)) -> String {
    let t = target.name();
    let v = format!("{}.{}", nvrtc.0, nvrtc.1);
    let opts = FP_OPTIONS.join(" ");
    format!(
        "{:032x}.{}",
        fnv1a128(&[src.as_bytes(), t.as_bytes(), v.as_bytes(), opts.as_bytes()]),
        match target.output {
            crate::compile::Output::Cubin => "cubin",
            crate::compile::Output::Ptx => "ptx",
        }
    )
}

/// The cache directory, created if needed; `None` when there is none.
pub fn dir() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let d = env(CACHE_ENV)
        .or_else(|| env("XDG_CACHE_HOME").map(|p| p.join("neurokern/cuda")))
        .or_else(|| env("HOME").map(|p| p.join(".cache/neurokern/cuda")))?;
    std::fs::create_dir_all(&d).ok()?;
    Some(d)
}

/// The cached image for `key`, if any.
pub fn load(key: &str) -> Option<Vec<u8>> {
    std::fs::read(dir()?.join(key))
        .ok()
        .filter(|v| !v.is_empty())
}

/// Stores an image (best effort: a read-only cache only costs compile time).
pub fn store(key: &str, image: &[u8]) {
    let Some(d) = dir() else { return };
    let tmp = d.join(format!("{key}.tmp{}", std::process::id()));
    if std::fs::write(&tmp, image).is_ok() && std::fs::rename(&tmp, d.join(key)).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// Removes an entry the driver rejected.
pub fn evict(key: &str) {
    if let Some(d) = dir() {
        let _ = std::fs::remove_file(d.join(key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::Output;

    #[test]
    fn the_key_depends_on_source_target_and_version() {
        let t90 = Target {
            arch: 90,
            output: Output::Cubin,
        };
        let t80 = Target { arch: 80, ..t90 };
        let p90 = Target {
            output: Output::Ptx,
            ..t90
        };
        let k = key("a", t90, (12, 9));
        assert_eq!(k, key("a", t90, (12, 9)));
        assert!(k.ends_with(".cubin"));
        for other in [
            key("b", t90, (12, 9)),
            key("a", t80, (12, 9)),
            key("a", p90, (12, 9)),
            key("a", t90, (12, 8)),
        ] {
            assert_ne!(k[..32], other[..32]);
        }
        // Part boundaries count: ("ab", "c") is not ("a", "bc").
        assert_ne!(fnv1a128(&[b"ab", b"c"]), fnv1a128(&[b"a", b"bc"]));
    }
}
