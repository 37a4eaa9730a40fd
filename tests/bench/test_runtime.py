"""The inference runtime and ONNX export: every source on every installed back end gives the PyTorch logits."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from bench.cli.main import main
from bench.deploy import backends
from bench.deploy.backends import BackendError, NotInstalled
from bench.deploy.runtime import load_predictor
from bench.registry import build_model, model_names
from tests.bench.helpers import make_portrait_dataset

SIZE = 64


def _batch(n: int = 1, size: int = SIZE) -> np.ndarray:
    return np.random.default_rng(1).standard_normal((n, 3, size, size)).astype(np.float32)


def _checkpoint(tmp_path, data) -> str:
    """A checkpoint in bench.train.loop's format (random ELB weights, BN statistics made non-trivial)."""
    model = build_model("elb")
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    path = tmp_path / "checkpoint.pt"
    torch.save({"model": model.state_dict(), "config": {"model": "elb", "size": SIZE, "data": str(data)},
                "epoch": 3}, path)
    return str(path)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_portrait_dataset(tmp_path_factory.mktemp("data") / "tiny", n_train=6, n_test=2, size=SIZE)


def test_eager_predictor_is_deterministic_for_a_name_and_reports_itself():
    p = load_predictor("elb")
    out = p(_batch(2))
    assert out.dtype == np.float32 and out.shape == (2, 2, SIZE, SIZE)
    assert p.backend == "eager" and p.precision == "fp32" and p.input_size is None
    np.testing.assert_array_equal(out, load_predictor("elb")(_batch(2)))  # same name, same random weights


def test_device_auto_is_the_gpu_if_there_is_one_else_the_cpu():
    p = load_predictor("elb", device="auto")
    assert p.device == ("cuda" if torch.cuda.is_available() else "cpu")
    assert p(_batch(1)).shape == (1, 2, SIZE, SIZE)


@pytest.mark.parametrize("name", model_names())
def test_export_every_model_matches_pytorch_in_onnxruntime(tmp_path, name):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    import onnx

    from bench.deploy.export import export_source

    path = export_source(name, tmp_path / f"{name}.onnx", size=SIZE)
    graph = onnx.load(str(path)).graph
    producers = {out: n.op_type for n in graph.node for out in n.output}
    unfolded = [n for n in graph.node if n.op_type == "BatchNormalization" and producers.get(n.input[0]) == "Conv"]
    assert not unfolded, "batch norm after a convolution must be folded into it"
    ort_p = load_predictor(path, backend="onnxruntime", threads=1)
    assert ort_p.input_size == SIZE and ort_p.card.architecture == name and not ort_p.card.trained
    x = _batch(2)  # the batch is dynamic by default
    assert np.abs(ort_p(x) - load_predictor(name)(x)).max() <= 1e-4


def test_checkpoint_on_every_installed_onnx_backend(tmp_path, dataset):
    pytest.importorskip("onnxruntime")
    ckpt = _checkpoint(tmp_path, dataset)
    x = _batch()
    ref = load_predictor(ckpt)(x)
    for backend in ("onnxruntime", "openvino"):
        if not backends.backend_installed(backend):
            continue
        p = load_predictor(ckpt, backend=backend, threads=1)
        assert p.input_size == SIZE and p.card.trained  # the run's training size
        assert p.card.provenance.origin == "trained here"
        assert Path(p.card.training_data).resolve() == Path(dataset).resolve()
        assert np.abs(p(x) - ref).max() <= 1e-4, backend


def test_int8_is_calibrated_quantized_and_close_to_fp32(tmp_path, dataset):
    pytest.importorskip("onnxruntime")
    from bench.deploy.export import calibration_batches, export_source, is_quantized

    ckpt = _checkpoint(tmp_path, dataset)
    path = export_source(ckpt, tmp_path / "elb-int8.onnx", precision="int8", calibration_images=4)
    assert is_quantized(path)
    x = calibration_batches(dataset, SIZE, 1)[0]  # a real image: int8 ranges are calibrated on such images
    fp32 = load_predictor(ckpt)(x)
    for backend in ("onnxruntime", "openvino"):
        if not backends.backend_installed(backend):
            continue
        p = load_predictor(path, backend=backend, threads=1)
        assert p.precision == "int8" and p.calibration["images"] == 4
        assert p.card.provenance.origin == "exported" and p.card.provenance.onnx == str(path)
        out = p(x)
        assert np.corrcoef(out.ravel(), fp32.ravel())[0, 1] > 0.9, backend
        assert not np.array_equal(out, fp32)


