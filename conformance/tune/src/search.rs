//! The beam search, independent of any device: an [`Evaluator`] says whether a plan is
//! correct ([`Evaluator::gate`]) and times it side by side with the best so far
//! ([`Evaluator::race`]); the search keeps the best few plans each round and varies them
//! ([`crate::space::neighbors`]).
//!
//! Scores are chained ratios: the default scores 1; a candidate raced against the best
//! (score `s`) scores `s · r`, where `r` is the weighted geometric mean over the shape
//! classes of its median time over the best's, both from the same run. A plan must beat
//! the best by [`Search::margin`] to replace it, and the final winner must beat the default
//! again in a confirmation race of its own.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use neurokern_backend_opencl::tuned::Plan;

use crate::space::neighbors;

/// One race: median ms per shape class of the best and of the candidate.
#[derive(Debug, Clone, Default)]
pub struct Race {
    /// Class name → (best's ms, candidate's ms).
    pub times: BTreeMap<String, (f64, f64)>,
}

/// What the search needs of a device.
pub trait Evaluator {
    /// `Err(why)` when `plan` fails to build or gives results outside the conformance
    /// bounds: it is then never timed.
    fn gate(&mut self, plan: &Plan) -> Result<(), String>;

    /// Times `cand` and `best` side by side (interleaved) on every shape class.
    fn race(&mut self, best: &Plan, cand: &Plan) -> Result<Race, String>;

    /// Each class's weight in the score (missing: 1).
    fn weight(&self, _class: &str) -> f64 {
        1.0
    }
}

/// A scored plan.
#[derive(Debug, Clone)]
pub struct Scored {
    /// The plan.
    pub plan: Plan,
    /// Its time relative to the default (lower is faster).
    pub score: f64,
    /// Its median ms per class, from its race.
    pub ms: BTreeMap<String, f64>,
}

/// Why a plan was not kept.
#[derive(Debug, Clone)]
pub struct Rejected {
    /// The plan.
    pub plan: Plan,
    /// The gate's or the race's error.
    pub why: String,
}

/// The outcome of a search.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The winner (the default when nothing beat it by the margin).
    pub best: Scored,
    /// The default's measurements.
    pub default: Scored,
    /// Every plan timed, in order.
    pub timed: Vec<Scored>,
    /// Plans the gate or the race rejected.
    pub rejected: Vec<Rejected>,
    /// Per class: the fastest plan timed for it alone and its ms.
    pub class_best: BTreeMap<String, (Plan, f64)>,
    /// The winner's time over the default's in the final confirmation race (`None`
    /// when the default won the search).
    pub confirmed: Option<f64>,
    /// Rounds run.
    pub rounds: usize,
    /// Wall time.
    pub elapsed: Duration,
}

/// Search settings.
#[derive(Debug, Clone)]
pub struct Search {
    /// Plans kept per round.
    pub beam: usize,
    /// Stop when this much time has passed (checked between candidates).
    pub budget: Duration,
    /// Stop after this many rounds without a new best.
    pub patience: usize,
    /// A candidate must be this much faster than the best (0.02: 2 %) to replace it.
    pub margin: f64,
    /// Stop after this many rounds (a warm start: 1, the known plans only).
    pub max_rounds: usize,
}

impl Default for Search {
    fn default() -> Self {
        Search {
            beam: 3,
            budget: Duration::from_secs(600),
            patience: 1,
            margin: 0.02,
            max_rounds: usize::MAX,
        }
    }
}

/// The weighted geometric mean of `cand / best` over the race's classes.
fn ratio(ev: &dyn Evaluator, race: &Race) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for (class, &(best, cand)) in &race.times {
        let w = ev.weight(class);
        if best > 0.0 && cand > 0.0 && w > 0.0 {
            num += w * (cand / best).ln();
            den += w;
        }
    }
    if den > 0.0 {
        (num / den).exp()
    } else {
        1.0
    }
}

