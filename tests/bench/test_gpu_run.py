"""The GPU run's pieces on the CPU: the pack, the boundary weight map in torch, batches made on the device, training
and evaluation from a pack, and benchmarks/gpu_paper_run.sh end to end with a tiny profile."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DistributedSampler

from bench.data.device_batches import DeviceBatches
from bench.data.format import read_dataset
from bench.data.pack import pack_dataset, read_pack
from bench.data.pipeline import Augment, PortraitTorchDataset
from bench.data.preprocess import resize_image, resize_mask
from bench.data.synthetic import render_sample
from bench.eval.evaluate import evaluate, model_source
from bench.eval.loop import NATIVE, score
from bench.runs.checkpoint import load_checkpoint
from bench.runs.folder import read_config, read_log
from bench.train.config import TrainConfig, TrainError
from bench.train.loop import train
from elb.boundary import boundary, boundary_weight_maps, boundary_weight_maps_torch
from tests.bench.test_runall import TEST_PROFILE

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def png_pack(portrait_data, tmp_path_factory):
    """The tiny dataset packed losslessly at 32 px (read-only)."""
    out = tmp_path_factory.mktemp("pack") / "tiny-32.npz"
    pack_dataset(portrait_data, out, 32, codec="png")
    return out


def test_a_pack_holds_every_sample_resized_as_training_resizes_it(portrait_data, png_pack, tmp_path):
    ds, pack = read_dataset(portrait_data), read_pack(png_pack)
    assert pack.name == ds.name == "tiny" and pack.size == 32
    assert pack.meta["counts"] == ds.meta["counts"] and pack.pack_meta["codec"] == "png"
    for split in ("train", "test"):
        assert pack.ids(split) == ds.ids(split)
    for sid in ds.ids("train")[:3] + ds.ids("test")[:3]:
        assert np.array_equal(pack.load_image(sid), resize_image(ds.load_image(sid), 32))
        assert np.array_equal(pack.load_mask(sid), resize_mask(ds.load_mask(sid), 32))
    for sid in ds.ids("test"):  # native masks, ignore patch included
        assert np.array_equal(pack.load_native_mask(sid), ds.load_mask(sid))
    assert not pack.has_native_masks("train")
    again = tmp_path / "again.npz"
    pack_dataset(portrait_data, again, 32, codec="png")
    assert again.read_bytes() == png_pack.read_bytes()  # deterministic
    webp = pack_dataset(portrait_data, tmp_path / "webp.npz", 32)
    assert webp["codec"] == "webp" and webp["quality"] == 85
    assert np.abs(read_pack(tmp_path / "webp.npz").load_image(ds.ids("train")[0]).astype(int)
                  - pack.load_image(ds.ids("train")[0])).mean() < 12


def _portrait_masks(n: int = 6, size: int = 128) -> np.ndarray:
    """Head-and-shoulders masks from the synthetic renderer, squashed like training; one with an ignore patch, one
    empty and one all portrait."""
    masks = [resize_mask(render_sample(7, i, (120, 160)).mask, size) for i in range(n)]
    masks[0][:10, :10] = 255
    masks += [np.zeros((size, size), np.uint8), np.ones((size, size), np.uint8)]
    return np.stack(masks)


def test_the_torch_weight_map_matches_opencvs_on_portrait_masks():
    masks = _portrait_masks()
    t = torch.from_numpy(masks)
    for cap in (None, 12.0):
        cpu, dev = boundary_weight_maps(masks, cap), boundary_weight_maps_torch(t, cap).numpy()
        diff = np.abs(cpu - dev)
        assert diff.mean() < 0.005 and diff.max() < 0.04, (cap, diff.mean(), diff.max())  # mask-5 chamfer vs exact
        assert np.array_equal(cpu == 0, dev == 0) and np.array_equal(cpu == 2, dev == 2)  # ignore; boundary
    assert np.all(dev[-2] == 1.0) and np.all(dev[-1] == 1.0)  # no boundary: w = 1
    # the torch distance is the exact Euclidean one
    edge = boundary(masks[1])
    exact = cv2.distanceTransform((~edge).view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    g = boundary_weight_maps_torch(t[1:2]).numpy()[0] - 1.0
    assert np.abs(g - (1.0 - exact / exact.max())).max() < 1e-5


def test_device_batches_are_the_cpu_pipelines_batches(portrait_data, png_pack):
    ds = PortraitTorchDataset(portrait_data, "train", 32, Augment(), seed=3, weights=True)
    dev = DeviceBatches(read_pack(png_pack), "train", 32, Augment(), seed=3, weights=True, device="cpu")
    sampler = DistributedSampler(ds, num_replicas=1, rank=0, shuffle=True, seed=3)
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        ds.set_epoch(epoch)
        dev.set_epoch(epoch)
        order = list(sampler)
        batches = list(dev.loader(order, 3, drop_last=True))
        assert len(batches) == len(order) // 3
        flips = dev.draws(order)[0]
        assert 0 < flips.sum() < len(order) or len(order) < 4
        for k, b in enumerate(batches):
            ref = [ds[i] for i in order[3 * k:3 * k + 3]]
            assert b["index"].tolist() == order[3 * k:3 * k + 3]
            assert torch.allclose(b["image"], torch.stack([r["image"] for r in ref]), atol=1e-4)
            assert torch.equal(b["mask"], torch.stack([r["mask"] for r in ref]))
            assert (b["weight"] - torch.stack([r["weight"] for r in ref])).abs().max() < 0.05


def test_a_run_from_a_pack_writes_the_record_of_a_run_from_the_folder(portrait_data, png_pack, tmp_path):
    run = train(TrainConfig(model="elb", data=str(png_pack), out=str(tmp_path / "r"), epochs=1, batch_size=4,
                            size=32, device="cpu", workers=0, eval_every=1, progress=False))
    cfg = read_config(run)
    assert cfg.dataset_name == "tiny" and cfg.raw["pack"] == {"size": 32, "codec": "png", "quality": None}
    assert read_log(run)[0]["test_miou"] != "" and load_checkpoint(run)["epoch"] == 1
    metrics, native = evaluate(model_source(run)), evaluate(model_source(run), resolution=NATIVE)
    assert (run / "metrics.json").is_file() and (run / "metrics_native.json").is_file()
    assert native["resolution"] == "native" and metrics["epochs_trained"] == 1
    # a lossless pack scores natively exactly as the folder does (the packed image is what the model sees)
    folder = score(model_source(run), read_dataset(portrait_data), resolution=NATIVE)
    assert folder["miou"] == pytest.approx(native["miou"])
    with pytest.raises(TrainError, match="packed at 32 px"):
        train(TrainConfig(model="elb", data=str(png_pack), out=str(tmp_path / "r64"), epochs=1, size=64))
    assert not (tmp_path / "r64").exists()


# run-all's test profile under the paper profile's name (the record lands where the paper's would), evaluating every
# epoch so that the in-training evaluation from a pack is exercised too
TINY_PROFILE = TEST_PROFILE.replace('name = "tiny"', 'name = "paper"').replace("[train]\n", "[train]\neval_every = 1\n")


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_the_gpu_paper_run_script_on_the_cpu(portrait_data, tmp_path):
    """benchmarks/gpu_paper_run.sh as a GPU lease runs it, on the CPU: pack, two models and the ablation trained two
    at a time from the pack, evaluated, recorded, tabled and timed into a report folder of its own, and everything it
    made brought out to the lease's OUT in two files."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    pack = tmp_path / "tiny-32.npz"
    subprocess.run([sys.executable, "-m", "bench", "pack", "--data", str(portrait_data), "--size", "32", "--out",
                    str(pack)], check=True, env=env, cwd=ROOT, capture_output=True)
    (tmp_path / "tiny.toml").write_text(TINY_PROFILE)
    out, lease = tmp_path / "reports" / "paper-gpu", tmp_path / "lease"
    env.update(DEVICE="cpu", PROFILE=str(tmp_path / "tiny.toml"), MODELS="elb,elb-dr4", PARALLEL="2",
               REPORT_DIR=str(out), OUT=str(lease), RUNS_DIR=str(tmp_path / "runs"), SPEED_SIZE="32",
               SPEED_RUNS="2", PYTHON=sys.executable)
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_paper_run.sh"), str(pack)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "2 at a time" in done.stdout
    # what a lease brings back: two files at the top of OUT, the report folder whole in one of them
    assert sorted(p.name for p in lease.iterdir()) == ["gpu_paper_run.log", "paper-gpu.tar.gz"]
    assert "2 at a time" in (lease / "gpu_paper_run.log").read_text()
    with tarfile.open(lease / "paper-gpu.tar.gz") as tar:
        archived = {m.name for m in tar.getmembers() if m.isfile()}
    assert archived == {f"paper-gpu/{p.relative_to(out).as_posix()}" for p in out.rglob("*") if p.is_file()}
    assert {"paper-gpu/table1.md", "paper-gpu/speed.csv", "paper-gpu/runs/pfcn/elb/config.json"} <= archived
    assert "Device: cpu" in (out / "table1.md").read_text()  # the tables name the device the runs trained on
    rows = _csv(out / "results.csv")
    assert {(r["model"], r["loss"]) for r in rows} == {("elb", "adaptive"), ("elb-dr4", "adaptive"), ("elb", "ce")}
    for r in rows:
        assert r["profile"] == "paper" and r["dataset"] == "pfcn" and r["dataset_name"] == "tiny"
        assert 0 <= float(r["miou"]) <= 100 and 0 <= float(r["miou_native"]) <= 100 and float(r["fps"]) > 0
    for run in ("elb", "elb-dr4", "elb-ce"):
        record = out / "runs" / "pfcn" / run
        for name in ("config.json", "train_log.csv", "metrics.json", "metrics_native.json"):
            assert (record / name).is_file(), (run, name)
        assert json.loads((record / "config.json").read_text())["pack"]["codec"] == "webp"
        assert (tmp_path / "runs" / "paper" / "pfcn" / run / "checkpoint.pt").is_file()
    info = json.loads((out / "run_info.json").read_text())
    assert info["datasets"]["pfcn"]["path"] == str(pack)
    for name in ("table1.md", "table2.md", "ablation.md", "speed.csv", "figures/predictions_pfcn.png"):
        assert (out / name).is_file(), name
    speed = _csv(out / "speed.csv")
    assert {r["model"] for r in speed} == {"elb", "elb-dr4"}
