//! Test harness: runs a case on the reference (`neurokern_core::reference::run`) and on the
//! OpenCL device, and compares every output element against an error bound derived from
//! the arithmetic as `shared/spec/OPS.md` ("How conformance is judged") says.
#![allow(dead_code)]

use neurokern_backend_opencl::{OclBuffer, OpenClBackend};
use neurokern_core::op::*;
use neurokern_core::reference::{self, Arg};
use neurokern_core::{f16, Backend, ElemType, FloatType, Op, Role};

/// Unit roundoff of f32.
pub const U: f64 = 1.0 / 16_777_216.0;

/// `γ_K = K·u / (1 − K·u)`.
pub fn gamma(k: usize) -> f64 {
    let ku = k as f64 * U;
    ku / (1.0 - ku)
}

/// One f16 ulp at the magnitude of `x`.
pub fn ulp16(x: f64) -> f64 {
    let a = x.abs();
    if !(a.is_finite()) || a < 6.103515625e-5 {
        return 2f64.powi(-24);
    }
    2f64.powi(a.log2().floor() as i32 - 10)
}

/// The OpenCL device, or `None` with a printed reason. When `NEUROKERN_REQUIRE` names
/// `opencl`, a missing device is a failure instead.
pub fn backend() -> Option<OpenClBackend> {
    match OpenClBackend::default_device() {
        Ok(b) => Some(b),
        Err(e) => {
            let required = std::env::var("NEUROKERN_REQUIRE")
                .map(|v| v.split(',').any(|s| s.trim() == "opencl"))
                .unwrap_or(false);
            if required {
                panic!("NEUROKERN_REQUIRE names opencl but no device can be used: {e}");
            }
            eprintln!("skipping: no OpenCL device ({e})");
            None
        }
    }
}

/// A small deterministic generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    pub fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(1e-300);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// The contents of one operand slot.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    /// Float values (already representable in the call's dtype).
    F(Vec<f64>),
    /// i32 values.
    I(Vec<i32>),
}

impl Data {
    pub fn f(&self) -> &[f64] {
        match self {
            Data::F(v) => v,
            Data::I(_) => panic!("not a float operand"),
        }
    }
    pub fn i(&self) -> &[i32] {
        match self {
            Data::I(v) => v,
            Data::F(_) => panic!("not an i32 operand"),
        }
    }
}

/// Rounds to the storage type.
pub fn round_to(elem: ElemType, v: f64) -> f64 {
    match elem {
        ElemType::F16 => f64::from(f16::from_f64(v).to_f32()),
        _ => f64::from(v as f32),
    }
}

/// How float inputs of a case are drawn.
#[derive(Clone, Copy, Debug)]
pub enum Dist {
    Normal(f64),
    Uniform(f64, f64),
    /// Mostly normal, with NaN, ±inf, zeros, subnormals and large values mixed in.
    Special,
}

pub fn draw(rng: &mut Rng, dist: Dist, elem: ElemType, n: usize) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let v = match dist {
                Dist::Normal(s) => rng.normal() * s,
                Dist::Uniform(a, b) => rng.uniform(a, b),
                Dist::Special => match rng.below(14) {
                    0 => f64::NAN,
                    1 => f64::INFINITY,
                    2 => f64::NEG_INFINITY,
                    3 => 0.0,
                    4 => -0.0,
                    5 => {
                        if elem == ElemType::F16 {
                            3e-7
                        } else {
                            1e-40
                        }
                    }
                    6 => {
                        if elem == ElemType::F16 {
                            60000.0
                        } else {
                            3e30
                        }
                    }
                    _ => rng.normal() * 3.0,
                },
            };
            round_to(elem, v)
        })
        .collect()
}

/// One test case: the op, the dtype, and the initial contents of every present slot
/// (outputs included: they start as garbage, to show they are fully overwritten).
#[derive(Clone, Debug)]
pub struct Case {
    pub op: Op,
    pub dtype: FloatType,
    pub slots: Vec<Option<Data>>,
}

