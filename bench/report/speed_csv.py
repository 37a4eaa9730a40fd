"""Reading ``bench speed-report``'s speed.csv back: the one reader behind Table 1's FPS and the zoo table's."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd


def measured_rows(speed_csv: str | os.PathLike | None) -> pd.DataFrame:
    """The rows of ``speed_csv`` that ran (status ok) at its largest thread count (every core: what a user has);
    empty where there is no such file. A model measured twice at one setting keeps its last row."""
    if speed_csv is None or not Path(speed_csv).is_file():
        return pd.DataFrame(columns=["model", "size", "backend", "precision", "threads", "fps", "fps_iqr"])
    df = pd.read_csv(speed_csv)
    df = df[df["status"] == "ok"]
    df = df[df["threads"] == df["threads"].max()]
    return df.drop_duplicates(["model", "size", "backend", "precision"], keep="last")
