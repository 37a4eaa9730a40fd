"""``bench video-stability``: how much each model's masks flicker and lag on synthetic clips made from real test
photos (``bench.robustness.clips``), with each frame alone, the moving average (``segment --smooth``) and the
flow-guided blend (``segment --temporal flow``), scored per clip by ``bench.robustness.stability``.

A clip is made once and each frame predicted once per model, through the one prediction path
(``bench.deploy.predict``, the model's own ``Preprocess``); the three methods then post-process the same
probabilities, so their differences are the methods' alone. Writes, under ``out``: one row per model, clip and method
(CSV), the means per model and method (Markdown), the settings (JSON), and a strip of frames (JPEG).

Peers that run in their own environment (MediaPipe, ``peers/mediapipe_video.py``) are scored the same way from files
(``bench.robustness.clip_files``): ``write_clips`` writes every clip's frames as PNG, the peer writes a probability map
per frame, and ``peers={name: dir}`` reads them in place of a model's prediction, through the same methods and scores.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

from bench.data.format import PortraitDataset, read_dataset
from bench.data.io import atomic_write_bytes, atomic_write_json, atomic_write_text, make_dir, utc_now
from bench.errors import UserError
from bench.machine import git_commit
from bench.robustness.clip_files import frame_path, read_probability, write_clips_record, write_frame
from bench.robustness.clips import ClipSettings, clip_frames, clip_sources
from bench.robustness.stability import FIELDS, TemporalScore
from bench.robustness.suite import RobustnessError, folder_name, lazy_predictor, scored_ids, trained_card
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
FramePredict = Callable[[int, int, np.ndarray, np.ndarray], np.ndarray]  # (clip, t, frame, truth) -> probability
Entrant = tuple[str, tuple[int, int] | None, FramePredict]  # name, input size (None: unknown), predictions


def _framewise(predict: Predict) -> FramePredict:
    """A predictor that needs only the frame (and its truth), as one that is also told where the frame is."""
    return lambda _clip, _t, rgb, truth: predict(rgb, truth)


def _predictor(source: str, device: str) -> Entrant:
    from bench.deploy.predict import probabilities

    card = trained_card(source)
    predictor = lazy_predictor(card, device)

    def predict(rgb: np.ndarray, _truth: np.ndarray) -> np.ndarray:
        return probabilities(predictor(), [rgb], card.preprocess, 1, device)[0]

    return folder_name(card.zoo or source), tuple(card.preprocess.size), _framewise(predict)


def _peer_record(root: Path) -> dict[str, object]:
    """The peer's ``peer.json`` (what ran, and on which clips), or {} where it wrote none."""
    try:
        record = json.loads((root / "peer.json").read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise RobustnessError(f"{root / 'peer.json'}: not readable as JSON ({e})") from None
    return record if isinstance(record, dict) else {}


SAME_CLIPS = ("dataset", "split", "seed")  # with every clip setting and the photos: a peer's clips are these clips


def _check_same_clips(root: Path, theirs: object, ours: Mapping[str, object]) -> None:
    """A peer's frames must be of these clips: the clips record it copied into peer.json (if any) must agree on
    ``SAME_CLIPS``, every setting and each scored clip's photos; else its maps are of other frames, scored against
    other truth."""
    if not isinstance(theirs, dict):
        return
    pairs = [(x.get("subject"), x.get("room")) for x in theirs.get("clips", []) if isinstance(x, dict)]
    settings = theirs.get("settings") if isinstance(theirs.get("settings"), dict) else {}
    differ = [(k, theirs.get(k), ours[k]) for k in SAME_CLIPS if theirs.get(k) != ours[k]]
    differ += [(k, settings.get(k), v) for k, v in ours["settings"].items() if settings.get(k) != v]
    if differ:
        key, was, now = differ[0]
        raise RobustnessError(f"{root}: the peer ran over other clips ({key} {was!r}, here {now!r}); write these "
                              "with --write-clips and run the peer over them")
    want = [(x["subject"], x["room"]) for x in ours["clips"]]
    if pairs[:len(want)] != want[:len(pairs)]:  # fewer clips than scored: the missing frames say so
        raise RobustnessError(f"{root}: the peer ran over clips of other photos; write these with --write-clips and "
                              "run the peer over them")


def _check_complete(root: Path, clips: int, frames: int) -> None:
    """Every frame's map is there, checked before any model runs rather than found missing an hour in."""
    for c in range(clips):
        for t in range(frames):
            if not (path := frame_path(root, c, t)).is_file():
                raise RobustnessError(f"{path}: missing; run the peer over the clips written by --write-clips")


def _peer(name: str, folder: str | os.PathLike, clips: Mapping[str, object]) -> Entrant:
    """A peer's probability maps, ``<folder>/<clip>/<t:03d>.png`` for every frame of every clip, checked complete
    before any model runs; its input size from its ``peer.json`` where it says (the floor row), else unknown."""
    root = Path(folder)
    if not root.is_dir():
        raise RobustnessError(f"{root}: no such peer folder (expected {root}/<clip>/<t:03d>.png for every frame of "
                              "the clips written by --write-clips)")
    record = _peer_record(root)
    _check_same_clips(root, record.get("clips"), clips)
    _check_complete(root, len(clips["clips"]), clips["settings"]["frames"])

    def predict(c: int, t: int, _rgb: np.ndarray, truth: np.ndarray) -> np.ndarray:
        path = frame_path(root, c, t)
        prob = read_probability(path)
        if prob.shape != truth.shape:
            raise RobustnessError(f"{path}: a {prob.shape[0]}x{prob.shape[1]} probability map for a "
                                  f"{truth.shape[0]}x{truth.shape[1]} frame; the peer must return the frame's size")
        return prob

    size = record.get("input_size")
    hw = tuple(size) if isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) for v in size) else None
    return name, hw, predict


