"""The dataset writer never deletes or mixes with a user's files, and a split is checked before it is used."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from bench.data.format import DatasetError, DatasetWriter, read_dataset
from bench.data.io import to_json
from bench.data.pipeline import PortraitTorchDataset


def _write(root, masks: dict[str, tuple[np.ndarray, str]], name: str = "toy") -> None:
    w = DatasetWriter(root, name, "tests", {"seed": 0}, image_format="png")
    for sid, (mask, split) in masks.items():
        w.add(sid, np.full((*mask.shape, 3), 90, np.uint8), mask, split)
    w.finalize()


def _portrait(value: int = 1) -> np.ndarray:
    m = np.zeros((16, 12), np.uint8)
    m[4:12, 3:9] = value
    return m


def test_a_folder_holding_user_files_is_refused_and_left_untouched(tmp_path):
    out = tmp_path / "mine"
    (out / "images").mkdir(parents=True)
    (out / "images" / "holiday.jpg").write_bytes(b"my photo")
    with pytest.raises(DatasetError, match="not empty and not a portrait dataset"):
        DatasetWriter(out, "toy", "tests")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == ["images", "images/holiday.jpg"]


def test_a_dataset_of_another_kind_is_refused(tmp_path):
    _write(tmp_path / "d", {"a": (_portrait(), "train")}, name="pseg-mhp-v2")
    with pytest.raises(DatasetError, match="holds a 'pseg-mhp-v2' dataset"):
        DatasetWriter(tmp_path / "d", "pfcn-official", "tests")


def test_empty_folders_and_new_folders_are_accepted(tmp_path):
    (tmp_path / "e" / "images").mkdir(parents=True)  # a run killed before it wrote a file
    _write(tmp_path / "e", {"a": (_portrait(), "train")})
    assert read_dataset(tmp_path / "e").ids("train") == ["a"]


def test_finalize_deletes_only_files_the_writer_named(tmp_path):
    root = tmp_path / "d"
    _write(root, {"a": (_portrait(), "train"), "b": (_portrait(), "test")})
    (root / "images" / "notes.txt").write_text("mine")  # a user's file dropped into a finished dataset
    w = DatasetWriter(root, "toy", "tests", {"seed": 0}, image_format="png")
    w.skip("b", "test", "failed", "gone now")
    w.finalize()
    assert (root / "images" / "notes.txt").read_text() == "mine"
    assert not (root / "images" / "b.png").exists() and not (root / "masks" / "b.png").exists()


def _dataset_with_mask(tmp_path, bad: np.ndarray):
    root = tmp_path / "d"
    _write(root, {"a": (_portrait(), "train"), "b": (_portrait(), "train"), "c": (_portrait(), "test")})
    ok, buf = cv2.imencode(".png", bad)
    (root / "masks" / "b.png").write_bytes(buf.tobytes())
    return read_dataset(root)


def test_a_mask_value_outside_the_format_fails_when_the_split_is_opened(tmp_path):
    ds = _dataset_with_mask(tmp_path, _portrait(128))
    with pytest.raises(DatasetError, match=r"masks/b.png: mask values \[128\] outside"):
        PortraitTorchDataset(ds, "train", 16)
    PortraitTorchDataset(ds, "test", 16)  # the other split is fine


def test_0_255_masks_are_an_error_not_an_ignored_portrait(tmp_path):
    root = tmp_path / "d"
    _write(root, {"a": (_portrait(255), "train"), "b": (_portrait(1), "test")})
    with pytest.raises(DatasetError, match="no mask of the train split has a portrait pixel.*0/255"):
        read_dataset(root).check_split("train")


def test_an_empty_split_is_an_error(tmp_path):
    root = tmp_path / "d"
    _write(root, {"a": (_portrait(), "train")})
    with pytest.raises(DatasetError, match="test.txt: the test split is empty"):
        read_dataset(root).check_split("test")


def test_json_is_strict():
    assert json.loads(to_json({"a": 1.5})) == {"a": 1.5}
    with pytest.raises(ValueError):
        to_json({"miou": float("nan")})
