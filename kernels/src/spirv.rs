//! SPIR-V of the GLSL compute shaders (`kernels/glsl/*.comp`), compiled ahead of time by
//! `cargo xtask kernels` (glslc, then spirv-val) and committed under `kernels/spirv/` with
//! `manifest.tsv` (compiler version, defines, source and output hashes). No shader
//! compiler is needed to build or run: the Vulkan backend creates its pipelines from these
//! bytes.
//!
//! One module per kernel of `neurokern-gpu`'s kernel table, named as the table names it,
//! plus `nk_gemm`. Each has four variants: storage type (`f32`, `f16`: 16-bit storage,
//! f32 arithmetic) × float controls (`fc`: declares `SignedZeroInfNanPreserve`, for
//! devices that support it; `plain` otherwise).

/// The four variants of one kernel.
#[derive(Clone, Copy, Debug)]
pub struct Variants {
    /// The kernel's name (the table's, or `nk_gemm`).
    pub name: &'static str,
    /// f32 storage, no float-controls execution mode.
    pub f32_plain: &'static [u8],
    /// f32 storage, `SignedZeroInfNanPreserve`.
    pub f32_fc: &'static [u8],
    /// f16 storage, no float-controls execution mode.
    pub f16_plain: &'static [u8],
    /// f16 storage, `SignedZeroInfNanPreserve`.
    pub f16_fc: &'static [u8],
}

impl Variants {
    /// The SPIR-V for a storage type and float-controls choice.
    pub fn get(&self, half: bool, preserve: bool) -> &'static [u8] {
        match (half, preserve) {
            (false, false) => self.f32_plain,
            (false, true) => self.f32_fc,
            (true, false) => self.f16_plain,
            (true, true) => self.f16_fc,
        }
    }
}

macro_rules! spirv {
    ($($name:literal),* $(,)?) => {
        /// Every kernel's SPIR-V, by name.
        pub static KERNELS: &[Variants] = &[$(
            Variants {
                name: $name,
                f32_plain: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/spirv/", $name, ".f32.plain.spv")),
                f32_fc: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/spirv/", $name, ".f32.fc.spv")),
                f16_plain: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/spirv/", $name, ".f16.plain.spv")),
                f16_fc: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/spirv/", $name, ".f16.fc.spv")),
            },
        )*];
    };
}

spirv! {
    "nk_adam",
    "nk_add",
    "nk_argmax_rows",
    "nk_bucket",
    "nk_cross_entropy",
    "nk_embedding_lookup",
    "nk_gelu",
    "nk_gelu_backward",
    "nk_gemm",
    "nk_gemm_pack",
    "nk_gemm_tex",
    "nk_layer_norm_backward_cols",
    "nk_layer_norm_backward_wi",
    "nk_layer_norm_wi",
    "nk_mul",
    "nk_proto_update",
    "nk_reduce_rows_final",
    "nk_reduce_rows_part",
    "nk_segment_counts",
    "nk_segment_sum",
    "nk_shape_loss",
    "nk_softmax_backward_wi",
    "nk_softmax_wi",
    "nk_threshold",
    "nk_token_assign_direct",
    "nk_transpose_12",
}

/// The kernel called `name`.
pub fn kernel(name: &str) -> Option<&'static Variants> {
    KERNELS.iter().find(|k| k.name == name)
}

