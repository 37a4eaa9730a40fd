"""Per-photo time of the Python API (``PortraitSegmenter.probability``, what `segment` runs per photo) on an idle
machine and on a busy one, for each threading setting.

    .venv/bin/python benchmarks/segment_busy.py [--model elb-pfcn] [--photos 30] [--rounds 3] [--settings ...]

"Busy" is a load generator started here and stopped at the end of each measurement: ``--load python``, one process
per core spinning in pure Python; ``--load torch`` (default), one PyTorch process convolving on every core, as
another model's training or inference would (two OpenMP pools spinning against each other is where the cliff is).
Each setting runs in a fresh interpreter (OpenMP
reads its environment once, when torch loads), the settings in turn over ``--rounds`` rounds, so a change of the
machine's state falls on all of them; the median seconds per photo of each is printed, idle and busy, with the best
setting's and the ratio to it. Photos: generated 600x800 portraits (``bench.data.synthetic``), the same every run.

Settings (``SETTINGS``): ``default`` (what the API does when no thread count is asked), ``threads-N`` (N threads,
OpenMP's default active waiting) and ``passive-N`` (N threads with OMP_WAIT_POLICY=PASSIVE: a waiting thread sleeps
instead of spinning).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time

WORKER = r"""
import json, os, sys, time
settings, model, n = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
os.environ.update(settings.get("env", {}))
import warnings
from bench.data.synthetic import render_sample
from bench.segment.portrait import PortraitSegmenter
seg = PortraitSegmenter.from_pretrained(model, threads=settings.get("threads"), refine=settings.get("refine", "auto"))
photos = [render_sample(1, i, (600, 800)).image for i in range(n)]
seg.probability(photos[0])  # warm-up: the first pass allocates
t0 = time.perf_counter()
for p in photos:
    seg.probability(p)
print(json.dumps({"s_per_photo": (time.perf_counter() - t0) / n}))
"""

SETTINGS = {
    "default": {},
    "threads-1": {"threads": 1},
    "threads-2": {"threads": 2},
    "passive-2": {"threads": 2, "env": {"OMP_WAIT_POLICY": "PASSIVE"}},
}


def _spin(stop, ready) -> None:
    ready.set()
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def _torch_load(stop, ready) -> None:
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    conv = torch.nn.Conv2d(32, 32, 3, padding=1)
    x = torch.randn(8, 32, 64, 64)
    with torch.inference_mode():
        conv(x)
        ready.set()
        while not stop.is_set():
            conv(x)


def _load_processes(kind: str, stop, ready) -> list:
    ctx = multiprocessing.get_context("spawn")
    if kind == "torch":
        return [ctx.Process(target=_torch_load, args=(stop, ready))]
    return [ctx.Process(target=_spin, args=(stop, ready)) for _ in range(os.cpu_count() or 1)]


def _measure(setting: dict, model: str, photos: int) -> float:
    r = subprocess.run([sys.executable, "-c", WORKER, json.dumps(setting), model, str(photos)], capture_output=True,
                       text=True, timeout=1800)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "worker failed")
    return json.loads(r.stdout.strip().splitlines()[-1])["s_per_photo"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="elb-pfcn")
    ap.add_argument("--photos", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    ap.add_argument("--refine", default="auto", help="The API's refine argument in every setting.")
    ap.add_argument("--load", choices=("torch", "python"), default="torch", help="The busy machine's other program.")
    args = ap.parse_args()
    from bench.machine import cpu_name

    cores = os.cpu_count() or 1
    print(f"{args.model}, {args.photos} photos of 600x800 a measurement, {args.rounds} rounds, busy = a {args.load} "
          f"load; {cpu_name()}, {cores} cores; load average before {os.getloadavg()[0]:.2f}")
    times: dict[tuple[str, str], list[float]] = {}
    for r in range(args.rounds):
        for state in ("idle", "busy"):
            ctx = multiprocessing.get_context("spawn")
            stop, ready = ctx.Event(), ctx.Event()
            load = _load_processes(args.load, stop, ready) if state == "busy" else []
            for p in load:
                p.start()
            try:
                if load and not ready.wait(120):  # the load is running before anything is timed
                    raise RuntimeError("the load generator did not start")
                time.sleep(1.0 if load else 0.0)
                for name in args.settings:
                    setting = {**SETTINGS[name], "refine": args.refine}
                    s = _measure(setting, args.model, args.photos)
                    times.setdefault((state, name), []).append(s)
                    print(f"  round {r + 1} {state:<4} {name:<14} {1000 * s:8.1f} ms a photo", flush=True)
            finally:
                stop.set()
                for p in load:
                    p.join()
    for state in ("idle", "busy"):
        med = {n: statistics.median(times[(state, n)]) for n in args.settings}
        best = min(med.values())
        print(f"{state}: median ms a photo (x the best setting)")
        for n, v in sorted(med.items(), key=lambda kv: kv[1]):
            print(f"  {n:<14} {1000 * v:8.1f}  (x{v / best:.2f})")


if __name__ == "__main__":
    main()
