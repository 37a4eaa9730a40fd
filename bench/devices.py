"""Which torch devices a command may name, checked before any work so a typo is one clear line."""

from __future__ import annotations

import re

DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def check_device(spec: str) -> str:
    """Return ``spec`` if this machine can run on it (auto, cpu, cuda, cuda:N), else raise ``ValueError``."""
    if not DEVICE_RE.match(spec):
        raise ValueError(f"{spec!r} is not a device; use auto, cpu, cuda or cuda:N")
    if spec.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ValueError(f"{spec}: this torch build sees no CUDA device (use cpu)")
        index = int(spec.split(":")[1]) if ":" in spec else 0
        if index >= torch.cuda.device_count():
            raise ValueError(f"{spec}: only {torch.cuda.device_count()} CUDA device(s) here")
    return spec


def device_option(_ctx: object, param: object, spec: str) -> str:
    """A click option callback: a device this machine cannot use is a usage error before any work."""
    import click

    try:
        return check_device(spec)
    except ValueError as e:
        raise click.BadParameter(str(e), param=param) from None
