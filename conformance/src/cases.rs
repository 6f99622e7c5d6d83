//! The case catalogue: written once, instantiated for every op and dtype.
//!
//! A case is a named generator: given a seeded [`Gen`] (whose dtype is the case's), it
//! builds the op descriptor and the contents of every input (and in/out) operand. Its ID is
//! `op/dtype/variant`; its seed is a hash of the ID, so `--case ID` regenerates exactly
//! the same data on any machine.

use std::sync::Arc;

use neurokern_core::op::*;
use neurokern_core::{FloatType, Op, OpKind};

use crate::data::HostData;
use crate::gen::{seed_of, Dist, Gen};

/// The seed model's sizes.
pub mod seed {
    /// Batch.
    pub const B: usize = 64;
    /// Sequence length.
    pub const S: usize = 64;
    /// Embedding width.
    pub const E: usize = 128;
    /// Hidden width.
    pub const H: usize = 384;
    /// Vocabulary (characters).
    pub const V: usize = 98;
    /// The small prototype set.
    pub const T_SMALL: usize = 72;
    /// The large prototype set.
    pub const T_LARGE: usize = 384;
}
use seed::{B, E, H, S, T_LARGE, T_SMALL, V};

/// How big a case is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Edge shapes and special values: tiny, fast.
    Edge,
    /// Moderate shapes (hundreds to tens of thousands of elements).
    Typical,
    /// The seed model's full sizes (the slowest; one or two per op).
    Seed,
}

impl Tier {
    /// The lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Edge => "edge",
            Tier::Typical => "typical",
            Tier::Seed => "seed",
        }
    }
}

/// What a case's generator returns.
#[derive(Debug)]
pub struct Built {
    /// The descriptor.
    pub op: Op,
    /// One entry per operand slot: the data of inputs and in/out operands, `None` for
    /// outputs and absent operands.
    pub slots: Vec<Option<HostData>>,
    /// `(output, input)`: the output is computed in place into the input's buffer.
    pub alias: Option<(usize, usize)>,
}

type BuildFn = dyn Fn(&mut Gen) -> Built + Send + Sync;

/// One case: an op, a dtype, a named variant.
#[derive(Clone)]
pub struct Case {
    /// `op/dtype/variant`.
    pub id: String,
    /// The op.
    pub kind: OpKind,
    /// The dtype.
    pub dtype: FloatType,
    /// The variant name.
    pub variant: String,
    /// Size class.
    pub tier: Tier,
    /// The generator's seed (a hash of `id`).
    pub seed: u64,
    build: Arc<BuildFn>,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case")
            .field("id", &self.id)
            .field("seed", &format_args!("{:#018x}", self.seed))
            .field("tier", &self.tier)
            .finish()
    }
}

impl Case {
    /// A case of given data rather than of a generator: the fuzzers' differential target
    /// judges arbitrary calls with the suite's bounds this way. `slots` holds the data of
    /// inputs and in/out operands (`None` for outputs and absent operands).
    pub fn custom(
        id: impl Into<String>,
        op: Op,
        dtype: FloatType,
        slots: Vec<Option<HostData>>,
        alias: Option<(usize, usize)>,
    ) -> Case {
        let id = id.into();
        Case {
            seed: 0,
            kind: op.kind(),
            dtype,
            variant: id.clone(),
            id,
            tier: Tier::Edge,
            build: Arc::new(move |_: &mut Gen| Built {
                op,
                slots: slots.clone(),
                alias,
            }),
        }
    }

    /// Generates the case's data.
    pub fn build(&self) -> Built {
        let mut g = Gen::new(self.seed, self.dtype);
        (self.build)(&mut g)
    }
}

/// Which dtypes a variant runs in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dt {
    Both,
    F16Only,
}

struct Catalogue {
    cases: Vec<Case>,
}

impl Catalogue {
    fn add(
        &mut self,
        kind: OpKind,
        variant: &str,
        tier: Tier,
        dt: Dt,
        f: impl Fn(&mut Gen) -> Built + Send + Sync + 'static,
    ) {
        let f: Arc<BuildFn> = Arc::new(f);
        for dtype in FloatType::ALL {
            if dt == Dt::F16Only && dtype != FloatType::F16 {
                continue;
            }
            let id = format!("{}/{}/{}", kind.name(), dtype.name(), variant);
            self.cases.push(Case {
                seed: seed_of(&id),
                id,
                kind,
                dtype,
                variant: variant.to_string(),
                tier,
                build: f.clone(),
            });
        }
    }
}

fn built(op: impl Into<Op>, slots: Vec<Option<HostData>>) -> Built {
    Built {
        op: op.into(),
        slots,
        alias: None,
    }
}

fn aliased(mut b: Built, out: usize, input: usize) -> Built {
    b.alias = Some((out, input));
    b
}

const N1: Dist = Dist::Normal(1.0);

/// Every case, in catalogue order (ops in `OpKind::ALL` order, then variants, then dtypes).
pub fn all() -> Vec<Case> {
    let mut c = Catalogue { cases: Vec::new() };
    gemm_cases(&mut c);
    softmax_cases(&mut c);
    loss_cases(&mut c);
    activation_cases(&mut c);
    elementwise_cases(&mut c);
    norm_cases(&mut c);
    layout_cases(&mut c);
    adam_cases(&mut c);
    embedding_cases(&mut c);
    proto_cases(&mut c);
    order_sensitive_cases(&mut c);
    long_loop_cases(&mut c);
    let order = |k: OpKind| {
        OpKind::ALL
            .iter()
            .position(|&x| x == k)
            .unwrap_or(usize::MAX)
    };
    c.cases.sort_by_key(|x| order(x.kind)); // stable: variants keep their order
    c.cases
}

type Dims4 = (usize, usize, usize, usize);

