"""The PSEG build on generated MHP trees: crops, masks, split, faults, determinism, resume."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import pseg.build as build_mod
from bench.data.format import read_dataset, validate

from .conftest import OPTIONS, build

# Written out from docs/datasets.md on purpose (not imported from pseg.classes), so a wrong table fails here.
HEAD = {"v1": {1, 2, 3, 11}, "v2": {1, 2, 3, 4, 39, 47, 48}}
UPPER = {"v1": {4, 7, 14, 15, 17, 18},
         "v2": {5, 6, 10, 11, 12, 13, 14, 15, 16, 34, 35, 36, 37, 38, 50, 55, 57}}


def manifest(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "manifest.csv", newline="") as f:
        return {r["id"]: r for r in csv.DictReader(f)}


def person_files(tree: Path, version: str, row: dict[str, str]) -> dict[int, np.ndarray]:
    """Class maps of every person of the row's image, read independently (PIL for v2: R is band 0)."""
    image = row["source_image"]
    if version == "v1":
        folder = tree / "LV-MHP-v1" / "annotations"
    else:
        folder = tree / row["subset"] / "parsing_annos"
    out = {}
    for p in sorted(folder.glob(f"{image}_*_*.png")):
        m = re.fullmatch(rf"{image}_\d\d_(\d\d)", p.stem)
        if not m:
            continue
        k = int(m.group(1))
        if p.stat().st_size == 0:
            continue  # an empty person file: no pixels
        if version == "v1":
            out[k] = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        else:
            out[k] = np.asarray(Image.open(p))[:, :, 0]
    return out


