//! Builds the pre-flight helper (`helper/preflight.rs`), a standalone program that the host
//! embeds as bytes and runs in a fresh process to test-load each candidate plugin (see
//! `src/preflight/`). It is compiled with the `rustc` and for the target cargo builds this
//! crate with, so a dependent crate gets it with plain `cargo build`: no C compiler, no
//! install step, no second binary to find at run time.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = "helper/preflight.rs";
    println!("cargo:rerun-if-changed={src}");
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("neurokern-preflight");
    if std::env::var_os("CARGO_CFG_UNIX").is_none() {
        // No pre-flight process off Unix (see src/preflight/mod.rs): embed nothing.
        std::fs::write(&out, b"").expect("write OUT_DIR");
        return;
    }
    let target = std::env::var("TARGET").expect("cargo sets TARGET");
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let mut cmd = Command::new(rustc);
    cmd.args([
        "--edition=2021",
        "--crate-type=bin",
        "--crate-name=neurokern_preflight",
        "-Copt-level=s",
        "-Cpanic=abort",
        "-Cdebuginfo=0",
        "-Cstrip=symbols",
        "--target",
        &target,
        "-o",
    ])
    .arg(&out)
    .arg(src);
    // A cross build's linker, as cargo would pass it for this target.
    let key = format!(
        "CARGO_TARGET_{}_LINKER",
        target.to_ascii_uppercase().replace(['-', '.'], "_")
    );
    println!("cargo:rerun-if-env-changed={key}");
    if let Some(linker) = std::env::var_os(&key) {
        let mut arg = std::ffi::OsString::from("-Clinker=");
        arg.push(linker);
        cmd.arg(arg);
    }
    let status = cmd.status().expect("run rustc for the pre-flight helper");
    assert!(
        status.success(),
        "building the pre-flight helper ({src}) failed"
    );
}
