//! One tuning run: the search over a device's classes, its entry in the cache.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use neurokern_backend_opencl::tuned::{Cache, ClassResult, Entry, Lookup, Plan};
use neurokern_backend_opencl::{tuned, DeviceInfo};
use neurokern_bench::measure::Reps;
use neurokern_conformance::cases::Tier;

use crate::classes::{self, Class};
use crate::opencl::{FailHook, OpenCl};
use crate::search::{Outcome, Search};

/// What a run does.
pub struct Options {
    /// The classes.
    pub classes: Vec<Class>,
    /// Time allowed.
    pub budget: Duration,
    /// Repetitions per class and race.
    pub reps: Reps,
    /// The gate's largest conformance tier.
    pub tier: Tier,
    /// Start from what the cache knows (plan reuse); `false`: from the default only.
    pub warm: bool,
    /// Gate failures forced for tests.
    pub fail: Option<FailHook>,
    /// Progress on stderr.
    pub verbose: bool,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("classes", &self.classes.len())
            .field("budget", &self.budget)
            .field("warm", &self.warm)
            .finish()
    }
}

/// The result of a run.
#[derive(Debug)]
pub struct Report {
    /// The entry written (or that would be).
    pub entry: Entry,
    /// The search's details.
    pub outcome: Outcome,
    /// Whether it started from cached plans.
    pub warm_started: bool,
}

/// Tunes `info`'s device, merging into the cache at `cache` (read, then written back when
/// `cache` is `Some`).
pub fn tune(info: &DeviceInfo, cache: Option<&Path>, opts: Options) -> Result<Report, String> {
    let start = Instant::now();
    let mut file = match cache {
        Some(p) => Cache::load(p).unwrap_or_else(|e| {
            eprintln!("nk-tune: starting a new cache ({e})");
            Cache::default()
        }),
        None => Cache::default(),
    };
    let default = Plan::default_for(info);
    let seeds = match (opts.warm, file.lookup(info)) {
        (true, Lookup::Fresh(e)) => {
            let mut s = classes::seeds(&e.classes, &opts.classes);
            if !s.contains(&e.plan) {
                s.insert(0, e.plan);
            }
            s
        }
        (true, Lookup::Stale(_, why)) => {
            eprintln!("nk-tune: the cached plan is stale ({why}): tuning from the default");
            Vec::new()
        }
        _ => Vec::new(),
    };
    let warm_started = !seeds.is_empty();
    let seeds = if warm_started {
        seeds
    } else {
        crate::space::probes(&default, info.is_cpu)
    };
    let mut ev = OpenCl::new(info.clone(), opts.classes.clone(), opts.reps, opts.tier);
    ev.verbose = opts.verbose;
    if let Some(f) = opts.fail {
        ev = ev.with_fail_hook(f);
    }
    // Warm: one round racing the cached plans (each class's own best, or the nearest
    // known class's for a new class) against the default; no new builds of untried tiles.
    let search = if warm_started {
        Search {
            beam: 1,
            budget: opts.budget,
            patience: 1,
            max_rounds: 1,
            ..Search::default()
        }
    } else {
        Search {
            beam: 3,
            budget: opts.budget,
            patience: 2,
            ..Search::default()
        }
    };
    let outcome = search.run(&mut ev, default, &seeds);
    let best = &outcome.best;
    let mut class_results = std::collections::BTreeMap::new();
    for c in &opts.classes {
        let name = c.name();
        let (bp, bms) = outcome
            .class_best
            .get(&name)
            .copied()
            .unwrap_or((best.plan, f64::NAN));
        class_results.insert(
            name.clone(),
            ClassResult {
                best: bp,
                best_ms: bms,
                default_ms: outcome.default.ms.get(&name).copied().unwrap_or(f64::NAN),
                plan_ms: best.ms.get(&name).copied().unwrap_or(f64::NAN),
                weight: c.weight,
            },
        );
    }
    // Classes tuned before and not in this run stay as they were.
    if let Lookup::Fresh(old) = file.lookup(info) {
        for (k, v) in &old.classes {
            class_results.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    let entry = Entry {
        platform: info.platform.clone(),
        device: info.name.clone(),
        driver: info.driver_version.clone(),
        kernel_hash: tuned::kernel_hash(),
        plan: best.plan,
        classes: class_results,
        tuning_s: start.elapsed().as_secs_f64(),
        tuned_at: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };
    if let Some(p) = cache {
        file.insert(entry.clone());
        file.save(p)?;
    }
    Ok(Report {
        entry,
        outcome,
        warm_started,
    })
}
