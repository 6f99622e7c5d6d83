//! `nk-bench`: timings of the OpenCL backend, per op and dtype (time, GFLOP/s or GB/s), and
//! of the seed model's full training step. Run through `cargo xtask bench --backend opencl`
//! (release mode); prints a table and writes JSON (`--json PATH`).
//!
//! Options: `--backend opencl` (the only one here), `--device SEL` (index or name
//! fragment), `--gemm MR,NV,NR` (GEMM tile), `--json PATH`, `--quick` (fewer repetitions),
//! `--only SUBSTRING` (benchmarks whose name contains it), `--tune` (time the GEMM tile
//! candidates on this device instead, and name the fastest; apply it with `--gemm` or
//! `NEUROKERN_OPENCL_GEMM`).

use std::time::{Duration, Instant};

use neurokern_backend_opencl::{DeviceSelector, GemmParams, OclBuffer, OclError, OpenClBackend};
use neurokern_core::op::*;
use neurokern_core::{f16, Backend, ElemType, FloatType, Op};

/// The seed driver's figures on the reference machine (ms), for the ratios.
const SEED: &[(&str, f64)] = &[
    ("hebbian_update 4096x384x384", 1320.0),
    ("matmul_backward 4096x128x384", 267.0),
    ("dynamic_token_assignment 4096x384 T=384", 285.0),
    ("matmul 1024x1024x1024", 1780.0),
    ("training step (seed model, T=72)", 2050.0),
];

struct Opts {
    device: DeviceSelector,
    gemm: Option<GemmParams>,
    json: Option<String>,
    quick: bool,
    only: Option<String>,
    tune: bool,
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        device: DeviceSelector::Default,
        gemm: None,
        json: None,
        quick: false,
        only: None,
        tune: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--backend" => {
                let b = val()?;
                if b != "opencl" {
                    return Err(format!("nk-bench measures the opencl backend, not `{b}`"));
                }
            }
            "--device" => o.device = DeviceSelector::parse(&val()?),
            "--gemm" => {
                let v: Vec<u32> = val()?.split(',').filter_map(|x| x.parse().ok()).collect();
                match v[..] {
                    [mr, nv, nr] => o.gemm = Some(GemmParams { mr, nv, nr }),
                    _ => return Err("--gemm takes MR,NV,NR".into()),
                }
            }
            "--json" => o.json = Some(val()?),
            "--quick" => o.quick = true,
            "--only" => o.only = Some(val()?),
            "--tune" => o.tune = true,
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    Ok(o)
}

/// xorshift random data.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn f(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

fn upload(
    b: &OpenClBackend,
    elem: ElemType,
    len: usize,
    rng: &mut Rng,
    int_hi: i32,
    positive: bool,
) -> Result<OclBuffer, OclError> {
    let buf = b.alloc(elem, len)?;
    let bytes: Vec<u8> = match elem {
        ElemType::F32 => (0..len)
            .flat_map(|_| {
                let v = rng.f();
                (if positive { v.abs() } else { v }).to_ne_bytes()
            })
            .collect(),
        ElemType::F16 => (0..len)
            .flat_map(|_| {
                let v = rng.f();
                f16::from_f32(if positive { v.abs() } else { v }).to_ne_bytes()
            })
            .collect(),
        ElemType::I32 => (0..len)
            .flat_map(|_| ((rng.next() % int_hi.max(1) as u64) as i32).to_ne_bytes())
            .collect(),
    };
    b.write(&buf, &bytes)?;
    Ok(buf)
}

/// Buffers for every present operand of `op`.
fn buffers(
    b: &OpenClBackend,
    op: &Op,
    dt: FloatType,
    rng: &mut Rng,
) -> Result<Vec<Option<OclBuffer>>, OclError> {
    let int_hi = match op {
        Op::EmbeddingLookup(d) => d.vocab as i32,
        Op::EmbeddingBackward(d) => d.vocab as i32,
        Op::ProtoSegmentedSum(d) => d.t as i32,
        Op::CrossEntropyLossGrad(d) => d.vocab as i32,
        Op::ShapeLoss(d) => d.vocab as i32,
        _ => 8,
    };
    op.operands()?
        .iter()
        .map(|s| {
            if !s.present {
                return Ok(None);
            }
            let positive = s.name == "v" || s.name == "counts";
            upload(b, s.elem.resolve(dt), s.len, rng, int_hi, positive).map(Some)
        })
        .collect()
}

