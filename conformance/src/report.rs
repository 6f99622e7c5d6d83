//! The report: a terminal table (op × dtype × device), `report.json` and `report.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::devices::Skipped;
use crate::suite::{CaseResult, Status};

/// One row of the summary: an op in a dtype on a device.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Op name.
    pub op: String,
    /// Dtype name.
    pub dtype: String,
    /// Backend short name.
    pub backend: String,
    /// Device short name, unique in the run.
    pub device_id: String,
    /// Device name.
    pub device: String,
    /// `pass` when every case passed, `fail` when any failed, `unsupported` when the
    /// device does not implement it.
    pub status: Status,
    /// Cases run.
    pub cases: usize,
    /// Cases failed.
    pub failed: usize,
    /// Worst error / bound over the cases (`"inf"` in JSON for an exact mismatch).
    #[serde(serialize_with = "ser_frac")]
    pub worst: Option<f64>,
    /// Worst distance of a stored value from the reference's unrounded result, in ulps of
    /// the output type (≤ 0.5: correctly rounded). For f16, where `worst` is mostly 0
    /// (every value in its rounding cell), this is the informative column.
    pub worst_ulps: Option<f64>,
    /// Total device time (ms).
    pub time_ms: f64,
}

/// Totals over a run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Totals {
    /// Case runs (cases × devices).
    pub runs: usize,
    /// Passed.
    pub passed: usize,
    /// Failed.
    pub failed: usize,
    /// Unsupported (op not implemented by the device).
    pub unsupported: usize,
}

/// The whole report, as written to `report.json`.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The devices the cases ran on.
    pub devices: Vec<String>,
    /// Devices that could not run, and why.
    pub skipped: Vec<Skipped>,
    /// Backends that `NEUROKERN_REQUIRE` named but that did not run.
    pub missing_required: Vec<String>,
    /// Wall time of the run (s).
    pub duration_s: f64,
    /// Totals.
    pub totals: Totals,
    /// op × dtype × device.
    pub summary: Vec<Row>,
    /// Every case on every device.
    pub cases: Vec<CaseResult>,
}

impl Report {
    /// Builds the report from case results.
    pub fn new(
        devices: Vec<String>,
        skipped: Vec<Skipped>,
        missing_required: Vec<String>,
        duration_s: f64,
        cases: Vec<CaseResult>,
    ) -> Self {
        // Rows: ops in catalogue order, then dtype, then devices in discovery order.
        let mut rows: BTreeMap<(usize, String, usize), Row> = BTreeMap::new();
        let mut device_order: Vec<String> = Vec::new();
        let mut totals = Totals::default();
        let order = |op: &str| {
            neurokern_core::OpKind::ALL
                .iter()
                .position(|k| k.name() == op)
                .unwrap_or(usize::MAX)
        };
        for c in &cases {
            totals.runs += 1;
            match c.status {
                Status::Pass => totals.passed += 1,
                Status::Fail => totals.failed += 1,
                Status::Unsupported => totals.unsupported += 1,
            }
            let dev = match device_order.iter().position(|d| *d == c.device_id) {
                Some(i) => i,
                None => {
                    device_order.push(c.device_id.clone());
                    device_order.len() - 1
                }
            };
            let key = (order(&c.op), c.dtype.clone(), dev);
            let row = rows.entry(key).or_insert_with(|| Row {
                op: c.op.clone(),
                dtype: c.dtype.clone(),
                backend: c.backend.clone(),
                device_id: c.device_id.clone(),
                device: c.device.clone(),
                status: Status::Pass,
                cases: 0,
                failed: 0,
                worst: None,
                worst_ulps: None,
                time_ms: 0.0,
            });
            row.cases += 1;
            row.time_ms += c.time_ms;
            if c.status == Status::Fail {
                row.failed += 1;
            }
            row.status = match (row.status, c.status) {
                (Status::Fail, _) | (_, Status::Fail) => Status::Fail,
                (Status::Unsupported, _) | (_, Status::Unsupported) => Status::Unsupported,
                _ => Status::Pass,
            };
            if let Some(w) = c.worst {
                row.worst = Some(row.worst.map_or(w, |x: f64| x.max(w)));
            }
            if let Some(u) = c.worst_ulps {
                row.worst_ulps = Some(row.worst_ulps.map_or(u, |x: f64| x.max(u)));
            }
        }
        Report {
            devices,
            skipped,
            missing_required,
            duration_s,
            totals,
            summary: rows.into_values().collect(),
            cases,
        }
    }

