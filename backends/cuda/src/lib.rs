//! The CUDA backend of neurokern
//!
//! Not implemented yet: this crate only reserves its place in the workspace layout.
