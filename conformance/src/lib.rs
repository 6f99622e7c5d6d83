//! # neurokern-conformance
//!
//! The proof that a backend computes what the reference computes: every op of the
//! catalogue, in `f32` and `f16`, on every device found, judged against the reference
//! implementation of `neurokern-core` within bounds derived from the arithmetic.
//!
//! ## Cases ([`cases`])
//!
//! Cases are written once, as named generators, and instantiated for every op and dtype:
//! the seed model's shapes (batch 64, sequence 64, embedding 128, hidden 384, 72 and 384
//! prototypes, a vocabulary of 98), edge shapes (1, primes, sizes that are no multiple of
//! any tile, zero-sized dims), value ranges (unit normal, ±80 into softmax and
//! log-softmax, values near f16's 65504 and f16 subnormals), exact and near ties for the
//! argmax ops, padding and out-of-range indices, and NaN and ±inf where the catalogue
//! defines the result. A case's ID is `op/dtype/variant`; its data come from a ChaCha8
//! stream seeded with a hash of the ID ([`gen::seed_of`]), so `--case ID` replays it
//! alone, anywhere.
//!
//! ## Bounds ([`bounds`])
//!
//! Bounds, not tolerances: each case computes an element-wise bound from its inputs, by
//! running the op's formula on values that carry an error bound, under two accuracy
//! models: the reference's (f32 sums, functions rounded once) and a device's (any
//! summation order, `γ_K·Σ|terms|`; the OpenCL full-profile ULP limits of `exp`, `log`,
//! `sqrt`, `erf`, divide, `pow`). An `f32` output must lie within `δ_ref + δ_dev` of the
//! reference; an `f16` output within the f16 roundings of that interval around the
//! reference's pre-store value. Exact outputs (indices, counts, spikes, copies,
//! transposes, lookups) must match exactly, correctly rounded ones (`add`, `mul`, …)
//! bit for bit up to f16's double rounding, and an argmax may differ only at a near tie.
//! NaN must be where the reference has NaN, ±inf exactly where it has ±inf. Each case
//! reports its worst error as a fraction of its bound. The derivation of every op's
//! bound is in the [`bounds`] module documentation.
//!
//! ## Running ([`run`], [`suite`], [`devices`])
//!
//! The suite is generic over [`neurokern_core::Backend`]: [`run::execute`] allocates,
//! writes, runs, synchronizes and reads back through the trait only. Every case runs
//! twice per device and the two results must be the same bits (except
//! `proto_segmented_sum` in its opt-in atomic mode); outputs are poisoned before each run,
//! so an element a device never writes is caught. A device whose `supports` is false for
//! an op is reported as unsupported (counted, not failed). A device that cannot run is
//! skipped with its reason, unless `NEUROKERN_REQUIRE` (a comma-separated list of backend
//! names) names its backend: then the run fails.
//!
//! ## The suite is tested
//!
//! `tests/faults.rs` runs the suite against the reference wrapped with one deliberate
//! fault each (an off-by-one in a dim, truncation instead of rounding to f16, summation
//! in f16, the seed's padding-row gradient, a swapped tie-break, a summation order that
//! changes from call to call, NaN winning an argmax or spiking, flushed f16 subnormals,
//! a softmax without the max subtraction, an output element never written) and asserts
//! that each is flagged by its op and only by it, while the unbroken reference and one
//! that legitimately sums in another order pass everything. `tests/catalogue.rs` checks
//! the catalogue's coverage (every op and dtype has seed-size, edge and zero-sized
//! cases), stable IDs and seeds, and that the reference lies within its own bounds.
//!
//! ## Report ([`report`])
//!
//! A progress bar while it runs; a terminal table op × dtype × device (result, worst
//! error / bound, time); `target/conformance/report.json` (everything, per case) and
//! `report.md` (the same table and, for each failure, the first failing elements with
//! their index, inputs, expected value, got and bound). The binary exits non-zero on any
//! failure.

pub mod bounds;
pub mod cases;
pub mod cli;
pub mod data;
pub mod devices;
pub mod gen;
pub mod instantiate;
pub mod report;
pub mod run;
pub mod suite;
