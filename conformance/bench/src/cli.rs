//! The command line.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use neurokern_core::FloatType;

/// Per-op timings at the seed model's shapes and the seed model's training step, on every
/// selected device side by side (interleaved repetitions; medians, spread, ratios against
/// a baseline), with anchors (OpenBLAS through numpy, the step in JAX/XLA) where the
/// machine has them. Writes `<out>/<name>.json` and `<out>/<name>.md`.
#[derive(Debug, Parser)]
#[command(name = "nk-bench", version)]
pub struct Cli {
    /// Devices to measure, by backend name: `reference` (in process), `sim` (the simulated
    /// GPU, in process), a plugin the host discovers (`cpu`, `opencl`, `opencl:1`,
    /// `builtin`), or `all` (reference, sim and every discovered plugin device). Repeat
    /// or separate with commas. Default: `all`, unless `--plugin` is given.
    #[arg(long = "backend", value_name = "NAME", value_delimiter = ',')]
    pub backends: Vec<String>,

    /// A plugin file to load and measure (its device 0), as `LABEL=PATH` or `PATH` (then
    /// labelled `<plugin>@<n>`). Repeatable: two builds of one plugin compare in one run.
    #[arg(long = "plugin", value_name = "[LABEL=]PATH", value_parser = parse_plugin)]
    pub plugins: Vec<PluginArg>,

    /// The device the ratios are against (a label); default: the first.
    #[arg(long, value_name = "LABEL")]
    pub baseline: Option<String>,

    /// Only the benchmarks whose name contains one of these (repeatable).
    #[arg(long, value_name = "SUBSTRING")]
    pub only: Vec<String>,

    /// Element types to measure (repeatable); default: both.
    #[arg(long, value_enum)]
    pub dtype: Vec<Dtype>,

    /// Fewer repetitions (at least 3, up to 20 within 300 ms a case).
    #[arg(long)]
    pub quick: bool,

    /// Time budget of one case, all devices together, in ms (more rounds while under it).
    #[arg(long, value_name = "MS")]
    pub budget_ms: Option<u64>,

    /// Also profile the training step: the time of each op inside it (synchronized after
    /// each), and the step's total against the sum of its ops.
    #[arg(long)]
    pub profile: bool,

    /// Directory of the reports.
    #[arg(long, value_name = "DIR", default_value = "target/bench")]
    pub out: PathBuf,

    /// The reports' file name (without extension); default: the device labels.
    #[arg(long)]
    pub name: Option<String>,

    /// Run no anchor.
    #[arg(long)]
    pub no_anchors: bool,

    /// The Python interpreter of the anchors.
    #[arg(long, value_name = "PATH", default_value = "python3")]
    pub python: String,

    /// Threads the anchors may use (OpenBLAS, XLA).
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub anchor_threads: usize,

    /// List the benchmarks and the devices found, and measure nothing.
    #[arg(long)]
    pub list: bool,
}

/// An element type on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Dtype {
    /// 32-bit floats.
    F32,
    /// 16-bit floats (storage; arithmetic in f32).
    F16,
}

impl From<Dtype> for FloatType {
    fn from(d: Dtype) -> Self {
        match d {
            Dtype::F32 => FloatType::F32,
            Dtype::F16 => FloatType::F16,
        }
    }
}

/// A `--plugin` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginArg {
    /// The label given, if any.
    pub label: Option<String>,
    /// The plugin file.
    pub path: PathBuf,
}

/// `LABEL=PATH` or `PATH`. A `=` inside the file's own name (after the last `/`) is part
/// of the path only when nothing before it could be a label, i.e. a label has no `/`.
fn parse_plugin(s: &str) -> Result<PluginArg, String> {
    let (label, path) = match s.split_once('=') {
        Some((l, p)) if !l.contains('/') => (Some(l), p),
        _ => (None, s),
    };
    if label.is_some_and(str::is_empty) {
        return Err("the label before `=` is empty".into());
    }
    if path.is_empty() {
        return Err("no plugin path".into());
    }
    Ok(PluginArg {
        label: label.map(String::from),
        path: PathBuf::from(path),
    })
}

impl Cli {
    /// The element types to measure, in report order.
    pub fn dtypes(&self) -> Vec<FloatType> {
        if self.dtype.is_empty() {
            FloatType::ALL.to_vec()
        } else {
            FloatType::ALL
                .iter()
                .copied()
                .filter(|t| self.dtype.iter().any(|d| FloatType::from(*d) == *t))
                .collect()
        }
    }

    /// Whether the benchmark called `name` is selected by `--only`.
    pub fn wanted(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| name.contains(s.as_str()))
    }

    /// The backend names to open: `--backend`, or `all` when neither it nor `--plugin`
    /// names anything.
    pub fn backend_names(&self) -> Vec<String> {
        if self.backends.is_empty() && self.plugins.is_empty() {
            vec!["all".to_string()]
        } else {
            self.backends.clone()
        }
    }
}
