//! The `differential` target: see `neurokern_fuzz::targets::differential`.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    neurokern_fuzz::artifact::keep("differential", bytes);
    neurokern_fuzz::targets::differential::run(bytes)
});
