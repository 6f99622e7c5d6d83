//! Timing: every device's call of one case is repeated in turn (interleaved, the starting
//! device rotating each round), so that a change in the machine's load during the run
//! hits every device alike and the ratios stay fair. Each call is synchronized; wall time
//! and the process's CPU time (all threads) are taken around it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cpu_time::ProcessTime;
use serde::Serialize;

/// One prepared call on one device (buffers allocated, data uploaded).
pub trait Workload {
    /// Runs the call once and waits for the device to finish.
    fn call(&mut self) -> Result<(), String>;

    /// Runs the call once synchronizing after every op inside it, and returns each op's
    /// label and wall time in ms; `None` when the call is a single op.
    fn profile(&mut self) -> Option<Result<Vec<(&'static str, f64)>, String>> {
        None
    }
}

/// How many repetitions a case gets.
#[derive(Debug, Clone, Copy)]
pub struct Reps {
    /// At least this many rounds, whatever the time.
    pub min: usize,
    /// At most this many rounds.
    pub max: usize,
    /// More rounds (up to `max`) while the case has run for less than this, all devices
    /// together.
    pub budget: Duration,
}

impl Reps {
    /// The default repetitions: at least 5 rounds, up to 200 within 2 s a case; quick: at
    /// least 3, up to 20 within 300 ms.
    pub fn new(quick: bool, budget_ms: Option<u64>) -> Self {
        let (min, max, ms) = if quick { (3, 20, 300) } else { (5, 200, 2000) };
        Reps {
            min,
            max,
            budget: Duration::from_millis(budget_ms.unwrap_or(ms)),
        }
    }
}

/// Summary statistics of one device's repetitions.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    /// Median wall time per call.
    pub median_ms: f64,
    /// Fastest call.
    pub best_ms: f64,
    /// First quartile.
    pub p25_ms: f64,
    /// Third quartile.
    pub p75_ms: f64,
    /// Half the interquartile range, in percent of the median: the run-to-run noise.
    pub spread_pct: f64,
    /// Repetitions timed (after one untimed warm-up call).
    pub reps: usize,
    /// The process's CPU time per call (all threads), mean over the repetitions; `None`
    /// where the OS does not tell. On a loaded machine this is the work done, which wall
    /// time overstates.
    pub cpu_ms_per_call: Option<f64>,
}

/// The `q` quantile of sorted data (linear interpolation).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        1 => sorted[0],
        n => {
            let pos = q * (n - 1) as f64;
            let lo = pos.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
        }
    }
}

impl Stats {
    /// Statistics of wall times `wall_ms` (and CPU times, when every one is known).
    pub fn of(wall_ms: &[f64], cpu_ms: &[Option<f64>]) -> Stats {
        let mut w = wall_ms.to_vec();
        w.sort_by(f64::total_cmp);
        let median = quantile(&w, 0.5);
        let (p25, p75) = (quantile(&w, 0.25), quantile(&w, 0.75));
        let cpu: Option<Vec<f64>> = cpu_ms.iter().copied().collect();
        Stats {
            median_ms: median,
            best_ms: w.first().copied().unwrap_or(f64::NAN),
            p25_ms: p25,
            p75_ms: p75,
            spread_pct: if median > 0.0 {
                50.0 * (p75 - p25) / median
            } else {
                0.0
            },
            reps: w.len(),
            cpu_ms_per_call: cpu
                .filter(|c| !c.is_empty())
                .map(|c| c.iter().sum::<f64>() / c.len() as f64),
        }
    }
}

/// What one device gave for one case.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The device does not implement the op in this dtype.
    Unsupported,
    /// Preparing or running the call failed: the error.
    Failed(String),
    /// Timed.
    Timed(Stats),
}

/// A device's state while a case runs.
enum Lane<'a> {
    Running {
        work: Box<dyn Workload + 'a>,
        wall: Vec<f64>,
        cpu: Vec<Option<f64>>,
    },
    Done(Outcome),
}

fn cpu_now() -> Option<ProcessTime> {
    ProcessTime::try_now().ok()
}

