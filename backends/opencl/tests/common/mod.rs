//! What the OpenCL test binaries share: opening the default device, skipped with a note
//! where OpenCL cannot run here unless `NEUROKERN_REQUIRE` names it.

#![allow(dead_code)]

use neurokern_backend_opencl::{open_default, OpenClBackend};

/// `Some(x)` when OpenCL could be opened; `None` (the test skips) when it cannot and CI
/// does not require it; a panic when `NEUROKERN_REQUIRE` names `opencl`.
pub fn or_skip<T, E: std::fmt::Display>(r: Result<T, E>) -> Option<T> {
    match r {
        Ok(x) => Some(x),
        Err(e) => {
            let required = neurokern_conformance::devices::required()
                .iter()
                .any(|s| s == "opencl");
            assert!(!required, "NEUROKERN_REQUIRE names opencl: {e}");
            eprintln!("skipping: {e}");
            None
        }
    }
}

/// The default device as a backend, or `None` (see [`or_skip`]).
pub fn backend() -> Option<OpenClBackend> {
    or_skip(open_default())
}
