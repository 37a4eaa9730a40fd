"""Every evaluation writes its per-image scores beside its metrics file, and they sum back to the split's metrics."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

from bench.eval.evaluate import evaluate, model_source
from bench.eval.loop import AT_INPUT, NATIVE
from bench.eval.metrics import PER_IMAGE_FIELDS, boundary_f, mean_iou
from bench.eval.predictions import MaskFolder
from bench.runs.folder import METRICS_NATIVE_PER_IMAGE, METRICS_PER_IMAGE, metrics_name, per_image_name
from tests.bench.test_predictions import write_predictions


def summed(path):
    """The per-image CSV's rows, and the split's confusion matrix and boundary counts summed from them."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    cm = np.array([[sum(int(r[f"cm_{t}{p}"]) for r in rows) for p in (0, 1)] for t in (0, 1)])
    b = np.array([sum(int(r[k]) for r in rows) for k in ("b_matched_pred", "b_pred", "b_matched_true", "b_true")])
    return rows, cm, b


def check_sums_back(metrics, ids):
    rows, cm, b = summed(metrics["per_image_path"])
    assert list(rows[0]) == list(PER_IMAGE_FIELDS) and [r["id"] for r in rows] == list(ids)
    assert cm.tolist() == metrics["confusion_matrix"] and mean_iou(cm) == metrics["miou"]
    assert boundary_f(b)["f"] == metrics["boundary_f"]
    assert np.mean([float(r["iou_portrait"]) for r in rows]) == pytest.approx(metrics["portrait_iou_mean"], abs=1e-12)
    saved = json.loads(open(metrics["path"]).read())
    assert saved["portrait_iou_mean"] == metrics["portrait_iou_mean"] and "per_image" not in saved


def test_per_image_names_sit_beside_their_metrics_file():
    assert per_image_name("metrics.json") == METRICS_PER_IMAGE == "metrics_per_image.csv"
    assert per_image_name(metrics_name(native=True)) == METRICS_NATIVE_PER_IMAGE
    assert metrics_name(split="val") == "metrics_val.json"  # a run's held-out split, not "metrics_None_val.json"
    assert metrics_name("pseg", "test", native=True) == "metrics_pseg_test_native.json"
    assert per_image_name("metrics_tiny_test_native.json") == "metrics_tiny_test_native_per_image.csv"


def test_predictions_write_per_image_scores_that_sum_to_the_split(portrait_data, tmp_path):
    ds = write_predictions(portrait_data, tmp_path / "p", lambda m: np.roll(m, 3, axis=1))
    m = evaluate(MaskFolder(tmp_path / "p"), portrait_data)
    assert m["per_image_path"] == str(tmp_path / "p" / "metrics_tiny_test_per_image.csv")
    assert 0 < m["miou"] < 1
    check_sums_back(m, ds.ids("test"))


@pytest.mark.parametrize("native", [False, True])
def test_a_run_writes_per_image_scores_at_either_resolution(tiny_run, portrait_data, tmp_path, native):
    from bench.data.format import read_dataset
    run = shutil.copytree(tiny_run, tmp_path / "run")  # the fixture is shared, read-only
    m = evaluate(model_source(run), resolution=NATIVE if native else AT_INPUT)
    assert m["per_image_path"] == str(run / (METRICS_NATIVE_PER_IMAGE if native else METRICS_PER_IMAGE))
    check_sums_back(m, read_dataset(portrait_data).ids("test"))