    /// True when nothing failed and every required backend ran.
    pub fn passed(&self) -> bool {
        self.totals.failed == 0 && self.missing_required.is_empty()
    }

    /// The summary table (plain text, aligned).
    pub fn table(&self) -> String {
        let head = [
            "op",
            "dtype",
            "device",
            "result",
            "cases",
            "worst err/bound",
            "ulps",
            "time",
        ];
        let rows: Vec<[String; 8]> = self
            .summary
            .iter()
            .map(|r| {
                [
                    r.op.clone(),
                    r.dtype.clone(),
                    r.device_id.clone(),
                    status_text(r),
                    r.cases.to_string(),
                    r.worst.map_or("-".into(), fmt_frac),
                    r.worst_ulps.map_or("-".into(), fmt_ulps),
                    format!("{:.1} ms", r.time_ms),
                ]
            })
            .collect();
        let mut w = head.map(str::len);
        for r in &rows {
            for (wi, c) in w.iter_mut().zip(r) {
                *wi = (*wi).max(c.chars().count());
            }
        }
        let mut s = String::new();
        let line = |s: &mut String, cells: &[String]| {
            for (i, c) in cells.iter().enumerate() {
                let pad = w[i] - c.chars().count();
                if (4..=7).contains(&i) {
                    let _ = write!(s, "{}{}  ", " ".repeat(pad), c);
                } else {
                    let _ = write!(s, "{}{}  ", c, " ".repeat(pad));
                }
            }
            s.truncate(s.trim_end().len());
            s.push('\n');
        };
        line(&mut s, &head.map(String::from));
        line(&mut s, &w.map(|n| "-".repeat(n)));
        for r in &rows {
            line(&mut s, r);
        }
        s
    }

    /// A one-paragraph summary: totals, skipped devices, required backends missing.
    pub fn totals_text(&self) -> String {
        let t = &self.totals;
        let mut s = format!(
            "{} case runs on {} device(s): {} passed, {} failed, {} unsupported, in {:.1} s\n",
            t.runs,
            self.devices.len(),
            t.passed,
            t.failed,
            t.unsupported,
            self.duration_s
        );
        for k in &self.skipped {
            let _ = writeln!(s, "skipped `{}`: {}", k.backend, k.reason);
        }
        for m in &self.missing_required {
            let _ = writeln!(
                s,
                "FAILED: NEUROKERN_REQUIRE names `{m}`, which did not run (see above)"
            );
        }
        s
    }

