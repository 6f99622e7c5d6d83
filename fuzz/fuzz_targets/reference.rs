//! The `reference` target: see `neurokern_fuzz::targets::reference`.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    neurokern_fuzz::artifact::keep("reference", bytes);
    neurokern_fuzz::targets::reference::run(bytes)
});
