//! `cargo xtask devices [PLUGIN_FILE_OR_DIR…]`: builds the plugins that can be built here
//! and runs `neurokern devices`, which prints every plugin found (explicit paths,
//! `NEUROKERN_PLUGIN_PATH`, the executable's directory, the target directory), its
//! devices and capabilities, and why any candidate was rejected or cannot run.

use crate::util::{cargo, exec, opencl_available};

pub fn run(args: &[String]) -> Result<(), String> {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!(
            "usage: cargo xtask devices [PLUGIN_FILE_OR_DIR…]\n\
             Builds the plugins (cpu; opencl when libOpenCL is installed) and lists every \
             plugin found, its devices, and why any candidate was rejected or cannot run."
        );
        return Ok(());
    }
    exec(cargo().args(["build", "-p", "neurokern-plugin-cpu", "-p", "neurokern"]))?;
    if opencl_available() {
        if let Err(e) = exec(cargo().args(["build", "-p", "neurokern-plugin-opencl"])) {
            eprintln!("note: the OpenCL plugin did not build ({e}); listing the others");
        }
    } else {
        eprintln!(
            "note: the OpenCL ICD loader (libOpenCL.so) is not installed, so the OpenCL plugin \
             is not built; on Debian/Ubuntu: apt-get install ocl-icd-opencl-dev pocl-opencl-icd"
        );
    }
    if opencl_available() {
        eprintln!(
            "note: opening an OpenCL device builds its kernels (about 25 s on PoCL on a first \
             run)"
        );
    }
    exec(
        cargo()
            .args([
                "run",
                "--quiet",
                "-p",
                "neurokern",
                "--bin",
                "neurokern",
                "--",
                "devices",
            ])
            .args(args),
    )?;
    // Whether each OpenCL device is tuned (`cargo xtask tune`), and with what.
    if opencl_available() {
        let status = ["run", "--quiet", "-p", "neurokern-tune", "--bin", "nk-tune"];
        exec(cargo().args(status).args(["--", "--status"]))?;
    }
    Ok(())
}