impl Case {
    /// Fills every present operand: inputs from `dist` (or `ints` for i32 operands, given
    /// the operand name and length), outputs with NaN / sentinel garbage.
    pub fn new(
        op: Op,
        dtype: FloatType,
        rng: &mut Rng,
        dist: &dyn Fn(&str) -> Dist,
        ints: &mut dyn FnMut(&str, usize, &mut Rng) -> Vec<i32>,
    ) -> Case {
        let operands = op.operands().expect("valid case");
        let mut slots = Vec::new();
        for s in operands.iter() {
            if !s.present {
                slots.push(None);
                continue;
            }
            let elem = s.elem.resolve(dtype);
            let data = match (elem, s.role) {
                (ElemType::I32, Role::Output) => Data::I(vec![-7777; s.len]),
                (ElemType::I32, _) => Data::I(ints(s.name, s.len, rng)),
                (_, Role::Output) => Data::F(vec![f64::NAN; s.len]),
                (e, _) => Data::F(draw(rng, dist(s.name), e, s.len)),
            };
            slots.push(Some(data));
        }
        Case { op, dtype, slots }
    }
}

enum Store {
    F32(Vec<f32>),
    F16(Vec<f16>),
    I32(Vec<i32>),
}

impl Store {
    fn from(elem: ElemType, d: &Data) -> Store {
        match (elem, d) {
            (ElemType::F32, Data::F(v)) => Store::F32(v.iter().map(|&x| x as f32).collect()),
            (ElemType::F16, Data::F(v)) => {
                Store::F16(v.iter().map(|&x| f16::from_f64(x)).collect())
            }
            (ElemType::I32, Data::I(v)) => Store::I32(v.clone()),
            _ => panic!("data does not match the operand's element type"),
        }
    }
    fn data(&self) -> Data {
        match self {
            Store::F32(v) => Data::F(v.iter().map(|&x| f64::from(x)).collect()),
            Store::F16(v) => Data::F(v.iter().map(|x| f64::from(x.to_f32())).collect()),
            Store::I32(v) => Data::I(v.clone()),
        }
    }
    fn bytes(&self) -> Vec<u8> {
        match self {
            Store::F32(v) => v.iter().flat_map(|x| x.to_ne_bytes()).collect(),
            Store::F16(v) => v.iter().flat_map(|x| x.to_ne_bytes()).collect(),
            Store::I32(v) => v.iter().flat_map(|x| x.to_ne_bytes()).collect(),
        }
    }
    fn from_bytes(elem: ElemType, b: &[u8]) -> Store {
        match elem {
            ElemType::F32 => Store::F32(
                b.chunks(4)
                    .map(|c| f32::from_ne_bytes(c.try_into().unwrap()))
                    .collect(),
            ),
            ElemType::F16 => Store::F16(
                b.chunks(2)
                    .map(|c| f16::from_ne_bytes(c.try_into().unwrap()))
                    .collect(),
            ),
            ElemType::I32 => Store::I32(
                b.chunks(4)
                    .map(|c| i32::from_ne_bytes(c.try_into().unwrap()))
                    .collect(),
            ),
        }
    }
}

/// Runs the reference; returns every slot's contents afterwards.
pub fn run_reference(c: &Case) -> Vec<Option<Data>> {
    let operands = c.op.operands().unwrap();
    let mut stores: Vec<Option<Store>> = operands
        .iter()
        .zip(&c.slots)
        .map(|(s, d)| d.as_ref().map(|d| Store::from(s.elem.resolve(c.dtype), d)))
        .collect();
    {
        let mut args: Vec<Arg<'_>> = stores
            .iter_mut()
            .map(|s| match s {
                None => Arg::Absent,
                Some(Store::F32(v)) => Arg::F32Mut(v),
                Some(Store::F16(v)) => Arg::F16Mut(v),
                Some(Store::I32(v)) => Arg::I32Mut(v),
            })
            .collect();
        let mut scratch = vec![0.0f32; reference::scratch_len(&c.op, c.dtype).unwrap()];
        reference::run(&c.op, c.dtype, &mut args, &mut scratch).expect("reference run");
    }
    stores.iter().map(|s| s.as_ref().map(Store::data)).collect()
}

