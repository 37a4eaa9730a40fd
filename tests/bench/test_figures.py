"""The report's figures are written as decodable PNGs of a sensible size, and bad input is refused clearly."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.data.synthetic import render_sample
from bench.report.figures import (
    boundary_weight_example,
    fps_vs_miou,
    measured_points,
    prediction_grid,
    time_to_accuracy,
)
from bench.report.folder import read_results
from bench.report.selection import results_frame
from bench.report.speed_csv import interleaved_speed

HEADER = ("model,paper_name,loss,loss_default,dataset,dataset_name,n_train,n_test,params,gmacs,fps,fps_spread,device,"
          "miou,iou_bg,iou_fg,boundary_f,epochs,schedule,profile,run_dir")
ROWS = [
    "elb,ELB (ours),adaptive,True,synthetic,synthetic,80,20,656322,3.78,14.2,0.3,cpu x2,91.2,92,90.4,71.5,3,poly,"
    "smoke,r1",
    "elb,ELB (ours),ce,False,synthetic,synthetic,80,20,656322,3.78,14.1,0.4,cpu x2,90.0,91,89.0,68.2,3,poly,smoke,r2",
    "enet,ENet,ce,True,synthetic,synthetic,80,20,350000,2.05,20.5,1.1,cpu x2,88.5,89,88.0,65.0,3,poly,smoke,r3",
]


def _png(path: Path) -> np.ndarray:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, f"{path} does not decode"
    assert image.std() > 10  # not a blank canvas
    return image


def _results(tmp_path: Path):
    path = tmp_path / "results.csv"
    path.write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8")
    return results_frame(read_results(path))


def test_fps_vs_miou(tmp_path: Path) -> None:
    out = fps_vs_miou(_results(tmp_path), tmp_path / "figures" / "fps_vs_miou.png", "synthetic")
    assert out == tmp_path / "figures" / "fps_vs_miou.png"
    h, w = _png(out).shape[:2]
    assert 400 <= h <= 1200 and 1000 <= w <= 2000 and w > h  # two panels side by side
    # A role with no measurements still gives the paper's panel, with a note on ours.
    _png(fps_vs_miou(_results(tmp_path), tmp_path / "pfcn.png", "pfcn"))
    with pytest.raises(ValueError, match="dataset role"):
        fps_vs_miou(_results(tmp_path), tmp_path / "x.png", "coco")


def test_fps_vs_miou_takes_table1s_interleaved_fps(tmp_path: Path) -> None:
    """With a speed table of the same device, a model's point sits at its speed.csv FPS at 512 (as in Table 1); a
    model the table lacks, or a table of another CPU, keeps results.csv's timing."""
    speed_csv = tmp_path / "speed.csv"
    speed_csv.write_text("model,size,threads,backend,precision,status,fps,fps_iqr,runs,device_name\n"
                         "elb,512,2,eager,fp32,ok,9.0,1.6,15,EPYC\n"
                         "elb,256,2,eager,fp32,ok,30.0,2.0,15,EPYC\n"
                         "elb,512,2,onnxruntime,fp32,ok,40.0,1.0,15,EPYC\n", encoding="utf-8")
    rows = _results(tmp_path)
    speed = interleaved_speed(speed_csv, "cpu (EPYC)")
    fps = {(m, label): (f, s) for m, label, f, s, *_ in measured_points(rows, speed)}
    assert fps[("elb", "ELB (ours)")] == (9.0, 1.6) and fps[("elb", "ELB (ours) (ce)")] == (9.0, 1.6)
    assert fps[("enet", "ENet")] == (20.5, 1.1)
    assert interleaved_speed(speed_csv, "cpu (Xeon)") is None
    _png(fps_vs_miou(_results(tmp_path), tmp_path / "f.png", "synthetic", interleaved_speed(speed_csv, "")))


def test_boundary_weight_example(tmp_path: Path) -> None:
    s = render_sample(0, 2, (96, 124))
    out = boundary_weight_example(s.image, s.mask, tmp_path / "weights.png")
    h, w = _png(out).shape[:2]
    assert 300 <= h <= 900 and 900 <= w <= 1600  # three panels in a row
    with pytest.raises(ValueError, match="mask shape"):
        boundary_weight_example(s.image, s.mask[:-1], tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


def test_prediction_grid(tmp_path: Path) -> None:
    samples = [render_sample(0, i, (64, 80)) for i in range(3)]
    images, masks = [s.image for s in samples], [s.mask for s in samples]
    masks[0] = masks[0].copy()
    masks[0][:4] = 255  # an ignore band is drawn, not rejected
    grown = [cv2.dilate(m, np.ones((5, 5), np.uint8)) for m in masks]
    predictions = {"ELB (ours)": [(m == 1).astype(np.uint8) for m in masks], "ENet": grown}
    out = prediction_grid(images, masks, predictions, tmp_path / "grid.png")
    h, w = _png(out).shape[:2]
    assert 500 <= h <= 1400 and 500 <= w <= 1200  # 3 rows x 4 columns of 3:4 cells
    with pytest.raises(ValueError, match="'ENet' has 2 predictions for 3 images"):
        prediction_grid(images, masks, {"ENet": grown[:2]}, tmp_path / "bad.png")
    with pytest.raises(ValueError, match="prediction 1 has shape"):
        prediction_grid(images, masks, {"ENet": [grown[0], grown[1][:10], grown[2]]}, tmp_path / "bad.png")
    with pytest.raises(ValueError, match="no images"):
        prediction_grid([], [], {}, tmp_path / "bad.png")


def test_time_to_accuracy_plots_each_run(tmp_path):
    out = time_to_accuracy({"ELB": [(60.0, 0.8), (120.0, 0.9)], "ENet": [(90.0, 0.7), (180.0, None)]},
                           tmp_path / "tta.png", "test")
    img = cv2.imread(str(out))
    assert img is not None and img.shape[0] > 200
    empty = cv2.imread(str(time_to_accuracy({}, tmp_path / "empty.png", "none")))
    assert empty is not None and (img != 255).sum() > (empty != 255).sum()
