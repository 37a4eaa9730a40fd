"""Off-the-shelf peers: the MediaPipe script in its own environment (skipped without it) and reports/peers.csv."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli.main import main
from bench.data.format import read_dataset
from bench.eval.predictions import PredictionError
from bench.report.peers import COLUMNS, record_peer

ROOT = Path(__file__).resolve().parents[2]
PEERS_PYTHON = ROOT / ".venv-peers" / "bin" / "python"


def fake_peer(portrait_data, out: Path, name: str = "peer-a") -> Path:
    """A peer folder as a peer script leaves it: masks (the truth) and peer.json."""
    ds = read_dataset(portrait_data)
    out.mkdir(parents=True)
    for sid in ds.ids("test"):
        cv2.imwrite(str(out / f"{sid}.png"), (ds.load_mask(sid) == 1).astype(np.uint8) * 255)
    stats = {"fps": 100.0, "fps_p10": 90.0, "fps_p90": 110.0, "fps_iqr": 5.0, "ms_median": 10.0}
    info = {"peer": name, "paper_name": "Peer A", "kind": "off-the-shelf", "input_size": [256, 128],
            "runtime": "x 1.0", "dataset": ds.name, "split": "test", "images": 4, "device": "cpu",
            "device_name": "a cpu", "cpu_count": 2, "date": "2025-01-01",
            "latency": {"at_model_input": stats, "at_photo": stats, "photo_size": [80, 60], "batch_size": 1,
                        "warmup": 10, "runs": 50}}
    (out / "peer.json").write_text(json.dumps(info))
    return out


def test_record_peer_joins_metrics_and_latency_and_replaces_its_row(portrait_data, tmp_path):
    a = fake_peer(portrait_data, tmp_path / "a")
    with pytest.raises(PredictionError, match=r"metrics_tiny_test.json: missing; run `bench eval --predictions"):
        record_peer(a, tmp_path / "peers.csv")
    assert CliRunner().invoke(main, ["eval", "--predictions", str(a), "--data", str(portrait_data)]).exit_code == 0
    b = fake_peer(portrait_data, tmp_path / "b", "peer-b")
    CliRunner().invoke(main, ["eval", "--predictions", str(b), "--data", str(portrait_data)])
    out = tmp_path / "peers.csv"
    r = CliRunner().invoke(main, ["record-peer", str(b), "--csv", str(out)])
    assert r.exit_code == 0, r.output
    record_peer(a, out)
    record_peer(a, out)  # again: replaced, not duplicated
    rows = list(csv.DictReader(open(out)))
    assert [r["model"] for r in rows] == ["peer-a", "peer-b"] and tuple(rows[0]) == COLUMNS
    assert (rows[0]["miou"], rows[0]["boundary_f"], rows[0]["input_hw"], rows[0]["kind"]) == \
        ("100.0", "100.0", "256x128", "off-the-shelf")
    r = CliRunner().invoke(main, ["record-peer", str(tmp_path / "none"), "--csv", str(out)])
    assert r.exit_code == 1 and "peer.json: missing" in r.output


# runs the peer script in the peers environment, then reports whether anything imported torch
PROBE = """import runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as e:
    if e.code:
        raise
print("torch imported:", "torch" in sys.modules)
"""


def run_peer(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(PEERS_PYTHON), "-c", PROBE, str(ROOT / "peers" / "mediapipe_selfie.py"), *args],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(not PEERS_PYTHON.exists(), reason="the peers environment is absent (make peers)")
def test_mediapipe_peer_writes_scorable_masks_and_latency_without_torch(portrait_data, tmp_path):
    out = tmp_path / "mp"
    r = run_peer("--data", str(portrait_data), "--out", str(out), "--warmup", "1", "--runs", "3")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("torch imported: False")
    info = json.loads((out / "peer.json").read_text())
    assert info["input_size"] == [256, 256] and info["images"] == 4 and info["latency"]["runs"] == 3
    assert info["latency"]["at_model_input"]["ms_median"] > 0 and "mediapipe 0.10.21" in info["runtime"]
    ds = read_dataset(portrait_data)
    for sid in ds.ids("test"):
        m = cv2.imread(str(out / f"{sid}.png"), cv2.IMREAD_UNCHANGED)
        assert m.shape == ds.load_mask(sid).shape and set(np.unique(m)) <= {0, 255}
    r = CliRunner().invoke(main, ["eval", "--predictions", str(out), "--data", str(portrait_data)])
    assert r.exit_code == 0, r.output
    assert record_peer(out, tmp_path / "peers.csv")["model"] == "mediapipe-selfie-general"


@pytest.mark.skipif(not PEERS_PYTHON.exists(), reason="the peers environment is absent (make peers)")
def test_mediapipe_peer_names_a_bad_dataset(tmp_path):
    r = run_peer("--data", str(tmp_path / "none"), "--out", str(tmp_path / "o"))
    assert r.returncode == 1 and "none: not a folder" in r.stderr
