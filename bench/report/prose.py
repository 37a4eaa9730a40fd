"""The words under and above the tables: titles' scope, footers and their notes, and each model's loss in words.

Every fact a sentence states is read from what it describes: the results rows (dataset names, counts, training
sizes), the footer facts of ``run_info.json``, the paper's rows (``bench.report.paper``), the registry (auxiliary
losses) or the speed table; none is typed here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache

import pandas as pd

from bench.errors import UnknownModelError
from bench.report.folder import NOT_RUN, REAL_ROLES, ROLE_LABELS
from bench.report.paper import TABLE1
from bench.report.selection import paper_name
from bench.report.speed_csv import SPEED_BACKEND, InterleavedSpeed

# How to produce a dataset role that was not given.
NOT_RUN_COMMANDS = {
    "pfcn": "`pfcn fetch --release EG_code_data_release.zip --out data/pfcn`, then `bench run-all --pfcn data/pfcn`",
    "pseg": "`pseg build --mhp-root LV-MHP-v2 --out data/pseg`, then `bench run-all --pseg data/pseg`",
}
# How the Markdown names an auxiliary loss kind of the model contract (bench/registry.py).
AUX_KIND_WORDS = {"mask": "ce", "boundary": "boundary focal loss"}
CITED_NOTE = ("* cited: trained and tested on the original PFCN, which is no longer available; the paper took these "
              "numbers from the literature and did not re-train them, so they have no measured value here.")
TABLE2_NOTE = "The paper's Table 2 reports PFCN only; both models use the adaptive weight loss."
ABLATION_NOTE = ("Δ = adaptive minus cross-entropy, in percentage points, from the raw scores and rounded once; same "
                 "model, data, schedule and seed otherwise.")
_FOOTER_LABELS = (("device", "Device"), ("torch", "Torch"), ("profile", "Profile"), ("schedule", "Schedule"),
                  ("date", "Date"), ("git_commit", "Git commit"))


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


def _real(run_roles: Sequence[str]) -> list[str]:
    return [ROLE_LABELS[r] for r in run_roles if r in REAL_ROLES]


def title_suffix(run_roles: Sequence[str], profile: str) -> str:
    real = _real(run_roles)
    if "synthetic" in run_roles and not real:
        return f" — measured on synthetic data with the {profile} profile, not on PFCN/PSEG"
    if "synthetic" in run_roles:
        return f" — measured on {' and '.join(real)} and on synthetic data with the {profile} profile"
    return f" — measured with the {profile} profile" if real else ""


def _scope_sentence(run_roles: Sequence[str], profile: str) -> str:
    real = _real(run_roles)
    if "synthetic" in run_roles and not real:
        return (f"Our numbers were measured on synthetic data with the {profile} profile, not on PFCN/PSEG: they "
                "check the pipeline end to end and are not comparable with the paper's.")
    if "synthetic" in run_roles:
        return (f"Our numbers were measured on {' and '.join(real)} and on synthetic data, with the {profile} "
                "profile.")
    if real:
        return f"Our numbers were measured on {' and '.join(real)} with the {profile} profile."
    return "No dataset was measured."


def _dataset_lines(results: pd.DataFrame, datasets: Mapping[str, str | None], run_roles: Sequence[str]) -> list[str]:
    """Each role's dataset, its name and counts as the results rows record them (dataset.json's)."""
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


def footer_lines(footer: Mapping[str, object], results: pd.DataFrame, datasets: Mapping[str, str | None],
                 run_roles: Sequence[str], profile: str, notes: Sequence[str],
                 provenance: Sequence[str] = ()) -> list[str]:
    """A table's footer: what was measured, ``notes``, the footer facts, ``provenance``, the datasets, and how to
    produce a role that was not run."""
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


def paper_note(speed: InterleavedSpeed | None) -> str:
    """Where the paper's numbers and ours come from, and how our FPS were timed."""
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
    other_sizes = "; ".join(f"the cited {r.method} row at {r.input_size}x{r.input_size}" for r in TABLE1
                            if r.input_size != 512)
    return ("Paper values: the paper's tables as published (its \"FLOPS (G)\" are multiply-accumulates, "
            f"i.e. GMACs); its FPS were measured on a GTX 1080Ti at 512x512 ({other_sizes}). {ours}; FPS are only "
            "comparable on the same device. Our numbers are rounded once, half up, from results.csv"
            + (" and speed.csv." if speed is not None else "."))


def portraitnet_note(results: pd.DataFrame, profile: str) -> str:
    """PortraitNet's footnote: the paper's cited row at its own size; ours at the training size the results record."""
    cited = next(r for r in TABLE1 if r.model == "portraitnet")
    text = (f"PortraitNet: the paper's row is cited ({cited.gmacs} GFLOPs and {cited.fps} FPS at "
            f"{cited.input_size}x{cited.input_size}, on the original PFCN)")
    rows = results[results["model"] == "portraitnet"]
    sizes = sorted({str(v) for v in rows["size"] if pd.notna(v)})
    if not len(rows):
        return text + "; ours was not trained."
    trained = (f"at {' and '.join(f'{v}x{v}' for v in sizes)} ({profile} profile)" if sizes
               else f"with the {profile} profile (results.csv records no training size)")
    return (text + f"; ours is re-trained here {trained} and, like every model, counted and timed at the size of "
            "our FPS column.")


def loss_note(methods: Sequence[str], losses: Sequence[str]) -> str:
    """The loss each trained row (``methods``) was trained with (``losses``, ``loss_label``'s words)."""
    listed = "; ".join(f"{m.rstrip('*')}: {loss}" for m, loss in zip(methods, losses, strict=True))
    edge = any(str(loss).split(" ")[0].endswith("-edge") for loss in losses)
    kinds = ("adaptive (ELB's adaptive weight loss), ce (cross-entropy), or ce-edge / lovasz-edge (SINet's and "
             "ExtremeC3Net's released losses: cross-entropy or the Lovász hinge, plus 0.5 x the same loss on the "
             "mask's edge band, the labelled pixels within 7 px of both classes; trained here in one stage, "
             "without the released encoder-first stage)" if edge else
             "adaptive (ELB's adaptive weight loss) or ce (cross-entropy)")
    return (f"Loss: each model trains with its own default, {kinds}, plus the auxiliary terms it declares (the "
            f"model contract's aux_losses, bench/registry.py): {listed or 'none measured'}.")


def uncertainty_note(uncertainty: Mapping[str, Mapping[str, object]]) -> str:
    result = next(iter(uncertainty.values()))
    return (f"95 % CI: percentile interval of the mIoU over {result['resamples']} paired bootstrap resamples of the "
            f"{result['images']} test images (seed {result['seed']}), from each run's per-image record "
            "(runs/<role>/<run>/metrics_per_image.csv); which pairs differ beyond the noise is in significance.md. "
            "Portrait IoU, mean per image: PortraitNet's metric, the portrait IoU of each test image averaged; "
            "mIoU is the paper's (and SINet's), the two-class IoU of the summed confusion matrix. A trained row "
            "without a per-image record shows neither.")


def seed_note(results: pd.DataFrame, spread: pd.DataFrame) -> str:
    seeds = ", ".join(f"{paper_name(results, m)} {int(n)}" for (m, _), n in spread["count"].items())
    return ("mIoU over seeds: the same recipe trained again with other seeds (bench run-all's [models] seeded), "
            f"mean ± sample standard deviation of their test mIoU ({seeds} seeds; the profile's own seed is the row's "
            "other columns). The seed changes initialisation and batch order; the test images are the same, so this "
            "spread and the bootstrap interval measure different noise.")
