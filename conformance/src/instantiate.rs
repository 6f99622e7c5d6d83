//! The suite instantiated for one backend from its own crate's tests, as tract's
//! `test-rt` and cubecl's `testgen` do: the backend crate depends on the suite (as a
//! dev-dependency), not the suite on every backend.
//!
//! ```ignore
//! // backends/opencl/tests/conformance.rs
//! neurokern_conformance::conformance_tests! {
//!     /// Work-group rowwise kernels instead of one work-item per row.
//!     work_groups: || open_with_work_groups(), ops = [Softmax, LayerNorm];
//! }
//! ```
//!
//! Each entry becomes a `#[test]` that runs the selected cases (all ops when `ops` is
//! left out) on a freshly made backend, with the same bounds and the same twice-run
//! determinism check as `cargo xtask conformance`, and fails with every failing case.

use neurokern_core::{Backend, OpKind};

use crate::cases::Tier;
use crate::devices::{BackendDevice, DeviceUnderTest};
use crate::suite::{self, Filter, Status};

/// Runs the suite's cases for `ops` (every op when empty), up to `max_tier`, on
/// `backend`, named `name` in messages. `Err` lists every failing case.
pub fn check<B: Backend + 'static>(
    name: &str,
    backend: B,
    ops: &[OpKind],
    max_tier: Option<Tier>,
) -> Result<usize, String> {
    let filter = Filter {
        ops: ops.to_vec(),
        max_tier,
        ..Filter::default()
    };
    let cases = suite::select(&filter);
    if cases.is_empty() {
        return Err(format!("{name}: no case selected"));
    }
    let dev = BackendDevice::new(name, backend, false);
    let devices: Vec<Box<dyn DeviceUnderTest>> = vec![Box::new(dev)];
    let results = suite::run_all(&devices, &cases, true);
    let failures: Vec<String> = results
        .iter()
        .filter(|r| r.status == Status::Fail)
        .map(|r| {
            let first = r.failures.first().map_or(String::new(), |f| {
                format!(
                    "\n    {}[{}]: expected {}, got {}, bound {}; {}",
                    f.operand, f.index, f.expected, f.got, f.bound, f.inputs
                )
            });
            format!(
                "{} (seed {}): {}{first}",
                r.id,
                r.seed,
                r.message.as_deref().unwrap_or("")
            )
        })
        .collect();
    let unsupported = results
        .iter()
        .filter(|r| r.status == Status::Unsupported)
        .count();
    if failures.is_empty() {
        Ok(results.len() - unsupported)
    } else {
        Err(format!(
            "{name}: {} of {} cases failed:\n{}",
            failures.len(),
            results.len(),
            failures.join("\n")
        ))
    }
}

/// Generates one `#[test]` per entry: `name: || make_backend(), ops = [Kind, …]`
/// (`ops` optional: every op) and optionally `tier = Typical|Edge|Seed` (default: all
/// tiers). `make_backend` returns `Result<B, E>`; an `Err` fails the test unless the
/// backend is not required (`NEUROKERN_REQUIRE`), in which case it is skipped with a note.
#[macro_export]
macro_rules! conformance_tests {
    ($(
        $(#[$meta:meta])*
        $name:ident : $make:expr $(, ops = [$($op:ident),* $(,)?])? $(, tier = $tier:ident)? ;
    )*) => {$(
        $(#[$meta])*
        #[test]
        fn $name() {
            let backend = match ($make)() {
                Ok(b) => b,
                Err(e) => {
                    let required = $crate::devices::required();
                    let crate_name = env!("CARGO_PKG_NAME");
                    if required.iter().any(|r| crate_name.ends_with(r.as_str())) {
                        panic!("{}: the backend is required but cannot run: {e}", stringify!($name));
                    }
                    eprintln!("skipping {}: {e}", stringify!($name));
                    return;
                }
            };
            let ops: &[::neurokern_core::OpKind] = &[$($(::neurokern_core::OpKind::$op),*)?];
            #[allow(unused_mut, unused_assignments)]
            let mut tier: Option<$crate::cases::Tier> = None;
            $( tier = Some($crate::cases::Tier::$tier); )?
            match $crate::instantiate::check(stringify!($name), backend, ops, tier) {
                Ok(n) => eprintln!("{}: {n} cases passed", stringify!($name)),
                Err(e) => panic!("{e}"),
            }
        }
    )*};
}
