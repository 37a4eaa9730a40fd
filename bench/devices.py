"""Which torch device a command runs on: checked before any work (a typo is one clear line), resolved in one place."""

from __future__ import annotations

import re

from bench.errors import DeviceError

DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
DEVICES_HELP = "auto, cpu, cuda or cuda:N."


def check_device(spec: str) -> str:
    """Return ``spec`` if this machine can run on it (auto, cpu, cuda, cuda:N), else raise ``DeviceError``."""
    if not DEVICE_RE.match(spec):
        raise DeviceError(f"{spec!r} is not a device; use auto, cpu, cuda or cuda:N")
    if spec.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise DeviceError(f"{spec}: this torch build sees no CUDA device (use cpu)")
        index = int(spec.split(":")[1]) if ":" in spec else 0
        if index >= torch.cuda.device_count():
            raise DeviceError(f"{spec}: only {torch.cuda.device_count()} CUDA device(s) here")
    return spec


def resolve_device(spec: str) -> str:
    """``auto`` as this machine reads it (cuda where torch sees a GPU, else cpu); any other spec checked and kept."""
    if spec == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return check_device(spec)


def is_cuda(spec: str) -> bool:
    return spec.startswith("cuda")


def device_option(_ctx: object, param: object, spec: str) -> str:
    """A click option callback: a device this machine cannot use is a usage error before any work."""
    import click

    try:
        return check_device(spec)
    except DeviceError as e:
        raise click.BadParameter(str(e), param=param) from None
