//! The `validate` target: see `neurokern_fuzz::targets::validate`.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    neurokern_fuzz::artifact::keep("validate", bytes);
    neurokern_fuzz::targets::validate::run(bytes)
});
