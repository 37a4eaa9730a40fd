"""The robustness suite's report: per model, clean mIoU, the suite's mean, the drop and the worst perturbation; a
table of every set (CSV), the summary (CSV and Markdown) and a heat map of the drops (models x perturbations).

mIoU is in percent. A kind's score is the mean of its three severities; the suite's mean is the mean over every
perturbed set (kinds x severities, each weighted alike); the drop is clean minus the suite's mean; the worst
perturbation is the kind with the lowest mean.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from bench.data.io import atomic_write_json, atomic_write_text, make_dir
from bench.report.figures import agg_figure, save_png
from bench.robustness.perturb import LEVELS, table_markdown
from bench.robustness.suite import CLEAN, recorded_models

SETS_CSV, SUMMARY_CSV, SUMMARY_MD, HEATMAP = ("robustness_sets.csv", "robustness_summary.csv", "robustness.md",
                                              "robustness_heatmap.png")
INFO_JSON = "robustness.json"
Results = Mapping[str, Mapping[str, Mapping[str, object]]]


def _pct(m: Mapping[str, object], key: str = "miou") -> float:
    return 100.0 * float(m[key])


def kinds_of(results: Results) -> list[str]:
    first = next(iter(results.values()))
    return list(dict.fromkeys(str(m["perturbation"]) for s, m in first.items() if s != CLEAN))


def summary_rows(results: Results) -> list[dict[str, object]]:
    """One row per model: clean, each kind's mean, the suite's mean, the drop and the worst kind (percent)."""
    rows = []
    for name, sets in results.items():
        kinds = kinds_of(results)
        per_kind = {k: float(np.mean([_pct(sets[f"{k}-{lv}"]) for lv in LEVELS])) for k in kinds}
        clean = _pct(sets[CLEAN])
        suite = float(np.mean([_pct(m) for s, m in sets.items() if s != CLEAN]))
        worst = min(per_kind, key=per_kind.get)
        rows.append({"model": name, "clean_miou": clean, "suite_miou": suite, "drop": clean - suite,
                     "worst": worst, "worst_miou": per_kind[worst], **{k: per_kind[k] for k in kinds}})
    return rows


def set_rows(results: Results) -> list[dict[str, object]]:
    """One row per model and set: mIoU, mean portrait IoU and boundary F (percent), images."""
    return [{"model": name, "set": s, "perturbation": m["perturbation"], "severity": m["severity"],
             "miou": _pct(m), "portrait_iou_mean": _pct(m, "portrait_iou_mean"), "boundary_f": _pct(m, "boundary_f"),
             "images": m["images"]} for name, sets in results.items() for s, m in sets.items()]


def _csv(rows: Sequence[Mapping[str, object]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows({k: f"{v:.2f}" if isinstance(v, float) else v for k, v in r.items()} for r in rows)
    return buf.getvalue()


def markdown(rows: Sequence[Mapping[str, object]], info: Mapping[str, object]) -> str:
    """The summary and per-kind tables, the suite's definition and what was scored."""
    kinds = [k for k in rows[0] if k not in ("model", "clean_miou", "suite_miou", "drop", "worst", "worst_miou")]
    out = [f"# Robustness: {info['dataset']} {info['split']} ({info['images']} photos, seed {info['seed']})", "",
           "mIoU (%) at each photo's own resolution; a perturbation's score is the mean of its three severities, "
           "the suite's the mean of all its sets; drop = clean - suite.", "",
           "| model | clean | suite | drop | worst perturbation |", "|---|---:|---:|---:|---|"]
    out += [f"| {r['model']} | {r['clean_miou']:.2f} | {r['suite_miou']:.2f} | {r['drop']:.2f} | "
            f"{r['worst']} ({r['worst_miou']:.2f}) |" for r in rows]
    out += ["", "| model | " + " | ".join(kinds) + " |", "|---|" + "---:|" * len(kinds)]
    out += [f"| {r['model']} | " + " | ".join(f"{r[k]:.2f}" for k in kinds) + " |" for r in rows]
    out += ["", "## The perturbations", "", table_markdown().rstrip(), "",
            "Geometric perturbations move the mask with the photo; the frame outside the moved photo is a person-free "
            "background plate (the photo's background, person inpainted out, blurred), scored as background.",
            f"Commit {info['commit']}, {info['date']}.", ""]
    return "\n".join(out)


def heatmap(rows: Sequence[Mapping[str, object]], out_png: str | os.PathLike) -> Path:
    """Models x perturbations: the mIoU drop from clean (points), each cell annotated."""
    kinds = [k for k in rows[0] if k not in ("model", "clean_miou", "suite_miou", "drop", "worst", "worst_miou")]
    drops = np.array([[r["clean_miou"] - r[k] for k in kinds] for r in rows], np.float64)
    fig = agg_figure((1.0 + 0.75 * len(kinds), 1.2 + 0.45 * len(rows)))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(drops, cmap="Reds", vmin=0.0, vmax=max(1.0, float(np.nanmax(drops))), aspect="auto")
    ax.set_xticks(range(len(kinds)), [k.replace("_", " ") for k in kinds], rotation=40, ha="right")
    ax.set_yticks(range(len(rows)), [str(r["model"]) for r in rows])
    for (i, j), v in np.ndenumerate(drops):
        ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=7,
                color="white" if v > 0.6 * np.nanmax(drops) else "black")
    fig.colorbar(im, ax=ax, label="mIoU drop from clean (points)")
    ax.set_title("Robustness: mIoU lost under each perturbation (mean of 3 severities)", fontsize=9)
    return save_png(fig, out_png)


def with_recorded(out: str | os.PathLike, results: Results) -> dict[str, Mapping[str, Mapping[str, object]]]:
    """``results`` and every other model recorded under ``out`` on the same photos, sets and seed: the report of a
    suite run a few models at a time covers them all."""
    sets = list(next(iter(results.values())))
    info = next(iter(next(iter(results.values())).values()))
    return {**recorded_models(out, sets, info), **results}


def write_reports(out: str | os.PathLike, results: Results) -> list[Path]:
    """The set table, the summary (CSV, Markdown), the heat map and the run's facts under ``out``."""
    out = make_dir(out)
    rows = summary_rows(results)
    info = next(iter(next(iter(results.values())).values()))
    info = {k: info[k] for k in ("data", "dataset", "split", "images", "limit", "seed", "commit", "date")}
    atomic_write_text(out / SETS_CSV, _csv(set_rows(results)))
    atomic_write_text(out / SUMMARY_CSV, _csv(rows))
    atomic_write_text(out / SUMMARY_MD, markdown(rows, info))
    atomic_write_json(out / INFO_JSON, {**info, "models": list(results), "summary": rows})
    return [out / SUMMARY_MD, out / SUMMARY_CSV, out / SETS_CSV, heatmap(rows, out / HEATMAP), out / INFO_JSON]