fn gemm_cases(c: &mut Catalogue) {
    use OpKind as K;
    use Tier::{Edge, Seed, Typical};
    // (variant, tier, dtypes, (b, m, k, n), dist of a, dist of w)
    let shapes: [(&str, Tier, Dt, Dims4, Dist, Dist); 12] = [
        (
            "seed_b64_s64_e128_h384",
            Seed,
            Dt::Both,
            (B, S, E, H),
            N1,
            N1,
        ),
        ("one", Edge, Dt::Both, (1, 1, 1, 1), N1, N1),
        ("primes_3x7x13x17", Edge, Dt::Both, (3, 7, 13, 17), N1, N1),
        (
            "untiled_2x33x65x47",
            Typical,
            Dt::Both,
            (2, 33, 65, 47),
            N1,
            N1,
        ),
        ("long_k_1031", Typical, Dt::Both, (1, 3, 1031, 5), N1, N1),
        ("k0", Edge, Dt::Both, (2, 3, 0, 5), N1, N1),
        ("b0", Edge, Dt::Both, (0, 3, 4, 5), N1, N1),
        ("n0", Edge, Dt::Both, (2, 3, 4, 0), N1, N1),
        (
            "ints_exact",
            Edge,
            Dt::Both,
            (2, 9, 31, 11),
            Dist::Ints(-8, 8),
            Dist::Ints(-8, 8),
        ),
        (
            "near_max",
            Edge,
            Dt::F16Only,
            (1, 4, 3, 5),
            Dist::NearMax,
            Dist::Uniform(-1.0, 1.0),
        ),
        (
            "subnormal",
            Edge,
            Dt::F16Only,
            (2, 3, 9, 4),
            Dist::Subnormal,
            N1,
        ),
        ("nan_inf", Edge, Dt::Both, (2, 5, 7, 6), Dist::Special, N1),
    ];
    for (name, tier, dt, (b, m, k, n), da, dw) in shapes {
        c.add(K::MatMul, name, tier, dt, move |g| {
            let a = g.floats(b * m * k, da);
            let w = g.floats(k * n, dw);
            built(MatMul { b, m, k, n }, vec![Some(a), Some(w), None])
        });
        let bw_shape = if tier == Seed {
            (B, S, E, H)
        } else {
            (b, m, k, n)
        };
        let (bb, bm, bk, bn) = bw_shape;
        c.add(K::MatMulBackward, name, tier, dt, move |g| {
            let a = g.floats(bb * bm * bk, da);
            let w = g.floats(bk * bn, dw);
            let dc = g.floats(bb * bm * bn, if da == Dist::NearMax { N1 } else { da });
            let op = MatMulBackward {
                b: bb,
                m: bm,
                k: bk,
                n: bn,
                want_d_a: true,
                want_d_w: true,
            };
            built(op, vec![Some(a), Some(w), Some(dc), None, None])
        });
        // Batched: one product per (batch, head)-like slice; the seed size is smaller.
        let (bb, bm, bk, bn) = if tier == Seed {
            (B, S, 32, S)
        } else {
            (b, m, k, n)
        };
        c.add(K::MatMulBatched, name, tier, dt, move |g| {
            let a = g.floats(bb * bm * bk, da);
            let w = g.floats(bb * bk * bn, dw);
            let op = MatMulBatched {
                b: bb,
                m: bm,
                k: bk,
                n: bn,
            };
            built(op, vec![Some(a), Some(w), None])
        });
        c.add(K::MatMulBatchedBackward, name, tier, dt, move |g| {
            let a = g.floats(bb * bm * bk, da);
            let w = g.floats(bb * bk * bn, dw);
            let dc = g.floats(bb * bm * bn, if da == Dist::NearMax { N1 } else { da });
            let op = MatMulBatchedBackward {
                b: bb,
                m: bm,
                k: bk,
                n: bn,
                want_d_a: true,
                want_d_w: true,
            };
            built(op, vec![Some(a), Some(w), Some(dc), None, None])
        });
    }
    for (name, want_d_a, want_d_w) in [("d_a_only", true, false), ("d_w_only", false, true)] {
        c.add(K::MatMulBackward, name, Edge, Dt::Both, move |g| {
            let (b, m, k, n) = (2, 5, 7, 3);
            let a = g.floats(b * m * k, N1);
            let w = g.floats(k * n, N1);
            let dc = g.floats(b * m * n, N1);
            let op = MatMulBackward {
                b,
                m,
                k,
                n,
                want_d_a,
                want_d_w,
            };
            built(op, vec![Some(a), Some(w), Some(dc), None, None])
        });
        c.add(K::MatMulBatchedBackward, name, Edge, Dt::Both, move |g| {
            let (b, m, k, n) = (3, 5, 7, 2);
            let a = g.floats(b * m * k, N1);
            let w = g.floats(b * k * n, N1);
            let dc = g.floats(b * m * n, N1);
            let op = MatMulBatchedBackward {
                b,
                m,
                k,
                n,
                want_d_a,
                want_d_w,
            };
            built(op, vec![Some(a), Some(w), Some(dc), None, None])
        });
    }
    // Hebbian learning: W ← (1 − decay)·W + lr·Preᵀ·Post.
    let hebb: [(&str, Tier, Dims4, f32, f32, Dist); 6] = [
        ("seed_b64_s64_e128_h384", Seed, (B, S, E, H), 0.01, 0.0, N1),
        (
            "decay_4x16x33x17",
            Typical,
            (4, 16, 33, 17),
            0.05,
            0.001,
            N1,
        ),
        ("one", Edge, (1, 1, 1, 1), 0.5, 0.0, N1),
        ("no_rows", Edge, (0, 3, 4, 5), 0.1, 0.25, N1),
        (
            "ints_exact",
            Edge,
            (2, 7, 5, 3),
            1.0,
            0.0,
            Dist::Ints(-4, 4),
        ),
        ("nan_inf", Edge, (1, 5, 3, 4), 0.1, 0.0, Dist::Special),
    ];
    for (name, tier, (b, m, k, n), lr, decay, dist) in hebb {
        c.add(K::HebbianUpdate, name, tier, Dt::Both, move |g| {
            let pre = g.floats(b * m * k, dist);
            let post = g.floats(b * m * n, N1);
            let w = g.floats(k * n, if dist == Dist::Special { N1 } else { dist });
            let op = HebbianUpdate {
                b,
                m,
                k,
                n,
                lr,
                decay,
            };
            built(op, vec![Some(pre), Some(post), Some(w)])
        });
    }
    let pw: [(&str, Tier, usize, usize, Dist); 6] = [
        ("seed_t384_e128", Seed, T_LARGE, E, N1),
        ("primes_13x7", Edge, 13, 7, N1),
        ("n0", Edge, 0, 5, N1),
        ("d0", Edge, 5, 0, N1),
        ("ints_exact", Edge, 9, 17, Dist::Ints(-9, 9)),
        ("nan_inf", Edge, 6, 5, Dist::Special),
    ];
    for (name, tier, n, d, dist) in pw {
        c.add(K::PairwiseSimilarity, name, tier, Dt::Both, move |g| {
            let x = g.floats(n * d, dist);
            built(PairwiseSimilarity { n, d }, vec![Some(x), None])
        });
    }
}

