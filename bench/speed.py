"""Inference speed with a protocol a reviewer accepts (``docs/models.md``, FPS protocol).

Eval mode, no autograd (``torch.inference_mode``), a fixed random input, ``warmup`` untimed passes, then ``runs``
passes each timed on its own with ``time.perf_counter`` (on a GPU the pass ends with a synchronize); the protocol
itself is ``bench.timing``'s, shared by every comparison. FPS = batch size / time of one pass; the report gives the
median and the spread (10th and 90th percentiles, interquartile range) with the device name, dtype, threads and
torch version, because FPS is only comparable on one device under one configuration.
"""

from __future__ import annotations

from bench.speedgrid import measure_grid


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
    backend: str | None = None,
    precision: str | None = None,
) -> dict[str, object]:
    """Median FPS of one eval-mode forward pass of ``model_name`` on a (batch, 3, size, size) input.

    One candidate of ``bench.speedgrid.measure_grid``: the back end defaults to eager (compile with ``compile``),
    the precision to fp32 (fp16 with ``half``).
    """
    backend = backend or ("compile" if compile else "eager")
    precision = precision or ("fp16" if half else "fp32")
    if warmup < 0 or runs < 1:
        raise ValueError("warmup must be >= 0 and runs >= 1")
    row = measure_grid([model_name], [backend], [precision], size=size, batch_size=batch_size, warmup=warmup,
                       runs=runs, threads=threads, device=device, channels_last=channels_last)[0]
    if row["status"] != "ok":
        raise ValueError(str(row["status"]).split(": ", 1)[1])
    row.update({"channels_last": channels_last, "half": precision == "fp16", "compile": backend == "compile",
                "timer": "perf_counter" + (" after cuda synchronize" if device.startswith("cuda") else "")})
    return row
