"""A gallery for the report: real test photos with the ground truth, our model and off-the-shelf peers side by side.

Our model's masks are what `bench segment` gives a user (each photo seen through the model's own preprocessing, the
one it was scored with, and mapped back to the photo); the peers' are the ``<id>.png`` files their scripts wrote
(``peers/``). The grid is ``bench.report.figures.prediction_grid``'s, each cell captioned with that photo's mIoU."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from bench.data.format import read_dataset
from bench.eval.predictions import PredictionError, read_prediction
from bench.report.figures import prediction_grid
from bench.segment.photos import input_hw, load_segment_predictor, predict_probabilities


def pick_ids(ids: list[str], count: int) -> list[str]:
    """``count`` ids spread evenly over the split (deterministic, not the first few of one photographer)."""
    if count >= len(ids):
        return list(ids)
    return [ids[i] for i in np.linspace(0, len(ids) - 1, count).round().astype(int)]


def write_gallery(
    source: str | os.PathLike,
    data: str | os.PathLike,
    out_png: str | os.PathLike,
    peers: Mapping[str, str | os.PathLike] | None = None,
    split: str = "test",
    count: int = 6,
    name: str = "ELB",
    device: str = "cpu",
) -> Path:
    """Draw ``count`` photos of ``split``: photo, ground truth, ``source``'s prediction and each peer's masks."""
    ds = read_dataset(Path(data))
    ids = pick_ids(ds.ids(split), count)
    peers = dict(peers or {})
    for peer, folder in peers.items():
        missing = [i for i in ids if not (Path(folder) / f"{i}.png").is_file()]
        if missing:
            raise PredictionError(f"{Path(folder) / (missing[0] + '.png')}: missing (peer {peer!r})")
    predictor = load_segment_predictor(source, device=device)
    hw = input_hw(predictor)
    images = [ds.load_image(i) for i in ids]
    masks = [ds.load_mask(i) for i in ids]
    preds = {name: [(predict_probabilities(predictor, [im], hw)[0] > 0.5).astype(np.uint8) for im in images]}
    for peer, folder in peers.items():
        preds[peer] = [read_prediction(Path(folder) / f"{i}.png") for i in ids]
    return prediction_grid(images, masks, preds, out_png)
