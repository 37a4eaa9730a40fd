"""The model zoo as a table (``bench zoo``, the README's zoo section) and as JSON rows, read from the manifests."""

from __future__ import annotations

import os
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pandas as pd

from bench.deploy.zoo import ZooEntry
from bench.report import folder
from bench.report.speed_csv import measured_rows

# The checkout's speed table, found from the package wherever a command runs (an installed wheel has no reports/:
# the FPS column is then "—").
SPEED_CSV = Path(__file__).resolve().parents[2] / "reports" / folder.SPEED_CSV
COLUMNS = ("name", "model", "dataset", "profile", "origin", "size", "miou", "miou_native", "boundary_f",
           "boundary_f_native", "megabytes", "sha256")


def zoo_rows(entries: Iterable[ZooEntry]) -> list[dict[str, object]]:
    """One plain row per entry: what `bench zoo --json` prints."""
    rows = []
    for e in entries:
        m, metrics = e.manifest, e.manifest.get("metrics", {})
        rows.append({"name": e.name, "model": e.model, "dataset": m["dataset"]["name"], "profile": m.get("profile"),
                     "origin": m.get("origin"), "size": e.size, "miou": metrics.get("miou"),
                     "miou_native": metrics.get("miou_native"), "boundary_f": metrics.get("boundary_f"),
                     "boundary_f_native": metrics.get("boundary_f_native"),
                     "scored_on": f"{metrics.get('dataset')} {metrics.get('split')} ({metrics.get('images')} images)",
                     "megabytes": float(_megabytes(m["bytes"])), "sha256": e.sha256, "file": str(e.path)})
    return rows


def zoo_table(entries: Iterable[ZooEntry], fps: dict[str, str] | None = None,
              fps_header: str = "best FPS at its input (reports/speed.csv)") -> str:
    """A markdown table of the entries; ``fps`` (name -> text) adds a best-back-end FPS column."""
    rows = zoo_rows(entries)
    if not rows:
        return "The zoo is empty (bench zoo add)."
    head = ["name", "model", "data", "profile", "input", "mIoU", "mIoU native", "boundary F",
            *([fps_header] if fps else []), "MB", "sha256"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["name"], r["model"], r["dataset"], r["origin"] if r["profile"] == "published" else r["profile"],
                 f"{r['size']}x{r['size']}", _f(r["miou"]), _f(r["miou_native"]), _f(r["boundary_f"]),
                 *([fps.get(str(r["name"]), "")] if fps else []), f"{r['megabytes']:.2f}", str(r["sha256"])[:12]]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def _f(v: object) -> str:
    """A manifest's figure to two decimals, rounded once, half up, from its value as written (72.635 -> 72.64 and
    92.735 -> 92.74; a float format would round the binary value, which falls either side of the tie)."""
    return "" if v is None else str(Decimal(str(v)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _megabytes(n_bytes: int) -> Decimal:
    return (Decimal(int(n_bytes)) / 10**6).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def best_fps(df: pd.DataFrame) -> dict[tuple[str, int], str]:
    """Each model's fastest measured setting at each input size in the rows of a speed table (``measured_rows`` of
    ``bench speed-report``'s speed.csv): (model, size) -> "FPS (back end, precision)"."""
    best = df.sort_values("fps").drop_duplicates(["model", "size"], keep="last")
    return {(str(r.model), int(r.size)): f"{float(r.fps):.1f} ({r.backend} {r.precision})"
            for r in best.itertuples()}


def readme_table(entries: Iterable[ZooEntry], speed_csv: str | os.PathLike = SPEED_CSV) -> str:
    """The README's zoo table: ``zoo_table`` with each entry's best FPS from the speed table, at the entry's own
    input size (— where the table has no row at that size)."""
    entries = list(entries)
    df = measured_rows(speed_csv)
    fps = best_fps(df)
    where = (f", {int(df['threads'].iloc[0])} threads, {df['device_name'].iloc[0]}, random weights"
             if not df.empty and "device_name" in df else "")
    return zoo_table(entries, {e.name: fps.get((e.model, e.size), "—") for e in entries},
                     f"best FPS at its input{where} (reports/speed.csv)")
