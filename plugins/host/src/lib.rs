//! neurokern: load backend plugins at run time and run neural-network and Hebbian kernels on any device
//!
//! Not implemented yet: this crate only reserves its place in the workspace layout.
