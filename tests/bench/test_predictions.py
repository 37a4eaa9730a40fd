"""`bench eval --predictions`: masks from any model scored with the harness's metrics at the dataset's resolution."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli.main import main
from bench.data.format import read_dataset
from bench.eval.evaluate import evaluate
from bench.eval.loop import NATIVE, score
from bench.eval.metrics import MetricAccumulator
from bench.eval.predictions import MaskFolder, PredictionError


def scored(folder, data):
    """The loop's scores of a mask folder, written nowhere."""
    return score(MaskFolder(folder), data, "test", NATIVE)


def write_predictions(data_root, out, transform=lambda m: m):
    """The true test masks (ignore pixels as background) through ``transform``, as <id>.png."""
    ds = read_dataset(data_root)
    out.mkdir(parents=True, exist_ok=True)
    for sid in ds.ids("test"):
        m = (ds.load_mask(sid) == 1).astype(np.uint8)
        cv2.imwrite(str(out / f"{sid}.png"), transform(m))
    return ds


def test_perfect_predictions_score_one_in_either_encoding(portrait_data, tmp_path):
    write_predictions(portrait_data, tmp_path / "p01")
    write_predictions(portrait_data, tmp_path / "p255", lambda m: m * 255)
    a = evaluate(MaskFolder(tmp_path / "p01"), portrait_data)
    b = scored(tmp_path / "p255", portrait_data)
    assert a["miou"] == b["miou"] == 1.0 and a["boundary_f"] == 1.0 and a["images"] == 4
    assert json.loads((tmp_path / "p01" / "metrics_tiny_test.json").read_text())["miou"] == 1.0


def test_scores_equal_the_metric_accumulator_at_native_size(portrait_data, tmp_path):
    shift = lambda m: np.roll(m, 3, axis=1)  # noqa: E731
    ds = write_predictions(portrait_data, tmp_path / "p", shift)
    acc = MetricAccumulator()
    for sid in ds.ids("test"):
        truth = ds.load_mask(sid)
        acc.update(shift((truth == 1).astype(np.uint8)), truth)
    got = scored(tmp_path / "p", portrait_data)
    want = acc.result()
    assert got["miou"] == want["miou"] < 1.0 and got["boundary_f"] == want["boundary_f"]
    assert got["confusion_matrix"] == want["confusion_matrix"]


def test_missing_wrong_size_and_bad_values_are_named(portrait_data, tmp_path):
    ds = write_predictions(portrait_data, tmp_path / "p")
    first, second = ds.ids("test")[:2]
    (tmp_path / "p" / f"{second}.png").unlink()
    with pytest.raises(PredictionError, match=rf"{second}.png: missing; one <id>.png per test id"):
        scored(tmp_path / "p", portrait_data)
    cv2.imwrite(str(tmp_path / "p" / f"{second}.png"), np.zeros((5, 7), np.uint8))
    with pytest.raises(PredictionError, match=rf"{second}.png: 7x5 but the dataset's mask is"):
        scored(tmp_path / "p", portrait_data)
    h, w = ds.load_mask(first).shape
    cv2.imwrite(str(tmp_path / "p" / f"{first}.png"), np.full((h, w), 128, np.uint8))
    with pytest.raises(PredictionError, match=rf"{first}.png: values \[128\] are neither 0/1 nor 0/255"):
        scored(tmp_path / "p", portrait_data)
    mixed = np.zeros((h, w), np.uint8)
    mixed[0, :2] = [1, 255]
    cv2.imwrite(str(tmp_path / "p" / f"{first}.png"), mixed)
    with pytest.raises(PredictionError, match="neither"):
        scored(tmp_path / "p", portrait_data)
    with pytest.raises(PredictionError, match="no such predictions folder"):
        scored(tmp_path / "none", portrait_data)


def test_grey_stored_as_rgb_is_accepted_and_colour_refused(portrait_data, tmp_path):
    ds = write_predictions(portrait_data, tmp_path / "p", lambda m: cv2.cvtColor(m * 255, cv2.COLOR_GRAY2BGR))
    assert scored(tmp_path / "p", portrait_data)["miou"] == 1.0
    sid = ds.ids("test")[0]
    colour = cv2.imread(str(tmp_path / "p" / f"{sid}.png"))
    colour[..., 2] = 0
    cv2.imwrite(str(tmp_path / "p" / f"{sid}.png"), colour)
    with pytest.raises(PredictionError, match="single-channel"):
        scored(tmp_path / "p", portrait_data)


def test_cli(portrait_data, tmp_path):
    write_predictions(portrait_data, tmp_path / "peer", lambda m: m * 255)
    r = CliRunner().invoke(main, ["eval", "--predictions", str(tmp_path / "peer"), "--data", str(portrait_data)])
    assert r.exit_code == 0, r.output
    assert "peer on tiny/test at its native resolution, 4 images: mIoU 1.0000" in r.output
    r = CliRunner().invoke(main, ["eval", "--predictions", str(tmp_path / "peer")])
    assert r.exit_code == 2 and "--predictions needs --data" in r.output
    r = CliRunner().invoke(main, ["eval", "--predictions", str(tmp_path / "x"), "--data", str(portrait_data)])
    assert r.exit_code == 1 and "no such predictions folder" in r.output and "Traceback" not in r.output
