#!/usr/bin/env bash
# The GPU speed table in one command: reports/speed_gpu.{csv,md} and reports/figures/roofline_gpu.png.
#
# Every model x {eager, compile, cudagraphs, onnxruntime (CUDA provider), tensorrt (onnxruntime's TensorRT provider)}
# x {fp32, fp16, bf16, int8} at 512x512, batch 1, timed interleaved (bench.speed.timing), with the GPU's fp32 SGEMM rate
# as the roofline's ceiling. Candidates that cannot run (no TensorRT provider, bf16 on onnxruntime, ...) are listed
# with the reason. PyTorch back ends run channels-last on CUDA.
#
#   benchmarks/gpu_speed.sh                      # all models, 200 timed rounds
#   RUNS=50 benchmarks/gpu_speed.sh --model elb  # extra arguments go to `bench speed-report`
#
# Needs a CUDA build of torch in the venv (the Makefile pins the CPU build): for example
#   .venv/bin/pip install --index-url https://download.pytorch.org/whl/cu128 torch
# and, for the onnxruntime CUDA/TensorRT back ends, onnxruntime-gpu in place of onnxruntime (INSTALL_ORT_GPU=1 does
# that swap; TensorRT itself comes from the `tensorrt` wheel or the system).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
if [ "${INSTALL_ORT_GPU:-0}" = 1 ]; then
    "$PY" -m pip uninstall -q -y onnxruntime
    "$PY" -m pip install -q onnxruntime-gpu tensorrt
fi
"$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else "no CUDA device visible to torch")'
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
"$PY" -m bench speed-report --device "${DEVICE:-cuda}" --out "${OUT:-reports}" --passes "${RUNS:-200}" \
    --warmup "${WARMUP:-20}" "$@"
