"""The paper's Table 1 and Table 2, and our ablation, with our measurements beside the published numbers.

The reference numbers are data here (``TABLE1``, ``TABLE2``); our numbers come from ``results.csv`` as the
``bench run-all`` orchestrator writes it (one row per model, dataset role and loss). ``write_tables`` writes each table
twice: a CSV for machines (one header row, raw numbers, ``not run`` for a dataset that was not given) and Markdown for
people (formatted numbers, a title and a footer saying where, how and on what the numbers were measured).
"""

from __future__ import annotations

import csv
import io
import math
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.dataset import atomic_write_text

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
    "fps", "fps_spread", "device", "miou", "iou_bg", "iou_fg", "boundary_f", "epochs", "schedule", "profile", "run_dir",
)


@dataclass(frozen=True)
class PaperRow:
    """One method's row as the paper prints it; ``None`` where the paper gives no number."""

    method: str
    model: str | None  # the registry name when we measure this method ourselves
    gmacs: float | None  # the paper's "FLOPS (G)", which are multiply-accumulates
    params_m: float | None
    fps: float | None  # on a GTX 1080Ti, 512x512
    miou_pfcn: float | None
    miou_pseg: float | None
    cited: bool  # "*" in the paper: trained and tested on the original PFCN, numbers taken from the literature
    note: str = ""


TABLE1: tuple[PaperRow, ...] = (
    PaperRow("Graph-cut", None, None, None, None, 80.0, None, True),
    PaperRow("PFCN+", None, None, None, None, 95.9, None, True),
    PaperRow("PDeepLabv2", None, None, None, None, 96.1, None, True),
    PaperRow("BSN", None, None, None, None, 96.7, None, True),
    PaperRow("FCN", None, None, None, None, 73.1, None, True),
    PaperRow("PIS", None, None, None, 23.8, 95.4, None, True),
    PaperRow("ERFNet", "erfnet", 13.4, 2.1, 128.2, 94.6, 93.9, False),
    PaperRow("ENet", "enet", 2.1, 0.4, 188.7, 94.2, 93.9, False),
    PaperRow("ICNet", "icnet", 3.5, 7.7, 83.3, 87.8, 90.0, False),
    PaperRow("BiSeNet", "bisenet", 14.5, 12.8, 164.0, 94.5, 94.4, False),
    PaperRow("PortraitNet", "portraitnet", 0.51, 2.1, 203.2, 96.6, None, True,
             note="paper row cited (original PFCN, GFLOPs at 224x224); ours re-trained at 512x512"),
    PaperRow("ELB (ours)", "elb", 3.8, 0.6, 263.2, 94.9, 94.0, False),
)
TABLE2: tuple[PaperRow, ...] = (
    PaperRow("BFB-DR4", "elb-dr4", None, None, 370.4, 93.7, None, False),
    PaperRow("BFB-DR2", "elb", 3.8, 0.6, 263.2, 94.9, None, False),
)
ABLATION_MODELS = ("elb", "elb-dr4")  # ELB is always listed; DR4 when it was also trained with both losses


# -- provenance -------------------------------------------------------------------------------------------------
def git_commit(repo: str | os.PathLike | None = None) -> str:
    """The short hash of the toolkit's checkout (HEAD), or ``"unknown"`` outside git or before the first commit."""
    cwd = Path(repo) if repo is not None else Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=cwd, capture_output=True, text=True,
                             timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and commit else "unknown"


# -- reading results.csv ----------------------------------------------------------------------------------------
def load_results(results_csv: str | os.PathLike) -> list[dict[str, str]]:
    """The rows of ``results.csv`` as dicts of strings; a clear error naming the file if it cannot be used."""
    path = Path(results_csv)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ValueError(f"{path}: cannot read the results ({e.strerror or e})") from e
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"{path}: not a results file, columns {missing} are missing (has {reader.fieldnames})")
    rows = []
    for n, row in enumerate(reader, start=2):
        row = {k: (v or "").strip() for k, v in row.items() if k}
        if row["dataset"] not in ROLES:
            raise ValueError(f"{path}:{n}: dataset role {row['dataset']!r} is not one of {ROLES}")
        rows.append(row)
    return rows


