//! `cargo xtask ci`: everything CI checks, in the order that fails fastest.

use crate::util::{cargo, exec, opencl_packages};

pub fn run_ci() -> Result<(), String> {
    let mut ocl = opencl_packages();
    let mut all = vec!["--workspace"];
    all.append(&mut ocl);
    exec(cargo().args(["fmt", "--all", "--", "--check"]))?;
    exec(
        cargo()
            .arg("clippy")
            .args(&all)
            .args(["--all-targets", "--", "-D", "warnings"]),
    )?;
    exec(cargo().arg("test").args(&all))?;
    exec(
        cargo()
            .arg("doc")
            .args(&all)
            .arg("--no-deps")
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    crate::conformance::ci()?;
    Ok(())
}

pub fn run(args: &[String]) -> Result<(), String> {
    if let Some(a) = args.first() {
        return Err(format!("ci takes no arguments (got `{a}`)"));
    }
    run_ci()
}
