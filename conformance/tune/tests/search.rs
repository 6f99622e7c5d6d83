//! The beam search on a synthetic device: which plans it keeps, rejects and returns.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use neurokern_backend_opencl::tuned::{PackPolicy, Plan};
use neurokern_tune::search::{Evaluator, Race, Search};

fn plan(mr: u32, nv: u32, nr: u32) -> Plan {
    Plan {
        mr,
        nv,
        nr,
        local: Some([1, 1]),
        pack_a: PackPolicy::Transposed,
        rows_per_item: true,
    }
}

/// Times from a formula; the gate fails the plans in `wrong`.
struct Synthetic {
    cost: fn(&Plan) -> f64,
    wrong: BTreeSet<Plan>,
    raced: Vec<Plan>,
}

impl Evaluator for Synthetic {
    fn gate(&mut self, p: &Plan) -> Result<(), String> {
        if self.wrong.contains(p) {
            Err(format!("{p}: results outside the bounds"))
        } else {
            Ok(())
        }
    }

    fn race(&mut self, best: &Plan, cand: &Plan) -> Result<Race, String> {
        self.raced.push(*cand);
        let mut times = BTreeMap::new();
        times.insert(
            "f32 matmul".to_string(),
            ((self.cost)(best), (self.cost)(cand)),
        );
        Ok(Race { times })
    }
}

const DEFAULT: fn() -> Plan = || plan(6, 8, 4);

#[test]
fn the_default_is_kept_when_nothing_beats_it() {
    // Every other plan is slower, or faster by less than the margin.
    let mut ev = Synthetic {
        cost: |p| {
            if *p == plan(6, 8, 4) {
                10.0
            } else if p.mr == 5 {
                9.9
            } else {
                12.0
            }
        },
        wrong: BTreeSet::new(),
        raced: Vec::new(),
    };
    let out = Search::default().run(&mut ev, DEFAULT(), &[]);
    assert_eq!(out.best.plan, DEFAULT());
    assert!(
        out.timed.len() > 5,
        "neighbours were timed: {}",
        out.timed.len()
    );
}

#[test]
fn a_tiny_budget_returns_the_default() {
    let mut ev = Synthetic {
        cost: |p| f64::from(p.mr),
        wrong: BTreeSet::new(),
        raced: Vec::new(),
    };
    let s = Search {
        budget: Duration::ZERO,
        ..Search::default()
    };
    let out = s.run(&mut ev, DEFAULT(), &[]);
    assert_eq!(out.best.plan, DEFAULT());
    assert_eq!(ev.raced, vec![DEFAULT()], "only the default is measured");
}

#[test]
fn the_search_walks_to_the_optimum() {
    // Fastest at 4,16,3: reachable only in several moves from 6,8,4.
    let mut ev = Synthetic {
        cost: |p| {
            1.0 + f64::from(p.mr.abs_diff(4) + p.nr.abs_diff(3))
                + f64::from(16u32.abs_diff(p.nv)) / 4.0
        },
        wrong: BTreeSet::new(),
        raced: Vec::new(),
    };
    let out = Search::default().run(&mut ev, DEFAULT(), &[]);
    assert_eq!(
        (out.best.plan.mr, out.best.plan.nv, out.best.plan.nr),
        (4, 16, 3)
    );
    assert!(out.best.score < 0.5);
}

#[test]
fn an_incorrect_candidate_is_rejected_and_never_timed() {
    // 5,8,4 would be the fastest by far, but its results are wrong.
    let wrong = plan(5, 8, 4);
    let mut ev = Synthetic {
        cost: |p| {
            if *p == plan(5, 8, 4) {
                1.0
            } else {
                10.0 - f64::from(p.nr) * 0.5
            }
        },
        wrong: [wrong].into_iter().collect(),
        raced: Vec::new(),
    };
    let out = Search::default().run(&mut ev, DEFAULT(), &[]);
    assert_ne!(out.best.plan, wrong);
    assert!(out.rejected.iter().any(|r| r.plan == wrong));
    assert!(!ev.raced.contains(&wrong));
    assert!(out.timed.iter().all(|s| s.plan != wrong));
}

#[test]
fn a_warm_start_races_the_known_plan_first_and_stops_early() {
    let cost: fn(&Plan) -> f64 = |p| {
        1.0 + f64::from(p.mr.abs_diff(4) + p.nr.abs_diff(3)) + f64::from(16u32.abs_diff(p.nv)) / 4.0
    };
    let mut cold = Synthetic {
        cost,
        wrong: BTreeSet::new(),
        raced: Vec::new(),
    };
    let cold_out = Search::default().run(&mut cold, DEFAULT(), &[]);
    let mut warm = Synthetic {
        cost,
        wrong: BTreeSet::new(),
        raced: Vec::new(),
    };
    let s = Search {
        beam: 1,
        patience: 1,
        max_rounds: 1,
        ..Search::default()
    };
    let warm_out = s.run(&mut warm, DEFAULT(), &[cold_out.best.plan]);
    assert_eq!(warm_out.best.plan, cold_out.best.plan);
    assert_eq!(warm.raced[1], cold_out.best.plan);
    assert!(
        warm.raced.len() * 2 < cold.raced.len(),
        "warm {} vs cold {} races",
        warm.raced.len(),
        cold.raced.len()
    );
}

/// Times that flatter every candidate against the best when raced in the search (a noisy
/// machine), but are equal when raced against the default directly.
struct Flattering {
    raced: usize,
}

impl Evaluator for Flattering {
    fn gate(&mut self, _: &Plan) -> Result<(), String> {
        Ok(())
    }

    fn race(&mut self, best: &Plan, cand: &Plan) -> Result<Race, String> {
        self.raced += 1;
        let c = if best == cand || *best == DEFAULT() && self.raced > 3 {
            10.0
        } else {
            9.0
        };
        let mut times = BTreeMap::new();
        times.insert("f32 matmul".to_string(), (10.0, c));
        Ok(Race { times })
    }
}

#[test]
fn a_winner_not_confirmed_against_the_default_leaves_the_default() {
    let mut ev = Flattering { raced: 0 };
    let s = Search {
        max_rounds: 1,
        ..Search::default()
    };
    let out = s.run(&mut ev, DEFAULT(), &[]);
    assert_eq!(out.best.plan, DEFAULT());
    assert!(out.rejected.iter().any(|r| r.why.contains("not confirmed")));
}
