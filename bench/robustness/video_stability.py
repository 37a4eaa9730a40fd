"""``bench video-stability``: how much each model's masks flicker and lag on synthetic clips made from real test
photos (``bench.robustness.clips``), with each frame alone, the moving average (``segment --smooth``) and the
flow-guided blend (``segment --temporal flow``), scored per clip by ``bench.robustness.stability``.

A clip is made once and each frame predicted once per model, through the one prediction path
(``bench.deploy.predict``, the model's own ``Preprocess``); the three methods then post-process the same
probabilities, so their differences are the methods' alone. Writes, under ``out``: one row per model, clip and method
(CSV), the means per model and method (Markdown), the settings (JSON), and a strip of frames (JPEG).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from bench.data.format import read_dataset
from bench.data.io import atomic_write_bytes, atomic_write_json, atomic_write_text, make_dir, utc_now
from bench.errors import UserError
from bench.machine import git_commit
from bench.robustness.clips import ClipSettings, clip_frames, clip_sources
from bench.robustness.stability import FIELDS, TemporalScore
from bench.robustness.suite import RobustnessError, folder_name, scored_ids
from bench.segment.temporal import FlowSmoother, Smoother

METHODS = ("single", "ema", "flow")
CLIPS_CSV, SUMMARY_MD, INFO_JSON, STRIP = "video_stability.csv", "video_stability.md", "video_stability.json", \
    "video_strip.jpg"
STRIP_FRAMES, STRIP_HEIGHT = 6, 150
FLOOR = "truth seen at "  # the reference rows: the true mask through a model's input size (truth_seen_at)


def _methods(smooth: float) -> dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]]:
    ema, flow = Smoother(smooth), FlowSmoother(smooth)
    return {"single": lambda p, _rgb: p, "ema": ema, "flow": flow}


Predict = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (frame, its truth) -> portrait probability


def _predictor(source: str, device: str) -> tuple[str, tuple[int, int], Predict]:
    from bench.deploy.predict import probabilities
    from bench.deploy.runtime import load_predictor
    from bench.deploy.sources import resolve

    card = resolve(source)
    if not card.trained:
        raise RobustnessError(f"{source}: a registered model has random weights; name trained ones (a zoo name, a run "
                              "folder, a checkpoint or an .onnx file)")
    predictor = load_predictor(card, device=device)
    return (folder_name(card.zoo or source), tuple(card.preprocess.size),
            lambda rgb, _truth: probabilities(predictor, [rgb], card.preprocess, 1, device)[0])


def truth_seen_at(hw: tuple[int, int]) -> Predict:
    """The resolution floor: the true mask squeezed to an ``hw`` input and stretched back (area down, bilinear up),
    what a model perfect at that input would return. Its dtSSD is not 0: the soft stretched edge moves unlike the
    true hard one, so part of every model's temporal error is its input size, which no smoothing removes."""
    def predict(_rgb: np.ndarray, truth: np.ndarray) -> np.ndarray:
        h, w = truth.shape
        small = cv2.resize((truth == 1).astype(np.float32), (hw[1], hw[0]), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return predict


def run_video_stability(models: Sequence[str], data: str | os.PathLike, out: str | os.PathLike, *, clips: int = 8,
                        frames: int = 60, smooth: float = 0.5, seed: int = 0, split: str = "test",
                        device: str = "cpu", progress: Callable[[int], None] | None = None) -> list[dict[str, object]]:
    """Score ``models`` on ``clips`` clips of ``frames`` frames; write the reports under ``out``; return the rows
    (one per model, clip and method). ``progress(1)`` after each frame."""
    if frames < 2:
        raise RobustnessError(f"--frames {frames}: a clip needs at least 2 frames to change between")
    if not 0.0 < smooth < 1.0:
        raise RobustnessError(f"--smooth {smooth}: the blend weight must be in (0, 1)")
    try:
        ds = read_dataset(data)
    except UserError as e:
        raise RobustnessError(str(e)) from None
    ids = scored_ids(ds, split, None)
    if len(ids) < 2:
        raise RobustnessError(f"{ds.root}: a clip takes its room from another photo; the {split} split has one")
    settings = ClipSettings(frames=frames)
    loaded = [_predictor(m, device) for m in models]
    predictors: dict[str, Predict] = {name: predict for name, _hw, predict in loaded}
    for hw in dict.fromkeys(hw for _name, hw, _predict in loaded):  # one floor per input size, after the models
        predictors[f"{FLOOR}{hw[0]}x{hw[1]}"] = truth_seen_at(hw)
    rows: list[dict[str, object]] = []
    strip: dict[str, list[np.ndarray]] = {}
    shown = set(np.linspace(0, frames - 1, STRIP_FRAMES).round().astype(int).tolist())
    sources = clip_sources(ids, clips, seed)
    for c, (sid, rid) in enumerate(sources):
        methods = {name: _methods(smooth) for name in predictors}
        scores = {(name, m): TemporalScore() for name in predictors for m in METHODS}
        frames_in = clip_frames(ds.load_image(sid), ds.load_mask(sid), ds.load_image(rid), ds.load_mask(rid), seed, c,
                                settings)
        for t, (rgb, truth) in enumerate(frames_in):
            for k, (name, predict) in enumerate(predictors.items()):
                prob = predict(rgb, truth)
                for m, blend in methods[name].items():
                    q = blend(prob, rgb)
                    scores[name, m].update(q, truth)
                    if c == 0 and k == 0 and t in shown:
                        strip.setdefault(m, []).append(_tile(rgb, q, truth))
            if progress:
                progress(1)
        for (name, m), score in scores.items():
            rows.append({"model": name, "clip": c, "subject": sid, "room": rid, "method": m, **score.result()})
    info = {"data": str(Path(data).resolve()), "dataset": ds.name, "split": split, "clips": len(sources),
            "seed": seed, "smooth": smooth, "settings": settings.as_dict(), "models": list(predictors),
            "commit": git_commit(), "date": utc_now(),
            "note": "synthetic motion over real photos: camera path, subject motion, exposure and noise are simulated"}
    write_reports(out, rows, info, strip)
    return rows


def _tile(rgb: np.ndarray, prob: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """A frame with the predicted mask tinted green and the true outline in red, STRIP_HEIGHT tall."""
    out = rgb.astype(np.float32)
    out[prob > 0.5] = 0.55 * out[prob > 0.5] + 0.45 * np.array([40, 220, 60], np.float32)
    out = out.astype(np.uint8)
    edge = cv2.morphologyEx((truth == 1).astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    out[cv2.dilate(edge.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0] = (230, 30, 30)
    w = round(rgb.shape[1] * STRIP_HEIGHT / rgb.shape[0])
    return cv2.resize(out, (w, STRIP_HEIGHT), interpolation=cv2.INTER_AREA)


def _strip_jpeg(strip: dict[str, list[np.ndarray]]) -> bytes:
    rows = []
    for m, tiles in strip.items():
        row = np.concatenate(tiles, axis=1)
        label = np.full((STRIP_HEIGHT, 70, 3), 255, np.uint8)
        cv2.putText(label, m, (4, STRIP_HEIGHT // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        rows.append(np.concatenate([label, row], axis=1))
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(np.concatenate(rows, axis=0), cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, 80])
    return buf.tobytes()


def method_means(rows: Sequence[dict[str, object]]) -> list[dict[str, object]]:
    """Per model and method, the mean over clips of each field; and each method's change of dtSSD and flips
    against single frames (percent), and of mIoU (points)."""
    out = []
    for name in dict.fromkeys(r["model"] for r in rows):
        means = {m: {f: float(np.mean([r[f] for r in rows if r["model"] == name and r["method"] == m]))
                     for f in FIELDS} for m in METHODS}
        base = means["single"]
        for m in METHODS:
            rel = {f"{f}_change": 100.0 * (means[m][f] - base[f]) / base[f] if base[f] else 0.0
                   for f in ("dtssd", "flips")}
            out.append({"model": name, "method": m, **means[m], "miou_change": means[m]["miou"] - base["miou"],
                        **rel})
    return out


def write_reports(out: str | os.PathLike, rows: Sequence[dict[str, object]], info: dict[str, object],
                  strip: dict[str, list[np.ndarray]]) -> list[Path]:
    out = make_dir(out)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows({k: f"{v:.4f}" if isinstance(v, float) else v for k, v in r.items()} for r in rows)
    atomic_write_text(out / CLIPS_CSV, buf.getvalue())
    means = method_means(rows)
    atomic_write_json(out / INFO_JSON, {**info, "means": means})
    atomic_write_text(out / SUMMARY_MD, markdown(means, info))
    written = [out / SUMMARY_MD, out / CLIPS_CSV, out / INFO_JSON]
    if strip:
        atomic_write_bytes(out / STRIP, _strip_jpeg(strip))
        written.append(out / STRIP)
    return written


def markdown(means: Sequence[dict[str, object]], info: dict[str, object]) -> str:
    lines = [f"# Video stability: {info['clips']} synthetic clips of {info['settings']['frames']} frames from "
             f"{info['dataset']} {info['split']} photos (seed {info['seed']})", "",
             "The clips are synthetic motion over real photos: a test photo's subject moving over another photo's "
             "room (person inpainted out), a simulated hand-held camera path, exposure drift and fresh sensor noise "
             "in every frame. They measure flicker and lag, not real video.", "",
             f"Methods: single frames; ema, the moving average of weight {info['smooth']} (segment --smooth); flow, "
             "the same weight after carrying the previous map along DIS optical flow (segment --temporal flow).",
             "mIoU (%): mean of the frames'; dtSSD: RVM's temporal error x 100; flips (%): pixels whose mask changes "
             "where the truth does not. Changes are against single frames.",
             f"Rows '{FLOOR}HxW' are the resolution floor, not a model: the true mask squeezed to a model's input "
             "size and stretched back, what a model perfect at that input would score. Its dtSSD is the part of a "
             "model's temporal error that comes from its input size, which smoothing cannot remove.", "",
             "| model | method | mIoU | dtSSD | flips % | mIoU change | dtSSD change % | flips change % |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['model']} | {r['method']} | {r['miou']:.2f} | {r['dtssd']:.3f} | {r['flips']:.3f} | "
              f"{r['miou_change']:+.2f} | {r['dtssd_change']:+.1f} | {r['flips_change']:+.1f} |" for r in means]
    return "\n".join([*lines, "", f"Commit {info['commit']}, {info['date']}.", ""])
