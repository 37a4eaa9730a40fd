"""The paper's Table 1 and Table 2, and our ablation, with our measurements beside the published numbers.

The reference numbers come from ``bench.report.paper``; ours from the rows of ``results.csv`` as ``bench run-all``
writes them (``bench.report.folder``: one row per model, dataset role and loss, with ``loss_default`` marking the loss
each model is compared with). Here each table's cells are laid out; which rows it takes is ``selection``'s, its
sentences ``prose``'s, its rows of models not trained here ``outside_rows``', its commits ``provenance``'s, and its
text (CSV raw, Markdown rounded once) ``render``'s.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from decimal import Decimal
from pathlib import Path

import pandas as pd

from bench.data.io import atomic_write_text, utc_now
from bench.defaults import ABLATION_LOSS, ABLATION_MODEL, INPUT_SIZE
from bench.machine import git_commit
from bench.report import prose
from bench.report.folder import NOT_RUN, REAL_ROLES, ROLE_LABELS, ROLES, SIGNIFICANCE, TABLES, ReportFolder, ResultRow
from bench.report.outside_rows import add_peers, add_published, peers_note, published_note
from bench.report.paper import TABLE1, TABLE2, PaperRow
from bench.report.provenance import provenance_lines, run_commits
from bench.report.render import Table, table_csv, table_markdown
from bench.report.selection import (
    SCORES,
    default_rows,
    latest,
    measured_roles,
    model_facts,
    paper_name,
    profile_name,
    results_frame,
    seed_spread,
    unfinished,
)
from bench.report.speed_csv import SPEED_BACKEND, InterleavedSpeed, interleaved_speed
from bench.report.uncertainty import bootstrap_records, interval_columns, per_image_records, significance_markdown

# The ablation is always listed for run-all's ablation model (ELB); DR4 too when it was also trained with both losses.
ABLATION_MODELS = (ABLATION_MODEL, "elb-dr4")
# The rows of models trained here: the paper's own, and those beyond it (SINet, ExtremeC3Net) under the same harness.
BEYOND = "beyond the paper"
TRAINED_ROWS = ("measured", BEYOND)


def _measured(results: pd.DataFrame, run_roles: Sequence[str], speed: InterleavedSpeed | None) -> pd.DataFrame:
    """Our numbers per model (the index): complexity, speed, device and loss, and the scores on each role run.
    FPS come from the interleaved speed table when there is one (at 512 and at each model's training size), else
    from run-all's own timing (results.csv, 512 only)."""
    facts = model_facts(results)
    out = pd.DataFrame({  # raw values: the Markdown rounds each once (render)
        "gmacs_ours": facts["gmacs"], "params_m_ours": facts["params"] / 1e6,
        "fps_ours": facts["fps"], "fps_spread_ours": facts["fps_spread"], "device": facts["device"],
    })
    if speed is not None:
        out["fps_ours"] = [speed.at(m, INPUT_SIZE) for m in out.index]
        out["fps_spread_ours"] = [speed.at(m, INPUT_SIZE, "fps_iqr") for m in out.index]
        out["fps_train_size_ours"] = [speed.at(m, facts["size"][m]) for m in out.index]
        out["fps_train_spread_ours"] = [speed.at(m, facts["size"][m], "fps_iqr") for m in out.index]
    default = default_rows(results)
    main_loss = default.drop_duplicates("model", keep="last").set_index("model")["loss"]
    out["loss"] = pd.Series({m: prose.loss_label(m, loss) for m, loss in main_loss.items()}, dtype=object)
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
    refs = list(reference) + [PaperRow(paper_name(results, m), m, None, None, None, None, None, False,
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
    for model, status in unfinished(results).items():  # a job still training says how far it got, never a gap
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


def _difference(a: float, c: float) -> float:
    """a - c of two raw values, exact in decimal (92.38 - 92.736 is -0.356, not -0.35600000000000165)."""
    if pd.isna(a) or pd.isna(c):
        return float("nan")
    return float(Decimal(repr(float(a))) - Decimal(repr(float(c))))


def _ablation_table(results: pd.DataFrame, run_roles: Sequence[str]) -> Table:
    columns = ["model", "method", "dataset", "dataset_name", "miou_adaptive", "miou_ce", "miou_diff",
               "boundary_f_adaptive", "boundary_f_ce", "boundary_f_diff"]
    last = latest(results)
    has_ce = set(last.loc[last["loss"] == "ce", "model"])
    models = [m for m in ABLATION_MODELS if m == ABLATION_MODEL or m in has_ce]
    roles = [role for role in ROLES if role in run_roles or role in REAL_ROLES]
    index = pd.MultiIndex.from_product([models, roles], names=["model", "dataset"])
    both = last[last["loss"].isin(["adaptive", ABLATION_LOSS])]
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
    frame["method"] = [paper_name(results, m) for m in frame["model"]]
    frame = frame.reindex(columns=columns).astype(object)
    frame.loc[~frame["dataset"].isin(run_roles), columns[3:]] = NOT_RUN
    md = [("method", "Model", "text"), ("dataset", "Dataset", "text"), ("dataset_name", "Dataset name", "text"),
          ("miou_adaptive", "mIoU (adaptive)", "miou"), ("miou_ce", "mIoU (CE)", "miou"),
          ("miou_diff", "Δ mIoU", "diff"), ("boundary_f_adaptive", "Boundary F (adaptive)", "f"),
          ("boundary_f_ce", "Boundary F (CE)", "f"), ("boundary_f_diff", "Δ Boundary F", "diff")]
    return Table(name=TABLES[2], frame=frame, md_columns=md,
                 title="Ablation (not in the paper): adaptive weight loss vs plain cross-entropy", footer=[])


def table_uncertainty(results: pd.DataFrame, folder: ReportFolder) -> dict[str, dict[str, object]]:
    """role -> the paired bootstrap of Table 1's runs that kept a per-image record (``bench.report.uncertainty``)."""
    return bootstrap_records(per_image_records(default_rows(results), folder))


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


def build_tables(rows: Sequence[ResultRow], folder: ReportFolder, footer: Mapping[str, object],
                 datasets: Mapping[str, str | None], peers_csv: str | os.PathLike | None = None,
                 published: Iterable[Mapping[str, object]] = (),
                 uncertainty: Mapping[str, Mapping[str, object]] | None = None,
                 speed_csv: str | os.PathLike | None = None, speed_any_device: bool = False) -> list[Table]:
    """Table 1, Table 2 and the ablation, built from the rows of ``folder``'s results (nothing written); Table 1 also
    carries the off-the-shelf models of ``peers_csv`` and the published weights (zoo manifests, ``published``)
    measured on one of the datasets, and the intervals of ``uncertainty`` (``table_uncertainty``, computed when not
    given). FPS come from the interleaved speed table ``speed_csv`` when it was measured on the run's device
    (``interleaved_speed``), else from run-all's own timing."""
    results = results_frame(rows)
    footer = dict(footer)
    if "commit" in footer:  # accepted as an alias
        footer.setdefault("git_commit", footer.pop("commit"))
    footer.setdefault("date", utc_now())
    footer.setdefault("git_commit", git_commit())
    roles = measured_roles(results, datasets)
    profile = profile_name(footer, results)
    suffix = prose.title_suffix(roles, profile)
    in_paper = {r.model for r in TABLE1 + TABLE2 if r.model}
    extra = [m for m in dict.fromkeys(results["model"]) if m not in in_paper]
    speed = interleaved_speed(speed_csv, str(footer.get("device", "")), speed_any_device)
    if speed is not None:
        footer.pop("FPS back end", None)  # run-all's own timing, which the speed table's columns replace
    paper_note = prose.paper_note(speed)
    provenance = provenance_lines(run_commits(results, folder), str(footer["git_commit"]))
    t1 = _comparison_table(TABLES[0], "Table 1: comparison with existing methods (paper vs ours)" + suffix,
                           TABLE1, results, roles, extra, speed)
    uncertainty = table_uncertainty(results, folder) if uncertainty is None else uncertainty
    _add_uncertainty(t1, uncertainty)
    spread = seed_spread(results)
    _add_seed_spread(t1, spread)
    trained = t1.frame[t1.frame["row"].isin(TRAINED_ROWS)]
    t1.footer = prose.footer_lines(footer, results, datasets, roles, profile, [
        paper_note,
        prose.CITED_NOTE,
        prose.portraitnet_note(results, profile),
        prose.loss_note(list(trained["method"]), list(trained["loss"])),
        *([prose.uncertainty_note(uncertainty)] if uncertainty else []),
        *([prose.seed_note(results, spread)] if not spread.empty else []),
    ], provenance)
    if peer_devices := add_peers(t1, peers_csv, datasets, own_size_column=speed is not None):
        t1.footer.insert(1, peers_note(peer_devices, own_size_column=speed is not None))
    if added := add_published(t1, published, datasets, speed):
        t1.footer.insert(1, published_note(added, timed=speed is not None))
    t2 = _comparison_table(TABLES[1], "Table 2: BFB channel reduction rate, DR4 vs DR2 (paper vs ours)" + suffix,
                           TABLE2, results, roles, [], speed)
    t2.footer = prose.footer_lines(footer, results, datasets, roles, profile, [paper_note, prose.TABLE2_NOTE],
                                   provenance)
    ab = _ablation_table(results, roles)
    ab.title += suffix
    ab.footer = prose.footer_lines(footer, results, datasets, roles, profile, [prose.ABLATION_NOTE], provenance)
    return [t1, t2, ab]


def write_tables(rows: Sequence[ResultRow], folder: ReportFolder, out_dir: str | os.PathLike,
                 footer: Mapping[str, object], datasets: Mapping[str, str | None],
                 peers_csv: str | os.PathLike | None = None, published: Iterable[Mapping[str, object]] = (),
                 speed_csv: str | os.PathLike | None = None, speed_any_device: bool = False) -> list[Path]:
    """Write ``table1``, ``table2`` and ``ablation`` as ``.csv`` and ``.md`` into ``out_dir`` (and ``significance.md``
    when a run kept its per-image record in ``folder``); return the paths.

    ``rows``: ``folder``'s results, read once by the caller. ``footer``: device, torch, profile, schedule, date,
    git_commit (or commit), and optionally datasets (a line describing them; by default it is made from the rows'
    dataset names and counts); date and commit are filled in when missing; any other key is printed as
    ``key: value``. ``datasets``: role (pfcn, pseg, synthetic) -> dataset folder or name, or None when that role was
    not given.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = results_frame(rows)
    uncertainty = table_uncertainty(results, folder)
    paths = []
    for table in build_tables(rows, folder, footer, datasets, peers_csv, published, uncertainty, speed_csv,
                              speed_any_device):
        for suffix, text in ((".csv", table_csv(table)), (".md", table_markdown(table))):
            path = out / f"{table.name}{suffix}"
            atomic_write_text(path, text)
            paths.append(path)
    if uncertainty:
        paths.append(out / SIGNIFICANCE)
        atomic_write_text(paths[-1], significance_markdown(uncertainty, ROLE_LABELS,
                                                           _without_records(results, uncertainty)))
    return paths


def _without_records(results: pd.DataFrame, uncertainty: Mapping[str, Mapping[str, object]]
                     ) -> dict[str, list[str]]:
    """role -> the models of Table 1 that kept no per-image record there, by paper name."""
    rows = default_rows(results)
    return {role: [str(r["paper_name"]) for r in rows[rows["dataset"] == role].to_dict("records")
                   if r["model"] not in {m["model"] for m in uncertainty[role]["models"]}]
            for role in uncertainty}