def is_default_loss(row: Mapping[str, str]) -> bool:
    """Whether a results row used its model's default loss (the ``loss_default`` column run-all records)."""
    return row.get("loss_default", "").lower() == "true"


def parse_float(value: str | float | None) -> float | None:
    if value is None or value == "":
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


class _Results:
    """Lookups into the results rows: the last row recorded for a (model, role, loss) wins."""

    def __init__(self, rows: Sequence[Mapping[str, str]]) -> None:
        self.rows = list(rows)
        self._by_key = {(r["model"], r["dataset"], r["loss"]): r for r in self.rows}
        # the loss each model is compared with in Tables 1 and 2: the one results.csv marks as its default
        self._losses = {r["model"]: r["loss"] for r in self.rows if is_default_loss(r)}

    def loss_for(self, model: str) -> str:
        return self._losses.get(model, "")

    def get(self, model: str, role: str, loss: str | None = None) -> Mapping[str, str] | None:
        return self._by_key.get((model, role, loss or self.loss_for(model)))

    def model_row(self, model: str) -> Mapping[str, str] | None:
        """Any row of the model with its default loss (params, GMACs and FPS do not depend on the dataset)."""
        for role in ROLES:
            row = self.get(model, role)
            if row is not None:
                return row
        return next((r for r in self.rows if r["model"] == model), None)

    def roles(self) -> list[str]:
        return [role for role in ROLES if any(r["dataset"] == role for r in self.rows)]

    def models(self) -> list[str]:
        return list(dict.fromkeys(r["model"] for r in self.rows))


# -- building the tables ----------------------------------------------------------------------------------------
@dataclass
class Table:
    """One table: CSV columns and rows (raw values) and the Markdown layout (labels and formatters)."""

    name: str
    columns: list[str]
    rows: list[dict[str, object]]
    md_columns: list[tuple[str, str, str]]  # (column key, header label, format kind)
    title: str
    footer: list[str]


def _round(v: float | None, digits: int = 4) -> float | str:
    return "" if v is None else round(v, digits)


