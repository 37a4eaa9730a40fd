"""Every console command with careless input: a non-zero exit, one line of error on stderr and no traceback, and
nothing outside the command's own output folder created, changed or deleted (a snapshot of the workspace before and
after each command)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io
from click.testing import CliRunner

from bench.cli.main import main as bench_main
from bench.data.format import DatasetWriter
from pfcn.cli import main as pfcn_main
from pseg.cli import main as pseg_main
from pseg.fake_mhp import SynthImage, SynthPerson, write_tree
from tests.bench.helpers import make_portrait_dataset

TOOLS = {"bench": bench_main, "pfcn": pfcn_main, "pseg": pseg_main}
PROGRESS = ("pfcn fetch:", "pseg build:")  # progress lines off a terminal are not errors


def _dataset(root: Path, masks: dict[str, tuple[int, str]]) -> None:
    """One sample per id: a 32x32 image with a square of ``value`` in its mask."""
    w = DatasetWriter(root, "careless", "tests", image_format="png")
    for sid, (value, split) in masks.items():
        mask = np.zeros((32, 32), np.uint8)
        mask[8:24, 8:24] = value
        w.add(sid, np.full((32, 32, 3), 120, np.uint8), mask, split)
    w.finalize()


def _release(root: Path) -> None:
    data = root / "data"
    (data / "images_mask").mkdir(parents=True)
    (data / "alldata_urls.txt").write_text("00001.jpg http://127.0.0.1:9/1_b.jpg\n")
    (data / "crop.txt").write_text("00001.jpg 0 800 0 600\n")
    scipy.io.savemat(data / "images_mask" / "00001_mask.mat", {"mask": np.ones((800, 600), np.uint8)})
    scipy.io.savemat(data / "trainlist.mat", {"trainlist": np.array([[1]], np.uint16)})
    scipy.io.savemat(data / "testlist.mat", {"testlist": np.zeros((1, 0), np.uint16)})


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    """A workspace holding everything the bad inputs point at (the commands run with it as working folder)."""
    ws = tmp_path_factory.mktemp("ws")
    make_portrait_dataset(ws / "data", n_train=4, n_test=2, size=32)
    _dataset(ws / "notest", {"a": (1, "train"), "b": (1, "train")})
    _dataset(ws / "zero255", {"a": (255, "train"), "b": (1, "test")})
    _dataset(ws / "bad128", {"a": (1, "train"), "b": (1, "test")})
    ok, buf = cv2.imencode(".png", np.full((32, 32), 128, np.uint8))
    (ws / "bad128" / "masks" / "a.png").write_bytes(buf.tobytes())
    (ws / "mine" / "images").mkdir(parents=True)
    (ws / "mine" / "images" / "holiday.jpg").write_bytes(b"the user's own photo")
    (ws / "empty").mkdir()
    (ws / "notes.txt").write_text("not a checkpoint, not a zip\n")
    video = cv2.VideoWriter(str(ws / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (32, 32), True)
    for _ in range(2):
        video.write(np.full((32, 32, 3), 120, np.uint8))
    video.release()
    _release(ws / "release")
    spec = [SynthImage("0001", 160, 120, [SynthPerson(60, 15, 26)])]
    write_tree(ws / "mhp", spec, "v1", seed=1)
    bare = write_tree(ws / "mhp-bare", spec, "v1", seed=1)
    shutil.rmtree(bare / "annotations")
    (bare / "annotations").mkdir()
    r = CliRunner().invoke(bench_main, ["train", "--model", "elb", "--data", str(ws / "data"), "--out",
                                        str(ws / "run"), "--epochs", "1", "--batch-size", "2", "--size", "32",
                                        "--workers", "0", "--no-progress"])
    assert r.exit_code == 0, r.output
    return ws



TRAIN = ["train", "--model", "elb", "--data", "data", "--epochs", "1", "--size", "32", "--workers", "0",
         "--no-progress", "--out", "runs/t"]
EVAL = ["eval", "--model", "run"]

# (tool, arguments, the command's own output folder or None, a word the error line must hold)
CASES = [
    ("bench", [*TRAIN, "--lr", "-1"], None, "lr must be a positive"),
    ("bench", [*TRAIN, "--lr", "nan"], None, "lr must be a positive"),
    ("bench", [*TRAIN, "--weight-decay", "-5"], None, "weight_decay must be 0 or more"),
    ("bench", [*TRAIN, "--workers", "-1"], None, "workers must be 0 or more"),
    ("bench", [*TRAIN, "--device", "gpu"], None, "'gpu' is not a device"),
    ("bench", [*TRAIN, "--device", "cuda:99"], None, "cuda:99"),
    ("bench", [*TRAIN, "--model", "os:getcwd"], None, "cannot be called with num_classes"),
    ("bench", [*TRAIN, "--model", "json:JSONDecodeError.nope"], None, "cannot be imported"),
    ("bench", [*TRAIN, "--model", "nope"], None, "unknown model 'nope'"),
    ("bench", [*TRAIN, "--size", "36"], None, "multiple of 8"),
    ("bench", [*TRAIN, "--model", "portraitnet", "--size", "48"], None, "multiple of 32"),
    ("bench", [*TRAIN, "--epochs", "0"], None, "epochs must be at least 1"),
    ("bench", [*TRAIN, "--batch-size", "0"], None, "batch_size must be at least 1"),
    ("bench", [*TRAIN, "--max-iters-per-epoch", "0"], None, "max_iters_per_epoch"),
    ("bench", [*TRAIN, "--data", "mine"], None, "invalid portrait dataset"),
    ("bench", [*TRAIN, "--data", "zero255"], None, "0/255"),
    ("bench", [*TRAIN, "--data", "bad128"], None, "masks/a.png: mask values [128]"),
    ("bench", [*TRAIN, "--schedule", "cosine"], None, "'cosine' is not one of"),
    ("bench", ["eval"], None, "exactly one of --model and --predictions"),
    ("bench", ["eval", "--model", "no-such-entry", "--data", "data"], None, "neither a zoo name (bisenet-pfcn,"),
    ("bench", ["eval", "--model", "elb-pfc", "--data", "data"], None, "did you mean elb-pfcn?"),
    ("bench", ["eval", "--model", "sinet-eg1800"], None, "--model sinet-eg1800 needs --data"),
    ("bench", ["eval", "--model", "elb", "--data", "data"], None, "a registered model has random weights"),
    ("bench", ["zoo", "add", "--run", "empty", "--name", "x", "--profile", "cpu", "--folder", "zoo-out"], None,
     "no checkpoint"),
    ("bench", ["significance", "notes.txt"], None, "not a per-image CSV of bench eval"),
    ("bench", ["eval", "--model", "missing.onnx"], None, "missing.onnx: no such ONNX file"),
    ("bench", ["eval", "--onnx", "x.onnx"], None, "--onnx is now --model"),
    ("bench", ["eval", "--run", "run"], None, "--run is now --model"),
    ("bench", [*EVAL, "--backend", "onnxruntime", "--size", "100"], None, "multiple of 8"),
    ("bench", ["eval", "--predictions", "empty", "--data", "data", "--precision", "int8"], None, "apply to a model"),
    ("bench", ["eval", "--model", "notes.txt"], None, "notes.txt: not a readable checkpoint"),
    ("bench", ["eval", "--checkpoint", "notes.txt"], None, "--checkpoint is now --model"),
    ("bench", ["eval", "--model", "empty"], None, "no checkpoint"),
    ("bench", [*EVAL, "--size", "100"], None, "multiple of 8"),
    ("bench", [*EVAL, "--size", "0"], None, "0 is not in the range"),
    ("bench", [*EVAL, "--device", "cuda:99"], None, "cuda:99"),
    ("bench", [*EVAL, "--data", "notest"], None, "the test split is empty"),
    ("bench", [*EVAL, "--split", "val"], None, "held out none"),
    ("bench", [*EVAL, "--data", "bad128", "--split", "train"], None, "mask values [128]"),
    ("bench", [*EVAL, "--native", "--data", "bad128", "--split", "train"], None, "mask values [128]"),
    ("bench", ["complexity", "--size", "0"], None, "0 is not in the range"),
    ("bench", ["complexity", "--size", "7"], None, "multiple of 8"),
    ("bench", ["complexity", "--model", "nope"], None, "nope: neither a zoo name"),
    ("bench", ["speed", "--model", "elb", "--size", "100"], None, "multiple of 8"),
    ("bench", ["speed", "--model", "elb", "--batch-size", "0"], None, "--batch-size"),
    ("bench", ["speed", "--model", "elb", "--passes", "0"], None, "--passes"),
    ("bench", ["speed", "--model", "elb", "--runs", "5"], None, "--runs is now --passes"),
    ("bench", ["speed", "--model", "elb-pfcn", "--model", "sinet-eg1800"], None, "trained at different sizes"),
    ("bench", ["speed", "--model", "elb", "--device", "gpu"], None, "'gpu' is not a device"),
    ("bench", ["speed", "--model", "elb", "--precision", "int8"], None, "quantized ONNX file"),
    ("bench", ["speed", "--model", "elb", "--backend", "cudagraphs"], None, "CUDA only"),
    ("bench", ["export", "--model", "elb", "--out", "elb.txt"], None, "must end in .onnx"),
    ("bench", ["export", "--run", "run", "--out", "elb.onnx"], None, "--run is now --model"),
    ("bench", ["export", "--model", "empty", "--out", "elb.onnx"], None, "no checkpoint"),
    ("bench", ["export", "--model", "elb", "--size", "36", "--out", "elb.onnx"], None, "multiple of 8"),
    ("bench", ["speed-report", "--model", "nope"], None, "unknown model 'nope'"),
    ("bench", ["speed-report", "--model", "portraitnet", "--size", "48"], None, "multiple of 32"),
    ("bench", ["speed-report", "--threads", "-1"], None, "--threads"),
    ("bench", ["speed-report", "--device", "cuda:99"], None, "cuda:99"),
    ("bench", ["models", "--size", "7"], None, "multiple of 8"),
    ("bench", ["run-all", "--profile", "nope"], None, "unknown profile 'nope'"),
    ("bench", ["run-all", "--models", "elb,nope", "--pfcn", "data"], None, "unknown model 'nope'"),
    ("bench", ["run-all", "--device", "gpu"], None, "'gpu' is not a device"),
    ("bench", ["run-all", "--pfcn", "mine"], None, "invalid portrait dataset"),
    ("bench", ["tables", "--out", "empty"], None, "results.csv: missing"),
    ("bench", ["eval", "--predictions", "empty"], None, "--predictions needs --data"),
    ("bench", ["eval", "--predictions", "empty", "--data", "data"], None, "missing"),
    ("bench", ["eval", "--predictions", "missing", "--data", "data"], None, "no such predictions folder"),
    ("bench", ["segment", "notes.txt", "--model", "run", "--device", "gpu"], None, "'gpu' is not a device"),
    ("bench", ["segment", "missing.jpg", "--model", "run"], None, "missing.jpg: no such file or folder"),
    ("bench", ["segment", "data/images", "--model", "notes.txt"], None, "notes.txt: not a readable checkpoint"),
    ("bench", ["segment", "data/images", "--model", "run", "--background", "plaid"], None, "background 'plaid'"),
    ("bench", ["segment", "data/images", "--model", "run", "--refine", "sharpen"], None,
     "refinement 'sharpen': expected auto, none, guided"),
    ("bench", ["robustness", "--model", "run", "--data", "missing"], None, "missing: not a folder"),
    ("bench", ["robustness", "--model", "run", "--data", "data", "--kinds", "blurry"], None,
     "unknown perturbation 'blurry'"),
    ("bench", ["video-stability", "--model", "run", "--data", "missing"], None, "missing: not a folder"),
    ("bench", ["video-stability", "--model", "run", "--data", "data", "--clips", "0"], None, "--clips"),
    ("bench", ["segment", "data/images", "--model", "run", "--size", "100"], None, "multiple of 8"),
    ("bench", ["segment", "data/images", "--model", "run", "--out", "/proc/x"], None,
     "cannot create the folder /proc/x: /proc takes no new files or folders"),
    ("bench", ["segment", "data/images", "--model", "run", "--out", "/sys/kernel/x"], None,
     "cannot create the folder /sys/kernel/x"),
    ("bench", ["segment", "clip.mp4", "--model", "run", "--out", "/sys/kernel/x"], None,
     "cannot create the folder /sys/kernel/x"),
    ("bench", ["segment", "data/images", "--model", "run", "--out", "notes.txt/sub"], None,
     "cannot create the folder notes.txt/sub: notes.txt is a file, not a folder"),
    ("bench", ["export", "--model", "elb-pfcn", "--out", "notes.txt/x.onnx"], None,
     "cannot write notes.txt/x.onnx: notes.txt is a file, not a folder"),
    ("bench", ["export", "--model", "elb-pfcn", "--out", "/proc/x.onnx"], None,
     "cannot write /proc/x.onnx: /proc takes no new files or folders"),
    ("bench", ["segment", "data/images", "--model", "elb"], None,
     "elb is a registered model, with random weights, and segment needs trained ones; did you mean elb-pfcn? "
     "(the zoo's trained elb: elb-pfcn, "),
    ("bench", ["segment", "data/images", "--precision", "int8"], None,
     "sinet-eg1800: int8 needs a quantized .onnx file and a zoo weight ships no calibration photos; make one with "
     "`bench export --model sinet-eg1800 --precision int8 --calib-data DATA"),
    ("bench", ["export", "--model", "elb-pfcn", "--opset", "7", "--out", "x.onnx"], None,
     "ONNX export at 256x256, opset 7 failed"),
    ("bench", ["pack", "--data", "empty", "--out", "p.npz"], None, "empty"),
    ("bench", ["pack", "--data", "data", "--out", "p.npz", "--size", "0"], None, "0 is not in the range"),
    ("bench", ["pack", "--data", "bad128", "--out", "p.npz", "--size", "32"], None, "bad128"),
    ("bench", ["record-peer", "empty"], None, "peer.json: missing"),
    ("bench", ["gallery", "--model", "run", "--data", "data", "--peer", "nope"], None, "expected NAME=DIR"),
    ("bench", ["gallery", "--model", "run", "--data", "data", "--count", "0"], None, "--count"),
    ("bench", ["nope"], None, "No such command 'nope'"),
    ("pfcn", ["fetch", "--release", "missing.zip", "--out", "out"], None, "no such file or folder"),
    ("pfcn", ["fetch", "--release", "notes.txt", "--out", "out"], None, "not a readable zip file"),
    ("pfcn", ["fetch", "--release", "release", "--out", "mine", "--offline"], None, "not a portrait dataset"),
    ("pfcn", ["fetch", "--release", "release", "--out", "data", "--offline"], None, "holds a 'tiny' dataset"),
    ("pfcn", ["fetch", "--release", "release", "--out", "notes.txt"], None, "notes.txt"),
    ("pfcn", ["fetch", "--release", "release", "--out", "out", "--workers", "0"], None, "--workers"),
    ("pfcn", ["fetch", "--release", "release", "--out", "out", "--from-dir", "missing"], None, "--from-dir"),
    ("pfcn", ["status", "mine"], None, "no manifest.csv"),
    ("pseg", ["build", "--mhp-root", "mine", "--out", "out"], None, "not an MHP tree"),
    ("pseg", ["build", "--mhp-root", "mhp", "--out", "out", "--size", "0x5"], None, "WIDTHxHEIGHT"),
    ("pseg", ["build", "--mhp-root", "mhp", "--out", "mine"], None, "not a portrait dataset"),
    ("pseg", ["build", "--mhp-root", "mhp-bare", "--out", "out", "--workers", "1"], "out", "no-annotations 1"),
    ("pseg", ["build", "--mhp-root", "mhp", "--out", "out", "--test-fraction", "2"], None, "--test-fraction"),
    ("pseg", ["stats", "mine"], None, "manifest"),
    ("pseg", ["preview", "data", "--out", "sheet.png", "--split", "val"], None, "no such split"),
    ("pseg", ["preview", "data", "--out", "sheet.png", "-n", "0"], None, "--count"),
]


def _snapshot(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): ("dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest())
            for p in root.rglob("*")}


@pytest.mark.parametrize(("tool", "args", "own", "expected"), CASES, ids=[" ".join([c[0], *c[1]]) for c in CASES])
def test_a_bad_input_is_one_line_of_error_and_touches_nothing_else(ws, monkeypatch, tool, args, own, expected):
    monkeypatch.chdir(ws)
    before = _snapshot(ws)
    r = CliRunner().invoke(TOOLS[tool], args)
    assert r.exit_code != 0, r.output
    assert isinstance(r.exception, SystemExit), r.exception  # an uncaught exception would be a traceback
    assert "Traceback" not in r.output and "weights_only" not in r.output
    errors = [line for line in r.stderr.splitlines() if line.strip() and not line.startswith(PROGRESS)]
    assert len(errors) == 1 and errors[0].startswith("Error: "), r.stderr
    assert expected in errors[0]
    after = _snapshot(ws)
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    outside = {k for k in changed if own is None or not (k == own or k.startswith(own + "/"))}
    assert not outside, f"{tool} {' '.join(args)} changed {sorted(outside)}"
    if own:
        shutil.rmtree(ws / own)


def test_the_table_covers_every_command_with_enough_cases():
    covered = {(tool, args[0]) for tool, args, _, _ in CASES}
    every = {(tool, name) for tool, group in TOOLS.items() for name in group.commands}
    assert every <= covered and len(CASES) >= 30


def test_a_bug_in_our_code_shows_its_traceback_and_a_user_error_does_not(ws):
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    base = [sys.executable, "-m", "bench", "train", "--data", str(ws / "data"), "--epochs", "1", "--size", "32",
            "--out", str(ws / "bug-run"), "--no-progress"]
    bug = subprocess.run([*base, "--model", "tests.bench.helpers:broken_factory"], capture_output=True, text=True,
                         env=env, timeout=300)
    assert bug.returncode != 0
    assert "Traceback (most recent call last)" in bug.stderr and "ZeroDivisionError: a bug inside" in bug.stderr
    assert not any(line.startswith("Error: ") for line in bug.stderr.splitlines())
    user = subprocess.run([*base, "--model", "tests.bench.helpers:no_such_factory"], capture_output=True, text=True,
                          env=env, timeout=300)
    assert user.returncode == 1 and "Traceback" not in user.stderr
    assert user.stderr.strip().splitlines() == [line for line in user.stderr.strip().splitlines()
                                                if line.startswith("Error: model factory")]
