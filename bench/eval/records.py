"""An evaluation's record: the metrics JSON and, beside it, the per-image CSV a reviewer can resample or re-sum.

No torch: ``bench eval --predictions`` writes through here too.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.data.io import atomic_write_json, atomic_write_text
from bench.eval.metrics import MetricAccumulator, per_image_csv
from bench.runs.folder import per_image_name

AT_INPUT, NATIVE = "model", "native"  # the resolutions an evaluation scores at, as its file's "resolution"
PER_IMAGE = "per_image"  # the key under which an evaluation's result carries its rows until they are written


def scored(acc: MetricAccumulator) -> dict[str, object]:
    """``acc.result()`` plus its per-image rows under ``PER_IMAGE``, which ``write_metrics`` moves to the CSV."""
    return {**acc.result(), PER_IMAGE: acc.rows}


def write_metrics(path: str | os.PathLike, metrics: dict[str, object]) -> dict[str, object]:
    """Write ``metrics`` to ``path`` (JSON) and its per-image rows to ``per_image_name(path)`` beside it, both
    atomically, the CSV first; ``metrics`` loses the rows and gains ``path`` and ``per_image_path``."""
    path = Path(path)
    rows = metrics.pop(PER_IMAGE, None)
    if rows is not None:
        csv_path = path.with_name(per_image_name(path.name))
        atomic_write_text(csv_path, per_image_csv(rows))
    atomic_write_json(path, metrics)
    metrics["path"] = str(path)
    if rows is not None:
        metrics["per_image_path"] = str(csv_path)
    return metrics
