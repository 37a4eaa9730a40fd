"""The project's one inference runtime: any model source on any back end behind one callable, ``Predictor``.

``load_predictor(source, backend=..., precision=..., threads=..., device=...)`` takes a registered model name (random
weights: for speed only), a training run folder, a checkpoint file or an ``.onnx`` file, and returns a Predictor:
``predictor(batch)`` maps an ImageNet-normalised float32 (N, 3, H, W) array to float32 (N, C, H, W) logits.

Back ends: ``eager`` and ``compile`` (PyTorch, CPU or CUDA), ``cudagraphs`` (eager captured in a CUDA graph),
``onnxruntime`` (CPU, or the CUDA provider on ``device="cuda"``), ``tensorrt`` (onnxruntime's TensorRT provider) and
``openvino`` (CPU). A PyTorch source given to an ONNX back end is exported first (``bench.deploy.export``) at a
fixed size.
Precisions: ``fp32``; ``bf16`` (PyTorch, OpenVINO); ``fp16`` (CUDA only); ``int8``, post-training static
quantization, which runs from a quantized ONNX file on onnxruntime or OpenVINO. A back end that is not installed or a
combination that does not exist raises ``BackendError`` with a one-line reason; nothing falls back silently.
What a source is is ``bench.deploy.sources``'s; which back end runs what, and the errors, ``bench.deploy.backends``'.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from bench.deploy.backends import (
    TORCH_BACKENDS,
    BackendError,
    NotInstalled,
    check_combination,
    onnx_backend,
    require,
)
from bench.deploy.card import ModelCard
from bench.deploy.export import export_onnx, is_quantized, quantize_int8
from bench.deploy.sources import load_torch_model, onnx_metadata, resolve
from bench.deploy.threads import AUTO, FreeCores
from bench.devices import resolve_device

_TORCH_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


# -- predictors --------------------------------------------------------------------------------------------------
class Predictor:
    """Logits for a batch; ``timed(batch)`` gives the zero-argument pass that ``bench.speed.timing`` times.

    ``backend``, ``precision``, ``device``, ``threads`` (None: the back end's default; ``AUTO``: the cores other
    programs leave free, ``bench.deploy.threads``), ``input_size`` (the one
    square size accepted, or None when any size is), ``card`` (the model: ``bench.deploy.card``; None for a bare
    module) and ``calibration`` (an int8 file's calibration record) describe it.
    """

    backend: str
    precision: str
    device: str
    threads: int | str | None
    input_size: int | None
    card: ModelCard | None = None
    calibration: dict | None = None

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def timed(self, batch: np.ndarray) -> Callable[[], object]:
        """One pass on ``batch`` staged once (on the device), returning when the result is ready."""
        return lambda: self(batch)

    def _check(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, np.float32)
        if batch.ndim != 4 or batch.shape[1] != 3:
            raise ValueError(f"expected a (N, 3, H, W) batch, got shape {batch.shape}")
        if self.input_size is not None and batch.shape[2:] != (self.input_size, self.input_size):
            raise ValueError(f"this {self.backend} model takes {self.input_size}x{self.input_size} input, "
                             f"got {batch.shape[2]}x{batch.shape[3]}")
        return batch


class ModulePredictor(Predictor):
    """A PyTorch module as it is (its device, dtype and layout untouched), in inference mode: how training's periodic
    evaluation and the report's figures run a model they already hold."""

    def __init__(self, model: nn.Module, card: ModelCard | None = None, device: str | torch.device = "cpu",
                 threads: int | str | None = None) -> None:
        self.backend, self.precision, self.threads, self.input_size = "eager", "fp32", threads, None
        self.free_cores = FreeCores() if threads == AUTO and torch.device(device).type == "cpu" else None
        self.card = card if card is not None else getattr(model, "card", None)
        self.dev = torch.device(device)
        self.device = str(self.dev)
        self.dtype = torch.float32
        self.memory_format = torch.contiguous_format
        self.module = model.eval()

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        wanted = self.free_cores.threads() if self.free_cores is not None else self.threads
        if isinstance(wanted, int) and torch.get_num_threads() != wanted:
            torch.set_num_threads(wanted)  # torch's pool is global: each predictor keeps its own count
        with torch.inference_mode():
            out = self._run(x)
        return out["out"] if isinstance(out, dict) else out

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)

    def _stage(self, batch: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(self._check(batch)).to(self.dev, self.dtype)
        return x.contiguous(memory_format=self.memory_format)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self._forward(self._stage(batch)).float().cpu().numpy()

    def timed(self, batch: np.ndarray) -> Callable[[], object]:
        x = self._stage(batch)
        if self.dev.type != "cuda":
            return lambda: self._forward(x)

        def run() -> None:
            self._forward(x)
            torch.cuda.synchronize(self.dev)

        return run


class TorchPredictor(ModulePredictor):
    """PyTorch eager, ``torch.compile`` or a CUDA graph of the eager model (captured once per input shape), the model
    moved to the device, dtype and memory layout asked for."""

    def __init__(self, model: nn.Module, card: ModelCard, backend: str, precision: str, device: str,
                 threads: int | str | None, channels_last: bool) -> None:
        super().__init__(model, card, device, threads)
        self.backend, self.precision = backend, precision
        self.dtype = _TORCH_DTYPES[precision]
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        model = model.eval().to(self.dev, self.dtype).to(memory_format=self.memory_format)
        self.module = torch.compile(model) if backend == "compile" else model
        self.graphs: dict[tuple[int, ...], tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]] = {}

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        return self._replay(x) if self.backend == "cudagraphs" else self.module(x)

    def _replay(self, x: torch.Tensor) -> torch.Tensor:
        key = tuple(x.shape)
        if key not in self.graphs:
            static_x = x.clone()
            stream = torch.cuda.Stream(self.dev)
            stream.wait_stream(torch.cuda.current_stream(self.dev))
            with torch.cuda.stream(stream):
                for _ in range(3):  # warm-up on a side stream, as CUDA graph capture requires
                    self.module(static_x)
            torch.cuda.current_stream(self.dev).wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_y = self.module(static_x)
            self.graphs[key] = (graph, static_x, static_y)
        graph, static_x, static_y = self.graphs[key]
        static_x.copy_(x)
        graph.replay()
        return static_y