/// Rows of values drawn from `dist`, with rows of special patterns mixed in when
/// `special`: a row with one NaN, one with +inf, one all −inf, one with a single −inf.
fn rows_with(g: &mut Gen, rows: usize, len: usize, dist: Dist, special: bool) -> Vec<f64> {
    let mut v: Vec<f64> = (0..rows * len).map(|_| g.value(dist)).collect();
    if special && len > 0 {
        let pats = [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ];
        for (r, &p) in pats.iter().enumerate().take(rows) {
            let row = &mut v[r * len..(r + 1) * len];
            if r == 2 {
                row.fill(p);
            } else {
                let i = g.index(len);
                row[i] = p;
            }
        }
    }
    v
}

/// Exact log-softmax of each row (in f64), then rounded by the caller.
fn log_softmax_rows(x: &[f64], len: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(x.len());
    if len == 0 {
        return out;
    }
    for row in x.chunks_exact(len) {
        let m = row.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
        let lse = row.iter().map(|&v| (v - m).exp()).sum::<f64>().ln();
        out.extend(row.iter().map(|&v| v - m - lse));
    }
    out
}

fn softmax_cases(c: &mut Catalogue) {
    use OpKind as K;
    use Tier::{Edge, Seed, Typical};
    let shapes: [(&str, Tier, Dt, usize, usize, Dist, bool); 11] = [
        (
            "seed_r4096_v98",
            Seed,
            Dt::Both,
            B * S,
            V,
            Dist::Normal(3.0),
            false,
        ),
        (
            "pm80_64x97",
            Typical,
            Dt::Both,
            64,
            97,
            Dist::Uniform(-80.0, 80.0),
            false,
        ),
        // exp(120) overflows f32: only an implementation that subtracts the max passes.
        (
            "pm120_17x31",
            Edge,
            Dt::Both,
            17,
            31,
            Dist::Uniform(-120.0, 120.0),
            false,
        ),
        ("one", Edge, Dt::Both, 1, 1, N1, false),
        ("rows0", Edge, Dt::Both, 0, 5, N1, false),
        ("len0", Edge, Dt::Both, 5, 0, N1, false),
        (
            "long_3x1031",
            Typical,
            Dt::Both,
            3,
            1031,
            Dist::Normal(4.0),
            false,
        ),
        ("near_max", Edge, Dt::F16Only, 4, 33, Dist::NearMax, false),
        (
            "subnormal",
            Edge,
            Dt::F16Only,
            4,
            17,
            Dist::Subnormal,
            false,
        ),
        ("nan_inf_rows", Edge, Dt::Both, 6, 9, N1, true),
        ("ints_ties", Edge, Dt::Both, 5, 13, Dist::Ints(-2, 2), false),
    ];
    for (name, tier, dt, rows, len, dist, special) in shapes {
        for kind in [K::Softmax, K::LogSoftmax] {
            c.add(kind, name, tier, dt, move |g| {
                let x = rows_with(g, rows, len, dist, special);
                let x = g.from_f64(&x);
                let op: Op = if kind == K::Softmax {
                    Softmax { rows, len }.into()
                } else {
                    LogSoftmax { rows, len }.into()
                };
                built(op, vec![Some(x), None])
            });
        }
        if dist == Dist::NearMax || dist == Dist::Subnormal {
            continue;
        }
        c.add(K::SoftmaxBackward, name, tier, dt, move |g| {
            // y: a real softmax output (of rows drawn from `dist`); dy: unit normal, or
            // the special rows.
            let x = rows_with(g, rows, len, dist, false);
            let y: Vec<f64> = log_softmax_rows(&x, len).iter().map(|v| v.exp()).collect();
            let dy = rows_with(g, rows, len, N1, special);
            let (dy, y) = (g.from_f64(&dy), g.from_f64(&y));
            built(SoftmaxBackward { rows, len }, vec![Some(dy), Some(y), None])
        });
    }
}

