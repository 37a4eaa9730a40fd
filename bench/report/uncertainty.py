"""The uncertainty in a report folder: a paired bootstrap over the test images of every run whose per-image record is
kept (``metrics_per_image.csv``, found by ``bench.report.folder.ReportFolder.record_file``).

Table 1 takes each model's 95 % interval of the mIoU and its mean per-image portrait IoU from here, and
``significance.md`` beside the tables says, for every pair of models on a dataset, whether their mIoU difference is
outside the noise of the test sample. A run without a per-image record (one evaluated before ``bench eval`` wrote
them) is left out and named, never guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from bench.eval.bootstrap import RESAMPLES, SEED, bootstrap, load_per_image, markdown
from bench.report.folder import ReportFolder
from bench.runs.folder import METRICS_PER_IMAGE


def per_image_records(default_rows: pd.DataFrame, folder: ReportFolder) -> dict[str, dict[str, Path]]:
    """role -> {model: its per-image CSV at the scored size} for the rows (one per model and role) that have one."""
    found: dict[str, dict[str, Path]] = {}
    for row in default_rows.to_dict("records"):
        path = folder.record_file(row["dataset"], row["run_dir"], METRICS_PER_IMAGE)
        if path is not None:
            found.setdefault(str(row["dataset"]), {})[str(row["model"])] = path
    return found


def bootstrap_records(records: Mapping[str, Mapping[str, Path]], resamples: int = RESAMPLES,
                      seed: int = SEED) -> dict[str, dict[str, object]]:
    """role -> the paired bootstrap (``bench.eval.bootstrap.bootstrap``) of its models' per-image records."""
    return {role: bootstrap({m: load_per_image(p) for m, p in paths.items()}, resamples, seed)
            for role, paths in records.items() if paths}


def interval_columns(result: Mapping[str, object], role: str) -> pd.DataFrame:
    """Per model (the index), Table 1's columns from one role's bootstrap, in points: the mIoU interval and the mean
    per-image portrait IoU."""
    rows = {str(m["model"]): {f"miou_{role}_lo_ours": 100 * float(m["miou_lo"]),
                              f"miou_{role}_hi_ours": 100 * float(m["miou_hi"]),
                              f"portrait_iou_{role}_ours": 100 * float(m["portrait_iou_mean"])}
            for m in result["models"]}
    return pd.DataFrame.from_dict(rows, orient="index")


def significance_markdown(results: Mapping[str, Mapping[str, object]], labels: Mapping[str, str],
                          missing: Mapping[str, list[str]]) -> str:
    """``significance.md``: per role, each model's intervals and every pair's paired mIoU difference."""
    out = ["# Which differences are outside the noise", "",
           "A paired bootstrap over the test images (bench/eval/bootstrap.py) of each run's per-image record "
           "(runs/<role>/<run>/metrics_per_image.csv, scored at the training size), the same draws for every model. "
           "A pair is significant when the 95 % interval of its mIoU difference excludes 0.", ""]
    for role, result in results.items():
        out += [f"## {labels.get(role, role)}", "", markdown(result).rstrip(), ""]
        if missing.get(role):
            out += [f"Not included (no per-image record kept): {', '.join(missing[role])}.", ""]
    return "\n".join(out).rstrip() + "\n"
