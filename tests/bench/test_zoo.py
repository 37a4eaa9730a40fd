"""The model zoo: shipped files match their manifests, a zoo name works wherever a run folder does, a damaged file
fails in one line, and a shipped model sees a photo as its manifest says (segment, eval and the gallery alike)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from bench.cli.main import main
from bench.deploy import zoo
from bench.deploy.predict import labels
from bench.registry import build_model

ROOT = Path(__file__).resolve().parents[2]
REPORTS = ROOT / "reports"
BUDGET_BYTES = 60_000_000  # the repository's growth budget for shipped weights
# scripts/paper_cpu_run.sh's KEEP_BUDGET: every version of a resume checkpoint (checkpoints/*.pt) ever committed
CHECKPOINT_BUDGET_BYTES = 80_000_000
REQUIRED = ("name", "model", "dataset", "origin", "preprocess", "metrics", "sha256", "bytes", "file", "licence",
            "training_photos")


def test_every_shipped_file_matches_its_manifest_within_the_budget():
    entries = zoo.entries()
    assert entries, "the zoo ships no weights"
    for name, entry in entries.items():
        missing = [k for k in REQUIRED if k not in entry.manifest]
        assert not missing, f"{name}: manifest lacks {missing}"
        assert entry.path.is_file() and entry.path.stat().st_size == entry.manifest["bytes"]
        assert zoo.sha256_file(entry.path) == entry.sha256
        assert {"miou", "miou_native", "boundary_f"} <= set(entry.manifest["metrics"])
    # every file in the shipped folder counts, weights, manifests and licences; resume checkpoints live outside it
    # (checkpoints/) with a budget of their own (below)
    folder_bytes = sum(f.stat().st_size for f in zoo.FOLDER.rglob("*") if f.is_file())
    assert folder_bytes < BUDGET_BYTES, f"{zoo.FOLDER}: {folder_bytes} bytes"


def _git(*args: str, stdin: str | None = None) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], input=stdin, capture_output=True, text=True,
                          check=True).stdout


def test_resume_checkpoints_ever_committed_stay_within_their_budget():
    """Every clone carries every version of checkpoints/*.pt (zoo/checkpoints/ and bench/weights/checkpoints/ before
    the moves) ever committed, so scripts/paper_cpu_run.sh keeps them within 80 MB over the whole history (its
    kept_bytes_in_history), as stored uncompressed."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed: the checkpoints' history cannot be read")
    try:
        shallow = _git("rev-parse", "--is-shallow-repository").strip()
    except subprocess.CalledProcessError:
        pytest.skip(f"{ROOT} is not a git clone: no history to count")
    if shallow != "false":
        pytest.skip("a shallow clone holds only part of the history: the checkpoint versions cannot all be counted")
    folders = ("checkpoints", "zoo/checkpoints", "bench/weights/checkpoints")  # now and before the moves
    objects = _git("rev-list", "--objects", "--all", "--", *folders)
    sizes = _git("cat-file", "--batch-check=%(objecttype) %(objectsize) %(rest)", stdin=objects)
    kept = [line.split(" ", 2) for line in sizes.splitlines()]
    total = sum(int(size) for kind, size, *path in kept
                if kind == "blob" and path and path[0].startswith(folders) and path[0].endswith(".pt"))
    assert total <= CHECKPOINT_BUDGET_BYTES, f"{total} bytes of checkpoint versions in git history"


def _run_record(manifest: dict) -> Path | None:
    """The run record a manifest trained here names: the one under reports/<profile>/ trained at its ``commit`` with
    its ``training`` settings on its dataset (reports/cpu's entries come from its retrain, reports/cpu/retrain/)."""
    found = []
    for path in (REPORTS / manifest["profile"]).rglob("config.json"):
        config = json.loads(path.read_text(encoding="utf-8"))
        if (config.get("commit") == manifest.get("commit")
                and (config.get("dataset") or {}).get("name") == manifest["dataset"]["name"]
                and all(config.get(k) == v for k, v in manifest["training"].items())):
            found.append(path.parent)
    assert len(found) <= 1, f"{manifest['name']}: several records fit it: {found}"
    return found[0] if found else None


def _pct(value: float) -> float:
    return round(100.0 * value, 3)


@pytest.mark.parametrize("name", sorted(zoo.entries()))
def test_each_manifest_holds_the_figures_of_the_run_record_it_names(name):
    """metrics_recorded is the record's metrics.json and metrics_native.json, and the stored file (float16 or int8)
    scores within 0.05 of them: the cost of its storage, against the record rather than the manifest itself."""
    manifest = zoo.get_entry(name).manifest
    if manifest["origin"] != "trained here":
        pytest.skip(f"{name}: {manifest['origin']} ({manifest['source']['repository']}): trained by its authors, "
                    "no run record in this repository")
    record = _run_record(manifest)
    assert record is not None, (f"{name}: no run record under reports/{manifest['profile']}/ trained at "
                                f"{manifest.get('commit')} with its settings")
    metrics, native = (json.loads((record / f).read_text(encoding="utf-8"))
                       for f in ("metrics.json", "metrics_native.json"))
    assert manifest["metrics_recorded"] == {"miou": _pct(metrics["miou"]), "miou_native": _pct(native["miou"]),
                                            "boundary_f": _pct(metrics["boundary_f"])}, record
    assert manifest["epochs_trained"] == metrics["epochs_trained"] == native["epochs_trained"], record
    for key, value in (("miou", metrics["miou"]), ("miou_native", native["miou"])):
        assert abs(manifest["metrics"][key] - 100.0 * value) <= 0.05, f"{name}: {key} against {record}"
    assert manifest["storage"] in zoo.STORAGE.values()


def test_shipped_weights_load_without_running_code_into_their_registered_model():
    for name, entry in zoo.entries().items():
        state = torch.load(entry.path, map_location="cpu", weights_only=True)
        assert all(isinstance(v, torch.Tensor) for v in state.values())
        model = zoo.load_zoo_model(name)
        stored = {k for k in state if not k.endswith(zoo.INT8_SCALE)}
        assert set(model.state_dict()) == stored and model.zoo_entry.name == name


@pytest.fixture()
def local_zoo(tmp_path):
    """A zoo folder holding one ELB with random weights stored as the zoo stores them."""
    torch.manual_seed(0)
    model = build_model("elb").eval()
    manifest = {"name": "elb-test", "model": "elb", "num_classes": 2, "origin": "test",
                "dataset": {"name": "tiny"}, "preprocess": {"size": [32, 32], "resize": "squash", "channels": "RGB",
                                                            "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
                "metrics": {"miou": 1.0, "miou_native": 1.0, "boundary_f": 1.0}}
    entry = zoo.write_entry(tmp_path / "zoo", manifest, zoo.storage_state(model))
    return model, entry


def test_a_written_entry_loads_back_to_the_model_up_to_float16(local_zoo):
    model, entry = local_zoo
    assert entry.manifest["format"] == zoo.FORMAT and entry.size == 32
    loaded = zoo.load_zoo_model("elb-test", folder=entry.folder)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        a, b = model(x), loaded(x)
    assert torch.allclose(a, b, atol=5e-2 * float(a.abs().max()))
    state = torch.load(entry.path, weights_only=True)
    params = dict(model.named_parameters())
    assert all(state[k].dtype == torch.float16 for k in params)
    assert all(v.dtype != torch.float16 for k, v in state.items() if k not in params)  # buffers kept as they are


def test_int8_storage_keeps_each_weight_within_half_a_step_of_its_channel_scale(tmp_path):
    torch.manual_seed(0)
    model = build_model("elb").eval()
    state = zoo.storage_state(model, "int8")
    params = dict(model.named_parameters())
    weights = [k for k, p in params.items() if p.dim() >= 2]
    assert weights and all(state[k].dtype == torch.int8 for k in weights)
    assert all(state[k].dtype == torch.float16 for k in params if params[k].dim() < 2)
    widened = zoo.stored_to_float(state)
    assert set(widened) == set(model.state_dict())
    for k in weights:
        step = state[k + zoo.INT8_SCALE].view(-1, *([1] * (params[k].dim() - 1)))
        assert bool(((widened[k] - params[k].detach()).abs() <= step / 2 + 1e-7).all()), k
    # the file is about half a float16 one, and loads back into a model that predicts as the original
    manifest = {"name": "elb-int8", "model": "elb", "num_classes": 2, "origin": "test", "dataset": {"name": "tiny"},
                "preprocess": {"size": [32, 32]}, "metrics": {}}
    small = zoo.write_entry(tmp_path, manifest, state)
    half = zoo.write_entry(tmp_path, {**manifest, "name": "elb-half"}, zoo.storage_state(model))
    assert small.manifest["bytes"] < 0.6 * half.manifest["bytes"]
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        a, b = model(x), zoo.load_zoo_model("elb-int8", folder=tmp_path)(x)
    assert torch.allclose(a, b, atol=5e-2 * float(a.abs().max()))
    with pytest.raises(ValueError, match="storage 'int4'"):
        zoo.storage_state(model, "int4")


def test_a_damaged_or_missing_file_fails_in_one_line_naming_it_and_its_digest(local_zoo):
    _, entry = local_zoo
    data = entry.path.read_bytes()
    entry.path.write_bytes(data[: len(data) // 2])
    with pytest.raises(zoo.ZooError, match=rf"{entry.path.name}: sha256 .* {entry.sha256}"):
        zoo.load_zoo_model("elb-test", folder=entry.folder)
    entry.path.unlink()
    with pytest.raises(zoo.ZooError, match=rf"{entry.path.name}: missing .*expected sha256 {entry.sha256}"):
        zoo.load_zoo_model("elb-test", folder=entry.folder)
    with pytest.raises(zoo.ZooError, match="not in the model zoo"):
        zoo.get_entry("no-such-entry", entry.folder)


def test_zoo_json_lists_the_entries():
    r = CliRunner().invoke(main, ["zoo", "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert {row["name"] for row in rows} == set(zoo.entries())
    for row in rows:
        assert {"name", "model", "dataset", "miou", "miou_native", "sha256"} <= set(row)
    table = CliRunner().invoke(main, ["zoo"]).output
    assert all(name in table for name in zoo.entries())


def test_training_s_view_of_a_split_scores_as_the_dataset_folder_does(portrait_data):
    """Training's periodic evaluation (its decoded, resized split) and bench eval go through one loop alike."""
    from bench.data.pipeline import PortraitTorchDataset
    from bench.data.preprocess import Preprocess
    from bench.deploy.predict import as_predictor
    from bench.eval.loop import ModelPredictions, score

    torch.manual_seed(0)
    source = ModelPredictions(as_predictor(build_model("elb")), Preprocess((32, 32)))
    a = score(source, PortraitTorchDataset(portrait_data, "test", 32, cache=True))
    b = score(source, portrait_data, "test")
    assert a["confusion_matrix"] == b["confusion_matrix"] and a["boundary_f"] == b["boundary_f"]


def _photo(h=80, w=60):
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    cv2.circle(rgb, (w // 2, h // 2), min(h, w) // 3, (250, 220, 200), -1)
    return rgb


def test_segment_sees_a_zoo_photo_as_the_manifest_says(tmp_path):
    """segment's mask of a photo is the labels of the manifest's Preprocess (BGR, the authors' mean, 224 squash)."""
    from bench.segment.photos import input_hw, load_segment_predictor, predict_probabilities

    name = "sinet-eg1800"
    entry = zoo.get_entry(name)
    predictor = load_segment_predictor(name)
    assert input_hw(predictor) == (224, 224)
    rgb = _photo()
    ours = predict_probabilities(predictor, [rgb], input_hw(predictor))[0] > 0.5
    expected = labels(zoo.load_zoo_model(name), [rgb], entry.preprocess)[0].astype(bool)
    assert np.array_equal(ours, expected)
    cv2.imwrite(str(tmp_path / "p.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    r = CliRunner().invoke(main, ["segment", str(tmp_path / "p.png"), "--model", name, "--out", str(tmp_path / "o"),
                                  "--refine", "none", "--no-progress"])  # the model's own view, unrefined
    assert r.exit_code == 0, r.output
    mask = cv2.imread(str(tmp_path / "o" / "p_mask.png"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(mask == 255, expected)


def test_eval_and_export_take_a_zoo_name(portrait_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the metrics go to runs/zoo/<name>/ under the working folder
    r = CliRunner().invoke(main, ["eval", "--model", "extremec3net-eg1800", "--data", str(portrait_data), "--json"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    m = json.loads(r.output)
    assert m["zoo"] == "extremec3net-eg1800" and m["size"] == 224 and m["images"] == 4
    assert (tmp_path / "runs" / "zoo" / "extremec3net-eg1800" / "metrics_tiny_test.json").is_file()
    r = CliRunner().invoke(main, ["eval", "--model", "extremec3net-eg1800"])
    assert r.exit_code != 0 and "needs --data" in r.output
    pytest.importorskip("onnx")
    out = tmp_path / "x.onnx"
    r = CliRunner().invoke(main, ["export", "--model", "extremec3net-eg1800", "--out", str(out)])
    assert r.exit_code == 0, r.output
    from bench.deploy.sources import onnx_metadata

    meta = onnx_metadata(out)
    assert meta["zoo"] == "extremec3net-eg1800" and meta["size"] == 224


README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_zoo_table_is_the_one_the_manifests_give():
    from bench.report.zoo import readme_table

    block = README.split("<!-- zoo table:", 1)[1].split("\n", 1)[1].split("<!-- end of zoo table -->")[0].strip()
    assert block == readme_table(zoo.entries().values(), ROOT / "reports" / "speed.csv")


def test_the_readme_zoo_cells_are_the_manifests_figures_rounded_once_half_up():
    """Each mIoU, native mIoU and boundary F cell is its manifest's value rounded once, half up, to two decimals
    (a tie such as 92.735 becomes 92.74, as 72.635 becomes 72.64), and MB is the manifest's bytes the same way."""
    from decimal import ROUND_HALF_UP, Decimal

    def once(value) -> str:
        return str(Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))

    block = README.split("<!-- zoo table:", 1)[1].split("\n", 1)[1].split("<!-- end of zoo table -->")[0].strip()
    head, _, *lines = block.splitlines()
    cols = [c.strip() for c in head.strip("|").split("|")]
    cells = ([c.strip() for c in line.strip("|").split("|")] for line in lines)
    rows = {r["name"]: r for r in (dict(zip(cols, c, strict=True)) for c in cells)}
    entries = zoo.entries()
    assert set(rows) == set(entries)
    for name, entry in entries.items():
        metrics, row = entry.manifest["metrics"], rows[name]
        for key, label in (("miou", "mIoU"), ("miou_native", "mIoU native"), ("boundary_f", "boundary F")):
            assert row[label] == once(metrics[key]), (name, label, metrics[key])
        assert row["MB"] == str((Decimal(entry.manifest["bytes"]) / 10**6).quantize(Decimal("0.01"), ROUND_HALF_UP))
    assert rows["elb-ce-pfcn"]["mIoU"] == "92.74" and rows["erfnet-pfcn"]["boundary F"] == "72.64"  # the two ties


def test_segment_without_a_model_uses_the_zoo_default(tmp_path):
    cv2.imwrite(str(tmp_path / "p.png"), _photo())
    r = CliRunner().invoke(main, ["segment", str(tmp_path / "p.png"), "--out", str(tmp_path / "o"), "--no-progress"])
    assert r.exit_code == 0, r.output
    from bench.deploy.predict import probabilities
    from bench.deploy.refine import Refine

    entry, rgb = zoo.get_entry(zoo.DEFAULT), cv2.cvtColor(_photo(), cv2.COLOR_BGR2RGB)
    prob = probabilities(zoo.load_zoo_model(zoo.DEFAULT), [rgb], entry.preprocess)[0]
    refined = Refine.from_settings(entry.manifest.get("refine"))(rgb, prob)  # the entry's measured refinement
    assert np.array_equal(cv2.imread(str(tmp_path / "o" / "p_mask.png"), cv2.IMREAD_UNCHANGED) == 255, refined > 0.5)
    r = CliRunner().invoke(main, ["segment", str(tmp_path / "p.png"), "--out", str(tmp_path / "plain"),
                                  "--refine", "none", "--no-progress"])
    assert r.exit_code == 0, r.output
    expected = labels(zoo.load_zoo_model(zoo.DEFAULT), [rgb], entry.preprocess)[0]
    assert np.array_equal(cv2.imread(str(tmp_path / "plain" / "p_mask.png"), cv2.IMREAD_UNCHANGED) == 255,
                          expected == 1)


def test_the_zoo_file_itself_is_its_entry(tmp_path, monkeypatch):
    from bench.deploy.sources import resolve

    path = zoo.get_entry(zoo.DEFAULT).path
    monkeypatch.chdir(ROOT)
    card = resolve(str(path.relative_to(ROOT)))
    assert card.zoo == zoo.DEFAULT and card.trained and card.weights.sha256 == zoo.get_entry(zoo.DEFAULT).sha256
    cv2.imwrite(str(tmp_path / "p.png"), _photo())
    r = CliRunner().invoke(main, ["segment", str(tmp_path / "p.png"), "--model", str(path), "--out",
                                  str(tmp_path / "o"), "--no-progress"])
    assert r.exit_code == 0, r.output
    shutil.copy(path, tmp_path / "copy.pt")  # a copy elsewhere is no entry: its manifest is not beside it
    assert zoo.entry_of_file(tmp_path / "copy.pt") is None


def test_speed_and_gallery_take_a_zoo_name_and_time_it_at_its_own_size(tmp_path):
    """One meaning of --model: a zoo name is timed at its training size (256 for elb-pfcn, not 512) and drawn."""
    from tests.bench.helpers import make_portrait_dataset

    r = CliRunner().invoke(main, ["speed", "--model", "elb-pfcn", "--warmup", "0", "--passes", "1", "--threads", "1",
                                  "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output.splitlines()[0])["size"] == 256
    data = make_portrait_dataset(tmp_path / "data", n_train=1, n_test=2, size=64)
    out = tmp_path / "g.png"
    r = CliRunner().invoke(main, ["gallery", "--model", "sinet-eg1800", "--data", str(data), "--count", "2",
                                  "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert cv2.imread(str(out)) is not None


def test_bench_zoo_reads_its_speed_table_wherever_it_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["zoo"])
    assert r.exit_code == 0, r.output
    row = next(ln for ln in r.output.splitlines() if ln.startswith("| elb-pfcn |"))
    assert "FPS" in r.output.splitlines()[0] and (" (openvino " in row or " (onnxruntime " in row)


def test_a_manifests_edge_refinement_is_its_record():
    """An entry's ``refine`` (segment's default for it) is the setting its benchmark chose on validation photos, and
    its figures are the record's test scores with that setting, which beat the plain stretch on both counts."""
    from bench.deploy.refine import Refine
    from bench.deploy.sources import resolve
    from bench.runs.folder import percent

    refined = {n: e for n, e in zoo.entries().items() if e.manifest.get("refine")}
    assert "elb-pfcn" in refined
    for name, entry in refined.items():
        r = entry.manifest["refine"]
        record = ROOT / r["record"]
        assert Refine.from_settings(r) == Refine.from_settings(json.loads((record / "chosen.json").read_text()))
        guided = json.loads((record / "metrics_guided_native.json").read_text())
        plain = json.loads((record / "metrics_none_native.json").read_text())
        assert (r["miou_native"], r["boundary_f_native"]) == (percent(guided["miou"]), percent(guided["boundary_f"]))
        assert guided["miou"] >= plain["miou"] and guided["boundary_f"] > plain["boundary_f"], name
        assert percent(plain["miou"]) == pytest.approx(entry.manifest["metrics"]["miou_native"], abs=0.01), name
        assert resolve(name).refine == Refine.from_settings(r)
