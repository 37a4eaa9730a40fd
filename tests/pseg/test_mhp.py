"""MHP readers: tree detection, list files of both styles, v1/v2 pixels, pose files."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest
from scipy.io import savemat

from pseg.fake_mhp import v2_annotation
from pseg.mhp import (
    MHPError,
    PosePerson,
    find_tree,
    index_tree,
    match_faces,
    read_annotation,
    read_list,
    read_pose,
)


def test_detects_the_version_folder_or_its_parent(v1_tree, v2_tree):
    assert find_tree(v1_tree) == ("v1", v1_tree / "LV-MHP-v1")
    assert find_tree(v1_tree / "LV-MHP-v1", "v1") == ("v1", v1_tree / "LV-MHP-v1")
    assert find_tree(v2_tree) == ("v2", v2_tree)
    assert find_tree(v2_tree.parent, "v2") == ("v2", v2_tree)


def test_not_an_mhp_tree_says_what_was_expected(tmp_path, v1_tree):
    (tmp_path / "images").mkdir()
    with pytest.raises(MHPError, match=r"not an MHP tree; expected LV-MHP-v1 \(images/, annotations/"):
        find_tree(tmp_path)
    with pytest.raises(MHPError, match="not a folder"):
        find_tree(tmp_path / "nope")
    with pytest.raises(MHPError, match="is an LV-MHP-v1 tree, not v2"):
        find_tree(v1_tree / "LV-MHP-v1", "v2")


def test_a_parent_with_both_versions_asks_which(tmp_path, v1_tree, v2_tree):
    shutil.copytree(v1_tree / "LV-MHP-v1", tmp_path / "LV-MHP-v1")
    shutil.copytree(v2_tree, tmp_path / "LV-MHP-v2")
    with pytest.raises(MHPError, match="several MHP trees.*--mhp-version"):
        find_tree(tmp_path)
    assert find_tree(tmp_path, "v2") == ("v2", tmp_path / "LV-MHP-v2")


def test_list_files_of_both_styles(tmp_path):
    (tmp_path / "v1.txt").write_bytes(b"0001.jpg\r\n0002.jpg\r\n\r\n0003.JPG\n")
    (tmp_path / "v2.txt").write_text("96\n\n10084\n  7 \nbad_id\n")
    assert read_list(tmp_path / "v1.txt") == (["0001", "0002", "0003"], [])
    ids, bad = read_list(tmp_path / "v2.txt")
    assert ids == ["96", "10084", "7"] and bad == ["v2.txt:5: 'bad_id'"]


def test_index_pools_both_v1_lists_and_both_v2_subsets(v1_tree, v2_tree):
    t1 = index_tree(v1_tree)
    assert [i.image_id for i in t1.images][:3] == ["0001", "0003", "0005"]  # train_list first, then test_list
    assert {i.subset for i in t1.images} == {"train_list", "test_list"}
    by_id = {i.image_id: i for i in t1.images}
    assert by_id["0001"].n_persons == 3 and sorted(by_id["0001"].persons) == [1, 2, 3]
    assert by_id["0006"].image_path is None and by_id["0010"].n_persons == 0
    t2 = index_tree(v2_tree)
    assert {i.subset for i in t2.images} == {"train", "val"} and len(t2.images) == 10
    assert {i.image_id: i for i in t2.images}["3"].source == "val/images/3.jpg"


@pytest.mark.parametrize("channels", [3, 4])
def test_v2_class_is_the_r_channel_for_3_and_4_channels(tmp_path, channels):
    classes = np.array([[0, 3, 4], [12, 16, 57]], np.uint8)
    p = tmp_path / "1_01_01.png"
    ok, buf = cv2.imencode(".png", v2_annotation(classes, channels))
    p.write_bytes(buf.tobytes())
    np.testing.assert_array_equal(read_annotation(p), classes)
    grey = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)  # what a careless reader gets: about 0.3 x R
    assert not np.array_equal(grey, classes)


def test_v1_single_channel_and_empty_and_broken_files(tmp_path):
    classes = np.array([[0, 11, 2], [4, 18, 255]], np.uint8)
    p = tmp_path / "0001_01_01.png"
    p.write_bytes(cv2.imencode(".png", classes)[1].tobytes())
    np.testing.assert_array_equal(read_annotation(p), classes)
    (tmp_path / "empty.png").write_bytes(b"")
    assert read_annotation(tmp_path / "empty.png") is None
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(MHPError, match="broken.png: not a decodable PNG"):
        read_annotation(tmp_path / "broken.png")


def test_pose_face_boxes_are_matched_by_overlap_not_by_index(tmp_path):
    def rows(face, body, flag=0):
        a = np.full((20, 3), -1, np.float32)
        a[:, 2] = 2
        a[16:18] = [[face[0], face[1], flag], [face[2], face[3], flag]]
        a[18:20] = [[body[0], body[1], 0], [body[2], body[3], 0]]
        return a

    # person_0 is annotation k=2, person_1 is k=1, person_2 has its face out of the image
    savemat(str(tmp_path / "5.mat"), {"person_0": rows((110, 12, 130, 40), (95, 5, 150, 119)),
                                      "person_1": rows((22, 14, 44, 41), (5, 8, 60, 119)),
                                      "person_2": rows((-1, -1, -1, -1), (60, 10, 90, 119), flag=2)})
    poses = read_pose(tmp_path / "5.mat")
    assert [p.index for p in poses] == [0, 1, 2] and poses[2].face is None
    assert poses[1] == PosePerson(1, (22, 14, 45, 42), (5, 8, 61, 120))
    persons = {1: ((6, 8, 60, 120), (18, 8, 48, 44)), 2: ((96, 6, 150, 120), (106, 6, 134, 42))}
    assert match_faces(poses, persons) == {1: (22, 14, 45, 42), 2: (110, 12, 131, 41)}
    assert match_faces(poses, {1: ((300, 300, 310, 310), (300, 300, 305, 305))}) == {}
