"""End-to-end `segment` throughput on a folder of photos: decoding, fitting, ELB, mapping back and writing masks.

Issue 13's target: at least 10 images/s on 100 photos of 600x800 with ELB at 512x512 on a 2-core CPU. The photos are
the first 100 of ``--photos`` (a folder, e.g. a PFCN ``images/`` folder), or, without it, 100 generated 600x800
JPEGs (``bench.data.synthetic``'s portraits, so they decode like photos rather than like noise). The model is
``--model``
(a run folder, checkpoint or .onnx file), or ELB with its initial weights (the time does not depend on the weights).
Each pass goes through ``bench.segment.files.segment_images``, the code `bench segment` runs; the script prints every
pass, the median, the torch thread count and the load average before and after (the machine may be shared).

    .venv/bin/python benchmarks/segment_throughput.py [--photos DIR] [--model RUN] [--passes 3] [--outputs mask]
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import click
import cv2
import torch

from bench.data.synthetic import render_sample
from bench.deploy.runtime import load_predictor
from bench.machine import cpu_name
from bench.segment.files import IMAGE_SUFFIXES, segment_images
from bench.segment.photos import OUTPUTS, input_hw, load_segment_predictor, parse_background


def generated_photos(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """``n`` 600x800 (width x height) JPEGs of the synthetic portrait set (``bench.data.synthetic``)."""
    paths = []
    for i in range(n):
        p = folder / f"g{i:03d}.jpg"
        rgb = render_sample(seed, i, (600, 800)).image
        cv2.imwrite(str(p), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        paths.append(p)
    return paths


@click.command()
@click.option("--photos", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="A folder of photos (the first --count are used) [default: generated 600x800 JPEGs].")
@click.option("--model", "source", default=None, help="Run folder, checkpoint or .onnx [default: untrained ELB].")
@click.option("--size", default=512, show_default=True, help="Input side for the untrained ELB.")
@click.option("--count", default=100, show_default=True)
@click.option("--passes", default=3, show_default=True, help="Timed passes over the folder (median reported).")
@click.option("--outputs", default="mask", show_default=True, help=f"Comma-separated, of {', '.join(OUTPUTS)}.")
@click.option("--threads", default=None, type=int, help="torch.set_num_threads [default: torch's].")
def main(photos: Path | None, source: str | None, size: int, count: int, passes: int, outputs: str,
         threads: int | None) -> None:
    if threads:
        torch.set_num_threads(threads)
    if source:
        predictor, hw = load_segment_predictor(source, threads=threads), None
    else:
        predictor, hw = load_predictor("elb", threads=threads), size
    hw = input_hw(predictor, hw)
    wanted = tuple(o.strip() for o in outputs.split(",") if o.strip())
    background = parse_background("blur") if "background" in wanted else None
    with tempfile.TemporaryDirectory(prefix="segment-bench-") as tmp:
        tmp = Path(tmp)
        if photos:
            paths = sorted(p for p in photos.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:count]
        else:
            (tmp / "in").mkdir()
            paths = generated_photos(tmp / "in", count)
        shape = cv2.imread(str(paths[0])).shape
        print(f"{len(paths)} photos ({shape[1]}x{shape[0]} first) -> {', '.join(wanted)}; model input "
              f"{hw[0]}x{hw[1]}, {predictor.backend}, {torch.get_num_threads()} torch threads; "
              f"CPU: {cpu_name()} ({os.cpu_count()} logical CPUs)")
        print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
        segment_images(paths[:5], predictor, hw, tmp / "warmup", wanted, background)  # warm-up
        rates = []
        for i in range(passes):
            t0 = time.perf_counter()
            out = segment_images(paths, predictor, hw, tmp / f"out{i}", wanted, background)
            dt = time.perf_counter() - t0
            done = len(paths) - len(out.skipped)
            rates.append(done / dt)
            print(f"pass {i + 1}: {done} photos in {dt:.2f} s = {rates[-1]:.2f} images/s")
        print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
        print(f"median: {statistics.median(rates):.2f} images/s end to end (target >= 10)")


if __name__ == "__main__":
    main()
