"""The ``pseg`` command: build, stats and preview through click, and its one-line errors."""

from __future__ import annotations

import csv
import json

import cv2
from click.testing import CliRunner

import bench
from pseg.cli import main


def test_version():
    r = CliRunner().invoke(main, ["--version"])
    assert r.exit_code == 0 and bench.__version__ in r.output


def test_build_command_and_a_non_mhp_root(v2_tree, tmp_path):
    out = tmp_path / "out"
    args = ["build", "--mhp-root", str(v2_tree.parent), "--out", str(out), "--size", "30x40",
            "--min-head", "12", "--workers", "1", "--limit", "4", "--quiet"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert "LV-MHP-v2" in r.output and (out / "dataset.json").exists()
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["params"]["limit"] == 4 and meta["source"]["images"] == 4
    assert cv2.imread(str(next((out / "images").iterdir()))).shape == (40, 30, 3)
    r = CliRunner().invoke(main, ["build", "--mhp-root", str(tmp_path), "--out", str(tmp_path / "x")])
    assert r.exit_code != 0 and len(r.output.strip().splitlines()) == 1
    assert "not an MHP tree; expected LV-MHP-v1" in r.output
    r = CliRunner().invoke(main, ["build", "--mhp-root", str(v2_tree), "--out", str(tmp_path / "y"),
                                  "--size", "6x"])
    assert r.exit_code != 0 and "WIDTHxHEIGHT" in r.output


def test_unwritable_output_is_one_clear_line(v2_tree, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = CliRunner().invoke(main, ["build", "--mhp-root", str(v2_tree), "--out", str(blocker / "out"),
                                  "--quiet"])
    assert r.exit_code != 0 and "cannot create the output folder" in r.output


def test_stats_compares_with_the_paper(v1_built):
    r = CliRunner().invoke(main, ["stats", str(v1_built)])
    assert r.exit_code == 0, r.output
    assert "20,514" in r.output and "18,462" in r.output and "2,052" in r.output
    assert "head-cut" in r.output and "persons per crop" in r.output and "mask coverage" in r.output
    s = json.loads(CliRunner().invoke(main, ["stats", str(v1_built), "--json"]).output)
    with open(v1_built / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert s["counts"]["total"] == sum(r["status"] == "ok" for r in rows)
    assert s["counts"]["train"] + s["counts"]["test"] == s["counts"]["total"]
    assert s["skip_reasons"]["head-cut"] == 2 and s["skip_reasons"]["malformed-name"] == 2
    assert s["persons_per_crop"]["2"] >= 1 and 0 < s["coverage"]["median"] < 1


def test_preview_writes_a_contact_sheet(v1_built, tmp_path):
    out = tmp_path / "sheet.png"
    r = CliRunner().invoke(main, ["preview", str(v1_built), "--out", str(out), "-n", "8", "--cols", "4"])
    assert r.exit_code == 0, r.output
    sheet = cv2.imread(str(out))
    assert sheet is not None and sheet.shape[1] == 4 * (160 + 4) + 4 and sheet.shape[0] > 2 * 200
    r = CliRunner().invoke(main, ["preview", str(tmp_path), "--out", str(out)])
    assert r.exit_code != 0 and "dataset.json" in r.output
