"""pfcn fetch end to end against a local server that behaves like Flickr today."""

from __future__ import annotations

import csv
import hashlib
import json

import cv2
import numpy as np
import pytest

from bench.data.format import read_dataset, validate
from pfcn.download import DownloadConfig
from pfcn.fetch import FetchOptions, fetch, status_table
from pfcn.release import eg1800_lists

RETRIES = 1
FAST = DownloadConfig(timeout=0.5, retries=RETRIES, backoff_base=0.01, backoff_max=0.05, retry_after_max=2.0,
                      max_bytes=200_000)

EXPECTED = {
    "00001": ("ok", "train"), "00002": ("ok", "test"), "00003": ("unavailable", "train"),
    "00004": ("unavailable", "train"), "00005": ("unavailable", "test"), "00006": ("ok", "train"),
    "00007": ("ok", "train"), "00008": ("failed", "test"), "00009": ("failed", "train"),
    "00010": ("bad_image", "train"), "00011": ("bad_image", "test"), "00012": ("bad_image", "train"),
    "00013": ("ok", "train"), "00014": ("ok", "test"), "00015": ("no_url", "train"),
    "00016": ("no_crop", "train"), "00017": ("no_mask", "test"), "00018": ("no_url", "train"),
    "00019": ("unused", "none"), "00020": ("unused", "none"),
}


def opts(**kw) -> FetchOptions:
    kw.setdefault("download", FAST)
    kw.setdefault("workers", 6)
    kw.setdefault("progress", False)
    return FetchOptions(**kw)


def manifest(out) -> dict[str, dict[str, str]]:
    with open(out / "manifest.csv", newline="") as f:
        return {r["id"]: r for r in csv.DictReader(f)}


def farm_path(sid: str) -> str:
    return f"/1234/{sid}_abc_b.jpg"


