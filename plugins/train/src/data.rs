//! The training text: a character vocabulary, the train/validation split, overlapping
//! sequences, seeded shuffling, batches with padding, and the bigram statistics that bound
//! what this model can learn.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};

/// The target (and input index) of a padding position: the loss ignores it, the embedding
/// gives it a zero row, and the Hebbian and prototype updates skip it.
pub const PAD: i32 = -1;

/// The characters of a text, sorted by code point, and their ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vocab {
    chars: Vec<char>,
    ids: HashMap<char, i32>,
}

impl Vocab {
    /// Every distinct character of `text`, in code point order (so the same text always
    /// gives the same ids).
    pub fn from_text(text: &str) -> Vocab {
        let set: BTreeSet<char> = text.chars().collect();
        Vocab::from_sorted(set.into_iter().collect())
    }

    /// A vocabulary from its characters in id order (as a checkpoint stores it); duplicate
    /// characters are an error.
    pub fn from_chars(chars: Vec<char>) -> Result<Vocab> {
        let v = Vocab::from_sorted(chars);
        if v.ids.len() != v.chars.len() {
            return Err(Error::Data("the vocabulary repeats a character".into()));
        }
        Ok(v)
    }

    fn from_sorted(chars: Vec<char>) -> Vocab {
        let ids = chars
            .iter()
            .enumerate()
            .map(|(i, &c)| (c, i as i32))
            .collect();
        Vocab { chars, ids }
    }

    /// The number of characters.
    pub fn len(&self) -> usize {
        self.chars.len()
    }
    /// True for an empty vocabulary.
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }
    /// The characters in id order.
    pub fn chars(&self) -> &[char] {
        &self.chars
    }
    /// The id of `c`, if it is in the vocabulary.
    pub fn id(&self, c: char) -> Option<i32> {
        self.ids.get(&c).copied()
    }
    /// The character of id `i`.
    pub fn char(&self, i: i32) -> Option<char> {
        usize::try_from(i)
            .ok()
            .and_then(|i| self.chars.get(i).copied())
    }
    /// The ids of `text`; a character outside the vocabulary is an error naming it.
    pub fn encode(&self, text: &str) -> Result<Vec<i32>> {
        text.chars()
            .map(|c| {
                self.id(c).ok_or_else(|| {
                    Error::Data(format!("character {c:?} is not in the training vocabulary"))
                })
            })
            .collect()
    }
}

/// A text split for training: the first `1 − val_fraction` of its characters train, the
/// rest validate (a contiguous tail, so no validation sequence overlaps a training one).
#[derive(Clone, Debug)]
pub struct Corpus {
    /// The vocabulary of the whole text.
    pub vocab: Vocab,
    /// Training ids.
    pub train: Vec<i32>,
    /// Validation ids (may be empty).
    pub val: Vec<i32>,
    /// FNV-1a of the text's bytes: a checkpoint refuses to resume on another text.
    pub fingerprint: u64,
}

impl Corpus {
    /// Reads a UTF-8 text file.
    pub fn load(path: &Path, val_fraction: f64) -> Result<Corpus> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            Error::Data(format!(
                "{} is not UTF-8 (first bad byte at offset {})",
                path.display(),
                e.utf8_error().valid_up_to()
            ))
        })?;
        Corpus::from_text(&text, val_fraction)
    }

    /// Splits `text`; it needs at least two characters of training text.
    pub fn from_text(text: &str, val_fraction: f64) -> Result<Corpus> {
        if !(0.0..1.0).contains(&val_fraction) {
            return Err(Error::config(
                "val-fraction",
                format!("{val_fraction} is outside [0, 1)"),
            ));
        }
        let vocab = Vocab::from_text(text);
        let ids = vocab.encode(text)?;
        let n_val = (ids.len() as f64 * val_fraction).floor() as usize;
        let n_train = ids.len() - n_val;
        if n_train < 2 {
            return Err(Error::Data(format!(
                "the text has {} characters: training needs at least 2",
                ids.len()
            )));
        }
        Ok(Corpus {
            vocab,
            train: ids[..n_train].to_vec(),
            val: ids[n_train..].to_vec(),
            fingerprint: fnv1a(text.as_bytes()),
        })
    }
}

/// FNV-1a, 64 bits: stable across platforms and Rust versions, unlike `DefaultHasher`.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The start of every sequence of `tokens`: every `stride`-th position that has at least
/// one target after it. A sequence that runs past the end is padded.
pub fn sequence_starts(len: usize, stride: usize) -> Vec<u32> {
    (0..len.saturating_sub(1))
        .step_by(stride.max(1))
        .map(|p| p as u32)
        .collect()
}

/// One batch, row-major `(batch, seq)`: inputs, targets (both [`PAD`] at padding) and the
/// number of real targets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    /// Input ids.
    pub idx: Vec<i32>,
    /// Target ids (the next character).
    pub target: Vec<i32>,
    /// Positions with a real target.
    pub valid: usize,
}

