"""The README's code runs as it is written there: every Python block, and the quick start's `segment` line.

Nothing is rewritten. Each block runs where the README says it runs: the blocks about `photo.jpg` in a folder
holding such a photo, the torch.hub block in the repository's folder (its `"."`). The quick start's install step
(`make venv`) is the one line not run here: it is what `make test` itself did before the tests.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)


def _photo(path: Path, h: int = 96, w: int = 72) -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
    cv2.ellipse(img, (w // 2, 2 * h // 3), (w // 3, h // 2), 0, 0, 360, (200, 170, 150), -1)
    cv2.imwrite(str(path), img)


def test_the_readme_has_its_python_blocks():
    assert len(PYTHON_BLOCKS) >= 3 and any("torch.hub.load" in b for b in PYTHON_BLOCKS)


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=lambda b: b.strip().splitlines()[-1][:40])
def test_each_python_block_runs_as_written(block, tmp_path, monkeypatch):
    if "torch.hub.load" in block:
        monkeypatch.chdir(ROOT)  # the README: "From the repository's folder"
    else:
        monkeypatch.chdir(tmp_path)
        _photo(tmp_path / "photo.jpg")
    scope: dict[str, object] = {"__name__": "__readme__"}
    exec(compile(block, "README.md", "exec"), scope)
    if "mask" in scope:
        mask = np.asarray(scope["mask"])
        assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1} and mask.shape[:2] == (96, 72)
    if "model" in scope:
        assert scope["model"].card.trained and scope["model"].preprocess.size[0] >= 8


def test_the_quick_start_segment_line_runs_as_written(tmp_path):
    block = README.split("## Quick start", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    lines = [ln.split("  #")[0].strip() for ln in block.splitlines() if ln.strip() and not ln.startswith("make venv")]
    assert len(lines) == 1 and lines[0].startswith(".venv/bin/segment ")
    _photo(tmp_path / "photo.jpg")
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)  # the checkout's venv, as `make venv` made
    r = subprocess.run(shlex.split(lines[0]), cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    mask = cv2.imread(str(tmp_path / "masks" / "photo_mask.png"), cv2.IMREAD_GRAYSCALE)
    cutout = cv2.imread(str(tmp_path / "masks" / "photo_cutout.png"), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (96, 72) and cutout.shape == (96, 72, 4)
