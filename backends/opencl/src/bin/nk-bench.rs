//! Benchmarks of the OpenCL backend (filled in by a later change).

fn main() {}
