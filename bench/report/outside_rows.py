"""Table 1's rows of models not trained here, and the footer line that says what each kind is: off-the-shelf peers
(``peers.csv``, ``bench record-peer``) and other projects' published weights (the zoo's "published" manifests).

Each joins the table by the name of the dataset it was scored on, so a row sits in the column of the role that ran
that dataset; its counts, input size and training set are read from its own record (the peer's row, the manifest).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from bench.defaults import INPUT_SIZE
from bench.report.folder import NOT_RUN, REAL_ROLES
from bench.report.render import FPS_SPREAD, Table
from bench.report.selection import SCORES
from bench.report.speed_csv import InterleavedSpeed


def _role(datasets: Mapping[str, str | None], dataset_name: object) -> str | None:
    """The role whose dataset is ``dataset_name``; None where this table ran no such dataset."""
    return next((r for r, name in datasets.items() if name and name == dataset_name), None)


def _append_rows(table: Table, rows: list[dict[str, object]], datasets: Mapping[str, str | None]) -> None:
    """Add rows measured elsewhere to ``table``, "not run" in the columns of the dataset roles not given."""
    for row in rows:
        for other in REAL_ROLES:
            if not datasets.get(other):
                row.update({f"{metric}_{other}_ours": NOT_RUN for metric in SCORES})
    if rows:
        table.frame = pd.concat([table.frame, pd.DataFrame(rows).reindex(columns=table.frame.columns)],
                                ignore_index=True).astype(object)


def add_peers(table: Table, peers_csv: str | os.PathLike | None, datasets: Mapping[str, str | None],
              own_size_column: bool = False) -> list[str]:
    """Append ``peers.csv``'s models (measured, not trained here) to Table 1 as "off-the-shelf" rows.

    A peer's scores go in the column of the dataset role whose dataset it was measured on (by name); a peer measured
    on a dataset of none of this table's roles is left out. Its FPS, timed at its own input size, go in the
    training-size column where the table has one (``own_size_column``), not under 512. Returns the devices the added
    rows were timed on.
    """
    if peers_csv is None or not Path(peers_csv).is_file():
        return []
    peers = pd.read_csv(peers_csv, dtype=str, keep_default_na=False)
    fps = "fps_train_size_ours" if own_size_column else "fps_ours"
    rows = []
    for p in peers.to_dict("records"):
        role = _role(datasets, p.get("dataset_name"))
        if role is None:
            continue
        rows.append({"method": p["paper_name"], "model": p["model"], "row": "off-the-shelf",
                     fps: float(p["fps"]), FPS_SPREAD[fps]: float(p["fps_spread"]), "device": p["device"],
                     f"miou_{role}_ours": float(p["miou"]), f"boundary_f_{role}_ours": float(p["boundary_f"]),
                     f"miou_native_{role}_ours": float(p["miou"]),
                     "note": f"off-the-shelf ({p['runtime']}), input {p['input_hw']}, not trained here"})
    _append_rows(table, rows, datasets)
    return list(dict.fromkeys(str(r["device"]) for r in rows))


def peers_note(devices: list[str], own_size_column: bool) -> str:
    return ("off-the-shelf rows: models a user would pick instead of training one, scored here on the same test split "
            "(masks at the images' own size) and timed at their own input size "
            + ("(in the training-size column) " if own_size_column else "")
            + f"with their own runtime on {' and '.join(devices)} (reports/peers.csv); they were not trained on "
              "PFCN's train split.")


def _input(manifest: Mapping[str, object]) -> str:
    """The input a published model takes, from its manifest's preprocess: ``224x224``."""
    return "x".join(str(v) for v in manifest["preprocess"]["size"])


def _trained_on(manifest: Mapping[str, object]) -> str:
    """The dataset its authors trained it on, as the manifest names it (``eg1800`` -> ``EG1800``)."""
    return str(manifest["dataset"]["name"]).upper()


def add_published(table: Table, published: Iterable[Mapping[str, object]], datasets: Mapping[str, str | None],
                  speed: InterleavedSpeed | None = None) -> list[Mapping[str, object]]:
    """Append zoo manifests of other projects' published weights, scored here, to Table 1 (by their test dataset's
    name, as ``add_peers``), timed like the trained rows (at 512 and at their own input size) where the speed table
    has them. Returns the manifests added."""
    rows, added = [], []
    for m in published:
        scores = m["metrics"]
        role = _role(datasets, scores.get("dataset"))
        if role is None:
            continue
        added.append(m)
        rows.append({"method": f"{m['paper_name']} (published weights)", "model": m["model"],
                     "row": "published weights, re-scored here",
                     "params_m_ours": m["params"] / 1e6 if m.get("params") else None,
                     f"miou_{role}_ours": scores["miou"], f"boundary_f_{role}_ours": scores["boundary_f"],
                     f"miou_native_{role}_ours": scores["miou_native"],
                     "note": f"zoo entry {m['name']}: the authors' weights ({m['source']['repository']}), trained by "
                             f"them on {_trained_on(m)}, input {_input(m)} as their code feeds it; not trained here"})
        if speed is not None:
            side = m["preprocess"]["size"][0]
            rows[-1].update({"fps_ours": speed.at(m["model"], INPUT_SIZE),
                             "fps_spread_ours": speed.at(m["model"], INPUT_SIZE, "fps_iqr"),
                             "fps_train_size_ours": speed.at(m["model"], side),
                             "fps_train_spread_ours": speed.at(m["model"], side, "fps_iqr")})
    _append_rows(table, rows, datasets)
    return added


def published_note(added: list[Mapping[str, object]], timed: bool) -> str:
    """What the published-weights rows are: the photos they were scored on and the input they take, from their
    manifests."""
    def each(values: Iterable[object]) -> str:
        return " and ".join(dict.fromkeys(str(v) for v in values))

    images, trained_on, size = (each(m["metrics"]["images"] for m in added), each(_trained_on(m) for m in added),
                                each(_input(m) for m in added))
    return ("published-weights rows: other projects' trained weights (the model zoo's \"published\" entries, "
            f"bench/weights/*.json), scored here on the same {images} test photos, which are {trained_on}'s test set "
            f"too; mIoU at their {size} input and native; not trained here"
            + (f"; timed like every row, their training-size FPS at {size}." if timed else ", nor timed."))
