//! # neurokern-core
//!
//! The op contract of neurokern in code, and the reference CPU implementation every
//! backend is judged against. `#![no_std]`, and no allocator needed.
//!
//! ## The op model
//!
//! Ops are data. Each op of the catalog (`docs/OPS.md`) is a plain descriptor —
//! dims, flags and scalars, e.g. [`op::MatMul`] `{ b, m, k, n }` — gathered in the
//! [`Op`] enum. A descriptor knows
//!
//! * its **operands** ([`Op::operands`]): name, [`Role`] (input, output, in place),
//!   element type rule ([`ElemRule`]: the call's float dtype, or always `i32` / `f32`) and
//!   element count, computed with checked arithmetic — any product of dims over
//!   `i32::MAX` is rejected, because GPU kernels index with 32 bits;
//! * its **scalar domains** ([`Op::validate`]): Adam `t ≥ 1`, `eps > 0`, finite rates, …;
//! * which output may share a buffer with which input (the aliasing rules).
//!
//! Every failure is an [`Error`] that names the op, the operand and what was expected.
//! Zero-sized dims are valid: the op does nothing and its outputs are empty.
//!
//! A call passes one float dtype ([`FloatType`]: `f32` or `f16`) and one argument slot
//! per operand. f16 is storage only: inputs are widened exactly to f32, arithmetic is f32
//! or wider, and each output element is rounded once when stored.
//!
//! ## The backend trait
//!
//! [`Backend`] is what a device implements: allocate, write, read, copy, `supports`,
//! `run(op, dtype, args)` and `synchronize`. [`backend::check_call`] validates a call on
//! device buffers with the same rules and errors as the reference.
//!
//! ## The reference
//!
//! [`reference::run`] runs any op on slices the caller provides ([`reference::Arg`]),
//! after validation, in a fixed documented order (sums in increasing index order, f32
//! accumulation, elementwise maths in f64, one rounding at store). It is the oracle of the
//! conformance suite: see the module documentation for the exact arithmetic.
//!
//! ## The ops and their formulas
//!
//! [`OpKind`] lists every op, each variant linking to its descriptor in [`op`], whose
//! documentation gives the formula. The `ops!` table in `op/mod.rs` is the one list of
//! ops and their fields ([`op::fields`]): the C ABI's packing, its documentation and the
//! fuzzers' generators are derived from it.

#![no_std]
#![deny(missing_docs)]

#[cfg(feature = "std")]
extern crate std;

pub mod backend;
pub mod dtype;
pub mod error;
pub mod op;
pub mod operand;
pub mod reference;

pub use backend::{Backend, DeviceBuffer};
pub use dtype::{ElemType, Float, FloatType};
pub use error::Error;
pub use half::f16;
pub use op::{Op, OpDesc, OpKind};
pub use operand::{ArgDesc, ElemRule, OperandSpec, Operands, Role};
