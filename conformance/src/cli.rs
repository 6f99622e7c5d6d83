//! The `conformance` command line.

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use neurokern_core::{FloatType, OpKind};

use crate::cases::Tier;
use crate::devices::{self, Discovery};
use crate::report::Report;
use crate::suite::{self, Filter};

/// Runs the neurokern conformance suite: every op, every dtype, on every device found,
/// against the reference, within bounds derived from the arithmetic.
#[derive(Debug, Parser)]
#[command(name = "conformance")]
pub struct Args {
    /// Only these backends (`reference`, `cpu`, `opencl`, …); repeatable.
    #[arg(long = "backend", value_name = "NAME")]
    pub backends: Vec<String>,
    /// Only these ops (`matmul`, `softmax`, …); repeatable.
    #[arg(long = "op", value_name = "OP")]
    pub ops: Vec<String>,
    /// Only these dtypes (`f32`, `f16`); repeatable.
    #[arg(long = "dtype", value_name = "DTYPE")]
    pub dtypes: Vec<String>,
    /// Only this case (`op/dtype/variant`, as printed); repeatable.
    #[arg(long = "case", value_name = "ID")]
    pub cases: Vec<String>,
    /// Leave out the seed model's full-size cases.
    #[arg(long)]
    pub quick: bool,
    /// Where `report.json` and `report.md` go (default: `target/conformance` of the
    /// workspace).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// List the selected cases with their seeds, run nothing.
    #[arg(long)]
    pub list: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// The workspace's `target/conformance`, found from this crate's manifest directory.
pub fn default_out() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map_or(manifest.clone(), PathBuf::from)
        .join("target")
        .join("conformance")
}

impl Args {
    /// The case filter these arguments select.
    pub fn filter(&self) -> Result<Filter, String> {
        let ops = self
            .ops
            .iter()
            .map(|o| {
                OpKind::from_name(o).ok_or_else(|| {
                    let all: Vec<&str> = OpKind::ALL.iter().map(|k| k.name()).collect();
                    format!("unknown op `{o}`; the ops are: {}", all.join(", "))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let dtypes = self
            .dtypes
            .iter()
            .map(|d| {
                FloatType::from_name(d).ok_or_else(|| {
                    let all: Vec<&str> = FloatType::ALL.iter().map(|t| t.name()).collect();
                    format!("unknown dtype `{d}`; the dtypes are: {}", all.join(", "))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Filter {
            ops,
            dtypes,
            cases: self.cases.clone(),
            max_tier: self.quick.then_some(Tier::Typical),
        })
    }
}

/// Runs the suite as the command line asks; `Ok(true)` when everything passed.
pub fn run(args: &Args) -> Result<bool, String> {
    let filter = args.filter()?;
    let cases = suite::select(&filter);
    if cases.is_empty() {
        return Err("no case matches the filters".into());
    }
    if args.list {
        for c in &cases {
            println!("{:<60} seed {:#018x}  {}", c.id, c.seed, c.tier.name());
        }
        return Ok(true);
    }
    let t0 = Instant::now();
    let wanted = |b: &str| args.backends.is_empty() || args.backends.iter().any(|x| x == b);
    if wanted("opencl") || wanted("opencl-inprocess") {
        // Opening an OpenCL device builds its kernels; on PoCL the first build takes tens
        // of seconds with nothing else on screen.
        eprintln!(
            "note: an OpenCL device builds its kernels when it is opened (about 25 s on \
             PoCL on a first run; the driver caches them after)"
        );
    }
    let Discovery {
        devices: mut found,
        mut skipped,
    } = devices::discover();
    let mut backends: Vec<String> = found.iter().map(|d| d.backend().to_string()).collect();
    backends.extend(skipped.iter().map(|s| s.backend.clone()));
    backends.dedup();
    found.retain(|d| wanted(d.backend()));
    skipped.retain(|s| wanted(&s.backend));
    let required = devices::required();
    let missing: Vec<String> = required
        .iter()
        .filter(|r| !found.iter().any(|d| d.backend().eq_ignore_ascii_case(r)))
        .cloned()
        .collect();
    for s in &skipped {
        eprintln!("skipping `{}`: {}", s.backend, s.reason);
    }
    if found.is_empty() {
        if skipped.is_empty() {
            return Err(format!(
                "no device of backend {} was found; the backends found are: {}",
                args.backends
                    .iter()
                    .map(|b| format!("`{b}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                backends.join(", ")
            ));
        }
        return Err("no device to run on (see the skipped devices above)".into());
    }
    eprintln!(
        "running {} cases on {}",
        cases.len(),
        found
            .iter()
            .map(|d| format!("{} ({})", d.id(), d.name()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let results = suite::run_all(&found, &cases, args.quiet);
    let report = Report::new(
        found
            .iter()
            .map(|d| format!("{}: {}", d.id(), d.name()))
            .collect(),
        skipped,
        missing,
        t0.elapsed().as_secs_f64(),
        results,
    );
    print!("{}", report.table());
    for c in report
        .cases
        .iter()
        .filter(|c| c.status == suite::Status::Fail)
    {
        eprintln!(
            "FAIL {} on {} (seed {}): {}",
            c.id,
            c.device_id,
            c.seed,
            c.message.as_deref().unwrap_or("")
        );
        for f in c.failures.iter().take(3) {
            eprintln!(
                "    {}[{}]: expected {}, got {}, bound {}; {}",
                f.operand, f.index, f.expected, f.got, f.bound, f.inputs
            );
        }
    }
    print!("{}", report.totals_text());
    let out = args.out.clone().unwrap_or_else(default_out);
    report
        .write(&out)
        .map_err(|e| format!("writing the report to {}: {e}", out.display()))?;
    println!(
        "report: {} and {}",
        out.join("report.json").display(),
        out.join("report.md").display()
    );
    Ok(report.passed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_op_or_dtype_lists_the_valid_ones() {
        let args = Args::try_parse_from(["conformance", "--op", "nonsense"]).unwrap();
        let err = args.filter().unwrap_err();
        assert!(err.contains("unknown op `nonsense`"), "{err}");
        for k in OpKind::ALL {
            assert!(err.contains(k.name()), "{err}");
        }
        let args = Args::try_parse_from(["conformance", "--dtype", "bf16"]).unwrap();
        let err = args.filter().unwrap_err();
        assert!(err.contains("f32") && err.contains("f16"), "{err}");
    }
}
