#!/usr/bin/env bash
# The neurokern GPU run: the conformance suite and the benchmarks on an NVIDIA machine
# that has the driver, NVRTC and PyTorch, and no Rust. Built by `cargo xtask gpu-bundle`.
#
#   ./run.sh            conformance on CUDA (and Vulkan when a loader is found), the
#                       benchmarks, the PyTorch side by side
#   ./run.sh --cpu      the same steps on the CPU plugin and the simulated GPU (to try the
#                       bundle on a machine without a GPU)
#   ./run.sh --quick    conformance without the seed model's full-size cases
#
# NVRTC: the loader's libnvrtc.so.12, else the one PyTorch's environment installs
# (nvidia-cuda-nvrtc-cu12), else NEUROKERN_NVRTC_PATH as set by the caller.
# Results: results/<UTC date>-<device>/ (summary.md, conformance-*/report.{json,md},
# bench/*.json and *.md, logs/). Exit status: non-zero when a conformance run failed.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
PY="${PYTHON:-python3}"
CPU=0
QUICK=()
for a in "$@"; do
  case "$a" in
    --cpu) CPU=1 ;;
    --quick) QUICK=(--quick) ;;
    *) echo "run.sh: unknown argument $a (--cpu, --quick)" >&2; exit 2 ;;
  esac
done

if [ "$CPU" = 0 ] && command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  DEVICE="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1)"
else
  DEVICE="cpu-$(uname -m)"
fi
SLUG="$(printf '%s' "$DEVICE" | tr -c 'A-Za-z0-9._-' '-' | sed -e 's/--*/-/g' -e 's/-$//')"
OUT="${RESULTS_DIR:-$HERE/results}/$(date -u +%Y-%m-%d)-$SLUG"
mkdir -p "$OUT/logs" "$OUT/bench"
echo "results: $OUT"

if [ -z "${NEUROKERN_NVRTC_PATH:-}" ] && ! ldconfig -p 2>/dev/null | grep -q 'libnvrtc\.so'; then
  P="$("$PY" -c 'import os, nvidia.cuda_nvrtc as m; print(os.path.join(list(m.__path__)[0], "lib"))' 2>/dev/null)"
  [ -n "$P" ] && [ -d "$P" ] && export NEUROKERN_NVRTC_PATH="$P"
fi
# A Vulkan loader carried in the bundle, for machines that have the driver's ICD only.
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1' && [ -e "$HERE/lib/libvulkan.so.1" ]; then
  export LD_LIBRARY_PATH="$HERE/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
export NEUROKERN_PLUGIN_PATH="$HERE/plugins"
export NEUROKERN_CUDA_CACHE="$HERE/cache/cuda"

{
  echo "device: $DEVICE"; echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"; uname -a
  nvidia-smi 2>/dev/null || echo "nvidia-smi: not available"
  echo "NEUROKERN_NVRTC_PATH=${NEUROKERN_NVRTC_PATH:-}"
  "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1
} > "$OUT/logs/environment.txt"

STATUS=0
SUMMARY="$OUT/summary.md"
printf '# neurokern on %s\n\n| step | result |\n|---|---|\n' "$DEVICE" > "$SUMMARY"
step() { # name, command…: runs it with a log, records the outcome
  local name="$1"; shift
  local t0=$SECONDS
  "$@" > "$OUT/logs/$name.log" 2>&1
  local rc=$?
  printf '| %s | %s (%ss) |\n' "$name" "$([ $rc = 0 ] && echo ok || echo "failed, exit $rc")" "$((SECONDS - t0))" >> "$SUMMARY"
  echo "$name: exit $rc ($((SECONDS - t0)) s)"
  return $rc
}

if [ "$CPU" = 1 ]; then
  BACKENDS=(cpu)
else
  BACKENDS=(cuda)
  ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1' || [ -e "$HERE/lib/libvulkan.so.1" ] && BACKENDS+=(vulkan)
fi

for b in "${BACKENDS[@]}"; do
  NEUROKERN_REQUIRE="$b" step "conformance-$b" "$HERE/bin/conformance" --backend "$b" --quiet \
    "${QUICK[@]}" --out "$OUT/conformance-$b" || STATUS=1
done
if [ "$CPU" = 0 ]; then
  # f16 once more on the FP32 cores, so a tensor-core problem is told apart.
  NEUROKERN_REQUIRE=cuda NEUROKERN_CUDA_TENSOR_CORES=0 step conformance-cuda-f16-fp32-cores \
    "$HERE/bin/conformance" --backend cuda --dtype f16 --quiet "${QUICK[@]}" \
    --out "$OUT/conformance-cuda-f16-fp32-cores" || STATUS=1
fi

BENCH_DEVICES="$(IFS=,; echo "${BACKENDS[*]}")"
# nk-bench's anchors are CPU libraries (numpy, JAX); PyTorch on the GPU is the anchor here.
step nk-bench "$HERE/bin/nk-bench" --backend "$BENCH_DEVICES" --out "$OUT/bench" --name nk-bench \
  --no-anchors "${QUICK[@]}" || true
if [ "$CPU" = 1 ]; then
  step nk-cuda-bench "$HERE/bin/nk-cuda-bench" --backend sim --smoke --json "$OUT/bench/neurokern.json" || true
else
  step nk-cuda-bench "$HERE/bin/nk-cuda-bench" --backend cuda --json "$OUT/bench/neurokern.json" || true
fi
[ -s "$OUT/bench/neurokern.json" ] && step torch "$PY" "$HERE/torch_bench.py" \
  "$OUT/bench/neurokern.json" --out "$OUT/bench" $([ "$CPU" = 1 ] && echo --cpu) || true

for r in "$OUT"/conformance-*/report.md; do
  [ -e "$r" ] || continue
  printf '\n## %s\n\n' "$(basename "$(dirname "$r")")" >> "$SUMMARY"
  head -n 40 "$r" >> "$SUMMARY"
done
if [ -e "$OUT/bench/torch_vs_neurokern.md" ]; then
  printf '\n' >> "$SUMMARY"; cat "$OUT/bench/torch_vs_neurokern.md" >> "$SUMMARY"
fi
echo "summary: $SUMMARY"
exit $STATUS
