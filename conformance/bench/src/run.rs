//! One run: open the devices, measure every selected case on all of them, profile, run
//! the anchors, write the reports.

use std::path::PathBuf;
use std::time::SystemTime;

use crate::anchors::{self, Setup};
use crate::cases::{self, bytes_moved, Case, Work, STEP};
use crate::cli::Cli;
use crate::devices;
use crate::measure::{interleaved, profiled, Outcome, Reps};
use crate::report::{Cell, DeviceRow, ProfileCell, ProfileRow, Report, ResultRow};
use crate::subject::Subject;

/// Where a run's reports went.
#[derive(Debug)]
pub struct Written {
    /// The JSON report.
    pub json: PathBuf,
    /// The Markdown report.
    pub markdown: PathBuf,
    /// The report itself.
    pub report: Report,
}

/// The data seed of a case: fixed, so that every device (and every run) gets the same
/// data, and different between cases.
fn seed(case: usize, dtype: neurokern_core::FloatType) -> u64 {
    0x6e6b_2d62_656e_6368 ^ ((case as u64) << 8) ^ dtype as u64
}

/// A file name made of `s`: letters, digits, `.`, `-` and `_`, anything else `_`.
fn file_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Lists the cases and the devices `cli` selects.
pub fn list(cli: &Cli) -> Result<(), String> {
    for c in cases::all().iter().filter(|c| cli.wanted(&c.name)) {
        println!("{}", c.name);
    }
    let opened = devices::open(&cli.backend_names(), &cli.plugins)?;
    println!();
    for s in &opened.subjects {
        println!("device {}: {} ({})", s.label(), s.device_name(), s.origin());
    }
    for (what, why) in &opened.skipped {
        println!("not usable: {what}: {why}");
    }
    Ok(())
}

fn measure_case(
    subjects: &[Box<dyn Subject>],
    case: &Case,
    index: usize,
    dtype: neurokern_core::FloatType,
    reps: Reps,
) -> ResultRow {
    let lanes = subjects
        .iter()
        .map(|s| s.prepare(case, dtype, seed(index, dtype)))
        .collect();
    let outcomes = interleaved(lanes, reps);
    let bytes = match &case.work {
        Work::Op(op) => bytes_moved(op, dtype),
        Work::Step => 0.0,
    };
    let cells: Vec<Cell> = subjects
        .iter()
        .zip(outcomes)
        .map(|(s, o)| Cell::new(s.label(), o, case.flops, bytes))
        .collect();
    let summary: Vec<String> = cells
        .iter()
        .map(|c| match &c.stats {
            Some(st) => format!("{} {:.3} ms", c.device, st.median_ms),
            None => format!("{} {}", c.device, c.status),
        })
        .collect();
    eprintln!("{} {}: {}", case.name, dtype.name(), summary.join(", "));
    ResultRow {
        name: case.name.clone(),
        dtype: dtype.name().to_string(),
        cells,
    }
}

