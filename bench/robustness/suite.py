"""``bench robustness``: models scored on a dataset's test photos under every perturbation of the suite.

Each photo is read once, perturbed into every set (``clean`` and ``<kind>-<severity>``, ``bench.robustness.perturb``)
and predicted by every model at its own resolution through the one prediction path (``bench.deploy.predict``: the
model's ``Preprocess`` in, the portrait logit mapped back onto the perturbed photo, > 0 the mask). The truth is the
perturbed mask, so the geometric sets are scored on where the subject went. Every (model, set) gets the harness's
metrics and per-image rows (``bench.eval.metrics``), written as ``<out>/<model>/<set>.json`` and
``<set>_per_image.csv`` (``bench.eval.records``); ``bench.robustness.summary`` turns them into the table and figure.

Peers that run outside this environment (MediaPipe, ``peers/``) are scored from mask folders: ``write_datasets``
writes every set as a portrait dataset (PNG photos, so the peer sees the very pixels the models saw), the peer's
script writes ``<dir>/<set>/<id>.png`` for each, and ``peers={name: dir}`` scores them here.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.data.format import DatasetWriter, PortraitDataset, read_dataset
from bench.data.io import make_dir, utc_now
from bench.errors import UserError
from bench.eval.metrics import MetricAccumulator
from bench.eval.records import PER_IMAGE, scored, write_metrics
from bench.machine import git_commit
from bench.robustness.perturb import KINDS, LEVELS, SEVERITIES, perturb, set_name
from bench.robustness.progress import Journal

CLEAN = "clean"
Predict = Callable[[list[str], str, list[np.ndarray]], list[np.ndarray]]  # (set names, id, photos) -> label maps


class RobustnessError(UserError):
    """A dataset, model, peer folder or option the robustness suite cannot use."""


@dataclass(frozen=True)
class Entrant:
    """A model or a peer in the suite: its folder name under --out, a description, and its predictions."""

    name: str
    describe: str
    predict: Predict


def trained_card(source: str):
    """The model card of ``source``, which must name trained weights: scoring random ones would measure nothing."""
    from bench.deploy.sources import resolve

    card = resolve(source)
    if not card.trained:
        raise RobustnessError(f"{source}: a registered model has random weights; name trained ones (a zoo name, a run "
                              "folder, a checkpoint or an .onnx file)")
    return card


def lazy_predictor(card, device: str) -> Callable[[], object]:
    """``card``'s predictor, loaded on the first call: a model whose records an earlier run left complete is named
    but never predicts, and costs no loading."""
    from bench.deploy.runtime import load_predictor

    loaded: list[object] = []

    def get() -> object:
        if not loaded:
            loaded.append(load_predictor(card, device=device))
        return loaded[0]

    return get


def model_entrant(source: str, device: str = "cpu", batch_size: int = 8) -> Entrant:
    """A model by any name ``resolve`` takes, on eager PyTorch (or onnxruntime for an .onnx file); its predictor is
    loaded on the first photo (``lazy_predictor``)."""
    from bench.deploy.predict import labels

    card = trained_card(source)
    predictor = lazy_predictor(card, device)

    def predict(_sets: list[str], _sid: str, images: list[np.ndarray]) -> list[np.ndarray]:
        return labels(predictor(), images, card.preprocess, batch_size, device)

    return Entrant(folder_name(card.zoo or source), card.describe(), predict)


def peer_entrant(name: str, folder: str | os.PathLike) -> Entrant:
    """A peer's masks: ``<folder>/<set>/<id>.png`` (0/1 or 0/255) for every set and photo scored."""
    from bench.eval.predictions import read_prediction

    root = Path(folder)
    if not root.is_dir():
        raise RobustnessError(f"{root}: no such peer folder (expected {root}/<set>/<id>.png for every set)")

    def predict(sets: list[str], sid: str, _images: list[np.ndarray]) -> list[np.ndarray]:
        paths = [root / s / f"{sid}.png" for s in sets]
        if missing := [p for p in paths if not p.is_file()]:
            raise RobustnessError(f"{missing[0]}: missing; run the peer over every set written by --write-datasets")
        return [read_prediction(p) for p in paths]

    return Entrant(folder_name(name), f"{name}: masks from {root}", predict)


