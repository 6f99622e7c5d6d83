//! Anchors: what a user would run instead, measured in the same run so that ratios, not
//! absolute times from different days, are compared. Each is optional: a missing Python,
//! numpy or JAX is reported, never an error.
//!
//! * `numpy`: OpenBLAS (or the BLAS numpy links) on the plain f32 GEMM shapes of the
//!   cases (`anchors/numpy_gemm.py`), with `--anchor-threads` threads.
//! * `jax`: the seed model's training step in JAX, compiled by XLA for the CPU
//!   (`anchors/jax_step.py`), per dtype.
//! * `seed`: the seed driver's figures, recorded once on another machine: orders of
//!   magnitude only.

use std::io::Write;
use std::process::{Command, Stdio};

use neurokern_core::FloatType;
use serde::{Deserialize, Serialize};

use crate::cases::{self, STEP};
use crate::measure::Reps;

const NUMPY_GEMM: &str = include_str!("../anchors/numpy_gemm.py");
const JAX_STEP: &str = include_str!("../anchors/jax_step.py");

/// The seed driver's figures (f32, ms) on the machine it was measured on.
const SEED: &[(&str, f64)] = &[
    ("hebbian_update 4096x384x384", 1320.0),
    ("matmul_backward 4096x128x384", 267.0),
    ("dynamic_token_assignment 4096x384 T=384", 285.0),
    ("matmul 1024x1024x1024", 1780.0),
    (STEP, 2050.0),
];

/// One anchor's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Anchor {
    /// `"numpy"`, `"jax"`, `"seed"`.
    pub name: String,
    /// What ran (versions, BLAS, threads), or why it did not.
    pub detail: String,
    /// Whether it ran.
    pub ran: bool,
    /// Its times: one per benchmark it covers.
    pub results: Vec<AnchorTime>,
}

/// An anchor's time for one benchmark.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AnchorTime {
    /// The benchmark (a case name of nk-bench).
    pub name: String,
    /// `"f32"` or `"f16"`.
    #[serde(default = "f32_name")]
    pub dtype: String,
    /// Median ms.
    pub median_ms: f64,
    /// Best ms.
    pub best_ms: f64,
    /// Repetitions.
    pub reps: usize,
}

fn f32_name() -> String {
    FloatType::F32.name().to_string()
}

/// How to run the anchors.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The Python interpreter.
    pub python: String,
    /// Threads they may use.
    pub threads: usize,
    /// Repetitions.
    pub reps: Reps,
}

impl Setup {
    fn command(&self) -> Command {
        let mut c = Command::new(&self.python);
        let t = self.threads.max(1).to_string();
        for var in ["OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"] {
            c.env(var, &t);
        }
        c
    }

    /// `Err(why)` when `python -c "import MODULE"` fails.
    fn has_module(&self, module: &str) -> Result<(), String> {
        let out = self
            .command()
            .args(["-c", &format!("import {module}")])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("`{}` cannot be started: {e}", self.python))?;
        if out.status.success() {
            Ok(())
        } else {
            let err = String::from_utf8_lossy(&out.stderr);
            let last = err.lines().last().unwrap_or("").trim();
            Err(format!(
                "`{} -c \"import {module}\"` failed: {last}",
                self.python
            ))
        }
    }

    /// Runs `script` with `args`, feeding `input` on stdin; its stdout parsed as JSON.
    fn run_json<T: serde::de::DeserializeOwned>(
        &self,
        script: &str,
        args: &[String],
        input: &str,
    ) -> Result<T, String> {
        let mut child = self
            .command()
            .arg("-c")
            .arg(script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("`{}` cannot be started: {e}", self.python))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(input.as_bytes())
                .map_err(|e| format!("writing the request: {e}"))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| format!("waiting for the script: {e}"))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let last = err.lines().last().unwrap_or("").trim();
            return Err(format!("the script failed ({}): {last}", out.status));
        }
        serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("its output is not the JSON expected: {e}"))
    }
}

