//! The `abi` target: see `neurokern_fuzz::targets::abi`.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    neurokern_fuzz::artifact::keep("abi", bytes);
    neurokern_fuzz::targets::abi::run(bytes)
});
