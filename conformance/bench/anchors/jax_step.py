#!/usr/bin/env python3
"""The seed model's training step in JAX (XLA-jit on the CPU): the anchor "what a user
would pick instead" for neurokern's training-step benchmark.

Same step as nk-bench's `training step` (`conformance/bench/src/model.rs`): embedding (B=64, S=64, V=96, E=128) ->
linear 128->384 + bias -> exact-erf GELU -> spikes (h > 0.5) -> Hebbian update of
W_hebb (384x384, lr 1e-4, decay 1e-3) -> token assignment to T prototypes (argmax of
dot products) -> per-prototype sums/counts -> prototype moving average (lr 0.05) ->
linear 384->96 + bias -> log-softmax -> cross-entropy (padding rows masked) ->
backward through both linears, GELU and the embedding -> Adam (L2 coupled) on the
five trained tensors. One jit-compiled function; timed with block_until_ready.

Usage: python jax_step.py [--t 72] [--dtype f32|f16] [--samples 30] [--threads N] [--json]

With --json the result is one JSON object on stdout (nk-bench runs it so).
"""
import argparse
import json
import os
import statistics
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--t", type=int, default=72)
ap.add_argument("--dtype", default="f32")
ap.add_argument("--samples", type=int, default=30)
ap.add_argument("--threads", type=int, default=0, help="XLA intra-op threads (0 = default)")
ap.add_argument("--json", action="store_true", help="print the result as one JSON object")
args = ap.parse_args()
if args.threads:
    os.environ["XLA_FLAGS"] = (
        f"--xla_cpu_multi_thread_eigen={'true' if args.threads > 1 else 'false'} "
        f"intra_op_parallelism_threads={args.threads}"
    )

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from jax.scipy.special import erf  # noqa: E402

B, S, E, H, V, T = 64, 64, 128, 384, 96, args.t
DT = jnp.float32 if args.dtype == "f32" else jnp.float16
ROWS = B * S


def gelu(x):
    return 0.5 * x * (1.0 + erf(x / jnp.sqrt(2.0).astype(x.dtype)))


def loss_fn(params, idx, target):
    table, w1, b1, w2, b2 = params
    x0 = table[idx].astype(jnp.float32)  # (B,S,E)
    hpre = x0 @ w1.astype(jnp.float32) + b1.astype(jnp.float32)
    h = gelu(hpre)
    logits = h @ w2.astype(jnp.float32) + b2.astype(jnp.float32)
    logp = jax.nn.log_softmax(logits, axis=-1)
    valid = (target >= 0) & (target < V)
    t = jnp.where(valid, target, 0)
    nll = -jnp.take_along_axis(logp, t[..., None], axis=-1)[..., 0]
    loss = jnp.sum(jnp.where(valid, nll, 0.0))
    return loss, h


@jax.jit
def step(params, moments, whebb, proto, idx, target, t_step):
    (loss, h), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, idx, target)
    hf = h.reshape(ROWS, H)
    # Hebbian: W <- (1-decay) W + lr * spikes^T h
    spikes = (hf > 0.5).astype(jnp.float32)
    whebb = (1.0 - 1e-3) * whebb.astype(jnp.float32) + 1e-4 * (spikes.T @ hf)
    # Prototypes: assignment, segment sums, moving average.
    scores = hf @ proto.astype(jnp.float32).T
    assign = jnp.argmax(scores, axis=-1)
    sums = jax.ops.segment_sum(hf, assign, num_segments=T)
    counts = jax.ops.segment_sum(jnp.ones((ROWS,), jnp.float32), assign, num_segments=T)
    mean = sums / jnp.maximum(counts, 1.0)[:, None]
    p32 = proto.astype(jnp.float32)
    proto = jnp.where(counts[:, None] > 0, 0.95 * p32 + 0.05 * mean, p32)
    # Adam, L2-coupled weight decay.
    lr, b1, b2, eps, wd = 1e-3, 0.9, 0.999, 1e-8, 0.01
    new_params, new_moments = [], []
    for p, g, (m, v) in zip(params, grads, moments):
        p32, g32 = p.astype(jnp.float32), g.astype(jnp.float32)
        g32 = g32 + wd * p32
        m = b1 * m + (1 - b1) * g32
        v = b2 * v + (1 - b2) * g32 * g32
        mh = m / (1 - b1 ** t_step)
        vh = v / (1 - b2 ** t_step)
        new_params.append((p32 - lr * mh / (jnp.sqrt(vh) + eps)).astype(p.dtype))
        new_moments.append((m, v))
    return new_params, new_moments, whebb.astype(DT), proto.astype(DT), loss


def main():
    key = jax.random.PRNGKey(0)
    ks = jax.random.split(key, 10)
    params = [
        (jax.random.normal(ks[0], (V, E)) * 0.02).astype(DT),
        (jax.random.normal(ks[1], (E, H)) * (1 / E) ** 0.5).astype(DT),
        jnp.zeros((H,), DT),
        (jax.random.normal(ks[2], (H, V)) * (1 / H) ** 0.5).astype(DT),
        jnp.zeros((V,), DT),
    ]
    moments = [(jnp.zeros(p.shape, jnp.float32), jnp.zeros(p.shape, jnp.float32)) for p in params]
    whebb = jnp.zeros((H, H), DT)
    proto = (jax.random.normal(ks[3], (T, H)) * 0.1).astype(DT)
    idx = jax.random.randint(ks[4], (B, S), 0, V)
    target = jax.random.randint(ks[5], (B, S), -1, V)
    t0 = time.perf_counter()
    out = step(params, moments, whebb, proto, idx, target, 1.0)
    jax.block_until_ready(out)
    compile_s = time.perf_counter() - t0
    for _ in range(3):
        out = step(params, moments, whebb, proto, idx, target, 2.0)
        jax.block_until_ready(out)
    times = []
    for i in range(args.samples):
        t0 = time.perf_counter()
        out = step(params, moments, whebb, proto, idx, target, float(i + 3))
        jax.block_until_ready(out)
        times.append((time.perf_counter() - t0) * 1e3)
    if args.json:
        json.dump(
            {
                "jax": jax.__version__,
                "platform": jax.devices()[0].platform,
                "dtype": args.dtype,
                "t": T,
                "median_ms": statistics.median(times),
                "best_ms": min(times),
                "reps": args.samples,
                "compile_s": compile_s,
            },
            sys.stdout,
        )
        return 0
    print(
        f"jax {jax.__version__} {jax.devices()[0].platform} dtype={args.dtype} T={T}: "
        f"step median {statistics.median(times):.2f} ms, min {min(times):.2f} ms "
        f"({args.samples} samples; first call incl. compile {compile_s:.1f} s)"
    )


if __name__ == "__main__":
    sys.exit(main())
