//! The simulated device configured the way `cargo xtask conformance`'s `sim` device is
//! not: token assignment past its memory budget, through the direct kernel.

use neurokern_gpu::sim::{SimBackend, SimDevice};
use neurokern_gpu::Limits;

fn direct() -> Result<SimBackend, String> {
    Ok(SimBackend::new(SimDevice::with_limits(Limits {
        score_budget: 0,
        ..SimDevice::DEFAULT_LIMITS
    })))
}

neurokern_conformance::conformance_tests! {
    /// No score matrix fits: every token assignment takes the direct kernel.
    sim_direct_token_assignment: direct, ops = [DynamicTokenAssignment];
}
