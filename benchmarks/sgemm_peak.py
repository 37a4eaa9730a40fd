"""This machine's fp32 matrix-multiply rate: the reference line of ``reports/figures/roofline.png`` (a measured rate,
not a bound: models can run above it).

Best of 5 ``torch.mm`` products of two 4096x4096 fp32 matrices (2 n^3 flops each), all cores by default; prints
GFLOP/s with the CPU, the thread count and the load average, since a busy machine lowers it.

    .venv/bin/python benchmarks/sgemm_peak.py [--size 4096] [--repeats 5] [--threads N]
"""

from __future__ import annotations

import os

import click
import torch

from bench.machine import cpu_name
from bench.speed.report import SGEMM_N, SGEMM_REPEATS, sgemm_gflops


@click.command()
@click.option("--size", default=SGEMM_N, show_default=True, help="matrix side")
@click.option("--repeats", default=SGEMM_REPEATS, show_default=True, help="timed products; the best is kept")
@click.option("--threads", type=int, default=None, help="torch threads (default: all cores)")
def main(size: int, repeats: int, threads: int | None) -> None:
    threads = threads or os.cpu_count() or 1
    before = os.getloadavg()[0]
    rate = sgemm_gflops(size, repeats, threads)
    click.echo(f"SGEMM fp32 {size}x{size}, best of {repeats}: {rate:.1f} GFLOP/s on {cpu_name()}, "
               f"{torch.get_num_threads()} threads, torch {torch.__version__}; "
               f"load average {before:.2f} -> {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