fn loss_cases(c: &mut Catalogue) {
    use OpKind as K;
    use Tier::{Edge, Seed, Typical};
    // (variant, tier, rows, vocab, logit scale, padding fraction, special)
    let ce: [(&str, Tier, usize, usize, f64, f64, bool); 7] = [
        ("seed_r4096_v98_pad", Seed, B * S, V, 2.0, 0.1, false),
        ("confident_pm80", Typical, 64, 97, 40.0, 0.1, false),
        ("one", Edge, 1, 1, 1.0, 0.0, false),
        ("all_padding", Edge, 7, 11, 1.0, 1.0, false),
        ("rows0", Edge, 0, 11, 1.0, 0.0, false),
        ("vocab0", Edge, 5, 0, 1.0, 0.0, false),
        ("nan_inf", Edge, 8, 13, 1.0, 0.2, true),
    ];
    for (name, tier, rows, vocab, scale, pad, special) in ce {
        c.add(K::CrossEntropyLossGrad, name, tier, Dt::Both, move |g| {
            let x: Vec<f64> = (0..rows * vocab).map(|_| scale * g.normal()).collect();
            let mut lp = if vocab == 0 {
                Vec::new()
            } else {
                log_softmax_rows(&x, vocab)
            };
            let target = g.indices(rows, vocab, pad);
            if special && vocab > 0 {
                let t = target.as_i32().map(<[i32]>::to_vec).unwrap_or_default();
                for (r, &tr) in t.iter().enumerate().take(rows) {
                    let row = &mut lp[r * vocab..(r + 1) * vocab];
                    match r % 4 {
                        0 if tr >= 0 && (tr as usize) < vocab => {
                            row[tr as usize] = f64::NEG_INFINITY // loss +inf
                        }
                        1 => row[g.index(vocab)] = f64::NAN,
                        2 => row[g.index(vocab)] = f64::NEG_INFINITY,
                        _ => {}
                    }
                }
            }
            let lp = g.from_f64(&lp);
            built(
                CrossEntropyLossGrad { rows, vocab },
                vec![Some(lp), Some(target), None, None],
            )
        });
    }
    // Loss shaping: (variant, tier, rows, vocab, pairs, probabilities quantized to ties)
    let sl: [(&str, Tier, usize, usize, usize, bool, bool); 6] = [
        ("seed_r4096_v98", Seed, B * S, V, 3, false, false),
        ("ties_first_max", Edge, 64, 7, 4, true, false),
        ("nan_probs", Edge, 16, 9, 3, false, true),
        ("no_pairs", Edge, 9, 5, 0, false, false),
        ("rows0", Edge, 0, 5, 1, false, false),
        ("vocab0", Edge, 4, 0, 1, false, false),
    ];
    for (name, tier, rows, vocab, np, ties, nan) in sl {
        c.add(K::ShapeLoss, name, tier, Dt::Both, move |g| {
            let loss_in = g.floats(rows, Dist::Uniform(0.0, 5.0));
            let mut p: Vec<f64> = if ties {
                (0..rows * vocab)
                    .map(|_| g.int(0, 3) as f64 * 0.25)
                    .collect()
            } else {
                let x: Vec<f64> = (0..rows * vocab).map(|_| 2.0 * g.normal()).collect();
                log_softmax_rows(&x, vocab)
                    .iter()
                    .map(|v| v.exp())
                    .collect()
            };
            if nan {
                for r in 0..rows {
                    if r % 2 == 0 {
                        p[r * vocab + g.index(vocab)] = f64::NAN;
                    }
                }
            }
            let probs = g.from_f64(&p);
            let target = g.indices(rows, vocab, 0.1);
            let pairs: Vec<i32> = (0..2 * np).map(|_| g.index(vocab.max(1)) as i32).collect();
            let op = ShapeLoss {
                rows,
                vocab,
                pairs: np,
                penalty: 0.75,
                reward: 0.5,
                threshold: if ties { 0.5 } else { 0.2 },
            };
            built(
                op,
                vec![
                    Some(loss_in),
                    Some(probs),
                    Some(target),
                    Some(HostData::I32(pairs)),
                    None,
                ],
            )
        });
    }
}

fn activation_cases(c: &mut Catalogue) {
    use OpKind as K;
    use Tier::{Edge, Seed, Typical};
    let shapes: [(&str, Tier, Dt, usize, Dist); 8] = [
        (
            "seed_4096x384",
            Seed,
            Dt::Both,
            B * S * H,
            Dist::Normal(2.0),
        ),
        (
            "range_pm12",
            Typical,
            Dt::Both,
            4099,
            Dist::Uniform(-12.0, 12.0),
        ),
        ("pm80", Typical, Dt::Both, 1031, Dist::Uniform(-80.0, 80.0)),
        ("near_max", Edge, Dt::F16Only, 257, Dist::NearMax),
        ("subnormal", Edge, Dt::F16Only, 257, Dist::Subnormal),
        ("nan_inf", Edge, Dt::Both, 67, Dist::Special),
        ("empty", Edge, Dt::Both, 0, N1),
        ("one", Edge, Dt::Both, 1, N1),
    ];
    for (name, tier, dt, n, dist) in shapes {
        c.add(K::Gelu, name, tier, dt, move |g| {
            built(Gelu { n }, vec![Some(g.floats(n, dist)), None])
        });
        c.add(K::GeluBackward, name, tier, dt, move |g| {
            let x = g.floats(n, dist);
            let dy = g.floats(n, N1);
            built(GeluBackward { n }, vec![Some(x), Some(dy), None])
        });
    }
    c.add(K::Gelu, "in_place", Edge, Dt::Both, |g| {
        let b = built(Gelu { n: 129 }, vec![Some(g.floats(129, N1)), None]);
        aliased(b, 1, 0)
    });
    // Threshold spikes: (variant, tier, n, dist, θ)
    let th: [(&str, Tier, usize, Dist, f32); 7] = [
        ("seed_4096x384", Seed, B * S * H, N1, 0.5),
        ("at_threshold_ints", Edge, 301, Dist::Ints(-2, 2), 1.0),
        ("nan_inf", Edge, 131, Dist::Special, 0.0),
        ("theta_neg_inf", Edge, 67, Dist::Special, f32::NEG_INFINITY),
        ("theta_pos_inf", Edge, 67, Dist::Special, f32::INFINITY),
        ("subnormal", Edge, 257, Dist::Subnormal, 1e-6),
        ("empty", Edge, 0, N1, 0.0),
    ];
    for (name, tier, n, dist, threshold) in th {
        c.add(K::ThresholdSpike, name, tier, Dt::Both, move |g| {
            let x = g.floats(n, dist);
            built(ThresholdSpike { n, threshold }, vec![Some(x), None])
        });
    }
    c.add(K::ThresholdSpike, "in_place", Edge, Dt::Both, |g| {
        let x = g.floats(97, N1);
        aliased(
            built(
                ThresholdSpike {
                    n: 97,
                    threshold: 0.0,
                },
                vec![Some(x), None],
            ),
            1,
            0,
        )
    });
}

