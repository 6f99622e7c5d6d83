//! Helpers shared by the tasks: running cargo and other commands, finding the workspace.

use std::path::PathBuf;
use std::process::Command;

/// The workspace root (the parent of this crate's directory).
pub fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// The `cargo` that runs this xtask.
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

/// Runs a command, echoing it first; an unsuccessful exit is an error naming the command.
pub fn exec(cmd: &mut Command) -> Result<(), String> {
    let shown = format!("{cmd:?}").replace('"', "");
    eprintln!("$ {shown}");
    let status = cmd
        .status()
        .map_err(|e| format!("could not start `{shown}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` failed ({status})"))
    }
}

/// True when the OpenCL ICD loader can be linked (the OpenCL crates need it at build time).
pub fn opencl_available() -> bool {
    [
        "/usr/lib/x86_64-linux-gnu/libOpenCL.so",
        "/usr/lib/aarch64-linux-gnu/libOpenCL.so",
        "/usr/lib/libOpenCL.so",
        "/usr/lib64/libOpenCL.so",
    ]
    .iter()
    .any(|p| std::path::Path::new(p).exists())
}

/// `-p` flags for the crates that need the OpenCL loader, when it is installed.
pub fn opencl_packages() -> Vec<&'static str> {
    if opencl_available() {
        vec![
            "-p",
            "neurokern-backend-opencl",
            "-p",
            "neurokern-plugin-opencl",
        ]
    } else {
        eprintln!(
            "note: the OpenCL ICD loader (libOpenCL.so) is not installed, so the OpenCL crates are \
             skipped; on Debian/Ubuntu: apt-get install ocl-icd-opencl-dev pocl-opencl-icd"
        );
        Vec::new()
    }
}