def test_every_flickr_behaviour_gets_its_status(release, servers, tmp_path):
    farm, live = servers
    out = tmp_path / "out"
    report = fetch(release.data, out, opts())
    rows = manifest(out)
    assert {k: (r["status"], r["split"]) for k, r in rows.items()} == EXPECTED
    assert validate(out) == []
    ds = read_dataset(out, full=True)
    assert ds.ids("train") == ["00001", "00006", "00007", "00013"]
    assert ds.ids("test") == ["00002", "00014"]
    assert sorted(p.name for p in (out / "splits").iterdir()) == ["test.txt", "train.txt"]

    # retries: once for 500 and 429, all attempts for the slow and truncated answers, never for 404/410/placeholder
    assert report.attempts["00006"] == 2 and farm.count(farm_path("00006")) == 2
    assert report.attempts["00007"] == 2 and farm.count(farm_path("00007")) == 2
    for sid in ("00008", "00009"):
        assert report.attempts[sid] == RETRIES + 1 and farm.count(farm_path(sid)) == RETRIES + 1
    for sid in ("00003", "00004", "00005", "00010", "00011", "00012"):
        assert report.attempts[sid] == 1 and farm.count(farm_path(sid)) == 1
    (t429, _, _), (t200, _, _) = farm.hits[farm_path("00007")]
    assert t200 - t429 >= 0.95, "Retry-After: 1 was not honoured"
    assert live.count(release.placeholder_path) == 0, "the placeholder is recognised from the redirect, not fetched"
    assert live.count("/live/00002.jpg") == 1
    assert all(ua.startswith("elb-portrait-pfcn/") for hits in farm.hits.values() for _, ua, _ in hits)
    for sid in ("00015", "00016", "00017", "00018"):
        assert farm.count(farm_path(sid)) == 0

    # details say why
    assert "placeholder" in rows["00003"]["detail"] and "404" in rows["00004"]["detail"]
    assert "410" in rows["00005"]["detail"]
    assert "timed out" in rows["00008"]["detail"] and "after 2 attempts" in rows["00008"]["detail"]
    assert "truncated" in rows["00009"]["detail"]
    assert "not a JPEG (HTML)" in rows["00010"]["detail"]
    assert "cap" in rows["00011"]["detail"]
    assert "smaller than its crop box" in rows["00012"]["detail"]
    assert rows["00014"]["clamped"] == "yes" and "clamped" in rows["00014"]["detail"]
    assert rows["00001"]["clamped"] == "no"

    # raw files are kept, with their sha256; nothing is kept for answers that are not photos
    for sid, r in rows.items():
        raw = out / "raw" / f"{sid}.jpg"
        if r["status"] in ("ok", "unused") or sid == "00012":
            assert r["source"] == f"raw/{sid}.jpg"
            assert raw.read_bytes() == release.images[sid]
            assert r["raw_sha256"] == hashlib.sha256(release.images[sid]).hexdigest()
            assert int(r["raw_bytes"]) == len(release.images[sid])
        else:
            assert not raw.exists()

    # images: the crop of the stored pixels at 600x800, RGB; masks exactly as released
    for sid in ds.ids("train") + ds.ids("test"):
        img = ds.load_image(sid)
        assert img.shape == (800, 600, 3)
        assert np.array_equal(ds.load_mask(sid), release.masks[sid])
    bgr = cv2.imdecode(np.frombuffer(release.images["00001"], np.uint8), cv2.IMREAD_COLOR)
    y0, y1, x0, x1 = release.box
    want = cv2.cvtColor(cv2.resize(bgr[y0:y1, x0:x1], (600, 800), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
    assert np.abs(ds.load_image("00001").astype(int) - want).mean() < 2.0
    grey = ds.load_image("00013")
    assert grey.shape == (800, 600, 3) and np.abs(grey[..., 0].astype(int) - grey[..., 2]).max() <= 2

    meta = json.loads((out / "dataset.json").read_text())
    assert meta["counts"] == {"test": 2, "train": 4}
    assert any("alldata_urls.txt line 4" in p for p in meta["release_problems"])

    summary = report.summary()
    assert "recovered 8 of 18 linked photos (train 4, test 2, in neither list 2)" in summary
    assert "3 unavailable, 2 failed, 3 bad images" in summary and "retry the 2 failed" in summary

    # a second run asks the network only about the failures, and changes nothing else
    before = farm.total() + live.total()
    images_before = {p.name: p.read_bytes() for p in (out / "images").iterdir()}
    report2 = fetch(release.data, out, opts())
    assert farm.total() + live.total() - before == 2 * (RETRIES + 1)
    assert set(report2.attempts) == {"00008", "00009"}
    assert {p.name: p.read_bytes() for p in (out / "images").iterdir()} == images_before
    assert {k: (r["status"], r["split"]) for k, r in manifest(out).items()} == EXPECTED

    table = status_table(out)
    assert table.splitlines()[0].split() == ["status", "train", "test", "none", "total"]
    assert any(line.split() == ["ok", "4", "2", "0", "6"] for line in table.splitlines())
    assert table.splitlines()[-1].split() == ["total", "12", "6", "2", "20"]


def test_zip_release_and_png_format(release, servers, tmp_path):
    out = tmp_path / "out"
    fetch(release.zip, out, opts(image_format="png"))
    rows = manifest(out)
    assert {k: (r["status"], r["split"]) for k, r in rows.items()} == EXPECTED
    ds = read_dataset(out, full=True)
    assert ds.image_path("00001").suffix == ".png"
    assert ds.load_image("00001").shape == (800, 600, 3)


def test_a_failure_that_recovers_is_retried_on_rerun(release, servers, tmp_path):
    farm, _ = servers
    out = tmp_path / "out"
    fetch(release.data, out, opts())
    assert manifest(out)["00009"]["status"] == "failed"
    farm.routes[farm_path("00009")].answers.append(("ok", release.images["00009"]))
    report = fetch(release.data, out, opts())
    assert manifest(out)["00009"]["status"] == "ok"
    assert "Rerun the same command to retry the 1 failed download." in report.summary()
    assert "00009" in read_dataset(out).ids("train")


def test_offline_and_from_dir(release, servers, tmp_path):
    farm, live = servers
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "00001.jpg").write_bytes(release.images["00001"])
    (earlier / "00002.jpg").write_bytes(release.png(40, 30))  # what public scripts saved for a dead link
    out = tmp_path / "out"
    fetch(release.data, out, opts(offline=True, from_dir=earlier))
    assert farm.total() + live.total() == 0
    rows = manifest(out)
    assert rows["00001"]["status"] == "ok" and rows["00001"]["source"] == str((earlier / "00001.jpg").resolve())
    assert rows["00002"]["status"] == "failed" and "not a JPEG (a PNG)" in rows["00002"]["detail"]
    assert rows["00006"]["status"] == "failed" and "offline" in rows["00006"]["detail"]
    assert rows["00015"]["status"] == "no_url"
    # going online later fetches only what the earlier files did not give
    fetch(release.data, out, opts(from_dir=earlier))
    assert farm.count(farm_path("00001")) == 0 and farm.count(farm_path("00002")) == 1
    assert manifest(out)["00002"]["status"] == "ok"


def test_eg1800_split(release, tmp_path):
    train, test = eg1800_lists()
    assert len(train) == 1447 and len(test) == 289 and not train & test
    out = tmp_path / "out"
    raw = tmp_path / "raw"
    raw.mkdir()
    for sid, data in release.images.items():
        (raw / f"{sid}.jpg").write_bytes(data)
    fetch(release.data, out, opts(split="eg1800", offline=True, from_dir=raw))
    rows = manifest(out)
    for sid, r in rows.items():
        want = "train" if sid in train else "test" if sid in test else "none"
        assert r["split"] == want, sid
    kept = read_dataset(out)
    assert set(kept.ids("train")) == {s for s, r in rows.items() if r["status"] == "ok" and s in train}
    assert set(kept.ids("test")) == {s for s, r in rows.items() if r["status"] == "ok" and s in test}


def test_output_of_another_build_is_refused(release, tmp_path):
    out = tmp_path / "out"
    fetch(release.data, out, opts(offline=True))
    from bench.data.format import DatasetError

    with pytest.raises(DatasetError, match="other parameters"):
        fetch(release.data, out, opts(offline=True, split="eg1800"))