/// Times every prepared workload of one case, interleaved (`Err` lanes are reported as
/// they are). Each lane gets one untimed warm-up call (program builds, first touch), then
/// the rounds of [`Reps`].
pub fn interleaved<'a>(
    lanes: Vec<Result<Box<dyn Workload + 'a>, Outcome>>,
    reps: Reps,
) -> Vec<Outcome> {
    let mut lanes: Vec<Lane<'a>> = lanes
        .into_iter()
        .map(|l| match l {
            Ok(mut work) => match work.call() {
                Ok(()) => Lane::Running {
                    work,
                    wall: Vec::new(),
                    cpu: Vec::new(),
                },
                Err(e) => Lane::Done(Outcome::Failed(e)),
            },
            Err(o) => Lane::Done(o),
        })
        .collect();
    let n = lanes.len();
    let start = Instant::now();
    for round in 0..reps.max {
        if round >= reps.min && start.elapsed() >= reps.budget {
            break;
        }
        for k in 0..n {
            let lane = &mut lanes[(round + k) % n];
            if let Lane::Running { work, wall, cpu } = lane {
                let c0 = cpu_now();
                let t0 = Instant::now();
                let r = work.call();
                let dt = t0.elapsed().as_secs_f64() * 1e3;
                match r {
                    Ok(()) => {
                        wall.push(dt);
                        cpu.push(
                            c0.and_then(|c| c.try_elapsed().ok())
                                .map(|d| d.as_secs_f64() * 1e3),
                        );
                    }
                    Err(e) => *lane = Lane::Done(Outcome::Failed(e)),
                }
            }
        }
    }
    lanes
        .into_iter()
        .map(|l| match l {
            Lane::Running { wall, cpu, .. } => Outcome::Timed(Stats::of(&wall, &cpu)),
            Lane::Done(o) => o,
        })
        .collect()
}

/// One op's times inside a profiled call.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileOp {
    /// The op's label in the call (`"matmul h·w2"`).
    pub op: String,
    /// Its times.
    #[serde(flatten)]
    pub stats: Stats,
}

/// One device's profile of a multi-op call.
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    /// Each op in call order.
    pub ops: Vec<ProfileOp>,
    /// The sum of the ops' medians.
    pub sum_of_ops_ms: f64,
    /// The profiled call's whole time (ops and the synchronizations between them).
    pub profiled_total: Stats,
}

/// What one device gave for a profile.
#[derive(Debug, Clone)]
pub enum Profiled {
    /// The device could not run it: the error.
    Failed(String),
    /// Profiled.
    Done(Profile),
}

