//! `cargo xtask tune --backend opencl [--device SEL] [--budget SECONDS] [nk-tune options]`:
//! builds `nk-tune` (crate `conformance/tune`) in release mode and runs it: a beam search
//! over the device's kernel parameters, every candidate checked by the conformance suite
//! before it is timed, the winner cached where the backend finds it when it opens the
//! device. Only the OpenCL backend is tunable so far.

use crate::util::{cargo, exec, opencl_available};

/// The `--backend` value, removed from `args` (nk-tune tunes one backend, `opencl`).
fn take_backend(args: &[String]) -> (Option<String>, Vec<String>) {
    let mut backend = None;
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.strip_prefix("--backend") {
            Some("") => backend = it.next().cloned(),
            Some(v) if v.starts_with('=') => backend = Some(v[1..].to_string()),
            _ => rest.push(a.clone()),
        }
    }
    (backend, rest)
}

pub fn run(args: &[String]) -> Result<(), String> {
    let (backend, rest) = take_backend(args);
    let help = rest.iter().any(|a| a == "-h" || a == "--help");
    match backend.as_deref() {
        Some("opencl") => {}
        None if help => {}
        Some(other) => {
            return Err(format!(
                "`--backend {other}`: only `opencl` is tunable so far"
            ))
        }
        None => return Err("usage: cargo xtask tune --backend opencl [--device SEL] [--budget SECONDS] [nk-tune options]".into()),
    }
    if !opencl_available() {
        return Err(
            "the OpenCL ICD loader (libOpenCL.so) is not installed; on Debian/Ubuntu: \
                    apt-get install ocl-icd-opencl-dev pocl-opencl-icd"
                .into(),
        );
    }
    exec(
        cargo()
            .args([
                "run",
                "--release",
                "-p",
                "neurokern-tune",
                "--bin",
                "nk-tune",
                "--",
            ])
            .args(&rest),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backend_is_taken_out_of_the_arguments() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            take_backend(&v(&["--backend", "opencl", "--budget", "60"])),
            (Some("opencl".into()), v(&["--budget", "60"]))
        );
        assert_eq!(
            take_backend(&v(&["--backend=opencl"])),
            (Some("opencl".into()), Vec::new())
        );
        assert_eq!(take_backend(&v(&["--quick"])), (None, v(&["--quick"])));
    }
}