def test_int8_calibrates_on_the_input_its_source_sees(dataset):
    """A source fed BGR with its own mean and std (the published SINet) calibrates on that input, not ImageNet RGB."""
    from bench.data.format import read_dataset
    from bench.data.preprocess import Preprocess
    from bench.deploy.export import calibration_batches

    pre = Preprocess((SIZE, SIZE), channels="BGR", mean=(0.4, 0.45, 0.5), std=(0.25, 0.2, 0.3), interpolation="linear")
    ds = read_dataset(dataset)
    x = calibration_batches(dataset, SIZE, 1, pre)[0]
    np.testing.assert_array_equal(x, pre.batch([ds.load_image(ds.ids("train")[0])])[0])
    assert not np.allclose(x, calibration_batches(dataset, SIZE, 1)[0])


def test_int8_without_calibration_data_is_refused(dataset):
    pytest.importorskip("onnxruntime")
    with pytest.raises(BackendError, match="calibration"):
        load_predictor("elb", backend="onnxruntime", precision="int8", size=SIZE)


@pytest.mark.parametrize("kwargs, match", [
    ({"backend": "eager", "precision": "int8"}, "quantized ONNX"),
    ({"backend": "eager", "precision": "fp16"}, "CUDA"),
    ({"backend": "cudagraphs"}, "CUDA only"),
    ({"backend": "nope"}, "unknown back end"),
    ({"precision": "fp8"}, "unknown precision"),
    ({"threads": 0}, "threads"),
])
def test_impossible_combinations_are_refused_with_the_reason(kwargs, match):
    with pytest.raises(BackendError, match=match):
        load_predictor("elb", **kwargs)


def test_bad_sources_are_named(tmp_path):
    with pytest.raises(BackendError, match="no such ONNX file"):
        load_predictor(tmp_path / "missing.onnx")
    with pytest.raises(BackendError, match="neither a zoo name"):
        load_predictor(str(tmp_path / "nothing-here"))
    with pytest.raises(BackendError, match="checkpoint"):
        load_predictor(tmp_path)  # a folder without checkpoint.pt


def test_a_backend_that_is_not_installed_says_so(monkeypatch):
    monkeypatch.setattr(backends, "backend_installed", lambda backend: backend in backends.TORCH_BACKENDS)
    with pytest.raises(NotInstalled, match="not installed"):
        load_predictor("elb", backend="openvino")
    r = CliRunner().invoke(main, ["speed", "--model", "elb", "--backend", "eager", "--backend", "openvino",
                                  "--size", "32", "--warmup", "0", "--passes", "1", "--json"])
    assert r.exit_code == 0, r.output
    rows = {d["backend"]: d for d in map(json.loads, r.output.splitlines())}
    assert rows["openvino"]["status"].startswith("not installed") and "fps" not in rows["openvino"]
    assert rows["eager"]["status"] == "ok" and rows["eager"]["fps"] > 0


