"""Speed of models x back ends x precisions on one device, timed together under ``bench.speed.timing``'s protocol.

The protocol (``docs/models.md``): eval mode, no autograd, a fixed random input, warm-up passes, then passes each
timed on its own with ``time.perf_counter`` (on a GPU the pass ends with a synchronize); FPS = batch size / time of
one pass, reported as the median with its spread, beside the device, dtype, threads and library versions, because FPS
is only comparable on one device under one configuration.

Every candidate that loads is timed in one interleaved round (A B C A B C ...), so the figures are comparable with
each other even on a shared machine. A candidate that cannot run is kept as a row with its reason in ``status``
(``not installed: ...`` or ``unsupported: ...``) and no figures, never dropped or replaced by another back end.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Sequence

import numpy as np
import torch

from bench.defaults import INPUT_SIZE
from bench.deploy.backends import DTYPE_NAMES, TORCH_BACKENDS, BackendError, NotInstalled
from bench.deploy.runtime import load_predictor
from bench.machine import cpu_name
from bench.speed.timing import PROTOCOL, summarize, time_interleaved


def device_name(device: torch.device) -> str:
    """The GPU's name on CUDA, else the CPU model."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_name()


def backend_version(backend: str) -> str:
    """The version of the library behind a back end (empty when it is not installed)."""
    try:
        if backend in ("onnxruntime", "tensorrt"):
            import onnxruntime

            return f"onnxruntime {onnxruntime.__version__}"
        if backend == "openvino":
            import openvino

            return f"openvino {openvino.get_version()}"
    except ImportError:
        return ""
    return f"torch {torch.__version__}"


def _prepare(row: dict[str, object], model: str, backend: str, precision: str, threads: int | None, device: str,
             size: int, calibration: str | os.PathLike | None, channels_last: bool | None,
             x: np.ndarray) -> Callable[[], object] | None:
    """The candidate's timed pass, run once; None (and the reason in ``row["status"]``) where it cannot run."""
    try:
        p = load_predictor(model, backend=backend, precision=precision, threads=threads, device=device,
                           size=size, calibration=calibration, channels_last=channels_last)
        fn = p.timed(x)
        fn()  # the first pass compiles, captures or allocates: its failure is this row's, not the grid's
        return fn
    except NotInstalled as e:
        row["status"] = f"not installed: {e}"
    except BackendError as e:
        row["status"] = f"unsupported: {e}"
    except Exception as e:  # a back end failing on one model must not stop the others
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        row["status"] = f"failed: {type(e).__name__}: {first}"
    return None


def measure_grid(models: Sequence[str], backends: Sequence[str], precisions: Sequence[str] = ("fp32",),
                 size: int = INPUT_SIZE, batch_size: int = 1, warmup: int = 10, runs: int = 50,
                 threads: int | None = None, device: str = "cpu", calibration: str | os.PathLike | None = None,
                 channels_last: bool | None = None, skip: Collection[tuple[str, str, str]] = (),
                 log: Callable[[str], None] | None = None) -> list[dict[str, object]]:
    """One row per model x back end x precision: status, then FPS and latency medians with their spread.

    ``skip``: (model, back end, precision) candidates not to run, kept as rows with status ``skipped``. A candidate
    whose first pass never returns (OpenVINO bf16 on ExtremeC3Net on this CPU: no result after 10 minutes) cannot be
    timed out from inside the process, so it is named on the command line instead.
    """
    x = np.random.default_rng(0).standard_normal((batch_size, 3, size, size)).astype(np.float32)
    dev = torch.device(device)
    name = device_name(dev) if dev.type != "cuda" or torch.cuda.is_available() else "no CUDA device visible"
    rows: list[dict[str, object]] = []
    candidates: dict[int, Callable[[], object]] = {}
    for model in models:
        for backend in backends:
            for precision in precisions:
                row: dict[str, object] = {"model": model, "backend": backend, "precision": precision,
                                          "dtype": DTYPE_NAMES[precision],
                                          "threads": threads or (torch.get_num_threads() if backend in TORCH_BACKENDS
                                                                 else "default"),
                                          "size": size, "batch_size": batch_size,
                                          "device": device, "device_name": name,
                                          "version": backend_version(backend), "status": "ok"}
                if (model, backend, precision) in skip:
                    row["status"] = "skipped: excluded on the command line (--skip)"
                else:
                    fn = _prepare(row, model, backend, precision, threads, device, size, calibration, channels_last, x)
                    if fn is not None:
                        candidates[len(rows)] = fn
                if log:
                    log(f"  {model} {backend} {precision}: {row['status']}")
                rows.append(row)
    if log:
        log(f"timing {len(candidates)} candidates: {warmup} warm-up passes each, then {runs} interleaved rounds")
    load_before = os.getloadavg()
    times = time_interleaved({str(i): fn for i, fn in candidates.items()}, warmup, runs) if candidates else {}
    load_after = os.getloadavg()
    for i, t in times.items():
        rows[int(i)].update(summarize(t, batch_size))
    for row in rows:
        row.update({"warmup": warmup, "runs": runs, "interleaved_with": len(candidates),
                    "load_before": round(load_before[0], 2), "load_after": round(load_after[0], 2),
                    "cpu_count": os.cpu_count(), "torch": torch.__version__, "protocol": PROTOCOL})
    return rows


def best_per_model(rows: Sequence[dict[str, object]]) -> dict[str, dict[str, object]]:
    """For each model, its fastest measured row."""
    best: dict[str, dict[str, object]] = {}
    for r in rows:
        if r.get("status") == "ok" and ("fps" in r) and (r["model"] not in best or r["fps"] > best[r["model"]]["fps"]):
            best[str(r["model"])] = r
    return best


def measure_fps(model_name: str, size: int = INPUT_SIZE, device: str = "cpu", batch_size: int = 1, warmup: int = 10,
                runs: int = 50, channels_last: bool = False, threads: int | None = None, backend: str = "eager",
                precision: str = "fp32") -> dict[str, object]:
    """Median FPS of one eval-mode pass of ``model_name`` (random weights) on a (batch, 3, size, size) input: the
    grid with one candidate, under the same protocol (``bench.speed.timing``); a candidate that cannot run raises
    ``BackendError``."""
    row = measure_grid([model_name], [backend], [precision], size=size, batch_size=batch_size, warmup=warmup,
                       runs=runs, threads=threads, device=device, channels_last=channels_last)[0]
    if row["status"] != "ok":
        raise BackendError(str(row["status"]).split(": ", 1)[1])
    row.update({"channels_last": channels_last, "half": precision == "fp16", "compile": backend == "compile",
                "timer": "perf_counter" + (" after cuda synchronize" if device.startswith("cuda") else "")})
    return row