/// Runs the case on the device; returns every slot's contents afterwards.
pub fn run_device(b: &OpenClBackend, c: &Case) -> Vec<Option<Data>> {
    let operands = c.op.operands().unwrap();
    let bufs: Vec<Option<(ElemType, OclBuffer)>> = operands
        .iter()
        .zip(&c.slots)
        .map(|(s, d)| {
            d.as_ref().map(|d| {
                let e = s.elem.resolve(c.dtype);
                let buf = b.alloc(e, s.len).unwrap();
                b.write(&buf, &Store::from(e, d).bytes()).unwrap();
                (e, buf)
            })
        })
        .collect();
    let args: Vec<Option<&OclBuffer>> = bufs.iter().map(|o| o.as_ref().map(|(_, b)| b)).collect();
    b.run(&c.op, c.dtype, &args).expect("device run");
    bufs.iter()
        .map(|o| {
            o.as_ref().map(|(e, buf)| {
                let mut bytes = vec![0u8; buf_len(buf) * e.size()];
                b.read(buf, &mut bytes).unwrap();
                Store::from_bytes(*e, &bytes).data()
            })
        })
        .collect()
}

fn buf_len(b: &OclBuffer) -> usize {
    use neurokern_core::DeviceBuffer;
    b.len()
}

/// Bit pattern of a result as its storage type (for determinism and exact checks).
pub fn bits(d: &Data) -> Vec<u64> {
    match d {
        Data::F(v) => v.iter().map(|x| x.to_bits()).collect(),
        Data::I(v) => v.iter().map(|&x| x as u64).collect(),
    }
}

/// Per-output-element error bounds of f32 arithmetic (before the f16 store allowance).
/// `None` for an output that must match exactly.
pub type Bounds = Vec<Option<Vec<f64>>>;

fn dot_terms(a: impl Iterator<Item = f64>, b: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut s, mut abs) = (0.0, 0.0);
    for (x, y) in a.zip(b) {
        s += x * y;
        abs += (x * y).abs();
    }
    (s, abs)
}

/// `C = op(A)·op(B)` bounds: `2·γ_K·Σ|a·b|` per element (both sides' f32 sums),
/// `a(m, k)` and `b(k, n)` accessors.
fn gemm_bounds(
    batch: usize,
    m: usize,
    n: usize,
    k: usize,
    a: impl Fn(usize, usize, usize) -> f64,
    b: impl Fn(usize, usize, usize) -> f64,
) -> Vec<f64> {
    let g = 2.0 * gamma(k) + 2.0 * U;
    let mut out = Vec::with_capacity(batch * m * n);
    for bb in 0..batch {
        for i in 0..m {
            for j in 0..n {
                let s: f64 = (0..k).map(|kk| (a(bb, i, kk) * b(bb, kk, j)).abs()).sum();
                out.push(g * s);
            }
        }
    }
    out
}

