//! The OpenCL [`Evaluator`]: a plan is gated by the conformance suite (every GEMM-shaped
//! and rowwise op, edge and typical shapes, against the reference, with the suite's bounds
//! and its twice-run determinism check) on a device opened with the plan, then timed with
//! nk-bench's interleaved repetitions side by side with the best so far.

use std::collections::BTreeMap;

use neurokern_backend_opencl::tuned::Plan;
use neurokern_backend_opencl::{DeviceInfo, OpenClBackend, OpenClDevice};
use neurokern_bench::measure::{interleaved, Outcome as Timing, Reps};
use neurokern_bench::subject::{bench, Subject};
use neurokern_conformance::cases::Tier;
use neurokern_core::OpKind;

use crate::classes::Class;
use crate::search::{Evaluator, Race};

/// The ops every candidate must pass: each op the GEMM runs, and the rowwise ops the
/// rowwise kernel shape changes.
pub const GATE_OPS: [OpKind; 10] = [
    OpKind::MatMul,
    OpKind::MatMulBackward,
    OpKind::MatMulBatched,
    OpKind::MatMulBatchedBackward,
    OpKind::HebbianUpdate,
    OpKind::PairwiseSimilarity,
    OpKind::DynamicTokenAssignment,
    OpKind::Softmax,
    OpKind::LogSoftmax,
    OpKind::LayerNorm,
];

/// A test hook: a gate that fails the plans it names (as a miscompiled kernel would).
pub type FailHook = Box<dyn Fn(&Plan) -> bool>;

/// Tunes one OpenCL device.
pub struct OpenCl {
    info: DeviceInfo,
    classes: Vec<Class>,
    reps: Reps,
    tier: Tier,
    /// The best so far, opened once and kept (its programs built).
    best: Option<(Plan, Box<dyn Subject>)>,
    fail: Option<FailHook>,
    /// Print each step on stderr.
    pub verbose: bool,
}

impl std::fmt::Debug for OpenCl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenCl")
            .field("device", &self.info.name)
            .field("classes", &self.classes.len())
            .finish()
    }
}

impl OpenCl {
    /// An evaluator of `info`'s device on `classes`, timing each with `reps`, gating up to
    /// `tier` (`Typical`: edge shapes and moderate ones).
    pub fn new(info: DeviceInfo, classes: Vec<Class>, reps: Reps, tier: Tier) -> Self {
        OpenCl {
            info,
            classes,
            reps,
            tier,
            best: None,
            fail: None,
            verbose: false,
        }
    }

    /// Makes the gate fail every plan `hook` accepts (tests).
    pub fn with_fail_hook(mut self, hook: FailHook) -> Self {
        self.fail = Some(hook);
        self
    }

    /// The device opened with `plan` (programs built, so that a build error surfaces here).
    pub fn open(&self, plan: &Plan) -> Result<OpenClBackend, String> {
        let dev = OpenClDevice::from_info(self.info.clone()).map_err(|e| e.to_string())?;
        let dev = plan.apply(dev);
        dev.warm_up().map_err(|e| format!("{plan}: {e}"))?;
        Ok(OpenClBackend::new(dev))
    }

    fn subject(&self, label: &str, plan: &Plan) -> Result<Box<dyn Subject>, String> {
        Ok(bench(label, "in process", self.open(plan)?))
    }

    /// Times `plans` side by side on every class: per class, each plan's median ms.
    pub fn time(&self, subjects: &[&dyn Subject]) -> Result<BTreeMap<String, Vec<f64>>, String> {
        let mut out = BTreeMap::new();
        for (i, class) in self.classes.iter().enumerate() {
            let lanes = subjects
                .iter()
                .map(|s| s.prepare(&class.case, class.dtype, 0x5eed + i as u64))
                .collect();
            let mut ms = Vec::new();
            for (s, t) in subjects.iter().zip(interleaved(lanes, self.reps)) {
                match t {
                    Timing::Timed(st) => ms.push(st.median_ms),
                    Timing::Unsupported => {
                        return Err(format!("{}: {} unsupported", s.label(), class.name()))
                    }
                    Timing::Failed(e) => {
                        return Err(format!("{}: {}: {e}", s.label(), class.name()))
                    }
                }
            }
            out.insert(class.name(), ms);
        }
        Ok(out)
    }
}

impl Evaluator for OpenCl {
    fn gate(&mut self, plan: &Plan) -> Result<(), String> {
        if let Some(fail) = &self.fail {
            if fail(plan) {
                return Err(format!("{plan}: failed by the test hook"));
            }
        }
        let t0 = std::time::Instant::now();
        let backend = self.open(plan)?;
        let r = neurokern_conformance::instantiate::check(
            &plan.to_string(),
            backend,
            &GATE_OPS,
            Some(self.tier),
        );
        if self.verbose {
            eprintln!(
                "  gate {plan}: {} ({:.1} s)",
                if r.is_ok() { "pass" } else { "FAIL" },
                t0.elapsed().as_secs_f64()
            );
        }
        r.map(drop)
    }

    fn race(&mut self, best: &Plan, cand: &Plan) -> Result<Race, String> {
        if self.best.as_ref().map(|b| b.0) != Some(*best) {
            self.best = Some((*best, self.subject("best", best)?));
        }
        let cand_subject;
        let subjects: Vec<&dyn Subject> = {
            let b = &self.best.as_ref().expect("opened above").1;
            if cand == best {
                // The default against itself: one lane, its own times.
                vec![b.as_ref()]
            } else {
                cand_subject = self.subject("candidate", cand)?;
                vec![b.as_ref(), cand_subject.as_ref()]
            }
        };
        let t0 = std::time::Instant::now();
        let times = self.time(&subjects)?;
        let mut race = Race::default();
        for (class, ms) in times {
            race.times
                .insert(class, (ms[0], *ms.last().unwrap_or(&ms[0])));
        }
        if self.verbose {
            let r: f64 = race.times.values().map(|(b, c)| (c / b).ln()).sum::<f64>()
                / race.times.len().max(1) as f64;
            eprintln!(
                "  race {cand} vs best: ×{:.3} of the best's time ({:.1} s)",
                r.exp(),
                t0.elapsed().as_secs_f64()
            );
        }
        Ok(race)
    }

    fn weight(&self, class: &str) -> f64 {
        self.classes
            .iter()
            .find(|c| c.name() == class)
            .map_or(1.0, |c| c.weight)
    }
}
