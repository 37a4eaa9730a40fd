"""Paired bootstrap over test images: how sure a difference in mIoU between models is (numpy only).

A test split of a few hundred photos is a sample; a 0.5-point mIoU gap may be its luck. Images are drawn with
replacement, the SAME draws for every model (paired: an image that is hard for one is hard for all, so the spread of
the difference is much smaller than that of either score), and each resample is scored as the split is, from summed
counts (``bench.eval.metrics``): the global two-class mIoU from the confusion matrix, boundary F from the boundary
counts, and the mean of the per-image portrait IoU. The intervals are percentile intervals of those resamples.

The per-image tables are the ``*_per_image.csv`` files every ``bench eval`` writes (``bench.eval.records``).
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.errors import UserError
from bench.eval.metrics import BOUNDARY_FIELDS

RESAMPLES = 1000
SEED = 0
CONFIDENCE = 0.95
SCORES = ("miou", "portrait_iou_mean", "boundary_f")


class BootstrapError(UserError):
    """Per-image tables that cannot be compared (unreadable, or not of the same test images)."""


@dataclass(frozen=True)
class PerImage:
    """One model's per-image counts: ``cm`` (N, C, C) rows true class, ``boundary`` (N, 4) as ``BOUNDARY_FIELDS``."""

    ids: tuple[str, ...]
    cm: np.ndarray
    boundary: np.ndarray
    source: str = ""

    def take(self, order: Sequence[int]) -> PerImage:
        idx = np.asarray(order, np.int64)
        return PerImage(tuple(self.ids[i] for i in idx), self.cm[idx], self.boundary[idx], self.source)


def load_per_image(path: str | os.PathLike) -> PerImage:
    """A ``*_per_image.csv`` as counts; a missing file, column or number is one BootstrapError naming the file."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            fields = set(reader.fieldnames or ())
    except OSError as e:
        raise BootstrapError(f"{path}: cannot read ({e.strerror or e})") from None
    except (UnicodeDecodeError, csv.Error):
        raise BootstrapError(f"{path}: not a per-image CSV of bench eval (not CSV text)") from None
    c = math.isqrt(sum(k.startswith("cm_") for k in fields))
    cm_fields = [f"cm_{t}{p}" for t in range(c) for p in range(c)]
    missing = [k for k in ("id", *(cm_fields if c >= 2 else ["cm_00 ... cm_11"]), *BOUNDARY_FIELDS)
               if k not in fields]
    if missing or not rows:
        raise BootstrapError(f"{path}: not a per-image CSV of bench eval "
                             f"({'missing ' + ', '.join(missing) if missing else 'no rows'})")
    try:
        cm = np.array([[int(r[k]) for k in cm_fields] for r in rows], np.int64).reshape(-1, c, c)
        boundary = np.array([[int(r[k]) for k in BOUNDARY_FIELDS] for r in rows], np.int64)
    except (TypeError, ValueError):
        raise BootstrapError(f"{path}: a count is not an integer") from None
    ids = tuple(r["id"] for r in rows)
    if len(set(ids)) != len(ids):
        raise BootstrapError(f"{path}: an id appears twice")
    return PerImage(ids, cm, boundary, str(path))


def _aligned(tables: Mapping[str, PerImage]) -> dict[str, PerImage]:
    """Every table in the first one's id order; different sets of ids are one BootstrapError."""
    items = list(tables.items())
    if not items:
        raise BootstrapError("no per-image tables to compare")
    first_name, first = items[0]
    out = {first_name: first}
    for name, t in items[1:]:
        if set(t.ids) != set(first.ids):
            only = sorted(set(first.ids) ^ set(t.ids))
            raise BootstrapError(f"{t.source or name}: scores {len(t.ids)} images and {first.source or first_name} "
                                 f"{len(first.ids)}, {len(only)} ids in only one of them (first: {only[0]}); "
                                 "a paired comparison needs the same test images")
        pos = {sid: i for i, sid in enumerate(t.ids)}
        out[name] = t.take([pos[sid] for sid in first.ids])
    return out