/// The bounds of every written slot of a case (f32 arithmetic; see OPS.md).
pub fn bounds(c: &Case, r: &[Option<Data>]) -> Bounds {
    let x = |j: usize| c.slots[j].as_ref().unwrap().f();
    let ri = |j: usize| r[j].as_ref().unwrap().f();
    let nslots = c.slots.len();
    let mut out: Bounds = vec![None; nslots];
    let u = U;
    match &c.op {
        Op::MatMul(d) => {
            let (a, w) = (x(0), x(1));
            out[2] = Some(gemm_bounds(
                1,
                d.b * d.m,
                d.n,
                d.k,
                |_, i, kk| a[i * d.k + kk],
                |_, kk, j| w[kk * d.n + j],
            ));
        }
        Op::MatMulBatched(d) => {
            let (a, w) = (x(0), x(1));
            let (sa, sw) = (d.m * d.k, d.k * d.n);
            out[2] = Some(gemm_bounds(
                d.b,
                d.m,
                d.n,
                d.k,
                |b, i, kk| a[b * sa + i * d.k + kk],
                |b, kk, j| w[b * sw + kk * d.n + j],
            ));
        }
        Op::MatMulBackward(d) => {
            let (a, w, dc) = (x(0), x(1), x(2));
            if d.want_d_a {
                out[3] = Some(gemm_bounds(
                    1,
                    d.b * d.m,
                    d.k,
                    d.n,
                    |_, i, nn| dc[i * d.n + nn],
                    |_, nn, kk| w[kk * d.n + nn],
                ));
            }
            if d.want_d_w {
                let rows = d.b * d.m;
                out[4] = Some(gemm_bounds(
                    1,
                    d.k,
                    d.n,
                    rows,
                    |_, kk, r| a[r * d.k + kk],
                    |_, r, j| dc[r * d.n + j],
                ));
            }
        }
        Op::MatMulBatchedBackward(d) => {
            let (a, w, dc) = (x(0), x(1), x(2));
            let (sa, sw, sc) = (d.m * d.k, d.k * d.n, d.m * d.n);
            if d.want_d_a {
                out[3] = Some(gemm_bounds(
                    d.b,
                    d.m,
                    d.k,
                    d.n,
                    |b, i, nn| dc[b * sc + i * d.n + nn],
                    |b, nn, kk| w[b * sw + kk * d.n + nn],
                ));
            }
            if d.want_d_w {
                out[4] = Some(gemm_bounds(
                    d.b,
                    d.k,
                    d.n,
                    d.m,
                    |b, kk, r| a[b * sa + r * d.k + kk],
                    |b, r, j| dc[b * sc + r * d.n + j],
                ));
            }
        }
        Op::HebbianUpdate(d) => {
            let (pre, post, w0) = (x(0), x(1), x(2));
            let rows = d.b * d.m;
            let s = gemm_bounds(
                1,
                d.k,
                d.n,
                rows,
                |_, kk, r| pre[r * d.k + kk],
                |_, r, j| post[r * d.n + j],
            );
            let keep = 1.0 - f64::from(d.decay);
            let lr = f64::from(d.lr);
            out[2] = Some(
                s.iter()
                    .enumerate()
                    .map(|(e, &sb)| {
                        let (kk, j) = (e / d.n, e % d.n);
                        let (sum, _) = dot_terms(
                            (0..rows).map(|r| pre[r * d.k + kk]),
                            (0..rows).map(|r| post[r * d.n + j]),
                        );
                        lr.abs() * sb
                            + 4.0 * u * ((keep * w0[e]).abs() + (lr * sum).abs() + lr.abs() * sb)
                    })
                    .collect(),
            );
        }
        Op::PairwiseSimilarity(d) => {
            let xx = x(0);
            out[1] = Some(gemm_bounds(
                1,
                d.n,
                d.n,
                d.d,
                |_, i, kk| xx[i * d.d + kk],
                |_, kk, j| xx[j * d.d + kk],
            ));
        }
        Op::DynamicTokenAssignment(_) => {
            // Checked separately (near ties), see `compare`.
        }
        Op::Softmax(d) => {
            let (xx, y) = (x(0), ri(1));
            out[1] = Some(rowwise(
                xx,
                d.len,
                |row, j, m, _lse| u * (10.0 + 2.0 * (row[j] - m).abs()) + 2.0 * gamma(d.len),
                y,
                true,
            ));
        }
        Op::LogSoftmax(d) => {
            let (xx, y) = (x(0), ri(1));
            out[1] = Some(rowwise(
                xx,
                d.len,
                |row, j, m, lse| {
                    u * (4.0 + 2.0 * (row[j] - m).abs() + 10.0 * lse.abs()) + 2.0 * gamma(d.len)
                },
                y,
                false,
            ));
        }
        Op::SoftmaxBackward(d) => {
            let (dy, y, dx) = (x(0), x(1), ri(2));
            let l = d.len;
            let mut b = vec![0.0; dy.len()];
            for r in 0..dy.len() / l.max(1) {
                let (dot, abs) =
                    dot_terms((0..l).map(|j| dy[r * l + j]), (0..l).map(|j| y[r * l + j]));
                for j in 0..l {
                    let e = r * l + j;
                    b[e] = y[e].abs()
                        * (2.0 * gamma(l) * abs + 2.0 * u * (dy[e].abs() + dot.abs()))
                        + 2.0 * u * dx[e].abs();
                }
            }
            out[2] = Some(b);
        }
        Op::CrossEntropyLossGrad(d) => {
            let lp = x(0);
            let g = ri(2);
            out[2] = Some(
                lp.iter()
                    .zip(g)
                    .map(|(&l, &gv)| u * (5.0 + 2.0 * l.abs()) * l.exp() + 2.0 * u * gv.abs())
                    .collect(),
            );
            out[3] = Some(vec![0.0; d.rows]);
        }
        Op::Gelu(_) => {
            let (xx, y) = (x(0), ri(1));
            out[1] = Some(
                xx.iter()
                    .zip(y)
                    .map(|(&v, &yv)| {
                        let z2 = v * v / 2.0;
                        yv.abs() * u * (40.0 + 6.0 * z2)
                    })
                    .collect(),
            );
        }
        Op::GeluBackward(_) => {
            let (xx, dy, dx) = (x(0), x(1), ri(2));
            out[2] = Some(
                xx.iter()
                    .zip(dy)
                    .zip(dx)
                    .map(|((&v, &g), &o)| {
                        let z2 = v * v / 2.0;
                        let cdf = 0.5 * libm_erfc(-v / std::f64::consts::SQRT_2);
                        let pdf = (-z2).exp() * 0.398_942_280_401_432_7;
                        g.abs()
                            * u
                            * (cdf.abs() * (40.0 + 6.0 * z2) + (v * pdf).abs() * (12.0 + 4.0 * z2))
                            + 3.0 * u * o.abs()
                    })
                    .collect(),
            );
        }
        Op::Add(_) | Op::Mul(_) | Op::AddBias(_) | Op::AddBroadcastPe(_) => {
            out[2] = Some(ri(2).iter().map(|v| u * v.abs()).collect());
        }
        Op::MulBackward(d) => {
            if d.want_d_a {
                out[3] = Some(ri(3).iter().map(|v| u * v.abs()).collect());
            }
            if d.want_d_b {
                out[4] = Some(ri(4).iter().map(|v| u * v.abs()).collect());
            }
        }
        Op::LayerNorm(d) => {
            let xx = x(0);
            let l = d.len;
            let mut b = vec![0.0; xx.len()];
            for r in 0..xx.len() / l.max(1) {
                let row = &xx[r * l..(r + 1) * l];
                let (mean, rstd, emean, rel) = ln_err(row, d.eps);
                for j in 0..l {
                    let xh = (row[j] - mean) * rstd;
                    let exh = rstd * emean + xh.abs() * rel + 2.0 * u * xh.abs();
                    b[r * l + j] = if d.affine {
                        let (g, be) = (x(1)[j], x(2)[j]);
                        g.abs() * exh + 3.0 * u * ((g * xh).abs() + be.abs())
                    } else {
                        exh
                    };
                }
            }
            out[3] = Some(b);
        }
        Op::LayerNormBackward(d) => {
            let (dy, xx) = (x(0), x(1));
            let l = d.len;
            let rows = xx.len() / l.max(1);
            let lf = l as f64;
            let mut bdx = vec![0.0; xx.len()];
            let mut bg = vec![0.0; l];
            let mut bb = vec![0.0; l];
            for r in 0..rows {
                let row = &xx[r * l..(r + 1) * l];
                let (mean, rstd, emean, rel) = ln_err(row, d.eps);
                let gam = |j: usize| if d.affine { x(2)[j] } else { 1.0 };
                let g: Vec<f64> = (0..l).map(|j| dy[r * l + j] * gam(j)).collect();
                let xh: Vec<f64> = (0..l).map(|j| (row[j] - mean) * rstd).collect();
                let exh: Vec<f64> = xh
                    .iter()
                    .map(|v| rstd * emean + v.abs() * rel + 2.0 * u * v.abs())
                    .collect();
                let sg: f64 = g.iter().sum();
                let sga: f64 = g.iter().map(|v| v.abs()).sum();
                let sgx: f64 = g.iter().zip(&xh).map(|(a, b)| a * b).sum();
                let sgxa: f64 = g.iter().zip(&xh).map(|(a, b)| (a * b).abs()).sum();
                let sgex: f64 = g.iter().zip(&exh).map(|(a, b)| (a * b).abs()).sum();
                let gl = 2.0 * gamma(l) + 2.0 * u;
                for j in 0..l {
                    let inner = lf * g[j] - sg - xh[j] * sgx;
                    let e_inner = gl * (sga + xh[j].abs() * sgxa)
                        + 2.0 * sgex * xh[j].abs()
                        + exh[j] * (sgx.abs() + gl * sgxa)
                        + 4.0 * u * ((lf * g[j]).abs() + sg.abs() + (xh[j] * sgx).abs())
                        + 4.0 * u * lf * g[j].abs();
                    bdx[r * l + j] =
                        rstd / lf * e_inner + (rel + 4.0 * u) * (rstd / lf * inner).abs();
                    bg[j] += dy[r * l + j].abs() * (exh[j] + 2.0 * u * xh[j].abs());
                    bb[j] += 0.0;
                }
            }
            out[3] = Some(bdx);
            if d.affine {
                let gr = 2.0 * gamma(rows) + 2.0 * u;
                let sabs = |j: usize| (0..rows).map(|r| dy[r * l + j].abs()).sum::<f64>();
                let sxabs = |j: usize| {
                    (0..rows)
                        .map(|r| {
                            let row = &xx[r * l..(r + 1) * l];
                            let (mean, rstd, _, _) = ln_err(row, d.eps);
                            (dy[r * l + j] * (row[j] - mean) * rstd).abs()
                        })
                        .sum::<f64>()
                };
                out[4] = Some((0..l).map(|j| bg[j] + gr * sxabs(j)).collect());
                out[5] = Some((0..l).map(|j| gr * sabs(j) + bb[j]).collect());
            }
        }
        Op::Transpose(_) | Op::TransposeBatched(_) | Op::Transpose12(_) => {}
        Op::EmbeddingLookup(_) | Op::ThresholdSpike(_) => {}
        Op::AdamUpdate(d) => {
            let (p, g, m, v) = (x(0), x(1), x(2), x(3));
            let (lr, b1, b2, eps, wd) = (
                f64::from(d.lr),
                f64::from(d.beta1),
                f64::from(d.beta2),
                f64::from(d.eps),
                f64::from(d.weight_decay),
            );
            let t = f64::from(d.t);
            let (c1, c2) = (1.0 - b1.powf(t), 1.0 - b2.powf(t));
            let mut bp = Vec::new();
            let mut bm = Vec::new();
            let mut bv = Vec::new();
            for e in 0..p.len() {
                let (mut pv, mut gv) = (p[e], g[e]);
                let mut ep = 0.0;
                let mut eg = 0.0;
                if d.decoupled {
                    ep = 3.0 * u * (pv.abs() + (lr * wd * pv).abs());
                    pv -= lr * wd * pv;
                } else {
                    eg = 2.0 * u * (gv.abs() + (wd * pv).abs());
                    gv += wd * pv;
                }
                let mn = b1 * m[e] + (1.0 - b1) * gv;
                let vn = b2 * v[e] + (1.0 - b2) * gv * gv;
                let em = 3.0 * u * ((b1 * m[e]).abs() + ((1.0 - b1) * gv).abs()) + (1.0 - b1) * eg;
                let ev = 4.0 * u * ((b2 * v[e]).abs() + ((1.0 - b2) * gv * gv).abs())
                    + (1.0 - b2) * 2.0 * gv.abs() * eg;
                let den = (vn / c2).sqrt() + eps;
                let upd = lr * (mn / c1) / den;
                let rel_den = if den > 0.0 {
                    (0.5 * ev / c2 / (vn / c2).sqrt().max(1e-300)).min(1.0) * (den - eps) / den
                        + 6.0 * u
                } else {
                    0.0
                };
                let eu = (lr / c1 * em / den) + upd.abs() * (rel_den + 8.0 * u);
                bp.push(ep + eu + 2.0 * u * ((pv - upd).abs() + pv.abs()));
                bm.push(em);
                bv.push(ev);
            }
            out[0] = Some(bp);
            out[2] = Some(bm);
            out[3] = Some(bv);
        }
        Op::EmbeddingBackward(d) => {
            let (dout, idx) = (x(0), c.slots[1].as_ref().unwrap().i());
            out[2] = Some(seg_bounds(dout, idx, d.dim, d.vocab));
        }
        Op::ProtoSegmentedSum(d) => {
            let (act, idx) = (x(0), c.slots[1].as_ref().unwrap().i());
            out[2] = Some(seg_bounds(act, idx, d.e, d.t));
        }
        Op::ProtoUpdateStep(d) => {
            let (p, s) = (x(0), x(1));
            let counts = c.slots[2].as_ref().unwrap().i();
            let lr = f64::from(d.lr);
            out[0] = Some(
                (0..p.len())
                    .map(|e| {
                        let cnt = f64::from(counts[e / d.e.max(1)].max(1));
                        4.0 * u * (((1.0 - lr) * p[e]).abs() + (lr * s[e] / cnt).abs() * 2.0)
                    })
                    .collect(),
            );
        }
        Op::ReduceSum01(d) => {
            let xx = x(0);
            let rows = d.b * d.m;
            out[1] = Some(
                (0..d.n)
                    .map(|j| {
                        (2.0 * gamma(rows) + 2.0 * u)
                            * (0..rows).map(|r| xx[r * d.n + j].abs()).sum::<f64>()
                    })
                    .collect(),
            );
        }
        Op::ShapeLoss(d) => {
            let l = x(0);
            out[4] = Some(
                l.iter()
                    .map(|v| {
                        3.0 * u * (v.abs() + f64::from(d.penalty).abs() + f64::from(d.reward).abs())
                    })
                    .collect(),
            );
        }
    }
    out
}

