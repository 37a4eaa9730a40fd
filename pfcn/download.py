"""Download one Flickr photo robustly: pooled session, retries with backoff, dead-link and placeholder detection.

Flickr answers a deleted photo with a redirect to ``.../photo_unavailable*.png`` (status 200 after the redirect);
redirects are followed by hand so that target is recognised before it is requested. Error descriptions are built
here (never ``str(exception)``, which holds object addresses) so a manifest does not depend on the run.
"""

from __future__ import annotations

import email.utils
import errno
import random
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter

import bench

PLACEHOLDER_MARK = "photo_unavailable"
REDIRECTS = (301, 302, 303, 307, 308)
NO_RETRY_GONE = (404, 410)
MAX_REDIRECTS = 8
USER_AGENT = f"elb-portrait-pfcn/{bench.__version__} (PFCN dataset recovery; python-requests)"


@dataclass(frozen=True)
class DownloadConfig:
    """How hard to try; every delay is an option so tests can run with tiny ones."""

    timeout: float = 30.0  # seconds, connect and between bytes; a whole attempt gets 4x this
    retries: int = 4  # extra attempts after the first one
    backoff_base: float = 1.0  # seconds before the first retry, doubled each time, with jitter
    backoff_max: float = 60.0
    retry_after_max: float = 300.0  # never sleep longer than this for a Retry-After header
    max_bytes: int = 16 * 1024 * 1024  # a Flickr _b JPEG is well under 1 MiB


@dataclass
class Download:
    """The outcome of one download: status ``ok`` / ``unavailable`` / ``failed`` / ``bad_image``."""

    status: str
    data: bytes = b""
    detail: str = ""
    attempts: int = 0