/// CPU time used by this process so far (user + system), in ms, where the OS tells
/// (`/proc/self/stat`); `None` elsewhere. On a CPU device with other load this measures the
/// work done, which wall time overstates.
fn cpu_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux configuration in practice.
    Some((utime + stime) * 10.0)
}

/// Times of one call (synchronized), in ms: (median wall, best wall, process CPU time per
/// call over all repetitions).
fn time(
    quick: bool,
    mut f: impl FnMut() -> Result<(), OclError>,
) -> Result<(f64, f64, Option<f64>), OclError> {
    f()?; // warm-up (program build, first-touch)
    let budget = Duration::from_millis(if quick { 150 } else { 600 });
    let (min_reps, max_reps) = if quick { (3, 20) } else { (5, 200) };
    let mut times = Vec::new();
    let start = Instant::now();
    let cpu0 = cpu_ms();
    while times.len() < min_reps || (start.elapsed() < budget && times.len() < max_reps) {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let cpu = match (cpu0, cpu_ms()) {
        (Some(a), Some(b)) => Some((b - a) / times.len() as f64),
        _ => None,
    };
    times.sort_by(|a, b| a.total_cmp(b));
    Ok((times[times.len() / 2], times[0], cpu))
}

struct Row {
    name: String,
    dtype: &'static str,
    ms: f64,
    best: f64,
    cpu: Option<f64>,
    gflops: Option<f64>,
    gbs: Option<f64>,
}

fn bytes_of(op: &Op, dt: FloatType) -> f64 {
    op.operands()
        .map(|ops| {
            ops.iter()
                .filter(|s| s.present)
                .map(|s| {
                    (s.len * s.elem.resolve(dt).size()) as f64
                        * if s.role == neurokern_core::Role::InOut {
                            2.0
                        } else {
                            1.0
                        }
                })
                .sum()
        })
        .unwrap_or(0.0)
}

/// The per-op benchmarks at the seed model's sizes: name, op, flop count (0: memory-bound,
/// report GB/s).
fn op_cases() -> Vec<(String, Op, f64)> {
    let rows = 4096usize;
    let (e, h, v, t) = (128usize, 384usize, 96usize, 72usize);
    let fl = |m: usize, n: usize, k: usize| 2.0 * (m * n * k) as f64;
    vec![
        (
            "matmul 1024x1024x1024".into(),
            MatMul {
                b: 1,
                m: 1024,
                k: 1024,
                n: 1024,
            }
            .into(),
            fl(1024, 1024, 1024),
        ),
        (
            "matmul 4096x128x384".into(),
            MatMul {
                b: 64,
                m: 64,
                k: e,
                n: h,
            }
            .into(),
            fl(rows, h, e),
        ),
        (
            "matmul 4096x384x96".into(),
            MatMul {
                b: 64,
                m: 64,
                k: h,
                n: v,
            }
            .into(),
            fl(rows, v, h),
        ),
        (
            "matmul_backward 4096x128x384".into(),
            MatMulBackward {
                b: 64,
                m: 64,
                k: e,
                n: h,
                want_d_a: true,
                want_d_w: true,
            }
            .into(),
            2.0 * fl(rows, h, e),
        ),
        (
            "matmul_batched 64x64x64x64".into(),
            MatMulBatched {
                b: 64,
                m: 64,
                k: 64,
                n: 64,
            }
            .into(),
            64.0 * fl(64, 64, 64),
        ),
        (
            "matmul_batched_backward 64x64x64x64".into(),
            MatMulBatchedBackward {
                b: 64,
                m: 64,
                k: 64,
                n: 64,
                want_d_a: true,
                want_d_w: true,
            }
            .into(),
            128.0 * fl(64, 64, 64),
        ),
        (
            "hebbian_update 4096x384x384".into(),
            HebbianUpdate {
                b: 64,
                m: 64,
                k: h,
                n: h,
                lr: 0.01,
                decay: 0.0,
            }
            .into(),
            fl(h, h, rows),
        ),
        (
            "dynamic_token_assignment 4096x384 T=384".into(),
            DynamicTokenAssignment {
                b: 64,
                s: 64,
                e: h,
                t: 384,
                want_best: false,
            }
            .into(),
            fl(rows, 384, h),
        ),
        (
            "dynamic_token_assignment 4096x384 T=72".into(),
            DynamicTokenAssignment {
                b: 64,
                s: 64,
                e: h,
                t,
                want_best: true,
            }
            .into(),
            fl(rows, t, h),
        ),
        (
            "pairwise_similarity 1024x384".into(),
            PairwiseSimilarity { n: 1024, d: h }.into(),
            fl(1024, 1024, h),
        ),
        (
            "softmax 4096x96".into(),
            Softmax { rows, len: v }.into(),
            0.0,
        ),
        (
            "log_softmax 4096x96".into(),
            LogSoftmax { rows, len: v }.into(),
            0.0,
        ),
        (
            "softmax_backward 4096x96".into(),
            SoftmaxBackward { rows, len: v }.into(),
            0.0,
        ),
        (
            "cross_entropy_loss_grad 4096x96".into(),
            CrossEntropyLossGrad { rows, vocab: v }.into(),
            0.0,
        ),
        ("gelu 4096x384".into(), Gelu { n: rows * h }.into(), 0.0),
        (
            "gelu_backward 4096x384".into(),
            GeluBackward { n: rows * h }.into(),
            0.0,
        ),
        ("add 4096x384".into(), Add { n: rows * h }.into(), 0.0),
        ("mul 4096x384".into(), Mul { n: rows * h }.into(), 0.0),
        (
            "mul_backward 4096x384".into(),
            MulBackward {
                n: rows * h,
                want_d_a: true,
                want_d_b: true,
            }
            .into(),
            0.0,
        ),
        (
            "layer_norm 4096x384".into(),
            LayerNorm {
                rows,
                len: h,
                eps: 1e-5,
                affine: true,
            }
            .into(),
            0.0,
        ),
        (
            "layer_norm_backward 4096x384".into(),
            LayerNormBackward {
                rows,
                len: h,
                eps: 1e-5,
                affine: true,
            }
            .into(),
            0.0,
        ),
        (
            "transpose 4096x384".into(),
            Transpose { rows, cols: h }.into(),
            0.0,
        ),
        (
            "transpose_batched 64x64x384".into(),
            TransposeBatched {
                b: 64,
                d1: 64,
                d2: h,
            }
            .into(),
            0.0,
        ),
        (
            "transpose_12 64x64x6x64".into(),
            Transpose12 {
                b: 64,
                d1: 64,
                d2: 6,
                d3: 64,
            }
            .into(),
            0.0,
        ),
        (
            "adam_update 49152".into(),
            AdamUpdate {
                n: e * h,
                lr: 1e-3,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: 0.0,
                t: 3,
                decoupled: false,
            }
            .into(),
            0.0,
        ),
        (
            "embedding_lookup 4096x128 V=96".into(),
            EmbeddingLookup {
                b: 64,
                s: 64,
                vocab: v,
                dim: e,
            }
            .into(),
            0.0,
        ),
        (
            "embedding_backward 4096x128 V=96".into(),
            EmbeddingBackward {
                b: 64,
                s: 64,
                vocab: v,
                dim: e,
            }
            .into(),
            0.0,
        ),
        (
            "reduce_sum_01 4096x384".into(),
            ReduceSum01 { b: 64, m: 64, n: h }.into(),
            0.0,
        ),
        (
            "add_bias 4096x384".into(),
            AddBias { b: 64, m: 64, n: h }.into(),
            0.0,
        ),
        (
            "add_broadcast_pe 64x64x128".into(),
            AddBroadcastPe { b: 64, s: 64, e }.into(),
            0.0,
        ),
        (
            "threshold_spike 4096x384".into(),
            ThresholdSpike {
                n: rows * h,
                threshold: 0.1,
            }
            .into(),
            0.0,
        ),
        (
            "proto_segmented_sum 4096x384 T=72".into(),
            ProtoSegmentedSum {
                m: rows,
                e: h,
                t,
                mode: SumMode::Deterministic,
            }
            .into(),
            0.0,
        ),
        (
            "proto_update_step 72x384".into(),
            ProtoUpdateStep { t, e: h, lr: 0.05 }.into(),
            0.0,
        ),
        (
            "shape_loss 4096x96".into(),
            ShapeLoss {
                rows,
                vocab: v,
                pairs: 4,
                penalty: 0.1,
                reward: 0.05,
                threshold: 0.5,
            }
            .into(),
            0.0,
        ),
    ]
}

/// The seed model's buffers (batch 64 × sequence 64, embedding 128, hidden 384,
/// vocabulary 96, T = 72 prototypes).
struct Model {
    idx: OclBuffer,
    target: OclBuffer,
    table: OclBuffer,
    w1: OclBuffer,
    b1: OclBuffer,
    w2: OclBuffer,
    b2: OclBuffer,
    whebb: OclBuffer,
    proto: OclBuffer,
    x0: OclBuffer,
    hpre: OclBuffer,
    h: OclBuffer,
    spikes: OclBuffer,
    assign: OclBuffer,
    sums: OclBuffer,
    counts: OclBuffer,
    logits: OclBuffer,
    logp: OclBuffer,
    grad: OclBuffer,
    loss: OclBuffer,
    dh: OclBuffer,
    dw2: OclBuffer,
    db2: OclBuffer,
    dhpre: OclBuffer,
    dx0: OclBuffer,
    dw1: OclBuffer,
    db1: OclBuffer,
    dtable: OclBuffer,
    moments: Vec<(OclBuffer, OclBuffer)>,
    step: u32,
}

const B: usize = 64;
const S: usize = 64;
const E: usize = 128;
const H: usize = 384;
const V: usize = 96;
const T: usize = 72;

impl Model {
    fn new(b: &OpenClBackend, dt: FloatType, rng: &mut Rng) -> Result<Self, OclError> {
        let f = dt.elem();
        let rows = B * S;
        let mut up = |elem, len, hi| upload(b, elem, len, rng, hi, false);
        let moments = [E * V, E * H, H, H * V, V]
            .iter()
            .map(|&n| Ok((b.alloc(ElemType::F32, n)?, b.alloc(ElemType::F32, n)?)))
            .collect::<Result<Vec<_>, OclError>>()?;
        Ok(Model {
            idx: up(ElemType::I32, rows, V as i32)?,
            target: up(ElemType::I32, rows, V as i32)?,
            table: up(f, V * E, 0)?,
            w1: up(f, E * H, 0)?,
            b1: up(f, H, 0)?,
            w2: up(f, H * V, 0)?,
            b2: up(f, V, 0)?,
            whebb: up(f, H * H, 0)?,
            proto: up(f, T * H, 0)?,
            x0: b.alloc(f, rows * E)?,
            hpre: b.alloc(f, rows * H)?,
            h: b.alloc(f, rows * H)?,
            spikes: b.alloc(f, rows * H)?,
            assign: b.alloc(ElemType::I32, rows)?,
            sums: b.alloc(f, T * H)?,
            counts: b.alloc(ElemType::I32, T)?,
            logits: b.alloc(f, rows * V)?,
            logp: b.alloc(f, rows * V)?,
            grad: b.alloc(f, rows * V)?,
            loss: b.alloc(f, rows)?,
            dh: b.alloc(f, rows * H)?,
            dw2: b.alloc(f, H * V)?,
            db2: b.alloc(f, V)?,
            dhpre: b.alloc(f, rows * H)?,
            dx0: b.alloc(f, rows * E)?,
            dw1: b.alloc(f, E * H)?,
            db1: b.alloc(f, H)?,
            dtable: b.alloc(f, V * E)?,
            moments,
            step: 0,
        })
    }

    /// One training step: forward, backward through the linear layers and gelu, Adam.
    fn step(&mut self, b: &OpenClBackend, dt: FloatType) -> Result<(), OclError> {
        let rows = B * S;
        let run = |op: Op, args: &[Option<&OclBuffer>]| b.run(&op, dt, args);
        // Forward.
        run(
            EmbeddingLookup {
                b: B,
                s: S,
                vocab: V,
                dim: E,
            }
            .into(),
            &[Some(&self.idx), Some(&self.table), Some(&self.x0)],
        )?;
        run(
            MatMul {
                b: B,
                m: S,
                k: E,
                n: H,
            }
            .into(),
            &[Some(&self.x0), Some(&self.w1), Some(&self.hpre)],
        )?;
        run(
            AddBias { b: B, m: S, n: H }.into(),
            &[Some(&self.hpre), Some(&self.b1), Some(&self.hpre)],
        )?;
        run(
            Gelu { n: rows * H }.into(),
            &[Some(&self.hpre), Some(&self.h)],
        )?;
        run(
            ThresholdSpike {
                n: rows * H,
                threshold: 0.5,
            }
            .into(),
            &[Some(&self.h), Some(&self.spikes)],
        )?;
        run(
            HebbianUpdate {
                b: B,
                m: S,
                k: H,
                n: H,
                lr: 1e-4,
                decay: 1e-3,
            }
            .into(),
            &[Some(&self.spikes), Some(&self.h), Some(&self.whebb)],
        )?;
        run(
            DynamicTokenAssignment {
                b: B,
                s: S,
                e: H,
                t: T,
                want_best: false,
            }
            .into(),
            &[Some(&self.h), Some(&self.proto), Some(&self.assign), None],
        )?;
        run(
            ProtoSegmentedSum {
                m: rows,
                e: H,
                t: T,
                mode: SumMode::Deterministic,
            }
            .into(),
            &[
                Some(&self.h),
                Some(&self.assign),
                Some(&self.sums),
                Some(&self.counts),
            ],
        )?;
        run(
            ProtoUpdateStep {
                t: T,
                e: H,
                lr: 0.05,
            }
            .into(),
            &[Some(&self.proto), Some(&self.sums), Some(&self.counts)],
        )?;
        run(
            MatMul {
                b: B,
                m: S,
                k: H,
                n: V,
            }
            .into(),
            &[Some(&self.h), Some(&self.w2), Some(&self.logits)],
        )?;
        run(
            AddBias { b: B, m: S, n: V }.into(),
            &[Some(&self.logits), Some(&self.b2), Some(&self.logits)],
        )?;
        run(
            LogSoftmax { rows, len: V }.into(),
            &[Some(&self.logits), Some(&self.logp)],
        )?;
        run(
            CrossEntropyLossGrad { rows, vocab: V }.into(),
            &[
                Some(&self.logp),
                Some(&self.target),
                Some(&self.grad),
                Some(&self.loss),
            ],
        )?;
        // Backward.
        run(
            MatMulBackward {
                b: B,
                m: S,
                k: H,
                n: V,
                want_d_a: true,
                want_d_w: true,
            }
            .into(),
            &[
                Some(&self.h),
                Some(&self.w2),
                Some(&self.grad),
                Some(&self.dh),
                Some(&self.dw2),
            ],
        )?;
        run(
            ReduceSum01 { b: B, m: S, n: V }.into(),
            &[Some(&self.grad), Some(&self.db2)],
        )?;
        run(
            GeluBackward { n: rows * H }.into(),
            &[Some(&self.hpre), Some(&self.dh), Some(&self.dhpre)],
        )?;
        run(
            MatMulBackward {
                b: B,
                m: S,
                k: E,
                n: H,
                want_d_a: true,
                want_d_w: true,
            }
            .into(),
            &[
                Some(&self.x0),
                Some(&self.w1),
                Some(&self.dhpre),
                Some(&self.dx0),
                Some(&self.dw1),
            ],
        )?;
        run(
            ReduceSum01 { b: B, m: S, n: H }.into(),
            &[Some(&self.dhpre), Some(&self.db1)],
        )?;
        run(
            EmbeddingBackward {
                b: B,
                s: S,
                vocab: V,
                dim: E,
            }
            .into(),
            &[Some(&self.dx0), Some(&self.idx), Some(&self.dtable)],
        )?;
        // Adam on the embedding table and both linear layers.
        self.step += 1;
        let params = [
            (&self.table, &self.dtable),
            (&self.w1, &self.dw1),
            (&self.b1, &self.db1),
            (&self.w2, &self.dw2),
            (&self.b2, &self.db2),
        ];
        for ((p, g), (m, v)) in params.iter().zip(&self.moments) {
            let n = neurokern_core::DeviceBuffer::len(*p);
            run(
                AdamUpdate {
                    n,
                    lr: 1e-3,
                    beta1: 0.9,
                    beta2: 0.999,
                    eps: 1e-8,
                    weight_decay: 0.0,
                    t: self.step,
                    decoupled: false,
                }
                .into(),
                &[Some(p), Some(g), Some(m), Some(v)],
            )?;
        }
        b.synchronize()
    }
}

/// Today's date (UTC) as `YYYY-MM-DD` and the time, from the system clock.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil from days (H. Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn num(v: Option<f64>) -> String {
    v.filter(|x| x.is_finite())
        .map_or("null".into(), |x| format!("{x:.4}"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = real_main(&args) {
        eprintln!("nk-bench: {e}");
        std::process::exit(1);
    }
}

/// Times the GEMM tile candidates (process CPU time, robust to other load) on two shapes
/// and prints them, fastest first.
fn tune(o: &Opts) -> Result<(), String> {
    let cands = [
        (6, 8, 4),
        (4, 8, 4),
        (6, 8, 3),
        (8, 8, 3),
        (4, 8, 6),
        (6, 16, 2),
        (4, 16, 2),
        (8, 16, 1),
        (4, 4, 4),
        (8, 4, 2),
    ];
    let ops: [(&str, Op, f64); 2] = [
        (
            "matmul 1024^3",
            MatMul {
                b: 1,
                m: 1024,
                k: 1024,
                n: 1024,
            }
            .into(),
            2.0 * 1024f64.powi(3),
        ),
        (
            "hebbian 4096x384x384",
            HebbianUpdate {
                b: 64,
                m: 64,
                k: 384,
                n: 384,
                lr: 0.01,
                decay: 0.0,
            }
            .into(),
            2.0 * 4096.0 * 384.0 * 384.0,
        ),
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut results = Vec::new();
    for (mr, nv, nr) in cands {
        let g = GemmParams { mr, nv, nr };
        let b = OpenClBackend::new(&o.device)
            .map_err(|e| e.to_string())?
            .with_gemm_params(g);
        let mut total = 0.0;
        let mut line = format!("mr={mr} nv={nv} nr={nr}:");
        for (name, op, flops) in &ops {
            let bufs = buffers(&b, op, FloatType::F32, &mut rng).map_err(|e| e.to_string())?;
            let args: Vec<Option<&OclBuffer>> = bufs.iter().map(Option::as_ref).collect();
            let (_, best, cpu) = time(o.quick, || {
                b.run(op, FloatType::F32, &args)?;
                b.synchronize()
            })
            .map_err(|e| e.to_string())?;
            let c = cpu.unwrap_or(best);
            total += c;
            line.push_str(&format!(
                "  {name} {c:.1} CPU ms ({:.0} GFLOP/s per CPU-second)",
                flops / c / 1e6
            ));
        }
        println!("{line}");
        results.push((total, g));
    }
    results.sort_by(|a, b| a.0.total_cmp(&b.0));
    let best = results[0].1;
    println!(
        "fastest: --gemm {},{},{}  (NEUROKERN_OPENCL_GEMM={},{},{})",
        best.mr, best.nv, best.nr, best.mr, best.nv, best.nr
    );
    Ok(())
}

fn real_main(args: &[String]) -> Result<(), String> {
    let o = parse(args)?;
    if o.tune {
        return tune(&o);
    }
    let mut b = OpenClBackend::new(&o.device).map_err(|e| e.to_string())?;
    if let Some(g) = o.gemm {
        b = b.with_gemm_params(g);
    }
    b.warm_up().map_err(|e| e.to_string())?;
    let date = utc_now();
    println!("device: {}  ({})", b.device_name(), b.info().version);
    println!("date:   {date}");
    println!("gemm:   {:?}", b.gemm_params());
    println!(
        "times:  wall ms per call (median and best of the repetitions) and the process's CPU \
         ms per call (all threads; on a shared machine the work done, which wall time overstates)"
    );
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut rows: Vec<Row> = Vec::new();
    let wanted = |name: &str| o.only.as_ref().is_none_or(|s| name.contains(s.as_str()));
    for dt in FloatType::ALL {
        for (name, op, flops) in op_cases() {
            if !wanted(&name) {
                continue;
            }
            let bufs = buffers(&b, &op, dt, &mut rng).map_err(|e| e.to_string())?;
            let args: Vec<Option<&OclBuffer>> = bufs.iter().map(Option::as_ref).collect();
            let (ms, best, cpu) = time(o.quick, || {
                b.run(&op, dt, &args)?;
                b.synchronize()
            })
            .map_err(|e| format!("{name} {dt}: {e}"))?;
            let (gflops, gbs) = if flops > 0.0 {
                (Some(flops / best / 1e6), None)
            } else {
                (None, Some(bytes_of(&op, dt) / best / 1e6))
            };
            rows.push(Row {
                name,
                dtype: dt.name(),
                ms,
                best,
                cpu,
                gflops,
                gbs,
            });
        }
        let step_name = "training step (seed model, T=72)";
        if wanted(step_name) {
            let mut model = Model::new(&b, dt, &mut rng).map_err(|e| e.to_string())?;
            let (ms, best, cpu) = time(o.quick, || model.step(&b, dt))
                .map_err(|e| format!("training step {dt}: {e}"))?;
            rows.push(Row {
                name: step_name.into(),
                dtype: dt.name(),
                ms,
                best,
                cpu,
                gflops: None,
                gbs: None,
            });
        }
    }
    let seed = |name: &str| SEED.iter().find(|(n, _)| *n == name).map(|(_, ms)| *ms);
    println!(
        "\n{:<42} {:>5} {:>10} {:>9} {:>9} {:>9} {:>8} {:>17}",
        "benchmark", "dtype", "median ms", "best ms", "CPU ms", "GFLOP/s", "GB/s", "vs seed"
    );
    println!(
        "{:>79} {:>9} {:>8} {:>17}",
        "(per call)", "(at best)", "(at best)", "(median / best)"
    );
    for r in &rows {
        let ratio = seed(&r.name)
            .filter(|_| r.dtype == "f32")
            .map(|s| format!("{:.0}x / {:.0}x", s / r.ms, s / r.best));
        println!(
            "{:<42} {:>5} {:>10.3} {:>9.3} {:>9} {:>9} {:>8} {:>17}",
            r.name,
            r.dtype,
            r.ms,
            r.best,
            r.cpu.map_or(String::new(), |c| format!("{c:.1}")),
            r.gflops.map_or(String::new(), |g| format!("{g:.1}")),
            r.gbs.map_or(String::new(), |g| format!("{g:.1}")),
            ratio.unwrap_or_default(),
        );
    }
    let path = o.json.unwrap_or_else(|| "target/bench/opencl.json".into());
    if let Some(dir) = std::path::Path::new(&path).parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let mut j = String::from("{\n");
    j.push_str(&format!("  \"backend\": \"opencl\",\n  \"device\": {},\n  \"device_version\": {},\n  \"date\": {},\n", json_str(b.device_name()), json_str(&b.info().version), json_str(&date)));
    let g = b.gemm_params();
    j.push_str(&format!(
        "  \"gemm\": {{\"mr\": {}, \"nv\": {}, \"nr\": {}}},\n  \"results\": [\n",
        g.mr, g.nv, g.nr
    ));
    for (k, r) in rows.iter().enumerate() {
        let s = seed(&r.name).filter(|_| r.dtype == "f32");
        j.push_str(&format!(
            "    {{\"name\": {}, \"dtype\": \"{}\", \"median_ms\": {:.4}, \"best_ms\": {:.4}, \"cpu_ms_per_call\": {}, \"gflops\": {}, \"gbs\": {}, \"seed_ms\": {}, \"speedup_vs_seed_median\": {}, \"speedup_vs_seed_best\": {}}}{}\n",
            json_str(&r.name),
            r.dtype,
            r.ms,
            r.best,
            num(r.cpu),
            num(r.gflops),
            num(r.gbs),
            num(s),
            num(s.map(|s| s / r.ms)),
            num(s.map(|s| s / r.best)),
            if k + 1 < rows.len() { "," } else { "" }
        ));
    }
    j.push_str("  ]\n}\n");
    std::fs::write(&path, j).map_err(|e| format!("{path}: {e}"))?;
    println!("\nwrote {path}");
    Ok(())
}