fn seg_bounds(src: &[f64], idx: &[i32], width: usize, segs: usize) -> Vec<f64> {
    let mut abs = vec![0.0; segs * width];
    let mut cnt = vec![0usize; segs];
    for (r, &i) in idx.iter().enumerate() {
        if i >= 0 && (i as usize) < segs {
            cnt[i as usize] += 1;
            for j in 0..width {
                abs[i as usize * width + j] += src[r * width + j].abs();
            }
        }
    }
    (0..segs * width)
        .map(|e| (2.0 * gamma(cnt[e / width.max(1)]) + 2.0 * U) * abs[e])
        .collect()
}

/// Row mean, rstd, the error of the mean and the relative error of rstd (f32 evaluation).
fn ln_err(row: &[f64], eps: f32) -> (f64, f64, f64, f64) {
    let l = row.len() as f64;
    let mean = row.iter().sum::<f64>() / l;
    let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / l;
    let rstd = 1.0 / (var + f64::from(eps)).sqrt();
    let gl = 2.0 * gamma(row.len()) + 2.0 * U;
    let emean = gl * row.iter().map(|v| v.abs()).sum::<f64>() / l + 2.0 * U * mean.abs();
    let dev_abs: f64 = row.iter().map(|v| (v - mean).abs()).sum();
    let evar = (gl * var * l + 2.0 * emean * dev_abs + emean * emean * l) / l + 2.0 * U * var;
    let rel = 0.5 * evar / (var + f64::from(eps)) + 8.0 * U;
    (mean, rstd, emean, rel)
}

