"""The robustness suite's report: per model, clean mIoU, the suite's mean, the drop and the worst perturbation; a
table of every set (CSV), the summary (CSV and Markdown) and a heat map of the drops (models x perturbations).

mIoU is in percent. A kind's score is the mean of its three severities; the suite's mean is the mean over every
perturbed set (kinds x severities, each weighted alike); the drop is clean minus the suite's mean, also split into
the photometric kinds' and the geometric ones' (those that move the subject), since a training recipe may target
either; the worst perturbation is the kind with the lowest mean.

The intervals bootstrap the photos (``bench.eval.bootstrap``): one draw of photos serves every set of every model, so
a resample's suite mean and drop are computed as the point's are, and two models' drops are compared pair by pair,
with Holm's correction over all the pairs (``robustness_pairs.md``).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from bench.data.io import atomic_write_json, atomic_write_text, make_dir
from bench.eval.bootstrap import CONFIDENCE, RESAMPLES, SEED, holm, load_per_image, miou_draws, p_value
from bench.eval.records import per_image_name
from bench.report.figures import agg_figure, save_png
from bench.robustness.perturb import LEVELS, PERTURBATIONS, table_markdown
from bench.robustness.suite import CLEAN, recorded_models

SETS_CSV, SUMMARY_CSV, SUMMARY_MD, HEATMAP = ("robustness_sets.csv", "robustness_summary.csv", "robustness.md",
                                              "robustness_heatmap.png")
PAIRS_MD = "robustness_pairs.md"
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
        groups = {g: [v for k, v in per_kind.items() if PERTURBATIONS[k].geometric == (g == "geometric")]
                  for g in ("photometric", "geometric")}
        rows.append({"model": name, "clean_miou": clean, "suite_miou": suite, "drop": clean - suite,
                     **{f"drop_{g}": clean - float(np.mean(v)) if v else None for g, v in groups.items()},
                     "worst": worst, "worst_miou": per_kind[worst], **{k: per_kind[k] for k in kinds}})
    return rows


def _per_image_path(m: Mapping[str, object]) -> Path:
    if "per_image_path" in m:
        return Path(str(m["per_image_path"]))
    path = Path(str(m["path"]))
    return path.with_name(per_image_name(path.name))


def drop_intervals(results: Results, resamples: int = RESAMPLES, seed: int = SEED,
                   confidence: float = CONFIDENCE) -> dict[str, object]:
    """Percentile intervals (percent) of each model's clean mIoU, suite mean and drop, and the paired difference in
    drop of every pair of models with its bootstrap p and Holm's verdict, from the per-image records."""
    tables = {f"{name}\0{s}": load_per_image(_per_image_path(m)) for name, sets in results.items()
              for s, m in sets.items()}
    point, draws = miou_draws(tables, resamples, seed)
    q = 100 * np.array([(1 - confidence) / 2, (1 + confidence) / 2])
    drops, models = {}, {}
    for name, sets in results.items():
        perturbed = [s for s in sets if s != CLEAN]
        clean = 100 * draws[f"{name}\0{CLEAN}"]
        suite = 100 * np.mean([draws[f"{name}\0{s}"] for s in perturbed], axis=0)
        drops[name] = (100 * point[f"{name}\0{CLEAN}"] - 100 * np.mean([point[f"{name}\0{s}"] for s in perturbed]),
                       clean - suite)
        models[name] = {f"{k}_{end}": float(v) for k, d in (("clean", clean), ("suite", suite), ("drop", clean - suite))
                        for end, v in zip(("lo", "hi"), np.percentile(d, q), strict=True)}
    names = list(results)
    pairs = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            d = drops[a][1] - drops[b][1]
            lo, hi = np.percentile(d, q)
            pairs.append({"a": a, "b": b, "drop_a": drops[a][0], "drop_b": drops[b][0],
                          "diff": drops[a][0] - drops[b][0], "diff_lo": float(lo), "diff_hi": float(hi),
                          "p": p_value(d)})
    for pair, kept in zip(pairs, holm([p["p"] for p in pairs], 1 - confidence), strict=True):
        pair["holm"] = kept
    return {"resamples": resamples, "seed": seed, "confidence": confidence, "models": models, "pairs": pairs}


def _p(p: float, floor: str) -> str:
    return f"{p:.4f}" if p > 0 else floor