def _fmt(value: object, kind: str) -> str:
    """Markdown cell: our numbers at the table's precision, paper numbers as published, text as is."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        return value
    digits = {"gmacs": 2, "params": 2, "fps": 1, "miou": 1, "f": 1, "diff": 1}.get(kind)
    if kind == "paper":
        return repr(float(value))  # as printed in the paper: 80.0, 0.51, 13.4
    if kind == "diff":
        return f"{value:+.1f}"
    if digits is None:
        return str(value)
    return f"{value:.{digits}f}"


def _run_roles(results: _Results, datasets: Mapping[str, str | None]) -> list[str]:
    """Dataset roles measured in this run: given on the command line, or present in the results."""
    have = set(results.roles())
    return [role for role in ROLES if datasets.get(role) or role in have]


def _measured_cells(results: _Results, model: str | None, run_roles: Sequence[str]) -> dict[str, object]:
    cells: dict[str, object] = {}
    row = results.model_row(model) if model else None
    params = parse_float(row.get("params")) if row else None
    cells["gmacs_ours"] = _round(parse_float(row.get("gmacs")) if row else None)
    cells["params_m_ours"] = _round(params / 1e6 if params is not None else None)
    cells["fps_ours"] = _round(parse_float(row.get("fps")) if row else None, 2)
    cells["fps_spread_ours"] = _round(parse_float(row.get("fps_spread")) if row else None, 2)
    cells["device"] = row.get("device", "") if row else ""
    cells["loss"] = results.loss_for(model) if model else ""
    for role in ROLES:
        if role not in run_roles:
            if role in REAL_ROLES:
                cells[f"miou_{role}_ours"] = NOT_RUN
                cells[f"boundary_f_{role}_ours"] = NOT_RUN
            continue
        r = results.get(model, role) if model else None
        cells[f"miou_{role}_ours"] = _round(parse_float(r.get("miou")) if r else None)
        cells[f"boundary_f_{role}_ours"] = _round(parse_float(r.get("boundary_f")) if r else None)
    return cells


def _comparison_table(name: str, title: str, reference: Sequence[PaperRow], results: _Results,
                      run_roles: Sequence[str], extra_models: Sequence[str]) -> Table:
    synthetic = "synthetic" in run_roles
    columns = ["method", "model", "row", "gmacs_paper", "gmacs_ours", "params_m_paper", "params_m_ours",
               "fps_paper", "fps_ours", "fps_spread_ours", "device", "miou_pfcn_paper", "miou_pfcn_ours",
               "miou_pseg_paper", "miou_pseg_ours"]
    columns += ["miou_synthetic_ours"] if synthetic else []
    columns += ["boundary_f_pfcn_ours", "boundary_f_pseg_ours"]
    columns += ["boundary_f_synthetic_ours"] if synthetic else []
    columns += ["loss", "note"]
    measured_models = set(results.models())
    rows: list[dict[str, object]] = []
    refs = list(reference) + [PaperRow(_paper_name(results, m), m, None, None, None, None, None, False,
                                       note="not in the paper") for m in extra_models]
    for ref in refs:
        row: dict[str, object] = {
            "method": ref.method + ("*" if ref.cited else ""), "model": ref.model or "",
            "gmacs_paper": _opt(ref.gmacs), "params_m_paper": _opt(ref.params_m), "fps_paper": _opt(ref.fps),
            "miou_pfcn_paper": _opt(ref.miou_pfcn), "miou_pseg_paper": _opt(ref.miou_pseg), "note": ref.note,
        }
        if ref.model is None:
            row["row"] = "cited"
            row.update({c: "" for c in columns if c.endswith("_ours") or c in ("device", "loss")})
        else:
            row["row"] = "measured" if ref.model in measured_models else "not measured"
            row.update(_measured_cells(results, ref.model, run_roles))
        rows.append({c: row.get(c, "") for c in columns})
    devices = sorted({str(r["device"]) for r in rows if r.get("device")})
    fps_label = f"FPS (ours, {devices[0]})" if len(devices) == 1 else "FPS (ours)"
    md: list[tuple[str, str, str]] = [
        ("method", "Method", "text"), ("row", "Row", "text"),
        ("gmacs_paper", "GMACs (paper)", "paper"), ("gmacs_ours", "GMACs (ours)", "gmacs"),
        ("params_m_paper", "Params M (paper)", "paper"), ("params_m_ours", "Params M (ours)", "params"),
        ("fps_paper", "FPS (paper, GTX 1080Ti)", "paper"), ("fps_ours", fps_label, "fps"),
        ("miou_pfcn_paper", "mIoU PFCN (paper)", "paper"), ("miou_pfcn_ours", "mIoU PFCN (ours)", "miou"),
        ("miou_pseg_paper", "mIoU PSEG (paper)", "paper"), ("miou_pseg_ours", "mIoU PSEG (ours)", "miou"),
    ]
    if synthetic:
        md.append(("miou_synthetic_ours", "mIoU synthetic (ours)", "miou"))
    md += [(f"boundary_f_{role}_ours", f"Boundary F {ROLE_LABELS[role]} (ours)", "f")
           for role in ROLES if role in REAL_ROLES or synthetic]
    return Table(name=name, columns=columns, rows=rows, md_columns=md, title=title, footer=[])


def _opt(v: float | None) -> float | str:
    return "" if v is None else v


def _paper_name(results: _Results, model: str) -> str:
    row = results.model_row(model)
    return (row.get("paper_name") if row else "") or model


def _ablation_table(results: _Results, run_roles: Sequence[str]) -> Table:
    columns = ["model", "method", "dataset", "dataset_name", "miou_adaptive", "miou_ce", "miou_diff",
               "boundary_f_adaptive", "boundary_f_ce", "boundary_f_diff"]
    rows: list[dict[str, object]] = []
    models = [m for m in ABLATION_MODELS
              if m == "elb" or any(r["model"] == m and r["loss"] == "ce" for r in results.rows)]
    for model in models:
        for role in ROLES:
            if role not in run_roles and role not in REAL_ROLES:
                continue
            row: dict[str, object] = {"model": model, "method": _paper_name(results, model), "dataset": role}
            if role not in run_roles:
                row.update({c: NOT_RUN for c in columns[3:]})
                rows.append(row)
                continue
            a, c = results.get(model, role, "adaptive"), results.get(model, role, "ce")
            row["dataset_name"] = (a or c or {}).get("dataset_name", "")
            for metric, key in (("miou", "miou"), ("boundary_f", "boundary_f")):
                va = parse_float(a.get(key)) if a else None
                vc = parse_float(c.get(key)) if c else None
                row[f"{metric}_adaptive"], row[f"{metric}_ce"] = _round(va), _round(vc)
                row[f"{metric}_diff"] = _round(va - vc if va is not None and vc is not None else None)
            rows.append(row)
    md = [("method", "Model", "text"), ("dataset", "Dataset", "text"), ("dataset_name", "Dataset name", "text"),
          ("miou_adaptive", "mIoU (adaptive)", "miou"), ("miou_ce", "mIoU (CE)", "miou"),
          ("miou_diff", "Δ mIoU", "diff"), ("boundary_f_adaptive", "Boundary F (adaptive)", "f"),
          ("boundary_f_ce", "Boundary F (CE)", "f"), ("boundary_f_diff", "Δ Boundary F", "diff")]
    return Table(name="ablation", columns=columns, rows=[{c: r.get(c, "") for c in columns} for r in rows],
                 md_columns=md, title="Ablation (not in the paper): adaptive weight loss vs plain cross-entropy",
                 footer=[])


# -- footers ----------------------------------------------------------------------------------------------------
def _dataset_lines(results: _Results, datasets: Mapping[str, str | None], run_roles: Sequence[str]) -> list[str]:
    lines = []
    for role in run_roles:
        row = next((r for r in results.rows if r["dataset"] == role), None)
        name = (row or {}).get("dataset_name") or ""
        n_train, n_test = (row or {}).get("n_train") or "?", (row or {}).get("n_test") or "?"
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


def _footer(footer: Mapping[str, object], results: _Results, datasets: Mapping[str, str | None],
            run_roles: Sequence[str], profile: str, notes: Sequence[str]) -> list[str]:
    lines = [_scope_sentence(run_roles, profile), *notes]
    for key, label in _FOOTER_LABELS:
        lines.append(f"{label}: {footer.get(key, '') or 'unknown'}")
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


def _profile(footer: Mapping[str, object], results: _Results) -> str:
    if footer.get("profile"):
        return str(footer["profile"])
    profiles = sorted({r.get("profile", "") for r in results.rows if r.get("profile")})
    return ", ".join(profiles) or "unknown"


# -- writing ----------------------------------------------------------------------------------------------------
def table_csv(table: Table) -> str:
    """The CSV text: one header row, then one row per line, raw values."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=table.columns, lineterminator="\n")
    w.writeheader()
    for row in table.rows:
        w.writerow(row)
    return buf.getvalue()


