#!/usr/bin/env bash
# The paper profile on one GPU in one command, from a pack of the dataset (`bench pack`), within a wall-time budget.
#
#   .venv/bin/bench pack --data data/pfcn --size 512 --out pfcn-512.npz     # once, where the dataset is (~51 MB)
#   benchmarks/gpu_paper_run.sh pfcn-512.npz                               # on the GPU machine -> reports/paper-gpu/
#   MODELS=all benchmarks/gpu_paper_run.sh pfcn-512.npz                    # every model of the profile (see below)
#
# What it runs, in order, with the outputs in the record format of every other run (docs/runs.md):
#   1. `bench run-all --profile paper --pfcn PACK --parallel N`: the unfinished jobs train N at a time, one process
#      each on the GPU, from batches decoded once onto the GPU and augmented there (bench/data/device_batches.py);
#      then each job is evaluated at 512 and at 600x800 (the pack keeps the native test masks), timed (eager FPS,
#      batch 1) and counted, and results.csv, run_info.json, the tables, the figures and each run's small files
#      ($REPORT_DIR/runs/pfcn/<run>/) are written. Checkpoints stay in $RUNS_DIR/paper/pfcn/<run>/.
#   2. benchmarks/gpu_speed.sh for the same models: $REPORT_DIR/speed_gpu.{csv,md}, figures/roofline_gpu.png.
# Step 1 gets the budget minus SPEED_RESERVE_S; step 2 whatever is left. `timeout` stops a step and its processes at
# its share; every finished epoch is checkpointed, so running the script again on the same machine resumes.
#
# A GPU run is a report of its own (REPORT_DIR, default reports/paper-gpu), never reports/paper: run-all takes a
# recorded run as finished only when it was trained on the same device type, in the same precision and from the same
# data format, and refuses to write a GPU run over a CPU record (bench/runall/run.py), so the CPU-trained ELB cannot
# enter a GPU table. The tables' footers name the device (run_info.json).
#
# On a rented GPU machine the lease's OUT folder may be all that comes back, and only a few files from it, not deep
# ones: when OUT is set, the script ends (whatever its exit status) by writing there everything it made:
#   $OUT/<REPORT_DIR's name>.tar.gz   the report folder (tables, figures, results, each run's record); to restore it:
#                                     tar -xzf paper-gpu.tar.gz -C reports/
#   $OUT/gpu_paper_run.log            everything the script printed
# Checkpoints stay in RUNS_DIR (tens of MB each: more than a lease brings back).
#
# The budget (docs/runs.md, "The paper profile on one GPU"): by our estimate from MACs, the seven models and the
# ablation need about 10 minutes of H200 time for 100 epochs of training alone, ERFNet and BiSeNet (26 of the grid's
# 42 GMACs per image) about 6 of them. The default MODELS is therefore the largest subset we expect to finish in 10
# minutes with evaluation and the speed table: ELB, BFB-DR4, ENet, ICNet, PortraitNet and the ELB loss ablation.
# MODELS=all runs the whole profile (estimated 13-15 minutes; raise BUDGET_S), MODELS=erfnet,bisenet the rest.
# The speed reserve (150 s) fits eager and CUDA-graph timing of the default models in every precision (about 30
# candidates of 70 passes of a few ms, plus the SGEMM roofline: under a minute by the same estimate), so that is the
# default SPEED_ARGS; torch.compile and TensorRT build each model for minutes and do not fit: SPEED_ARGS="--backend
# all" runs them, best with `benchmarks/gpu_speed.sh` alone on a lease of its own (it needs neither pack nor training).
#
# Settings (environment): DEVICE (cuda; cpu for the test), PROFILE (paper, or a .toml), MODELS, PARALLEL (8),
# REPORT_DIR (reports/paper-gpu), RUNS_DIR (runs/gpu), OUT (the lease's output folder, if any; see above),
# BUDGET_S (600), SPEED_RESERVE_S (150), SPEED_RUNS (50), SPEED_SIZE (512), SPEED_ARGS (options for the speed table;
# default "--backend eager --backend cudagraphs"), MPS=1 to run the jobs under an MPS daemon of our own (kernels of
# the N processes then overlap; off by default, as it changes how the GPU is shared), PYTHON (.venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."
PACK=${1:?usage: benchmarks/gpu_paper_run.sh PACK.npz (made by: bench pack --data DIR --size 512 --out PACK.npz)}
PY=${PYTHON:-.venv/bin/python}
DEVICE=${DEVICE:-cuda}
PROFILE=${PROFILE:-paper}
REPORT_DIR=${REPORT_DIR:-reports/paper-gpu}
RUNS_DIR=${RUNS_DIR:-runs/gpu}
MODELS=${MODELS:-elb,elb-dr4,enet,icnet,portraitnet}
PARALLEL=${PARALLEL:-8}
BUDGET_S=${BUDGET_S:-600}
SPEED_RESERVE_S=${SPEED_RESERVE_S:-150}
SPEED_RUNS=${SPEED_RUNS:-50}
SPEED_SIZE=${SPEED_SIZE:-512}
SPEED_ARGS=${SPEED_ARGS:---backend eager --backend cudagraphs}
start=$SECONDS

if [ -n "${OUT:-}" ] && [ -z "${GPU_RUN_LOGGED:-}" ]; then  # run again with its output logged, then bring it all out
    mkdir -p "$OUT"
    rc=0
    GPU_RUN_LOGGED=1 "$0" "$@" 2>&1 | tee "$OUT/gpu_paper_run.log" || rc=$?
    if [ -d "$REPORT_DIR" ]; then
        tar -C "$(dirname "$REPORT_DIR")" -czf "$OUT/$(basename "$REPORT_DIR").tar.gz" "$(basename "$REPORT_DIR")"
        echo "[gpu-run] $REPORT_DIR -> $OUT/$(basename "$REPORT_DIR").tar.gz; log: $OUT/gpu_paper_run.log"
    fi
    exit "$rc"
fi

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
    "${model_args[@]}" --device "$DEVICE" --parallel "$PARALLEL" --out "$REPORT_DIR" --runs "$RUNS_DIR" || rc=$?
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
    timeout "$left" "$PY" -m bench speed-report --device cpu --out "$REPORT_DIR" "${speed_models[@]}" --backend eager \
        --precision fp32 --threads 1 --passes "$SPEED_RUNS" --warmup 0 --size "$SPEED_SIZE" --sgemm-size 64
else
    echo "[gpu-run] GPU speed table: at most ${left}s"
    # shellcheck disable=SC2086  # SPEED_ARGS: several options
    OUT="$REPORT_DIR" RUNS="$SPEED_RUNS" DEVICE="$DEVICE" PYTHON="$PY" timeout --kill-after=10 "$left" \
        benchmarks/gpu_speed.sh "${speed_models[@]}" --size "$SPEED_SIZE" $SPEED_ARGS || echo "[gpu-run] speed table: exit $?" >&2
fi
echo "[gpu-run] done in $((SECONDS - start))s: $REPORT_DIR"
exit "$rc"
