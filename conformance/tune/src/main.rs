//! `nk-tune`: tunes an OpenCL device and stores the plan where the backend finds it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use neurokern_backend_opencl::tuned::{self, Cache, Lookup, Plan};
use neurokern_backend_opencl::{devices, DeviceSelector, OpenClBackend, OpenClDevice};
use neurokern_bench::anchors;
use neurokern_bench::measure::Reps;
use neurokern_bench::subject::{bench, Subject};
use neurokern_conformance::cases::Tier;
use neurokern_core::FloatType;
use neurokern_tune::classes::{self, DEFAULT_CASES};
use neurokern_tune::opencl::OpenCl;
use neurokern_tune::{tune, Options};

#[derive(Parser, Debug)]
#[command(
    name = "nk-tune",
    about = "Tunes the OpenCL kernels of a device and caches the plan"
)]
struct Cli {
    /// The device: an index or a name fragment (default: the backend's default device).
    #[arg(long)]
    device: Option<String>,
    /// Seconds the search may take.
    #[arg(long, default_value_t = 600)]
    budget: u64,
    /// The cache file (default: NEUROKERN_TUNE_CACHE, else the per-user cache directory).
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Start from the default plan only, ignoring what the cache knows.
    #[arg(long)]
    cold: bool,
    /// nk-bench case names to tune for (repeatable; default: the seed's GEMM shapes, the
    /// 1024³ matmul and softmax).
    #[arg(long = "case")]
    cases: Vec<String>,
    /// Storage types (default: f32 and f16).
    #[arg(long, value_delimiter = ',')]
    dtype: Vec<String>,
    /// Fewer repetitions per race (noisier).
    #[arg(long)]
    quick: bool,
    /// Print whether each OpenCL device is tuned, and with what; tune nothing.
    #[arg(long)]
    status: bool,
    /// Time the default plan, the cached plan and numpy (OpenBLAS) side by side; tune nothing.
    #[arg(long)]
    compare: bool,
    /// Threads numpy may use in --compare.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// The Python with numpy for --compare.
    #[arg(long, default_value = "python3")]
    python: String,
}

fn cache_path(cli: &Cli) -> Option<PathBuf> {
    cli.cache.clone().or_else(tuned::cache_path)
}

fn status(cli: &Cli) -> Result<(), String> {
    let path = cache_path(cli);
    let cache = match &path {
        Some(p) => Cache::load(p)?,
        None => Cache::default(),
    };
    let shown = path
        .as_ref()
        .map_or("off".to_string(), |p| p.display().to_string());
    println!("OpenCL tuning cache: {shown}");
    for d in devices().map_err(|e| e.to_string())? {
        let what = match cache.lookup(&d) {
            Lookup::Fresh(e) => format!(
                "tuned: {}{} ({} classes, {:.0} s)",
                e.plan,
                if e.plan == Plan::default_for(&d) {
                    " (the default kept: nothing beat it)"
                } else {
                    ""
                },
                e.classes.len(),
                e.tuning_s
            ),
            Lookup::Stale(e, why) => format!("stale, default used ({why}; was {})", e.plan),
            Lookup::Missing => format!("not tuned: default {}", Plan::default_for(&d)),
        };
        println!("  #{} {} / {}: {what}", d.index, d.platform, d.name);
    }
    Ok(())
}