impl Batch {
    /// The sequences starting at `starts` (at most `batch` of them); missing rows and
    /// positions past the end of `tokens` are padding.
    pub fn gather(tokens: &[i32], starts: &[u32], batch: usize, seq: usize) -> Batch {
        let mut idx = vec![PAD; batch * seq];
        let mut target = vec![PAD; batch * seq];
        let mut valid = 0;
        for (row, &start) in starts.iter().take(batch).enumerate() {
            for j in 0..seq {
                let pos = start as usize + j;
                if pos + 1 >= tokens.len() {
                    break;
                }
                idx[row * seq + j] = tokens[pos];
                target[row * seq + j] = tokens[pos + 1];
                valid += 1;
            }
        }
        Batch { idx, target, valid }
    }

    /// True when some position is padding.
    pub fn padded(&self) -> bool {
        self.valid < self.target.len()
    }
}

/// The order of the training sequences in `epoch`: a permutation of `0..n` drawn from
/// `seed` and the epoch alone, so a resumed run can recompute it (the checkpoint stores it
/// all the same, and resume checks the two agree).
pub fn epoch_order(n: usize, seed: u64, epoch: u32) -> Vec<u32> {
    let mut order: Vec<u32> = (0..n as u32).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(
        seed ^ 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(u64::from(epoch) + 1),
    );
    order.shuffle(&mut rng);
    order
}

/// Entropies of a token stream in nats: what a model that sees only the current character
/// can reach.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Entropies {
    /// `H(next)`: the best a model that ignores its input can do.
    pub unigram: f64,
    /// `H(next | current)` of the training text: the floor of the training loss of a
    /// model whose every position sees only its own character.
    pub bigram: f64,
    /// The cross-entropy on the validation text of the training text's table of
    /// next-character frequencies (add-½ smoothing); `None` without validation text.
    pub bigram_table_val: Option<f64>,
}

/// The entropies of `train` (and the bigram table scored on `val`) for a vocabulary of `v`.
pub fn entropies(train: &[i32], val: &[i32], v: usize) -> Entropies {
    let mut pair = vec![0u64; v * v];
    let mut first = vec![0u64; v];
    let mut next = vec![0u64; v];
    for w in train.windows(2) {
        let (a, b) = (w[0] as usize, w[1] as usize);
        pair[a * v + b] += 1;
        first[a] += 1;
        next[b] += 1;
    }
    let total = (train.len().saturating_sub(1)).max(1) as f64;
    let unigram = -next
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / total;
            p * p.ln()
        })
        .sum::<f64>();
    let mut bigram = 0.0;
    for a in 0..v {
        for b in 0..v {
            let c = pair[a * v + b];
            if c > 0 {
                bigram -= c as f64 / total * (c as f64 / first[a] as f64).ln();
            }
        }
    }
    let bigram_table_val = (val.len() >= 2).then(|| {
        let alpha = 0.5;
        let mut sum = 0.0;
        for w in val.windows(2) {
            let (a, b) = (w[0] as usize, w[1] as usize);
            let p = (pair[a * v + b] as f64 + alpha) / (first[a] as f64 + alpha * v as f64);
            sum -= p.ln();
        }
        sum / (val.len() - 1) as f64
    });
    Entropies {
        unigram,
        bigram,
        bigram_table_val,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_is_sorted_and_round_trips() {
        let v = Vocab::from_text("hello world");
        assert_eq!(v.chars(), &[' ', 'd', 'e', 'h', 'l', 'o', 'r', 'w']);
        let ids = v.encode("low").unwrap();
        let back: String = ids.iter().map(|&i| v.char(i).unwrap()).collect();
        assert_eq!(back, "low");
        assert!(v.encode("x").is_err());
        assert!(Vocab::from_chars(vec!['a', 'a']).is_err());
    }

    #[test]
    fn batches_pad_past_the_end_and_count_targets() {
        let tokens = [0, 1, 2, 3, 4];
        let starts = sequence_starts(tokens.len(), 2);
        assert_eq!(starts, vec![0, 2]);
        let b = Batch::gather(&tokens, &starts, 3, 3);
        assert_eq!(b.idx, vec![0, 1, 2, 2, 3, PAD, PAD, PAD, PAD]);
        assert_eq!(b.target, vec![1, 2, 3, 3, 4, PAD, PAD, PAD, PAD]);
        assert_eq!(b.valid, 5);
        assert!(b.padded());
    }

    #[test]
    fn epoch_orders_are_seeded_permutations() {
        let a = epoch_order(100, 7, 0);
        assert_eq!(a, epoch_order(100, 7, 0));
        assert_ne!(a, epoch_order(100, 7, 1));
        assert_ne!(a, epoch_order(100, 8, 0));
        let mut s = a.clone();
        s.sort_unstable();
        assert_eq!(s, (0..100).collect::<Vec<u32>>());
    }

    #[test]
    fn a_deterministic_text_has_zero_bigram_entropy() {
        // "abcabc…": every character determines the next; three equiprobable characters.
        let ids: Vec<i32> = (0..300).map(|i| i % 3).collect();
        let e = entropies(&ids, &ids, 3);
        assert!(e.bigram.abs() < 1e-12, "{e:?}");
        assert!((e.unigram - 3f64.ln()).abs() < 1e-2, "{e:?}");
    }
}
