"""Training images/s of bench.train.loop, end to end (data pipeline included), for each speed setting, ELB and a
baseline.

    python benchmarks/train_throughput.py [--data DIR] [--models elb enet] [--size 256] [--batch-size 16]
                                          [--steps 12] [--settings fp32-stream fp32 bf16 bf16-cl]

Each setting is a real ``bench.train.loop`` run of two epochs of ``--steps`` steps; the figure is the second epoch's
images/s from its ``train_log.csv`` (the first holds one-off costs: oneDNN kernel selection, compilation). Settings:

  fp32-stream  fp32, NCHW, every sample decoded and resized each time it is drawn (the engine before caching)
  fp32         fp32, NCHW, samples decoded and resized once into memory
  fp32-cl      fp32, channels-last
  bf16         bf16 autocast, NCHW, cached
  bf16-cl      bf16 autocast and channels-last, cached (what --amp auto picks on an AVX512-BF16 CPU)
  bf16-cl-compile  the same with --compile (torch.compile, inductor); its one-off compilation falls in epoch 1

Without --data a synthetic set of 600x800 portraits (PFCN's size) is written to a temporary folder. Settings are run
round-robin over --repeats rounds and the median is printed, so load on a shared machine falls on all of them alike.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import tempfile
from pathlib import Path

import torch

from bench.data.synthetic import make_synthetic
from bench.machine import cpu_name
from bench.train.config import TrainConfig
from bench.train.loop import train

SETTINGS = {
    "fp32-stream": dict(amp="none", channels_last=False, cache_mb=0),
    "fp32": dict(amp="none", channels_last=False),
    "fp32-cl": dict(amp="none", channels_last=True),
    "bf16": dict(amp="bf16", channels_last=False),
    "bf16-cl": dict(amp="bf16", channels_last=True),
    "bf16-cl-compile": dict(amp="bf16", channels_last=True, compile=True),
}


def images_per_s(model: str, data: Path, out: Path, size: int, batch_size: int, steps: int, setting: str) -> float:
    cfg = TrainConfig(model=model, data=str(data), out=str(out), epochs=2, batch_size=batch_size, size=size,
                      max_iters_per_epoch=steps, workers=0, device="cpu", progress=False, **SETTINGS[setting])
    run = train(cfg)
    rows = list(csv.DictReader(open(run / "train_log.csv")))
    return float(rows[-1]["images_per_s"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="A portrait dataset [default: synthetic 600x800].")
    ap.add_argument("--models", nargs="+", default=["elb", "enet"])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    ap.add_argument("--json", type=Path, default=None,
                    help="Also write {model: {setting: {median, runs, amp, channels_last}}} here, with the machine.")
    args = ap.parse_args()
    record: dict = {"machine": cpu_name(), "threads": torch.get_num_threads(), "torch": torch.__version__,
                    "size": args.size, "batch_size": args.batch_size, "steps": args.steps, "repeats": args.repeats,
                    "unit": "images/s, the second epoch of each run", "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            n = args.batch_size * args.steps + 8
            data = make_synthetic(Path(tmp) / "data", n_train=n, n_test=8, size=(600, 800), seed=0)
        print(f"training throughput at {args.size}x{args.size}, batch {args.batch_size}, {args.steps} steps an epoch, "
              f"{cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
        for model in args.models:
            rates: dict[str, list[float]] = {s: [] for s in args.settings}
            for r in range(args.repeats):
                for s in args.settings:
                    out = Path(tmp) / f"{model}-{s}-{r}"
                    rates[s].append(images_per_s(model, data, out, args.size, args.batch_size, args.steps, s))
            base = statistics.median(rates[args.settings[0]])
            for s, v in rates.items():
                m = statistics.median(v)
                runs = ", ".join(f"{x:.1f}" for x in v)
                print(f"  {model:12s} {s:12s} {m:7.2f} images/s  (x{m / base:.2f}; runs {runs})")
                record["models"].setdefault(model, {})[s] = {"median": m, "runs": v, **SETTINGS[s]}
    if args.json:
        args.json.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