fn not_run(name: &str, why: String) -> Anchor {
    Anchor {
        name: name.into(),
        detail: why,
        ran: false,
        results: Vec::new(),
    }
}

#[derive(Serialize)]
struct GemmRequest {
    gemms: Vec<(String, usize, usize, usize, usize)>,
    min_reps: usize,
    max_reps: usize,
    budget_s: f64,
}

#[derive(Deserialize)]
struct GemmReply {
    numpy: String,
    blas: serde_json::Value,
    results: Vec<AnchorTime>,
}

/// OpenBLAS through numpy on the GEMM cases `wanted` selects (f32 only).
pub fn numpy(setup: &Setup, wanted: impl Fn(&str) -> bool) -> Anchor {
    const NAME: &str = "numpy";
    if let Err(why) = setup.has_module("numpy") {
        return not_run(NAME, why);
    }
    let gemms: Vec<_> = cases::anchor_gemms()
        .into_iter()
        .filter(|g| wanted(&g.0))
        .collect();
    if gemms.is_empty() {
        return not_run(NAME, "no GEMM benchmark selected".into());
    }
    let req = GemmRequest {
        gemms,
        min_reps: setup.reps.min,
        max_reps: setup.reps.max,
        budget_s: setup.reps.budget.as_secs_f64(),
    };
    let input = match serde_json::to_string(&req) {
        Ok(s) => s,
        Err(e) => return not_run(NAME, format!("request: {e}")),
    };
    match setup.run_json::<GemmReply>(NUMPY_GEMM, &[], &input) {
        Ok(r) => Anchor {
            name: NAME.into(),
            detail: format!(
                "numpy {} with {} threads; BLAS: {}",
                r.numpy, setup.threads, r.blas
            ),
            ran: true,
            results: r.results,
        },
        Err(why) => not_run(NAME, why),
    }
}

#[derive(Deserialize)]
struct JaxReply {
    jax: String,
    platform: String,
    median_ms: f64,
    best_ms: f64,
    reps: usize,
    compile_s: f64,
}

/// The training step in JAX/XLA, for each of `dtypes`.
pub fn jax(setup: &Setup, dtypes: &[FloatType]) -> Anchor {
    const NAME: &str = "jax";
    if let Err(why) = setup.has_module("jax") {
        return not_run(NAME, why);
    }
    let mut results = Vec::new();
    let mut details = Vec::new();
    for &dt in dtypes {
        let args: Vec<String> = [
            "--t",
            "72",
            "--dtype",
            dt.name(),
            "--samples",
            &setup.reps.min.max(10).to_string(),
            "--threads",
            &setup.threads.to_string(),
            "--json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        match setup.run_json::<JaxReply>(JAX_STEP, &args, "") {
            Ok(r) => {
                details.push(format!(
                    "{}: jax {} on {} ({} threads, compile {:.1} s)",
                    dt.name(),
                    r.jax,
                    r.platform,
                    setup.threads,
                    r.compile_s
                ));
                results.push(AnchorTime {
                    name: STEP.into(),
                    dtype: dt.name().into(),
                    median_ms: r.median_ms,
                    best_ms: r.best_ms,
                    reps: r.reps,
                });
            }
            Err(why) => details.push(format!("{}: {why}", dt.name())),
        }
    }
    Anchor {
        name: NAME.into(),
        detail: details.join("; "),
        ran: !results.is_empty(),
        results,
    }
}

/// The seed driver's recorded figures.
pub fn seed() -> Anchor {
    Anchor {
        name: "seed".into(),
        detail: "the seed driver's f32 figures, recorded once on another machine: orders of \
                 magnitude, not a same-run comparison"
            .into(),
        ran: true,
        results: SEED
            .iter()
            .map(|&(name, ms)| AnchorTime {
                name: name.into(),
                dtype: f32_name(),
                median_ms: ms,
                best_ms: ms,
                reps: 1,
            })
            .collect(),
    }
}