def check_kept_crops(tree: Path, out: Path, version: str) -> int:
    rows = [r for r in manifest(out).values() if r["status"] == "ok"]
    assert rows
    w, h = OPTIONS.size
    for r in rows:
        maps = person_files(tree, version, r)
        x0, y0, x1, y1 = (int(r[c]) for c in ("x0", "y0", "x1", "y1"))
        subject = maps[int(r["person"])]
        assert 0 <= x0 < x1 <= subject.shape[1] and 0 <= y0 < y1 <= subject.shape[0]
        assert abs((x1 - x0) / (y1 - y0) - w / h) < 1.5 / (y1 - y0)  # 3:4 to within a pixel
        ys, xs = np.nonzero(np.isin(subject, list(HEAD[version])))
        assert xs.min() >= x0 and xs.max() < x1 and ys.min() >= y0 and ys.max() < y1, r["id"]
        upper = np.isin(subject[y0:y1, x0:x1], list(UPPER[version]))
        assert upper.any(), f"{r['id']}: no upper body in the box"
        assert ys.max() + 1 < y1, f"{r['id']}: the box stops at the chin"
        union = np.zeros_like(subject)
        for m in maps.values():
            union[(m == 255) & (union == 0)] = 255
        for m in maps.values():
            union[(m > 0) & (m != 255)] = 1
        want = cv2.resize(union[y0:y1, x0:x1], (w, h), interpolation=cv2.INTER_NEAREST)
        got = cv2.imread(str(out / "masks" / f"{r['id']}.png"), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(got, want, err_msg=r["id"])
        img = cv2.imread(str(out / "images" / f"{r['id']}.jpg"))
        assert img.shape == (h, w, 3)
    return len(rows)


def test_v1_every_kept_crop_holds_the_head_some_upper_body_and_the_union_mask(v1_tree, v1_built):
    assert validate(v1_built) == []
    assert check_kept_crops(v1_tree, v1_built, "v1") >= 20


def test_v2_every_kept_crop_holds_the_head_some_upper_body_and_the_union_mask(v2_tree, v2_built):
    assert validate(v2_built) == []
    assert check_kept_crops(v2_tree, v2_built, "v2") >= 15


def test_crops_with_two_persons_mask_both(v1_built):
    rows = manifest(v1_built)
    assert int(rows["0004_01"]["persons_in_crop"]) == 2
    mask = cv2.imread(str(v1_built / "masks" / "0004_01.png"), cv2.IMREAD_UNCHANGED)
    assert 0.2 < float(rows["0004_01"]["coverage"]) == pytest.approx(np.mean(mask == 1), abs=1e-6)


def test_ignore_person_pixels_are_255_in_the_mask(v1_built):
    rows = manifest(v1_built)
    assert rows["0009_04"]["status"] == "skipped" and rows["0009_04"]["detail"].startswith("ignore-person")
    mask = cv2.imread(str(v1_built / "masks" / "0009_01.png"), cv2.IMREAD_UNCHANGED)
    assert (mask == 255).any() and (mask == 1).any()  # person 4 stands beside person 1


def test_split_is_grouped_by_image_and_sized_by_the_test_fraction(v1_built):
    rows = manifest(v1_built).values()
    by_image: dict[str, set[str]] = {}
    for r in rows:
        if r["source_image"] and not r["id"].startswith("badfile-"):
            by_image.setdefault(r["source_image"], set()).add(r["split"])
    assert all(len(s) == 1 for s in by_image.values())
    test_images = [i for i, s in by_image.items() if s == {"test"}]
    assert len(test_images) == round(OPTIONS.test_fraction * 16)
    ds = read_dataset(v1_built)
    assert set(ds.ids("train")).isdisjoint(ds.ids("test")) and ds.ids("test")


FAULTS_V1 = {
    "0002_01": "head-cut", "0002_02": "head-cut", "0003_01": "head-too-small",
    "0005_01": "undecodable-image", "0005_02": "undecodable-image",
    "0006_01": "missing-image", "0006_02": "missing-image",
    "0007_02": "size-mismatch", "0007_01": "sibling-unusable",
    "0009_02": "empty-person", "0009_03": "empty-person", "0009_04": "ignore-person",
    "0010_00": "no-annotations",
}


def test_v1_faults_are_skipped_rows_with_their_reason(v1_built):
    rows = manifest(v1_built)
    for sid, reason in FAULTS_V1.items():
        assert rows[sid]["status"] == "skipped", sid
        assert rows[sid]["detail"].split(":")[0] == reason, (sid, rows[sid]["detail"])
    assert "0005.jpg" in rows["0005_01"]["detail"] and "0007_02_02.png" in rows["0007_02"]["detail"]
    bad = {r["source"]: r for r in rows.values() if r["id"].startswith("badfile-")}
    assert set(bad) == {"annotations/0008_02_x1.png", "annotations/0008-02-03.png"}
    assert all(r["detail"].startswith("malformed-name") and r["source_image"] == "0008" for r in bad.values())
    assert rows["0002_03"]["status"] == "ok"  # head 1 px from the corner: the box is shifted inside
    assert rows["0008_01"]["status"] == "ok"  # a bad sibling name does not spoil the image
    assert not [r for r in rows.values() if r["detail"].startswith("internal-error")]


def test_v2_faults_tiny_heads_and_pose_faces_matched_by_overlap(v2_tree, v2_built):
    rows = manifest(v2_built)
    assert rows["2_01"]["detail"].startswith("head-cut")
    assert rows["2_02"]["detail"].startswith("head-too-small")
    assert rows["7_01"]["detail"].startswith("undecodable-image")
    bad = [r for r in rows.values() if r["id"].startswith("badfile-")]
    assert len(bad) == 1 and bad[0]["source_image"] == "8" and bad[0]["detail"].startswith("malformed-name")
    face_class = 3
    for r in rows.values():
        if r["status"] != "ok":
            continue
        if r["source_image"] == "10":  # its pose file was removed: no face box, crop still made
            assert r["face_x0"] == ""
            continue
        face = person_files(v2_tree, "v2", r)[int(r["person"])] == face_class
        ys, xs = np.nonzero(face)
        assert [int(r[c]) for c in ("face_x0", "face_y0", "face_x1", "face_y1")] == \
            [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], r["id"]


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_outputs_are_byte_identical_for_any_worker_count(v1_tree, v1_built, tmp_path):
    one = build(v1_tree, tmp_path / "one", workers=1)
    assert tree_bytes(one) == tree_bytes(v1_built)


def test_rerun_after_an_interrupt_finishes_the_rest_and_matches_a_clean_build(v1_tree, v1_built, tmp_path,
                                                                               monkeypatch):
    real = build_mod.process_image
    seen = []

    def dies_after_five(job):
        if len(seen) == 5:
            raise KeyboardInterrupt
        seen.append(job.image.image_id)
        return real(job)

    monkeypatch.setattr(build_mod, "process_image", dies_after_five)
    with pytest.raises(KeyboardInterrupt):
        build(v1_tree, tmp_path / "out", workers=1)
    assert not (tmp_path / "out" / "dataset.json").exists()
    monkeypatch.setattr(build_mod, "process_image", real)
    summary = build_mod.build_pseg(v1_tree, tmp_path / "out", OPTIONS, workers=1, progress=False)
    assert summary.images_processed == summary.images - 5
    assert tree_bytes(tmp_path / "out") == tree_bytes(v1_built)
    again = build_mod.build_pseg(v1_tree, tmp_path / "out", OPTIONS, workers=1, progress=False)
    assert again.images_processed == 0


def test_per_image_keeps_one_eligible_person_chosen_by_the_seed(v1_tree, v1_built, tmp_path):
    out = build(v1_tree, tmp_path / "img", workers=1, per="image")
    per_person, per_image = manifest(v1_built), manifest(out)
    kept: dict[str, list[str]] = {}
    for r in per_image.values():
        if r["status"] == "ok":
            kept.setdefault(r["source_image"], []).append(r["id"])
            assert r["x0"] == per_person[r["id"]]["x0"] and r["y1"] == per_person[r["id"]]["y1"]
        elif r["detail"].startswith("not-chosen"):
            assert per_person[r["id"]]["status"] == "ok"
    eligible_images = {r["source_image"] for r in per_person.values() if r["status"] == "ok"}
    assert set(kept) == eligible_images and all(len(v) == 1 for v in kept.values())
