"""Reading ``bench speed-report``'s speed.csv back: the one reader behind Table 1's FPS and the zoo table's, and the
back end Table 1 and the FPS figure take from it."""

from __future__ import annotations

import os
from dataclasses import dataclass
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


# The back end Table 1 takes from the interleaved speed table: PyTorch eager fp32, as the paper timed its models.
SPEED_BACKEND = ("eager", "fp32")


@dataclass(frozen=True)
class InterleavedSpeed:
    """One back end's rows of ``bench speed-report``'s speed.csv at its largest thread count: (model, size) -> FPS."""

    frame: pd.DataFrame  # index (model, size); columns fps, fps_iqr
    threads: int
    runs: int
    device_name: str = ""
    elsewhere: str = ""  # the runs' device, where speed.csv was measured on another machine

    def at(self, model: str, size: object, column: str = "fps") -> float:
        """``column`` (fps or fps_iqr) of ``model`` at ``size``; NaN where the table has no such row."""
        key = (model, int(size)) if str(size).isdigit() else None
        return float(self.frame.at[key, column]) if key in self.frame.index else float("nan")


def interleaved_speed(speed_csv: str | os.PathLike | None, device: str = "",
                      any_device: bool = False) -> InterleavedSpeed | None:
    """Table 1's timings from ``speed_csv``, or None where there is no such file, no ``SPEED_BACKEND`` row, or its
    device is not the run's (``device``, run_info's ``cpu (<name>)``; FPS are only comparable on one machine) and
    ``any_device`` is not set. With it, a table from another machine is taken and says so (``elsewhere``): speed
    depends on a model's shapes, not on its trained weights, so the runs' own machine is not needed to time them."""
    df = measured_rows(speed_csv)
    df = df[(df["backend"] == SPEED_BACKEND[0]) & (df["precision"] == SPEED_BACKEND[1])]
    if df.empty:
        return None
    name = str(df["device_name"].iloc[0])
    other = bool(device) and name not in device
    if other and not any_device:
        return None
    frame = df.set_index(["model", "size"])[["fps", "fps_iqr"]]
    return InterleavedSpeed(frame, int(df["threads"].iloc[0]), int(df["runs"].iloc[0]), name,
                            device if other else "")
