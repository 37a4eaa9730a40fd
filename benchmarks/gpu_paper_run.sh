#!/usr/bin/env bash
# The paper profile on one GPU in one command, from a pack of the dataset (`bench pack`), within a wall-time budget.
#
#   .venv/bin/bench pack --data data/pfcn --size 512 --out pfcn-512.npz     # once, where the dataset is (~51 MB)
#   benchmarks/gpu_paper_run.sh pfcn-512.npz                               # on the GPU machine -> reports/paper/
#   MODELS=all benchmarks/gpu_paper_run.sh pfcn-512.npz                    # every model of the profile (see below)
#
# What it runs, in order, with the outputs in the record format of every other run (docs/runs.md):
#   1. `bench run-all --profile paper --pfcn PACK --parallel N`: the unfinished jobs train N at a time, one process
#      each on the GPU, from batches decoded once onto the GPU and augmented there (bench/data/device_batches.py);
#      then each job is evaluated at 512 and at 600x800 (the pack keeps the native test masks), timed (eager FPS,
#      batch 1) and counted, and results.csv, run_info.json, the tables, the figures and each run's small files
#      (reports/paper/runs/pfcn/<run>/) are written. Checkpoints stay in $RUNS_DIR/paper/pfcn/<run>/.
#   2. benchmarks/gpu_speed.sh for the same models: reports/paper/speed_gpu.{csv,md}, figures/roofline_gpu.png.
# Step 1 gets the budget minus SPEED_RESERVE_S; step 2 whatever is left. `timeout` stops a step and its processes at
# its share; every finished epoch is checkpointed, so running the script again on the same machine resumes.
#
# The budget (docs/runs.md, "The paper profile on one GPU"): by our estimate from MACs, the seven models and the
# ablation need about 10 minutes of H200 time for 100 epochs of training alone, ERFNet and BiSeNet (26 of the grid's
# 42 GMACs per image) about 6 of them. The default MODELS is therefore the largest subset we expect to finish in 10
# minutes with evaluation and the speed table: ELB, BFB-DR4, ENet, ICNet, PortraitNet and the ELB loss ablation.
# MODELS=all runs the whole profile (estimated 13-15 minutes; raise BUDGET_S), MODELS=erfnet,bisenet the rest.
#
# Settings (environment): DEVICE (cuda; cpu for the test), PROFILE (paper, or a .toml), MODELS, PARALLEL (8),
# OUT (reports/paper), RUNS_DIR (runs), BUDGET_S (600), SPEED_RESERVE_S (150), SPEED_RUNS (50), SPEED_SIZE (512),
# SPEED_ARGS (more options for the speed table, e.g. "--backend eager --backend cudagraphs" to skip TensorRT's engine
# builds, the one part of the budget we cannot estimate; the speed table needs neither the pack nor the training, so
# if it does not finish in what is left, `benchmarks/gpu_speed.sh` alone on another lease completes it),
# MPS=1 to run the jobs under an MPS daemon of our own (kernels of the N processes then overlap; off by default, as it
# changes how the GPU is shared), PYTHON (.venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."
PACK=${1:?usage: benchmarks/gpu_paper_run.sh PACK.npz (made by: bench pack --data DIR --size 512 --out PACK.npz)}
PY=${PYTHON:-.venv/bin/python}
DEVICE=${DEVICE:-cuda}
PROFILE=${PROFILE:-paper}
OUT=${OUT:-reports/paper}
RUNS_DIR=${RUNS_DIR:-runs}
MODELS=${MODELS:-elb,elb-dr4,enet,icnet,portraitnet}
PARALLEL=${PARALLEL:-8}
BUDGET_S=${BUDGET_S:-600}
SPEED_RESERVE_S=${SPEED_RESERVE_S:-150}
SPEED_RUNS=${SPEED_RUNS:-50}
SPEED_SIZE=${SPEED_SIZE:-512}
start=$SECONDS

[ -f "$PACK" ] || { echo "$PACK: no such pack file" >&2; exit 1; }
if [ "$DEVICE" != cpu ]; then
    "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else "no CUDA device visible to torch")'
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
fi
if [ "${MPS:-0}" = 1 ] && command -v nvidia-cuda-mps-control >/dev/null; then
    export CUDA_MPS_PIPE_DIRECTORY=${TMPDIR:-/tmp}/bench-mps-pipe CUDA_MPS_LOG_DIRECTORY=${TMPDIR:-/tmp}/bench-mps-log
    mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
    nvidia-cuda-mps-control -d && trap 'echo quit | nvidia-cuda-mps-control' EXIT && echo "MPS daemon started"
fi

model_args=()
speed_models=()
if [ "$MODELS" != all ]; then
    model_args=(--models "$MODELS")
    IFS=, read -ra names <<< "$MODELS"
    for m in "${names[@]}"; do speed_models+=(--model "$m"); done
fi

train_budget=$((BUDGET_S - SPEED_RESERVE_S))
echo "[gpu-run] training, evaluation and tables: at most ${train_budget}s"
rc=0
timeout --kill-after=10 "$train_budget" "$PY" -m bench run-all --profile "$PROFILE" --pfcn "$PACK" \
    "${model_args[@]}" --device "$DEVICE" --parallel "$PARALLEL" --out "$OUT" --runs "$RUNS_DIR" || rc=$?
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    echo "[gpu-run] the budget ran out before run-all finished; finished epochs are checkpointed in $RUNS_DIR:" \
         "run the script again to resume" >&2
elif [ "$rc" != 0 ]; then
    exit "$rc"
fi

left=$((BUDGET_S - (SECONDS - start)))
if [ "$left" -lt 10 ]; then
    echo "[gpu-run] no time left for the speed table" >&2
elif [ "$DEVICE" = cpu ]; then  # the CUDA table degrades to the same command on the CPU: eager fp32, one thread
    echo "[gpu-run] speed table on the CPU (eager fp32; the GPU table needs CUDA): at most ${left}s"
    timeout "$left" "$PY" -m bench speed-report --device cpu --out "$OUT" "${speed_models[@]}" --backend eager \
        --precision fp32 --threads 1 --passes "$SPEED_RUNS" --warmup 0 --size "$SPEED_SIZE" --sgemm-size 64
else
    echo "[gpu-run] GPU speed table: at most ${left}s"
    OUT="$OUT" RUNS="$SPEED_RUNS" DEVICE="$DEVICE" PYTHON="$PY" timeout --kill-after=10 "$left" \
        benchmarks/gpu_speed.sh "${speed_models[@]}" --size "$SPEED_SIZE" ${SPEED_ARGS:-} || echo "[gpu-run] speed table: exit $?" >&2
fi
echo "[gpu-run] done in $((SECONDS - start))s: $OUT"
exit "$rc"
