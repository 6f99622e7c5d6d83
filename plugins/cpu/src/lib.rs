//! The reference CPU backend as a neurokern plugin
//!
//! Not implemented yet: this crate only reserves its place in the workspace layout.
