//! The report: what was measured, as JSON (serde) and as Markdown tables.
//!
//! Ratios are a device's median time over the baseline's: below 1 is faster than the
//! baseline, above 1 slower.

use std::fmt::Write as _;

use serde::Serialize;

use crate::anchors::Anchor;
use crate::measure::{Outcome, Profile, Profiled, Stats};

/// A whole run.
#[derive(Debug, Serialize)]
pub struct Report {
    /// When the run started (RFC 3339, UTC).
    pub date: String,
    /// `nk-bench <version>`.
    pub tool: String,
    /// The command line's arguments.
    pub args: Vec<String>,
    /// The label ratios are against.
    pub baseline: String,
    /// The devices, in column order.
    pub devices: Vec<DeviceRow>,
    /// What the host found but could not use: `(what, why)`.
    pub skipped: Vec<(String, String)>,
    /// One row per benchmark and dtype.
    pub results: Vec<ResultRow>,
    /// The training step's per-op profile, per dtype (with `--profile`).
    pub profiles: Vec<ProfileRow>,
    /// The anchors, run or not (and why not).
    pub anchors: Vec<Anchor>,
}

/// One device.
#[derive(Debug, Serialize)]
pub struct DeviceRow {
    /// Its label (column name).
    pub label: String,
    /// The device's own name.
    pub device: String,
    /// `"in process"` or the plugin file.
    pub origin: String,
}

/// One benchmark in one dtype, on every device.
#[derive(Debug, Serialize)]
pub struct ResultRow {
    /// The benchmark.
    pub name: String,
    /// `"f32"` / `"f16"`.
    pub dtype: String,
    /// One cell per device, in column order.
    pub cells: Vec<Cell>,
}

/// One device's result for one benchmark.
#[derive(Debug, Serialize)]
pub struct Cell {
    /// The device's label.
    pub device: String,
    /// `"ok"`, `"unsupported"` or `"failed"`.
    pub status: &'static str,
    /// The error, when failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The times, when ok.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<Stats>,
    /// GFLOP/s at the median, for a compute-bound op.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gflops: Option<f64>,
    /// GB/s at the median, for a memory-bound op.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gbs: Option<f64>,
    /// Median over the baseline's median.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
}

impl Cell {
    /// The cell for `outcome` on `device`; throughput from `flops` (or `bytes` when
    /// `flops` is 0).
    pub fn new(device: &str, outcome: Outcome, flops: f64, bytes: f64) -> Cell {
        let mut c = Cell {
            device: device.to_string(),
            status: "ok",
            error: None,
            stats: None,
            gflops: None,
            gbs: None,
            ratio: None,
        };
        match outcome {
            Outcome::Unsupported => c.status = "unsupported",
            Outcome::Failed(e) => {
                c.status = "failed";
                c.error = Some(e);
            }
            Outcome::Timed(s) => {
                if flops > 0.0 {
                    c.gflops = Some(flops / s.median_ms / 1e6);
                } else if bytes > 0.0 {
                    c.gbs = Some(bytes / s.median_ms / 1e6);
                }
                c.stats = Some(s);
            }
        }
        c
    }

    fn median(&self) -> Option<f64> {
        self.stats.as_ref().map(|s| s.median_ms)
    }
}

/// The step's profile in one dtype, on every device.
#[derive(Debug, Serialize)]
pub struct ProfileRow {
    /// `"f32"` / `"f16"`.
    pub dtype: String,
    /// One per device, in column order.
    pub devices: Vec<ProfileCell>,
}

/// One device's profile.
#[derive(Debug, Serialize)]
pub struct ProfileCell {
    /// The device's label.
    pub device: String,
    /// The error, when it could not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
    /// The unprofiled step's median (from the results), to compare with the sum of ops.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_ms: Option<f64>,
}

