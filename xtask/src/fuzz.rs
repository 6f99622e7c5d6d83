//! `cargo xtask fuzz`: not implemented yet.

pub fn run(_args: &[String]) -> Result<(), String> {
    Err("`cargo xtask fuzz` is not implemented yet".into())
}
