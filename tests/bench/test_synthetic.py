"""The synthetic portrait set: deterministic, valid, resumable, and its masks are exactly its drawings."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.data import synthetic
from bench.data.format import DatasetError, read_dataset, validate
from bench.data.synthetic import HEAD, Figure, figure_parts, make_synthetic, paint_figure, render_sample

SIZE = (64, 80)  # (W, H), 3:4 like the default, small for speed


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _figure(**overrides: object) -> Figure:
    base = dict(cx=80.0, cy=60.0, head_a=20.0, head_b=26.0, tilt=0.0, neck_w=10.0, shoulder_y=95.0,
                shoulder_w=50.0, torso_w=55.0, torso_h=80.0, torso="ellipse", hair=False, skin=(230, 180, 140),
                hair_colour=(40, 30, 20), cloth=(200, 30, 30), cloth_pattern="plain")
    base.update(overrides)
    return Figure(**base)


def test_same_seed_gives_byte_identical_valid_datasets(tmp_path: Path) -> None:
    a = make_synthetic(tmp_path / "a", n_train=6, n_test=3, size=SIZE, seed=3)
    b = make_synthetic(tmp_path / "b", n_train=6, n_test=3, size=SIZE, seed=3)
    assert a == tmp_path / "a"
    assert _files(a) == _files(b)
    assert validate(a, full=True) == []
    ds = read_dataset(a, full=True)
    assert len(ds.ids("train")) == 6 and len(ds.ids("test")) == 3
    assert ds.meta["name"] == "synthetic" and ds.meta["created_by"] == "bench.data.synthetic"
    assert ds.meta["image_format"] == "jpg"
    assert ds.meta["params"] == {"seed": 3, "n_train": 6, "n_test": 3, "width": 64, "height": 80,
                                 "generator_version": synthetic.GENERATOR_VERSION}
    image, mask = ds.load_image(ds.ids("test")[0]), ds.load_mask(ds.ids("test")[0])
    assert image.shape == (80, 64, 3) and mask.shape == (80, 64)
    assert set(np.unique(mask)) <= {0, 1}
    manifest = ds.manifest()
    assert set(manifest["n_figures"].astype(int)) <= {1, 2, 3}
    c = make_synthetic(tmp_path / "c", n_train=6, n_test=3, size=SIZE, seed=4)
    assert _files(c) != _files(a)


def test_finished_dataset_is_not_rewritten(tmp_path: Path) -> None:
    root = make_synthetic(tmp_path / "s", n_train=3, n_test=2, size=SIZE)
    stamps = {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}
    assert make_synthetic(root, n_train=3, n_test=2, size=SIZE) == root
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()} == stamps


def test_interrupted_build_resumes_to_the_same_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clean = make_synthetic(tmp_path / "clean", n_train=5, n_test=2, size=SIZE)
    real = synthetic.render_sample
    calls: list[int] = []

    def dying(seed: int, index: int, size: tuple[int, int]) -> synthetic.Sample:
        if index == 4:
            raise KeyboardInterrupt  # killed part-way
        calls.append(index)
        return real(seed, index, size)

    monkeypatch.setattr(synthetic, "render_sample", dying)
    with pytest.raises(KeyboardInterrupt):
        make_synthetic(tmp_path / "resumed", n_train=5, n_test=2, size=SIZE)
    assert not (tmp_path / "resumed" / "dataset.json").exists()
    calls.clear()
    monkeypatch.setattr(synthetic, "render_sample", lambda s, i, z: (calls.append(i), real(s, i, z))[1])
    make_synthetic(tmp_path / "resumed", n_train=5, n_test=2, size=SIZE)
    assert calls == [4, 5, 6]  # the finished samples were not redone
    assert _files(tmp_path / "resumed") == _files(clean)


def test_folder_with_another_build_is_refused(tmp_path: Path) -> None:
    root = make_synthetic(tmp_path / "s", n_train=2, n_test=1, size=SIZE, seed=0)
    with pytest.raises(DatasetError, match="other parameters"):
        make_synthetic(root, n_train=2, n_test=1, size=SIZE, seed=1)
    meta = json.loads((root / "dataset.json").read_text())
    assert meta["params"]["seed"] == 0  # untouched


@pytest.mark.parametrize("kwargs", [{"n_train": 0}, {"n_test": 0}, {"size": (16, 200)}])
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        make_synthetic(tmp_path / "s", **kwargs)
    assert not (tmp_path / "s").exists()


def test_mask_is_exactly_where_a_figure_was_drawn() -> None:
    """Paint one figure on a flat background: the changed pixels are exactly its parts."""
    size = (160, 208)
    parts = figure_parts(_figure(hair=True, torso="trapezoid"), size)
    canvas = np.zeros((208, 160, 3), np.float32)
    canvas[:] = (0, 0, 255)
    paint_figure(canvas, parts, _figure(hair=True, torso="trapezoid"))
    drawn = np.any(canvas != np.array((0, 0, 255), np.float32), axis=2)
    assert np.array_equal(drawn, parts > 0)
    assert set(np.unique(parts)) == {0, 1, 2, 3, 4}  # torso, neck, head, hair all visible


def test_shapes_have_their_analytic_areas() -> None:
    size = (200, 260)
    fig = _figure(cx=100.0, cy=60.0, head_a=24.0, head_b=31.0, shoulder_y=100.0, shoulder_w=60.0, torso_w=60.0,
                  torso_h=120.0)
    parts = figure_parts(fig, size)
    # A filled shape covers the pixels whose centres lie within it, its outline included: half a pixel more
    # on each side than the geometric shape.
    head = np.count_nonzero(parts == HEAD)
    assert set(np.unique(parts[: int(fig.cy)])) == {0, HEAD}  # crisp edges: no blended labels above the neck
    assert head == pytest.approx(math.pi * 24.5 * 31.5, rel=0.02)
    ry = 0.6 * fig.shoulder_w  # shoulders: upper half of an ellipse, then a rectangle down to the torso's bottom
    torso = math.pi * (fig.torso_w + 0.5) * (ry + 0.5) / 2 + (2 * fig.torso_w + 1) * (fig.torso_h - ry)
    assert np.count_nonzero(parts == synthetic.TORSO) == pytest.approx(torso, rel=0.02)
    n, _ = cv2.connectedComponents((parts > 0).astype(np.uint8), connectivity=4)
    assert n == 2  # one figure is one connected shape


def test_rendered_samples_hold_one_to_three_figures() -> None:
    counts, touches_side, fractions = set(), 0, []
    for index in range(40):
        s = render_sample(7, index, (96, 124))
        assert s.image.shape == (124, 96, 3) and s.image.dtype == np.uint8
        assert np.array_equal(s.mask, (s.instances > 0).astype(np.uint8))
        ids = set(np.unique(s.instances)) - {0}
        assert ids == set(range(1, len(s.figures) + 1))  # every kept figure is visible
        assert 1 <= len(s.figures) <= 3
        for i, fig in enumerate(s.figures, start=1):
            layer = figure_parts(fig, (96, 124)) > 0
            assert np.all(layer[s.instances == i])  # an instance's pixels are its drawing
            n, _ = cv2.connectedComponents(layer.astype(np.uint8), connectivity=4)
            assert n == 2
        n_union, _ = cv2.connectedComponents(s.mask, connectivity=8)
        assert 1 <= n_union - 1 <= len(s.figures)
        counts.add(len(s.figures))
        touches_side += bool(s.mask[:, 0].any() or s.mask[:, -1].any())
        fractions.append(s.mask.mean())
        # Before blur and noise, the painted figures differ from the final image only by a little.
        assert np.abs(s.image.astype(int) - s.sharp.astype(int)).mean() < 12
    assert counts == {1, 2, 3}
    assert touches_side >= 5  # some figures are cut by the image border
    assert 0.1 < min(fractions) and max(fractions) < 0.9


def test_render_is_deterministic_per_index() -> None:
    a, b = render_sample(1, 5), render_sample(1, 5)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    assert not np.array_equal(render_sample(1, 6).image, a.image)
    assert a.image.shape == (208, 160, 3)  # default size is (W, H) = (160, 208)