/// Runs the benchmarks `cli` selects and writes the reports; `args` is the command line
/// as given (recorded in the report).
pub fn run(cli: &Cli, args: Vec<String>) -> Result<Written, String> {
    let date = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let opened = devices::open(&cli.backend_names(), &cli.plugins)?;
    let subjects = &opened.subjects;
    let baseline = match &cli.baseline {
        Some(b) if subjects.iter().any(|s| s.label() == b) => b.clone(),
        Some(b) => {
            let labels: Vec<&str> = subjects.iter().map(|s| s.label()).collect();
            return Err(format!(
                "--baseline {b}: no such device (measured: {})",
                labels.join(", ")
            ));
        }
        None => subjects[0].label().to_string(),
    };
    let all = cases::all();
    let selected: Vec<(usize, &Case)> = all
        .iter()
        .enumerate()
        .filter(|(_, c)| cli.wanted(&c.name))
        .collect();
    if selected.is_empty() {
        return Err(format!(
            "--only {} selects no benchmark (see --list)",
            cli.only.join(", ")
        ));
    }
    let dtypes = cli.dtypes();
    let reps = Reps::new(cli.quick, cli.budget_ms);
    for s in subjects {
        eprintln!("device {}: {} ({})", s.label(), s.device_name(), s.origin());
    }

    let mut results = Vec::new();
    for &dt in &dtypes {
        for &(index, case) in &selected {
            results.push(measure_case(subjects, case, index, dt, reps));
        }
    }

    let mut profiles = Vec::new();
    if cli.profile && !cli.wanted(STEP) {
        eprintln!("--profile: the training step is not selected (--only), nothing to profile");
    }
    if cli.profile && cli.wanted(STEP) {
        let (index, step) = all
            .iter()
            .enumerate()
            .find(|(_, c)| matches!(c.work, Work::Step))
            .ok_or("no training step case")?;
        for &dt in &dtypes {
            let lanes = subjects
                .iter()
                .map(|s| {
                    s.prepare(step, dt, seed(index, dt)).map_err(|o| match o {
                        Outcome::Failed(e) => e,
                        Outcome::Unsupported => "unsupported".to_string(),
                        Outcome::Timed(_) => String::new(),
                    })
                })
                .collect();
            let step_row = results
                .iter()
                .find(|r: &&ResultRow| r.name == STEP && r.dtype == dt.name());
            let cells = subjects
                .iter()
                .zip(profiled(lanes, reps))
                .enumerate()
                .map(|(k, (s, p))| {
                    let step_ms = step_row
                        .and_then(|r| r.cells.get(k))
                        .and_then(|c| c.stats.as_ref())
                        .map(|st| st.median_ms);
                    ProfileCell::new(s.label(), p, step_ms)
                })
                .collect();
            eprintln!("profiled the training step in {}", dt.name());
            profiles.push(ProfileRow {
                dtype: dt.name().to_string(),
                devices: cells,
            });
        }
    }

    let mut anchor_list = Vec::new();
    if cli.no_anchors {
        eprintln!("anchors: not run (--no-anchors)");
    } else {
        let setup = Setup {
            python: cli.python.clone(),
            threads: cli.anchor_threads,
            reps,
        };
        if dtypes.contains(&neurokern_core::FloatType::F32) {
            anchor_list.push(anchors::numpy(&setup, |n| cli.wanted(n)));
        }
        if cli.wanted(STEP) {
            anchor_list.push(anchors::jax(&setup, &dtypes));
        }
        anchor_list.push(anchors::seed());
        for a in &anchor_list {
            if !a.ran {
                eprintln!("anchor {}: not run: {}", a.name, a.detail);
            }
        }
    }

    let mut report = Report {
        date,
        tool: format!("nk-bench {}", env!("CARGO_PKG_VERSION")),
        args,
        baseline,
        devices: subjects
            .iter()
            .map(|s| DeviceRow {
                label: s.label().to_string(),
                device: s.device_name().to_string(),
                origin: s.origin().to_string(),
            })
            .collect(),
        skipped: opened.skipped.clone(),
        results,
        profiles,
        anchors: anchor_list,
    };
    report.compute_ratios();

    let name = cli.name.clone().unwrap_or_else(|| {
        let labels: Vec<&str> = subjects.iter().map(|s| s.label()).collect();
        labels.join("-vs-")
    });
    let name = file_name(&name);
    std::fs::create_dir_all(&cli.out).map_err(|e| format!("{}: {e}", cli.out.display()))?;
    let json = cli.out.join(format!("{name}.json"));
    let markdown = cli.out.join(format!("{name}.md"));
    let text = serde_json::to_string_pretty(&report).map_err(|e| format!("the report: {e}"))?;
    std::fs::write(&json, text + "\n").map_err(|e| format!("{}: {e}", json.display()))?;
    std::fs::write(&markdown, report.markdown())
        .map_err(|e| format!("{}: {e}", markdown.display()))?;
    Ok(Written {
        json,
        markdown,
        report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_plain() {
        assert_eq!(file_name("opencl-vs-before"), "opencl-vs-before");
        assert_eq!(file_name("opencl:1/x y"), "opencl_1_x_y");
    }

    #[test]
    fn seeds_differ_between_cases_and_dtypes() {
        use neurokern_core::FloatType::{F16, F32};
        assert_ne!(seed(0, F32), seed(1, F32));
        assert_ne!(seed(0, F32), seed(0, F16));
    }
}
