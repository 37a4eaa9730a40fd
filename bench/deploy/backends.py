"""The back-end matrix: which back ends and precisions exist, on which device, and what each one needs installed.

The runtime checks a request against it, the speed grid and ``bench run-all --speed-backend best`` iterate it, and the
commands' ``--backend`` and ``--precision`` choices are read from it, so a back end is added in one place.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable

from bench.errors import UserError

TORCH_BACKENDS = ("eager", "compile", "cudagraphs")
BACKENDS = ("eager", "compile", "onnxruntime", "openvino", "cudagraphs", "tensorrt")
PRECISIONS = ("fp32", "bf16", "fp16", "int8")
DEVICE_BACKENDS = {
    "cpu": ("eager", "compile", "onnxruntime", "openvino"),
    "cuda": ("eager", "compile", "cudagraphs", "onnxruntime", "tensorrt"),
}
DEVICE_PRECISIONS = {"cpu": ("fp32", "bf16", "int8"), "cuda": ("fp32", "fp16", "bf16", "int8")}
# `bench eval` scores a model on these (compiling or graph-capturing changes speed, not what is computed)
EVAL_BACKENDS = ("eager", "onnxruntime", "openvino")
DTYPE_NAMES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "int8": "int8"}
# the Python module each optional back end needs (the `speed` extra installs them)
_BACKEND_MODULES = {"onnxruntime": "onnxruntime", "openvino": "openvino", "tensorrt": "onnxruntime"}


class BackendError(UserError):
    """A back end is not installed, or cannot run this source, precision or device; the message says which."""


class NotInstalled(BackendError):
    """The back end's package is not installed (``pip install -e .[speed]``)."""


def device_kind(device: str) -> str:
    return "cuda" if device.startswith("cuda") else "cpu"


def backends_for(device: str) -> tuple[str, ...]:
    return DEVICE_BACKENDS[device_kind(device)]


def precisions_for(device: str) -> tuple[str, ...]:
    return DEVICE_PRECISIONS[device_kind(device)]


def expand(values: Iterable[str], every: tuple[str, ...]) -> list[str]:
    """Repeated choices, with "all" standing for ``every``; order kept, duplicates dropped."""
    out: list[str] = []
    for v in values:
        out += [e for e in (every if v == "all" else (v,)) if e not in out]
    return out


def backend_installed(backend: str) -> bool:
    module = _BACKEND_MODULES.get(backend)
    return module is None or importlib.util.find_spec(module) is not None


def installed_backends(device: str) -> list[str]:
    """The device's back ends whose packages are installed here."""
    return [b for b in backends_for(device) if backend_installed(b)]


def onnx_backend(what: str) -> str:
    """The back end that runs ``what`` (an ONNX file, or int8) unless told: onnxruntime, else openvino; when neither
    is installed, ``NotInstalled`` says that either would do (not that the last one tried is missing)."""
    for backend in ("onnxruntime", "openvino"):
        if backend_installed(backend):
            return backend
    raise NotInstalled(f"{what} runs on onnxruntime or openvino, and neither is installed here "
                       "(pip install onnxruntime)")


def require(backend: str) -> None:
    if backend not in BACKENDS:
        raise BackendError(f"unknown back end {backend!r}; known: {', '.join(BACKENDS)}")
    if not backend_installed(backend):
        raise NotInstalled(f"back end {backend} is not installed (pip install -e .[speed] installs "
                           f"{_BACKEND_MODULES[backend]})")


def check_combination(backend: str, precision: str, device: str) -> None:
    """Raise ``BackendError`` with the reason when ``backend`` cannot run ``precision`` on ``device``."""
    cuda = device_kind(device) == "cuda"
    if precision not in PRECISIONS:
        raise BackendError(f"unknown precision {precision!r}; known: {', '.join(PRECISIONS)}")
    if cuda and backend in TORCH_BACKENDS:
        import torch

        if not torch.cuda.is_available():
            raise BackendError("device cuda requested but this torch build sees no CUDA device")
    if backend not in backends_for(device):
        where = "on CUDA only (--device cuda)" if backend in DEVICE_BACKENDS["cuda"] else "on the CPU only"
        raise BackendError(f"back end {backend} runs {where}")
    if precision not in precisions_for(device):
        raise BackendError(f"{precision} is measured on CUDA only; the CPU runs fp32, bf16 or int8")
    if precision == "int8" and backend in TORCH_BACKENDS:
        raise BackendError("int8 runs from a statically quantized ONNX file: use back end onnxruntime or openvino")
    if precision == "bf16" and backend in ("onnxruntime", "tensorrt"):
        raise BackendError(f"back end {backend} has no bf16 execution here; use eager, compile or openvino")
    if precision == "fp16" and backend == "onnxruntime":
        raise BackendError("fp16 through onnxruntime is measured with back end tensorrt")
