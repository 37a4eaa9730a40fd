"""pfcn fetch with careless input: a foreign --out, corrupt release members, odd --from-dir names, no network."""

from __future__ import annotations

import functools
import json
import zipfile

import pytest
from click.testing import CliRunner

from pfcn.cli import main
from pfcn.download import DownloadConfig
from pfcn.fetch import FetchOptions, NetworkUnreachable, fetch

FAST = DownloadConfig(timeout=0.5, retries=0, backoff_base=0.01, backoff_max=0.05)


def opts(**kw) -> FetchOptions:
    kw.setdefault("download", FAST)
    kw.setdefault("workers", 2)
    kw.setdefault("progress", False)
    return FetchOptions(**kw)


def test_an_out_folder_holding_user_files_is_refused_before_any_work(release, servers, tmp_path):
    farm, live = servers
    out = tmp_path / "mine"
    (out / "masks").mkdir(parents=True)
    (out / "masks" / "holiday.png").write_bytes(b"mine")
    r = CliRunner().invoke(main, ["fetch", "--release", str(release.data), "--out", str(out)])
    assert r.exit_code == 1 and "not empty and not a portrait dataset" in r.output
    assert [p.name for p in out.rglob("*")] == ["masks", "holiday.png"]
    assert farm.total() + live.total() == 0


def test_offline_summary_does_not_advise_a_rerun_and_an_empty_test_split_is_said(release, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "00001.jpg").write_bytes(release.images["00001"])  # a train id only
    report = fetch(release.data, tmp_path / "out", opts(offline=True, from_dir=raw))
    summary = report.summary()
    assert "Rerun the same command" not in summary
    assert "--offline forbids downloading" in summary
    assert "warning: the test split is empty" in summary and "train split is empty" not in summary


def test_flickr_names_any_case_and_subfolders_are_used_and_the_rest_counted(release, tmp_path):
    raw = tmp_path / "raw"
    (raw / "sub").mkdir(parents=True)
    (raw / "sub" / "00001.JPG").write_bytes(release.images["00001"])
    (raw / "00006_abc_b.jpg").write_bytes(release.images["00006"])  # the file name of its URL
    (raw / "notes.txt").write_text("not a photo")
    (raw / "99999.jpg").write_bytes(release.images["00007"])  # no such id
    out = tmp_path / "out"
    report = fetch(release.data, out, opts(offline=True, from_dir=raw))
    assert report.rows["00001"][0] == "ok" and report.rows["00006"][0] == "ok"
    assert "--from-dir: 2 files matched an id, 2 matched none" in report.summary()


def test_each_corrupt_mask_member_of_the_zip_is_a_release_problem(release, tmp_path):
    zpath = tmp_path / "stored.zip"
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_STORED) as z:
        for p in sorted(release.root.rglob("*")):
            z.write(p, p.relative_to(release.root.parent).as_posix())
    blob = bytearray(zpath.read_bytes())
    with zipfile.ZipFile(zpath) as z:
        bad = [i for i in z.infolist() if i.filename.endswith(("00001_mask.mat", "00006_mask.mat"))]
    for info in bad:  # flip bytes inside the member's data: its CRC no longer matches
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
        for k in range(start + 200, start + 210):
            blob[k] ^= 0xFF
    zpath.write_bytes(bytes(blob))
    out = tmp_path / "out"
    raw = tmp_path / "raw"
    raw.mkdir()
    report = fetch(zpath, out, opts(offline=True, from_dir=raw))
    found = [p for p in report.problems if "_mask.mat" in p]
    assert len(found) == 2 and "00001_mask.mat" in found[0] and "00006_mask.mat" in found[1]
    assert json.loads((out / "dataset.json").read_text())["release_problems"][-2:] == found


def test_without_a_terminal_progress_is_plain_lines(release, tmp_path, capsys):
    raw = tmp_path / "raw"
    raw.mkdir()
    fetch(release.data, tmp_path / "out", opts(offline=True, from_dir=raw, progress=None, progress_interval=0))
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert "\r" not in err and lines[0].startswith("pfcn fetch: 1/20 ids; ok 0, unavailable 0, failed ")
    assert lines[-1].startswith("pfcn fetch: 20/20 ids") and lines[-1].endswith("done") and len(lines) == 21


def test_a_fetch_stops_early_when_the_network_is_unreachable(release, servers, tmp_path, monkeypatch):
    farm, live = servers
    for s in (farm, live):  # nothing listens on their ports any more: every connection is refused
        s.httpd.shutdown()
        s.httpd.server_close()
    out = tmp_path / "out"
    with pytest.raises(NetworkUnreachable, match="first 5 downloads all failed with 'connection error"):
        fetch(release.data, out, opts(unreachable_after=5))
    assert not (out / "dataset.json").exists()  # not a finished build: a rerun continues
    monkeypatch.setattr("pfcn.cli.FetchOptions", functools.partial(FetchOptions, unreachable_after=5))
    r = CliRunner().invoke(main, ["fetch", "--release", str(release.data), "--out", str(out), "--retries", "0",
                                  "--workers", "2"])
    assert r.exit_code == 1 and "network looks unreachable" in r.output, r.output
