//! `cargo xtask devices`: not implemented yet.

pub fn run(_args: &[String]) -> Result<(), String> {
    Err("`cargo xtask devices` is not implemented yet".into())
}
