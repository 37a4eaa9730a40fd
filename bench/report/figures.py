"""The report's figures: FPS against mIoU (ours beside the paper's), a Fig. 4 style weight map, a Fig. 5 style grid.

Drawn on matplotlib Agg canvases (no pyplot, no display needed) and written atomically as PNG. These functions take
data in and write files out; they train and evaluate nothing.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from bench.data.format import IGNORE
from bench.data.io import atomic_write_bytes
from bench.defaults import INPUT_SIZE
from bench.eval.metrics import confusion_matrix, mean_iou
from bench.report.folder import ROLE_LABELS
from bench.report.paper import TABLE1, TABLE2
from bench.report.speed_csv import InterleavedSpeed

DPI = 110


def agg_figure(figsize: tuple[float, float]) -> Figure:
    """A figure on its own Agg canvas: no pyplot state, no display, safe in worker processes."""
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Figure, out_png: str | os.PathLike) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    path = Path(out_png)
    atomic_write_bytes(path, buf.getvalue())
    return path


def _log_axis(ax: Axes) -> None:
    """Log x axis with plain-number tick labels at 1, 2, 5 x 10^k (no overlapping minor labels)."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())


_OFFSETS = ((6, 5, "left"), (6, -13, "left"), (-6, 5, "right"), (-6, -13, "right"), (6, 16, "left"),
            (-6, 16, "right"), (6, -24, "left"), (-6, -24, "right"))


def _place_labels(ax: Axes, points: Sequence[tuple[float, float, str]], marker_pt: float = 6.0) -> None:
    """Annotate each point, trying a few offsets and keeping the first whose box overlaps no earlier label and no
    other point's marker (a square of ``marker_pt`` points around it)."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    r = marker_pt * fig.dpi / 72.0
    centres = [ax.transData.transform((x, y)) for x, y, _ in points]
    markers = [Bbox.from_extents(cx - r, cy - r, cx + r, cy + r) for cx, cy in centres]
    taken = []
    for i, (x, y, label) in enumerate(points):
        best = None
        others = taken + [m for j, m in enumerate(markers) if j != i]
        for dx, dy, ha in _OFFSETS:
            ann = ax.annotate(label, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=8, ha=ha)
            box = ann.get_window_extent(renderer).expanded(1.05, 1.1)
            if not any(box.overlaps(t) for t in others):
                best = (ann, box)
                break
            ann.remove()
        if best is None:  # crowded: fall back to the first position
            dx, dy, ha = _OFFSETS[0]
            ann = ax.annotate(label, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=8, ha=ha)
            best = (ann, ann.get_window_extent(renderer))
        taken.append(best[1])


def _colours(names: Sequence[str]) -> dict[str, tuple[float, float, float, float]]:
    cmap = matplotlib.colormaps["tab10"]
    return {n: cmap(i % 10) for i, n in enumerate(dict.fromkeys(names))}


# -- FPS against mIoU -------------------------------------------------------------------------------------------
def measured_points(rows: pd.DataFrame, speed: InterleavedSpeed | None = None) -> list[tuple]:
    """(model, label, FPS at 512, FPS interquartile range, mIoU, default loss) of each scored results row; the FPS
    from ``speed`` where it has the model at 512x512, else the row's own."""
    points = []
    for r in rows[(rows["fps"] > 0) & rows["miou"].notna()].to_dict("records"):
        is_default = r["loss_default"]
        label = (r["paper_name"] or r["model"]) + ("" if is_default else f" ({r['loss']})")
        fps, spread = r["fps"], r["fps_spread"]
        if speed is not None and pd.notna(speed.at(r["model"], INPUT_SIZE)):
            fps, spread = speed.at(r["model"], INPUT_SIZE), speed.at(r["model"], INPUT_SIZE, "fps_iqr")
        points.append((r["model"], label, float(fps), 0.0 if pd.isna(spread) else float(spread), r["miou"],
                       is_default))
    return points