fn elementwise_cases(c: &mut Catalogue) {
    use OpKind as K;
    use Tier::{Edge, Seed, Typical};
    let shapes: [(&str, Tier, Dt, usize, Dist, Dist); 7] = [
        ("seed_4096x128", Seed, Dt::Both, B * S * E, N1, N1),
        (
            "primes_1021",
            Typical,
            Dt::Both,
            1021,
            Dist::Normal(100.0),
            N1,
        ),
        (
            "near_max",
            Edge,
            Dt::F16Only,
            257,
            Dist::NearMax,
            Dist::Uniform(-100.0, 100.0),
        ),
        (
            "near_max_sq",
            Edge,
            Dt::F16Only,
            64,
            Dist::NearMax,
            Dist::NearMax,
        ),
        (
            "subnormal",
            Edge,
            Dt::F16Only,
            257,
            Dist::Subnormal,
            Dist::Subnormal,
        ),
        ("nan_inf", Edge, Dt::Both, 131, Dist::Special, Dist::Special),
        ("empty", Edge, Dt::Both, 0, N1, N1),
    ];
    for (name, tier, dt, n, da, db) in shapes {
        for kind in [K::Add, K::Mul] {
            c.add(kind, name, tier, dt, move |g| {
                let a = g.floats(n, da);
                let b = g.floats(n, db);
                let op: Op = if kind == K::Add {
                    Add { n }.into()
                } else {
                    Mul { n }.into()
                };
                built(op, vec![Some(a), Some(b), None])
            });
        }
        c.add(K::MulBackward, name, tier, dt, move |g| {
            let dc = g.floats(n, N1);
            let a = g.floats(n, da);
            let b = g.floats(n, db);
            let op = MulBackward {
                n,
                want_d_a: true,
                want_d_b: true,
            };
            built(op, vec![Some(dc), Some(a), Some(b), None, None])
        });
    }
    for kind in [K::Add, K::Mul] {
        c.add(kind, "in_place", Edge, Dt::Both, move |g| {
            let (a, b) = (g.floats(100, N1), g.floats(100, N1));
            let op: Op = if kind == K::Add {
                Add { n: 100 }.into()
            } else {
                Mul { n: 100 }.into()
            };
            aliased(built(op, vec![Some(a), Some(b), None]), 2, 0)
        });
    }
    for (name, want_d_a, want_d_b) in [("d_a_only", true, false), ("d_b_only", false, true)] {
        c.add(K::MulBackward, name, Edge, Dt::Both, move |g| {
            let n = 37;
            let (dc, a, b) = (g.floats(n, N1), g.floats(n, N1), g.floats(n, N1));
            let op = MulBackward {
                n,
                want_d_a,
                want_d_b,
            };
            built(op, vec![Some(dc), Some(a), Some(b), None, None])
        });
    }
    // Broadcast adds and the bias-gradient reduction: (variant, tier, b, m, n, dist)
    let bcast: [(&str, Tier, Dims3, Dist); 6] = [
        ("seed", Seed, (B, S, H), N1),
        ("primes_3x7x13", Edge, (3, 7, 13), N1),
        ("untiled_5x33x65", Typical, (5, 33, 65), Dist::Normal(10.0)),
        ("rows0", Edge, (0, 5, 7), N1),
        ("cols0", Edge, (2, 5, 0), N1),
        ("nan_inf", Edge, (2, 3, 11), Dist::Special),
    ];
    for (name, tier, (b, m, n), dist) in bcast {
        let n_pe = if tier == Seed { E } else { n };
        c.add(K::AddBias, name, tier, Dt::Both, move |g| {
            let (x, bias) = (g.floats(b * m * n, dist), g.floats(n, N1));
            built(AddBias { b, m, n }, vec![Some(x), Some(bias), None])
        });
        c.add(K::AddBroadcastPe, name, tier, Dt::Both, move |g| {
            let (x, pe) = (g.floats(b * m * n_pe, dist), g.floats(m * n_pe, N1));
            let op = AddBroadcastPe { b, s: m, e: n_pe };
            built(op, vec![Some(x), Some(pe), None])
        });
        c.add(K::ReduceSum01, name, tier, Dt::Both, move |g| {
            let x = g.floats(b * m * n, dist);
            built(ReduceSum01 { b, m, n }, vec![Some(x), None])
        });
    }
    c.add(K::AddBias, "in_place", Edge, Dt::Both, |g| {
        let (x, bias) = (g.floats(4 * 5 * 6, N1), g.floats(6, N1));
        aliased(
            built(
                AddBias { b: 4, m: 5, n: 6 },
                vec![Some(x), Some(bias), None],
            ),
            2,
            0,
        )
    });
    c.add(K::AddBroadcastPe, "in_place", Edge, Dt::Both, |g| {
        let (x, pe) = (g.floats(3 * 5 * 7, N1), g.floats(5 * 7, N1));
        let op = AddBroadcastPe { b: 3, s: 5, e: 7 };
        aliased(built(op, vec![Some(x), Some(pe), None]), 2, 0)
    });
    let red: [(&str, Tier, Dims3, Dist); 3] = [
        ("many_rows_8x64x33", Typical, (8, 64, 33), N1),
        ("ints_exact", Edge, (4, 9, 5), Dist::Ints(-50, 50)),
        ("near_max", Edge, (2, 3, 4), Dist::NearMax),
    ];
    for (name, tier, (b, m, n), dist) in red {
        c.add(K::ReduceSum01, name, tier, Dt::Both, move |g| {
            let x = g.floats(b * m * n, dist);
            built(ReduceSum01 { b, m, n }, vec![Some(x), None])
        });
    }
}

type Dims3 = (usize, usize, usize);

