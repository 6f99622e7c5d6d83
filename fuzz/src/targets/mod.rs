//! The bodies of the fuzz targets, one module each. `fuzz_targets/*.rs` hand libFuzzer's
//! inputs to these; `tests/properties.rs` hands them proptest's random bytes, so
//! `cargo test` checks the same properties with a smaller budget and no libFuzzer.

pub mod abi;
pub mod differential;
pub mod plugin_file;
pub mod reference;
pub mod validate;