    /// The Markdown report.
    pub fn markdown(&self) -> String {
        let mut s = String::from("# neurokern conformance report\n\n");
        let _ = writeln!(s, "{}", self.totals_text().replace('\n', "  \n"));
        s.push_str("Devices:\n\n");
        for d in &self.devices {
            let _ = writeln!(s, "- {d}");
        }
        s.push_str("\n## Summary (op × dtype × device)\n\n");
        s.push_str(
            "`worst err/bound`: the largest distance from the reference's unrounded result \
             to the rounding cell of a stored value, as a fraction of the bound (0: every \
             value is one the reference's result rounds to, as for most f16 values). \
             `ulps`: the largest distance of a stored value from the reference's unrounded \
             result, in ulps of the output type (at most 0.5: correctly rounded).\n\n",
        );
        s.push_str("| op | dtype | device | result | cases | worst err/bound | ulps | time |\n");
        s.push_str("|---|---|---|---|---:|---:|---:|---:|\n");
        for r in &self.summary {
            let _ = writeln!(
                s,
                "| `{}` | {} | {} | {} | {} | {} | {} | {:.1} ms |",
                r.op,
                r.dtype,
                r.device_id,
                status_text(r),
                r.cases,
                r.worst.map_or("-".into(), fmt_frac),
                r.worst_ulps.map_or("-".into(), fmt_ulps),
                r.time_ms
            );
        }
        let failed: Vec<&CaseResult> = self
            .cases
            .iter()
            .filter(|c| c.status == Status::Fail)
            .collect();
        if !failed.is_empty() {
            s.push_str("\n## Failures\n\n");
            s.push_str("Replay one with `cargo xtask conformance --case ID`.\n");
            for c in failed {
                let _ = writeln!(
                    s,
                    "\n### `{}` on {} ({}, seed {})\n\n{}\n",
                    c.id,
                    c.device_id,
                    c.device,
                    c.seed,
                    c.message.as_deref().unwrap_or("")
                );
                if !c.failures.is_empty() {
                    s.push_str("| operand | index | expected | got | bound | inputs |\n");
                    s.push_str("|---|---:|---|---|---|---|\n");
                    for f in &c.failures {
                        let _ = writeln!(
                            s,
                            "| `{}` | {} | {} | {} | {} | {} |",
                            f.operand,
                            f.index,
                            f.expected,
                            f.got,
                            f.bound.replace('|', "\\|"),
                            f.inputs.replace('|', "\\|")
                        );
                    }
                }
            }
        }
        s
    }

    /// Writes `report.json` and `report.md` into `dir` (created if needed).
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("report.json"), json)?;
        std::fs::write(dir.join("report.md"), self.markdown())
    }
}

fn status_text(r: &Row) -> String {
    match r.status {
        Status::Pass => "pass".into(),
        Status::Unsupported => "unsupported".into(),
        Status::Fail => format!("FAIL ({}/{})", r.failed, r.cases),
    }
}

/// Writes a fraction of a bound to JSON: a number, `"inf"` (an exact rule broken, or an
/// error where the bound is 0), or `null` (nothing measured).
pub fn ser_frac<S: serde::Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match x {
        Some(v) if v.is_infinite() => s.serialize_str("inf"),
        Some(v) => s.serialize_f64(*v),
        None => s.serialize_none(),
    }
}

/// A fraction of a bound, for the tables.
pub fn fmt_frac(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if x.is_infinite() {
        "inf".into()
    } else if x < 1e-3 {
        format!("{x:.1e}")
    } else {
        format!("{x:.3}")
    }
}

/// A distance in ulps, for the tables: `0`, two decimals below 10 (`0.50`), whole ulps
/// below 10⁴, scientific notation otherwise.
pub fn fmt_ulps(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if !(1e-2..1e4).contains(&x) {
        format!("{x:.1e}")
    } else if x < 10.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cases::Case;
    use crate::data::HostData;
    use crate::run::{compare, prepare};
    use neurokern_core::op::Gelu;
    use neurokern_core::{f16, FloatType, Op};

    #[test]
    fn f16_results_show_their_distance_in_ulps() {
        // The reference's own f16 output: every value lies in its rounding cell, so the
        // fraction of the bound is 0; the ulps column still says how far each stored value
        // is from the unrounded result (at most half an ulp, and not 0 for these inputs).
        let xs: Vec<f16> = (1..200)
            .map(|i| f16::from_f32(i as f32 * 0.037 - 3.0))
            .collect();
        let case = Case::custom(
            "gelu/f16/ulps",
            Op::Gelu(Gelu { n: xs.len() }),
            FloatType::F16,
            vec![Some(HostData::F16(xs)), None],
            None,
        );
        let p = prepare(&case).unwrap();
        let v = compare(&p, &p.expected, false);
        assert_eq!((v.failed, v.worst), (0, 0.0));
        let u = v.worst_ulps.expect("f16 elements have a distance");
        assert!(u > 0.1 && u <= 0.5, "{u}");
        assert_eq!(fmt_ulps(u), format!("{u:.2}"));
        assert_eq!(fmt_ulps(0.0), "0");
        assert_eq!(fmt_ulps(3766.2), "3766");
        assert_eq!(fmt_ulps(2.0e4), "2.0e4");
    }
}
