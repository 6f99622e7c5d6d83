//! Running one op call on any backend from host data, and comparing two backends'
//! results (the simulated device against the reference CPU backend).

#![allow(dead_code)] // Each test binary uses part of it.

use neurokern_core::{f16, Backend, ElemRule, ElemType, FloatType, Op, Role};

/// A small deterministic generator (SplitMix64), so that failures reproduce.
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[lo, hi]`.
    pub fn int(&mut self, lo: i32, hi: i32) -> i32 {
        let span = (i64::from(hi) - i64::from(lo) + 1) as u64;
        (i64::from(lo) + (self.next() % span) as i64) as i32
    }
}

/// The inclusive range of an `i32` input: indices and targets include one invalid value
/// on each side (−1 and the bound), counts include empty and negative ones.
fn int_range(op: &Op, name: &str) -> (i32, i32) {
    let n = |v: usize| i32::try_from(v).unwrap();
    match (op, name) {
        (Op::EmbeddingLookup(d), "idx") => (-1, n(d.vocab)),
        (Op::EmbeddingBackward(d), "idx") => (-1, n(d.vocab)),
        (Op::CrossEntropyLossGrad(d), "target") => (-1, n(d.vocab)),
        (Op::ShapeLoss(d), "target") => (-1, n(d.vocab)),
        (Op::ShapeLoss(d), "pairs") => (0, n(d.vocab) - 1),
        (Op::ProtoSegmentedSum(d), "idx") => (-1, n(d.t)),
        (Op::ProtoUpdateStep(_), "counts") => (-1, 3),
        _ => panic!("no range for i32 operand `{name}` of {}", op.name()),
    }
}

/// A float input in its op's domain: log-probabilities are ≤ 0, probabilities and
/// softmax outputs in `(0, 1)`, second moments ≥ 0; anything else in `[−2, 2]`.
fn float_value(op: &Op, name: &str, rng: &mut Rng) -> f64 {
    let u = rng.unit();
    match (op, name) {
        (Op::CrossEntropyLossGrad(_), "logp") => -4.0 * u,
        (Op::SoftmaxBackward(_), "y") | (Op::ShapeLoss(_), "probs") => u,
        (Op::AdamUpdate(_), "v") => 0.1 * u,
        _ => 4.0 * u - 2.0,
    }
}

/// The bytes of every operand slot of one call: inputs in their domains, outputs filled
/// with values the op must overwrite. `None` for a disabled optional operand.
pub fn inputs(op: &Op, dtype: FloatType, seed: u64) -> Vec<Option<Vec<u8>>> {
    let mut rng = Rng::new(seed);
    let operands = op.validate().expect("a valid test op");
    operands
        .iter()
        .map(|s| {
            s.present.then(|| {
                let mut b = Vec::new();
                for _ in 0..s.len {
                    match s.elem.resolve(dtype) {
                        ElemType::I32 => {
                            let (lo, hi) = if s.role == Role::Output {
                                (-5, 5)
                            } else {
                                int_range(op, s.name)
                            };
                            b.extend(rng.int(lo, hi).to_le_bytes());
                        }
                        ElemType::F32 => {
                            let v = float_value(op, s.name, &mut rng);
                            b.extend((v as f32).to_le_bytes());
                        }
                        ElemType::F16 => {
                            let v = float_value(op, s.name, &mut rng);
                            b.extend(f16::from_f64(v).to_le_bytes());
                        }
                    }
                }
                b
            })
        })
        .collect()
}

/// Runs `op` on `be` with the operand bytes `data` and returns the bytes of every written
/// operand (`None` for the others).
pub fn run<B: Backend>(
    be: &B,
    op: &Op,
    dtype: FloatType,
    data: &[Option<Vec<u8>>],
) -> Result<Vec<Option<Vec<u8>>>, B::Error> {
    let operands = op.validate().expect("a valid test op");
    let mut bufs = Vec::new();
    for (s, d) in operands.iter().zip(data) {
        bufs.push(match d {
            Some(bytes) => {
                let b = be.alloc(s.elem.resolve(dtype), s.len)?;
                be.write(&b, bytes)?;
                Some(b)
            }
            None => None,
        });
    }
    let args: Vec<Option<&B::Buffer>> = bufs.iter().map(Option::as_ref).collect();
    be.run(op, dtype, &args)?;
    be.synchronize()?;
    let mut outs = Vec::new();
    for (s, b) in operands.iter().zip(&bufs) {
        outs.push(match b {
            Some(b) if s.role.is_written() => {
                let mut bytes = vec![0u8; s.len * s.elem.resolve(dtype).size()];
                be.read(b, &mut bytes)?;
                Some(bytes)
            }
            _ => None,
        });
    }
    Ok(outs)
}

/// Floats of `bytes` in `elem`.
pub fn floats(elem: ElemType, bytes: &[u8]) -> Vec<f32> {
    match elem {
        ElemType::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        ElemType::F16 => bytes
            .chunks_exact(2)
            .map(|c| f16::from_le_bytes(c.try_into().unwrap()).to_f32())
            .collect(),
        ElemType::I32 => panic!("not a float buffer"),
    }
}

/// Compares the written operands of two runs: `i32` exactly, floats within `tol` of the
/// reference relative to the output's largest magnitude (plus one), NaN only against
/// NaN. A wrong index, stride, transpose or missing write is off by O(1); rounding and
/// summation-order differences are far below `tol`. Returns the worst float error as a
/// fraction of its allowance.
pub fn compare(
    op: &Op,
    dtype: FloatType,
    got: &[Option<Vec<u8>>],
    want: &[Option<Vec<u8>>],
) -> f64 {
    let tol = match dtype {
        FloatType::F32 => 1e-4,
        FloatType::F16 => 4e-3,
    };
    let operands = op.validate().unwrap();
    let mut worst = 0.0f64;
    for ((s, g), w) in operands.iter().zip(got).zip(want) {
        let (Some(g), Some(w)) = (g, w) else {
            assert_eq!(
                g.is_some(),
                w.is_some(),
                "{} `{}` presence",
                op.name(),
                s.name
            );
            continue;
        };
        let elem = s.elem.resolve(dtype);
        if s.elem == ElemRule::I32 {
            assert_eq!(
                g,
                w,
                "{} {dtype} `{}`: i32 output differs",
                op.name(),
                s.name
            );
            continue;
        }
        let (g, w) = (floats(elem, g), floats(elem, w));
        let scale = 1.0 + w.iter().fold(0.0f64, |m, v| m.max(f64::from(v.abs())));
        for (i, (a, b)) in g.iter().zip(&w).enumerate() {
            if a == b {
                continue; // also equal infinities
            }
            if b.is_nan() || a.is_nan() {
                assert!(
                    a.is_nan() && b.is_nan(),
                    "{} {dtype} `{}`[{i}]: got {a}, reference {b}",
                    op.name(),
                    s.name
                );
                continue;
            }
            let err = (f64::from(*a) - f64::from(*b)).abs() / (tol * scale);
            assert!(
                err <= 1.0,
                "{} {dtype} `{}`[{i}]: got {a}, reference {b} (scale {scale})",
                op.name(),
                s.name
            );
            worst = worst.max(err);
        }
    }
    worst
}
