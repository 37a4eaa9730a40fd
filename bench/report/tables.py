"""The paper's Table 1 and Table 2, and our ablation, with our measurements beside the published numbers.

The reference numbers come from ``bench.report.paper``; ours from ``results.csv`` as ``bench run-all`` writes it (one
row per model, dataset role and loss, with ``loss_default`` marking the loss each model is compared with). The
results are loaded into a pandas DataFrame, selected and pivoted there, and each table is written twice: a CSV for
machines (one header row, raw numbers, ``not run`` for a dataset that was not given) and Markdown for people
(formatted numbers, a title and a footer saying where, how and on what the numbers were measured).

Every Markdown number is rounded once, half away from zero, from the raw value as ``results.csv`` writes it
(``_fixed``): nothing is rounded on the way, so ICNet's 93.05 is 93.1 and ELB's 10.9514 FPS is 11.0, never 93.0 or
10.9 (a value rounded first to 10.95, or the binary float 93.05 = 93.04999..., rounded again).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path

import pandas as pd

from bench.data.io import atomic_write_text, utc_now
from bench.defaults import ABLATION_LOSS, ABLATION_MODEL, INPUT_SIZE
from bench.errors import UnknownModelError, UserError
from bench.machine import git_commit
from bench.report.paper import TABLE1, TABLE2, PaperRow
from bench.report.speed_csv import measured_rows
from bench.report.uncertainty import (
    bootstrap_records,
    interval_columns,
    per_image_records,
    record_folders,
    significance_markdown,
)
from bench.runs.folder import CONFIG, read_json, run_file

NOT_RUN = "not run"
ROLES = ("pfcn", "pseg", "synthetic")
REAL_ROLES = ("pfcn", "pseg")
ROLE_LABELS = {"pfcn": "PFCN", "pseg": "PSEG", "synthetic": "synthetic"}
# How to produce a dataset role that was not given, for the footers.
NOT_RUN_COMMANDS = {
    "pfcn": "`pfcn fetch --release EG_code_data_release.zip --out data/pfcn`, then `bench run-all --pfcn data/pfcn`",
    "pseg": "`pseg build --mhp-root LV-MHP-v2 --out data/pseg`, then `bench run-all --pseg data/pseg`",
}
REQUIRED_COLUMNS = ("model", "loss", "loss_default", "dataset", "miou")
RESULT_COLUMNS = (
    "model", "paper_name", "loss", "loss_default", "dataset", "dataset_name", "n_train", "n_test", "params", "gmacs",
    "fps", "fps_spread", "device", "miou", "iou_bg", "iou_fg", "boundary_f", "miou_native", "boundary_f_native",
    "size", "train_minutes", "epochs", "schedule", "profile", "run_dir", "seed", "status",
)
# ``status`` of a row: FINISHED (scored; rows written before the column existed read as ""), or how far an unfinished
# job's record got (``bench.runall.run.run_status``: "training: epoch 12 of 100, ...", or NOT_RUN).
FINISHED = "finished"
NUMERIC_COLUMNS = ("params", "gmacs", "fps", "fps_spread", "miou", "iou_bg", "iou_fg", "boundary_f", "miou_native",
                   "boundary_f_native", "train_minutes", "seed")
# The ablation is always listed for run-all's ablation model (ELB); DR4 too when it was also trained with both losses.
ABLATION_MODELS = (ABLATION_MODEL, "elb-dr4")
# Our per-dataset scores in Tables 1 and 2: mIoU and boundary F at the model's input size, mIoU at the images' own
# resolution, and the training wall time.
SCORES = ("miou", "boundary_f", "miou_native", "train_minutes")
# The rows of models trained here: the paper's own, and those beyond it (SINet, ExtremeC3Net) under the same harness.
BEYOND = "beyond the paper"
TRAINED_ROWS = ("measured", BEYOND)
# How the Markdown names an auxiliary loss kind of the model contract (bench/registry.py).
AUX_KIND_WORDS = {"mask": "ce", "boundary": "boundary focal loss"}


class ResultsError(UserError):
    """A results file that cannot be read as ``bench run-all`` writes it."""


# -- reading results.csv ----------------------------------------------------------------------------------------
def load_results(results_csv: str | os.PathLike) -> pd.DataFrame:
    """``results.csv`` as a DataFrame: every result column present, numbers as floats (NaN when empty or not a
    number), ``loss_default`` as bool, other cells as stripped strings; a clear error naming the file otherwise."""
    path = Path(results_csv)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except OSError as e:
        raise ResultsError(f"{path}: cannot read the results ({e.strerror or e})") from e
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as e:
        raise ResultsError(f"{path}: not a results file ({e})") from e
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ResultsError(f"{path}: not a results file, columns {missing} are missing (has {list(df.columns)})")
    df = df.reindex(columns=list(dict.fromkeys([*df.columns, *RESULT_COLUMNS])), fill_value="")
    df = df.apply(lambda column: column.str.strip())
    bad = ~df["dataset"].isin(ROLES)
    if bad.any():
        n = int(bad.to_numpy().argmax())
        raise ResultsError(f"{path}:{n + 2}: dataset role {df['dataset'].iloc[n]!r} is not one of {ROLES}")
    for column in NUMERIC_COLUMNS:
        df[column] = pd.to_numeric(df[column], errors="coerce")
    df["loss_default"] = df["loss_default"].str.lower() == "true"
    return df


def _latest(results: pd.DataFrame) -> pd.DataFrame:
    """The last row recorded for each (model, role, loss) at the profile's own seed: the smallest of the group, as a
    profile's extra seeds follow its own (rows without a seed, older results, count as the profile's)."""
    first = results.groupby(["model", "dataset", "loss"])["seed"].transform("min")
    own = results["seed"].isna() | (results["seed"] == first)
    return results[own].drop_duplicates(["model", "dataset", "loss"], keep="last")


def seed_spread(results: pd.DataFrame) -> pd.DataFrame:
    """Per (model, role) trained with more than one seed at its default loss: the number of seeds and the mean and
    sample standard deviation of their mIoU (one row per seed, the last recorded)."""
    rows = results[results["loss_default"] & results["seed"].notna()].drop_duplicates(
        ["model", "dataset", "seed"], keep="last")
    spread = rows.groupby(["model", "dataset"])["miou"].agg(["count", "mean", "std"])
    return spread[spread["count"] > 1]


def _model_facts(results: pd.DataFrame) -> pd.DataFrame:
    """One row per model, preferring its default loss and the first role: params, GMACs and FPS do not depend on the
    dataset."""
    order = results.assign(_other=~results["loss_default"], _role=results["dataset"].map(ROLES.index))
    return order.sort_values(["_other", "_role"], kind="stable").drop_duplicates("model").set_index("model")


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


# -- building the tables ----------------------------------------------------------------------------------------
@dataclass
class Table:
    """One table: its cells (raw values, the CSV columns in order) and the Markdown layout (labels and formats)."""

    name: str
    frame: pd.DataFrame
    md_columns: list[tuple[str, str, str]]  # (column key, header label, format kind)
    title: str
    footer: list[str]


def _run_roles(results: pd.DataFrame, datasets: Mapping[str, str | None]) -> list[str]:
    """Dataset roles measured in this run: given on the command line, or present in the results."""
    have = set(results["dataset"])
    return [role for role in ROLES if datasets.get(role) or role in have]


def _measured(results: pd.DataFrame, run_roles: Sequence[str], speed: InterleavedSpeed | None) -> pd.DataFrame:
    """Our numbers per model (the index): complexity, speed, device and loss, and the scores on each role run.
    FPS come from the interleaved speed table when there is one (at 512 and at each model's training size), else
    from run-all's own timing (results.csv, 512 only)."""
    facts = _model_facts(results)
    out = pd.DataFrame({  # raw values: the Markdown rounds each once (_fixed)
        "gmacs_ours": facts["gmacs"], "params_m_ours": facts["params"] / 1e6,
        "fps_ours": facts["fps"], "fps_spread_ours": facts["fps_spread"], "device": facts["device"],
    })
    if speed is not None:
        out["fps_ours"] = [speed.at(m, INPUT_SIZE) for m in out.index]
        out["fps_spread_ours"] = [speed.at(m, INPUT_SIZE, "fps_iqr") for m in out.index]
        out["fps_train_size_ours"] = [speed.at(m, facts["size"][m]) for m in out.index]
        out["fps_train_spread_ours"] = [speed.at(m, facts["size"][m], "fps_iqr") for m in out.index]
    default = _default_rows(results)
    main_loss = default.drop_duplicates("model", keep="last").set_index("model")["loss"]
    out["loss"] = pd.Series({m: loss_label(m, loss) for m, loss in main_loss.items()}, dtype=object)
    scores = default.pivot(index="model", columns="dataset", values=list(SCORES))
    for role in run_roles:
        for metric in SCORES:
            out[f"{metric}_{role}_ours"] = scores[(metric, role)] if (metric, role) in scores else float("nan")
    return out


def _comparison_table(name: str, title: str, reference: Sequence[PaperRow], results: pd.DataFrame,
                      run_roles: Sequence[str], extra_models: Sequence[str],
                      speed: InterleavedSpeed | None = None) -> Table:
    synthetic = "synthetic" in run_roles
    columns = ["method", "model", "row", "gmacs_paper", "gmacs_ours", "params_m_paper", "params_m_ours",
               "fps_paper", "fps_ours", "fps_spread_ours"]
    columns += ["fps_train_size_ours", "fps_train_spread_ours"] if speed is not None else []
    columns += ["device", "miou_pfcn_paper", "miou_pfcn_ours",
               "miou_pseg_paper", "miou_pseg_ours"]
    columns += ["miou_synthetic_ours"] if synthetic else []
    for metric in SCORES[1:]:
        columns += [f"{metric}_pfcn_ours", f"{metric}_pseg_ours"] + ([f"{metric}_synthetic_ours"] if synthetic else [])
    columns += ["loss", "note"]
    refs = list(reference) + [PaperRow(_paper_name(results, m), m, None, None, None, None, None, False,
                                       note="not in the paper: trained here by the same harness") for m in extra_models]
    paper = pd.DataFrame([asdict(r) for r in refs]).rename(columns=lambda c: c if c in (
        "method", "model", "cited", "note") else f"{c}_paper")
    measured = _measured(results, run_roles, speed)
    frame = paper.join(measured, on="model")
    cited = frame["model"].isna()
    frame["row"] = "not measured"
    frame.loc[frame["model"].isin(measured.index), "row"] = "measured"
    frame.loc[frame["model"].isin(measured.index) & frame["model"].isin(extra_models), "row"] = BEYOND
    frame.loc[cited, "row"] = "cited"
    for model, status in _unfinished(results).items():  # a job still training says how far it got, never a gap
        frame.loc[frame["model"] == model, "row"] = status
    frame["method"] += frame.pop("cited").map({True: "*", False: ""})
    frame = frame.reindex(columns=columns).astype(object)
    for role in REAL_ROLES:
        if role not in run_roles:
            frame[[f"{metric}_{role}_ours" for metric in SCORES]] = NOT_RUN
    frame.loc[cited, [c for c in columns if c.endswith("_ours") or c in ("device", "loss")]] = ""
    frame["model"] = frame["model"].fillna("")
    devices = sorted(set(frame["device"].dropna()) - {""})
    fps_label = f"FPS (ours, {devices[0]})" if len(devices) == 1 else "FPS (ours)"
    if speed is not None:
        fps_label = (f"FPS 512 (ours, {' '.join(SPEED_BACKEND)}, {speed.threads} threads"
                     + (f", {speed.device_name})" if speed.elsewhere else ")"))
    md: list[tuple[str, str, str]] = [
        ("method", "Method", "text"), ("row", "Row", "text"),
        ("gmacs_paper", "GMACs (paper)", "paper"), ("gmacs_ours", "GMACs (ours)", "gmacs"),
        ("params_m_paper", "Params M (paper)", "paper"), ("params_m_ours", "Params M (ours)", "params"),
        ("fps_paper", "FPS (paper, GTX 1080Ti)", "paper"), ("fps_ours", fps_label, "fps"),
        *([("fps_train_size_ours", "FPS at the training size (ours, same back end)", "fps")] if speed is not None
          else []),
        ("miou_pfcn_paper", "mIoU PFCN (paper)", "paper"), ("miou_pfcn_ours", "mIoU PFCN (ours)", "miou"),
        ("miou_pseg_paper", "mIoU PSEG (paper)", "paper"), ("miou_pseg_ours", "mIoU PSEG (ours)", "miou"),
    ]
    if synthetic:
        md.append(("miou_synthetic_ours", "mIoU synthetic (ours)", "miou"))
    shown = [role for role in ROLES if role in REAL_ROLES or synthetic]
    md += [(f"boundary_f_{role}_ours", f"Boundary F {ROLE_LABELS[role]} (ours)", "f") for role in shown]
    md += [(f"miou_native_{role}_ours", f"mIoU {ROLE_LABELS[role]} native (ours)", "miou") for role in shown
           if role in run_roles]
    md += [(f"train_minutes_{role}_ours", f"Train min {ROLE_LABELS[role]} (ours)", "minutes") for role in shown
           if role in run_roles]
    return Table(name=name, frame=frame, md_columns=md, title=title, footer=[])


@cache
def _aux_losses(model: str) -> tuple[tuple[str, str, float], ...]:
    """The model's declared auxiliary losses, (key, kind, weight) in key order: the contract's ``aux_losses``
    (bench/registry.py), read from one model built at two classes; none for a name the registry does not know."""
    from bench.registry import build_model

    try:
        declared = getattr(build_model(model), "aux_losses", None) or {}
    except UnknownModelError:
        return ()
    return tuple((key, str(kind), float(weight)) for key, (kind, weight) in sorted(declared.items()))


def loss_label(model: str, loss: str) -> str:
    """The whole training loss of ``model`` with main loss ``loss`` in words: ``loss`` alone for a model without
    auxiliary outputs, else e.g. ``ce + 0.4 x ce on each of 2 auxiliary outputs (aux_16, aux_8)``."""
    groups: dict[tuple[str, float], list[str]] = {}
    for key, kind, weight in _aux_losses(model):
        groups.setdefault((kind, weight), []).append(key)
    parts = [loss]
    for (kind, weight), keys in groups.items():
        what = f"{weight:g} x {AUX_KIND_WORDS.get(kind, kind)}"
        parts.append(f"{what} on each of {len(keys)} auxiliary outputs ({', '.join(keys)})" if len(keys) > 1
                     else f"{what} on the auxiliary output {keys[0]}")
    return " + ".join(parts)


def _difference(a: float, c: float) -> float:
    """a - c of two raw values, exact in decimal (92.38 - 92.736 is -0.356, not -0.35600000000000165)."""
    if pd.isna(a) or pd.isna(c):
        return float("nan")
    return float(Decimal(repr(float(a))) - Decimal(repr(float(c))))


def _paper_name(results: pd.DataFrame, model: str) -> str:
    facts = _model_facts(results)
    return (facts["paper_name"].get(model) or "") or model


def _ablation_table(results: pd.DataFrame, run_roles: Sequence[str]) -> Table:
    columns = ["model", "method", "dataset", "dataset_name", "miou_adaptive", "miou_ce", "miou_diff",
               "boundary_f_adaptive", "boundary_f_ce", "boundary_f_diff"]
    latest = _latest(results)
    has_ce = set(latest.loc[latest["loss"] == "ce", "model"])
    models = [m for m in ABLATION_MODELS if m == ABLATION_MODEL or m in has_ce]
    roles = [role for role in ROLES if role in run_roles or role in REAL_ROLES]
    index = pd.MultiIndex.from_product([models, roles], names=["model", "dataset"])
    both = latest[latest["loss"].isin(["adaptive", ABLATION_LOSS])]
    wide = both.pivot(index=["model", "dataset"], columns="loss", values=["miou", "boundary_f"])
    wide = wide.reindex(index=index, columns=pd.MultiIndex.from_product([["miou", "boundary_f"], ["adaptive", "ce"]]))
    frame = pd.DataFrame(index=index)
    frame["dataset_name"] = both.drop_duplicates(["model", "dataset"]).set_index(["model", "dataset"])[
        "dataset_name"].reindex(index).fillna("")
    for metric in ("miou", "boundary_f"):
        a, c = wide[(metric, "adaptive")], wide[(metric, "ce")]
        frame[f"{metric}_adaptive"], frame[f"{metric}_ce"] = a, c
        frame[f"{metric}_diff"] = [_difference(x, y) for x, y in zip(a, c, strict=True)]
    frame = frame.reset_index()
    frame["method"] = [_paper_name(results, m) for m in frame["model"]]
    frame = frame.reindex(columns=columns).astype(object)
    frame.loc[~frame["dataset"].isin(run_roles), columns[3:]] = NOT_RUN
    md = [("method", "Model", "text"), ("dataset", "Dataset", "text"), ("dataset_name", "Dataset name", "text"),
          ("miou_adaptive", "mIoU (adaptive)", "miou"), ("miou_ce", "mIoU (CE)", "miou"),
          ("miou_diff", "Δ mIoU", "diff"), ("boundary_f_adaptive", "Boundary F (adaptive)", "f"),
          ("boundary_f_ce", "Boundary F (CE)", "f"), ("boundary_f_diff", "Δ Boundary F", "diff")]
    return Table(name="ablation", frame=frame, md_columns=md,
                 title="Ablation (not in the paper): adaptive weight loss vs plain cross-entropy", footer=[])


# -- footers ----------------------------------------------------------------------------------------------------
def _dataset_lines(results: pd.DataFrame, datasets: Mapping[str, str | None], run_roles: Sequence[str]) -> list[str]:
    lines = []
    for role in run_roles:
        rows = results[results["dataset"] == role]
        row = rows.iloc[0] if len(rows) else pd.Series(dtype=object)
        name = row.get("dataset_name") or ""
        n_train, n_test = row.get("n_train") or "?", row.get("n_test") or "?"
        given = str(datasets.get(role) or "")
        where = f", {given}" if given and given != name else ""
        lines.append(f"{ROLE_LABELS[role]}: {name or given or role} ({n_train} train / {n_test} test images{where})")
    return lines


def _scope_sentence(run_roles: Sequence[str], profile: str) -> str:
    real = [ROLE_LABELS[r] for r in run_roles if r in REAL_ROLES]
    if "synthetic" in run_roles and not real:
        return (f"Our numbers were measured on synthetic data with the {profile} profile, not on PFCN/PSEG: they "
                "check the pipeline end to end and are not comparable with the paper's.")
    if "synthetic" in run_roles:
        return (f"Our numbers were measured on {' and '.join(real)} and on synthetic data, with the {profile} "
                "profile.")
    if real:
        return f"Our numbers were measured on {' and '.join(real)} with the {profile} profile."
    return "No dataset was measured."


def _title_suffix(run_roles: Sequence[str], profile: str) -> str:
    real = [ROLE_LABELS[r] for r in run_roles if r in REAL_ROLES]
    if "synthetic" in run_roles and not real:
        return f" — measured on synthetic data with the {profile} profile, not on PFCN/PSEG"
    if "synthetic" in run_roles:
        return f" — measured on {' and '.join(real)} and on synthetic data with the {profile} profile"
    return f" — measured with the {profile} profile" if real else ""


_FOOTER_LABELS = (("device", "Device"), ("torch", "Torch"), ("profile", "Profile"), ("schedule", "Schedule"),
                  ("date", "Date"), ("git_commit", "Git commit"))


def _footer(footer: Mapping[str, object], results: pd.DataFrame, datasets: Mapping[str, str | None],
            run_roles: Sequence[str], profile: str, notes: Sequence[str],
            provenance: Sequence[str] = ()) -> list[str]:
    lines = [_scope_sentence(run_roles, profile), *notes]
    for key, label in _FOOTER_LABELS:
        lines.append(f"{label}: {footer.get(key, '') or 'unknown'}")
    lines += provenance
    for key, value in footer.items():
        if key not in dict(_FOOTER_LABELS) and key != "datasets":
            lines.append(f"{key}: {value}")
    if footer.get("datasets"):  # the caller's own description of the datasets
        lines.append(f"Datasets: {footer['datasets']}")
    else:
        lines += [f"Dataset {d}" for d in _dataset_lines(results, datasets, run_roles)]
    for role in REAL_ROLES:
        if role not in run_roles:
            lines.append(f"{ROLE_LABELS[role]}: {NOT_RUN}; to produce it: {NOT_RUN_COMMANDS[role]}.")
    return lines


def _run_label(row: Mapping[str, object]) -> str:
    name = str(row.get("paper_name") or row.get("model"))
    return name if row.get("loss_default") else f"{name} ({row.get('loss')})"


def _run_commits(results: pd.DataFrame, results_csv: str | os.PathLike) -> dict[str, str | None]:
    """Each result's training commit as its ``config.json`` records it (None: the record has no ``commit``), for the
    results whose record is found: in the report folder (``<folder>/runs/<role>/<run>/``, where run-all copies it)
    or in the run folder ``run_dir`` itself."""
    commits: dict[str, str | None] = {}
    for row in _latest(results).to_dict("records"):
        for folder in record_folders(row, results_csv):
            try:
                config = read_json(run_file(folder, CONFIG))
            except (OSError, ValueError):
                continue
            if config is None:
                continue
            commits[_run_label(row)] = str(config["commit"]) if config.get("commit") else None
            break
    return commits


def _provenance(commits: Mapping[str, str | None], stamped: str) -> list[str]:
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


def _portraitnet_note(results: pd.DataFrame, profile: str) -> str:
    """PortraitNet's footnote: the paper's cited row at 224x224; ours at the training size the results record."""
    cited = next(r for r in TABLE1 if r.model == "portraitnet")
    text = (f"PortraitNet: the paper's row is cited ({cited.gmacs} GFLOPs and {cited.fps} FPS at "
            f"{cited.input_size}x{cited.input_size}, on the original PFCN)")
    rows = results[results["model"] == "portraitnet"]
    sizes = sorted({str(v) for v in rows["size"] if str(v)})
    if not len(rows):
        return text + "; ours was not trained."
    trained = (f"at {' and '.join(f'{v}x{v}' for v in sizes)} ({profile} profile)" if sizes
               else f"with the {profile} profile (results.csv records no training size)")
    return (text + f"; ours is re-trained here {trained} and, like every model, counted and timed at the size of "
            "our FPS column.")


def _uncertainty_note(uncertainty: Mapping[str, Mapping[str, object]]) -> str:
    result = next(iter(uncertainty.values()))
    return (f"95 % CI: percentile interval of the mIoU over {result['resamples']} paired bootstrap resamples of the "
            f"{result['images']} test images (seed {result['seed']}), from each run's per-image record "
            "(runs/<role>/<run>/metrics_per_image.csv); which pairs differ beyond the noise is in significance.md. "
            "Portrait IoU, mean per image: PortraitNet's metric, the portrait IoU of each test image averaged; "
            "mIoU is the paper's (and SINet's), the two-class IoU of the summed confusion matrix. A trained row "
            "without a per-image record shows neither.")


def _seed_note(results: pd.DataFrame, spread: pd.DataFrame) -> str:
    seeds = ", ".join(f"{_paper_name(results, m)} {int(n)}" for (m, _), n in spread["count"].items())
    return ("mIoU over seeds: the same recipe trained again with other seeds (bench run-all's [models] seeded), "
            f"mean ± sample standard deviation of their test mIoU ({seeds} seeds; the profile's own seed is the row's "
            "other columns). The seed changes initialisation and batch order; the test images are the same, so this "
            "spread and the bootstrap interval measure different noise.")


def _loss_note(table: Table) -> str:
    measured = table.frame[table.frame["row"].isin(TRAINED_ROWS)]
    losses = "; ".join(f"{m.rstrip('*')}: {loss}" for m, loss in zip(measured["method"], measured["loss"],
                                                                       strict=True))
    edge = any(str(loss).split(" ")[0].endswith("-edge") for loss in measured["loss"])
    kinds = ("adaptive (ELB's adaptive weight loss), ce (cross-entropy), or ce-edge / lovasz-edge (SINet's and "
             "ExtremeC3Net's released losses: cross-entropy or the Lovász hinge, plus 0.5 x the same loss on the "
             "mask's edge band, the labelled pixels within 7 px of both classes; trained here in one stage, "
             "without the released encoder-first stage)" if edge else
             "adaptive (ELB's adaptive weight loss) or ce (cross-entropy)")
    return (f"Loss: each model trains with its own default, {kinds}, plus the auxiliary terms it declares (the "
            f"model contract's aux_losses, bench/registry.py): {losses or 'none measured'}.")


def _profile(footer: Mapping[str, object], results: pd.DataFrame) -> str:
    if footer.get("profile"):
        return str(footer["profile"])
    profiles = sorted(set(results["profile"]) - {""})
    return ", ".join(profiles) or "unknown"


# -- writing ----------------------------------------------------------------------------------------------------
def table_csv(table: Table) -> str:
    """The CSV text: one header row, then one row per line, raw values (empty where there is none)."""
    return table.frame.to_csv(index=False, lineterminator="\n")


def _missing(value: object) -> bool:
    return value is None or value == "" or (isinstance(value, float) and pd.isna(value))


def _cell(value: object, kind: str) -> str:
    """Markdown cell: our numbers at the table's precision, paper numbers as published, text as is."""
    if _missing(value):
        return "—"
    if isinstance(value, str):
        return value
    if kind == "paper":
        return repr(float(value))  # as printed in the paper: 80.0, 0.51, 13.4
    if kind == "diff":
        return _fixed(value, 1, sign=True)
    digits = {"gmacs": 2, "params": 2, "fps": 1, "miou": 1, "f": 1, "minutes": 0}.get(kind)
    return str(value) if digits is None else _fixed(value, digits)


def _seeds_cell(mean: object, sd: object, count: object) -> str:
    if any(_missing(v) for v in (mean, sd, count)):
        return "—"
    return f"{_fixed(mean, 2)} ± {_fixed(sd, 2)} ({int(float(count))} seeds)"


def _ci_cell(lo: object, hi: object) -> str:
    if any(_missing(v) for v in (lo, hi)):
        return "—"
    return f"[{_fixed(lo, 1)}, {_fixed(hi, 1)}]"


def _fixed(value: object, digits: int, sign: bool = False) -> str:
    """``value`` rounded once to ``digits`` decimals, half away from zero, from its shortest decimal form (the number
    as results.csv writes it): 93.05 -> 93.1, 10.9514 -> 11.0, -0.356 -> -0.4."""
    q = Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    q = abs(q) if q == 0 else q  # no "-0.0"
    return f"{q:+f}" if sign else f"{q:f}"


FPS_SPREAD = {"fps_ours": "fps_spread_ours", "fps_train_size_ours": "fps_train_spread_ours"}


def table_markdown(table: Table) -> str:
    """The Markdown text: title, table with formatted numbers (FPS with its spread), footer."""
    out = [f"# {table.title}", "", "| " + " | ".join(label for _, label, _ in table.md_columns) + " |",
           "|" + "|".join("---" if kind == "text" else "---:" for _, _, kind in table.md_columns) + "|"]
    for row in table.frame.to_dict("records"):
        cells = []
        for key, _, kind in table.md_columns:
            if kind == "ci":
                text = _ci_cell(row.get(key), row.get(key.replace("_lo_", "_hi_")))
            elif kind == "seeds":
                text = _seeds_cell(row.get(key), row.get(key.replace("_mean_", "_std_")),
                                   row.get(key.replace("_mean_", "_count_")))
            else:
                text = _cell(row.get(key), kind)
            spread = row.get(FPS_SPREAD.get(key, ""))
            if key in FPS_SPREAD and text != "—" and isinstance(spread, float) and not pd.isna(spread):
                text += f" ± {_fixed(spread, 1)}"
            cells.append(text)
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    out += [f"- {line}" for line in table.footer]
    return "\n".join(out) + "\n"


def _append_rows(table: Table, rows: list[dict[str, object]], datasets: Mapping[str, str | None]) -> int:
    """Add rows measured elsewhere to ``table``, "not run" in the columns of the dataset roles not given."""
    for row in rows:
        for other in REAL_ROLES:
            if not datasets.get(other):
                row.update({f"{metric}_{other}_ours": NOT_RUN for metric in SCORES})
    if rows:
        table.frame = pd.concat([table.frame, pd.DataFrame(rows).reindex(columns=table.frame.columns)],
                                ignore_index=True).astype(object)
    return len(rows)


def _off_the_shelf(table: Table, peers_csv: str | os.PathLike | None, datasets: Mapping[str, str | None],
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
        role = next((r for r, name in datasets.items() if name and name == p.get("dataset_name")), None)
        if role is None:
            continue
        rows.append({"method": p["paper_name"], "model": p["model"], "row": "off-the-shelf",
                     fps: float(p["fps"]), FPS_SPREAD[fps]: float(p["fps_spread"]), "device": p["device"],
                     f"miou_{role}_ours": float(p["miou"]), f"boundary_f_{role}_ours": float(p["boundary_f"]),
                     f"miou_native_{role}_ours": float(p["miou"]),
                     "note": f"off-the-shelf ({p['runtime']}), input {p['input_hw']}, not trained here"})
    _append_rows(table, rows, datasets)
    return list(dict.fromkeys(str(r["device"]) for r in rows))


def _published(table: Table, published: Iterable[Mapping[str, object]], datasets: Mapping[str, str | None],
               speed: InterleavedSpeed | None = None) -> int:
    """Append zoo manifests of other projects' published weights, scored here, to Table 1 (by their test dataset's
    name, as ``_off_the_shelf``), timed like the trained rows (at 512 and at their own input size) where the speed
    table has them. Returns the number of rows added."""
    rows = []
    for m in published:
        scores = m["metrics"]
        role = next((r for r, name in datasets.items() if name and name == scores.get("dataset")), None)
        if role is None:
            continue
        size = "x".join(str(v) for v in m["preprocess"]["size"])
        rows.append({"method": f"{m['paper_name']} (published weights)", "model": m["model"],
                     "row": "published weights, re-scored here",
                     "params_m_ours": m["params"] / 1e6 if m.get("params") else None,
                     f"miou_{role}_ours": scores["miou"], f"boundary_f_{role}_ours": scores["boundary_f"],
                     f"miou_native_{role}_ours": scores["miou_native"],
                     "note": f"zoo entry {m['name']}: the authors' weights ({m['source']['repository']}), trained by "
                             f"them on EG1800, input {size} as their code feeds it; not trained here"})
        if speed is not None:
            side = m["preprocess"]["size"][0]
            rows[-1].update({"fps_ours": speed.at(m["model"], INPUT_SIZE),
                             "fps_spread_ours": speed.at(m["model"], INPUT_SIZE, "fps_iqr"),
                             "fps_train_size_ours": speed.at(m["model"], side),
                             "fps_train_spread_ours": speed.at(m["model"], side, "fps_iqr")})
    return _append_rows(table, rows, datasets)


def _unfinished(results: pd.DataFrame) -> dict[str, str]:
    """model -> the status of its Table 1 runs that have not finished (by role where it ran on more than one)."""
    rows = _default_rows(results)
    rows = rows[~rows["status"].isin(["", FINISHED])]
    several = rows["model"].duplicated(keep=False)
    out: dict[str, list[str]] = {}
    for r, many in zip(rows.to_dict("records"), several, strict=True):
        out.setdefault(r["model"], []).append(f"{ROLE_LABELS[r['dataset']]}: {r['status']}" if many else r["status"])
    return {m: "; ".join(v) for m, v in out.items()}


def _default_rows(results: pd.DataFrame) -> pd.DataFrame:
    """The last result of each model and role with its own default loss: the runs Table 1 shows."""
    return _latest(results)[lambda d: d["loss_default"]].drop_duplicates(["model", "dataset"], keep="last")


def table_uncertainty(results: pd.DataFrame, results_csv: str | os.PathLike) -> dict[str, dict[str, object]]:
    """role -> the paired bootstrap of Table 1's runs that kept a per-image record (``bench.report.uncertainty``)."""
    return bootstrap_records(per_image_records(_default_rows(results), results_csv))


def _on_trained_rows(table: Table, values: Mapping[str, object]) -> pd.Series:
    """A column of ``table``: each trained row's value by model (None where it has none; other rows None)."""
    trained = table.frame["row"].isin(TRAINED_ROWS)
    return pd.Series([values.get(m) if t else None for m, t in zip(table.frame["model"], trained, strict=True)],
                     index=table.frame.index, dtype=object)


def _add_uncertainty(table: Table, uncertainty: Mapping[str, Mapping[str, object]]) -> None:
    """Table 1's interval and per-image portrait IoU columns, after each role's mIoU, for the roles bootstrapped."""
    for role, result in uncertainty.items():
        cols = interval_columns(result, role)
        for col in cols.columns:
            table.frame[col] = _on_trained_rows(table, cols[col].to_dict())
        at = next(i for i, (key, _, _) in enumerate(table.md_columns) if key == f"miou_{role}_ours") + 1
        label = ROLE_LABELS[role]
        table.md_columns[at:at] = [(f"miou_{role}_lo_ours", f"mIoU {label} 95 % CI (ours)", "ci"),
                                   (f"portrait_iou_{role}_ours", f"Portrait IoU {label}, mean per image (ours)",
                                    "miou")]


def _add_seed_spread(table: Table, spread: pd.DataFrame) -> None:
    """Table 1's seed columns (``seed_spread``), after each role's mIoU interval, for the roles where a model
    trained several seeds."""
    for role in dict.fromkeys(spread.index.get_level_values("dataset")):
        part = spread.xs(role, level="dataset")
        for stat, kind in (("count", int), ("mean", float), ("std", float)):
            table.frame[f"miou_{role}_seeds_{stat}_ours"] = _on_trained_rows(
                table, {m: kind(v) for m, v in part[stat].items()})
        keys = [key for key, _, _ in table.md_columns]
        at = keys.index(f"miou_{role}_lo_ours" if f"miou_{role}_lo_ours" in keys else f"miou_{role}_ours") + 1
        table.md_columns.insert(at, (f"miou_{role}_seeds_mean_ours",
                                     f"mIoU {ROLE_LABELS[role]} over seeds, mean ± sd (ours)", "seeds"))


def build_tables(results_csv: str | os.PathLike, footer: Mapping[str, object],
                 datasets: Mapping[str, str | None], peers_csv: str | os.PathLike | None = None,
                 published: Iterable[Mapping[str, object]] = (),
                 uncertainty: Mapping[str, Mapping[str, object]] | None = None,
                 speed_csv: str | os.PathLike | None = None, speed_any_device: bool = False) -> list[Table]:
    """Table 1, Table 2 and the ablation, built from ``results.csv`` (nothing written); Table 1 also carries the
    off-the-shelf models of ``peers_csv`` and the published weights (zoo manifests, ``published``) measured on one of
    the datasets, and the intervals of ``uncertainty`` (``table_uncertainty``, computed when not given). FPS come
    from the interleaved speed table ``speed_csv`` when it was measured on the run's device (``interleaved_speed``),
    else from run-all's own timing."""
    results = load_results(results_csv)
    footer = dict(footer)
    if "commit" in footer:  # accepted as an alias
        footer.setdefault("git_commit", footer.pop("commit"))
    footer.setdefault("date", utc_now())
    footer.setdefault("git_commit", git_commit())
    run_roles = _run_roles(results, datasets)
    profile = _profile(footer, results)
    suffix = _title_suffix(run_roles, profile)
    in_paper = {r.model for r in TABLE1 + TABLE2 if r.model}
    extra = [m for m in dict.fromkeys(results["model"]) if m not in in_paper]
    speed = interleaved_speed(speed_csv, str(footer.get("device", "")), speed_any_device)
    if speed is not None:
        footer.pop("FPS back end", None)  # run-all's own timing, which the speed table's columns replace
    ours = ("Our FPS: 512x512, batch 1, median over timed runs on our device, ± the interquartile range of those "
            "runs (results.csv fps_spread: the width of the middle half, not a half-width)" if speed is None else
            f"Our FPS: the interleaved protocol of speed.md (bench speed-report, speed.csv): {' '.join(SPEED_BACKEND)}"
            f" (PyTorch eager, as the paper timed), {speed.threads} threads, batch 1, median of {speed.runs} passes "
            "timed round-robin across all models, ± the interquartile range of those passes (speed.csv fps_iqr), "
            "at 512x512 (the paper's size) and at the size each model was trained and scored at; other back ends "
            "are in speed.md; — where speed.csv has no such row"
            + (f"; measured on {speed.device_name}, not on the machine that trained the models ({speed.elsewhere}): "
               "speed depends on a model's layers and input size, not on its trained weights"
               if speed is not None and speed.elsewhere else ""))
    paper_note = ("Paper values: the paper's tables as published (its \"FLOPS (G)\" are multiply-accumulates, "
                  "i.e. GMACs); its FPS were measured on a GTX 1080Ti at 512x512 (the cited PortraitNet row at "
                  f"224x224). {ours}; FPS are only comparable on the same device. Our numbers are rounded once, "
                  "half up, from results.csv" + (" and speed.csv." if speed is not None else "."))
    provenance = _provenance(_run_commits(results, results_csv), str(footer["git_commit"]))
    t1 = _comparison_table("table1", "Table 1: comparison with existing methods (paper vs ours)" + suffix,
                           TABLE1, results, run_roles, extra, speed)
    uncertainty = table_uncertainty(results, results_csv) if uncertainty is None else uncertainty
    _add_uncertainty(t1, uncertainty)
    spread = seed_spread(results)
    _add_seed_spread(t1, spread)
    t1.footer = _footer(footer, results, datasets, run_roles, profile, [
        paper_note,
        "* cited: trained and tested on the original PFCN, which is no longer available; the paper took these "
        "numbers from the literature and did not re-train them, so they have no measured value here.",
        _portraitnet_note(results, profile),
        _loss_note(t1),
        *([_uncertainty_note(uncertainty)] if uncertainty else []),
        *([_seed_note(results, spread)] if not spread.empty else []),
    ], provenance)
    if peer_devices := _off_the_shelf(t1, peers_csv, datasets, own_size_column=speed is not None):
        t1.footer.insert(1, "off-the-shelf rows: models a user would pick instead of training one, scored here on "
                            "the same test split (masks at the images' own size) and timed at their own input size "
                            + ("(in the training-size column) " if speed is not None else "")
                            + f"with their own runtime on {' and '.join(peer_devices)} (reports/peers.csv); they "
                              "were not trained on PFCN's train split.")
    if _published(t1, published, datasets, speed):
        t1.footer.insert(1, "published-weights rows: other projects' trained weights (the model zoo's \"published\" "
                            "entries, zoo/*.json), scored here on the same 264 test photos, which are EG1800's test "
                            "set too; mIoU at their 224x224 input and native; not trained here"
                            + ("; timed like every row, their training-size FPS at 224x224." if speed is not None
                               else ", nor timed."))
    t2 = _comparison_table("table2", "Table 2: BFB channel reduction rate, DR4 vs DR2 (paper vs ours)" + suffix,
                           TABLE2, results, run_roles, [], speed)
    t2.footer = _footer(footer, results, datasets, run_roles, profile, [
        paper_note, "The paper's Table 2 reports PFCN only; both models use the adaptive weight loss.",
    ], provenance)
    ab = _ablation_table(results, run_roles)
    ab.title += suffix
    ab.footer = _footer(footer, results, datasets, run_roles, profile, [
        "Δ = adaptive minus cross-entropy, in percentage points, from the raw scores and rounded once; same model, "
        "data, schedule and seed otherwise.",
    ], provenance)
    return [t1, t2, ab]


def write_tables(results_csv: str | os.PathLike, out_dir: str | os.PathLike, footer: Mapping[str, object],
                 datasets: Mapping[str, str | None], peers_csv: str | os.PathLike | None = None,
                 published: Iterable[Mapping[str, object]] = (),
                 speed_csv: str | os.PathLike | None = None, speed_any_device: bool = False) -> list[Path]:
    """Write ``table1``, ``table2`` and ``ablation`` as ``.csv`` and ``.md`` into ``out_dir`` (and ``significance.md``
    when a run kept its per-image record); return the paths.

    ``footer``: device, torch, profile, schedule, date, git_commit (or commit), and optionally datasets (a line
    describing them; by default it is made from results.csv); date and commit are filled in when missing; any other
    key is printed as ``key: value``. ``datasets``: role (pfcn, pseg, synthetic) -> dataset folder or name, or None
    when that role was not given.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = load_results(results_csv)
    uncertainty = table_uncertainty(results, results_csv)
    paths = []
    for table in build_tables(results_csv, footer, datasets, peers_csv, published, uncertainty, speed_csv,
                              speed_any_device):
        for suffix, text in ((".csv", table_csv(table)), (".md", table_markdown(table))):
            path = out / f"{table.name}{suffix}"
            atomic_write_text(path, text)
            paths.append(path)
    if uncertainty:
        paths.append(out / "significance.md")
        atomic_write_text(paths[-1], significance_markdown(uncertainty, ROLE_LABELS,
                                                           _without_records(results, uncertainty)))
    return paths


def _without_records(results: pd.DataFrame, uncertainty: Mapping[str, Mapping[str, object]]
                     ) -> dict[str, list[str]]:
    """role -> the models of Table 1 that kept no per-image record there, by paper name."""
    rows = _default_rows(results)
    return {role: [str(r["paper_name"]) for r in rows[rows["dataset"] == role].to_dict("records")
                   if r["model"] not in {m["model"] for m in uncertainty[role]["models"]}]
            for role in uncertainty}
