"""OpenBLAS (or whatever BLAS numpy links) on the GEMM shapes of nk-bench: an anchor.

Reads a JSON request on stdin:
  {"gemms": [[name, batch, m, k, n], ...], "min_reps": 5, "max_reps": 200, "budget_s": 2.0}
and prints one JSON object on stdout:
  {"numpy": version, "blas": [...], "results": [{"name", "median_ms", "best_ms", "reps"}]}

The thread count is set by the caller through OPENBLAS_NUM_THREADS / OMP_NUM_THREADS /
MKL_NUM_THREADS before this starts; threadpoolctl, when installed, reports which BLAS and
kernel ran, with how many threads.
"""
import json
import statistics
import sys
import time

import numpy as np


def blas_info():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return [{"note": "threadpoolctl is not installed: BLAS library and kernel unknown"}]
    keep = ("user_api", "internal_api", "version", "num_threads", "architecture", "filepath")
    return [{k: i.get(k) for k in keep} for i in threadpool_info() if i.get("user_api") == "blas"]


def time_gemm(batch, m, k, n, min_reps, max_reps, budget_s):
    rng = np.random.default_rng(0)
    a = rng.uniform(-1.0, 1.0, (batch, m, k)).astype(np.float32)
    b = rng.uniform(-1.0, 1.0, (batch, k, n)).astype(np.float32)
    c = np.empty((batch, m, n), dtype=np.float32)
    if batch == 1:
        a, b, c = a[0], b[0], c[0]
    np.matmul(a, b, out=c)  # warm-up
    times = []
    start = time.perf_counter()
    while len(times) < min_reps or (
        len(times) < max_reps and time.perf_counter() - start < budget_s
    ):
        t0 = time.perf_counter()
        np.matmul(a, b, out=c)
        times.append((time.perf_counter() - t0) * 1e3)
    return {"median_ms": statistics.median(times), "best_ms": min(times), "reps": len(times)}


def main():
    req = json.load(sys.stdin)
    results = []
    for name, batch, m, k, n in req["gemms"]:
        r = time_gemm(batch, m, k, n, req["min_reps"], req["max_reps"], req["budget_s"])
        r["name"] = name
        results.append(r)
    json.dump({"numpy": np.__version__, "blas": blas_info(), "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
