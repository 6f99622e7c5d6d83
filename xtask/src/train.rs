//! `cargo xtask train --backend B --data FILE [--epochs N] [--max-steps N] [--dtype f32|f16]
//! [nk-train options]`: builds the plugin the backend needs and `nk-train` (crate
//! `plugins/train`) in release mode, and trains the seed's hybrid character model on the
//! text; checkpoint and JSON Lines log in `target/train/` unless `--out` says otherwise.
//! `cargo xtask train generate …` and `cargo xtask train entropy …` run those commands of
//! `nk-train` instead.
//!
//! `B`: `cpu` or `builtin` (the reference, in process: nothing to build), `opencl`,
//! `vulkan`, `cuda` (their plugins), or `plugin:index` for another device of a plugin.

use crate::util::{cargo, exec, opencl_available, root};

/// The value of `--backend` (`--backend B` or `--backend=B`), `cpu` when absent.
fn backend(args: &[String]) -> String {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.strip_prefix("--backend") {
            Some("") => return it.next().cloned().unwrap_or_default(),
            Some(v) if v.starts_with('=') => return v[1..].to_string(),
            _ => {}
        }
    }
    "cpu".into()
}

/// The plugin package backend `b` needs, if any.
fn plugin_package(b: &str) -> Result<Option<String>, String> {
    let plugin = b.split(':').next().unwrap_or(b);
    match plugin {
        "cpu" | "builtin" => Ok(None),
        "opencl" if !opencl_available() => Err("the OpenCL ICD loader (libOpenCL.so) is not \
             installed; on Debian/Ubuntu: apt-get install ocl-icd-opencl-dev pocl-opencl-icd"
            .into()),
        other => Ok(Some(format!("neurokern-plugin-{other}"))),
    }
}

pub fn run(args: &[String]) -> Result<(), String> {
    let (sub, rest) = match args.first().map(String::as_str) {
        Some(s @ ("generate" | "entropy" | "train")) => (s, &args[1..]),
        _ => ("train", args),
    };
    let help = rest.iter().any(|a| a == "--help" || a == "-h");
    if !help && sub != "entropy" {
        if let Some(pkg) = plugin_package(&backend(rest))? {
            exec(cargo().args(["build", "--release", "-p", &pkg]))?;
        }
    }
    let mut cmd = cargo();
    cmd.args([
        "run",
        "--release",
        "-p",
        "neurokern-train",
        "--bin",
        "nk-train",
        "--",
        sub,
    ]);
    cmd.args(rest);
    if sub == "train" && !help && !rest.iter().any(|a| a == "--out" || a.starts_with("--out=")) {
        cmd.arg("--out").arg(root().join("target").join("train"));
    }
    exec(&mut cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn the_backend_is_read_in_both_spellings() {
        assert_eq!(
            backend(&v(&["--data", "x", "--backend", "opencl"])),
            "opencl"
        );
        assert_eq!(backend(&v(&["--backend=cuda:1"])), "cuda:1");
        assert_eq!(backend(&v(&["--data", "x"])), "cpu");
    }

    #[test]
    fn only_plugin_backends_build_a_plugin() {
        assert_eq!(plugin_package("builtin").unwrap(), None);
        assert_eq!(plugin_package("cpu").unwrap(), None);
        assert_eq!(
            plugin_package("vulkan:1").unwrap().as_deref(),
            Some("neurokern-plugin-vulkan")
        );
    }
}