class _Retryable(Exception):
    """An attempt that may succeed if repeated; ``retry_after`` in seconds when the server said so."""

    def __init__(self, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after


class _Final(Exception):
    """An answer that repeating will not change."""

    def __init__(self, status: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def make_session(pool_size: int = 16) -> requests.Session:
    """One pooled session for all threads; honours HTTP_PROXY/HTTPS_PROXY/NO_PROXY (requests' trust_env)."""
    s = requests.Session()
    adapter = HTTPAdapter(pool_connections=max(4, pool_size), pool_maxsize=max(4, pool_size), max_retries=0)
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    s.headers.update({"User-Agent": USER_AGENT, "Accept": "image/jpeg,image/*;q=0.8,*/*;q=0.1"})
    return s


class Throttle:
    """A pause shared by all threads: after a 429 with Retry-After, nobody asks again before it expires."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._not_before = 0.0

    def wait(self) -> None:
        with self._lock:
            delay = self._not_before - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def hold(self, seconds: float) -> None:
        with self._lock:
            self._not_before = max(self._not_before, time.monotonic() + seconds)


def is_placeholder(url: str) -> bool:
    """True for Flickr's "photo unavailable" image (``.../photo_unavailable.png``, ``..._l.png``, ...)."""
    return PLACEHOLDER_MARK in urlsplit(url).path.rsplit("/", 1)[-1]


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def check_jpeg(data: bytes) -> str | None:
    """Why ``data`` is not a complete JPEG (None when it is): magic bytes, then the end-of-image marker."""
    if not data.startswith(b"\xff\xd8\xff"):
        return _not_jpeg(data)
    if b"\xff\xd9" not in data[-4096:]:
        return "truncated JPEG (no end-of-image marker)"
    return None


def _not_jpeg(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        kind = "a PNG"
    elif data[:256].lstrip().lower().startswith((b"<!doctype html", b"<html")):
        kind = "HTML"
    elif not data:
        kind = "empty"
    else:
        kind = f"starts with {data[:8].hex(' ')}"
    return f"not a JPEG ({kind})"


def _describe(exc: BaseException) -> str:
    """A stable one-line description of a network error."""
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "truncated body (connection closed early)"
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, socket.gaierror):
            return f"name resolution failed ({cur.strerror or cur.errno})"
        if isinstance(cur, OSError) and cur.errno:
            name = errno.errorcode.get(cur.errno, str(cur.errno))
            return f"connection error ({name}: {cur.strerror or ''})".replace(": )", ")")
        if isinstance(cur, TimeoutError):
            return "timed out"
        cur = cur.__cause__ or cur.__context__ or (cur.args[0] if cur.args and
                                                   isinstance(cur.args[0], BaseException) else None)
    return f"connection error ({type(exc).__name__})"


def _read_body(resp: requests.Response, cfg: DownloadConfig, deadline: float) -> bytes:
    length = resp.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > cfg.max_bytes:
        raise _Final("bad_image", f"response of {int(length)} bytes exceeds the {cfg.max_bytes}-byte cap")
    chunks: list[bytes] = []
    total = 0
    for chunk in resp.iter_content(chunk_size=64 * 1024):
        total += len(chunk)
        if total > cfg.max_bytes:
            raise _Final("bad_image", f"response exceeds the {cfg.max_bytes}-byte cap")
        if time.monotonic() > deadline:
            raise _Retryable(f"timed out (body not complete after {4 * cfg.timeout:g} s)")
        chunks.append(chunk)
    data = b"".join(chunks)
    if length and length.isdigit() and len(data) < int(length):
        raise _Retryable(f"truncated body ({len(data)} of {int(length)} bytes)")
    return data


def _attempt(session: requests.Session, url: str, cfg: DownloadConfig) -> bytes:
    """One attempt, following redirects by hand; returns the JPEG bytes or raises ``_Retryable``/``_Final``."""
    deadline = time.monotonic() + 4 * cfg.timeout
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        try:
            resp = session.get(current, timeout=cfg.timeout, stream=True, allow_redirects=False)
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema) as e:
            raise _Final("failed", f"invalid URL ({type(e).__name__})") from e
        except requests.RequestException as e:
            raise _Retryable(_describe(e)) from e
        with resp:
            code = resp.status_code
            if code in REDIRECTS:
                loc = resp.headers.get("Location")
                if not loc:
                    raise _Final("failed", f"HTTP {code} redirect without a Location")
                target = urljoin(current, loc)
                if is_placeholder(target):
                    raise _Final("unavailable", f"redirected to Flickr's placeholder {target}")
                current = target
                continue
            if code in NO_RETRY_GONE:
                raise _Final("unavailable", f"HTTP {code} {resp.reason or ''}".strip())
            if code == 429 or code == 408 or code >= 500:
                raise _Retryable(f"HTTP {code} {resp.reason or ''}".strip(),
                                 parse_retry_after(resp.headers.get("Retry-After")))
            if code != 200:
                raise _Final("failed", f"HTTP {code} {resp.reason or ''}".strip())
            if is_placeholder(current):
                raise _Final("unavailable", f"served Flickr's placeholder {current}")
            try:
                data = _read_body(resp, cfg, deadline)
            except requests.RequestException as e:
                raise _Retryable(_describe(e)) from e
        problem = check_jpeg(data)
        if problem is None:
            return data
        if problem.startswith("truncated"):
            raise _Retryable(problem)
        ctype = resp.headers.get("Content-Type", "")
        raise _Final("bad_image", f"{problem}; Content-Type {ctype!r}" if ctype else problem)
    raise _Final("failed", f"more than {MAX_REDIRECTS} redirects")


def backoff_delay(cfg: DownloadConfig, retry: int, rng: random.Random) -> float:
    """Exponential backoff with jitter: uniform in [d/2, d], d = base * 2**retry capped at ``backoff_max``."""
    d = min(cfg.backoff_max, cfg.backoff_base * (2 ** retry))
    return d * (0.5 + 0.5 * rng.random())


def download(session: requests.Session, url: str, cfg: DownloadConfig, throttle: Throttle | None = None,
             rng: random.Random | None = None) -> Download:
    """Fetch ``url`` with retries; never returns ``ok`` for a placeholder, a non-JPEG or a truncated body."""
    rng = rng or random.Random()
    last = ""
    for attempt in range(cfg.retries + 1):
        if throttle:
            throttle.wait()
        try:
            return Download("ok", _attempt(session, url, cfg), "", attempt + 1)
        except _Final as e:
            return Download(e.status, b"", e.detail, attempt + 1)
        except _Retryable as e:
            last = e.detail
            if attempt == cfg.retries:
                break
            delay = backoff_delay(cfg, attempt, rng)
            if e.retry_after is not None:
                wait = min(cfg.retry_after_max, e.retry_after)
                if throttle:
                    throttle.hold(wait)
                delay = max(delay, wait)
            time.sleep(delay)
    n = cfg.retries + 1
    return Download("failed", b"", f"{last} (after {n} attempt{'s' if n > 1 else ''})", n)
