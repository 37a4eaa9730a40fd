"""pseg build with careless input: a folder of the user's files as --out, a tree with no usable person."""

from __future__ import annotations

import shutil

from click.testing import CliRunner

from pseg.cli import main
from pseg.fake_mhp import SynthImage, SynthPerson, write_tree

ARGS = ["--size", "30x40", "--min-head", "12", "--workers", "1"]


def test_an_out_folder_holding_user_files_is_refused_and_untouched(v2_tree, tmp_path):
    out = tmp_path / "mine"
    (out / "images").mkdir(parents=True)
    (out / "images" / "cat.jpg").write_bytes(b"mine")
    r = CliRunner().invoke(main, ["build", "--mhp-root", str(v2_tree), "--out", str(out), *ARGS])
    assert r.exit_code == 1 and "not empty and not a portrait dataset" in r.output
    assert sorted(p.name for p in out.rglob("*")) == ["cat.jpg", "images"]


def test_images_without_annotations_fail_with_the_reasons(tmp_path):
    top = write_tree(tmp_path / "mhp", [SynthImage("0001", 160, 120, [SynthPerson(60, 15, 26)]),
                                        SynthImage("0002", 160, 120, [SynthPerson(60, 15, 26)])], "v1", seed=1)
    shutil.rmtree(top / "annotations")
    (top / "annotations").mkdir()
    r = CliRunner().invoke(main, ["build", "--mhp-root", str(top), "--out", str(tmp_path / "out"), *ARGS])
    assert r.exit_code == 1, r.output
    assert "no usable person among 2 candidates in 2 images" in r.output and "no-annotations 2" in r.output


def test_persons_all_filtered_out_fail_with_the_reasons(v2_tree, tmp_path):
    r = CliRunner().invoke(main, ["build", "--mhp-root", str(v2_tree), "--out", str(tmp_path / "out"),
                                  "--size", "30x40", "--min-head", "500", "--workers", "1", "--limit", "3", "--quiet"])
    assert r.exit_code == 1 and "head-too-small" in r.output and len(r.output.strip().splitlines()) == 1


def test_without_a_terminal_progress_is_plain_lines(v2_tree, tmp_path, monkeypatch):
    monkeypatch.setattr("bench.progress.LINE_INTERVAL_S", 0.0)  # a line at every image instead of every 30 s
    r = CliRunner().invoke(main, ["build", "--mhp-root", str(v2_tree), "--out", str(tmp_path / "out"), *ARGS,
                                  "--limit", "2"])
    assert r.exit_code == 0, r.output
    lines = r.stderr.splitlines()
    assert lines[0].startswith("pseg build: 1/2 images; 0m0") and lines[-1].startswith("pseg build: 2/2 images")
    assert lines[-1].endswith("done") and len(lines) == 3
    assert "\r" not in r.stderr
