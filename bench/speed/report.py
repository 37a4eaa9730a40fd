"""``bench speed-report``: every model x back end x precision at 1 thread and all cores (or on a GPU), and a figure of
each model's achieved GFLOP/s beside the machine's SGEMM rate.

Writes ``speed.csv`` (one row per model, back end, precision and thread count, with the reason for any that could
not run), ``speed.md`` (FPS per model and back end, each model's best, and the footer: device, load average, the
interleaved protocol, the SGEMM rate) and ``figures/roofline.png``. The machine's fp32 rate is measured in the same
process (``sgemm_gflops``: best of 5 products of 4096x4096 matrices), so the figure's reference line and the models'
rates come from one machine in one state. That line is a measured rate, not a bound: models can run above it (the
figure's x axis is GMACs per image, not arithmetic intensity; ``bench.report.figures.roofline_figure``).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path

import pandas as pd
import torch

from bench.data.io import atomic_write_text, utc_now
from bench.speed.grid import best_per_model, measure_grid

SGEMM_N = 4096
SGEMM_REPEATS = 5


def sgemm_gflops(n: int = SGEMM_N, repeats: int = SGEMM_REPEATS, threads: int | None = None,
                 device: str = "cpu") -> float:
    """GFLOP/s of the best of ``repeats`` fp32 products of two n x n matrices (2 n^3 flops each), via torch.mm.

    On CUDA, TF32 is switched off for the measurement: the reference rate is true fp32, as the models' fp32 rows are.
    """
    if threads is not None:
        torch.set_num_threads(threads)
    dev = torch.device(device)
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=g).to(dev), torch.randn(n, n, generator=g).to(dev)
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        torch.mm(a, b)  # warm-up: thread pool, allocation, kernel selection
        best = float("inf")
        for _ in range(repeats):
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            t0 = time.perf_counter()
            torch.mm(a, b)
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            best = min(best, time.perf_counter() - t0)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32
    return 2.0 * n**3 / best / 1e9


def _calibration_set(calibration: str | os.PathLike | None, tmp: Path, log: Callable[[str], None]) -> str:
    if calibration is not None:
        return str(calibration)
    from bench.data.synthetic import make_synthetic

    log("int8: no --calib-data, calibrating on a small synthetic portrait set (random-weight models: speed only)")
    return str(make_synthetic(tmp / "calibration", n_train=16, n_test=1, seed=0))


def speed_report(out: str | os.PathLike, models: Sequence[str], backends: Sequence[str],
                 precisions: Sequence[str], thread_counts: Sequence[int], sizes: Sequence[int] = (512,),
                 warmup: int = 3, runs: int = 20, calibration: str | os.PathLike | None = None,
                 sgemm_n: int = SGEMM_N, device: str = "cpu", skip: Collection[tuple[str, str, str]] = (),
                 resume: bool = False, log: Callable[[str], None] = print) -> list[Path]:
    """Measure the grid for each setting (each input size and thread count on a CPU; each size on the GPU) and write
    the report files.

    A setting is one interleaved round. Files: ``speed.{csv,md}`` and ``figures/roofline.png`` on a CPU,
    ``speed_gpu.{csv,md}`` and ``figures/roofline_gpu.png`` on CUDA; the figure shows the first size. The CSV is
    rewritten after each setting, so a grid of hours that is stopped keeps its finished settings; ``resume`` keeps
    those of the CSV already in ``out`` that this grid asks for with the same candidates, and measures the rest.
    """
    from bench.report.figures import roofline
    from bench.speed.complexity import measure

    out = Path(out)
    cuda = device.startswith("cuda")
    sizes = list(dict.fromkeys(sizes))
    per_thread = [("GPU", None)] if cuda else [(f"{t} thread{'s' if t > 1 else ''}", t) for t in thread_counts]
    settings = [(label if len(sizes) == 1 else f"{label}, {size}x{size}", threads, size)
                for size in sizes for label, threads in per_thread]
    counts = {(m, size): measure(m, size) for m in models for size in sizes}
    stem = "speed_gpu" if cuda else "speed"
    paths = [out / f"{stem}.csv", out / f"{stem}.md"]
    candidates = {(m, b, p) for m in models for b in backends for p in precisions}
    done = _finished_settings(paths[0], [label for label, _, _ in settings], candidates) if resume else {}
    rows: list[dict[str, object]] = [r for label, _, _ in settings for r in done.get(label, [])]
    sgemm: dict[str, float] = {label: float(part[0]["sgemm_gflops"]) for label, part in done.items()}
    order = {label: i for i, (label, _, _) in enumerate(settings)}  # the CSV lists settings as they were asked for
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-speed-") as tmp:
        calib = _calibration_set(calibration, Path(tmp), log) if "int8" in precisions else None
        for label, threads, size in settings:
            if label in done:
                log(f"{label}: kept from {paths[0]} (--resume)")
                continue
            sgemm[label] = sgemm_gflops(sgemm_n, threads=threads, device=device)
            log(f"{label}: SGEMM {sgemm_n}x{sgemm_n} fp32 {sgemm[label]:.1f} GFLOP/s")
            for r in measure_grid(models, backends, precisions, size=size, warmup=warmup, runs=runs,
                                  threads=threads, device=device, calibration=calib, skip=skip,
                                  log=log):
                c = counts[(str(r["model"]), size)]
                r.update({"setting": label, "params": c.params, "gmacs": c.gmacs,
                          "sgemm_gflops": round(sgemm[label], 1), "sgemm_n": sgemm_n,
                          "calibration": (str(calibration or "synthetic") if r["precision"] == "int8" else "")})
                if "fps" in r:
                    r["gflops"] = 2 * c.gmacs * float(r["fps"])
                    r["of_sgemm"] = r["gflops"] / sgemm[label]
                r["date"] = utc_now()
                rows.append(r)
            rows.sort(key=lambda r: order[str(r["setting"])])
            atomic_write_text(paths[0], pd.DataFrame(rows).to_csv(index=False, float_format="%.4g"))
    df = pd.DataFrame(rows)
    atomic_write_text(paths[1], speed_markdown(df, sgemm))
    measured = [r for r in rows if "fps" in r and r["size"] == sizes[0]]
    if measured:
        paths.append(roofline(measured, sgemm, out / "figures" / f"roofline{stem[5:]}.png"))
    return paths


def _dates(df: pd.DataFrame) -> str:
    """When the settings were measured (a resumed grid spans sessions), else now."""
    dates = sorted(set(df["date"].dropna())) if "date" in df else []
    if not dates:
        return utc_now()
    return dates[0] if dates[0][:10] == dates[-1][:10] else f"{dates[0]} to {dates[-1]}"


def _finished_settings(csv: Path, labels: Sequence[str],
                       candidates: set[tuple[str, str, str]]) -> dict[str, list[dict[str, object]]]:
    """The rows of each setting of ``csv`` that this grid asks for, where the setting has exactly its candidates."""
    if not csv.is_file():
        return {}
    df = pd.read_csv(csv, keep_default_na=False, na_values=[""])
    kept: dict[str, list[dict[str, object]]] = {}
    for label, part in df.groupby("setting", sort=False):
        have = set(zip(part["model"], part["backend"], part["precision"], strict=True))
        if label in labels and have == candidates:
            kept[str(label)] = [{k: v for k, v in r.items() if not pd.isna(v)} for r in part.to_dict("records")]
    return kept


def speed_markdown(df: pd.DataFrame, sgemm: dict[str, float]) -> str:
    """One FPS table per setting (models x back end/precision), each model's best, then the footer."""
    from bench.machine import git_commit

    lines = ["# Inference speed by back end and precision", ""]
    ok = df[df["status"] == "ok"] if "fps" in df else df.iloc[0:0]
    for setting, part in df.groupby("setting", sort=False):
        lines += [f"## {setting} (SGEMM fp32: {sgemm[str(setting)]:.0f} GFLOP/s)", ""]
        good = ok[ok["setting"] == setting]
        if not good.empty:
            table = good.assign(variant=good["backend"] + " " + good["precision"]).pivot_table(
                index="model", columns="variant", values="fps", aggfunc="first")
            # the ranking and the SGEMM ratio are fp32's: SGEMM is an fp32 reference rate, int8 is judged with its mIoU
            best = best_per_model(good.to_dict("records"))
            best.update(best_per_model(good[good["precision"] == "fp32"].to_dict("records")))
            cols = list(table.columns)
            lines += ["| model | GMACs | " + " | ".join(cols) + " | best fp32 | its GFLOP/s (of SGEMM) |",
                      "|---" * (len(cols) + 4) + "|"]
            for model in sorted(table.index, key=lambda m: -best[m]["fps"]):
                b = best[model]
                cells = ["—" if pd.isna(table.at[model, c]) else f"{table.at[model, c]:.1f}" for c in cols]
                lines.append(f"| {model} | {b['gmacs']:.2f} | " + " | ".join(cells) +
                             f" | {b['backend']} {b['precision']} | {b['gflops']:.0f} ({b['of_sgemm']:.0%}) |")
            lines.append("")
        n_models = part["model"].nunique()
        for (backend, precision, status), rows in part[part["status"] != "ok"].groupby(
                ["backend", "precision", "status"], sort=False):
            which = "" if rows["model"].nunique() == n_models else f" ({', '.join(rows['model'].unique())})"
            lines.append(f"- {backend} {precision}{which}: {status}")
        lines.append("")
    r0 = df.iloc[0]
    loads = sorted(set(df["load_before"]) | set(df["load_after"]))
    # The 1-minute load average counts this run's own threads (up to every core in the all-cores setting): only
    # more runnable work than cores means another process shared the machine.
    busy = max(loads) > int(r0["cpu_count"]) + 0.5 and not str(r0["device"]).startswith("cuda")
    lines += [
        f"- FPS: images per second, median of {r0['runs']} timed passes at "
        f"{' and '.join(f'{v}x{v}' for v in dict.fromkeys(df['size']))}, batch "
        f"{r0['batch_size']}, after {r0['warmup']} warm-up passes; all candidates of a setting were timed "
        "interleaved (A B C A B C ...), so load from other processes fell on all of them alike. Spreads "
        "(p10/p90, IQR) and latencies are in speed.csv.",
        "- GFLOP/s = 2 x GMACs x FPS (GMACs as `bench complexity` counts them); SGEMM: best of 5 fp32 torch.mm of "
        f"{r0['sgemm_n']}x{r0['sgemm_n']} matrices in the same setting, measured in the same process: a measured "
        "rate, not a bound (a model's kernels can exceed it: over 100 % above). figures/roofline.png plots these "
        f"rates against GMACs per image (not arithmetic intensity), at {r0['size']}x{r0['size']}.",
        "- int8: post-training static quantization (onnxruntime QDQ, per-channel s8 weights, u8 activations, min/max "
        "calibration); its accuracy is measured with `bench eval --model` on a trained model, not here.",
        "- Random weights: speed does not depend on them.",
        f"- Device: {r0['device_name']} ({r0['device']}; host {r0['cpu_count']} logical CPUs), torch {r0['torch']}; "
        "load average (1 min, this run's own threads included) "
        f"during the runs: {min(loads):.2f}-{max(loads):.2f}"
        + (" -- measured while the machine was busy: regenerate on a quiet machine." if busy else "."),
        f"- Date: {_dates(df)}; commit {git_commit()}.",
    ]
    return "\n".join(lines) + "\n"
