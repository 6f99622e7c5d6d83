//! The `plugin_file` target: see `neurokern_fuzz::targets::plugin_file`.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    neurokern_fuzz::artifact::keep("plugin_file", bytes);
    neurokern_fuzz::targets::plugin_file::run(bytes)
});