fn norm_cases(c: &mut Catalogue) {
    use OpKind as K;
    use Tier::{Edge, Seed, Typical};
    // (variant, tier, rows, len, eps, affine, dist, special rows)
    type NormCase = (&'static str, Tier, usize, usize, f32, bool, Dist, bool);
    let shapes: [NormCase; 9] = [
        (
            "seed_4096x128_affine",
            Seed,
            B * S,
            E,
            1e-5,
            true,
            N1,
            false,
        ),
        ("plain_64x384", Typical, 64, H, 1e-5, false, N1, false),
        (
            "primes_7x13",
            Edge,
            7,
            13,
            1e-5,
            true,
            Dist::Normal(3.0),
            false,
        ),
        ("len1", Edge, 5, 1, 1e-5, true, N1, false),
        (
            "constant_rows",
            Edge,
            4,
            17,
            1e-3,
            false,
            Dist::Ints(2, 2),
            false,
        ),
        (
            "large_mean",
            Typical,
            16,
            128,
            1e-5,
            true,
            Dist::Shifted(1000.0, 1.0),
            false,
        ),
        ("rows0", Edge, 0, 8, 1e-5, true, N1, false),
        ("len0", Edge, 3, 0, 1e-5, true, N1, false),
        ("nan_inf_rows", Edge, 6, 9, 1e-5, false, N1, true),
    ];
    for (name, tier, rows, len, eps, affine, dist, special) in shapes {
        c.add(K::LayerNorm, name, tier, Dt::Both, move |g| {
            let x = rows_with(g, rows, len, dist, special);
            let x = g.from_f64(&x);
            let (gm, bt) = if affine {
                (
                    Some(g.floats(len, Dist::Shifted(1.0, 0.2))),
                    Some(g.floats(len, Dist::Normal(0.1))),
                )
            } else {
                (None, None)
            };
            let op = LayerNorm {
                rows,
                len,
                eps,
                affine,
            };
            built(op, vec![Some(x), gm, bt, None])
        });
        c.add(K::LayerNormBackward, name, tier, Dt::Both, move |g| {
            let x = rows_with(g, rows, len, dist, false);
            let x = g.from_f64(&x);
            let dy = rows_with(g, rows, len, N1, special);
            let dy = g.from_f64(&dy);
            let gm = affine.then(|| g.floats(len, Dist::Shifted(1.0, 0.2)));
            let op = LayerNormBackward {
                rows,
                len,
                eps,
                affine,
            };
            built(op, vec![Some(dy), Some(x), gm, None, None, None])
        });
    }
}

fn layout_cases(c: &mut Catalogue) {
    use OpKind as K;
    use Tier::{Edge, Seed};
    let t2: [(&str, Tier, usize, usize, Dist); 5] = [
        ("seed_4096x128", Seed, B * S, E, N1),
        ("one", Edge, 1, 1, N1),
        ("primes_13x7", Edge, 13, 7, N1),
        ("rows0", Edge, 0, 5, N1),
        ("nan_inf", Edge, 9, 11, Dist::Special),
    ];
    for (name, tier, rows, cols, dist) in t2 {
        c.add(K::Transpose, name, tier, Dt::Both, move |g| {
            built(
                Transpose { rows, cols },
                vec![Some(g.floats(rows * cols, dist)), None],
            )
        });
    }
    let t3: [(&str, Tier, Dims3, Dist); 4] = [
        ("seed_64x64x128", Seed, (B, S, E), N1),
        ("primes_3x5x7", Edge, (3, 5, 7), N1),
        ("d2_0", Edge, (3, 5, 0), N1),
        ("subnormal", Edge, (2, 3, 5), Dist::Subnormal),
    ];
    for (name, tier, (b, d1, d2), dist) in t3 {
        c.add(K::TransposeBatched, name, tier, Dt::Both, move |g| {
            let x = g.floats(b * d1 * d2, dist);
            built(TransposeBatched { b, d1, d2 }, vec![Some(x), None])
        });
    }
    let t4: [(&str, Tier, Dims4, Dist); 4] = [
        ("seed_64x64x4x32", Seed, (B, S, 4, 32), N1),
        ("primes_2x3x5x7", Edge, (2, 3, 5, 7), N1),
        ("d3_0", Edge, (2, 3, 5, 0), N1),
        ("nan_inf", Edge, (1, 4, 3, 2), Dist::Special),
    ];
    for (name, tier, (b, d1, d2, d3), dist) in t4 {
        c.add(K::Transpose12, name, tier, Dt::Both, move |g| {
            let x = g.floats(b * d1 * d2 * d3, dist);
            built(Transpose12 { b, d1, d2, d3 }, vec![Some(x), None])
        });
    }
}

fn adam_cases(c: &mut Catalogue) {
    use Tier::{Edge, Seed, Typical};
    // (variant, tier, n, t, weight decay, decoupled, grad dist)
    let v: [(&str, Tier, usize, u32, f32, bool, Dist); 7] = [
        ("seed_128x384_t10", Seed, E * H, 10, 0.0, false, N1),
        ("first_step", Typical, 1031, 1, 0.01, false, N1),
        ("adamw", Typical, 1031, 7, 0.1, true, N1),
        (
            "late_step",
            Edge,
            257,
            100_000,
            0.01,
            false,
            Dist::Normal(1e-3),
        ),
        ("one", Edge, 1, 3, 0.0, false, N1),
        ("empty", Edge, 0, 1, 0.0, false, N1),
        ("nan_inf_grad", Edge, 67, 2, 0.0, false, Dist::Special),
    ];
    for (name, tier, n, t, weight_decay, decoupled, dist) in v {
        c.add(OpKind::AdamUpdate, name, tier, Dt::Both, move |g| {
            let p = g.floats(n, N1);
            let gr = g.floats(n, dist);
            let m = g.f32s(n, Dist::Normal(0.1));
            let v = g.f32s(n, Dist::Uniform(0.0, 0.01));
            let op = AdamUpdate {
                n,
                lr: 1e-3,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay,
                t,
                decoupled,
            };
            built(op, vec![Some(p), Some(gr), Some(m), Some(v)])
        });
    }
}

fn embedding_cases(c: &mut Catalogue) {
    use OpKind as K;
    use Tier::{Edge, Seed, Typical};
    // (variant, tier, b, s, vocab, dim, padding fraction, dist)
    let v: [(&str, Tier, Dims4, f64, Dist); 7] = [
        ("seed_64x64_v98_d128", Seed, (B, S, V, E), 0.05, N1),
        ("repeats_v3", Typical, (4, 33, 3, 17), 0.1, N1),
        ("all_out_of_range", Edge, (2, 5, 7, 3), 1.0, N1),
        ("vocab0", Edge, (2, 3, 0, 4), 0.0, N1),
        ("dim0", Edge, (2, 3, 5, 0), 0.1, N1),
        ("ints_exact", Edge, (3, 11, 4, 5), 0.1, Dist::Ints(-20, 20)),
        ("nan_inf", Edge, (2, 7, 5, 3), 0.1, Dist::Special),
    ];
    for (name, tier, (b, s, vocab, dim), pad, dist) in v {
        c.add(K::EmbeddingLookup, name, tier, Dt::Both, move |g| {
            let idx = g.indices(b * s, vocab, pad);
            let table = g.floats(vocab * dim, dist);
            let op = EmbeddingLookup { b, s, vocab, dim };
            built(op, vec![Some(idx), Some(table), None])
        });
        c.add(K::EmbeddingBackward, name, tier, Dt::Both, move |g| {
            let d_out = g.floats(b * s * dim, dist);
            let idx = g.indices(b * s, vocab, pad);
            let op = EmbeddingBackward { b, s, vocab, dim };
            built(op, vec![Some(d_out), Some(idx), None])
        });
    }
}

/// Scatter sums whose rounding depends on the order (see [`Gen::cancelling_rows`]):
/// groups of three rows sent to the same segment.
fn order_sensitive_cases(c: &mut Catalogue) {
    use OpKind as K;
    const GROUPS: usize = 40;
    const WIDTH: usize = 16;
    const SEGMENTS: usize = 5;
    let group_idx = |g: &mut Gen| -> HostData {
        let mut idx = Vec::with_capacity(3 * GROUPS);
        for _ in 0..GROUPS {
            let s = g.index(SEGMENTS) as i32;
            idx.extend([s, s, s]);
        }
        HostData::I32(idx)
    };
    c.add(
        K::EmbeddingBackward,
        "order_sensitive",
        Tier::Typical,
        Dt::Both,
        move |g| {
            let d = g.cancelling_rows(GROUPS, WIDTH);
            let d_out = g.from_f64(&d);
            let idx = group_idx(g);
            let op = EmbeddingBackward {
                b: 1,
                s: 3 * GROUPS,
                vocab: SEGMENTS,
                dim: WIDTH,
            };
            built(op, vec![Some(d_out), Some(idx), None])
        },
    );
    c.add(
        K::ProtoSegmentedSum,
        "order_sensitive",
        Tier::Typical,
        Dt::Both,
        move |g| {
            let a = g.cancelling_rows(GROUPS, WIDTH);
            let act = g.from_f64(&a);
            let idx = group_idx(g);
            let op = ProtoSegmentedSum {
                m: 3 * GROUPS,
                e: WIDTH,
                t: SEGMENTS,
                mode: SumMode::Deterministic,
            };
            built(op, vec![Some(act), Some(idx), None, None])
        },
    );
    c.add(
        K::ReduceSum01,
        "order_sensitive",
        Tier::Typical,
        Dt::Both,
        move |g| {
            let x = g.cancelling_rows(GROUPS, WIDTH);
            let x = g.from_f64(&x);
            let op = ReduceSum01 {
                b: 1,
                m: 3 * GROUPS,
                n: WIDTH,
            };
            built(op, vec![Some(x), None])
        },
    );
}

/// Longer than 65 535: lavapipe (Vulkan on the CPU) caps the loop iterations of one shader
/// invocation there and silently stops; these catch a kernel that loops over a whole
/// reduction, row, segment or `K` in one invocation. Narrow (one or two columns), so they
/// stay fast on every device.
const LONG: usize = 70_000;

/// `n` integers in [−2, 2] whose last `n − 60 000` are 1: every sum is exact in f32 (its
/// bound is 0) and stays in f16's range, and a loop that stops near 65 535 loses the
/// positive tail (thousands), so no early stop can pass.
fn long_tail(g: &mut Gen, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| {
            if i >= 60_000 {
                1.0
            } else {
                g.int(-2, 2) as f64
            }
        })
        .collect()
}