/// Applies a relative bound to rowwise outputs; `scale_by_y`: bound = |y|·rel, else rel is
/// absolute.
fn rowwise(
    x: &[f64],
    len: usize,
    rel: impl Fn(&[f64], usize, f64, f64) -> f64,
    y: &[f64],
    scale_by_y: bool,
) -> Vec<f64> {
    let mut out = vec![0.0; x.len()];
    if len == 0 {
        return out;
    }
    for r in 0..x.len() / len {
        let row = &x[r * len..(r + 1) * len];
        let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = row.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
        for j in 0..len {
            let b = rel(row, j, m, lse);
            out[r * len + j] = if scale_by_y {
                b * y[r * len + j].abs()
            } else {
                b
            };
        }
    }
    out
}

/// erfc in f64 (the reference's).
pub fn libm_erfc(x: f64) -> f64 {
    neurokern_core::reference::special::erfc(x)
}

/// Compares device results with the reference's; returns the worst error as a fraction
/// of its bound (0 for exact matches). Panics with a description on a violation.
pub fn compare(c: &Case, r: &[Option<Data>], d: &[Option<Data>]) -> f64 {
    let operands = c.op.operands().unwrap();
    let bnds = bounds(c, r);
    let f16 = c.dtype == FloatType::F16;
    let mut worst: f64 = 0.0;
    for (j, s) in operands.iter().enumerate() {
        if !s.present || !s.role.is_written() {
            continue;
        }
        let (rv, dv) = (r[j].as_ref().unwrap(), d[j].as_ref().unwrap());
        if let Op::DynamicTokenAssignment(td) = &c.op {
            worst = worst.max(check_assignment(c, td, j, rv, dv));
            continue;
        }
        match (rv, dv, &bnds[j]) {
            (Data::I(a), Data::I(b), _) => {
                assert_eq!(
                    a,
                    b,
                    "{} {}: operand `{}` differs",
                    c.op.name(),
                    c.dtype,
                    s.name
                );
            }
            (Data::F(a), Data::F(b), None) => {
                for (e, (x, y)) in a.iter().zip(b).enumerate() {
                    assert!(
                        x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
                        "{} {}: exact operand `{}`[{e}]: reference {x:e}, device {y:e}",
                        c.op.name(),
                        c.dtype,
                        s.name
                    );
                }
            }
            (Data::F(a), Data::F(b), Some(bound)) => {
                let f16_store = s.elem.resolve(c.dtype) == ElemType::F16;
                for (e, (x, y)) in a.iter().zip(b).enumerate() {
                    let what = || {
                        format!(
                            "{} {}: `{}`[{e}]: reference {x:e}, device {y:e}, bound {:e}",
                            c.op.name(),
                            c.dtype,
                            s.name,
                            bound[e]
                        )
                    };
                    if bound[e] == f64::INFINITY {
                        // An overflowing term: f32 sums in different orders (or with fma)
                        // may give ±inf or NaN; any value is within this bound.
                        continue;
                    }
                    if x.is_nan() {
                        assert!(y.is_nan(), "NaN expected: {}", what());
                        continue;
                    }
                    if bound[e].is_nan() {
                        continue; // a NaN input with a finite reference (e.g. not selected)
                    }
                    if x.is_infinite() {
                        // Overflow at the store (f16) or in the arithmetic: the device must
                        // overflow the same way unless the bound reaches the limit.
                        if y != x {
                            let lim = if f16_store {
                                65504.0
                            } else {
                                f64::from(f32::MAX)
                            };
                            assert!(y.abs() >= lim - bound[e] - ulp16(lim), "{}", what());
                        }
                        continue;
                    }
                    assert!(!y.is_nan(), "unexpected NaN: {}", what());
                    let mut b = bound[e];
                    if f16_store {
                        b = b * 1.001 + ulp16(x.abs() + b);
                    }
                    let err = (x - y).abs();
                    if y.is_infinite() {
                        let lim = if f16_store {
                            65504.0
                        } else {
                            f64::from(f32::MAX)
                        };
                        assert!(x.abs() + b >= lim, "{}", what());
                        continue;
                    }
                    assert!(err <= b, "out of bound: {}", what());
                    if b > 0.0 {
                        worst = worst.max(err / b);
                    } else {
                        assert!(x.to_bits() == y.to_bits() || err == 0.0, "{}", what());
                    }
                }
                let _ = f16;
            }
            _ => panic!("type mismatch"),
        }
    }
    worst
}

