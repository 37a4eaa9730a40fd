"""What ``bench run-all`` and ``bench tables`` write from the results: the footer facts, the tables and the figures.

``build_reports`` needs only ``results.csv``, ``run_info.json`` and the run records (``bench.report.folder``), so the
tables and figures of a report folder kept in the repository can be rebuilt on any machine without training.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

import torch

from bench.data.format import PortraitDataset
from bench.data.io import utc_now
from bench.data.pack import Pack, open_data
from bench.machine import git_commit
from bench.report.folder import REAL_ROLES, ReportFolder, ResultRow
from bench.runall.profile import Profile
from bench.runs.folder import TRAIN_LOG, read_log


def run_info(profile: Profile, data: Mapping[str, PortraitDataset | Pack], device: str,
             measured: Mapping[str, Mapping[str, object]]) -> dict[str, object]:
    """The facts every table's footer states."""
    any_meas = next(iter(measured.values()), {})
    datasets = {role: {"path": str(ds.root), "name": ds.name, "n_train": len(ds.ids("train")),
                       "n_test": len(ds.ids("test"))} for role, ds in data.items()}
    return {
        "grid_images": profile.figures.grid_images,
        "profile": profile.name, "profile_source": profile.source, "profile_description": profile.description,
        "schedule": profile.train_setting("schedule"), "train": profile.train, "speed": asdict(profile.speed),
        "device": f"{any_meas.get('device', device)} ({any_meas.get('device_name', 'unknown')})",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(), "date": utc_now(),
        "commit": git_commit(), "datasets": datasets,
        "synthetic": "synthetic" in data,
    }


def build_reports(out: str | Path, log: Callable[[str], None] = print, speed_any_device: bool = False) -> list[Path]:
    """Tables and figures from ``results.csv``, ``run_info.json`` and the run records (no training); results.csv is
    read once, here.

    ``speed_any_device``: take the FPS of ``speed.csv`` beside ``out`` even when it was timed on another machine than
    the runs (the tables then name that machine), e.g. after the training machine is gone."""
    from bench.deploy.zoo import entries as zoo_entries
    from bench.report import tables

    folder = ReportFolder(out)
    info = folder.read_run_info()
    rows = folder.read_results()
    roles: dict[str, str | None] = dict.fromkeys(REAL_ROLES)
    roles.update({role: v["name"] for role, v in info["datasets"].items()})
    footer = {
        "device": info["device"], "torch": info["torch"], "profile": info["profile"], "schedule": info["schedule"],
        "datasets": ", ".join(f"{v['name']} ({role}: {v['n_train']} train / {v['n_test']} test)"
                              for role, v in info["datasets"].items()),
        "date": info["date"], "commit": info["commit"],
    }
    if info.get("speed_backends"):
        footer["FPS back end"] = ("each model's fastest measured fp32 back end, all timed interleaved: "
                                  + ", ".join(f"{m} {b}" for m, b in info["speed_backends"].items()))
    # other projects' published weights, scored here (the zoo's "published" entries)
    published = [e.manifest for e in zoo_entries().values() if e.manifest.get("profile") == "published"]
    written = tables.write_tables(rows, folder, folder.root, footer=footer, datasets=roles,
                                  peers_csv=folder.peers_csv, published=published, speed_csv=folder.speed_csv,
                                  speed_any_device=speed_any_device)
    written += make_figures(folder, rows, info, log, speed_any_device)
    for p in written:
        log(f"wrote {p}")
    return written


def _curve(folder: ReportFolder, result: Mapping[str, object]) -> list[tuple[float, float]]:
    """(training seconds, test mIoU) of a run: its evaluated epochs, from its log as ``record_file`` finds it (the
    record kept here, else the run folder), and the final score of ``results.csv``."""
    log_file = folder.record_file(result["dataset"], result["run_dir"], TRAIN_LOG)
    rows = read_log(log_file.parent) if log_file is not None else []
    points = [(float(x["elapsed_s"]), float(x["test_miou"])) for x in rows
              if x.get("test_miou") and x.get("elapsed_s") and x.get("eval_split", "test") in ("test", "")]
    minutes, miou = result.get("train_minutes"), result.get("miou")
    if rows and not rows[-1].get("test_miou") and isinstance(minutes, float) and isinstance(miou, float) \
            and minutes == minutes and miou == miou:  # not NaN
        points.append((60.0 * minutes, miou / 100.0))
    return points


def make_figures(folder: ReportFolder, rows: Sequence[ResultRow], info: Mapping[str, object],
                 log: Callable[[str], None] = print, speed_any_device: bool = False) -> list[Path]:
    """FPS against mIoU per dataset, a Fig. 4 style weight map, and a Fig. 5 style prediction grid, from the folder's
    results ``rows``."""
    from bench.data.preprocess import Preprocess
    from bench.deploy.predict import labels
    from bench.report import figures
    from bench.report.selection import results_frame
    from bench.report.speed_csv import interleaved_speed
    from bench.runs.checkpoint import CheckpointError, load_model

    fig_dir = folder.figures
    written = []
    results = results_frame(rows)
    speed = interleaved_speed(folder.speed_csv, str(info.get("device", "")), speed_any_device)  # Table 1's FPS
    for role in info["datasets"]:
        if (results["dataset"] == role).any():
            written.append(figures.fps_vs_miou(results, fig_dir / f"fps_vs_miou_{role}.png", role, speed))
    role, meta = next(iter(info["datasets"].items()))
    ds = open_data(meta["path"])  # a pack's test photos are at its training size
    ids = ds.ids("test")[: int(info.get("grid_images", 4))]
    images = [ds.load_image(i) for i in ids]
    masks = [ds.load_mask(i) for i in ids]
    written.append(figures.boundary_weight_example(images[0], masks[0], fig_dir / "boundary_weights.png"))
    for r_role in info["datasets"]:
        curves = {r["paper_name"] + ("" if r["loss_default"] else f" ({r['loss']})"): _curve(folder, r)
                  for r in results[results["dataset"] == r_role].to_dict("records")}
        if any(curves.values()):
            name = info["datasets"][r_role]["name"]
            title = f"Time to accuracy: test mIoU on {name} ({info['profile']} profile, {info['device']})"
            written.append(figures.time_to_accuracy(curves, fig_dir / f"time_to_accuracy_{r_role}.png", title))
    predictions: dict[str, list] = {}
    for r in results[(results["dataset"] == role) & results["loss_default"]].to_dict("records"):
        try:
            model = load_model(r["run_dir"])  # the run folder itself: a record keeps no checkpoint
        except CheckpointError as e:  # a run folder deleted since: the grid simply leaves that model out
            log(f"prediction grid: skipping {r['model']} ({e})")
            continue
        size = int(model.run_config["size"])
        predictions[r["paper_name"]] = labels(model, images, Preprocess((size, size)))
    if predictions:
        written.append(figures.prediction_grid(images, masks, predictions, fig_dir / f"predictions_{role}.png"))
    return written