/// FNV-1a, 64 bits, over the chunks in order: the change detector of `manifest.tsv`
/// (`cargo xtask kernels` computes the same).
pub fn fnv1a(chunks: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for c in chunks {
        for &b in *c {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    fn dir(sub: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(sub)
    }

    fn files(sub: &str, ext: &str) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir(sub))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == ext))
            .collect();
        v.sort();
        v
    }

    struct Entry {
        file: String,
        source: String,
        defines: Vec<String>,
        source_hash: u64,
        spv_hash: u64,
    }

    fn manifest() -> (String, Vec<Entry>) {
        let text = std::fs::read_to_string(dir("spirv/manifest.tsv")).unwrap();
        let mut compiler = String::new();
        let mut entries = Vec::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let cols: Vec<&str> = line.split('\t').collect();
            match cols[..] {
                ["compiler", c] => compiler = c.to_string(),
                ["target", _] => {}
                [file, source, defines, src, spv] => entries.push(Entry {
                    file: file.into(),
                    source: source.into(),
                    defines: defines.split(' ').map(String::from).collect(),
                    source_hash: u64::from_str_radix(src, 16).unwrap(),
                    spv_hash: u64::from_str_radix(spv, 16).unwrap(),
                }),
                _ => panic!("manifest.tsv: unreadable line `{line}`"),
            }
        }
        (compiler, entries)
    }

    fn source_hash(comp: &str) -> u64 {
        let source = std::fs::read(dir("glsl").join(comp)).unwrap();
        let headers: Vec<Vec<u8>> = files("glsl", "glsl")
            .iter()
            .map(|p| std::fs::read(p).unwrap())
            .collect();
        let mut chunks: Vec<&[u8]> = vec![&source];
        chunks.extend(headers.iter().map(Vec::as_slice));
        fnv1a(&chunks)
    }

    #[test]
    fn every_shader_is_listed_and_compiled() {
        let comps: Vec<String> = files("glsl", "comp")
            .iter()
            .map(|p| p.file_stem().unwrap().to_str().unwrap().to_string())
            .collect();
        let listed: Vec<&str> = KERNELS.iter().map(|k| k.name).collect();
        assert_eq!(
            comps, listed,
            "kernels/src/spirv.rs lists every .comp, sorted"
        );
        for k in KERNELS {
            for (h, p) in [(false, false), (false, true), (true, false), (true, true)] {
                let spv = k.get(h, p);
                assert_eq!(spv.len() % 4, 0, "{}", k.name);
                assert_eq!(
                    &spv[..4],
                    &0x0723_0203u32.to_le_bytes(),
                    "{}: SPIR-V magic",
                    k.name
                );
            }
        }
    }

    /// A shader edited without `cargo xtask kernels` fails here.
    #[test]
    fn no_spirv_is_stale() {
        let (_, entries) = manifest();
        assert_eq!(entries.len(), KERNELS.len() * 4);
        for e in &entries {
            assert_eq!(
                source_hash(&e.source),
                e.source_hash,
                "{} is stale: {} (or a shared .glsl) changed; run `cargo xtask kernels`",
                e.file,
                e.source
            );
            let spv = std::fs::read(dir("spirv").join(&e.file)).unwrap();
            assert_eq!(
                fnv1a(&[&spv]),
                e.spv_hash,
                "{} differs from the manifest",
                e.file
            );
        }
    }

    /// Where the manifest's glslc is installed, every file rebuilds byte for byte.
    #[test]
    fn spirv_rebuilds_byte_for_byte_with_the_same_glslc() {
        let (compiler, entries) = manifest();
        let Ok(out) = Command::new("glslc").arg("--version").output() else {
            eprintln!("skipping: glslc is not installed");
            return;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let version: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("Target"))
            .collect();
        if version.join(", ") != compiler {
            eprintln!(
                "skipping: glslc is `{}`, the manifest's `{compiler}`",
                version.join(", ")
            );
            return;
        }
        let tmp = std::env::temp_dir().join(format!("nk-spirv-test-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).unwrap();
        for e in &entries {
            let out = tmp.join(&e.file);
            let mut cmd = Command::new("glslc");
            cmd.arg("--target-env=vulkan1.1")
                .arg("-O")
                .arg("-I")
                .arg(dir("glsl"));
            for d in &e.defines {
                cmd.arg(format!("-D{d}"));
            }
            let st = cmd
                .arg(dir("glsl").join(&e.source))
                .arg("-o")
                .arg(&out)
                .status()
                .unwrap();
            assert!(st.success(), "glslc failed on {}", e.file);
            let fresh = std::fs::read(&out).unwrap();
            let committed = std::fs::read(dir("spirv").join(&e.file)).unwrap();
            assert!(
                fresh == committed,
                "{} does not rebuild byte for byte",
                e.file
            );
        }
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