def folder_name(name: str) -> str:
    """A model's name as a folder name under --out: a path's last part, unsafe characters replaced."""
    stem = Path(str(name).rstrip("/")).name
    stem = stem[:-5] if stem.lower().endswith(".onnx") else stem
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem) or "model"


def set_names(kinds: Sequence[str] = KINDS) -> list[str]:
    """``clean`` and every ``<kind>-<severity>`` of ``kinds``, in the suite's order."""
    return [CLEAN, *(set_name(k, s) for k in kinds for s in LEVELS)]


def check_kinds(kinds: Sequence[str]) -> list[str]:
    unknown = [k for k in kinds if k not in SEVERITIES]
    if unknown:
        raise RobustnessError(f"unknown perturbation {unknown[0]!r}; the suite has {', '.join(KINDS)}")
    return list(dict.fromkeys(kinds))


def scored_ids(ds: PortraitDataset, split: str, limit: int | None) -> list[str]:
    """The ids scored: the split's, or its first ``limit`` (a smoke run)."""
    ds.check_split(split)
    ids = ds.ids(split)
    return ids if limit is None else ids[:limit]


def perturbed(rgb: np.ndarray, mask: np.ndarray, kinds: Sequence[str], seed: int,
              sid: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every set's version of one photo and its truth."""
    out = {CLEAN: (rgb, mask)}
    for kind in kinds:
        for level in LEVELS:
            out[set_name(kind, level)] = perturb(kind, level, rgb, mask, seed, sid)
    return out


SAME_RUN = ("data", "split", "images", "limit", "seed")  # what makes two records of a set comparable


def recorded(out: str | os.PathLike, name: str, sets: Sequence[str],
             info: Mapping[str, object]) -> dict[str, dict[str, object]] | None:
    """``name``'s records under ``out`` for every one of ``sets``, if all exist and were scored on the same photos
    with the same seed (``SAME_RUN``); else None. A rerun reuses them instead of scoring the model again."""
    found = {}
    for s in sets:
        path = Path(out) / name / f"{s}.json"
        try:
            m = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if any(m.get(k) != info[k] for k in SAME_RUN):
            return None
        found[s] = {**m, "path": str(path)}
    return found


def recorded_models(out: str | os.PathLike, sets: Sequence[str],
                    info: Mapping[str, object]) -> dict[str, dict[str, dict[str, object]]]:
    """Every model folder under ``out`` with complete, comparable records (``recorded``), by folder name: the
    report's table covers the models scored by earlier runs as well as this one's."""
    root = Path(out)
    folders = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    return {n: r for n in folders if (r := recorded(root, n, sets, info)) is not None}


def _writers(root: Path, ds: PortraitDataset, sets: list[str], seed: int) -> dict[str, DatasetWriter]:
    """One portrait dataset per set, PNG photos (no second lossy encoding), the photos in its test split."""
    return {s: DatasetWriter(root / s, f"{ds.name}-{s}", "bench robustness",
                             params={"source": ds.name, "set": s, "seed": seed}, image_format="png") for s in sets}


def run_suite(models: Sequence[str | Entrant], data: str | os.PathLike, out: str | os.PathLike | None, *,
              peers: Mapping[str, str | os.PathLike] | None = None, split: str = "test", limit: int | None = None,
              seed: int = 0, kinds: Sequence[str] = KINDS, write_datasets: str | os.PathLike | None = None,
              device: str = "cpu", batch_size: int = 8, rescore: bool = False,
              progress: Callable[[int], None] | None = None) -> dict[str, dict[str, dict[str, object]]]:
    """Score ``models`` (anything ``resolve`` takes, or a ready ``Entrant``) and ``peers`` on every set; write the
    records under ``out`` (None: score only) and, with ``write_datasets``, every set as a portrait dataset. A model
    whose records under ``out`` are complete for these photos and seed is not scored again (``recorded``) unless
    ``rescore``, so a long suite can run a few models at a time and a rerun picks up the ones not done. Returns
    ``{entrant: {set: metrics}}``; ``progress(1)`` after each photo."""
    kinds = check_kinds(kinds)
    try:
        ds = read_dataset(data)
    except UserError as e:
        raise RobustnessError(str(e)) from None
    ids = scored_ids(ds, split, limit)
    entrants = [m if isinstance(m, Entrant) else model_entrant(m, device, batch_size) for m in models]
    peer_entrants = [peer_entrant(n, d) for n, d in (peers or {}).items()]
    names = [e.name for e in entrants + peer_entrants]
    if len(set(names)) != len(names):
        raise RobustnessError(f"two entrants would share a folder under --out ({', '.join(names)}); name each once")
    sets = set_names(kinds)
    info = {"data": str(Path(data).resolve()), "dataset": ds.name, "split": split, "images": len(ids),
            "limit": limit, "seed": seed, "commit": git_commit(), "date": utc_now()}
    results: dict[str, dict[str, dict[str, object]]] = {}
    if out is not None and not rescore:  # a peer's masks are read, not predicted: always scored again
        results = {e.name: r for e in entrants if (r := recorded(out, e.name, sets, info)) is not None}
        entrants = [e for e in entrants if e.name not in results]
    accs = {(e.name, s): MetricAccumulator() for e in entrants + peer_entrants for s in sets}
    journals = {}  # a model's photos scored by a killed run are read back, not scored again (a peer's are cheap)
    if out is not None:
        for e in entrants:
            header = {"model": e.describe, "sets": sets, **{k: info[k] for k in SAME_RUN}}
            journals[e.name] = journal = Journal(Path(out) / e.name, header, fresh=rescore)
            for sid in (i for i in ids if i in journal.done):
                for s in sets:
                    accs[e.name, s].add_row(journal.done[sid][s])
    entrants += peer_entrants
    writers = _writers(Path(write_datasets), ds, sets, seed) if write_datasets is not None else {}
    for sid in ids:  # each photo perturbed once, for every entrant still to score it
        todo = [e for e in entrants if e.name not in journals or sid not in journals[e.name].done]
        unwritten = {s: w for s, w in writers.items() if not w.done(sid)}
        if todo or unwritten:
            versions = perturbed(ds.load_image(sid), ds.load_mask(sid), kinds, seed, sid)
            for s, w in unwritten.items():
                w.add(sid, *versions[s], "test")
            photos = [v[0] for v in versions.values()]
            for e in todo:
                for s, pred in zip(sets, e.predict(sets, sid, photos), strict=True):
                    accs[e.name, s].update(pred, versions[s][1], [sid])
                if e.name in journals:
                    journals[e.name].add(sid, {s: accs[e.name, s].rows[-1] for s in sets})
        if progress:
            progress(1)
    for w in writers.values():
        w.finalize({"robustness": {"source": str(Path(data).resolve()), "split": split}})
    for e in entrants:
        results[e.name] = {}
        for s in sets:
            kind, _, level = s.rpartition("-")
            m = {**scored(accs[e.name, s]), **info, "model": e.describe, "set": s,
                 "perturbation": kind or CLEAN, "severity": int(level) if kind else 0,
                 "params": SEVERITIES[kind][int(level) - 1] if kind else {}}
            if out is not None:
                m = write_metrics(make_dir(Path(out) / e.name) / f"{s}.json", m)
            else:
                m.pop(PER_IMAGE, None)
            results[e.name][s] = m
        if e.name in journals:
            journals[e.name].finish()
    return results
