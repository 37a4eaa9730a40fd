"""scripts/paper_cpu_run.sh's way across machines, in a scratch repository with a stand-in trainer: --keep puts a
checkpoint into git history without leaving it in any later tree, refuses past its budget, and a machine without the
worktree's checkpoint (a fresh clone) continues from the blob the JSON names, after checking its sha256."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("git") is None or shutil.which("bash") is None,
                                reason="needs git and bash")

# Stands in for the pinned worktree's `bench`: `train` notes the checkpoint it was handed and finishes; `eval` writes
# the metrics files the script waits for.
FAKE_BENCH = """#!/usr/bin/env bash
set -e
out=; run=
while [ $# -gt 0 ]; do case $1 in --out) out=$2; shift;; --run) run=$2; shift;; esac; shift; done
if [ -n "$out" ]; then
  if [ -n "${FAKE_TRAIN_FAILS:-}" ]; then echo "killed mid-run"; exit 1; fi
  if [ -f "$out/checkpoint.pt" ]; then sha256sum "$out/checkpoint.pt" | cut -d' ' -f1 >"$out/resumed_from"; fi
  echo '{"model": "erfnet"}' >"$out/config.json"
else
  echo '{"miou": 0.9}' >"$run/metrics.json"; echo '{"miou": 0.9}' >"$run/metrics_native.json"
fi
"""


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


def _script(repo: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(repo / "scripts/paper_cpu_run.sh"), *args], capture_output=True, text=True,
                          env={**os.environ, "RECORD_EVERY": "1", **env}, timeout=120)


def _venv(folder: Path, bench: bool = False) -> None:
    (folder / ".venv/bin").mkdir(parents=True)
    (folder / ".venv/bin/python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')  # this venv's torch
    (folder / ".venv/bin/python").chmod(0o755)
    (folder / ".venv/.installed").touch()
    if bench:
        (folder / ".venv/bin/bench").write_text(FAKE_BENCH)
        (folder / ".venv/bin/bench").chmod(0o755)


@pytest.fixture
def repo(tmp_path):
    """A main checkout holding the script, with its own history, a dataset marker and a worktree's checkpoint."""
    main = tmp_path / "main"
    (main / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts/paper_cpu_run.sh", main / "scripts")
    (main / ".gitignore").write_text("checkpoints/*.pt\n.venv/\ndata/\nruns/\n")
    _git(tmp_path, "init", "-q", "-b", "main", str(main))
    _git(main, "config", "user.email", "t@example.org")
    _git(main, "config", "user.name", "t")
    _git(main, "add", ".")
    _git(main, "commit", "-q", "-m", "the script")
    (main / "data/pfcn").mkdir(parents=True)
    (main / "data/pfcn/dataset.json").write_text("{}")
    _venv(main)
    return main


def _pinned_worktree(main: Path, commit: str) -> Path:
    """The worktree the script trains from, beside `main`, with the stand-in `bench` in its venv."""
    worktree = main.parent / f"paper-run-{commit[:7]}"
    _git(main, "worktree", "add", "-q", "--detach", str(worktree), commit)
    _venv(worktree, bench=True)
    return worktree


def _layout_timing(main: Path, settings: dict) -> Path:
    """ERFNet's record folder with a timing record, so the script chooses a layout without timing one."""
    record = main / "reports/paper/runs/pfcn/erfnet"
    record.mkdir(parents=True)
    (record / "layout_timing.json").write_text(json.dumps({"models": {"erfnet": settings}}))
    return record


FP32 = {"fp32": {"median": 1.0, "amp": "off", "channels_last": False}}


def _checkpoint(repo: Path, commit: str, epoch: int) -> Path:
    run = repo.parent / f"paper-run-{commit[:7]}/runs/paper/pfcn/erfnet"
    run.mkdir(parents=True, exist_ok=True)
    torch.save({"epoch": epoch, "model": {"w": torch.full((1000,), float(epoch))}}, run / "checkpoint.pt")
    return run / "checkpoint.pt"


def test_keep_puts_the_checkpoint_in_history_and_not_in_the_tree(repo):
    commit = _git(repo, "rev-parse", "HEAD")
    saved = _checkpoint(repo, commit, epoch=27)
    done = _script(repo, "--keep", "erfnet", BASELINE_COMMIT=commit)
    assert done.returncode == 0, done.stderr
    meta = json.loads((repo / "checkpoints/paper-erfnet.json").read_text())
    assert meta["epochs_done"] == 27 and meta["sha256"] == hashlib.sha256(saved.read_bytes()).hexdigest()
    assert "checkpoints/paper-erfnet.pt" not in _git(repo, "ls-tree", "-r", "--name-only", "HEAD").split()
    assert _git(repo, "rev-parse", "HEAD~1:checkpoints/paper-erfnet.pt") == meta["git_blob"]
    assert _git(repo, "status", "--porcelain") == ""  # both commits made, nothing left half-done
    blob = subprocess.run(["git", "-C", str(repo), "cat-file", "blob", meta["git_blob"]], capture_output=True,
                          check=True).stdout
    assert blob == saved.read_bytes()

    again = _script(repo, "--keep", "erfnet", BASELINE_COMMIT=commit)  # nothing new: no third commit
    assert again.returncode == 0 and "already" in again.stdout
    assert _git(repo, "rev-list", "--count", "HEAD") == "3"


def test_keep_refuses_past_the_budget_and_commits_nothing(repo):
    commit = _git(repo, "rev-parse", "HEAD")
    size = _checkpoint(repo, commit, epoch=5).stat().st_size
    refused = _script(repo, "--keep", "erfnet", BASELINE_COMMIT=commit, KEEP_BUDGET=str(size - 1))
    assert refused.returncode == 3 and "does not fit the resume budget" in refused.stderr
    assert _git(repo, "rev-list", "--count", "HEAD") == "1"
    assert not (repo / "checkpoints/paper-erfnet.json").exists()


def test_a_fresh_clone_continues_from_the_kept_blob(repo, tmp_path):
    commit = _git(repo, "rev-parse", "HEAD")
    saved = _checkpoint(repo, commit, epoch=27)
    assert _script(repo, "--keep", "erfnet", BASELINE_COMMIT=commit).returncode == 0

    machine = tmp_path / "new-machine"  # a clone of main: no worktree, no ignored files
    subprocess.run(["git", "clone", "-q", str(repo), str(machine / "main")], check=True)
    clone = machine / "main"
    (clone / "data/pfcn").mkdir(parents=True)
    (clone / "data/pfcn/dataset.json").write_text("{}")
    _venv(clone)
    worktree = _pinned_worktree(clone, commit)
    record = _layout_timing(clone, {"bf16-cl": {"median": 3.0, "amp": "bf16", "channels_last": True}, **FP32})

    done = _script(clone, "erfnet", BASELINE_COMMIT=commit)
    assert done.returncode == 0, done.stderr
    run = worktree / "runs/paper/pfcn/erfnet"
    assert (run / "resumed_from").read_text().strip() == hashlib.sha256(saved.read_bytes()).hexdigest()
    assert (record / "metrics_native.json").is_file()
    log = (clone / "runs/paper-cpu-erfnet.log").read_text()
    assert "restored the committed checkpoint" in log and "--amp bf16 --channels-last" in log


def test_each_session_records_only_its_own_lines_of_the_log(repo):
    commit = _git(repo, "rev-parse", "HEAD")
    _pinned_worktree(repo, commit)
    record = _layout_timing(repo, FP32)

    first = _script(repo, "erfnet", BASELINE_COMMIT=commit, PAPER_SESSION="first", FAKE_TRAIN_FAILS="1")
    assert first.returncode == 1
    second = _script(repo, "erfnet", BASELINE_COMMIT=commit, PAPER_SESSION="second")
    assert second.returncode == 0, second.stderr

    one, two = ((record / f"session-{s}.log").read_text() for s in ("first", "second"))
    assert "killed mid-run" in one and "train exited 1" in one
    assert "train exited 0" in two and "killed mid-run" not in two
    assert one + two == (repo / "runs/paper-cpu-erfnet.log").read_text()  # together, the whole log, once


def test_a_damaged_blob_stops_the_run_before_training(repo, tmp_path):
    commit = _git(repo, "rev-parse", "HEAD")
    _checkpoint(repo, commit, epoch=27)
    assert _script(repo, "--keep", "erfnet", BASELINE_COMMIT=commit).returncode == 0
    shutil.rmtree(repo.parent / f"paper-run-{commit[:7]}")  # a new machine: the worktree and its checkpoint are gone
    worktree = _pinned_worktree(repo, commit)
    meta_path = repo / "checkpoints/paper-erfnet.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "sha256": "0" * 64}))
    (repo / "checkpoints/paper-erfnet.pt").unlink()

    stopped = _script(repo, "erfnet", BASELINE_COMMIT=commit)
    assert stopped.returncode == 2 and "does not match" in stopped.stderr
    assert not (worktree / "runs/paper/pfcn/erfnet/config.json").exists()  # the trainer never ran
