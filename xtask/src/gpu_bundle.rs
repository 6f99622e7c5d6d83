//! `cargo xtask gpu-bundle [--test]`: one archive for a prepared GPU run.
//!
//! Builds, here, x86-64 release binaries (the CPU, CUDA and Vulkan plugins, the
//! `conformance` runner, `nk-bench`, `nk-cuda-bench`), strips them, and packs them with
//! `run.sh` and `torch_bench.py` (from `backends/cuda/bundle/`) and, when this machine has
//! one, the Vulkan loader (used only where the GPU machine has none) into
//! `target/gpu-bundle/neurokern-gpu.tar.gz`, under 64 MiB. On the GPU machine, with the
//! driver, NVRTC and PyTorch and no Rust: `tar xzf neurokern-gpu.tar.gz && cd neurokern-gpu
//! && ./run.sh` (conformance on CUDA and Vulkan, the benchmarks and the PyTorch side by
//! side; reports in `results/<date>-<device>/`).
//!
//! `--test` then unpacks the archive into `target/gpu-bundle/test` and runs
//! `run.sh --cpu --quick` there: the same steps on the CPU plugin and the simulated GPU.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{cargo, exec, root};

/// The largest archive the GPU machine accepts.
const MAX_BYTES: u64 = 64 << 20;

/// The packages and targets of the bundle: (package, `--bin` name or `None` for the
/// plugin library, file name).
const PARTS: &[(&str, Option<&str>, &str)] = &[
    ("neurokern-plugin-cpu", None, "libneurokern_plugin_cpu.so"),
    ("neurokern-plugin-cuda", None, "libneurokern_plugin_cuda.so"),
    (
        "neurokern-plugin-vulkan",
        None,
        "libneurokern_plugin_vulkan.so",
    ),
    ("neurokern-conformance", Some("conformance"), "conformance"),
    ("neurokern-bench", Some("nk-bench"), "nk-bench"),
    (
        "neurokern-backend-cuda",
        Some("nk-cuda-bench"),
        "nk-cuda-bench",
    ),
];

pub fn run(args: &[String]) -> Result<(), String> {
    let mut test = false;
    for a in args {
        match a.as_str() {
            "--test" => test = true,
            "-h" | "--help" => {
                println!(
                    "usage: cargo xtask gpu-bundle [--test]\n\
                     Builds target/gpu-bundle/neurokern-gpu.tar.gz (release binaries, run.sh, \
                     torch_bench.py). --test: unpack it and run `run.sh --cpu --quick`."
                );
                return Ok(());
            }
            other => {
                return Err(format!(
                    "gpu-bundle: unknown argument `{other}` (see --help)"
                ))
            }
        }
    }
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        return Err("gpu-bundle: the bundle is x86-64 Linux; build it on such a machine".into());
    }
    let base = root().join("target/gpu-bundle");
    let stage = base.join("neurokern-gpu");
    if stage.exists() {
        fs::remove_dir_all(&stage).map_err(|e| format!("{}: {e}", stage.display()))?;
    }
    for d in ["bin", "plugins", "lib"] {
        fs::create_dir_all(stage.join(d)).map_err(|e| format!("{}: {e}", stage.display()))?;
    }

    let release = root().join("target/release");
    for (pkg, bin, file) in PARTS {
        let mut cmd = cargo();
        cmd.args(["build", "--release", "-p", pkg]);
        match bin {
            Some(b) => cmd.args(["--bin", b]),
            None => cmd.arg("--lib"),
        };
        exec(&mut cmd)?;
        let dest = stage
            .join(if bin.is_some() { "bin" } else { "plugins" })
            .join(file);
        copy_stripped(&release.join(file), &dest)?;
    }
    let scripts = root().join("backends/cuda/bundle");
    for f in ["run.sh", "torch_bench.py", "README.md"] {
        fs::copy(scripts.join(f), stage.join(f)).map_err(|e| format!("{f}: {e}"))?;
    }
    chmod_x(&stage.join("run.sh"))?;
    if let Some(loader) = vulkan_loader() {
        fs::copy(&loader, stage.join("lib/libvulkan.so.1"))
            .map_err(|e| format!("{}: {e}", loader.display()))?;
    }

    let archive = base.join("neurokern-gpu.tar.gz");
    exec(
        Command::new("tar")
            .arg("czf")
            .arg(&archive)
            .arg("-C")
            .arg(&base)
            .arg("neurokern-gpu"),
    )?;
    let size = fs::metadata(&archive)
        .map_err(|e| format!("{}: {e}", archive.display()))?
        .len();
    println!(
        "gpu-bundle: {} ({:.1} MiB)",
        archive.display(),
        size as f64 / 1048576.0
    );
    if size > MAX_BYTES {
        return Err(format!("gpu-bundle: {size} bytes is over the 64 MiB limit"));
    }
    if test {
        let dir = base.join("test");
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        exec(
            Command::new("tar")
                .arg("xzf")
                .arg(&archive)
                .arg("-C")
                .arg(&dir),
        )?;
        exec(
            Command::new(dir.join("neurokern-gpu/run.sh"))
                .args(["--cpu", "--quick"])
                .env_remove("NEUROKERN_PLUGIN_PATH"),
        )?;
    }
    Ok(())
}

/// Copies `src` to `dst` without symbols (debug information is most of a release binary).
fn copy_stripped(src: &Path, dst: &Path) -> Result<(), String> {
    fs::copy(src, dst).map_err(|e| format!("{}: {e}", src.display()))?;
    // Without `strip` the binaries are only larger; the size check still applies.
    let _ = Command::new("strip").arg("--strip-debug").arg(dst).status();
    Ok(())
}

fn chmod_x(p: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(p, fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("{}: {e}", p.display()))
}

/// This machine's Vulkan loader, if any.
fn vulkan_loader() -> Option<PathBuf> {
    [
        "/usr/lib/x86_64-linux-gnu/libvulkan.so.1",
        "/lib/x86_64-linux-gnu/libvulkan.so.1",
        "/usr/lib64/libvulkan.so.1",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
    .and_then(|p| fs::canonicalize(p).ok())
}
