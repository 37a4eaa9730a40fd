"""The portrait dataset format: round trip, resume after a kill, and every validation message."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest

from bench.data.format import (
    DatasetError,
    DatasetWriter,
    check_id,
    encode_mask,
    read_dataset,
    validate,
)


def _sample(seed: int, h: int = 24, w: int = 18) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), np.uint8)
    mask[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = 1
    mask[0, 0] = 255
    return img, mask


def _build(root, image_format="png", n=4):
    w = DatasetWriter(root, "toy", "tests", {"seed": 0}, fields=["url"], image_format=image_format)
    for i in range(n):
        img, mask = _sample(i)
        w.add(f"{i:05d}", img, mask, "train" if i % 2 == 0 else "test", url=f"http://h/{i}")
    w.skip("00099", "none", "unavailable", "redirected to the placeholder", url="http://h/99")
    meta = w.finalize()
    return meta


def test_round_trip_png_is_lossless(tmp_path):
    meta = _build(tmp_path)
    assert meta["format"] == "portrait-dataset/1"
    assert meta["counts"] == {"test": 2, "train": 2}
    ds = read_dataset(tmp_path, full=True)
    assert ds.ids("train") == ["00000", "00002"] and ds.ids("test") == ["00001", "00003"]
    for i in range(4):
        img, mask = _sample(i)
        np.testing.assert_array_equal(ds.load_image(f"{i:05d}"), img)
        np.testing.assert_array_equal(ds.load_mask(f"{i:05d}"), mask)
    manifest = ds.manifest()
    assert list(manifest.columns[:6]) == ["id", "split", "status", "detail", "source", "url"]
    row = manifest.set_index("id").loc["00099"]
    assert (row["split"], row["status"], row["url"]) == ("none", "unavailable", "http://h/99")
    assert "00099" not in (tmp_path / "splits" / "train.txt").read_text()


def test_round_trip_jpeg_keeps_masks_exact(tmp_path):
    w = DatasetWriter(tmp_path, "toy", "tests", {}, image_format="jpg")
    img = np.zeros((32, 24, 3), np.uint8)
    img[..., 0] = 200  # pure red: a swapped channel order would show up as blue
    _, mask = _sample(0, 32, 24)
    w.add("red", img, mask, "train")
    w.finalize()
    ds = read_dataset(tmp_path, full=True)
    assert (tmp_path / "images" / "red.jpg").exists()
    np.testing.assert_array_equal(ds.load_mask("red"), mask)
    assert np.abs(ds.load_image("red").astype(int) - img).max() <= 3  # lossy, but the same picture


def test_resume_keeps_finished_samples_and_output_is_identical(tmp_path):
    _build(tmp_path / "once")
    # an interrupted build: two samples written, then the process dies without finalize()
    w = DatasetWriter(tmp_path / "twice", "toy", "tests", {"seed": 0}, fields=["url"], image_format="png")
    for i in (0, 1):
        img, mask = _sample(i)
        w.add(f"{i:05d}", img, mask, "train" if i % 2 == 0 else "test", url=f"http://h/{i}")
    w.close()
    w = DatasetWriter(tmp_path / "twice", "toy", "tests", {"seed": 0}, fields=["url"], image_format="png")
    assert w.done("00000") and w.done("00001") and not w.done("00002")
    for i in range(4):
        if not w.done(f"{i:05d}"):
            img, mask = _sample(i)
            w.add(f"{i:05d}", img, mask, "train" if i % 2 == 0 else "test", url=f"http://h/{i}")
    w.skip("00099", "none", "unavailable", "redirected to the placeholder", url="http://h/99")
    w.finalize()
    once = sorted(p.relative_to(tmp_path / "once") for p in (tmp_path / "once").rglob("*") if p.is_file())
    twice = sorted(p.relative_to(tmp_path / "twice") for p in (tmp_path / "twice").rglob("*") if p.is_file())
    assert once == twice
    for rel in once:
        assert (tmp_path / "once" / rel).read_bytes() == (tmp_path / "twice" / rel).read_bytes(), rel


def test_sigkill_mid_build_then_rerun(tmp_path):
    """A build killed by SIGKILL keeps its journalled samples and a rerun finishes the same dataset."""
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        import numpy as np
        from bench.data.format import DatasetWriter
        w = DatasetWriter({str(tmp_path / 'k')!r}, "toy", "tests", {{}}, image_format="png")
        for i in range(6):
            if w.done(f"{{i:05d}}"):
                continue
            img = np.full((8, 8, 3), i, np.uint8); mask = np.zeros((8, 8), np.uint8); mask[2:6, 2:6] = 1
            w.add(f"{{i:05d}}", img, mask, "train")
            if i == 2 and sys.argv[1] == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
        w.finalize()
        """
    )
    first = subprocess.run([sys.executable, "-c", script, "kill"], capture_output=True)
    assert first.returncode == -9
    assert not (tmp_path / "k" / "dataset.json").exists()
    second = subprocess.run([sys.executable, "-c", script, "finish"], capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    ds = read_dataset(tmp_path / "k", full=True)
    assert ds.ids("train") == [f"{i:05d}" for i in range(6)]


def test_other_parameters_refuse_to_mix(tmp_path):
    _build(tmp_path)
    with pytest.raises(DatasetError, match="other parameters"):
        DatasetWriter(tmp_path, "toy", "tests", {"seed": 1}, image_format="png")


@pytest.mark.parametrize("bad", ["../etc", "a/b", "", ".hidden", "x" * 200, "a b"])
def test_ids_never_reach_a_path_unchecked(bad):
    with pytest.raises(DatasetError, match="invalid sample id"):
        check_id(bad)


def test_mask_values_are_checked_on_write():
    with pytest.raises(DatasetError, match="outside"):
        encode_mask(np.full((4, 4), 7, np.uint8))


# -- validation: each problem is named with its file ------------------------------------------------------------
def _problems(root):
    return "\n".join(validate(root, full=True))


def test_valid_folder_has_no_problems(tmp_path):
    _build(tmp_path)
    assert validate(tmp_path, full=True) == []


def test_missing_folder(tmp_path):
    assert "not a folder" in _problems(tmp_path / "nope")


def test_missing_and_broken_dataset_json(tmp_path):
    _build(tmp_path)
    (tmp_path / "dataset.json").write_text("{not json")
    assert f"{tmp_path / 'dataset.json'}: not valid JSON" in _problems(tmp_path)
    (tmp_path / "dataset.json").unlink()
    assert f"{tmp_path / 'dataset.json'}: missing" in _problems(tmp_path)


def test_wrong_format_tag(tmp_path):
    _build(tmp_path)
    meta = json.loads((tmp_path / "dataset.json").read_text())
    meta["format"] = "something-else"
    (tmp_path / "dataset.json").write_text(json.dumps(meta))
    assert "format is 'something-else'" in _problems(tmp_path)


def test_missing_image_and_mask(tmp_path):
    _build(tmp_path)
    (tmp_path / "images" / "00000.png").unlink()
    (tmp_path / "masks" / "00001.png").unlink()
    p = _problems(tmp_path)
    assert f"{tmp_path / 'images' / '00000.png'}: missing (id 00000 is listed in train.txt)" in p
    assert f"{tmp_path / 'masks' / '00001.png'}: missing (id 00001 is listed in test.txt)" in p


def test_unknown_and_invalid_ids_in_splits(tmp_path):
    _build(tmp_path)
    (tmp_path / "splits" / "train.txt").write_text("00000\n00002\n77777\n../x\n")
    p = _problems(tmp_path)
    assert "77777.png: missing (id 77777 is listed in train.txt)" in p
    assert f"{tmp_path / 'splits' / 'train.txt'}:4: invalid id '../x'" in p


def test_id_in_two_splits_and_counts(tmp_path):
    _build(tmp_path)
    (tmp_path / "splits" / "test.txt").write_text("00000\n00001\n00003\n")
    p = _problems(tmp_path)
    assert "train.txt:1: id 00000 is also in test.txt" in p
    assert "3 ids but dataset.json counts 2" in p


def test_unsorted_split(tmp_path):
    _build(tmp_path)
    (tmp_path / "splits" / "train.txt").write_text("00002\n00000\n")
    assert "train.txt: ids are not sorted" in _problems(tmp_path)


def test_wrong_mask_values_and_channels(tmp_path):
    _build(tmp_path)
    cv2.imwrite(str(tmp_path / "masks" / "00000.png"), np.full((24, 18), 128, np.uint8))
    cv2.imwrite(str(tmp_path / "masks" / "00002.png"), np.zeros((24, 18, 3), np.uint8))
    p = _problems(tmp_path)
    assert f"{tmp_path / 'masks' / '00000.png'}: values [128] outside {{0, 1, 255}}" in p
    assert f"{tmp_path / 'masks' / '00002.png'}: mask must be 8-bit single channel" in p


def test_size_mismatch(tmp_path):
    _build(tmp_path)
    cv2.imwrite(str(tmp_path / "masks" / "00001.png"), np.zeros((20, 18), np.uint8))
    assert "00001.png: size 18x24 differs from its mask 18x20 (00001.png)" in _problems(tmp_path)


def test_truncated_png_and_corrupt_image(tmp_path):
    _build(tmp_path)
    m = tmp_path / "masks" / "00003.png"
    m.write_bytes(m.read_bytes()[:30])
    (tmp_path / "images" / "00001.png").write_bytes(b"\xff\xd8\xff garbage")
    p = _problems(tmp_path)
    assert f"{m}: not a decodable PNG (corrupt or truncated)" in p
    assert f"{tmp_path / 'images' / '00001.png'}: not a decodable image (corrupt or truncated)" in p


def test_missing_split_and_manifest(tmp_path):
    _build(tmp_path)
    (tmp_path / "splits" / "test.txt").unlink()
    (tmp_path / "manifest.csv").unlink()
    p = _problems(tmp_path)
    assert f"{tmp_path / 'splits' / 'test.txt'}: missing" in p
    assert f"{tmp_path / 'manifest.csv'}: missing" in p


def test_read_dataset_raises_naming_the_file(tmp_path):
    _build(tmp_path)
    (tmp_path / "images" / "00002.png").unlink()
    with pytest.raises(DatasetError, match=r"images/00002\.png: missing"):
        read_dataset(tmp_path)
    with pytest.raises(DatasetError, match="no such split"):
        _build(tmp_path / "ok")
        read_dataset(tmp_path / "ok").ids("val")


def test_dataset_module_does_not_import_torch():
    code = "import sys, bench.data.format; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
