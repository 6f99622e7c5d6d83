//! Kernel sources of neurokern (OpenCL C, CUDA C, GLSL and SPIR-V), as data
//!
//! Not implemented yet: this crate only reserves its place in the workspace layout.
