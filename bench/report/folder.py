"""The report folder: the one module that names its files and reads and writes its results.

A report folder (``bench run-all --out``, e.g. ``reports/cpu``) holds::

    results.csv          one row per job (``ResultRow``): what run-all measured, or how far an unfinished job got
    run_info.json        the facts every footer states: profile, device, torch, and each dataset's name and counts
    table1.csv/.md, table2.csv/.md, ablation.csv/.md   the tables (``bench.report.tables``)
    significance.md      the paired bootstrap of Table 1's runs (``bench.report.uncertainty``)
    figures/             the PNG figures
    runs/<role>/<run>/   each finished job's record: its run folder's small files (``bench.runs.folder``)

and, beside it and shared by every profile's folder, ``speed.csv`` (``bench speed-report``) and ``peers.csv``
(``bench record-peer``).

``ResultRow`` is the typed row of ``results.csv``: ``bench run-all`` writes it here and every reader reads it here, so
a column is added, defaulted or parsed once, and results written by older versions (without ``size``, ``seed`` or
``status``) read the same way. ``record_file`` is the one way from a row to the files of its run.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import astuple, dataclass, fields
from pathlib import Path

from bench.data.io import atomic_write_json, atomic_write_text
from bench.errors import UserError
from bench.runs.folder import read_json

RESULTS = "results.csv"
RUN_INFO = "run_info.json"
TABLES = ("table1", "table2", "ablation")  # each written as <name>.csv and <name>.md
SIGNIFICANCE = "significance.md"
FIGURES = "figures"
RECORDS = "runs"
SPEED_CSV = "speed.csv"  # beside the folder
PEERS_CSV = "peers.csv"  # beside the folder

# The dataset roles a row can have, and how the reports name them.
ROLES = ("pfcn", "pseg", "synthetic")
REAL_ROLES = ("pfcn", "pseg")
ROLE_LABELS = {"pfcn": "PFCN", "pseg": "PSEG", "synthetic": "synthetic"}
NOT_RUN = "not run"
# ``status`` of a row: FINISHED (scored; rows written before the column existed read as ""), or how far an unfinished
# job's record got (``bench.runall.run.run_status``: "training: epoch 12 of 100, ...", or NOT_RUN).
FINISHED = "finished"
# The columns without which a file is not a results file.
REQUIRED_COLUMNS = ("model", "loss", "loss_default", "dataset", "miou")

Number = int | float | None


class ResultsError(UserError):
    """A results file that cannot be read as ``bench run-all`` writes it."""


@dataclass(frozen=True)
class ResultRow:
    """One row of ``results.csv``: a job's model, dataset role and loss, and what was measured (None: not measured).

    Percentages are rounded as the run's metrics files quote them (``bench.runs.folder.percent``); ``fps_spread`` is
    the interquartile range of the timed runs; ``run_dir`` is the run folder the row was measured from (its record
    is ``record_file``'s business).
    """

    model: str
    paper_name: str = ""
    loss: str = ""
    loss_default: bool = False
    dataset: str = ""  # the role: one of ROLES
    dataset_name: str = ""  # the dataset's own name (dataset.json)
    n_train: int | None = None
    n_test: int | None = None
    params: Number = None
    gmacs: Number = None
    fps: Number = None
    fps_spread: Number = None
    device: str = ""
    miou: Number = None
    iou_bg: Number = None
    iou_fg: Number = None
    boundary_f: Number = None
    miou_native: Number = None
    boundary_f_native: Number = None
    size: int | None = None  # the training size
    train_minutes: Number = None
    epochs: int | None = None
    schedule: str = ""
    profile: str = ""
    run_dir: str = ""
    seed: int | None = None
    status: str = ""

    @classmethod
    def from_csv(cls, cells: dict[str, str]) -> ResultRow:
        """A row from its CSV cells (stripped; a missing column is empty); numbers stay as written (int or float)."""
        values = {}
        for f in fields(cls):
            text = (cells.get(f.name) or "").strip()
            if f.name == "loss_default":
                values[f.name] = text.lower() == "true"
            elif f.type == "str":
                values[f.name] = text
            else:
                values[f.name] = _number(text)
        return cls(**values)

    def csv_cells(self) -> tuple[object, ...]:
        """The row's cells in RESULT_COLUMNS order ("" where nothing was measured)."""
        return tuple("" if v is None else v for v in astuple(self))


RESULT_COLUMNS = tuple(f.name for f in fields(ResultRow))


def _number(text: str) -> Number:
    """A cell as the number it was written as ("656322" an int, "91.23" a float); None when empty or not a number."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return None


def read_results(path: str | os.PathLike) -> list[ResultRow]:
    """The rows of a results file; a clear error naming the file (and line) where it is not one."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ResultsError(f"{path}: cannot read the results ({e.strerror or e})") from e
    reader = csv.DictReader(io.StringIO(text))
    columns = list(reader.fieldnames or [])
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise ResultsError(f"{path}: not a results file, columns {missing} are missing (has {columns})")
    rows = []
    for line, cells in enumerate(reader, start=2):
        row = ResultRow.from_csv(cells)
        if row.dataset not in ROLES:
            raise ResultsError(f"{path}:{line}: dataset role {row.dataset!r} is not one of {ROLES}")
        rows.append(row)
    return rows


def write_results(path: str | os.PathLike, rows: list[ResultRow]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(RESULT_COLUMNS)
    w.writerows(row.csv_cells() for row in rows)
    atomic_write_text(path, buf.getvalue())


class ReportFolder:
    """A report folder at ``root``: where each of its files is, and the record of each of its rows."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"ReportFolder({str(self.root)!r})"

    @property
    def results(self) -> Path:
        return self.root / RESULTS

    @property
    def run_info(self) -> Path:
        return self.root / RUN_INFO

    @property
    def figures(self) -> Path:
        return self.root / FIGURES

    @property
    def speed_csv(self) -> Path:
        return self.root.parent / SPEED_CSV

    @property
    def peers_csv(self) -> Path:
        return self.root.parent / PEERS_CSV

    def read_results(self) -> list[ResultRow]:
        return read_results(self.results)

    def write_results(self, rows: list[ResultRow]) -> None:
        write_results(self.results, rows)

    def read_run_info(self) -> dict:
        info = read_json(self.run_info)
        if info is None:
            raise ResultsError(f"{self.run_info}: missing")
        return info

    def write_run_info(self, info: dict[str, object]) -> None:
        atomic_write_json(self.run_info, info)

    def missing(self) -> list[Path]:
        """The files a rebuild of the tables needs that are not there."""
        return [p for p in (self.results, self.run_info) if not p.is_file()]

    def record(self, role: str, run: str) -> Path:
        """Where run-all keeps the record of run ``run`` on dataset ``role``: ``runs/<role>/<run>/``."""
        return self.root / RECORDS / role / run

    def record_file(self, role: str, run_dir: str | os.PathLike, name: str) -> Path | None:
        """The file ``name`` of a row's run (its ``dataset`` role and ``run_dir``): from its record here, else from
        the run folder itself; None where neither has it or the row names no run folder."""
        if not str(run_dir or ""):
            return None
        for folder in (self.record(role, Path(run_dir).name), Path(run_dir)):
            if (folder / name).is_file():
                return folder / name
        return None
