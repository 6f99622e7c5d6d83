"""PyTorch side by side with neurokern: times the cases of nk-cuda-bench's JSON with torch.

    python3 torch_bench.py neurokern.json --out DIR [--cpu]

matmul: torch.matmul with TF32 off (f32) and f16 with f32 accumulation (reduced-precision
reductions off), the cuBLAS anchors; softmax, layer_norm (affine), gelu (exact, erf) on
the same shapes. Writes DIR/torch.json and DIR/torch_vs_neurokern.md (neurokern's time
over torch's: below 1 is faster than PyTorch). --cpu: on the CPU (to try the bundle).
"""

import argparse
import json
import os
import statistics
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("neurokern")
    ap.add_argument("--out", required=True)
    ap.add_argument("--cpu", action="store_true")
    a = ap.parse_args()
    nk = json.load(open(a.neurokern))
    try:
        import torch
    except ImportError as e:
        write(a.out, {"error": f"torch not importable: {e}"}, nk, [])
        return
    dev = "cpu" if a.cpu or not torch.cuda.is_available() else "cuda"
    if dev == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction = False
    dt = {"f32": torch.float32, "f16": torch.float16}
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    rows = []
    for c in nk["cases"]:
        t = dt[c["dtype"]]
        d = c["dims"]
        if dev == "cpu" and t == torch.float16 and c["op"] == "matmul":
            t = torch.float32  # CPU f16 GEMMs are not what this compares
        g = torch.Generator(device=dev).manual_seed(1)
        rnd = lambda *s: torch.rand(*s, generator=g, device=dev, dtype=torch.float32).to(t) * 2 - 1
        if c["op"] == "matmul":
            b, m, k, n = d
            x, w = rnd(b * m, k), rnd(k, n)
            f = lambda: torch.matmul(x, w)
        elif c["op"] == "softmax":
            x = rnd(*d)
            f = lambda: torch.softmax(x, dim=-1)
        elif c["op"] == "layer_norm":
            x, gm, bt = rnd(*d), rnd(d[1]), rnd(d[1])
            f = lambda: torch.nn.functional.layer_norm(x, (d[1],), gm, bt, 1e-5)
        elif c["op"] == "gelu":
            x = rnd(*d)
            f = lambda: torch.nn.functional.gelu(x)
        else:
            continue
        ms = timeit(f, sync)
        r = dict(op=c["op"], dtype=c["dtype"], dims=d, torch_ms=ms, neurokern_ms=c["ms"],
                 ratio=c["ms"] / ms if ms > 0 else None)
        if c["op"] == "matmul":
            r["torch_gflops"] = 2.0 * d[0] * d[1] * d[2] * d[3] / (ms * 1e6)
            r["neurokern_gflops"] = c.get("gflops")
            r["fraction_of_torch"] = ms / c["ms"] if c["ms"] > 0 else None
        rows.append(r)
    meta = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0) if dev == "cuda" else "cpu",
            "tf32": False, "neurokern_device": nk.get("device"), "neurokern_backend": nk.get("backend")}
    write(a.out, meta, nk, rows)


def timeit(f, sync):
    f()
    sync()
    t = time.perf_counter()
    f()
    sync()
    once = max(time.perf_counter() - t, 1e-6)
    n = max(1, min(200, int(0.1 / once)))
    batches = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(n):
            f()
        sync()
        batches.append((time.perf_counter() - t) * 1e3 / n)
    return statistics.median(batches)


def write(out, meta, nk, rows):
    os.makedirs(out, exist_ok=True)
    json.dump({"meta": meta, "cases": rows}, open(os.path.join(out, "torch.json"), "w"), indent=2)
    with open(os.path.join(out, "torch_vs_neurokern.md"), "w") as f:
        f.write(f"## PyTorch side by side ({meta})\n\n")
        f.write("| op | dtype | dims | neurokern ms | torch ms | neurokern / torch | % of torch GEMM rate |\n")
        f.write("|---|---|---|---:|---:|---:|---:|\n")
        for r in rows:
            frac = r.get("fraction_of_torch")
            f.write(f"| {r['op']} | {r['dtype']} | {'x'.join(map(str, r['dims']))} | {r['neurokern_ms']:.4f} | "
                    f"{r['torch_ms']:.4f} | {r['ratio']:.2f} | {'' if frac is None else f'{100 * frac:.0f} %'} |\n")


if __name__ == "__main__":
    main()