fn long_loop_cases(c: &mut Catalogue) {
    use OpKind as K;
    let t = Tier::Typical;
    c.add(K::ReduceSum01, "long_rows_2x40000", t, Dt::Both, |g| {
        // b·m = 80 000 rows, two columns (interleaved: column j of row r at 2r + j).
        let (b, m, n) = (2, 40_000, 2);
        let cols: Vec<Vec<f64>> = (0..n).map(|_| long_tail(g, b * m)).collect();
        let x: Vec<f64> = (0..b * m).flat_map(|r| [cols[0][r], cols[1][r]]).collect();
        built(ReduceSum01 { b, m, n }, vec![Some(g.from_f64(&x)), None])
    });
    for kind in [K::Softmax, K::LogSoftmax] {
        c.add(kind, "long_row_70000", t, Dt::Both, move |g| {
            let (rows, len) = (2, LONG);
            let x = g.floats(rows * len, N1);
            let op: Op = if kind == K::Softmax {
                Softmax { rows, len }.into()
            } else {
                LogSoftmax { rows, len }.into()
            };
            built(op, vec![Some(x), None])
        });
    }
    c.add(
        K::ProtoSegmentedSum,
        "long_segment_70000",
        t,
        Dt::Both,
        |g| {
            // Segment 0 holds every row but 3 (segment 1) and one padding row (−1).
            let (m, e, t) = (LONG, 2, 2);
            let cols: Vec<Vec<f64>> = (0..e).map(|_| long_tail(g, m)).collect();
            let a: Vec<f64> = (0..m).flat_map(|r| [cols[0][r], cols[1][r]]).collect();
            let idx: Vec<i32> = (0..m)
                .map(|r| match r {
                    10 | 30_000 | 69_000 => 1,
                    50_000 => -1,
                    _ => 0,
                })
                .collect();
            let op = ProtoSegmentedSum {
                m,
                e,
                t,
                mode: SumMode::Deterministic,
            };
            built(
                op,
                vec![Some(g.from_f64(&a)), Some(HostData::I32(idx)), None, None],
            )
        },
    );
    c.add(
        K::EmbeddingBackward,
        "long_segment_70000",
        t,
        Dt::Both,
        |g| {
            let (s, dim, vocab) = (LONG, 2, 3);
            let cols: Vec<Vec<f64>> = (0..dim).map(|_| long_tail(g, s)).collect();
            let d: Vec<f64> = (0..s).flat_map(|r| [cols[0][r], cols[1][r]]).collect();
            let idx: Vec<i32> = (0..s).map(|r| if r % 1000 == 7 { 2 } else { 1 }).collect();
            let op = EmbeddingBackward {
                b: 1,
                s,
                vocab,
                dim,
            };
            built(
                op,
                vec![Some(g.from_f64(&d)), Some(HostData::I32(idx)), None],
            )
        },
    );
    c.add(K::MatMul, "long_k_70000", t, Dt::Both, |g| {
        // C = A·W with K = 70 000: A's rows are ±1, W's columns end in a positive tail.
        let (m, k, n) = (2, LONG, 2);
        let a: Vec<f64> = (0..m * k)
            .map(|_| if g.unit() < 0.5 { -1.0 } else { 1.0 })
            .collect();
        let cols: Vec<Vec<f64>> = (0..n).map(|_| long_tail(g, k)).collect();
        let mut a = a;
        for r in 0..m {
            // The tail of A's rows is +1, so that the tail of every product is positive.
            a[r * k + 60_000..(r + 1) * k].fill(1.0);
        }
        let w: Vec<f64> = (0..k).flat_map(|r| [cols[0][r], cols[1][r]]).collect();
        let op = MatMul { b: 1, m, k, n };
        built(op, vec![Some(g.from_f64(&a)), Some(g.from_f64(&w)), None])
    });
}