def test_an_onnx_file_without_its_runtimes_names_them(tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    from bench.deploy.export import export_source

    path = export_source("elb", tmp_path / "elb.onnx", size=32)
    monkeypatch.setattr(backends, "backend_installed", lambda backend: backend in backends.TORCH_BACKENDS)
    with pytest.raises(NotInstalled, match=r"elb.onnx: an ONNX file runs on onnxruntime or openvino, and neither is "
                                           r"installed here \(pip install onnxruntime\)"):
        load_predictor(path)


def test_fixed_size_predictor_rejects_other_sizes(tmp_path):
    pytest.importorskip("onnxruntime")
    p = load_predictor("elb", backend="onnxruntime", size=SIZE)
    with pytest.raises(ValueError, match=f"{SIZE}x{SIZE}"):
        p(_batch(1, 32))


def test_speed_compares_backends_interleaved(tmp_path, dataset):
    pytest.importorskip("onnxruntime")
    r = CliRunner().invoke(main, ["speed", "--model", "elb", "--model", "elb-dr4", "--backend", "eager", "--backend",
                                  "onnxruntime", "--precision", "fp32", "--precision", "int8", "--calib-data",
                                  str(dataset), "--size", "32", "--warmup", "1", "--passes", "2", "--threads", "1",
                                  "--json"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in r.output.splitlines()]
    status = Counter((d["backend"], d["precision"], d["status"].split(":")[0]) for d in rows)
    assert status == {("eager", "fp32", "ok"): 2, ("eager", "int8", "unsupported"): 2,
                      ("onnxruntime", "fp32", "ok"): 2, ("onnxruntime", "int8", "ok"): 2}
    assert all(d["interleaved_with"] == 6 and d["threads"] == 1 for d in rows)
    assert all(d["fps_p10"] <= d["fps"] <= d["fps_p90"] for d in rows if d["status"] == "ok")


def test_export_writes_the_sources_preprocess_as_plain_keys(tmp_path):
    """A zoo entry's manifest preprocessing (the published SINet: BGR, its mean and std, bilinear, 224x224) reaches
    the file, in the ``bench`` JSON and as keys a user without this package reads."""
    import onnx

    from bench.deploy.export import export_source
    from bench.deploy.metadata import LOGITS
    from bench.deploy.sources import resolve
    from bench.deploy.zoo import get_entry

    pre = get_entry("sinet-eg1800").preprocess
    path = export_source("sinet-eg1800", tmp_path / "sinet.onnx")
    props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    card = resolve(str(path))
    assert card.preprocess == pre and json.loads(props["bench"])["preprocess"] == pre.to_dict()
    assert card.zoo == "sinet-eg1800" and card.provenance.licence.startswith("MIT")  # the card travels in the file
    assert (props["channel_order"], props["input_size"], props["scale"], props["resize"]) == ("BGR", "224,224", "255",
                                                                                             "squash")
    np.testing.assert_allclose(json.loads(props["mean"]), pre.mean, rtol=1e-7)
    np.testing.assert_allclose(json.loads(props["std"]), pre.std, rtol=1e-7)
    assert props["interpolation"].split()[0] == "linear" and props["layout"] == "NCHW float32"
    assert props["baked"] == "false" and props["output"] == LOGITS


def test_export_cli(tmp_path):
    pytest.importorskip("onnxscript")
    out = tmp_path / "elb.onnx"
    r = CliRunner().invoke(main, ["export", "--model", "elb", "--size", "32", "--dynamic-size", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert r.stderr.startswith("warning: elb is a registered model with random weights (untrained)")
    assert "did you mean elb-pfcn?" in r.stderr
    p = load_predictor(out, backend="onnxruntime") if backends.backend_installed("onnxruntime") else None
    if p is not None:
        assert p.input_size is None and p(_batch(1, 48)).shape == (1, 2, 48, 48)
    r = CliRunner().invoke(main, ["export", "--model", "elb", "--out", str(tmp_path / "x.txt")])
    assert r.exit_code != 0 and ".onnx" in r.output
    r = CliRunner().invoke(main, ["export", "--model", str(tmp_path / "none"), "--out", str(out)])
    assert r.exit_code != 0 and "Traceback" not in r.output and "none" in r.output


def test_export_writes_the_opset_asked_for_or_refuses(tmp_path):
    import onnx

    from bench.deploy.export import ExportError, export_source

    path = export_source("elb", tmp_path / "elb.onnx", size=32, opset=11)
    assert [o.version for o in onnx.load(str(path)).opset_import if o.domain in ("", "ai.onnx")] == [11]
    with pytest.raises(ExportError, match="opset 7 failed"):  # TorchScript cannot, and dynamo writes 18 or later
        export_source("elb", tmp_path / "elb7.onnx", size=32, opset=7)
    assert not (tmp_path / "elb7.onnx").exists()


def test_eval_on_a_backend_matches_eager_and_int8_is_measured(tmp_path, dataset):
    pytest.importorskip("onnxruntime")
    ckpt = _checkpoint(tmp_path, dataset)
    runner = CliRunner()
    eager = json.loads(runner.invoke(main, ["eval", "--model", ckpt, "--json"]).output)
    r = runner.invoke(main, ["eval", "--model", ckpt, "--backend", "onnxruntime", "--json"])
    assert r.exit_code == 0, r.output
    ort_m = json.loads(r.output)
    assert ort_m["backend"] == "onnxruntime" and ort_m["precision"] == "fp32" and ort_m["size"] == SIZE
    assert ort_m["miou"] == pytest.approx(eager["miou"], abs=1e-3)
    eager_native = json.loads(runner.invoke(main, ["eval", "--model", ckpt, "--native", "--json"]).output)
    r = runner.invoke(main, ["eval", "--model", ckpt, "--backend", "onnxruntime", "--native", "--json"])
    assert r.exit_code == 0, r.output
    ort_native = json.loads(r.output)
    assert ort_native["resolution"] == "native" and ort_native["path"].endswith("_native.json")
    assert ort_native["miou"] == pytest.approx(eager_native["miou"], abs=1e-3)
    r = runner.invoke(main, ["eval", "--model", ckpt, "--backend", "onnxruntime", "--split", "val"])
    assert r.exit_code == 1 and "held out none" in r.output  # the same splits as evaluate_run
    r = runner.invoke(main, ["eval", "--predictions", str(tmp_path), "--data", str(dataset), "--backend", "openvino"])
    assert r.exit_code == 2 and "apply to a model" in r.output
    onnx_file = tmp_path / "elb-int8.onnx"
    r = runner.invoke(main, ["export", "--model", ckpt, "--precision", "int8", "--calib-images", "4",
                             "--out", str(onnx_file)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["eval", "--model", str(onnx_file), "--json"])  # data and size from the file's metadata
    assert r.exit_code == 0, r.output
    int8 = json.loads(r.output)
    assert int8["precision"] == "int8" and int8["images"] == 2 and 0.0 <= int8["miou"] <= 1.0
    assert json.loads((tmp_path / int8["path"]).read_text())["miou"] == int8["miou"]
    r = runner.invoke(main, ["eval", "--model", str(tmp_path / "missing.onnx")])
    assert r.exit_code != 0 and "missing.onnx" in r.output and "Traceback" not in r.output


def test_a_candidate_that_fails_on_its_first_pass_is_a_row_not_a_crash(monkeypatch):
    from bench.speed import grid as speedgrid

    real = speedgrid.load_predictor

    def flaky(source, **kw):
        p = real(source, **kw)
        if kw["backend"] == "compile":
            p.timed = lambda x: (lambda: (_ for _ in ()).throw(RuntimeError("no C++ compiler\nmore")))
        return p

    monkeypatch.setattr(speedgrid, "load_predictor", flaky)
    rows = speedgrid.measure_grid(["elb"], ["eager", "compile"], size=32, warmup=0, runs=1)
    assert rows[1]["status"] == "failed: RuntimeError: no C++ compiler" and "fps" not in rows[1]
    assert rows[0]["status"] == "ok" and rows[0]["interleaved_with"] == 1


def test_free_cores_follow_the_other_programs_load(monkeypatch):
    """threads="auto": before each pass, the cores the rest of the machine left free over the last interval."""
    from bench.deploy import threads as t

    clock, machine, own = [0.0], [0.0], [0.0]
    monkeypatch.setattr(t.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(t, "_machine_busy_seconds", lambda: machine[0])
    monkeypatch.setattr(t, "_own_busy_seconds", lambda: own[0])
    free = t.FreeCores(cores=4)
    assert free.threads() == 4  # nothing known yet: every core
    clock[0], machine[0], own[0] = 1.0, 4.0, 1.0  # 3 of 4 cores busy elsewhere over the last second
    assert free.threads() == 1
    clock[0], machine[0], own[0] = 2.0, 6.0, 3.0  # only this process worked
    assert free.threads() == 4
    monkeypatch.setattr(t, "_machine_busy_seconds", lambda: None)  # no /proc/stat: every core
    assert free.threads() == 4


def test_an_auto_predictor_sets_torch_threads_before_each_pass(monkeypatch):
    from bench.deploy import threads as t

    counts = iter([1, 2])
    monkeypatch.setattr(t.FreeCores, "threads", lambda self: next(counts))
    before = torch.get_num_threads()
    try:
        p = load_predictor("elb", threads="auto")
        p(_batch())
        assert torch.get_num_threads() == 1
        p(_batch())
        assert torch.get_num_threads() == 2 and p.threads == "auto"
    finally:
        torch.set_num_threads(before)
    with pytest.raises(BackendError, match="threads must be >= 1 or 'auto'"):
        load_predictor("elb", threads="many")
