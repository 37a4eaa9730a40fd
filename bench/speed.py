"""Inference speed with a protocol a reviewer accepts (``docs/models.md``, FPS protocol).

Eval mode, no autograd (``torch.inference_mode``), a fixed random input, ``warmup`` untimed passes, then ``runs``
passes each timed on its own: with CUDA events on a GPU (and a synchronize before reading them), with
``time.perf_counter`` on a CPU. FPS = batch size / time of one pass; the report gives the median and the spread
(10th and 90th percentiles, interquartile range) with the device name, dtype, threads and torch version, because FPS
is only comparable on one device under one configuration.
"""

from __future__ import annotations

import os
import time

import numpy as np
import torch

from bench.machine import cpu_name
from bench.registry import build_model


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_name()


def _time_once(model: torch.nn.Module, x: torch.Tensor, device: torch.device) -> float:
    """Seconds for one forward pass, the device synchronised before the clock is read."""
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        model(x)
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1000.0
    t0 = time.perf_counter()
    model(x)
    return time.perf_counter() - t0


def measure_fps(
    model_name: str,
    size: int = 512,
    device: str = "cpu",
    batch_size: int = 1,
    warmup: int = 10,
    runs: int = 50,
    channels_last: bool = False,
    half: bool = False,
    compile: bool = False,
    threads: int | None = None,
    seed: int = 0,
) -> dict[str, object]:
    """Median FPS of one eval-mode forward pass of ``model_name`` on a (batch, 3, size, size) input."""
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda requested but this torch build sees no CUDA device")
    if half and dev.type != "cuda":
        raise ValueError("--half (fp16) is only measured on CUDA; CPU runs fp32")
    if warmup < 0 or runs < 1:
        raise ValueError("warmup must be >= 0 and runs >= 1")
    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    dtype = torch.float16 if half else torch.float32
    model = build_model(model_name).eval().to(dev, dtype)
    x = torch.randn(batch_size, 3, size, size, generator=torch.Generator().manual_seed(seed)).to(dev, dtype)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    if compile:
        model = torch.compile(model)
    with torch.inference_mode():
        for _ in range(warmup):
            model(x)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        times = np.array([_time_once(model, x, dev) for _ in range(runs)])
    fps = batch_size / times
    return {
        "model": model_name,
        "fps": float(np.median(fps)),
        "fps_p10": float(np.percentile(fps, 10)),
        "fps_p90": float(np.percentile(fps, 90)),
        "fps_iqr": float(np.percentile(fps, 75) - np.percentile(fps, 25)),
        "ms_median": float(np.median(times) * 1000.0),
        "size": size,
        "batch_size": batch_size,
        "warmup": warmup,
        "runs": runs,
        "device": str(dev),
        "device_name": device_name(dev),
        "dtype": str(dtype).replace("torch.", ""),
        "channels_last": channels_last,
        "half": half,
        "compile": compile,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "timer": "cuda events" if dev.type == "cuda" else "perf_counter",
    }