fn run(cli: &Cli) -> Result<(), String> {
    if cli.status {
        return status(cli);
    }
    let sel = cli
        .device
        .as_deref()
        .map_or(DeviceSelector::Default, DeviceSelector::parse);
    let info = neurokern_backend_opencl::device::select(&sel).map_err(|e| e.to_string())?;
    let names: Vec<String> = if cli.cases.is_empty() {
        DEFAULT_CASES.iter().map(|s| s.to_string()).collect()
    } else {
        cli.cases.clone()
    };
    let dtypes: Vec<FloatType> = if cli.dtype.is_empty() {
        FloatType::ALL.to_vec()
    } else {
        cli.dtype
            .iter()
            .map(|d| match d.as_str() {
                "f32" => Ok(FloatType::F32),
                "f16" => Ok(FloatType::F16),
                o => Err(format!("--dtype: `{o}` is not f32 or f16")),
            })
            .collect::<Result<_, _>>()?
    };
    let classes = classes::select(&names, &dtypes)?;
    let reps = if cli.quick {
        Reps {
            min: 3,
            max: 8,
            budget: Duration::from_millis(120),
        }
    } else {
        Reps {
            min: 5,
            max: 30,
            budget: Duration::from_millis(400),
        }
    };
    let cache = cache_path(cli);
    if cli.compare {
        return compare(cli, &info, classes, reps, cache.as_deref());
    }
    eprintln!(
        "nk-tune: {} / {} (driver {}), {} classes, budget {} s",
        info.platform,
        info.name,
        info.driver_version,
        classes.len(),
        cli.budget
    );
    let report = tune(
        &info,
        cache.as_deref(),
        Options {
            classes,
            budget: Duration::from_secs(cli.budget),
            reps,
            tier: Tier::Typical,
            warm: !cli.cold,
            fail: None,
            verbose: true,
        },
    )?;
    let o = &report.outcome;
    println!(
        "{} start, {} rounds, {} plans timed, {} rejected, {:.1} s",
        if report.warm_started { "warm" } else { "cold" },
        o.rounds,
        o.timed.len(),
        o.rejected.len(),
        o.elapsed.as_secs_f64()
    );
    for r in &o.rejected {
        println!(
            "  rejected {}: {}",
            r.plan,
            r.why.lines().next().unwrap_or("")
        );
    }
    if let Some(r) = o.confirmed {
        println!("confirmation race, winner against the default: ×{r:.3} of its time");
    }
    println!("default: {}", o.default.plan);
    println!(
        "winner:  {} (time ×{:.3} of the default's)",
        o.best.plan, o.best.score
    );
    println!(
        "(default and winner times come from different races; --compare times them side by side)"
    );
    println!(
        "{:<48} {:>10} {:>10} {:>7}",
        "class", "default", "winner", "ratio"
    );
    for (c, r) in &report.entry.classes {
        println!(
            "{c:<48} {:>8.2}ms {:>8.2}ms {:>7.2}",
            r.default_ms,
            r.plan_ms,
            r.default_ms / r.plan_ms
        );
    }
    if let Some(p) = &cache {
        println!("cached in {}", p.display());
    }
    Ok(())
}

/// Default vs cached plan vs numpy, side by side in one run.
fn compare(
    cli: &Cli,
    info: &neurokern_backend_opencl::DeviceInfo,
    classes: Vec<neurokern_tune::classes::Class>,
    reps: Reps,
    cache: Option<&std::path::Path>,
) -> Result<(), String> {
    let default = Plan::default_for(info);
    let tuned_plan = cache
        .and_then(|p| tuned::plan_from(p, info))
        .ok_or("no fresh tuned plan in the cache: run nk-tune first")?;
    let ev = OpenCl::new(info.clone(), classes.clone(), reps, Tier::Edge);
    let open = |plan: &Plan, label: &str| -> Result<Box<dyn Subject>, String> {
        let dev = OpenClDevice::from_info(info.clone()).map_err(|e| e.to_string())?;
        let dev = plan.apply(dev);
        dev.warm_up().map_err(|e| e.to_string())?;
        Ok(bench(label, "in process", OpenClBackend::new(dev)))
    };
    let (d, t) = (open(&default, "default")?, open(&tuned_plan, "tuned")?);
    let times = ev.time(&[d.as_ref(), t.as_ref()])?;
    let setup = anchors::Setup {
        python: cli.python.clone(),
        threads: cli.threads,
        reps,
    };
    let wanted: Vec<String> = classes.iter().map(|c| c.case.name.clone()).collect();
    let np = anchors::numpy(&setup, |n| wanted.iter().any(|w| w == n));
    println!("default: {default}\ntuned:   {tuned_plan}");
    println!("numpy: {}", np.detail);
    println!(
        "{:<48} {:>9} {:>9} {:>9} {:>8} {:>8}",
        "class", "default", "tuned", "numpy", "tun/def", "np/tun"
    );
    for c in &classes {
        let name = c.name();
        let ms = &times[&name];
        let npms = np
            .results
            .iter()
            .find(|r| r.name == c.case.name)
            .map(|r| r.median_ms);
        println!(
            "{name:<48} {:>7.2}ms {:>7.2}ms {:>9} {:>8.2} {:>8}",
            ms[0],
            ms[1],
            npms.map_or("-".into(), |v| format!("{v:.2}ms")),
            ms[0] / ms[1],
            npms.map_or("-".into(), |v| format!("{:.2}", v / ms[1]))
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nk-tune: {e}");
            ExitCode::FAILURE
        }
    }
}
