//! The seed's initialisation, drawn from one seeded stream: Xavier-uniform linear weights,
//! zero biases, an embedding uniform in ±√(1/E), prototypes N(0, 0.1²), a zero Hebbian
//! matrix.

use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Initial values of every tensor the model holds, on the host, as f32.
#[derive(Clone, Debug)]
pub struct Init {
    /// Embedding `(V, E)`.
    pub table: Vec<f32>,
    /// First linear `(E, H)` and its bias `(H)`.
    pub w1: Vec<f32>,
    /// First bias.
    pub b1: Vec<f32>,
    /// Output linear `(H, V)`.
    pub w2: Vec<f32>,
    /// Output bias `(V)`.
    pub b2: Vec<f32>,
    /// Prototypes `(T, H)`.
    pub proto: Vec<f32>,
}

fn uniform(rng: &mut ChaCha8Rng, n: usize, bound: f32) -> Vec<f32> {
    (0..n).map(|_| rng.gen_range(-bound..=bound)).collect()
}

/// Standard normal draws by Box–Muller (in f64, rounded once to f32).
fn normal(rng: &mut ChaCha8Rng, n: usize, std: f64) -> Vec<f32> {
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        // 1 − u in (0, 1]: the logarithm stays finite.
        let u1: f64 = 1.0 - rng.gen::<f64>();
        let u2: f64 = rng.gen::<f64>();
        let r = (-2.0 * u1.ln()).sqrt();
        let th = std::f64::consts::TAU * u2;
        v.push((std * r * th.cos()) as f32);
        if v.len() < n {
            v.push((std * r * th.sin()) as f32);
        }
    }
    v
}

/// Xavier (Glorot) uniform bound for a `(fan_in, fan_out)` weight.
pub fn xavier_bound(fan_in: usize, fan_out: usize) -> f32 {
    (6.0 / (fan_in + fan_out) as f64).sqrt() as f32
}

impl Init {
    /// The initial values for vocabulary `v`, embedding `e`, hidden `h`, `t` prototypes.
    pub fn new(seed: u64, v: usize, e: usize, h: usize, t: usize) -> Init {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Init {
            table: uniform(&mut rng, v * e, (1.0 / e as f64).sqrt() as f32),
            w1: uniform(&mut rng, e * h, xavier_bound(e, h)),
            b1: vec![0.0; h],
            w2: uniform(&mut rng, h * v, xavier_bound(h, v)),
            b2: vec![0.0; v],
            proto: normal(&mut rng, t * h, 0.1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_have_the_stated_ranges_and_moments() {
        let i = Init::new(3, 50, 128, 384, 384);
        let b = xavier_bound(128, 384);
        assert!(i.w1.iter().all(|x| x.abs() <= b));
        assert!(i.table.iter().all(|x| x.abs() <= (1.0f32 / 128.0).sqrt()));
        let n = i.proto.len() as f64;
        let mean = i.proto.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let var = i
            .proto
            .iter()
            .map(|&x| (f64::from(x) - mean).powi(2))
            .sum::<f64>()
            / n;
        assert!(mean.abs() < 3e-3, "{mean}");
        assert!((var.sqrt() - 0.1).abs() < 2e-3, "{}", var.sqrt());
        assert_eq!(Init::new(3, 50, 128, 384, 384).w2, i.w2);
        assert_ne!(Init::new(4, 50, 128, 384, 384).w2, i.w2);
    }
}
