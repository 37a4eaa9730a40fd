"""Which results each table takes: the rows of ``results.csv`` as a DataFrame, and the picks made from it (the
profile's own seed, each model's default loss, one row of facts per model, the spread over seeds, unfinished jobs).

Picking is kept apart from layout and prose so that Table 1, Table 2, the ablation, the figures and the uncertainty
all take the same rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from bench.report.folder import FINISHED, RESULT_COLUMNS, ROLE_LABELS, ROLES, ResultRow

# The columns compared and pivoted as numbers (NaN where a row has none).
NUMERIC_COLUMNS = ("params", "gmacs", "fps", "fps_spread", "miou", "iou_bg", "iou_fg", "boundary_f", "miou_native",
                   "boundary_f_native", "train_minutes", "seed")
# Our per-dataset scores in Tables 1 and 2: mIoU and boundary F at the model's input size, mIoU at the images' own
# resolution, and the training wall time.
SCORES = ("miou", "boundary_f", "miou_native", "train_minutes")


def results_frame(rows: Sequence[ResultRow]) -> pd.DataFrame:
    """``rows`` as a DataFrame: NUMERIC_COLUMNS as numbers (NaN where none), ``loss_default`` as bool, every other
    cell as the row holds it."""
    df = pd.DataFrame({c: pd.Series([getattr(r, c) for r in rows], dtype=object) for c in RESULT_COLUMNS})
    for column in NUMERIC_COLUMNS:
        df[column] = pd.to_numeric(df[column], errors="coerce")
    df["loss_default"] = df["loss_default"].astype(bool)
    return df


def latest(results: pd.DataFrame) -> pd.DataFrame:
    """The last row recorded for each (model, role, loss) at the profile's own seed: the smallest of the group, as a
    profile's extra seeds follow its own (rows without a seed, older results, count as the profile's)."""
    first = results.groupby(["model", "dataset", "loss"])["seed"].transform("min")
    own = results["seed"].isna() | (results["seed"] == first)
    return results[own].drop_duplicates(["model", "dataset", "loss"], keep="last")


def default_rows(results: pd.DataFrame) -> pd.DataFrame:
    """The last result of each model and role with its own default loss: the runs Table 1 shows."""
    return latest(results)[lambda d: d["loss_default"]].drop_duplicates(["model", "dataset"], keep="last")


def seed_spread(results: pd.DataFrame) -> pd.DataFrame:
    """Per (model, role) trained with more than one seed at its default loss: the number of seeds and the mean and
    sample standard deviation of their mIoU (one row per seed, the last recorded)."""
    rows = results[results["loss_default"] & results["seed"].notna()].drop_duplicates(
        ["model", "dataset", "seed"], keep="last")
    spread = rows.groupby(["model", "dataset"])["miou"].agg(["count", "mean", "std"])
    return spread[spread["count"] > 1]


def model_facts(results: pd.DataFrame) -> pd.DataFrame:
    """One row per model, preferring its default loss and the first role: params, GMACs and FPS do not depend on the
    dataset."""
    order = results.assign(_other=~results["loss_default"], _role=results["dataset"].map(ROLES.index))
    return order.sort_values(["_other", "_role"], kind="stable").drop_duplicates("model").set_index("model")


def paper_name(results: pd.DataFrame, model: str) -> str:
    """The name the paper gives ``model`` (the registry's, as results.csv records it), else the model's own."""
    return (model_facts(results)["paper_name"].get(model) or "") or model


def measured_roles(results: pd.DataFrame, datasets: Mapping[str, str | None]) -> list[str]:
    """Dataset roles measured in this run: given on the command line, or present in the results."""
    have = set(results["dataset"])
    return [role for role in ROLES if datasets.get(role) or role in have]


def unfinished(results: pd.DataFrame) -> dict[str, str]:
    """model -> the status of its Table 1 runs that have not finished (by role where it ran on more than one)."""
    rows = default_rows(results)
    rows = rows[~rows["status"].isin(["", FINISHED])]
    several = rows["model"].duplicated(keep=False)
    out: dict[str, list[str]] = {}
    for r, many in zip(rows.to_dict("records"), several, strict=True):
        out.setdefault(r["model"], []).append(f"{ROLE_LABELS[r['dataset']]}: {r['status']}" if many else r["status"])
    return {m: "; ".join(v) for m, v in out.items()}


def profile_name(footer: Mapping[str, object], results: pd.DataFrame) -> str:
    """The profile the footer names, else those the results record."""
    if footer.get("profile"):
        return str(footer["profile"])
    profiles = sorted(set(results["profile"]) - {""})
    return ", ".join(profiles) or "unknown"
