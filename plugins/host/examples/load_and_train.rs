//! Loading a plugin and training a tiny character model on it, forward and backward:
//! embedding → linear + bias → GELU → linear → log-softmax → cross-entropy, then the
//! gradients back through every layer and one Adam step per parameter.
//!
//! ```sh
//! cargo build -p neurokern-plugin-cpu            # a plugin to load
//! cargo run -p neurokern --example load_and_train [PLUGIN_FILE_OR_DIR]
//! ```
//!
//! Without an argument, plugins are discovered (NEUROKERN_PLUGIN_PATH, the executable's
//! directory, the target directory) and the first device that opens is used.

use std::process::ExitCode;

use neurokern::{AdamParams, Device, ElemType, Runtime, Tensor};

const TEXT: &str = "hello world ";
const B: usize = 4; // sequences per batch
const S: usize = 8; // characters per sequence
const E: usize = 16; // embedding width
const H: usize = 32; // hidden width

fn main() -> ExitCode {
    let rt = match std::env::args().nth(1) {
        Some(p) => Runtime::builder().path(p).build(),
        None => Runtime::discover(),
    };
    let Some(dev) = rt.devices().into_iter().next() else {
        eprintln!("no device could be opened. Candidates considered:");
        for c in rt.candidates() {
            match &c.outcome {
                Ok(p) => eprintln!("  {} [{}]: plugin {}", c.path.display(), c.source, p.name()),
                Err(e) => eprintln!("  {} [{}]: {e}", c.path.display(), c.source),
            }
        }
        eprintln!("build one with `cargo build -p neurokern-plugin-cpu`, or pass its path");
        return ExitCode::FAILURE;
    };
    println!(
        "device `{}` of plugin `{}` ({})",
        dev.name(),
        dev.backend_name(),
        dev.plugin().path().display()
    );
    match train(&dev) {
        Ok((first, last)) => {
            println!("loss {first:.4} → {last:.4}");
            if last < first {
                ExitCode::SUCCESS
            } else {
                eprintln!("the loss did not go down");
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A deterministic uniform value in `[-scale, scale)`.
fn init(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// A parameter with its gradient and Adam moments.
struct Param {
    w: Tensor,
    g: Tensor,
    m: Tensor,
    v: Tensor,
}

impl Param {
    fn new(dev: &Device, shape: &[usize], seed: u64, scale: f32) -> neurokern::Result<Param> {
        let n = shape.iter().product();
        Ok(Param {
            w: dev.upload(shape, &init(n, seed, scale))?,
            g: dev.zeros(ElemType::F32, shape)?,
            m: dev.zeros(ElemType::F32, shape)?,
            v: dev.zeros(ElemType::F32, shape)?,
        })
    }

    fn step(&mut self, dev: &Device, hp: &AdamParams, t: u32) -> neurokern::Result<()> {
        dev.adam_update(&mut self.w, &self.g, &mut self.m, &mut self.v, hp, t)
    }
}

fn train(dev: &Device) -> neurokern::Result<(f32, f32)> {
    let vocab: Vec<char> = {
        let mut v: Vec<char> = TEXT.chars().collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let v = vocab.len();
    let code = |c: char| vocab.iter().position(|&x| x == c).unwrap() as i32;
    let stream: Vec<i32> = TEXT.chars().cycle().take(B * S + B + 1).map(code).collect();
    // Sequence b starts at offset b; its targets are the next characters.
    let idx: Vec<i32> = (0..B).flat_map(|b| stream[b..b + S].to_vec()).collect();
    let tgt: Vec<i32> = (0..B)
        .flat_map(|b| stream[b + 1..b + 1 + S].to_vec())
        .collect();
    let idx = dev.upload(&[B, S], &idx)?;
    let target = dev.upload(&[B * S], &tgt)?;

    let mut table = Param::new(dev, &[v, E], 1, 0.5)?;
    let mut w1 = Param::new(dev, &[E, H], 2, 0.3)?;
    let mut b1 = Param::new(dev, &[H], 3, 0.0)?;
    let mut w2 = Param::new(dev, &[H, v], 4, 0.3)?;

    let f32z = |shape: &[usize]| dev.zeros(ElemType::F32, shape);
    let (mut x, mut h, mut hb, mut g) = (
        f32z(&[B, S, E])?,
        f32z(&[B, S, H])?,
        f32z(&[B, S, H])?,
        f32z(&[B, S, H])?,
    );
    let (mut logits, mut logp) = (f32z(&[B, S, v])?, f32z(&[B * S, v])?);
    let (mut d_logits, mut loss) = (f32z(&[B * S, v])?, f32z(&[B * S])?);
    let (mut d_g, mut d_h, mut d_x) = (f32z(&[B, S, H])?, f32z(&[B, S, H])?, f32z(&[B, S, E])?);

    let hp = AdamParams {
        lr: 0.02,
        ..AdamParams::default()
    };
    let (mut first, mut last) = (0.0, 0.0);
    for step in 1..=60u32 {
        // Forward.
        dev.embedding_lookup_into(&idx, &table.w, &mut x)?;
        dev.matmul_into(&x, &w1.w, &mut h)?;
        dev.add_bias_into(&h, &b1.w, &mut hb)?;
        dev.gelu_into(&hb, &mut g)?;
        dev.matmul_into(&g, &w2.w, &mut logits)?;
        let flat = logits;
        let flat = flat.reshape(&[B * S, v])?;
        dev.log_softmax_into(&flat, &mut logp)?;
        logits = flat.reshape(&[B, S, v])?;
        dev.cross_entropy_loss_grad_into(&logp, &target, &mut d_logits, &mut loss)?;
        let mean = loss.download::<f32>()?.iter().sum::<f32>() / (B * S) as f32;
        if step == 1 {
            first = mean;
        }
        last = mean;
        if step % 10 == 0 || step == 1 {
            println!("step {step:3}: loss {mean:.4}");
        }

        // Backward (the cross-entropy gradient is w.r.t. the logits already).
        let d_logits3 = d_logits.reshape(&[B, S, v])?;
        dev.matmul_backward_into(&g, &w2.w, &d_logits3, Some(&mut d_g), Some(&mut w2.g))?;
        d_logits = d_logits3.reshape(&[B * S, v])?;
        dev.gelu_backward_into(&hb, &d_g, &mut d_h)?;
        dev.reduce_sum_01_into(&d_h, &mut b1.g)?;
        dev.matmul_backward_into(&x, &w1.w, &d_h, Some(&mut d_x), Some(&mut w1.g))?;
        dev.embedding_backward_into(&d_x, &idx, &mut table.g)?;

        for p in [&mut table, &mut w1, &mut b1, &mut w2] {
            p.step(dev, &hp, step)?;
        }
    }
    dev.synchronize()?;
    Ok((first, last))
}
