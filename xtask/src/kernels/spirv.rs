//! GLSL compute shaders → SPIR-V for the Vulkan backend.
//!
//! Every `kernels/glsl/*.comp` is compiled once per variant with `-D` defines (the storage
//! type `NK_HALF`, and `NK_PRESERVE` for devices with `SignedZeroInfNanPreserve`) by
//! `glslc --target-env=vulkan1.1 -O`, then checked by `spirv-val`. The outputs are
//! committed under `kernels/spirv/`, named `<kernel>.<f32|f16>.<plain|fc>.spv`, with
//! `manifest.tsv`: the compiler version, then one line per file with its source, defines,
//! the hash of its sources (the `.comp` and every shared `.glsl`) and of its bytes. The
//! kernels crate's tests read the manifest: a source edited without rerunning this task
//! fails them, and where the same glslc is installed they recompile every file and compare
//! the bytes.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::Options;
use crate::util::root;

/// The variants: file suffix and defines.
const VARIANTS: &[(&str, &[(&str, u8)])] = &[
    ("f32.plain", &[("NK_HALF", 0), ("NK_PRESERVE", 0)]),
    ("f32.fc", &[("NK_HALF", 0), ("NK_PRESERVE", 1)]),
    ("f16.plain", &[("NK_HALF", 1), ("NK_PRESERVE", 0)]),
    ("f16.fc", &[("NK_HALF", 1), ("NK_PRESERVE", 1)]),
];

/// The Vulkan version the shaders target (SPIR-V 1.3).
const TARGET_ENV: &str = "vulkan1.1";

/// FNV-1a, 64 bits: a change detector for sources and outputs (the kernels crate's tests
/// compute the same).
fn fnv1a(chunks: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for c in chunks {
        for &b in *c {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

fn tool_version(tool: &str) -> Result<String, String> {
    let out = Command::new(tool).arg("--version").output().map_err(|e| {
        format!(
            "kernels: `{tool}` could not be started ({e}); on Debian/Ubuntu: apt-get install \
                 glslc spirv-tools"
        )
    })?;
    let text = String::from_utf8_lossy(&out.stdout);
    // glslc prints shaderc, spirv-tools and glslang versions, one per line, then the
    // target: keep the versions.
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Target"))
        .collect();
    Ok(lines.join(", "))
}

fn sorted_files(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, String> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| format!("kernels: reading {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    v.sort();
    Ok(v)
}

fn read(p: &Path) -> Result<Vec<u8>, String> {
    fs::read(p).map_err(|e| format!("kernels: reading {}: {e}", p.display()))
}

pub fn run(opts: Options) -> Result<(), String> {
    let root = root();
    let src_dir = root.join("kernels/glsl");
    let out_dir = root.join("kernels/spirv");
    let compiler = tool_version("glslc")?;
    tool_version("spirv-val")?;
    let headers = sorted_files(&src_dir, "glsl")?;
    let header_bytes: Vec<Vec<u8>> = headers.iter().map(|p| read(p)).collect::<Result<_, _>>()?;
    let tmp = std::env::temp_dir().join(format!("nk-spirv-{}", std::process::id()));
    let dest = if opts.check { &tmp } else { &out_dir };
    fs::create_dir_all(dest).map_err(|e| format!("kernels: creating {}: {e}", dest.display()))?;

    let mut manifest = format!(
        "# SPIR-V of kernels/glsl, written by `cargo xtask kernels`; do not edit.\n\
         compiler\t{compiler}\ntarget\t{TARGET_ENV}\n\
         # file\tsource\tdefines\tsource_fnv1a64\tspv_fnv1a64\n"
    );
    let mut stale = Vec::new();
    let mut written = Vec::new();
    for comp in sorted_files(&src_dir, "comp")? {
        let stem = comp
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or_else(|| format!("kernels: odd file name {}", comp.display()))?;
        let source = read(&comp)?;
        let mut chunks: Vec<&[u8]> = vec![&source];
        chunks.extend(header_bytes.iter().map(Vec::as_slice));
        let src_hash = fnv1a(&chunks);
        for (suffix, defines) in VARIANTS {
            let file = format!("{stem}.{suffix}.spv");
            let out = dest.join(&file);
            let mut cmd = Command::new("glslc");
            cmd.arg(format!("--target-env={TARGET_ENV}"))
                .arg("-O")
                .arg("-I")
                .arg(&src_dir);
            for (name, value) in *defines {
                cmd.arg(format!("-D{name}={value}"));
            }
            cmd.arg(&comp).arg("-o").arg(&out);
            run_tool(&mut cmd)?;
            run_tool(
                Command::new("spirv-val")
                    .arg("--target-env")
                    .arg(TARGET_ENV)
                    .arg(&out),
            )?;
            let spv = read(&out)?;
            let defs: Vec<String> = defines.iter().map(|(n, v)| format!("{n}={v}")).collect();
            manifest.push_str(&format!(
                "{file}\t{stem}.comp\t{}\t{src_hash:016x}\t{:016x}\n",
                defs.join(" "),
                fnv1a(&[&spv])
            ));
            if opts.check && fs::read(out_dir.join(&file)).ok().as_deref() != Some(&spv[..]) {
                stale.push(file.clone());
            }
            written.push(file);
        }
    }
    if opts.check {
        let committed = fs::read_to_string(out_dir.join("manifest.tsv")).unwrap_or_default();
        if committed != manifest {
            stale.push("manifest.tsv".into());
        }
        let _ = fs::remove_dir_all(&tmp);
        if !stale.is_empty() {
            return Err(format!(
                "kernels: {} committed SPIR-V file(s) differ from what {compiler} produces \
                 now: {}; run `cargo xtask kernels`",
                stale.len(),
                stale.join(", ")
            ));
        }
        eprintln!("kernels: {} SPIR-V files are up to date", written.len());
        return Ok(());
    }
    // Remove outputs of sources that no longer exist.
    for old in sorted_files(&out_dir, "spv")? {
        let name = old.file_name().and_then(|s| s.to_str()).unwrap_or_default();
        if !written.iter().any(|w| w == name) {
            fs::remove_file(&old)
                .map_err(|e| format!("kernels: removing {}: {e}", old.display()))?;
        }
    }
    fs::write(out_dir.join("manifest.tsv"), manifest)
        .map_err(|e| format!("kernels: writing the manifest: {e}"))?;
    eprintln!(
        "kernels: wrote {} SPIR-V files to kernels/spirv/",
        written.len()
    );
    Ok(())
}

fn run_tool(cmd: &mut Command) -> Result<(), String> {
    let shown = format!("{cmd:?}").replace('"', "");
    let out = cmd
        .output()
        .map_err(|e| format!("kernels: could not start `{shown}`: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "kernels: `{shown}` failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