/// Profiles every prepared workload, interleaved like [`interleaved`].
pub fn profiled<'a>(
    lanes: Vec<Result<Box<dyn Workload + 'a>, String>>,
    reps: Reps,
) -> Vec<Profiled> {
    struct Acc<'a> {
        work: Box<dyn Workload + 'a>,
        order: Vec<&'static str>,
        per_op: BTreeMap<&'static str, Vec<f64>>,
        totals: Vec<f64>,
    }
    let mut lanes: Vec<Result<Acc<'a>, String>> = lanes
        .into_iter()
        .map(|l| {
            let mut work = l?;
            // Warm-up.
            match work.profile() {
                Some(Ok(_)) => Ok(Acc {
                    work,
                    order: Vec::new(),
                    per_op: BTreeMap::new(),
                    totals: Vec::new(),
                }),
                Some(Err(e)) => Err(e),
                None => Err("a single op has no profile".to_string()),
            }
        })
        .collect();
    let n = lanes.len();
    let start = Instant::now();
    for round in 0..reps.max {
        if round >= reps.min && start.elapsed() >= reps.budget {
            break;
        }
        for k in 0..n {
            let lane = &mut lanes[(round + k) % n];
            if let Ok(acc) = lane {
                let t0 = Instant::now();
                let r = acc.work.profile();
                let total = t0.elapsed().as_secs_f64() * 1e3;
                match r {
                    Some(Ok(times)) => {
                        if acc.order.is_empty() {
                            acc.order = times.iter().map(|(l, _)| *l).collect();
                        }
                        for (label, ms) in times {
                            acc.per_op.entry(label).or_default().push(ms);
                        }
                        acc.totals.push(total);
                    }
                    Some(Err(e)) => *lane = Err(e),
                    None => *lane = Err("a single op has no profile".to_string()),
                }
            }
        }
    }
    lanes
        .into_iter()
        .map(|l| match l {
            Err(e) => Profiled::Failed(e),
            Ok(acc) => {
                let ops: Vec<ProfileOp> = acc
                    .order
                    .iter()
                    .map(|label| {
                        let t = acc.per_op.get(label).map(Vec::as_slice).unwrap_or(&[]);
                        ProfileOp {
                            op: label.to_string(),
                            stats: Stats::of(t, &[]),
                        }
                    })
                    .collect();
                let sum = ops.iter().map(|o| o.stats.median_ms).sum();
                Profiled::Done(Profile {
                    ops,
                    sum_of_ops_ms: sum,
                    profiled_total: Stats::of(&acc.totals, &[]),
                })
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_of_known_samples() {
        let s = Stats::of(&[4.0, 1.0, 3.0, 2.0, 5.0], &[Some(1.0), Some(3.0)]);
        assert_eq!(s.median_ms, 3.0);
        assert_eq!(s.best_ms, 1.0);
        assert_eq!((s.p25_ms, s.p75_ms), (2.0, 4.0));
        assert!((s.spread_pct - 100.0 / 3.0).abs() < 1e-9);
        assert_eq!(s.reps, 5);
        assert_eq!(s.cpu_ms_per_call, Some(2.0));
        // One unknown CPU time: no mean of a part.
        assert_eq!(Stats::of(&[1.0], &[None]).cpu_ms_per_call, None);
    }

    struct Counter(usize, Option<usize>);
    impl Workload for Counter {
        fn call(&mut self) -> Result<(), String> {
            self.0 += 1;
            match self.1 {
                Some(fail_at) if self.0 >= fail_at => Err(format!("failed at call {}", self.0)),
                _ => Ok(()),
            }
        }
    }

    #[test]
    fn interleaved_keeps_lanes_apart() {
        let reps = Reps {
            min: 3,
            max: 3,
            budget: Duration::ZERO,
        };
        let out = interleaved(
            vec![
                Ok(Box::new(Counter(0, None))),
                Err(Outcome::Unsupported),
                Ok(Box::new(Counter(0, Some(3)))),
            ],
            reps,
        );
        assert!(matches!(&out[0], Outcome::Timed(s) if s.reps == 3));
        assert!(matches!(&out[1], Outcome::Unsupported));
        // Warm-up is call 1; the second timed call fails.
        assert!(matches!(&out[2], Outcome::Failed(e) if e == "failed at call 3"));
    }
}

#[cfg(test)]
mod profile_tests {
    use super::*;

    /// Two "ops" of known order; the profile keeps the order and sums the medians.
    struct TwoOps(f64);
    impl Workload for TwoOps {
        fn call(&mut self) -> Result<(), String> {
            Ok(())
        }
        fn profile(&mut self) -> Option<Result<Vec<(&'static str, f64)>, String>> {
            self.0 += 1.0;
            Some(Ok(vec![("second", 2.0 * self.0), ("first", self.0)]))
        }
    }

    #[test]
    fn profile_keeps_call_order_and_sums_medians() {
        let reps = Reps {
            min: 3,
            max: 3,
            budget: Duration::ZERO,
        };
        let out = profiled(
            vec![Ok(Box::new(TwoOps(0.0))), Err("no device".into())],
            reps,
        );
        let Profiled::Done(p) = &out[0] else {
            panic!("not profiled: {out:?}")
        };
        // Warm-up gave 1; the rounds 2, 3, 4: medians 3 and 6.
        let names: Vec<&str> = p.ops.iter().map(|o| o.op.as_str()).collect();
        assert_eq!(names, ["second", "first"]);
        assert_eq!(p.ops[0].stats.median_ms, 6.0);
        assert_eq!(p.sum_of_ops_ms, 9.0);
        assert_eq!(p.profiled_total.reps, 3);
        assert!(matches!(&out[1], Profiled::Failed(e) if e == "no device"));
    }
}
