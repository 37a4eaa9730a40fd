"""Reading the PFCN release as it ships, and the messages for one that cannot be read."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import scipy.io
from click.testing import CliRunner

from pfcn.cli import main
from pfcn.release import MaskError, ReleaseError, parse_id, read_release


def test_zip_folder_and_parent_read_the_same(release):
    a = read_release(release.zip)
    b = read_release(release.data)
    c = read_release(release.root)
    d = read_release(release.root.parent)
    for r in (b, c, d):
        assert (r.urls, r.crops, r.mask_names, r.train, r.test, r.problems) == (
            a.urls, a.crops, a.mask_names, a.train, a.test, a.problems)
    assert a.urls["00015"] is None and "00018" not in a.urls and "00018" in a.mask_names
    assert "00016" not in a.crops and str(a.crops["00001"]) == "2 62 3 45"
    assert a.ids() == [f"{i:05d}" for i in range(1, 21)]
    assert np.array_equal(a.load_mask("00001"), release.masks["00001"])
    assert a.problems == [
        "alldata_urls.txt line 4: expected 'NNNNN.jpg <url>', got 'abc.jpg http://example.com/x_b.jpg'",
        "crop.txt line 3: expected 'NNNNN.jpg y0 y1 x0 x1', got '../../etc.jpg 0 1 0 1'",
        "crop.txt line 6: 00099: empty box 5 5 0 10 (needs y0<y1, x0<x1)",
    ]


@pytest.mark.parametrize("token,want", [("00001.jpg", "00001"), ("01236", "01236"), ("00001.png", "00001"),
                                        ("1.jpg", None), ("../00001.jpg", None), ("0000a.jpg", None),
                                        ("000001.jpg", None), ("00001.jpeg", None)])
def test_ids_are_five_digits(token, want):
    assert parse_id(token) == want


def test_missing_file_is_named(release):
    (release.data / "crop.txt").unlink()
    with pytest.raises(ReleaseError, match=r"crop\.txt: missing from the release"):
        read_release(release.data)


def test_not_a_release(tmp_path):
    with pytest.raises(ReleaseError, match="no such file or folder"):
        read_release(tmp_path / "nope.zip")
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"this is not a zip")
    with pytest.raises(ReleaseError, match="not a readable zip file"):
        read_release(bad)
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(ReleaseError, match="holds no alldata_urls.txt"):
        read_release(other)
    with pytest.raises(ReleaseError, match="no alldata_urls.txt in it"):
        read_release(tmp_path)


def test_corrupt_list_and_mask(release):
    (release.data / "trainlist.mat").write_bytes(b"MATLAB 5.0 garbage")
    with pytest.raises(ReleaseError, match=r"trainlist\.mat: not a readable MATLAB file"):
        read_release(release.data)
    scipy.io.savemat(release.data / "trainlist.mat", {"other": np.array([[1]], np.uint16)})
    with pytest.raises(ReleaseError, match="no numeric variable 'trainlist'"):
        read_release(release.data)
    scipy.io.savemat(release.data / "trainlist.mat", {"trainlist": np.array([[1, 3]], np.uint16)})
    scipy.io.savemat(release.data / "images_mask" / "00003_mask.mat", {"mask": np.full((800, 600), 7, np.uint8)})
    (release.data / "images_mask" / "00004_mask.mat").write_bytes(b"junk")
    rel = read_release(release.data)
    with pytest.raises(MaskError, match=r"00003_mask\.mat: mask values \[7\]"):
        rel.load_mask("00003")
    with pytest.raises(MaskError, match=r"00004_mask\.mat: not a readable MATLAB file"):
        rel.load_mask("00004")


def test_cli_one_clear_line_and_nonzero_exit(release, tmp_path):
    (release.data / "alldata_urls.txt").unlink()
    res = CliRunner().invoke(main, ["fetch", "--release", str(release.data), "--out", str(tmp_path / "o"),
                                    "--offline"])
    assert res.exit_code != 0
    assert res.output.strip().count("\n") == 0 and "alldata_urls.txt" in res.output


def test_cli_unwritable_output(release, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = CliRunner().invoke(main, ["fetch", "--release", str(release.zip), "--out", str(blocker / "o"),
                                    "--offline"])
    assert res.exit_code != 0
    assert res.output.strip().count("\n") == 0 and "cannot" in res.output


def test_cli_version_and_status_of_nothing(tmp_path):
    import bench

    res = CliRunner().invoke(main, ["--version"])
    assert res.exit_code == 0 and bench.__version__ in res.output
    res = CliRunner().invoke(main, ["status", str(tmp_path)])
    assert res.exit_code != 0 and "no manifest.csv" in res.output
