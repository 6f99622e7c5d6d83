//! Text from a prompt: the model's next-character distribution at temperature τ, sampled
//! with a seeded generator (τ = 0: the most likely character).

use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::data::Vocab;
use crate::error::{Error, Result};
use crate::model::Model;

/// An index drawn from `softmax(logits / temperature)` (f64 on the host); the first
/// maximum when `temperature` is 0.
pub fn sample(logits: &[f32], temperature: f32, rng: &mut ChaCha8Rng) -> usize {
    let argmax = logits
        .iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| {
            if v > bv {
                (i, v)
            } else {
                (bi, bv)
            }
        })
        .0;
    if temperature <= 0.0 {
        return argmax;
    }
    let max = f64::from(logits[argmax]);
    let w: Vec<f64> = logits
        .iter()
        .map(|&l| ((f64::from(l) - max) / f64::from(temperature)).exp())
        .collect();
    let total: f64 = w.iter().sum();
    let mut u = rng.gen::<f64>() * total;
    for (i, x) in w.iter().enumerate() {
        if u < *x {
            return i;
        }
        u -= x;
    }
    argmax
}

/// `prompt` followed by `len` generated characters.
pub fn generate(
    model: &Model,
    vocab: &Vocab,
    prompt: &str,
    len: usize,
    temperature: f32,
    seed: u64,
) -> Result<String> {
    if !temperature.is_finite() || temperature < 0.0 {
        return Err(Error::config(
            "temperature",
            format!("{temperature} is not ≥ 0"),
        ));
    }
    let mut ids = vocab.encode(prompt)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = prompt.to_string();
    for _ in 0..len {
        let logits = model.next_logits(&ids)?;
        let i = sample(&logits, temperature, &mut rng) as i32;
        ids.push(i);
        out.extend(vocab.char(i));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_follows_the_temperature() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let logits = [0.0f32, 2.0, 1.0];
        assert_eq!(sample(&logits, 0.0, &mut rng), 1);
        let mut counts = [0usize; 3];
        for _ in 0..20_000 {
            counts[sample(&logits, 1.0, &mut rng)] += 1;
        }
        // softmax(0, 2, 1) = (0.090, 0.665, 0.245)
        let p: Vec<f64> = counts.iter().map(|&c| c as f64 / 20_000.0).collect();
        assert!(
            (p[1] - 0.665).abs() < 0.02 && (p[0] - 0.090).abs() < 0.02,
            "{p:?}"
        );
    }
}
