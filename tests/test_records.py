"""Every committed table figure is its record: results.csv rows equal the run records under reports/<profile>/runs/,
Table 1's measured cells equal results.csv, and the Markdown shows each CSV value rounded once (half up)."""

from __future__ import annotations

import csv
import json
import statistics
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from bench.report.tables import TRAINED_ROWS

REPORTS = Path(__file__).resolve().parent.parent / "reports"
PROFILES = sorted(p.parent for p in REPORTS.glob("*/table1.csv") if (p.parent / "results.csv").is_file())


def _csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open(encoding="utf-8")))


def _md(path: Path) -> list[dict[str, str]]:
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.startswith("|")]
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(head, (c.strip() for c in ln.strip("|").split("|")), strict=True)) for ln in lines[2:]]


def _once(value: str, digits: int) -> str:
    return str(Decimal(value).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def test_there_are_recorded_tables():
    assert any((p / "runs").is_dir() for p in PROFILES), "no profile keeps its run records"


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_results_rows_are_their_run_records(profile):
    checked = 0
    for row in _csv(profile / "results.csv"):
        record = profile / "runs" / Path(*Path(row["run_dir"]).parts[-2:])  # <runs>/<profile>/<role>/<run>
        if not (record / "metrics.json").is_file():
            continue
        m = json.loads((record / "metrics.json").read_text(encoding="utf-8"))
        assert float(row["miou"]) == round(100 * m["miou"], 3), record
        assert float(row["boundary_f"]) == round(100 * m["boundary_f"], 3), record
        native = record / "metrics_native.json"
        if row.get("miou_native") and native.is_file():
            assert float(row["miou_native"]) == round(100 * json.loads(native.read_text())["miou"], 3), record
        checked += 1
    assert checked or not (profile / "runs").is_dir()


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_table1_cells_are_results_rounded_once(profile):
    # a model's row is its run at the profile's own seed (run_info's); its extra seeds feed only the seeds column
    own = str(json.loads((profile / "run_info.json").read_text(encoding="utf-8"))["train"]["seed"])
    results = {(r["model"], r["dataset"]): r for r in _csv(profile / "results.csv")
               if r["loss_default"] == "True" and r.get("seed", "") in ("", own)}
    md = {r["Method"]: r for r in _md(profile / "table1.md")}
    for row in _csv(profile / "table1.csv"):
        if row["row"] not in TRAINED_ROWS:
            continue
        for role in ("pfcn", "pseg", "synthetic"):
            key = f"miou_{role}_ours"
            if (row["model"], role) not in results or key not in row:
                continue
            assert float(row[key]) == float(results[(row["model"], role)]["miou"]), (row["method"], key)
            label = f"mIoU {'PFCN' if role == 'pfcn' else role.upper() if role == 'pseg' else 'synthetic'} (ours)"
            if label in md[row["method"]]:
                assert md[row["method"]][label] == _once(row[key], 1), (row["method"], label)


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_seed_spread_is_its_results_rows(profile):
    """Table 1's "over seeds" cells are the mean and sample sd of the results rows of every seed of that model."""
    by_model: dict[str, list[float]] = {}
    for r in _csv(profile / "results.csv"):
        if r["loss_default"] == "True" and r["dataset"] == "pfcn":
            by_model.setdefault(r["model"], []).append(float(r["miou"]))
    for row in _csv(profile / "table1.csv"):
        if not row.get("miou_pfcn_seeds_count_ours"):
            continue
        scores = by_model[row["model"]]
        assert int(float(row["miou_pfcn_seeds_count_ours"])) == len(scores) > 1, row["method"]
        assert float(row["miou_pfcn_seeds_mean_ours"]) == pytest.approx(statistics.mean(scores)), row["method"]
        assert float(row["miou_pfcn_seeds_std_ours"]) == pytest.approx(statistics.stdev(scores)), row["method"]
