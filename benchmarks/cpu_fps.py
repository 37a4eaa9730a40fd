"""CPU inference speed of every registered model at 512x512, as one table (Table 1's columns on a CPU).

Protocol (``bench.speed.timing``, through ``bench.speed.grid.measure_grid``): batch 1, eval mode, no autograd, warm-up
passes, then the median of timed runs, the models' runs interleaved. Next to FPS the table gives parameters, GMACs
and the effective rate (GMACs x FPS, in GMAC/s): a model whose rate is far below the others' spends its time in
operations that MAC counts do not weigh (depthwise, 1-D factorised or transposed convolutions, pooling/unpooling,
interpolation, element-wise work).
``--breakdown`` times each kind of layer in each model (forward hooks) with its GMAC/s.

FPS depends on the machine and on whatever else runs on it: the script prints the CPU, the torch thread count
and the load average before and after; FPS is only comparable within one run.

    .venv/bin/python benchmarks/cpu_fps.py [--runs 20] [--warmup 3] [--threads N] [--breakdown] [-m elb]
"""

from __future__ import annotations

import os
import time
from collections import defaultdict

import click
import torch
from torch import nn

from bench.machine import cpu_name
from bench.registry import build_model, model_names
from bench.report.paper import GPU_FPS
from bench.speed.complexity import count_gmacs, count_params
from bench.speed.grid import measure_grid


def layer_kind(module: nn.Module) -> str | None:
    """The kind of a leaf layer, in the terms that decide its CPU speed; None for containers."""
    if isinstance(module, nn.ConvTranspose2d):
        return "transposed conv"
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        if module.groups > 1 and module.groups == module.in_channels:
            return "depthwise conv"
        if (kh, kw) == (1, 1):
            return "1x1 conv"
        return "1-D conv (kx1/1xk)" if 1 in (kh, kw) else "kxk conv"
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return "batch norm"
    if isinstance(module, (nn.ReLU, nn.ReLU6, nn.PReLU, nn.Sigmoid)):
        return "activation"
    if isinstance(module, (nn.MaxPool2d, nn.MaxUnpool2d, nn.AdaptiveAvgPool2d)):
        return "pool/unpool"
    return None


def _conv_macs(module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    if isinstance(module, nn.ConvTranspose2d):  # counted per input pixel, as FlopCounterMode does
        return (
            x.numel() * module.out_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
        )
    if isinstance(module, nn.Conv2d):
        return y.numel() * module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
    return 0


def layer_breakdown(name: str, size: int, passes: int = 3) -> tuple[float, dict[str, tuple[float, float]]]:
    """Time per layer kind over ``passes`` eval passes: (seconds per pass, {kind: (seconds, GMACs)}).

    Each leaf layer is timed by forward hooks; what no hooked layer covers (functional ReLUs, interpolation,
    concatenation, residual additions, padding) is reported as "functional ops".
    """
    model = build_model(name).eval()
    x = torch.randn(1, 3, size, size)
    seconds: dict[str, float] = defaultdict(float)
    macs: dict[str, int] = defaultdict(int)
    starts: dict[int, float] = {}

    def before(module: nn.Module, args: tuple) -> None:
        starts[id(module)] = time.perf_counter()

    def after(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        kind = layer_kind(module)
        seconds[kind] += time.perf_counter() - starts.pop(id(module))
        macs[kind] += _conv_macs(module, args[0], output)

    handles = []
    for module in model.modules():
        if layer_kind(module) is not None:
            handles += [module.register_forward_pre_hook(before), module.register_forward_hook(after)]
    with torch.inference_mode():
        model(x)  # warm-up, not recorded
        seconds.clear()
        macs.clear()
        t0 = time.perf_counter()
        for _ in range(passes):
            model(x)
        total = (time.perf_counter() - t0) / passes
    for handle in handles:
        handle.remove()
    kinds = {k: (v / passes, macs[k] / passes / 1e9) for k, v in seconds.items()}
    kinds["functional ops"] = (max(total - sum(v for v, _ in kinds.values()), 0.0), 0.0)
    return total, kinds


@click.command()
@click.option("--size", default=512, show_default=True, help="square input side")
@click.option("--warmup", default=3, show_default=True)
@click.option("--runs", default=20, show_default=True)
@click.option("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
@click.option("-m", "--model", "models", multiple=True, help="registered model (repeatable; default: all)")
@click.option("--breakdown", is_flag=True, help="also time each kind of layer in each model")
def main(
    size: int, warmup: int, runs: int, threads: int | None, models: tuple[str, ...], breakdown: bool
) -> None:
    if threads is not None:
        torch.set_num_threads(threads)
    names = list(models) or model_names()
    load_before = os.getloadavg()
    counts = {}
    for name in names:
        model = build_model(name)
        counts[name] = count_params(model), count_gmacs(model, (size, size))
        del model
    # all models timed together, interleaved (bench.speed.timing), so machine load cannot reorder them
    timed = measure_grid(names, ["eager"], ["fp32"], size=size, warmup=warmup, runs=runs, threads=threads)
    rows = [(r["model"], *counts[r["model"]], r) for r in timed]
    load_after = os.getloadavg()

    click.echo(
        f"CPU: {cpu_name()} ({os.cpu_count()} logical CPUs), torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, fp32, input 1x3x{size}x{size}, "
        f"warm-up {warmup}, median of {runs}, models timed interleaved"
    )
    before, after = "/".join(f"{v:.2f}" for v in load_before), "/".join(f"{v:.2f}" for v in load_after)
    click.echo(f"load average (1/5/15 min): before {before}, after {after}")
    header = (
        f"{'model':<12} {'params M':>9} {'GMACs':>7} {'FPS':>7} {'ms':>8} {'p10-p90 FPS':>13} {'GMAC/s':>7}"
    )
    click.echo(f"{header} {'paper GPU FPS':>14}")
    click.echo("-" * (len(header) + 15))
    for name, params, gmacs, r in sorted(rows, key=lambda row: -row[3]["fps"]):
        paper = GPU_FPS.get(name)
        click.echo(
            f"{name:<12} {params / 1e6:>9.3f} {gmacs:>7.2f} {r['fps']:>7.2f} {r['ms_median']:>8.1f} "
            f"{r['fps_p10']:>6.2f}-{r['fps_p90']:<6.2f} {gmacs * r['fps']:>7.1f} "
            f"{'-' if paper is None else paper:>14}"
        )
    if breakdown:
        click.echo("\nshare of the time per layer kind (GMAC/s of that kind; layers with MACs only):")
        for name in names:
            total, kinds = layer_breakdown(name, size)
            parts = []
            for kind, (sec, g) in sorted(kinds.items(), key=lambda item: -item[1][0]):
                if sec / total >= 0.03:
                    parts.append(f"{kind} {sec / total:.0%}" + (f" ({g / sec:.0f})" if g > 0 else ""))
            click.echo(f"  {name:<12} {total * 1000:6.0f} ms: " + ", ".join(parts))


if __name__ == "__main__":
    main()