impl ProfileCell {
    /// The cell for `p` on `device`, beside the plain step's median `step_ms`.
    pub fn new(device: &str, p: Profiled, step_ms: Option<f64>) -> Self {
        match p {
            Profiled::Failed(e) => ProfileCell {
                device: device.into(),
                error: Some(e),
                profile: None,
                step_ms,
            },
            Profiled::Done(p) => ProfileCell {
                device: device.into(),
                error: None,
                profile: Some(p),
                step_ms,
            },
        }
    }
}

impl Report {
    /// Fills each cell's ratio against the baseline's median.
    pub fn compute_ratios(&mut self) {
        let Some(base) = self.devices.iter().position(|d| d.label == self.baseline) else {
            return;
        };
        for row in &mut self.results {
            let b = row.cells.get(base).and_then(Cell::median);
            for c in &mut row.cells {
                c.ratio = match (c.median(), b) {
                    (Some(m), Some(b)) if b > 0.0 => Some(m / b),
                    _ => None,
                };
            }
        }
    }

    /// The report as Markdown.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# nk-bench, {}\n", self.date);
        // Arguments with spaces quoted, so that the line can be run again.
        let args: Vec<String> = self
            .args
            .iter()
            .map(|a| {
                if a.contains(' ') {
                    format!("'{a}'")
                } else {
                    a.clone()
                }
            })
            .collect();
        let _ = writeln!(s, "`nk-bench {}`\n", args.join(" "));
        s.push_str("| device | name | from |\n|---|---|---|\n");
        for d in &self.devices {
            let _ = writeln!(s, "| {} | {} | {} |", d.label, d.device, d.origin);
        }
        for (what, why) in &self.skipped {
            let _ = writeln!(s, "\nnot measured: {what}: {why}");
        }
        let _ = writeln!(
            s,
            "\nWall ms per call, synchronized: median ± half the interquartile range (%), and \
             the process's CPU ms per call (all threads). Repetitions interleave the devices. \
             Ratio: median over `{}`'s (below 1 is faster).\n",
            self.baseline
        );
        self.results_table(&mut s);
        if !self.profiles.is_empty() {
            self.profile_tables(&mut s);
        }
        self.anchor_tables(&mut s);
        s
    }

    fn others(&self) -> Vec<usize> {
        (0..self.devices.len())
            .filter(|&i| self.devices[i].label != self.baseline)
            .collect()
    }

    fn results_table(&self, s: &mut String) {
        s.push_str("| benchmark | dtype |");
        for d in &self.devices {
            let _ = write!(s, " {} ms | {} CPU ms |", d.label, d.label);
        }
        let others = self.others();
        for &i in &others {
            let _ = write!(s, " {} / {} |", self.devices[i].label, self.baseline);
        }
        s.push_str("\n|---|---|");
        for _ in &self.devices {
            s.push_str("--:|--:|");
        }
        for _ in &others {
            s.push_str("--:|");
        }
        s.push('\n');
        for r in &self.results {
            let _ = write!(s, "| {} | {} |", r.name, r.dtype);
            for c in &r.cells {
                match (&c.stats, c.status) {
                    (Some(st), _) => {
                        let cpu = st
                            .cpu_ms_per_call
                            .map_or(String::new(), |c| format!("{c:.2}"));
                        let _ = write!(s, " {:.3} ±{:.0}% | {cpu} |", st.median_ms, st.spread_pct);
                    }
                    (None, status) => {
                        let _ = write!(s, " {status} | |");
                    }
                }
            }
            for &i in &others {
                let ratio = r.cells.get(i).and_then(|c| c.ratio);
                let _ = write!(
                    s,
                    " {} |",
                    ratio.map_or(String::new(), |x| format!("{x:.3}"))
                );
            }
            s.push('\n');
        }
        let failures: Vec<String> = self
            .results
            .iter()
            .flat_map(|r| {
                r.cells.iter().filter_map(move |c| {
                    c.error
                        .as_ref()
                        .map(|e| format!("- {} {} on {}: {e}", r.name, r.dtype, c.device))
                })
            })
            .collect();
        if !failures.is_empty() {
            s.push_str("\nFailures:\n\n");
            for f in failures {
                let _ = writeln!(s, "{f}");
            }
        }
    }

    fn profile_tables(&self, s: &mut String) {
        for p in &self.profiles {
            let _ = writeln!(
                s,
                "\n## Training step profile, {} (synchronized after each op; ms, median, and \
                 share of the sum)\n",
                p.dtype
            );
            let Some(first) = p.devices.iter().find_map(|d| d.profile.as_ref()) else {
                for d in &p.devices {
                    if let Some(e) = &d.error {
                        let _ = writeln!(s, "- {}: {e}", d.device);
                    }
                }
                continue;
            };
            s.push_str("| op |");
            for d in &p.devices {
                let _ = write!(s, " {} ms | share |", d.device);
            }
            s.push_str("\n|---|");
            for _ in &p.devices {
                s.push_str("--:|--:|");
            }
            s.push('\n');
            for (k, first_op) in first.ops.iter().enumerate() {
                let _ = write!(s, "| {} |", first_op.op);
                for d in &p.devices {
                    match &d.profile {
                        Some(pr) => {
                            let ms = pr.ops.get(k).map_or(f64::NAN, |o| o.stats.median_ms);
                            let share = 100.0 * ms / pr.sum_of_ops_ms;
                            let _ = write!(s, " {ms:.3} | {share:.1}% |");
                        }
                        None => s.push_str(" | |"),
                    }
                }
                s.push('\n');
            }
            type Line = (&'static str, fn(&ProfileCell) -> Option<f64>);
            let lines: [Line; 4] = [
                ("**sum of the ops**", |d| {
                    d.profile.as_ref().map(|p| p.sum_of_ops_ms)
                }),
                ("**profiled step** (ops + syncs)", |d| {
                    d.profile.as_ref().map(|p| p.profiled_total.median_ms)
                }),
                ("**step** (unprofiled, from the results)", |d| d.step_ms),
                ("**step − sum of the ops**", |d| {
                    Some(d.step_ms? - d.profile.as_ref()?.sum_of_ops_ms)
                }),
            ];
            for (name, f) in lines {
                let _ = write!(s, "| {name} |");
                for d in &p.devices {
                    let _ = write!(
                        s,
                        " {} | |",
                        f(d).map_or(String::new(), |x| format!("{x:.3}"))
                    );
                }
                s.push('\n');
            }
            for d in &p.devices {
                if let Some(e) = &d.error {
                    let _ = writeln!(s, "\n{} could not be profiled: {e}", d.device);
                }
            }
        }
    }

    fn anchor_tables(&self, s: &mut String) {
        s.push_str("\n## Anchors\n\n");
        if self.anchors.is_empty() {
            s.push_str("Not run (`--no-anchors`).\n");
            return;
        }
        s.push_str("Ratio: the device's median over the anchor's.\n\n");
        for a in &self.anchors {
            let _ = writeln!(
                s,
                "- **{}**: {}{}",
                a.name,
                if a.ran { "" } else { "not run: " },
                a.detail
            );
        }
        let rows: Vec<_> = self
            .anchors
            .iter()
            .flat_map(|a| a.results.iter().map(move |t| (a, t)))
            .collect();
        if rows.is_empty() {
            return;
        }
        s.push_str("\n| benchmark | dtype | anchor | anchor ms |");
        for d in &self.devices {
            let _ = write!(s, " {} / anchor |", d.label);
        }
        s.push_str("\n|---|---|---|--:|");
        for _ in &self.devices {
            s.push_str("--:|");
        }
        s.push('\n');
        for (a, t) in rows {
            let Some(row) = self
                .results
                .iter()
                .find(|r| r.name == t.name && r.dtype == t.dtype)
            else {
                continue;
            };
            let _ = write!(
                s,
                "| {} | {} | {} | {:.3} |",
                t.name, t.dtype, a.name, t.median_ms
            );
            for c in &row.cells {
                let r = c.median().map(|m| m / t.median_ms);
                let _ = write!(s, " {} |", r.map_or(String::new(), |x| format!("{x:.3}")));
            }
            s.push('\n');
        }
    }
}