def pairs_markdown(intervals: Mapping[str, object], info: Mapping[str, object]) -> str:
    """Every pair's difference in drop, its interval, p and whether it stays outside the noise after Holm."""
    pairs = intervals["pairs"]
    level = f"{100 * intervals['confidence']:g} %"
    out = [f"# Robustness: which drops differ ({info['dataset']} {info['split']}, {info['images']} photos)", "",
           f"Paired bootstrap over the photos ({intervals['resamples']} resamples, seed {intervals['seed']}): the "
           "same draw of photos for every set of every model. Drop = clean mIoU - the suite's mean, in points; A - B "
           "> 0: A loses more. p: twice the share of resamples on the other side of 0; Holm: outside the noise with "
           f"all {len(pairs)} pairs tested at once at family-wise level {1 - intervals['confidence']:.2g}. "
           f"{sum(p['holm'] for p in pairs)} of {len(pairs)} pairs are.", "",
           f"| A | B | drop A | drop B | A - B | {level} interval | p | Holm |",
           "|---|---|---:|---:|---:|---:|---:|---|"]
    floor = f"< {1 / intervals['resamples']:.0e}"  # no resample on the other side of 0
    out += [f"| {p['a']} | {p['b']} | {p['drop_a']:.2f} | {p['drop_b']:.2f} | {p['diff']:+.2f} | "
            f"[{p['diff_lo']:+.2f}, {p['diff_hi']:+.2f}] | {_p(p['p'], floor)} | {'yes' if p['holm'] else 'no'} |"
            for p in pairs]
    return "\n".join([*out, ""])


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


SUMMARY_FIELDS = ("model", "clean_miou", "suite_miou", "drop", "drop_photometric", "drop_geometric", "worst",
                  "worst_miou", "clean_lo", "clean_hi", "suite_lo", "suite_hi", "drop_lo", "drop_hi")


def _drop_cell(value: object) -> str:
    """A group's drop, or why there is none: a run restricted with ``--kinds`` may score no kind of that group."""
    return "none scored" if value is None else f"{float(value):.2f}"


def markdown(rows: Sequence[Mapping[str, object]], info: Mapping[str, object]) -> str:
    """The summary and per-kind tables, the suite's definition and what was scored."""
    kinds = [k for k in rows[0] if k not in SUMMARY_FIELDS]
    ci = "drop_lo" in rows[0]
    out = [f"# Robustness: {info['dataset']} {info['split']} ({info['images']} photos, seed {info['seed']})", "",
           "mIoU (%) at each photo's own resolution; a perturbation's score is the mean of its three severities, "
           "the suite's the mean of all its sets; drop = clean - suite; photometric and geometric: clean - the "
           "mean of those kinds (the geometric ones move the subject)."
           + (" Intervals: 95 % paired bootstrap over the photos; which drops differ is in "
              f"`{PAIRS_MD}`." if ci else ""), "",
           "| model | clean | suite | drop | " + ("drop 95 % interval | " if ci else "")
           + "drop, photometric | drop, geometric | worst perturbation |",
           "|---|---:|---:|---:|" + ("---:|" if ci else "") + "---:|---:|---|"]
    out += [f"| {r['model']} | {r['clean_miou']:.2f} | {r['suite_miou']:.2f} | {r['drop']:.2f} | "
            + (f"[{r['drop_lo']:.2f}, {r['drop_hi']:.2f}] | " if ci else "")
            + f"{_drop_cell(r['drop_photometric'])} | {_drop_cell(r['drop_geometric'])} | {r['worst']} "
            f"({r['worst_miou']:.2f}) |"
            for r in rows]
    out += ["", "| model | " + " | ".join(kinds) + " |", "|---|" + "---:|" * len(kinds)]
    out += [f"| {r['model']} | " + " | ".join(f"{r[k]:.2f}" for k in kinds) + " |" for r in rows]
    out += ["", "## The perturbations", "", table_markdown().rstrip(), "",
            "Geometric perturbations move the mask with the photo; the frame outside the moved photo is a person-free "
            "background plate (the photo's background, person inpainted out, blurred), scored as background.",
            f"Commit {info['commit']}, {info['date']}.", ""]
    return "\n".join(out)


def heatmap(rows: Sequence[Mapping[str, object]], out_png: str | os.PathLike) -> Path:
    """Models x perturbations: the mIoU drop from clean (points), each cell annotated."""
    kinds = [k for k in rows[0] if k not in SUMMARY_FIELDS]
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
    intervals = drop_intervals(results)
    rows = [{**r, **intervals["models"][r["model"]]} for r in summary_rows(results)]
    info = next(iter(next(iter(results.values())).values()))
    info = {k: info[k] for k in ("data", "dataset", "split", "images", "limit", "seed", "commit", "date")}
    atomic_write_text(out / SETS_CSV, _csv(set_rows(results)))
    atomic_write_text(out / SUMMARY_CSV, _csv(rows))
    atomic_write_text(out / SUMMARY_MD, markdown(rows, info))
    atomic_write_text(out / PAIRS_MD, pairs_markdown(intervals, info))
    atomic_write_json(out / INFO_JSON, {**info, "models": list(results), "summary": rows,
                                        "bootstrap": {k: v for k, v in intervals.items() if k != "models"}})
    return [out / SUMMARY_MD, out / PAIRS_MD, out / SUMMARY_CSV, out / SETS_CSV, heatmap(rows, out / HEATMAP),
            out / INFO_JSON]
