"""What ``bench run-all`` and ``bench tables`` write from the results: the footer facts, the tables and the figures.

``build_reports`` needs only ``results.csv``, ``run_info.json`` and the run folders, so the tables and figures of a
report folder kept in the repository can be rebuilt on any machine without training.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path

import torch

from bench.data.format import PortraitDataset
from bench.data.io import utc_now
from bench.data.pack import Pack, open_data
from bench.machine import git_commit
from bench.runall.profile import Profile
from bench.runs.folder import read_log

DATASET_ROLES = ("pfcn", "pseg")


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
    """Tables and figures from ``results.csv``, ``run_info.json`` and the run folders (no training).

    ``speed_any_device``: take the FPS of ``speed.csv`` beside ``out`` even when it was timed on another machine than
    the runs (the tables then name that machine), e.g. after the training machine is gone."""
    from bench.deploy.zoo import entries as zoo_entries
    from bench.report import tables

    out = Path(out)
    info = json.loads((out / "run_info.json").read_text(encoding="utf-8"))
    roles: dict[str, str | None] = dict.fromkeys(DATASET_ROLES)
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
    # off-the-shelf peers (`bench record-peer`) live beside the profile folders, in reports/peers.csv
    # other projects' published weights, scored here (the zoo's "published" entries)
    published = [e.manifest for e in zoo_entries().values() if e.manifest.get("profile") == "published"]
    written = tables.write_tables(out / "results.csv", out, footer=footer, datasets=roles,
                                  peers_csv=out.parent / "peers.csv", published=published,
                                  speed_csv=out.parent / "speed.csv", speed_any_device=speed_any_device)
    written += make_figures(out, info, log, speed_any_device)
    for p in written:
        log(f"wrote {p}")
    return written


def _curve(result: Mapping[str, object]) -> list[tuple[float, float]]:
    """(training seconds, test mIoU) of a run: its evaluated epochs, and the final score of ``results.csv``."""
    rows = read_log(str(result["run_dir"]))
    points = [(float(x["elapsed_s"]), float(x["test_miou"])) for x in rows
              if x.get("test_miou") and x.get("elapsed_s") and x.get("eval_split", "test") in ("test", "")]
    minutes, miou = result.get("train_minutes"), result.get("miou")
    if rows and not rows[-1].get("test_miou") and isinstance(minutes, float) and isinstance(miou, float) \
            and minutes == minutes and miou == miou:  # not NaN
        points.append((60.0 * minutes, miou / 100.0))
    return points


def make_figures(out: Path, info: Mapping[str, object], log: Callable[[str], None] = print,
                 speed_any_device: bool = False) -> list[Path]:
    """FPS against mIoU per dataset, a Fig. 4 style weight map, and a Fig. 5 style prediction grid."""
    from bench.data.preprocess import Preprocess
    from bench.deploy.predict import labels
    from bench.report import figures, tables
    from bench.runs.checkpoint import CheckpointError, load_model

    fig_dir = out / "figures"
    written = []
    results = tables.load_results(out / "results.csv")
    speed = tables.interleaved_speed(out.parent / "speed.csv", str(info.get("device", "")),  # Table 1's FPS
                                     speed_any_device)
    for role in info["datasets"]:
        if (results["dataset"] == role).any():
            written.append(figures.fps_vs_miou(out / "results.csv", fig_dir / f"fps_vs_miou_{role}.png", role,
                                               speed))
    role, meta = next(iter(info["datasets"].items()))
    ds = open_data(meta["path"])  # a pack's test photos are at its training size
    ids = ds.ids("test")[: int(info.get("grid_images", 4))]
    images = [ds.load_image(i) for i in ids]
    masks = [ds.load_mask(i) for i in ids]
    written.append(figures.boundary_weight_example(images[0], masks[0], fig_dir / "boundary_weights.png"))
    for r_role in info["datasets"]:
        curves = {r["paper_name"] + ("" if r["loss_default"] else f" ({r['loss']})"): _curve(r)
                  for r in results[results["dataset"] == r_role].to_dict("records")}
        if any(curves.values()):
            name = info["datasets"][r_role]["name"]
            title = f"Time to accuracy: test mIoU on {name} ({info['profile']} profile, {info['device']})"
            written.append(figures.time_to_accuracy(curves, fig_dir / f"time_to_accuracy_{r_role}.png", title))
    predictions: dict[str, list] = {}
    for r in results[(results["dataset"] == role) & results["loss_default"]].to_dict("records"):
        try:
            model = load_model(r["run_dir"])
        except CheckpointError as e:  # a run folder deleted since: the grid simply leaves that model out
            log(f"prediction grid: skipping {r['model']} ({e})")
            continue
        size = int(model.run_config["size"])
        predictions[r["paper_name"]] = labels(model, images, Preprocess((size, size)))
    if predictions:
        written.append(figures.prediction_grid(images, masks, predictions, fig_dir / f"predictions_{role}.png"))
    return written
