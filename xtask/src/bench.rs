//! `cargo xtask bench [--backend B]… [nk-bench options]`: builds the plugins the named
//! backends need and `nk-bench` (crate `conformance/bench`) in release mode, and runs it:
//! per-op timings at the seed model's shapes and the seed model's training step on every
//! selected device side by side, with ratios against the first (or `--baseline`), a
//! Markdown table, and JSON in `target/bench/<name>.json`.
//!
//! `B` is any backend: `reference` and `sim` (in process), a plugin (`cpu`, `opencl`, …),
//! or `all` (the default). Every argument goes to `nk-bench` unchanged (`--plugin
//! [LABEL=]PATH`, `--profile`, `--only`, `--dtype`, `--quick`, … — see `cargo xtask bench
//! --help`); this task only reads the `--backend` values to know which plugins to build.

use crate::util::{cargo, exec, opencl_available, root};

/// The backend names the arguments select (`--backend A,B`, `--backend=A`, repeatable);
/// `all` when none is named and no `--plugin` file is given.
fn backends(args: &[String]) -> Vec<String> {
    let mut names = Vec::new();
    let mut plugin_given = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let value = match a.strip_prefix("--backend") {
            Some("") => it.next().map(String::as_str),
            Some(v) => v.strip_prefix('='),
            None => {
                plugin_given |= a == "--plugin" || a.starts_with("--plugin=");
                None
            }
        };
        names.extend(
            value
                .into_iter()
                .flat_map(|v| v.split(','))
                .map(String::from),
        );
    }
    if names.is_empty() && !plugin_given {
        names.push("all".into());
    }
    names
}

/// The plugin packages to build for `names`.
fn plugin_packages(names: &[String]) -> Result<Vec<String>, String> {
    let mut pkgs: Vec<String> = Vec::new();
    let mut add = |p: &str| {
        if !pkgs.iter().any(|x| x == p) {
            pkgs.push(p.to_string());
        }
    };
    for name in names {
        // `opencl:1` is device 1 of plugin `opencl`.
        let plugin = name.split(':').next().unwrap_or(name);
        match plugin {
            "reference" | "sim" | "builtin" => {}
            "all" => {
                add("neurokern-plugin-cpu");
                if opencl_available() {
                    add("neurokern-plugin-opencl");
                }
            }
            "opencl" if !opencl_available() => {
                return Err("the OpenCL ICD loader (libOpenCL.so) is not installed; on \
                            Debian/Ubuntu: apt-get install ocl-icd-opencl-dev pocl-opencl-icd"
                    .into())
            }
            other => add(&format!("neurokern-plugin-{other}")),
        }
    }
    Ok(pkgs)
}

pub fn run(args: &[String]) -> Result<(), String> {
    let help = args.iter().any(|a| a == "--help" || a == "-h");
    if !help {
        let pkgs = plugin_packages(&backends(args))?;
        if !pkgs.is_empty() {
            let mut cmd = cargo();
            cmd.args(["build", "--release"]);
            for p in &pkgs {
                cmd.args(["-p", p]);
            }
            exec(&mut cmd)?;
        }
    }
    let mut cmd = cargo();
    cmd.args([
        "run",
        "--release",
        "-p",
        "neurokern-bench",
        "--bin",
        "nk-bench",
        "--",
    ]);
    cmd.args(args);
    if !help && !args.iter().any(|a| a == "--out" || a.starts_with("--out=")) {
        cmd.arg("--out").arg(root().join("target").join("bench"));
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
    fn backend_values_are_found_in_every_spelling() {
        assert_eq!(
            backends(&v(&[
                "--quick",
                "--backend",
                "cpu,sim",
                "--backend=reference"
            ])),
            v(&["cpu", "sim", "reference"])
        );
        assert_eq!(backends(&v(&["--profile"])), v(&["all"]));
        assert!(backends(&v(&["--plugin", "a=x.so"])).is_empty());
    }

    #[test]
    fn plugins_follow_the_backends() {
        assert_eq!(
            plugin_packages(&v(&["reference", "sim", "cpu:1", "cpu", "builtin"])).unwrap(),
            v(&["neurokern-plugin-cpu"])
        );
        assert_eq!(
            plugin_packages(&v(&["vulkan"])).unwrap(),
            v(&["neurokern-plugin-vulkan"])
        );
    }
}