def fps_vs_miou(results: pd.DataFrame, out_png: str | os.PathLike, dataset_role: str,
                speed: InterleavedSpeed | None = None) -> Path:
    """Scatter of measured FPS (log x) against mIoU on ``dataset_role`` in ``results`` (the results rows as
    ``bench.report.selection.results_frame`` gives them), beside the paper's GPU numbers.

    Left panel: our models (default loss filled; other losses, e.g. ELB with cross-entropy, hollow) with the FPS
    interquartile range as error bars: from the interleaved speed table at 512x512 when ``speed`` is given (the
    FPS Table 1 shows; a model it lacks keeps run-all's own timing), else results.csv ``fps``/``fps_spread``.
    Right panel: the paper's Tables 1 and 2 (FPS on a GTX 1080Ti at 512x512); cited rows hollow, and a row timed at
    another input size (PortraitNet's, cited at 224x224) says its size in its label.
    """
    if dataset_role not in ROLE_LABELS:
        raise ValueError(f"unknown dataset role {dataset_role!r}; expected one of {sorted(ROLE_LABELS)}")
    rows = results[results["dataset"] == dataset_role]
    points = measured_points(rows, speed)
    paper_role = "pseg" if dataset_role == "pseg" else "pfcn"
    paper_points = []
    for ref in list(TABLE1) + [TABLE2[0]]:
        miou = ref.miou_pseg if paper_role == "pseg" else ref.miou_pfcn
        if ref.fps is not None and miou is not None:
            size = "" if ref.input_size == 512 else f" (FPS at {ref.input_size}x{ref.input_size})"
            paper_points.append((ref.model or ref.method, ref.method + ("*" if ref.cited else "") + size, ref.fps,
                                 miou, ref.cited))
    colours = _colours([p[0] for p in points] + [p[0] for p in paper_points])

    fig = agg_figure((12, 5.2))
    ax_ours, ax_paper = fig.subplots(1, 2)
    devices = sorted(set(rows["device"]) - {""})
    names = sorted(set(rows["dataset_name"]) - {"", dataset_role})
    profiles = sorted(set(rows["profile"]) - {""})
    where = ROLE_LABELS[dataset_role] + (f" ({', '.join(names)})" if names else "")
    for model, _, fps, spread, miou, filled in points:
        c = colours[model]
        ax_ours.errorbar(fps, miou, xerr=spread if spread > 0 else None, fmt="o" if filled else "s", ms=8,
                         color=c, mfc=c if filled else "white", mec=c, capsize=3, lw=1)
    if not points:
        ax_ours.text(0.5, 0.5, f"no measurements on {ROLE_LABELS[dataset_role]}", ha="center", va="center",
                     transform=ax_ours.transAxes, color="0.4")
        ax_ours.set_yticks([])
    ax_ours.set_title(f"Ours: FPS on {', '.join(devices) or 'our device'}\nmIoU on {where}", fontsize=10)
    for model, _, fps, miou, cited in paper_points:
        c = colours[model]
        ax_paper.scatter([fps], [miou], s=60, marker="D", color=c, facecolors="white" if cited else c,
                         edgecolors=c, linewidths=1.5)
    ax_paper.set_title(f"Paper (Tables 1-2): FPS on a GTX 1080Ti\nmIoU on {ROLE_LABELS[paper_role]}", fontsize=10)
    for ax in (ax_ours, ax_paper) if points else (ax_paper,):
        _log_axis(ax)
        ax.set_ylabel("mIoU (%)")
        ax.grid(True, which="both", alpha=0.3)
        ax.margins(x=0.3, y=0.15)
    ax_ours.set_xlabel("frames per second, 512x512, batch 1 (log scale)")
    other = [label for _, label, *_ in paper_points if "FPS at" in label]
    ax_paper.set_xlabel("frames per second, 512x512, batch 1 (log scale)"
                        + ("; the cited " + ", ".join(o.split(" (")[0] for o in other) + " at its own size" if other
                           else ""))
    if not points:
        ax_ours.set_xticks([])
    scope = f"measured on {where}" + (f" with the {', '.join(profiles)} profile" if profiles else "")
    if dataset_role == "synthetic":
        scope += ", not on PFCN/PSEG"
    fig.suptitle(f"Speed against accuracy — ours {scope}", fontsize=11)
    fig.text(0.5, -0.04, "Filled: each model with its default loss; hollow squares: other losses (ablation); hollow "
             "diamonds: rows the paper cites (original PFCN).\nBars: interquartile range of FPS over the timed runs"
             + (f" (speed.csv: PyTorch eager fp32, {speed.threads} threads, interleaved"
                + (f", on {speed.device_name}" if speed.elsewhere else "") + "). " if speed is not None
                else ". ") + "The two panels use different devices: compare FPS only within a panel.",
             ha="center", fontsize=8, color="0.3")
    fig.tight_layout()
    fig.canvas.draw()
    _place_labels(ax_ours, [(fps, miou, label) for _, label, fps, _, miou, _ in points])
    _place_labels(ax_paper, [(fps, miou, label) for _, label, fps, miou, _ in paper_points])
    return save_png(fig, out_png)