fn proto_cases(c: &mut Catalogue) {
    use OpKind as K;
    use Tier::{Edge, Seed, Typical};
    // Assignment: (variant, tier, b, s, e, t, pattern)
    #[derive(Clone, Copy, PartialEq)]
    enum P {
        Normal,
        IntTies,
        NearTies,
        Nan,
        NegInf,
    }
    let v: [(&str, Tier, Dims4, P); 9] = [
        ("seed_t72", Seed, (B, S, E, T_SMALL), P::Normal),
        ("seed_t384", Seed, (16, S, E, T_LARGE), P::Normal),
        ("untiled_3x11x65x37", Typical, (3, 11, 65, 37), P::Normal),
        ("exact_ties", Edge, (4, 16, 8, 12), P::IntTies),
        ("near_ties", Edge, (4, 16, 32, 12), P::NearTies),
        ("nan_similarity", Edge, (2, 8, 6, 9), P::Nan),
        ("neg_inf_rows", Edge, (1, 6, 4, 5), P::NegInf),
        ("no_protos", Edge, (2, 3, 4, 0), P::Normal),
        ("e0", Edge, (2, 3, 0, 4), P::Normal),
    ];
    for (name, tier, (b, s, e, t), pat) in v {
        c.add(K::DynamicTokenAssignment, name, tier, Dt::Both, move |g| {
            let rows = b * s;
            let (mut act, mut proto): (Vec<f64>, Vec<f64>) = match pat {
                P::IntTies => (
                    (0..rows * e).map(|_| g.int(-2, 2) as f64).collect(),
                    (0..t * e).map(|_| g.int(-1, 1) as f64).collect(),
                ),
                _ => (
                    (0..rows * e).map(|_| g.normal()).collect(),
                    (0..t * e).map(|_| g.normal()).collect(),
                ),
            };
            match pat {
                P::IntTies | P::NearTies if t >= 2 && e > 0 => {
                    // Duplicate some prototypes (exact ties), or nudge one element of each
                    // copy (near ties).
                    for k in (1..t).step_by(3) {
                        let src = g.index(k);
                        for j in 0..e {
                            proto[k * e + j] = proto[src * e + j];
                        }
                        if pat == P::NearTies {
                            let j = g.index(e);
                            // A relative nudge of about 2⁻²⁰: in f32 the two
                            // similarities then differ by less than the dot-product bound
                            // (a near tie either answer is right for); in f16 the copy
                            // rounds back to the original (an exact tie: the first wins).
                            proto[k * e + j] *= 1.0 + 2e-6 * (g.unit() - 0.5);
                        }
                    }
                }
                P::Nan if t > 0 && e > 0 => {
                    for k in (0..t).step_by(2) {
                        proto[k * e + g.index(e)] = f64::NAN;
                    }
                    act[g.index(e)] = f64::NAN; // row 0: every similarity NaN
                }
                P::NegInf if t > 0 && e > 0 => {
                    for r in 0..rows {
                        if r % 2 == 0 {
                            act[r * e..(r + 1) * e].fill(f64::NEG_INFINITY);
                        }
                    }
                    for v in proto.iter_mut() {
                        *v = v.abs() + 0.5; // positive: the sims of −inf rows are −inf
                    }
                }
                _ => {}
            }
            let act = g.from_f64(&act);
            let proto = g.from_f64(&proto);
            let op = DynamicTokenAssignment {
                b,
                s,
                e,
                t,
                want_best: name != "untiled_3x11x65x37",
            };
            built(op, vec![Some(act), Some(proto), None, None])
        });
    }
    // Segmented sums: (variant, tier, m, e, t, padding fraction, mode, dist)
    let v: [(&str, Tier, Dims3, f64, SumMode, Dist); 6] = [
        (
            "seed_m4096_e384_t72",
            Seed,
            (B * S, H, T_SMALL),
            0.02,
            SumMode::Deterministic,
            N1,
        ),
        (
            "atomic_opt_in",
            Typical,
            (257, 19, 11),
            0.1,
            SumMode::Atomic,
            N1,
        ),
        ("padding", Edge, (33, 7, 5), 0.5, SumMode::Deterministic, N1),
        (
            "no_protos",
            Edge,
            (9, 4, 0),
            0.0,
            SumMode::Deterministic,
            N1,
        ),
        (
            "ints_exact",
            Edge,
            (40, 6, 3),
            0.1,
            SumMode::Deterministic,
            Dist::Ints(-9, 9),
        ),
        (
            "nan_inf",
            Edge,
            (20, 5, 4),
            0.1,
            SumMode::Deterministic,
            Dist::Special,
        ),
    ];
    for (name, tier, (m, e, t), pad, mode, dist) in v {
        c.add(K::ProtoSegmentedSum, name, tier, Dt::Both, move |g| {
            let act = g.floats(m * e, dist);
            let idx = g.indices(m, t, pad);
            let op = ProtoSegmentedSum { m, e, t, mode };
            built(op, vec![Some(act), Some(idx), None, None])
        });
    }
    // Update step: (variant, tier, t, e, lr)
    let v: [(&str, Tier, usize, usize, f32); 6] = [
        ("seed_t72_e384", Seed, T_SMALL, H, 0.1),
        ("t384_e128", Typical, T_LARGE, E, 0.05),
        ("lr0", Edge, 5, 7, 0.0),
        ("lr1", Edge, 5, 7, 1.0),
        ("no_protos", Edge, 0, 7, 0.1),
        ("e0", Edge, 4, 0, 0.1),
    ];
    for (name, tier, t, e, lr) in v {
        c.add(K::ProtoUpdateStep, name, tier, Dt::Both, move |g| {
            let proto = g.floats(t * e, N1);
            let counts: Vec<i32> = (0..t)
                .map(|k| match k % 7 {
                    0 => 0,
                    1 => -(g.int(1, 3) as i32),
                    _ => g.int(1, 60) as i32,
                })
                .collect();
            let sums: Vec<f64> = (0..t * e)
                .map(|i| g.normal() * f64::from(counts[i / e.max(1)].max(1)))
                .collect();
            let sums = g.from_f64(&sums);
            let op = ProtoUpdateStep { t, e, lr };
            built(
                op,
                vec![Some(proto), Some(sums), Some(HostData::I32(counts))],
            )
        });
    }
}
