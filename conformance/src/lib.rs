//! The neurokern conformance suite: every op, every dtype, every device, against the reference
//!
//! Not implemented yet: this crate only reserves its place in the workspace layout.
