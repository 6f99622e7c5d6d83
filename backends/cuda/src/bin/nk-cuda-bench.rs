//! GEMM and rowwise timings of the CUDA backend at Hopper-sized shapes, for the side by
//! side with PyTorch in the GPU bundle (`cargo xtask gpu-bundle`): the bundle's
//! `torch_bench.py` reads this binary's JSON and times the same cases with `torch`.
//!
//! ```text
//! nk-cuda-bench [--backend cuda|sim] [--smoke] --json PATH
//! ```
//! `sim` is the GPU skeleton's simulated device, in process: the same lowering and
//! skeleton without a GPU (with `--smoke`, small shapes), to test this binary anywhere.
//! Each case: one warm-up call (which also compiles the kernels), then 5 batches of calls,
//! each batch timed to the device's synchronize; the median batch gives the time per call.

use std::process::ExitCode;
use std::time::Instant;

use neurokern_core::op::{Gelu, LayerNorm, MatMul, Softmax};
use neurokern_core::{Backend, FloatType, Op};
use neurokern_gpu::sim::SimDevice;
use neurokern_gpu::GpuBackend;
use serde::Serialize;

/// One measured case.
#[derive(Debug, Serialize)]
struct Case {
    /// `matmul`, `softmax`, `layer_norm`, `gelu`.
    op: &'static str,
    /// `f32` or `f16`.
    dtype: &'static str,
    /// The shape: matmul `[b, m, k, n]`, rowwise `[rows, len]`, gelu `[n]`.
    dims: Vec<usize>,
    /// Median time per call, ms.
    ms: f64,
    /// Fastest batch's time per call, ms.
    ms_min: f64,
    /// GEMMs: 2·b·m·k·n / time, in GFLOP/s.
    gflops: Option<f64>,
    /// Bytes of every operand read or written once / time, in GB/s.
    gbs: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    backend: String,
    device: String,
    cases: Vec<Case>,
}

fn cases(smoke: bool) -> Vec<(Op, &'static str, Vec<usize>)> {
    let gemms: &[[usize; 4]] = if smoke {
        &[[1, 64, 48, 80], [1, 128, 128, 128]]
    } else {
        &[
            [1, 4096, 128, 384],
            [1, 1024, 1024, 1024],
            [1, 4096, 4096, 4096],
            [1, 8192, 8192, 8192],
        ]
    };
    let rows: &[[usize; 2]] = if smoke {
        &[[64, 96]]
    } else {
        &[[4096, 96], [16384, 1024], [4096, 32768]]
    };
    let mut v = Vec::new();
    for &[b, m, k, n] in gemms {
        v.push((Op::from(MatMul { b, m, k, n }), "matmul", vec![b, m, k, n]));
    }
    for &[r, len] in rows {
        v.push((Op::from(Softmax { rows: r, len }), "softmax", vec![r, len]));
        let ln = LayerNorm {
            rows: r,
            len,
            eps: 1e-5,
            affine: true,
        };
        v.push((Op::from(ln), "layer_norm", vec![r, len]));
    }
    let n = if smoke { 4096 } else { 1 << 24 };
    v.push((Op::from(Gelu { n }), "gelu", vec![n]));
    v
}

fn measure<B: Backend>(be: &B, op: &Op, dtype: FloatType) -> Result<(f64, f64, f64), String> {
    let specs = op.operands().map_err(|e| e.to_string())?;
    let mut bufs = Vec::new();
    let mut bytes = 0usize;
    for (i, s) in specs.as_slice().iter().enumerate() {
        if !s.present {
            bufs.push(None);
            continue;
        }
        let elem = s.elem.resolve(dtype);
        let buf = be.alloc(elem, s.len).map_err(|e| e.to_string())?;
        // Values in [-1, 1): any data will do for timings, but not all zeros.
        let data: Vec<u8> = (0..s.len * elem.size())
            .map(|j| if j % 2 == 1 { 0x3c } else { (j * 7 + i) as u8 })
            .collect();
        be.write(&buf, &data).map_err(|e| e.to_string())?;
        bytes += s.len * elem.size();
        bufs.push(Some(buf));
    }
    let args: Vec<Option<&B::Buffer>> = bufs.iter().map(Option::as_ref).collect();
    let run = |n: usize| -> Result<f64, String> {
        let t = Instant::now();
        for _ in 0..n {
            be.run(op, dtype, &args).map_err(|e| e.to_string())?;
        }
        be.synchronize().map_err(|e| e.to_string())?;
        Ok(t.elapsed().as_secs_f64() * 1e3 / n as f64)
    };
    run(1)?;
    let once = run(1)?.max(1e-3);
    let per_batch = ((100.0 / once) as usize).clamp(1, 200);
    let mut times: Vec<f64> = (0..5).map(|_| run(per_batch)).collect::<Result<_, _>>()?;
    times.sort_by(f64::total_cmp);
    Ok((times[2], times[0], bytes as f64))
}

fn bench<B: Backend>(be: &B, backend: &str, smoke: bool) -> Result<Report, String> {
    let mut out = Vec::new();
    for dtype in [FloatType::F32, FloatType::F16] {
        for (op, name, dims) in cases(smoke) {
            let (ms, ms_min, bytes) = measure(be, &op, dtype)?;
            let gflops = (name == "matmul").then(|| {
                let flops = 2.0 * dims.iter().product::<usize>() as f64;
                flops / (ms * 1e6)
            });
            let dt = if dtype == FloatType::F32 {
                "f32"
            } else {
                "f16"
            };
            eprintln!("{name:<11} {dt} {dims:?}: {ms:.3} ms");
            out.push(Case {
                op: name,
                dtype: dt,
                dims,
                ms,
                ms_min,
                gflops,
                gbs: bytes / (ms * 1e6),
            });
        }
    }
    Ok(Report {
        backend: backend.to_string(),
        device: be.device_name().to_string(),
        cases: out,
    })
}

fn main() -> ExitCode {
    let mut backend = "cuda".to_string();
    let mut smoke = false;
    let mut json = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--backend" => backend = args.next().unwrap_or_default(),
            "--smoke" => smoke = true,
            "--json" => json = args.next(),
            other => {
                eprintln!("nk-cuda-bench: unexpected `{other}`; usage: [--backend cuda|sim] [--smoke] --json PATH");
                return ExitCode::FAILURE;
            }
        }
    }
    let report = match backend.as_str() {
        "cuda" => neurokern_backend_cuda::open(0)
            .map_err(|e| e.to_string())
            .and_then(|be| bench(&be, "cuda", smoke)),
        "sim" => bench(&GpuBackend::new(SimDevice::new()), "sim", smoke),
        other => Err(format!("unknown backend `{other}` (cuda or sim)")),
    };
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            eprintln!("nk-cuda-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let text = serde_json::to_string_pretty(&report).unwrap_or_default();
    match json {
        Some(p) => {
            if let Err(e) = std::fs::write(&p, text) {
                eprintln!("nk-cuda-bench: {p}: {e}");
                return ExitCode::FAILURE;
            }
        }
        None => println!("{text}"),
    }
    ExitCode::SUCCESS
}