impl Search {
    /// Runs the search from `default` (always a candidate, raced against itself to
    /// measure it) and `seeds` (plans known good elsewhere: the warm start).
    pub fn run(&self, ev: &mut dyn Evaluator, default: Plan, seeds: &[Plan]) -> Outcome {
        let start = Instant::now();
        let mut seen: BTreeSet<Plan> = BTreeSet::new();
        let mut timed: Vec<Scored> = Vec::new();
        let mut rejected = Vec::new();
        let mut class_best: BTreeMap<String, (Plan, f64)> = BTreeMap::new();
        let mut note = |plan: &Plan, ms: &BTreeMap<String, f64>| {
            for (c, &t) in ms {
                let e = class_best.entry(c.clone()).or_insert((*plan, t));
                if t < e.1 {
                    *e = (*plan, t);
                }
            }
        };
        seen.insert(default);
        let default_scored = match ev.gate(&default).and_then(|()| ev.race(&default, &default)) {
            Ok(race) => Scored {
                plan: default,
                score: 1.0,
                ms: race.times.iter().map(|(c, t)| (c.clone(), t.0)).collect(),
            },
            Err(why) => {
                // The default is what runs untuned: keep it, unmeasured, and say why.
                rejected.push(Rejected { plan: default, why });
                Scored {
                    plan: default,
                    score: 1.0,
                    ms: BTreeMap::new(),
                }
            }
        };
        note(&default, &default_scored.ms);
        let mut best = default_scored.clone();
        timed.push(default_scored.clone());
        let mut beam: Vec<Scored> = vec![default_scored.clone()];
        let mut rounds = 0;
        let mut stale = 0;
        let mut queue: Vec<Plan> = seeds.to_vec();
        let out_of_time = |start: &Instant| start.elapsed() >= self.budget;
        while !out_of_time(&start) {
            rounds += 1;
            // A warm start's first round races only the known plans.
            if rounds > 1 || queue.is_empty() {
                for s in &beam {
                    queue.extend(neighbors(&s.plan));
                }
            }
            let mut improved = false;
            let mut any = false;
            for cand in std::mem::take(&mut queue) {
                if out_of_time(&start) {
                    break;
                }
                if !seen.insert(cand) {
                    continue;
                }
                any = true;
                let race = ev.gate(&cand).and_then(|()| ev.race(&best.plan, &cand));
                match race {
                    Ok(race) => {
                        let r = ratio(ev, &race);
                        let ms: BTreeMap<String, f64> =
                            race.times.iter().map(|(c, t)| (c.clone(), t.1)).collect();
                        note(&cand, &ms);
                        let s = Scored {
                            plan: cand,
                            score: best.score * r,
                            ms,
                        };
                        if r < 1.0 - self.margin {
                            best = s.clone();
                            improved = true;
                        }
                        timed.push(s);
                    }
                    Err(why) => rejected.push(Rejected { plan: cand, why }),
                }
            }
            // The next beam: the best few of everything timed.
            let mut all = timed.clone();
            all.sort_by(|a, b| a.score.total_cmp(&b.score));
            beam = all.into_iter().take(self.beam.max(1)).collect();
            stale = if improved { 0 } else { stale + 1 };
            if !any || stale >= self.patience.max(1) || rounds >= self.max_rounds {
                break;
            }
        }
        // A confirmation race, winner against the default: the chained ratios multiply
        // the noise of every race on the way, so the default is replaced only when the
        // winner beats it directly, by the margin, in a race of its own.
        let mut confirmed = None;
        if best.plan != default && !default_scored.ms.is_empty() {
            match ev.race(&default, &best.plan) {
                Ok(race) => {
                    let r = ratio(ev, &race);
                    confirmed = Some(r);
                    if r >= 1.0 - self.margin {
                        rejected.push(Rejected {
                            plan: best.plan,
                            why: format!("not confirmed: ×{r:.3} of the default's time"),
                        });
                        best = default_scored.clone();
                    } else {
                        best.score = r;
                        best.ms = race.times.iter().map(|(c, t)| (c.clone(), t.1)).collect();
                    }
                }
                Err(why) => {
                    rejected.push(Rejected {
                        plan: best.plan,
                        why,
                    });
                    best = default_scored.clone();
                }
            }
        }
        Outcome {
            best,
            confirmed,
            default: default_scored,
            timed,
            rejected,
            class_best,
            rounds,
            elapsed: start.elapsed(),
        }
    }
}
