"""The downloader on its own: size cap while streaming, Retry-After, placeholders, proxies."""

from __future__ import annotations

import email.utils
import random
import time

from pfcn.download import (
    DownloadConfig,
    backoff_delay,
    check_jpeg,
    download,
    is_placeholder,
    make_session,
    parse_retry_after,
)

FAST = DownloadConfig(timeout=0.5, retries=2, backoff_base=0.01, backoff_max=0.05, max_bytes=50_000)


def test_size_cap_without_content_length(servers, kit):
    farm, _ = servers
    body = kit.make_jpeg(16, 16, 1)
    farm.routes["/big.jpg"] = kit.Route([("chunked", body + b"\x00" * 120_000)])
    farm.routes["/small.jpg"] = kit.Route([("chunked", body)])
    s = make_session(2)
    got = download(s, f"{farm.base}/big.jpg", FAST)
    assert (got.status, got.attempts) == ("bad_image", 1) and "cap" in got.detail
    got = download(s, f"{farm.base}/small.jpg", FAST)
    assert got.status == "ok" and got.data == body


def test_retry_exhausted_on_5xx_and_no_retry_on_403(servers, kit):
    farm, _ = servers
    farm.routes["/e.jpg"] = kit.Route([("status", 503)])
    farm.routes["/f.jpg"] = kit.Route([("status", 403)])
    s = make_session(2)
    got = download(s, f"{farm.base}/e.jpg", FAST)
    assert (got.status, got.attempts, farm.count("/e.jpg")) == ("failed", 3, 3)
    assert got.detail == "HTTP 503 Service Unavailable (after 3 attempts)"
    got = download(s, f"{farm.base}/f.jpg", FAST)
    assert (got.status, got.attempts, farm.count("/f.jpg")) == ("failed", 1, 1)


def test_placeholder_served_directly_and_png_body(servers, kit):
    farm, _ = servers
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
    farm.routes["/photo_unavailable_l.png"] = kit.Route([("png", png)])
    farm.routes["/x.jpg"] = kit.Route([("png", png)])
    s = make_session(2)
    assert download(s, f"{farm.base}/photo_unavailable_l.png", FAST).status == "unavailable"
    got = download(s, f"{farm.base}/x.jpg", FAST)
    assert got.status == "bad_image" and "not a JPEG (a PNG)" in got.detail


def test_connection_refused_is_retried_and_described(no_proxy):
    got = download(make_session(1), "http://127.0.0.1:9/x.jpg", FAST)
    assert (got.status, got.attempts) == ("failed", 3)
    assert got.detail.startswith("connection error (ECONNREFUSED") and "0x" not in got.detail


def test_proxy_from_environment(servers, monkeypatch, kit):
    farm, _ = servers
    body = kit.make_jpeg(8, 8, 2)
    farm.routes["http://photos.example.invalid/p.jpg"] = kit.Route([("ok", body)])
    monkeypatch.setenv("HTTP_PROXY", farm.base)
    monkeypatch.setenv("NO_PROXY", "")
    got = download(make_session(1), "http://photos.example.invalid/p.jpg", FAST)
    assert got.status == "ok" and got.data == body
    (_, _, line), = farm.hits["http://photos.example.invalid/p.jpg"]
    assert line.startswith("GET http://photos.example.invalid/p.jpg")


def test_helpers(kit):
    assert is_placeholder("https://s.yimg.com/pw/images/en-us/photo_unavailable.png")
    assert is_placeholder("https://s.yimg.com/pw/images/en-us/photo_unavailable_l.png")
    assert not is_placeholder("https://live.staticflickr.com/1/photo_unavailable_b/x_b.jpg")
    assert parse_retry_after("7") == 7.0 and parse_retry_after(None) is None and parse_retry_after("soon") is None
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= parse_retry_after(when) <= 31
    assert check_jpeg(kit.make_jpeg(8, 8, 3)) is None
    assert check_jpeg(kit.make_jpeg(8, 8, 3)[:-10]).startswith("truncated")
    assert check_jpeg(b"<!DOCTYPE html><html>").startswith("not a JPEG (HTML)")
    cfg = DownloadConfig(backoff_base=1.0, backoff_max=5.0)
    rng = random.Random(0)
    delays = [backoff_delay(cfg, n, rng) for n in range(5)]
    assert 0.5 <= delays[0] <= 1.0 and 2.0 <= delays[2] <= 4.0 and 2.5 <= delays[4] <= 5.0
