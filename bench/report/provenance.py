"""Which code trained the runs behind a table: each run's commit from its record's ``config.json``, set against the
commit the report folder was stamped with, as footer lines."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from bench.report.folder import ReportFolder
from bench.report.selection import latest
from bench.runs.folder import CONFIG, read_json


def run_label(row: Mapping[str, object]) -> str:
    """A run as the footers name it: its paper name, and its loss where that is not the model's default."""
    name = str(row.get("paper_name") or row.get("model"))
    return name if row.get("loss_default") else f"{name} ({row.get('loss')})"


def run_commits(results: pd.DataFrame, folder: ReportFolder) -> dict[str, str | None]:
    """Each result's training commit as its ``config.json`` records it (None: the record has no ``commit``), for the
    results whose record is found (``ReportFolder.record_file``) and reads."""
    commits: dict[str, str | None] = {}
    for row in latest(results).to_dict("records"):
        path = folder.record_file(row["dataset"], row["run_dir"], CONFIG)
        try:
            config = read_json(path) if path is not None else None
        except (OSError, ValueError):
            continue
        if config is not None:
            commits[run_label(row)] = str(config["commit"]) if config.get("commit") else None
    return commits


def provenance_lines(commits: Mapping[str, str | None], stamped: str) -> list[str]:
    """Footer lines: which runs were trained by code other than (or not known to be) the stamped commit."""
    lines = []
    unknown = [name for name, c in commits.items() if c is None]
    other = {name: c for name, c in commits.items() if c is not None and c != stamped}
    if unknown:
        lines.append(f"Runs that predate commit stamping: {', '.join(unknown)} record no commit in their config.json "
                     f"(trained before the training loop recorded one), so the code that trained them is not known to "
                     f"be the commit above ({stamped}); the report folder's README says what is known of it.")
    if other:
        lines.append(f"Runs trained at another commit than {stamped}: "
                     + ", ".join(f"{name} ({c})" for name, c in other.items()) + ".")
    if commits and not unknown and not other:
        lines.append(f"Every run's config.json records commit {stamped}.")
    # not the commit that rewrites the tables: `bench tables` must rebuild a report folder byte-identical from its
    # records, whatever commit it runs at
    return lines