# -- Fig. 4: boundary weight map ----------------------------------------------------------------------------------
def boundary_weight_example(image_rgb: np.ndarray, mask: np.ndarray, out_png: str | os.PathLike) -> Path:
    """Image | mask | boundary weight map g with a colour bar, as in the paper's Fig. 4 (loss weight w = 1 + g)."""
    from elb.boundary import boundary_distance_map

    image_rgb, mask = _check_pair(image_rgb, mask, "boundary_weight_example")
    g = boundary_distance_map(mask)
    fig = agg_figure((11, 4.2))
    axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 1.08]})
    axes[0].imshow(image_rgb)
    axes[0].set_title("image")
    shown = np.where(mask == IGNORE, 0.5, mask.astype(np.float32))
    axes[1].imshow(shown, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    axes[1].set_title("mask (white: portrait)")
    im = axes[2].imshow(np.ma.masked_where(mask == IGNORE, g), cmap="jet", vmin=0, vmax=1)
    axes[2].set_title("boundary weight map g")
    bar = fig.colorbar(im, ax=axes[2], fraction=0.046, pad=0.04)
    bar.set_label("g (loss weight w = 1 + g)")
    for ax in axes:
        ax.set_axis_off()
    fig.suptitle("Adaptive weight loss: weight highest on the portrait boundary, falling with the distance to it "
                 "(cf. Fig. 4)", fontsize=10)
    fig.tight_layout()
    return save_png(fig, out_png)


# -- Fig. 5: predictions ------------------------------------------------------------------------------------------
def _check_pair(image: np.ndarray, mask: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    image, mask = np.asarray(image), np.asarray(mask)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{what}: image must be (H, W, 3) RGB, got shape {image.shape}")
    if mask.shape != image.shape[:2]:
        raise ValueError(f"{what}: mask shape {mask.shape} differs from the image's {image.shape[:2]}")
    if image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    return image, mask.astype(np.uint8)


GT_COLOUR, TP_COLOUR, FP_COLOUR, FN_COLOUR = (40, 220, 80), (255, 60, 200), (255, 140, 0), (0, 110, 255)
IGNORE_COLOUR = (128, 128, 128)


def _overlay(image: np.ndarray, tints: Sequence[tuple[np.ndarray, tuple[int, int, int]]],
             outline: np.ndarray | None) -> np.ndarray:
    """The image with each (pixels, colour) tinted; with ``outline``, that mask's contour drawn in white."""
    out = image.astype(np.float32)
    for where, colour in tints:
        out[where] = 0.5 * out[where] + 0.5 * np.array(colour, np.float32)
    out = np.clip(out, 0, 255).astype(np.uint8)
    if outline is not None:
        contours, _ = cv2.findContours(outline.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
        thickness = max(1, round(min(image.shape[:2]) / 150))
        cv2.drawContours(out, contours, -1, (255, 255, 255), thickness, cv2.LINE_AA)
    return out


def prediction_grid(images: Sequence[np.ndarray], masks: Sequence[np.ndarray],
                    predictions: Mapping[str, Sequence[np.ndarray]], out_png: str | os.PathLike) -> Path:
    """Rows = test images; columns = image, ground truth, then each model's prediction (cf. Fig. 5).

    Ground truth and predictions are tinted over the image; predictions also show the ground-truth outline in
    white and the image's mIoU. Label maps: 0 background, 1 portrait (255 ignore in ground truth).
    """
    if not images:
        raise ValueError("prediction_grid: no images given")
    if len(masks) != len(images):
        raise ValueError(f"prediction_grid: {len(images)} images but {len(masks)} masks")
    pairs = [_check_pair(im, m, f"prediction_grid row {i}") for i, (im, m) in enumerate(zip(images, masks,
                                                                                             strict=True))]
    for name, preds in predictions.items():
        if len(preds) != len(images):
            raise ValueError(f"prediction_grid: model {name!r} has {len(preds)} predictions for {len(images)} images")
        for i, p in enumerate(preds):
            if np.asarray(p).shape != pairs[i][1].shape:
                raise ValueError(f"prediction_grid: model {name!r} prediction {i} has shape {np.asarray(p).shape}, "
                                 f"expected {pairs[i][1].shape}")
    n_rows, n_cols = len(pairs), 2 + len(predictions)
    aspect = pairs[0][0].shape[0] / pairs[0][0].shape[1]
    cell_w = 1.9
    fig = agg_figure((cell_w * n_cols, cell_w * aspect * n_rows + 0.6))
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for r, (image, mask) in enumerate(pairs):
        gt = mask == 1
        known = mask != IGNORE
        ignored = [(~known, IGNORE_COLOUR)]
        cells = [(image, "image", ""), (_overlay(image, [(gt, GT_COLOUR), *ignored], None), "ground truth", "")]
        for name, preds in predictions.items():
            pred = np.asarray(preds[r]).astype(np.uint8)
            fg = pred == 1
            tints = [(fg & gt, TP_COLOUR), (fg & ~gt & known, FP_COLOUR), (~fg & gt, FN_COLOUR), *ignored]
            cells.append((_overlay(image, tints, gt), name, f"mIoU {100 * mean_iou(confusion_matrix(fg, mask)):.1f}"))
        for c, (picture, title, caption) in enumerate(cells):
            ax = axes[r, c]
            ax.imshow(picture, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=9)
            if caption:
                ax.text(0.03, 0.03, caption, transform=ax.transAxes, fontsize=7, color="white",
                        bbox={"facecolor": "black", "alpha": 0.6, "pad": 1.5, "edgecolor": "none"})
    any_ignored = any(np.any(m == IGNORE) for _, m in pairs)
    fig.suptitle("Predictions on test images. Ground truth: green. Predictions: magenta = correct portrait, "
                 "orange = false portrait,\nblue = missed portrait; white line = ground-truth outline; "
                 + ("grey = ignored; " if any_ignored else "") + "mIoU of each image in the corner", fontsize=9)
    fig.tight_layout()
    return save_png(fig, out_png)


def time_to_accuracy(curves: Mapping[str, Sequence[tuple[float, float]]], out_png: str | os.PathLike,
                     title: str) -> Path:
    """mIoU (%) against training wall time (minutes), one line per run: how fast each model learns on this machine.

    ``curves`` maps a label to its (elapsed training seconds, mIoU in [0, 1]) points, from a run's ``train_log.csv``.
    """
    fig = agg_figure((7.5, 4.8))
    ax = fig.subplots()
    colours = _colours(list(curves))
    for label, points in curves.items():
        pts = sorted((t, m) for t, m in points if m is not None)
        if not pts:
            continue
        t, m = zip(*pts, strict=True)
        ax.plot(np.asarray(t) / 60.0, 100.0 * np.asarray(m), "o-", ms=3, lw=1.5, color=colours[label], label=label)
    ax.set_xlabel("training time (minutes, evaluation excluded)")
    ax.set_ylabel("mIoU (%)")
    ax.grid(True, alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=8, loc="lower right")
    else:
        ax.text(0.5, 0.5, "no evaluated epochs", ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_title(title, fontsize=10)
    return save_png(fig, out_png)


def roofline_figure(rows: Sequence[Mapping[str, object]], sgemm: Mapping[str, float]) -> Figure:
    """Each model's achieved GFLOP/s (2 x MACs x FPS) per back end, beside the machine's measured SGEMM rate.

    ``rows``: measured speed rows with model, backend, precision, setting (e.g. "1 thread"), gmacs and fps (and
    optionally sgemm_n); ``sgemm``: setting -> GFLOP/s of a large fp32 matrix product. One panel per setting.

    Not a roofline: the x axis is each model's work, GMACs per image, not arithmetic intensity (that needs the bytes
    moved, which nothing here counts), and the dashed line is one measured rate, the best of a few fp32 torch.mm
    products, not a bound: convolution kernels (and bf16 or int8) can and do run above it. The dotted line is 70 % of
    that rate.
    """
    settings = list(dict.fromkeys(str(r["setting"]) for r in rows))
    fig = agg_figure((5.2 * max(len(settings), 1), 4.4))
    variants = sorted({f"{r['backend']} {r['precision']}" for r in rows})
    markers = dict(zip(variants, "osD^v<>phX*", strict=False))
    sizes = sorted({int(r["sgemm_n"]) for r in rows if r.get("sgemm_n")})
    product = f"{sizes[0]}x{sizes[0]} " if len(sizes) == 1 else ""
    named: list[tuple[Axes, list[tuple[float, float, str]]]] = []
    for k, setting in enumerate(settings):
        ax = fig.add_subplot(1, len(settings), k + 1)
        here = [r for r in rows if r["setting"] == setting]
        for variant in variants:
            pts = [r for r in here if f"{r['backend']} {r['precision']}" == variant]
            if pts:
                ax.scatter([float(r["gmacs"]) for r in pts], [2 * float(r["gmacs"]) * float(r["fps"]) for r in pts],
                           marker=markers.get(variant, "o"), label=variant, alpha=0.8)
        named.append((ax, [(float(r["gmacs"]), 2 * float(r["gmacs"]) * float(r["fps"]), str(r["model"]))
                           for r in here if r["backend"] == "eager" and r["precision"] == "fp32"]))
        peak = sgemm.get(setting)
        if peak:
            ax.axhline(peak, color="k", ls="--", lw=1,
                       label=f"measured SGEMM rate ({product}fp32 torch.mm), not a bound")
            ax.axhline(0.7 * peak, color="k", ls=":", lw=1, label="70 % of that SGEMM rate")
        _log_axis(ax)
        ax.margins(x=0.12, y=0.08)
        ax.set_xlabel("GMACs per image (log scale; model work, not arithmetic intensity)")
        ax.set_ylabel("achieved GFLOP/s (2 x GMACs x FPS)")
        ax.set_title(setting + (f" (measured SGEMM rate: {peak:.0f} GFLOP/s)" if peak else ""), fontsize=10)
        ax.grid(alpha=0.3)
    if fig.axes:  # one legend for all panels, below them, so that no point is hidden behind it
        handles, labels = fig.axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=7, frameon=False)
    fig.suptitle("Achieved rate per model and back end beside one measured SGEMM rate (a reference line, not a "
                 "roofline bound); model names at eager fp32", fontsize=10)
    fig.tight_layout(rect=(0, 0.13, 1, 1))
    fig.canvas.draw()
    for ax, points in named:
        _place_labels(ax, points)
    return fig


def roofline(rows: Sequence[Mapping[str, object]], sgemm: Mapping[str, float], out_png: str | os.PathLike) -> Path:
    """``roofline_figure`` written as a PNG (the name is the file's, ``figures/roofline.png``; see there for why the
    figure is not a roofline in the strict sense)."""
    return save_png(roofline_figure(rows, sgemm), out_png)
