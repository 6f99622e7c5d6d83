//! `cargo xtask conformance`: not implemented yet.

pub fn run(_args: &[String]) -> Result<(), String> {
    Err("`cargo xtask conformance` is not implemented yet".into())
}

/// The conformance part of `cargo xtask ci` (nothing yet: the suite does not exist).
pub fn ci() -> Result<(), String> {
    Ok(())
}
