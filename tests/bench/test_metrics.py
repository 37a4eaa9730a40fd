"""bench.eval.metrics against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from bench.eval.metrics import (
    PER_IMAGE_FIELDS,
    MetricAccumulator,
    boundary_counts,
    boundary_f,
    confusion_matrix,
    iou_per_class,
    mask_boundary,
    mean_iou,
    per_image_csv,
)


def test_confusion_matrix_and_iou_by_hand():
    target = np.array([[0, 0, 1, 1], [0, 1, 1, 255]], np.uint8)
    pred = np.array([[0, 1, 1, 0], [0, 1, 1, 1]], np.uint8)
    cm = confusion_matrix(pred, target)
    # rows = truth, columns = prediction; the 255 pixel is not counted
    assert cm.tolist() == [[2, 1], [1, 3]]
    # background: TP 2, FP 1, FN 1 -> 2/4; portrait: TP 3, FP 1, FN 1 -> 3/5
    np.testing.assert_allclose(iou_per_class(cm), [0.5, 0.6])
    assert mean_iou(cm) == pytest.approx(0.55)


def test_miou_is_accumulated_over_the_split_not_averaged_per_image():
    t1, p1 = np.ones((2, 2), np.uint8), np.ones((2, 2), np.uint8)  # perfect, portrait only
    t2 = np.array([[0, 0], [1, 1]], np.uint8)
    p2 = np.array([[0, 1], [1, 1]], np.uint8)
    acc = MetricAccumulator()
    acc.update(np.stack([p1, p2]), np.stack([t1, t2]))
    # summed: cm = [[1, 1], [0, 6]] -> background 1/2, portrait 6/7
    assert acc.cm.tolist() == [[1, 1], [0, 6]]
    assert acc.result()["miou"] == pytest.approx((0.5 + 6 / 7) / 2)
    assert acc.result()["pixel_accuracy"] == pytest.approx(7 / 8)


def test_absent_class_is_nan_and_left_out_of_the_mean():
    cm = confusion_matrix(np.ones((3, 3), np.uint8), np.ones((3, 3), np.uint8))
    iou = iou_per_class(cm)
    assert np.isnan(iou[0]) and iou[1] == 1.0
    assert mean_iou(cm) == 1.0


def test_confusion_matrix_rejects_unknown_labels():
    with pytest.raises(ValueError, match="target"):
        confusion_matrix(np.zeros((2, 2), np.uint8), np.full((2, 2), 3, np.uint8))


def half_plane(col: int, shape=(20, 30)) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    m[:, col:] = 1
    return m


def test_mask_boundary_is_the_inner_edge():
    b = mask_boundary(half_plane(10))
    assert b[:, 10].all() and b.sum() == 20


@pytest.mark.parametrize("shift, expected_f", [(0, 1.0), (2, 1.0), (3, 1.0), (4, 0.0), (6, 0.0)])
def test_boundary_f_within_tolerance(shift, expected_f):
    counts = boundary_counts(half_plane(10 + shift), half_plane(10), tolerance=3)
    assert boundary_f(counts)["f"] == pytest.approx(expected_f)


def test_boundary_f_partial_match_by_hand():
    target = half_plane(10)
    pred = target.copy()
    pred[10:, 10:16] = 0  # lower half of the edge moves 6 px right: 10 of 20 predicted pixels are far
    counts = boundary_counts(pred, target, tolerance=3)
    # predicted edge: column 10 rows 0-9 (matched) + column 16 rows 10-19 (not) + the step row 9 cols 11-15
    # (distance 1-5 to column 10: cols 11-13 match) -> matched 10 + 3 of 25
    assert counts.tolist()[:2] == [13, 25]
    # true edge, column 10: rows 0-9 are on the predicted edge, rows 10-12 are within 3 px of row 9's step
    assert counts.tolist()[2:] == [13, 20]
    r = boundary_f(counts)
    assert r["precision"] == pytest.approx(13 / 25) and r["recall"] == pytest.approx(13 / 20)


def test_boundary_f_empty_cases():
    empty = np.zeros((8, 8), np.uint8)
    assert boundary_f(boundary_counts(empty, empty))["f"] == 1.0
    assert boundary_f(boundary_counts(empty, half_plane(4, (8, 8))))["f"] == 0.0
    assert boundary_f(boundary_counts(half_plane(4, (8, 8)), empty))["f"] == 0.0


def test_predicted_boundary_on_ignore_pixels_is_not_counted():
    target = np.full((10, 10), 255, np.uint8)
    pred = half_plane(5, (10, 10))
    counts = boundary_counts(pred, target)
    assert counts.tolist() == [0, 0, 0, 0]


# -- per-image rows: each image's counts, summed back to the split ---------------------------------------------------
def test_per_image_rows_sum_back_to_the_split_metrics():
    rng = np.random.default_rng(0)
    target = (rng.random((5, 24, 24)) < 0.5).astype(np.uint8)
    target[:, :3, :3] = 255  # ignore pixels, left out per image as in the split
    pred = np.where(rng.random((5, 24, 24)) < 0.8, target % 255, 1 - target % 255).astype(np.uint8)
    acc = MetricAccumulator()
    acc.update(pred[:3], target[:3], ["a", "b", "c"])
    acc.update(pred[3], target[3], "d")
    acc.update(pred[4:], target[4:], ["e"])
    assert [r["id"] for r in acc.rows] == list("abcde") and list(acc.rows[0]) == list(PER_IMAGE_FIELDS)
    cm = np.array([[sum(r[f"cm_{t}{p}"] for r in acc.rows) for p in (0, 1)] for t in (0, 1)])
    b = np.array([sum(r[k] for r in acc.rows) for k in PER_IMAGE_FIELDS[-4:]])
    m = acc.result()
    assert cm.tolist() == m["confusion_matrix"] and mean_iou(cm) == m["miou"]
    assert boundary_f(b)["f"] == m["boundary_f"]
    text = per_image_csv(acc.rows)
    assert text.splitlines()[0] == ",".join(PER_IMAGE_FIELDS) and len(text.splitlines()) == 6


def test_portrait_iou_mean_by_hand():
    truth = np.zeros((3, 4, 4), np.uint8)
    pred = np.zeros((3, 4, 4), np.uint8)
    truth[0, :2, :2] = 1  # 4 portrait pixels
    pred[0, :2, :1] = 1
    pred[0, 3, 3] = 1  # 2 of them found and 1 false positive: IoU 2 / 5
    # image 1: portrait in neither truth nor prediction: counts 1.0 (PortraitNet's calcIOU)
    truth[2, :, :2] = 1  # image 2: portrait missed entirely: 0.0
    acc = MetricAccumulator()
    acc.update(pred, truth)
    assert [r["iou_portrait"] for r in acc.rows] == [pytest.approx(0.4), 1.0, 0.0]
    assert [r["id"] for r in acc.rows] == ["0", "1", "2"]  # no ids given: their running number
    m = acc.result()
    assert m["portrait_iou_mean"] == pytest.approx((0.4 + 1.0 + 0.0) / 3)
    # the split's global portrait IoU is another number: TP 2, true 4 + 8, predicted 3
    assert m["iou"]["portrait"] == pytest.approx(2 / (12 + 3 - 2))


def test_per_image_ids_must_match_the_images():
    with pytest.raises(ValueError, match="2 ids for 1 images"):
        MetricAccumulator().update(np.zeros((1, 2, 2), np.uint8), np.zeros((1, 2, 2), np.uint8), ["a", "b"])