class OnnxRuntimePredictor(Predictor):
    """An ONNX file in an onnxruntime session (CPU, CUDA or TensorRT provider)."""

    def __init__(self, model_path: str, card: ModelCard, backend: str, precision: str, device: str,
                 threads: int | str | None) -> None:
        import onnxruntime as ort

        self.backend, self.precision, self.device, self.threads, self.card = backend, precision, device, threads, card
        self.calibration = onnx_metadata(model_path).get("calibration")
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.inter_op_num_threads = 1
        if isinstance(threads, int):
            opts.intra_op_num_threads = threads
        elif threads == AUTO:  # its pool's spinning is what falls off the cliff on a busy machine
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = _ort_providers(backend, precision, device, ort.get_available_providers())
        self.session = ort.InferenceSession(model_path, opts, providers=providers)
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.input_size = _static_size(inp.shape)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: self._check(batch)})[0].astype(np.float32, copy=False)

    def timed(self, batch: np.ndarray) -> Callable[[], object]:
        if not self.device.startswith("cuda"):
            feed = {self.input_name: self._check(batch)}
            return lambda: self.session.run(None, feed)
        import onnxruntime as ort  # on a GPU the input stays on the device: time the model, not the copy

        binding = self.session.io_binding()
        x = ort.OrtValue.ortvalue_from_numpy(self._check(batch), "cuda", _cuda_index(self.device))
        binding.bind_ortvalue_input(self.input_name, x)
        binding.bind_output(self.session.get_outputs()[0].name, "cuda", _cuda_index(self.device))

        def run() -> None:
            self.session.run_with_iobinding(binding)
            binding.synchronize_outputs()

        return run


