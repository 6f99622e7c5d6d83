//! Selecting cases and running them on devices.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use neurokern_core::{FloatType, OpKind};
use serde::Serialize;

use crate::cases::{self, Case, Tier};
use crate::devices::DeviceUnderTest;
use crate::run::{compare_for, first_difference, prepare_for, ElemFailure, Prepared};

/// Which cases to run.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Only these ops (all when empty).
    pub ops: Vec<OpKind>,
    /// Only these dtypes (both when empty).
    pub dtypes: Vec<FloatType>,
    /// Only these case IDs (all when empty).
    pub cases: Vec<String>,
    /// Leave out cases bigger than this tier.
    pub max_tier: Option<Tier>,
}

impl Filter {
    /// True when `c` is selected.
    pub fn accepts(&self, c: &Case) -> bool {
        (self.ops.is_empty() || self.ops.contains(&c.kind))
            && (self.dtypes.is_empty() || self.dtypes.contains(&c.dtype))
            && (self.cases.is_empty() || self.cases.iter().any(|id| id == &c.id))
            && self.max_tier.is_none_or(|t| c.tier <= t)
    }
}

/// The selected cases, in catalogue order.
pub fn select(filter: &Filter) -> Vec<Case> {
    cases::all()
        .into_iter()
        .filter(|c| filter.accepts(c))
        .collect()
}

/// The outcome of a case on a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Every element within its bound, deterministic.
    Pass,
    /// The device does not implement the op in this dtype (`supports` is false).
    Unsupported,
    /// Some element outside its bound, a non-deterministic result, or an error.
    Fail,
}

/// One case on one device.
#[derive(Clone, Debug, Serialize)]
pub struct CaseResult {
    /// `op/dtype/variant`.
    pub id: String,
    /// Op name.
    pub op: String,
    /// Dtype name.
    pub dtype: String,
    /// Size class.
    pub tier: Tier,
    /// The generator's seed (hex).
    pub seed: String,
    /// Backend short name.
    pub backend: String,
    /// Device short name, unique in the run (`cpu:0`).
    pub device_id: String,
    /// Device name.
    pub device: String,
    /// Outcome.
    pub status: Status,
    /// Worst error as a fraction of its bound (`null` when unsupported or errored,
    /// `"inf"` when an exact rule is broken).
    #[serde(serialize_with = "crate::report::ser_frac")]
    pub worst: Option<f64>,
    /// Worst distance of a stored value from the reference's unrounded result, in ulps of
    /// the output type (`run::Verdict::worst_ulps`; ≤ 0.5: correctly rounded).
    pub worst_ulps: Option<f64>,
    /// Elements checked.
    pub checked: usize,
    /// Elements outside their bound.
    pub failed_elements: usize,
    /// Same bits on two runs (`null` when not checked: unsupported, errored, or the
    /// opt-in atomic mode).
    pub deterministic: Option<bool>,
    /// Device time of the first run, transfers included (ms).
    pub time_ms: f64,
    /// Why it failed, in a sentence.
    pub message: Option<String>,
    /// The first failing elements.
    pub failures: Vec<ElemFailure>,
}

/// Runs a prepared case on a device: twice (determinism), judged against the reference.
pub fn run_case(dev: &dyn DeviceUnderTest, p: &Prepared) -> CaseResult {
    let c = &p.case;
    let mut r = CaseResult {
        id: c.id.clone(),
        op: c.kind.name().to_string(),
        dtype: c.dtype.name().to_string(),
        tier: c.tier,
        seed: format!("{:#018x}", c.seed),
        backend: dev.backend().to_string(),
        device_id: dev.id(),
        device: dev.name(),
        status: Status::Pass,
        worst: None,
        worst_ulps: None,
        checked: 0,
        failed_elements: 0,
        deterministic: None,
        time_ms: 0.0,
        message: None,
        failures: Vec::new(),
    };
    if !dev.supports(c.kind, c.dtype) {
        r.status = Status::Unsupported;
        return r;
    }
    let t0 = Instant::now();
    let first = execute_caught(dev, p, 0);
    r.time_ms = t0.elapsed().as_secs_f64() * 1e3;
    let first = match first {
        Ok(o) => o,
        Err(e) => {
            r.status = Status::Fail;
            r.message = Some(format!("device error: {e}"));
            return r;
        }
    };
    let verdict = compare_for(p, &first, dev.bit_exact(), dev.api());
    r.worst = Some(verdict.worst);
    r.worst_ulps = verdict.worst_ulps;
    r.checked = verdict.checked;
    r.failed_elements = verdict.failed;
    r.failures = verdict.failures;
    let mut problems = Vec::new();
    if r.failed_elements > 0 {
        problems.push(format!(
            "{} of {} elements outside their bound",
            r.failed_elements, r.checked
        ));
    }
    if p.must_be_deterministic() {
        match execute_caught(dev, p, 1) {
            Ok(second) => {
                let diff = first_difference(p, &first, &second);
                r.deterministic = Some(diff.is_none());
                if let Some((name, k, a, b)) = diff {
                    problems.push(format!(
                        "not deterministic: `{name}`[{k}] was {a} on the first run and {b} on the second"
                    ));
                }
            }
            Err(e) => problems.push(format!("device error on the second run: {e}")),
        }
    }
    if !problems.is_empty() {
        r.status = Status::Fail;
        r.message = Some(problems.join("; "));
    }
    r
}

/// Runs a case on a device; a panic in an in-process backend becomes an error of this
/// case instead of ending the run.
fn execute_caught(
    dev: &dyn DeviceUnderTest,
    p: &Prepared,
    poison: u32,
) -> Result<Vec<Option<crate::data::HostData>>, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| dev.execute(p, poison)))
        .unwrap_or_else(|payload| {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            Err(format!("the backend panicked: {msg}"))
        })
}

/// Runs every case on every device, with a progress bar (unless `quiet`). Cases are
/// prepared once (reference and bounds) and shared by the devices.
pub fn run_all(
    devices: &[Box<dyn DeviceUnderTest>],
    cases: &[Case],
    quiet: bool,
) -> Vec<CaseResult> {
    let total = (cases.len() * devices.len()) as u64;
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(total)
    };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut results = Vec::with_capacity(total as usize);
    let apis: Vec<_> = devices.iter().map(|d| d.api()).collect();
    for c in cases {
        bar.set_message(c.id.clone());
        match prepare_for(c, &apis) {
            Ok(p) => {
                for d in devices {
                    results.push(run_case(d.as_ref(), &p));
                    bar.inc(1);
                }
            }
            Err(e) => {
                // A case that cannot be prepared is a bug in the suite (or the reference):
                // it fails on every device rather than vanishing.
                for d in devices {
                    results.push(CaseResult {
                        id: c.id.clone(),
                        op: c.kind.name().to_string(),
                        dtype: c.dtype.name().to_string(),
                        tier: c.tier,
                        seed: format!("{:#018x}", c.seed),
                        backend: d.backend().to_string(),
                        device_id: d.id(),
                        device: d.name(),
                        status: Status::Fail,
                        worst: None,
                        worst_ulps: None,
                        checked: 0,
                        failed_elements: 0,
                        deterministic: None,
                        time_ms: 0.0,
                        message: Some(format!("case could not be prepared: {e}")),
                        failures: Vec::new(),
                    });
                    bar.inc(1);
                }
            }
        }
    }
    bar.finish_and_clear();
    results
}
