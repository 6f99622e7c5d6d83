//! Random operand data, uploaded through [`Backend::write`]. Values are in `[-1, 1)`
//! (non-negative where an operand must be: Adam's second moment, prototype counts), and
//! integer operands are valid indices for the op (token ids below the vocabulary,
//! assignments below T).

use neurokern_core::{f16, Backend, ElemType, FloatType, Op};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// What the values of one buffer look like.
#[derive(Debug, Clone, Copy)]
pub struct Fill {
    /// Integers are drawn from `0..int_bound`.
    pub int_bound: usize,
    /// Floats are drawn from `[0, 1)` instead of `[-1, 1)`.
    pub non_negative: bool,
}

impl Fill {
    /// Floats in `[-1, 1)`, integers in `0..int_bound`.
    pub fn signed(int_bound: usize) -> Self {
        Fill {
            int_bound,
            non_negative: false,
        }
    }
}

/// Allocates `len` elements of `elem` on `b` and fills them with random data.
pub fn upload<B: Backend>(
    b: &B,
    elem: ElemType,
    len: usize,
    fill: Fill,
    rng: &mut ChaCha8Rng,
) -> Result<B::Buffer, B::Error> {
    let buf = b.alloc(elem, len)?;
    let lo = if fill.non_negative { 0.0 } else { -1.0 };
    let bytes: Vec<u8> = match elem {
        ElemType::F32 => (0..len)
            .flat_map(|_| rng.gen_range(lo..1.0f32).to_ne_bytes())
            .collect(),
        ElemType::F16 => (0..len)
            .flat_map(|_| f16::from_f32(rng.gen_range(lo..1.0f32)).to_ne_bytes())
            .collect(),
        ElemType::I32 => {
            let hi = i32::try_from(fill.int_bound.max(1)).unwrap_or(i32::MAX);
            (0..len)
                .flat_map(|_| rng.gen_range(0..hi).to_ne_bytes())
                .collect()
        }
    };
    b.write(&buf, &bytes)?;
    Ok(buf)
}

/// The bound of `op`'s integer operands: indices must name a row that exists.
fn int_bound(op: &Op) -> usize {
    match op {
        Op::EmbeddingLookup(d) => d.vocab,
        Op::EmbeddingBackward(d) => d.vocab,
        Op::ProtoSegmentedSum(d) => d.t,
        Op::CrossEntropyLossGrad(d) => d.vocab,
        Op::ShapeLoss(d) => d.vocab,
        _ => 8,
    }
}

/// A buffer of random data for every present operand of `op` in `dtype`, `None` for the
/// disabled ones: the argument list of one call.
pub fn operands<B: Backend>(
    b: &B,
    op: &Op,
    dtype: FloatType,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<Option<B::Buffer>>, B::Error> {
    let bound = int_bound(op);
    op.operands()?
        .iter()
        .map(|s| {
            if !s.present {
                return Ok(None);
            }
            let fill = Fill {
                int_bound: bound,
                // Adam's second moment and prototype counts are never negative.
                non_negative: s.name == "v" || s.name == "counts",
            };
            upload(b, s.elem.resolve(dtype), s.len, fill, rng).map(Some)
        })
        .collect()
}
