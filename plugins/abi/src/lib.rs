//! The versioned C ABI between the neurokern host and its backend plugins
//!
//! Not implemented yet: this crate only reserves its place in the workspace layout.
