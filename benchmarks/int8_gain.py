"""int8 against fp32 for one trained run: speed-up on the same back end and mIoU change (the issue's int8 target).

Exports the run to ONNX in fp32 and in int8 (static quantization calibrated on ``--calib-images`` of its training
images), evaluates both with ``bench eval``'s pipeline on the run's test split, and times fp32 and int8 interleaved
(``bench.speed.timing``) on each ONNX back end at the run's size. Prints a median-FPS table, the speed-up and the mIoU
change in points; the ONNX files and metrics land in ``--out``.

    .venv/bin/python benchmarks/int8_gain.py --run runs/paper/pfcn/elb [--size 512] [--runs 30] [--threads N]
"""

from __future__ import annotations

import os
from pathlib import Path

import click
import numpy as np

from bench.deploy.backends import BackendError, backend_installed
from bench.deploy.export import CALIBRATION_IMAGES, export_source
from bench.deploy.runtime import load_predictor
from bench.eval.evaluate import evaluate, model_source
from bench.speed.timing import summarize, time_interleaved


@click.command()
@click.option("--run", "run_dir", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--out", default=None, type=click.Path(file_okay=False), help="[default: <run>/onnx]")
@click.option("--size", default=None, type=int, help="Export, evaluation and timing size [default: the run's].")
@click.option("--calib-images", default=CALIBRATION_IMAGES, show_default=True)
@click.option("--warmup", default=5, show_default=True)
@click.option("--runs", default=30, show_default=True)
@click.option("--threads", default=None, type=int, help="[default: each back end's own]")
def main(run_dir: str, out: str | None, size: int | None, calib_images: int, warmup: int, runs: int,
         threads: int | None) -> None:
    folder = Path(out or Path(run_dir) / "onnx")
    files = {p: export_source(run_dir, folder / f"model-{p}.onnx", size=size, precision=p,
                              calibration_images=calib_images) for p in ("fp32", "int8")}
    backends = [b for b in ("onnxruntime", "openvino") if backend_installed(b)]
    miou = {p: evaluate(model_source(f, backend=backends[0]))["miou"] for p, f in files.items()}
    preds = {}
    for b in backends:
        for p, f in files.items():
            try:
                preds[(b, p)] = load_predictor(f, backend=b, threads=threads)
            except BackendError as e:
                click.echo(f"{b} {p}: {e}")
    x = np.random.default_rng(0).standard_normal((1, 3, *[next(iter(preds.values())).input_size] * 2))
    load = os.getloadavg()[0]
    times = time_interleaved({f"{b} {p}": pr.timed(x.astype(np.float32)) for (b, p), pr in preds.items()},
                             warmup, runs)
    fps = {k: summarize(t)["fps"] for k, t in times.items()}
    click.echo(f"{run_dir}: {x.shape[2]}x{x.shape[3]}, batch 1, threads {threads or 'default'}, median of {runs} "
               f"interleaved runs; load average {load:.2f} -> {os.getloadavg()[0]:.2f}")
    for b in backends:
        if f"{b} fp32" in fps and f"{b} int8" in fps:
            click.echo(f"  {b:<12} fp32 {fps[f'{b} fp32']:8.2f} FPS, int8 {fps[f'{b} int8']:8.2f} FPS: "
                       f"x{fps[f'{b} int8'] / fps[f'{b} fp32']:.2f}")
    click.echo(f"  mIoU ({backends[0]}): fp32 {100 * miou['fp32']:.2f}, int8 {100 * miou['int8']:.2f}, "
               f"change {100 * (miou['int8'] - miou['fp32']):+.2f} points")


if __name__ == "__main__":
    main()