class OpenVinoPredictor(Predictor):
    """An ONNX file compiled by OpenVINO for the CPU, latency-oriented."""

    def __init__(self, model_path: str, card: ModelCard, precision: str, threads: int | str | None) -> None:
        import openvino as ov

        self.backend, self.precision, self.device, self.threads, self.card = "openvino", precision, "cpu", threads, card
        self.calibration = onnx_metadata(model_path).get("calibration")
        core = ov.Core()
        # explicit: on CPUs with bf16 units OpenVINO would otherwise pick bf16 for an fp32 model
        config: dict[str, object] = {"PERFORMANCE_HINT": "LATENCY",
                                     "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32"}
        if isinstance(threads, int):
            config["INFERENCE_NUM_THREADS"] = threads
        model = core.read_model(model_path)
        self.input_size = _static_size([d.get_length() if d.is_static else None for d in model.inputs[0].partial_shape])
        try:
            self.compiled = core.compile_model(model, "CPU", config)
        except RuntimeError as e:
            raise BackendError(f"openvino cannot compile this model as {precision} on this CPU: "
                               f"{str(e).strip().splitlines()[0]}") from e
        self.request = self.compiled.create_infer_request()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return np.array(self.request.infer({0: self._check(batch)})[0], np.float32)

    def timed(self, batch: np.ndarray) -> Callable[[], object]:
        x = self._check(batch)
        return lambda: self.request.infer({0: x})


def _static_size(shape: list) -> int | None:
    """The square side of a fixed (N, 3, S, S) input; None when height or width is dynamic."""
    h, w = shape[2], shape[3]
    return h if isinstance(h, int) and h == w else None


def _cuda_index(device: str) -> int:
    return int(device.split(":")[1]) if ":" in device else 0


