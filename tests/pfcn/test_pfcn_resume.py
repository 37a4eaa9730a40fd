"""A run killed with SIGKILL at any moment and rerun ends with exactly the files of an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pfcn.download import DownloadConfig
from pfcn.fetch import FetchOptions, fetch

ARGS = ["--workers", "2", "--retries", "1", "--timeout", "0.5", "--backoff", "0.01"]
SAME = DownloadConfig(timeout=0.5, retries=1, backoff_base=0.01)  # what ARGS give


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def journal_lines(out: Path) -> int:
    j = out / ".journal.jsonl"
    return j.read_bytes().count(b"\n") if j.exists() else 0


def command(release_zip: Path, out: Path) -> list[str]:
    code = "from pfcn.cli import main; main()"
    return [sys.executable, "-c", code, "fetch", "--release", str(release_zip), "--out", str(out), *ARGS]


def env() -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if "proxy" not in k.lower()}, "NO_PROXY": "127.0.0.1"}


def start(release_zip: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(command(release_zip, out), env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def kill_after(proc: subprocess.Popen, out: Path, lines: int, limit_s: float = 20.0) -> None:
    t0 = time.monotonic()
    while journal_lines(out) < lines and proc.poll() is None and time.monotonic() - t0 < limit_s:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"


def test_sigkill_and_rerun_is_byte_identical(release, servers, tmp_path):
    farm, live = servers
    for route in list(farm.routes.values()) + list(live.routes.values()):  # slow every photo down a little
        route.answers = [("delayed", a[1], 0.08) if a[0] == "ok" else a for a in route.answers]

    out = tmp_path / "killed"
    kill_after(start(release.zip, out), out, 3)
    first = journal_lines(out)
    kill_after(start(release.zip, out), out, first + 4)
    assert not (out / "dataset.json").exists()
    done = subprocess.run(command(release.zip, out), env=env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "recovered 8 of 18 linked photos" in done.stdout

    ref = tmp_path / "reference"
    fetch(release.zip, ref, FetchOptions(workers=2, download=SAME, progress=False))
    a, b = tree(out), tree(ref)
    assert sorted(a) == sorted(b)
    assert [k for k in a if a[k] != b[k]] == []
    assert "manifest.csv" in a and "images/00001.jpg" in a and "raw/00001.jpg" in a
