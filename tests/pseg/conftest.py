"""Small synthetic LV-MHP-v1 and v2 trees with the faults the builder must survive, and builds of them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from pseg.build import BuildOptions, build_pseg
from pseg.fake_mhp import SynthImage, SynthPerson, render, v2_annotation, write_tree

W, H = 160, 120
OPTIONS = BuildOptions(seed=3, test_fraction=0.3, size=(48, 64), min_head=12)


def _normal(i: int, n: int = 2) -> list[SynthPerson]:
    return [SynthPerson(cx=(j + 0.5) * W / n + 3 * ((i + j) % 3 - 1), top=10 + 4 * ((i * 3 + j) % 4),
                        head_h=22 + 3 * ((i + 2 * j) % 4), hat=(i + j) % 3 == 0, glasses=(i + j) % 4 == 1)
            for j in range(n)]


def v1_specs() -> list[SynthImage]:
    s = [
        SynthImage("0001", W, H, _normal(1, 3)),
        SynthImage("0002", W, H, [SynthPerson(30, 0, 24),           # head at the top border: cut
                                  SynthPerson(4, 20, 24),           # head beyond the left border: cut
                                  SynthPerson(146, 2, 26, hat=True)]),  # near the corner: kept, shifted
        SynthImage("0003", W, H, [SynthPerson(40, 20, 8), SynthPerson(110, 15, 26)]),  # a tiny head
        SynthImage("0004", W, H, [SynthPerson(62, 12, 26), SynthPerson(92, 22, 24)]),  # overlapping persons
        SynthImage("0005", W, H, _normal(5)),   # image made undecodable below
        SynthImage("0006", W, H, _normal(6)),   # image removed below
        SynthImage("0007", W, H, _normal(7)),   # person 2 annotation of another size
        SynthImage("0008", W, H, _normal(8)),   # plus two badly named files
        SynthImage("0009", W, H, [SynthPerson(60, 15, 26), SynthPerson(20, 15, 22), SynthPerson(140, 15, 22),
                                  SynthPerson(98, 25, 24)]),  # 2 empty, 3 a 0-byte file, 4 an ignore region
        SynthImage("0010", W, H, _normal(10)),  # its annotations removed: listed, none
    ]
    s += [SynthImage(f"{i:04d}", W, H, _normal(i, 2 + i % 2)) for i in range(11, 17)]
    return s


def v2_specs() -> list[SynthImage]:
    s = [SynthImage(str(i), W, H, _normal(i, 2 + i % 2), "val" if i % 3 == 0 else "train")
         for i in range(1, 11)]
    s[1].persons = [SynthPerson(40, 0, 24), SynthPerson(110, 20, 7)]  # 2: a cut head and a tiny one
    return s


def _png(path: Path, arr: np.ndarray) -> None:
    ok, buf = cv2.imencode(".png", arr)
    assert ok
    path.write_bytes(buf.tobytes())


@pytest.fixture(scope="session")
def v1_tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mhp1")
    top = write_tree(root, v1_specs(), "v1", seed=5)
    ann = top / "annotations"
    (top / "images" / "0005.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (top / "images" / "0006.jpg").unlink()
    _png(ann / "0007_02_02.png", np.zeros((H - 10, W), np.uint8))
    (ann / "0008_02_x1.png").write_bytes((ann / "0008_02_01.png").read_bytes())
    (ann / "0008-02-03.png").write_bytes(b"")
    _png(ann / "0009_04_02.png", np.zeros((H, W), np.uint8))
    (ann / "0009_04_03.png").write_bytes(b"")
    ignore = cv2.imread(str(ann / "0009_04_04.png"), cv2.IMREAD_UNCHANGED)
    _png(ann / "0009_04_04.png", np.where(ignore > 0, 255, 0).astype(np.uint8))
    for p in ann.glob("0010_*.png"):
        p.unlink()
    return root


@pytest.fixture(scope="session")
def v2_tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mhp2")
    top = write_tree(root, v2_specs(), "v2", seed=5, four_channel={"4", "5", "6"})
    (top / "train" / "images" / "7.jpg").write_bytes(b"not a jpeg")
    (top / "train" / "parsing_annos" / "8_02_01 (copy).png").write_bytes(b"")
    (top / "train" / "pose_annos" / "10.mat").unlink()
    return top  # the version folder itself


def build(tree: Path, out: Path, workers: int = 1, **changes) -> Path:
    opts = BuildOptions(**{**OPTIONS.__dict__, **changes})
    build_pseg(tree, out, opts, workers=workers, progress=False)
    return out


@pytest.fixture(scope="session")
def v1_built(v1_tree, tmp_path_factory) -> Path:
    return build(v1_tree, tmp_path_factory.mktemp("pseg1") / "out", workers=2)


@pytest.fixture(scope="session")
def v2_built(v2_tree, tmp_path_factory) -> Path:
    return build(v2_tree, tmp_path_factory.mktemp("pseg2") / "out", workers=2)


def rerender(spec: SynthImage, version: str) -> list[np.ndarray]:
    """The person class maps the tree was written from (before any fault was injected)."""
    return render(spec, version, seed=5)[1]


__all__ = ["W", "H", "OPTIONS", "v1_specs", "v2_specs", "build", "rerender", "v2_annotation"]
