"""``pseg stats``: what a built PSEG folder holds, beside the paper's 20,514 / 18,462 / 2,052 crops."""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np

from bench.data.format import DatasetError

PAPER_COUNTS = {"total": 20514, "train": 18462, "test": 2052}


def reason_code(detail: str) -> str:
    """The stable part of a skip reason (``head-cut: ...`` -> ``head-cut``)."""
    return detail.split(":", 1)[0].strip() or "unknown"


def dataset_stats(root: str | os.PathLike) -> dict[str, object]:
    """Counts per split, skip reasons, persons per crop and mask coverage, read from the manifest."""
    root = Path(root)
    manifest = root / "manifest.csv"
    if not manifest.is_file():
        raise DatasetError(f"{manifest}: missing (not a PSEG folder, or its build has not finished)")
    try:
        meta = json.loads((root / "dataset.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DatasetError(f"{root / 'dataset.json'}: unreadable ({e})") from e
    with open(manifest, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    kept = [r for r in rows if r.get("status") == "ok"]
    counts = Counter(r["split"] for r in kept)
    images = {s: len({r.get("source_image") for r in kept if r["split"] == s}) for s in counts}
    reasons = Counter(reason_code(r.get("detail", "")) for r in rows if r.get("status") != "ok")
    persons = Counter(int(r["persons_in_crop"]) for r in kept if r.get("persons_in_crop", "").isdigit())
    coverage = np.array([float(r["coverage"]) for r in kept if r.get("coverage")], dtype=np.float64)
    total = sum(counts.values())
    cov = {}
    if coverage.size:
        cov = {"mean": float(coverage.mean()), "p10": float(np.percentile(coverage, 10)),
               "median": float(np.median(coverage)), "p90": float(np.percentile(coverage, 90))}
    return {
        "root": str(root),
        "name": meta.get("name", ""),
        "params": meta.get("params", {}),
        "candidates": len(rows),
        "counts": {"total": total, "train": counts.get("train", 0), "test": counts.get("test", 0),
                   **{s: n for s, n in sorted(counts.items()) if s not in ("train", "test")}},
        "paper": PAPER_COUNTS,
        "images_per_split": dict(sorted(images.items())),
        "skip_reasons": dict(reasons.most_common()),
        "persons_per_crop": {str(k): v for k, v in sorted(persons.items())},
        "coverage": cov,
    }


def format_stats(s: dict[str, object]) -> str:
    """A plain-text report of ``dataset_stats``."""
    lines = [f"{s['root']}  ({s['name']}, {s['candidates']} candidate persons)"]
    params = s["params"]
    if params:
        lines.append("params: " + ", ".join(f"{k}={v}" for k, v in sorted(params.items())))
    lines.append(f"{'split':<8}{'crops':>9}{'paper':>9}{'ratio':>8}{'images':>9}")
    for split in ("total", "train", "test"):
        n, paper = s["counts"][split], s["paper"][split]
        per_split = s["images_per_split"]
        imgs = sum(per_split.values()) if split == "total" else per_split.get(split, 0)
        lines.append(f"{split:<8}{n:>9,}{paper:>9,}{n / paper:>8.3f}{imgs:>9,}")
    total = s["counts"]["total"]
    if total:
        lines.append(f"test share: {s['counts']['test'] / total:.3f} of crops (paper {2052 / 20514:.3f})")
    lines.append("skipped persons by reason:" if s["skip_reasons"] else "skipped persons: none")
    for reason, n in s["skip_reasons"].items():
        lines.append(f"  {reason:<24}{n:>8,}")
    if s["persons_per_crop"]:
        per = s["persons_per_crop"]
        n_all = sum(per.values())
        mean = sum(int(k) * v for k, v in per.items()) / n_all
        lines.append(f"persons per crop (mean {mean:.2f}): "
                     + ", ".join(f"{k}: {v} ({v / n_all:.1%})" for k, v in per.items()))
    if s["coverage"]:
        c = s["coverage"]
        lines.append(f"mask coverage (portrait pixels): mean {c['mean']:.3f}, p10 {c['p10']:.3f}, "
                     f"median {c['median']:.3f}, p90 {c['p90']:.3f}")
    return "\n".join(lines)