def truth_seen_at(hw: tuple[int, int]) -> Predict:
    """The resolution floor: the true mask squeezed to an ``hw`` input and stretched back (area down, bilinear up),
    what a model perfect at that input would return. Its dtSSD is not 0: the soft stretched edge moves unlike the
    true hard one, so part of every model's temporal error is its input size, which no smoothing removes."""
    def predict(_rgb: np.ndarray, truth: np.ndarray) -> np.ndarray:
        h, w = truth.shape
        small = cv2.resize((truth == 1).astype(np.float32), (hw[1], hw[0]), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return predict


def clips_record(ds: PortraitDataset, split: str, seed: int, settings: ClipSettings,
                 sources: Sequence[tuple[str, str]]) -> dict[str, object]:
    """What makes the clips (``clips.json``, and the check of a peer's): no date or commit, so the same clips are
    the same bytes."""
    return {"dataset": ds.name, "data": str(ds.root.resolve()), "split": split, "seed": seed,
            "settings": settings.as_dict(), "layout": "<clip>/<t:03d>.png: each frame, RGB PNG",
            "clips": [{"clip": c, "subject": sid, "room": rid, "frames": settings.frames}
                      for c, (sid, rid) in enumerate(sources)],
            "note": "synthetic motion over real photos: camera path, subject motion, exposure and noise are simulated"}


SAME_REPORT = ("data", "split", "clips", "seed", "smooth", "settings")  # what makes two runs' rows comparable


def _earlier_info(out: str | os.PathLike) -> dict[str, object]:
    try:
        old = json.loads((Path(out) / INFO_JSON).read_text())
    except (OSError, ValueError):
        return {}
    return old if isinstance(old, dict) else {}


def recorded_rows(out: str | os.PathLike, info: Mapping[str, object],
                  old: Mapping[str, object]) -> dict[str, list[dict[str, object]]]:
    """The rows under ``out`` of an earlier run on the same clips and methods (``SAME_REPORT``, against its settings
    ``old``), by model; {} if there are none or they are of other clips. The report is long on a CPU, so it grows a
    few models at a time."""
    try:
        text = (Path(out) / CLIPS_CSV).read_text()
    except OSError:
        return {}
    ours = json.loads(json.dumps({k: info[k] for k in SAME_REPORT}))
    if any(old.get(k) != v for k, v in ours.items()):
        return {}
    rows: dict[str, list[dict[str, object]]] = {}
    for r in csv.DictReader(io.StringIO(text)):
        row = {k: float(v) if k in FIELDS else int(v) if k == "clip" else v for k, v in r.items()}
        rows.setdefault(str(row["model"]), []).append(row)
    return rows


def _entrants(models: Sequence[str], peers: Mapping[str, str | os.PathLike], clips: Mapping[str, object],
              device: str) -> dict[str, FramePredict]:
    """The models, then the peers, then one resolution floor per input size known (``truth_seen_at``)."""
    loaded = [_predictor(m, device) for m in models] + [_peer(n, d, clips) for n, d in peers.items()]
    names = [name for name, _hw, _predict in loaded]
    if len(set(names)) != len(names):
        raise RobustnessError(f"two models or peers share a name ({', '.join(names)}); name each once")
    predictors = {name: predict for name, _hw, predict in loaded}
    for hw in dict.fromkeys(hw for _name, hw, _predict in loaded if hw is not None):
        predictors[f"{FLOOR}{hw[0]}x{hw[1]}"] = _framewise(truth_seen_at(hw))
    return predictors


def run_video_stability(models: Sequence[str], data: str | os.PathLike, out: str | os.PathLike | None, *,
                        peers: Mapping[str, str | os.PathLike] | None = None, clips: int = 8, frames: int = 60,
                        smooth: float = 0.5, seed: int = 0, split: str = "test", device: str = "cpu",
                        write_clips: str | os.PathLike | None = None, rescore: bool = False,
                        progress: Callable[[int], None] | None = None) -> list[dict[str, object]]:
    """Score ``models`` and ``peers`` ({name: folder of probability maps}) on ``clips`` clips of ``frames`` frames;
    write the reports under ``out`` (not when nothing is scored) and, with ``write_clips``, every frame as PNG and
    ``clips.json`` there; return the rows (one per model, clip and method). The reports keep the rows of models an
    earlier run recorded under ``out`` on the same clips (``recorded_rows``), and such a model is not scored again
    unless ``rescore``; a peer's maps are always scored again. ``progress(1)`` after each frame."""
    if frames < 2:
        raise RobustnessError(f"--frames {frames}: a clip needs at least 2 frames to change between")
    if not 0.0 < smooth < 1.0:
        raise RobustnessError(f"--smooth {smooth}: the blend weight must be in (0, 1)")
    if not models and not peers and write_clips is None:
        raise RobustnessError("nothing to do: give --model, --peer or --write-clips")
    try:
        ds = read_dataset(data)
    except UserError as e:
        raise RobustnessError(str(e)) from None
    ids = scored_ids(ds, split, None)
    if len(ids) < 2:
        raise RobustnessError(f"{ds.root}: a clip takes its room from another photo; the {split} split has one")
    settings = ClipSettings(frames=frames)
    sources = clip_sources(ids, clips, seed)
    record = clips_record(ds, split, seed, settings, sources)
    predictors = _entrants(models, peers or {}, record, device)
    info = {"data": str(Path(data).resolve()), "dataset": ds.name, "split": split, "clips": len(sources),
            "seed": seed, "smooth": smooth, "settings": settings.as_dict()}
    previous = _earlier_info(out) if out is not None else {}
    earlier = recorded_rows(out, info, previous) if out is not None and not rescore else {}
    predictors = {n: p for n, p in predictors.items() if n in (peers or {}) or n not in earlier}
    if write_clips is not None:
        make_dir(write_clips)
    rows: list[dict[str, object]] = []
    strip: dict[str, list[np.ndarray]] = {}
    shown = set(np.linspace(0, frames - 1, STRIP_FRAMES).round().astype(int).tolist())
    for c, (sid, rid) in enumerate(sources if predictors or write_clips is not None else []):
        methods = {name: _methods(smooth) for name in predictors}
        scores = {(name, m): TemporalScore() for name in predictors for m in METHODS}
        frames_in = clip_frames(ds.load_image(sid), ds.load_mask(sid), ds.load_image(rid), ds.load_mask(rid), seed, c,
                                settings)
        for t, (rgb, truth) in enumerate(frames_in):
            if write_clips is not None:
                write_frame(frame_path(write_clips, c, t), rgb)
            for k, (name, predict) in enumerate(predictors.items()):
                prob = predict(c, t, rgb, truth)
                for m, blend in methods[name].items():
                    q = blend(prob, rgb)
                    scores[name, m].update(q, truth)
                    if c == 0 and k == 0 and t in shown:
                        strip.setdefault(m, []).append(_tile(rgb, q, truth))
            if progress:
                progress(1)
        for (name, m), score in scores.items():
            rows.append({"model": name, "clip": c, "subject": sid, "room": rid, "method": m, **score.result()})
    if write_clips is not None:
        write_clips_record(write_clips, record)
    scored_now = dict.fromkeys(r["model"] for r in rows)
    rows = [r for name, rs in earlier.items() if name not in scored_now for r in rs] + rows
    rows.sort(key=lambda r: str(r["model"]).startswith(FLOOR))  # stable: the models, then the floor rows
    if rows and out is not None:
        info.update({"models": list(dict.fromkeys(r["model"] for r in rows)), "scored_by_this_run": list(scored_now),
                     "peers": {name: str(Path(d).resolve()) for name, d in (peers or {}).items()},
                     "strip_model": next(iter(predictors)) if strip else previous.get("strip_model"),
                     "commit": git_commit(), "date": utc_now(), "note": record["note"]})
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
    w.writerows({k: f"{v:.6f}" if isinstance(v, float) else v for k, v in r.items()} for r in rows)
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
             f"Rows '{FLOOR}HxW' are the resolution floor, not a model: the true mask squeezed to a model's (or a "
             "peer's, where it states it) input size and stretched back, what a model perfect at that input would "
             "score. Its dtSSD is the part of a model's temporal error that comes from its input size, which "
             "smoothing cannot remove.",
             *([f"Peers ({', '.join(info['peers'])}) ran in their own environment over the same frames, written as "
                "lossless PNG (--write-clips); their probability maps are scored as the models' are."]
               if info.get("peers") else []), "",
             "| model | method | mIoU | dtSSD | flips % | mIoU change | dtSSD change % | flips change % |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['model']} | {r['method']} | {r['miou']:.2f} | {r['dtssd']:.3f} | {r['flips']:.3f} | "
              f"{r['miou_change']:+.2f} | {r['dtssd_change']:+.1f} | {r['flips_change']:+.1f} |" for r in means]
    return "\n".join([*lines, "", f"Commit {info['commit']}, {info['date']}.", ""])