/// `dynamic_token_assignment`: an index may differ only at a near tie (the two
/// similarities within the dot-product bound of each other); `best` within the bound of
/// the device's own winner.
fn check_assignment(
    c: &Case,
    d: &DynamicTokenAssignment,
    slot: usize,
    rv: &Data,
    dv: &Data,
) -> f64 {
    let act = c.slots[0].as_ref().unwrap().f();
    let proto = c.slots[1].as_ref().unwrap().f();
    let e = d.e;
    let sim = |r: usize, t: usize| {
        dot_terms(
            (0..e).map(|k| act[r * e + k]),
            (0..e).map(|k| proto[t * e + k]),
        )
    };
    let g = 2.0 * gamma(e) + 2.0 * U;
    if slot == 2 {
        let (ri, di) = (rv.i(), dv.i());
        for r in 0..ri.len() {
            if ri[r] == di[r] {
                continue;
            }
            assert!(
                ri[r] >= 0 && di[r] >= 0,
                "row {r}: reference {} device {}",
                ri[r],
                di[r]
            );
            let (s1, a1) = sim(r, ri[r] as usize);
            let (s2, a2) = sim(r, di[r] as usize);
            assert!(
                (s1 - s2).abs() <= g * (a1 + a2),
                "row {r}: not a near tie: {s1} vs {s2}"
            );
        }
        0.0
    } else {
        let (rb, db) = (rv.f(), dv.f());
        for r in 0..rb.len() {
            if rb[r].is_infinite() || rb[r].is_nan() {
                assert!(
                    db[r] == rb[r] || (rb[r].is_nan() && db[r].is_nan()) || db[r].is_infinite(),
                    "best[{r}]"
                );
                continue;
            }
            // The winner's similarity: bound of any candidate within the tie window.
            let tmax = (0..d.t).map(|t| sim(r, t).1).fold(0.0, f64::max);
            let mut b = 2.0 * g * tmax;
            if c.dtype == FloatType::F16 {
                b += ulp16(rb[r].abs() + b);
            }
            assert!(
                (rb[r] - db[r]).abs() <= b,
                "best[{r}]: reference {} device {} bound {b}",
                rb[r],
                db[r]
            );
        }
        0.0
    }
}
