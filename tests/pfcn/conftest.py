"""Fixtures for pfcn: a synthetic release (folder and zip) and a real HTTP server on 127.0.0.1 behaving like Flickr."""

from __future__ import annotations

import http.server
import threading
import time
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io

PLACEHOLDER_PATH = "/pw/images/en-us/photo_unavailable.png"
SLOW_S = 1.2  # the slow answer takes longer than the tests' 0.5 s timeout


def make_jpeg(w: int, h: int, seed: int, grey: bool = False) -> bytes:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([(xx * 255 // max(w - 1, 1)), (yy * 255 // max(h - 1, 1)), (xx + yy) % 256], -1)
    img = (base + rng.integers(0, 30, (h, w, 3))).clip(0, 255).astype(np.uint8)
    if grey:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return buf.tobytes()


def make_png(w: int, h: int) -> bytes:
    ok, buf = cv2.imencode(".png", np.full((h, w, 3), 200, np.uint8))
    assert ok
    return buf.tobytes()


@dataclass
class Route:
    """How the server answers one path: a list of answers, the last one repeating."""

    answers: list[tuple]


@dataclass
class FlickrServer:
    """A threaded HTTP server; ``hits[path]`` lists (time, user agent, request line) for every request."""

    httpd: http.server.ThreadingHTTPServer
    routes: dict[str, Route] = field(default_factory=dict)
    hits: dict[str, list[tuple[float, str, str]]] = field(default_factory=lambda: defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def count(self, path: str) -> int:
        with self.lock:
            return len(self.hits.get(path, []))

    def total(self) -> int:
        with self.lock:
            return sum(len(v) for v in self.hits.values())


def _handler(server: FlickrServer):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep pytest output clean
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            path = self.path.split("?", 1)[0]
            with server.lock:
                n = len(server.hits[path])
                server.hits[path].append((time.monotonic(), self.headers.get("User-Agent", ""), self.requestline))
            route = server.routes.get(path)
            if route is None:
                return self._send(404, b"not found", "text/plain")
            kind, *args = route.answers[min(n, len(route.answers) - 1)]
            try:
                getattr(self, f"_a_{kind}")(*args)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def _send(self, code: int, body: bytes, ctype: str, headers: dict | None = None,
                  length: int | None = None) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if length is not None:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(body)

        def _a_ok(self, body: bytes) -> None:
            self._send(200, body, "image/jpeg")

        def _a_redirect(self, code: int, location: str) -> None:
            self._send(code, b"", "text/html", {"Location": location})

        def _a_status(self, code: int, headers: dict | None = None) -> None:
            self._send(code, b"error", "text/plain", headers)

        def _a_delayed(self, body: bytes, seconds: float) -> None:
            time.sleep(seconds)
            self._send(200, body, "image/jpeg")

        def _a_slow(self, body: bytes) -> None:
            time.sleep(SLOW_S)
            self._send(200, body, "image/jpeg")

        def _a_truncated(self, body: bytes) -> None:
            self._send(200, body[: len(body) // 2], "image/jpeg", length=len(body))

        def _a_html(self) -> None:
            self._send(200, b"<!DOCTYPE html><html><body>Flickr: oops</body></html>", "text/html")

        def _a_png(self, body: bytes) -> None:
            self._send(200, body, "image/png")

        def _a_chunked(self, body: bytes) -> None:  # no Content-Length: the size cap must act while streaming
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(body), 8192):
                part = body[i:i + 8192]
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")

    return Handler


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:  # clients that hang up (timeouts) are expected
        pass


def _start() -> FlickrServer:
    httpd = _QuietServer(("127.0.0.1", 0), None)
    server = FlickrServer(httpd)
    httpd.RequestHandlerClass = _handler(server)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


@pytest.fixture
def no_proxy(monkeypatch):
    for k in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def servers(no_proxy):
    """Two servers: ``farm`` (the release's host) and ``live`` (another host, the redirect target)."""
    farm, live = _start(), _start()
    yield farm, live
    for s in (farm, live):
        s.httpd.shutdown()
        s.httpd.server_close()


# id -> (what the server does, split). Images are small; crop boxes are drawn inside them.
W, H = 48, 64
BOX = (2, 62, 3, 45)  # y0 y1 x0 x1


@dataclass
class SyntheticRelease:
    root: Path  # the unpacked "[EG_code_data]_release" folder
    data: Path  # root/data
    zip: Path
    images: dict[str, bytes]  # what the server serves as the photo, by id
    masks: dict[str, np.ndarray]
    box: tuple[int, int, int, int] = BOX
    placeholder_path: str = PLACEHOLDER_PATH

    @staticmethod
    def png(w: int, h: int) -> bytes:
        return make_png(w, h)


def build_release(tmp: Path, farm: FlickrServer, live: FlickrServer) -> SyntheticRelease:
    """A release of 20 ids covering every behaviour of Flickr today, plus malformed lines."""
    images = {f"{i:05d}": make_jpeg(W, H, seed=i) for i in range(1, 21)}
    images["00012"] = make_jpeg(30, 40, seed=12)  # smaller than its crop box
    images["00013"] = make_jpeg(W, H, seed=13, grey=True)
    images["00014"] = make_jpeg(W, BOX[1] - 1, seed=14)  # the box overruns it by one row: clamped
    big = images["00001"] + b"\x00" * 300_000
    answers = {
        "00001": [("ok", images["00001"])],
        "00002": [("redirect", 301, f"{live.base}/live/00002.jpg")],
        "00003": [("redirect", 302, f"{live.base}{PLACEHOLDER_PATH}")],
        "00004": [("status", 404)],
        "00005": [("status", 410)],
        "00006": [("status", 500), ("ok", images["00006"])],
        "00007": [("status", 429, {"Retry-After": "1"}), ("ok", images["00007"])],
        "00008": [("slow", images["00008"])],
        "00009": [("truncated", images["00009"])],
        "00010": [("html",)],
        "00011": [("ok", big)],
        "00012": [("ok", images["00012"])],
        "00013": [("ok", images["00013"])],
        "00014": [("ok", images["00014"])],
        "00019": [("ok", images["00019"])],
        "00020": [("ok", images["00020"])],
    }
    for sid, ans in answers.items():
        farm.routes[f"/1234/{sid}_abc_b.jpg"] = Route(ans)
    live.routes["/live/00002.jpg"] = Route([("ok", images["00002"])])
    live.routes[PLACEHOLDER_PATH] = Route([("png", make_png(40, 30))])

    root = tmp / "[EG_code_data]_release"
    data = root / "data"
    (data / "images_mask").mkdir(parents=True)
    url_lines = []
    for i in range(1, 21):
        sid = f"{i:05d}"
        if sid == "00018":
            continue  # a mask without a URL line
        url = "None" if sid == "00015" else f"{farm.base}/1234/{sid}_abc_b.jpg"
        url_lines.append(f"{sid}.jpg {url}")
    url_lines.insert(3, "abc.jpg http://example.com/x_b.jpg")  # malformed id: line 4
    (data / "alldata_urls.txt").write_text("\n".join(url_lines) + "\n")
    crop_lines = [f"{i:05d}.jpg {' '.join(map(str, BOX))}" for i in range(20, 0, -1) if i != 16]  # unsorted
    crop_lines.insert(2, "../../etc.jpg 0 1 0 1")  # line 3: an id that would escape a path
    crop_lines.insert(5, "00099.jpg 5 5 0 10")  # line 6: empty box
    (data / "crop.txt").write_text("\n".join(crop_lines) + "\n")
    masks = {}
    rng = np.random.default_rng(0)
    for i in range(1, 21):
        sid = f"{i:05d}"
        if sid == "00017":
            continue
        m = np.zeros((800, 600), np.uint8)
        r0, c0 = rng.integers(0, 300, 2)
        m[r0:r0 + 450, c0:c0 + 280] = 1
        masks[sid] = m
        scipy.io.savemat(data / "images_mask" / f"{sid}_mask.mat", {"mask": m})
    train = [i for i in range(1, 21) if i % 3 != 2 and i != 19]
    test = [i for i in range(1, 21) if i % 3 == 2 and i != 20]
    scipy.io.savemat(data / "trainlist.mat", {"trainlist": np.array([train], np.uint16)})
    scipy.io.savemat(data / "testlist.mat", {"testlist": np.array([test], np.uint16)})
    (data / "meanmask.png").write_bytes(make_png(6, 8))
    zpath = tmp / "EG_code_data_release.zip"
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(root.rglob("*")):
            z.write(p, p.relative_to(tmp).as_posix())
    return SyntheticRelease(root=root, data=data, zip=zpath, images=images, masks=masks)


@pytest.fixture
def release(tmp_path, servers) -> SyntheticRelease:
    farm, live = servers
    return build_release(tmp_path / "rel", farm, live)


@pytest.fixture
def kit():
    """The helpers tests build answers with (conftest is not importable as a module here)."""
    from types import SimpleNamespace

    return SimpleNamespace(Route=Route, make_jpeg=make_jpeg, make_png=make_png)