def _miou(cm: np.ndarray) -> np.ndarray:
    """Global mIoU of each (..., C, C) summed confusion matrix: classes absent from both sides left out."""
    cm = cm.astype(np.float64)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    union = cm.sum(-1) + cm.sum(-2) - tp
    present = union > 0
    iou = np.where(present, tp / np.where(present, union, 1), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return iou.sum(-1) / present.sum(-1)  # NaN where no class is present, as metrics.mean_iou


def _portrait_iou(cm: np.ndarray) -> np.ndarray:
    """Each image's portrait IoU, 1.0 where neither truth nor prediction has portrait (as the CSV and the JSON)."""
    tp = cm[:, 1, 1].astype(np.float64)
    union = cm[:, 1, :].sum(-1) + cm[:, :, 1].sum(-1) - cm[:, 1, 1]
    return np.where(union > 0, tp / np.maximum(union, 1), 1.0)


def _boundary_f(b: np.ndarray) -> np.ndarray:
    """Boundary F of each (..., 4) row of summed counts, as ``metrics.boundary_f``."""
    b = b.astype(np.float64)
    precision = np.where(b[..., 1] > 0, b[..., 0] / np.maximum(b[..., 1], 1), 1.0)
    recall = np.where(b[..., 3] > 0, b[..., 2] / np.maximum(b[..., 3], 1), 1.0)
    total = precision + recall
    return np.where(total > 0, 2 * precision * recall / np.where(total > 0, total, 1), 0.0)


def _scores(t: PerImage, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Each score for each row of ``weights`` (R, N): how many times each image is in that resample."""
    n, c = t.cm.shape[0], t.cm.shape[1]
    cm = (weights @ t.cm.reshape(n, c * c)).reshape(-1, c, c)  # integer products: exact
    return {"miou": _miou(cm), "portrait_iou_mean": weights @ _portrait_iou(t.cm) / n,
            "boundary_f": _boundary_f(weights @ t.boundary)}


def resample_weights(n: int, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """(R, N) int64 counts of each image in each resample: one index matrix drawn once, counted by bincount."""
    idx = np.random.default_rng(seed).integers(0, n, (resamples, n))
    flat = (np.arange(resamples)[:, None] * n + idx).ravel()
    return np.bincount(flat, minlength=resamples * n).reshape(resamples, n)


def miou_draws(tables: Mapping[str, PerImage], resamples: int = RESAMPLES,
               seed: int = SEED) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Each table's mIoU and its ``resamples`` bootstrap mIoUs, the same image draws for every table: for a score
    built from several tables of the same photos (the robustness suite's sets, each model's), combined resample by
    resample."""
    tables = _aligned(tables)
    n = len(next(iter(tables.values())).ids)
    weights, ones = resample_weights(n, resamples, seed), np.ones((1, n), np.int64)
    return ({name: float(_scores(t, ones)["miou"][0]) for name, t in tables.items()},
            {name: _scores(t, weights)["miou"] for name, t in tables.items()})


def bootstrap(tables: Mapping[str, PerImage], resamples: int = RESAMPLES, seed: int = SEED,
              confidence: float = CONFIDENCE, against: str | None = None) -> dict[str, object]:
    """Point estimates and percentile intervals per model, and the paired mIoU difference of every pair.

    ``against`` names one model to compare with each of the others and no other pairs: a many-to-one question ("is
    ELB ahead of each baseline") whose Holm family is those comparisons, not every pair of models.

    Returns plain data: ``models`` (one row per model: ``<score>``, ``<score>_lo``, ``<score>_hi`` for SCORES),
    ``pairs`` (``a``, ``b``, ``miou_a``, ``miou_b``, ``diff`` = a - b, ``diff_lo``, ``diff_hi``, ``significant``:
    the interval excludes 0), and the settings.
    """
    if resamples < 1:
        raise BootstrapError(f"resamples must be at least 1, got {resamples}")
    if against is not None and against not in tables:
        raise BootstrapError(f"the model to compare against, {against!r}, is not one of {', '.join(tables)}")
    tables = _aligned(tables)
    n = len(next(iter(tables.values())).ids)
    weights = resample_weights(n, resamples, seed)
    ones = np.ones((1, n), np.int64)
    q = 100 * np.array([(1 - confidence) / 2, (1 + confidence) / 2])
    point = {name: {k: float(v[0]) for k, v in _scores(t, ones).items()} for name, t in tables.items()}
    draws = {name: _scores(t, weights) for name, t in tables.items()}
    models = []
    for name in tables:
        row: dict[str, object] = {"model": name, "images": n, "source": tables[name].source}
        for k in SCORES:
            lo, hi = np.percentile(draws[name][k], q)
            row.update({k: point[name][k], f"{k}_lo": float(lo), f"{k}_hi": float(hi)})
        models.append(row)
    names = list(tables)
    if against is None:
        compared = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    else:
        compared = [(against, b) for b in names if b != against]
    pairs = []
    for a, b in compared:
        d = draws[a]["miou"] - draws[b]["miou"]
        lo, hi = np.percentile(d, q)
        pairs.append({"a": a, "b": b, "miou_a": point[a]["miou"], "miou_b": point[b]["miou"],
                      "diff": point[a]["miou"] - point[b]["miou"], "diff_lo": float(lo), "diff_hi": float(hi),
                      "significant": bool(lo > 0 or hi < 0), "p": p_value(d)})
    for pair, kept in zip(pairs, holm([p["p"] for p in pairs], 1 - confidence), strict=True):
        pair["holm"] = kept
    return {"images": n, "resamples": resamples, "seed": seed, "confidence": confidence, "models": models,
            "against": against, "pairs": pairs}


def p_value(diffs: np.ndarray) -> float:
    """Two-sided bootstrap p of a paired difference: twice the share of resamples on the smaller side of 0 (ties
    counted on both), at most 1; the smallest level at which the percentile interval would exclude 0."""
    return float(min(1.0, 2 * min(np.mean(diffs <= 0), np.mean(diffs >= 0))))


def holm(p_values: Sequence[float], alpha: float = 1 - CONFIDENCE) -> list[bool]:
    """Holm's step-down correction for testing every pair at once: which hypotheses are rejected at family-wise
    level ``alpha``. The k-th smallest p (k from 0) must be at most alpha / (m - k), and so must every smaller one."""
    m = len(p_values)
    rejected = [False] * m
    for k, i in enumerate(sorted(range(m), key=lambda j: p_values[j])):
        if p_values[i] > alpha / (m - k):
            break
        rejected[i] = True
    return rejected


def _pct(v: float) -> str:
    return f"{100 * v:.2f}"


def models_markdown(result: Mapping[str, object]) -> str:
    """Each model's scores with their intervals, in percent."""
    level = f"{100 * result['confidence']:g} %"
    lines = [f"| model | mIoU | {level} interval | mean portrait IoU | {level} interval | boundary F | "
             f"{level} interval |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in result["models"]:
        cells = [f"{_pct(r[k])} | [{_pct(r[k + '_lo'])}, {_pct(r[k + '_hi'])}]" for k in SCORES]
        lines.append(f"| {r['model']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def pairwise_markdown(result: Mapping[str, object], with_holm: bool = False) -> str:
    """The paired mIoU difference of every pair of models, in percentage points; ``with_holm`` adds each pair's
    bootstrap p and whether it stays outside the noise after Holm's correction over the pairs compared."""
    level = f"{100 * result['confidence']:g} %"
    alpha = f"{1 - result['confidence']:.2g}"
    extra = f" p | Holm, {len(result['pairs'])} pairs, {alpha} |" if with_holm else ""
    lines = [f"| A | B | mIoU A | mIoU B | A - B | {level} interval | excludes 0 |{extra}",
             "|---|---|---:|---:|---:|---:|---|" + ("---:|---|" if with_holm else "")]
    for p in result["pairs"]:
        diff = " | ".join((_pct(p["miou_a"]), _pct(p["miou_b"]), f"{100 * p['diff']:+.2f}"))
        interval = f"[{100 * p['diff_lo']:+.2f}, {100 * p['diff_hi']:+.2f}]"
        line = f"| {p['a']} | {p['b']} | {diff} | {interval} | {'yes' if p['significant'] else 'no'} |"
        if with_holm:
            shown = (f"{p['p']:.4f}" if p["p"] >= 1e-3 else f"{p['p']:.1e}" if p["p"] > 0
                     else f"< {1 / result['resamples']:.0e}")
            line += f" {shown} | {'yes' if p['holm'] else 'no'} |"
        lines.append(line)
    return "\n".join(lines) + "\n"


def markdown(result: Mapping[str, object], with_holm: bool = False) -> str:
    """Both tables and what they are, for a report."""
    head = (f"Paired bootstrap over {result['images']} test images: {result['resamples']} resamples (seed "
            f"{result['seed']}), percentile intervals; mIoU is the global two-class mIoU of each resample's summed "
            "confusion matrix, mean portrait IoU the mean over its images (PortraitNet's), all in percent.")
    if with_holm:
        family = (f"all {len(result['pairs'])} pairs" if result.get("against") is None else
                  f"the {len(result['pairs'])} comparisons of {result['against']} with each other model, and no "
                  "other pair,")
        head += (" p: twice the share of resamples whose difference falls on the other side of 0; Holm: whether the "
                 f"pair stays outside the noise when {family} are tested at once at "
                 f"family-wise level {1 - result['confidence']:.2g} (Holm's step-down correction).")
    pairs = "\n" + pairwise_markdown(result, with_holm) if result["pairs"] else ""
    return head + "\n\n" + models_markdown(result) + pairs
