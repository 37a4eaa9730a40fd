"""Off-the-shelf peers in the results: one CSV row per peer, dataset and split, built from two files in its folder.

A peer script (``peers/``) writes ``peer.json`` (what ran, and its latency under ``bench speed``'s protocol) beside
its masks; ``bench eval --predictions`` writes ``metrics_<dataset>_<split>.json``. ``record_peer`` joins them into
``reports/peers.csv``, replacing the row of the same peer, dataset and split: the off-the-shelf peers, which
``bench tables`` merges into Table 1 as their own rows. Percentages are rounded as in ``results.csv``; sizes are
height x width.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from bench.data.io import atomic_write_text
from bench.eval.predictions import PredictionError
from bench.runs.folder import metrics_name, percent

COLUMNS = ("model", "paper_name", "kind", "dataset_name", "split", "n_test", "input_hw", "miou", "iou_bg", "iou_fg",
           "boundary_f", "boundary_tolerance_px", "fps", "fps_spread", "ms_median", "fps_photo", "ms_median_photo",
           "photo_hw", "batch_size", "warmup", "runs", "device", "runtime", "date")
KEY = ("model", "dataset_name", "split")


def _load(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise PredictionError(f"{path}: missing") from None
    except (OSError, ValueError) as e:
        raise PredictionError(f"{path}: not readable JSON ({e})") from None


def peer_row(pred_dir: str | os.PathLike) -> dict[str, object]:
    """The CSV row of one scored peer folder (``peer.json`` and its split's metrics file)."""
    pred_dir = Path(pred_dir)
    info = _load(pred_dir / "peer.json")
    metrics_path = pred_dir / metrics_name(info["dataset"], info["split"])
    if not metrics_path.is_file():
        raise PredictionError(f"{metrics_path}: missing; run `bench eval --predictions {pred_dir} --data "
                              f"{info.get('data', 'DATASET')} --split {info['split']}` first")
    m = _load(metrics_path)
    if m["images"] != info["images"]:
        raise PredictionError(f"{metrics_path}: scores {m['images']} images but {pred_dir / 'peer.json'} wrote "
                              f"{info['images']}; score the folder again")
    lat = info["latency"]
    model_lat, photo_lat = lat["at_model_input"], lat["at_photo"]
    return {
        "model": info["peer"], "paper_name": info["paper_name"], "kind": info["kind"],
        "dataset_name": info["dataset"], "split": info["split"], "n_test": m["images"],
        "input_hw": "x".join(str(v) for v in info["input_size"]),
        "miou": percent(m["miou"], ""), "iou_bg": percent(m["iou"]["background"], ""),
        "iou_fg": percent(m["iou"]["portrait"], ""),
        "boundary_f": percent(m["boundary_f"], ""), "boundary_tolerance_px": m["boundary_tolerance_px"],
        "fps": round(model_lat["fps"], 2), "fps_spread": round(model_lat["fps_iqr"], 2),
        "ms_median": round(model_lat["ms_median"], 3), "fps_photo": round(photo_lat["fps"], 2),
        "ms_median_photo": round(photo_lat["ms_median"], 3), "photo_hw": "x".join(map(str, lat["photo_size"])),
        "batch_size": lat["batch_size"], "warmup": lat["warmup"], "runs": lat["runs"],
        "device": f"{info['device']} ({info['device_name']}, {info['cpu_count']} cores)", "runtime": info["runtime"],
        "date": info["date"],
    }


def record_peer(pred_dir: str | os.PathLike, csv_path: str | os.PathLike) -> dict[str, object]:
    """Add (or replace) ``pred_dir``'s row in ``csv_path``; rows stay sorted by dataset, split and model."""
    row = peer_row(pred_dir)
    csv_path = Path(csv_path)
    rows = []
    if csv_path.is_file():
        with open(csv_path, newline="", encoding="utf-8") as f:
            rows = [r for r in csv.DictReader(f) if tuple(r.get(k) for k in KEY) != tuple(str(row[k]) for k in KEY)]
    rows.append(row)
    rows.sort(key=lambda r: (r["dataset_name"], r["split"], r["model"]))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(csv_path, buf.getvalue())
    return row