def _ort_providers(backend: str, precision: str, device: str, available: list[str]) -> list:
    if backend == "tensorrt":
        if "TensorrtExecutionProvider" not in available:
            raise NotInstalled("back end tensorrt needs onnxruntime-gpu built with TensorRT "
                               "(TensorrtExecutionProvider is not available)")
        opts = {"device_id": _cuda_index(device), "trt_fp16_enable": precision == "fp16",
                "trt_int8_enable": precision == "int8", "trt_engine_cache_enable": True,
                "trt_engine_cache_path": os.path.join(tempfile.gettempdir(), "bench-trt-cache")}
        return [("TensorrtExecutionProvider", opts), "CUDAExecutionProvider", "CPUExecutionProvider"]
    if device.startswith("cuda"):
        if "CUDAExecutionProvider" not in available:
            raise NotInstalled("onnxruntime on CUDA needs onnxruntime-gpu (CUDAExecutionProvider is not available)")
        return [("CUDAExecutionProvider", {"device_id": _cuda_index(device)}), "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def load_predictor(source: str | os.PathLike | ModelCard, *, backend: str = "auto", precision: str = "fp32",
                   threads: int | str | None = None, device: str = "cpu", size: int | None = None,
                   calibration: str | os.PathLike | None = None, channels_last: bool | None = None) -> Predictor:
    """A Predictor for ``source`` (anything ``bench.deploy.sources.resolve`` takes, or a card) on ``backend`` at
    ``precision`` (see the module docstring); ``predictor.card`` is the source's card.

    ``backend="auto"``: onnxruntime (else openvino) for an ONNX file or an int8 request, eager otherwise.
    ``device``: cpu, cuda, cuda:N or auto (cuda where torch sees a GPU, else cpu).
    Optional: ``size``, the fixed input side when a PyTorch source is exported for an ONNX back end (default: the
    run's training size, or the model's native size); ``calibration``, the dataset whose training images calibrate
    int8 quantization of a float source; ``channels_last`` (PyTorch back ends; default: on for CUDA only);
    ``threads``: a count, None (the back end's own) or ``AUTO`` (PyTorch on a CPU: before each pass, the cores other
    programs left free; onnxruntime: its own count without spinning).
    An ONNX file that is already quantized runs as int8 whatever ``precision`` says, and reports it.
    """
    card = resolve(source)
    device = resolve_device(device)  # auto: cuda where torch sees a GPU, else cpu
    onnx_file = card.provenance.onnx is not None
    if backend == "auto":
        if onnx_file or precision == "int8":
            backend = onnx_backend(f"{card.name}: an ONNX file" if onnx_file else "int8")
        else:
            backend = "eager"
    require(backend)
    if onnx_file and backend in TORCH_BACKENDS:
        raise BackendError(f"{card.name}: an ONNX file runs on onnxruntime, openvino or tensorrt, not {backend}")
    if onnx_file and onnx_metadata(card.name).get("baked"):  # a Predictor feeds normalised float batches
        raise BackendError(f"{card.name}: its preprocessing is baked in (uint8 photos in, probabilities out); run it "
                           "as docs/deploy.md shows, or export without --bake-preprocess")
    if onnx_file and is_quantized(card.name):
        precision = "int8"
    check_combination(backend, precision, device)
    if threads is not None and threads != AUTO and (not isinstance(threads, int) or threads < 1):
        raise BackendError(f"threads must be >= 1 or {AUTO!r}")
    if backend in TORCH_BACKENDS:
        cl = device.startswith("cuda") if channels_last is None else channels_last
        return TorchPredictor(load_torch_model(card), card, backend, precision, device, threads, cl)
    path = _onnx_for(card, precision, size, calibration)
    if size and not onnx_file:
        card = card.at_size(size)
    if backend == "openvino":
        return OpenVinoPredictor(str(path), card, precision, threads)
    return OnnxRuntimePredictor(str(path), card, backend, precision, device, threads)


_EXPORTS: dict[tuple, Path] = {}  # exports made by this process, reused by later predictors of the same source
_EXPORT_DIR: dict[str, Path] = {}  # their folder, removed when the process ends


def _export_dir() -> Path:
    if "dir" not in _EXPORT_DIR:
        _EXPORT_DIR["dir"] = Path(tempfile.mkdtemp(prefix="bench-runtime-"))
        atexit.register(shutil.rmtree, _EXPORT_DIR["dir"], True)
    return _EXPORT_DIR["dir"]


def _onnx_for(card: ModelCard, precision: str, size: int | None,
              calibration: str | os.PathLike | None) -> Path:
    """The ONNX file to run: the card's own, or this process's export (and int8 quantization) of its model."""
    src = Path(card.weights.path) if card.weights else None
    stamp = src.stat().st_mtime_ns if src is not None and src.exists() else 0  # a run trained further: again
    key = (card.name, stamp, size, str(calibration) if precision == "int8" else None)
    if key in _EXPORTS and _EXPORTS[key].is_file():
        return _EXPORTS[key]
    if card.provenance.onnx:
        path = Path(card.provenance.onnx)
    else:
        base = (card.name, stamp, size, None)
        if base not in _EXPORTS or not _EXPORTS[base].is_file():
            _EXPORTS[base] = export_onnx(load_torch_model(card), _export_dir() / f"model{len(_EXPORTS)}.onnx",
                                         size=int(size or card.size), card=card)
        path = _EXPORTS[base]
    if precision == "int8" and not is_quantized(path):
        if calibration is None:
            raise BackendError(f"{card.name}: int8 needs calibration images: give a dataset (--calib-data) or a "
                               "quantized ONNX file from `bench export --precision int8`")
        path = quantize_int8(path, _export_dir() / f"model{len(_EXPORTS)}.int8.onnx", calibration)
    _EXPORTS[key] = path
    return path
