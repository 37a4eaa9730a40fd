"""Training images/s of a model (ELB by default) at 512x512 and 256x256, batch 16, on one device.

    python benchmarks/train_throughput.py [--model elb] [--sizes 512 256] [--batch-size 16] [--iters 3]
                                          [--device cpu]

A step is what bench.train does per batch: forward in train mode, the model's default loss (the adaptive loss for
ELB, with boundary weights from the data pipeline), backward and an Adam step. Data loading is left out (one batch is
prepared first; see loader_throughput.py for the loader). One untimed warm-up step, then the mean over --iters steps.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from bench.data import Augment, PortraitTorchDataset
from bench.losses import compute_loss
from bench.registry import build_model, default_loss
from bench.speed import device_name
from bench.synthetic import make_synthetic


def step_rate(model_name: str, data: Path, size: int, batch_size: int, iters: int, device: torch.device) -> float:
    loss_kind = default_loss(model_name)
    ds = PortraitTorchDataset(data, "train", size, Augment(), weights=loss_kind == "adaptive")
    batch = next(iter(DataLoader(ds, batch_size=batch_size)))
    x, y = batch["image"].to(device), batch["mask"].to(device)
    w = batch["weight"].to(device) if "weight" in batch else None
    torch.manual_seed(0)
    model = build_model(model_name).to(device).train()
    aux = dict(getattr(model, "aux_losses", None) or {})
    opt = torch.optim.Adam(model.parameters(), lr=5e-4, weight_decay=1e-4)

    def step() -> None:
        loss, _ = compute_loss(model(x), y, w, loss_kind, aux)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(iters):
        step()
    return batch_size * iters / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="elb")
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 256])
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        data = make_synthetic(Path(tmp) / "data", n_train=args.batch_size, n_test=1, size=(600, 800))
        print(f"{args.model} training throughput, batch {args.batch_size}, fp32, {device_name(device)} ({device}), "
              f"{torch.get_num_threads()} threads, torch {torch.__version__}")
        for size in args.sizes:
            rate = step_rate(args.model, data, size, args.batch_size, args.iters, device)
            print(f"  {size}x{size}: {rate:7.2f} images/s ({args.batch_size / rate:.2f} s per step)")


if __name__ == "__main__":
    main()
