#!/usr/bin/env bash
# The GPU check, one command, on a machine with one H100/H200 (or, with tiny sizes, on a CPU):
#   bash benchmarks/gpu_check.sh
# 1. checks: the step loop under torch.cuda.set_sync_debug_mode("error") (eager and captured),
#    CUDA in use, bf16 autocast, torch.compile, CUDA graphs, determinism;
# 2. the benchmark: (a) conventional pipeline, (b) this project's path, (c) (b) with whole-step
#    CUDA graph capture + bf16 + channels_last, then K = 4 and 8 concurrent processes of (c);
# 3. one full CIFAR-10-LT rho=100 UniMix+Bayias ResNet-32 cell through the trainer (as (c));
# then one table. Installs nothing; uses the package from src/. Sized for < 8 min on an H100/H200.
# Env: GPU_CHECK_EPOCHS (200), GPU_CHECK_IMAGES (all 12,406), GPU_CHECK_TEST_IMAGES (10000),
#      GPU_CHECK_BENCH_EPOCHS (2), GPU_CHECK_PROCESSES (4,8), GPU_CHECK_OUT (results/gpu_check).
# Exit status: 1 when a check or a step failed (the other steps still run).
set -u
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
PY="${PYTHON:-python3}"
EPOCHS="${GPU_CHECK_EPOCHS:-200}"
TEST_IMAGES="${GPU_CHECK_TEST_IMAGES:-10000}"
BENCH_EPOCHS="${GPU_CHECK_BENCH_EPOCHS:-2}"
PROCESSES="${GPU_CHECK_PROCESSES:-4,8}"
OUT="${GPU_CHECK_OUT:-$ROOT/results/gpu_check}"
IMAGES=()
if [ -n "${GPU_CHECK_IMAGES:-}" ]; then IMAGES=(--images "$GPU_CHECK_IMAGES"); fi
mkdir -p "$OUT"
rm -rf "$OUT"/checks.json "$OUT"/bench.json "$OUT"/cell.json "$OUT"/cell-work
status=0
FAST=()
if "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  FAST=(--fast)
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi

echo "== 1/3 checks (sync, fast path)"
"$PY" benchmarks/gpu_check.py --json "$OUT/checks.json" || status=1

echo "== 2/3 benchmark: conventional vs this project${FAST[*]:+ vs graph+bf16+channels_last}, then K=$PROCESSES processes at once"
"$PY" benchmarks/train_bench.py --epochs "$BENCH_EPOCHS" ${IMAGES[@]+"${IMAGES[@]}"} --test-images "$TEST_IMAGES" \
  --processes "$PROCESSES" ${FAST[@]+"${FAST[@]}"} --json "$OUT/bench.json" || status=1

echo "== 3/3 one $EPOCHS-epoch CIFAR-10-LT rho=100 UniMix+Bayias ResNet-32 cell"
t0=$(date +%s)
"$PY" benchmarks/full_cell.py --epochs "$EPOCHS" ${IMAGES[@]+"${IMAGES[@]}"} --test-images "$TEST_IMAGES" \
  --work "$OUT/cell-work" --json "$OUT/cell.json" || status=1
echo "full cell step: $(( $(date +%s) - t0 )) s including data loading and evaluation"

echo "== summary ($OUT)"
"$PY" benchmarks/gpu_check.py --summary "$OUT"
exit $status
