"""Two gloo processes under torchrun train the same weights as one process on the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from bench.train.config import TrainConfig
from bench.train.loop import train
from tests.bench.helpers import TinyNet

REPO = Path(__file__).resolve().parents[2]
TINY = "tests.bench.helpers:TinyNet"  # no batch norm or dropout, two auxiliary heads


def test_two_process_gloo_run_matches_one_process(portrait_data, tmp_path):
    single = train(TrainConfig(model=TINY, data=str(portrait_data), out=str(tmp_path / "single"), epochs=2,
                               batch_size=4, size=32, loss="adaptive", workers=0, device="cpu", progress=False))
    ddp = tmp_path / "ddp"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "bench",
           "train", "--model", TINY, "--data", str(portrait_data), "--out", str(ddp), "--epochs", "2",
           "--batch-size", "4", "--size", "32", "--loss", "adaptive", "--workers", "0", "--device", "cpu",
           "--no-progress"]
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    cfg = json.loads((ddp / "config.json").read_text())
    assert cfg["world_size"] == 2 and cfg["batch_per_process"] == 2 and cfg["batch_size"] == 4
    a = torch.load(single / "checkpoint.pt", weights_only=True)
    b = torch.load(ddp / "checkpoint.pt", weights_only=True)
    assert a["epoch"] == b["epoch"] == 2
    for k, v in a["model"].items():
        torch.testing.assert_close(b["model"][k], v, rtol=1e-5, atol=1e-6, msg=k)
    torch.manual_seed(0)  # train() seeds with cfg.seed before building the model: these are the initial weights
    init = TinyNet().state_dict()
    assert max(float((a["model"][k] - v).abs().max()) for k, v in init.items()) > 1e-4  # training moved them
    for ra, rb in zip(a["history"], b["history"], strict=True):
        assert abs(ra["loss"] - rb["loss"]) < 1e-5