def _cell(row: Mapping[str, object], key: str, kind: str) -> str:
    text = _fmt(row.get(key), kind)
    spread = row.get("fps_spread_ours")
    if key == "fps_ours" and isinstance(row.get(key), float) and isinstance(spread, float):
        text += f" ± {spread:.1f}"
    return text


def table_markdown(table: Table) -> str:
    """The Markdown text: title, table with formatted numbers, footer."""
    head = [label for _, label, _ in table.md_columns]
    out = [f"# {table.title}", "", "| " + " | ".join(head) + " |",
           "|" + "|".join("---" if kind == "text" else "---:" for _, _, kind in table.md_columns) + "|"]
    for row in table.rows:
        out.append("| " + " | ".join(_cell(row, key, kind) for key, _, kind in table.md_columns) + " |")
    out.append("")
    out += [f"- {line}" for line in table.footer]
    return "\n".join(out) + "\n"


def build_tables(results_csv: str | os.PathLike, footer: Mapping[str, object],
                 datasets: Mapping[str, str | None]) -> list[Table]:
    """Table 1, Table 2 and the ablation, built from ``results.csv`` (nothing written)."""
    results = _Results(load_results(results_csv))
    footer = dict(footer)
    if "commit" in footer:  # accepted as an alias
        footer.setdefault("git_commit", footer.pop("commit"))
    footer.setdefault("date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    footer.setdefault("git_commit", git_commit())
    run_roles = _run_roles(results, datasets)
    profile = _profile(footer, results)
    suffix = _title_suffix(run_roles, profile)
    in_paper = {r.model for r in TABLE1 + TABLE2 if r.model}
    extra = [m for m in results.models() if m not in in_paper]
    paper_note = ("Paper values: the paper's tables as published (its \"FLOPS (G)\" are multiply-accumulates, "
                  "i.e. GMACs); its FPS were measured on a GTX 1080Ti at 512x512. Our FPS: 512x512, batch 1, "
                  "median over timed runs on our device (± the spread recorded in results.csv, fps_spread); "
                  "FPS are only comparable on the same device.")
    t1 = _comparison_table("table1", "Table 1: comparison with existing methods (paper vs ours)" + suffix,
                           TABLE1, results, run_roles, extra)
    t1.footer = _footer(footer, results, datasets, run_roles, profile, [
        paper_note,
        "* cited: trained and tested on the original PFCN, which is no longer available; the paper took these "
        "numbers from the literature and did not re-train them, so they have no measured value here.",
        "PortraitNet: the paper's row is cited (GFLOPs at 224x224); ours is re-trained and measured at 512x512.",
        "Models use their own default loss (ELB: adaptive weight loss; baselines: cross-entropy).",
    ])
    t2 = _comparison_table("table2", "Table 2: BFB channel reduction rate, DR4 vs DR2 (paper vs ours)" + suffix,
                           TABLE2, results, run_roles, [])
    t2.footer = _footer(footer, results, datasets, run_roles, profile, [
        paper_note, "The paper's Table 2 reports PFCN only; both models use the adaptive weight loss.",
    ])
    ab = _ablation_table(results, run_roles)
    ab.title += suffix
    ab.footer = _footer(footer, results, datasets, run_roles, profile, [
        "Δ = adaptive minus cross-entropy, in percentage points; same model, data, schedule and seed otherwise.",
    ])
    return [t1, t2, ab]


def write_tables(results_csv: str | os.PathLike, out_dir: str | os.PathLike, footer: Mapping[str, object],
                 datasets: Mapping[str, str | None]) -> list[Path]:
    """Write ``table1``, ``table2`` and ``ablation`` as ``.csv`` and ``.md`` into ``out_dir``; return the paths.

    ``footer``: device, torch, profile, schedule, date, git_commit (or commit), and optionally datasets (a line
    describing them; by default it is made from results.csv); date and commit are filled in when missing; any other
    key is printed as ``key: value``. ``datasets``: role (pfcn, pseg, synthetic) -> dataset folder or name, or None
    when that role was not given.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for table in build_tables(results_csv, footer, datasets):
        for suffix, text in ((".csv", table_csv(table)), (".md", table_markdown(table))):
            path = out / f"{table.name}{suffix}"
            atomic_write_text(path, text)
            paths.append(path)
    return paths
