"""The ``pfcn fetch`` pipeline: release -> raw downloads (kept under ``DIR/raw``) -> 600x800 crops -> dataset.

Workers (threads; OpenCV and sockets release the GIL) get, check and crop one id each; only the main thread talks to
the ``DatasetWriter``, whose journal makes a killed run resumable. A rerun redoes only ids that never finished or
``failed``: every other status is an answer that asking again would not change.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import bench
from bench.data.format import (
    DatasetError,
    DatasetWriter,
    build_finished,
    encode_image,
    encode_mask,
    read_manifest_rows,
)
from bench.data.io import atomic_write_bytes, remove_partial_writes
from bench.errors import UserError
from bench.progress import Progress

from .crop import CLAMP_TOLERANCE, OUT_H, OUT_W, BadImage, crop_portrait
from .download import DownloadConfig, Throttle, check_jpeg, download, make_session
from .release import ID_RE, MaskError, Release, read_release, split_of

STATUSES = ("ok", "unused", "no_url", "no_crop", "no_mask", "unavailable", "failed", "bad_image")
FIELDS = ("url", "crop", "clamped", "raw_size", "raw_bytes", "raw_sha256")
RETRIED = ("failed",)  # the only status a rerun asks the network about again
RAW_DIR = "raw"
# Failures that say nothing about the photo, only about the way to Flickr.
NETWORK_ERRORS = ("name resolution failed", "connection error", "timed out")


class NetworkUnreachable(UserError):
    """The first downloads all failed with the same network error: the rest would too, so the run stops."""


@dataclass
class FetchOptions:
    """Everything ``pfcn fetch`` takes besides the release and the output folder."""

    split: str = "official"
    workers: int = 16
    download: DownloadConfig = field(default_factory=DownloadConfig)
    from_dir: Path | None = None
    offline: bool = False
    image_format: str = "jpg"
    progress: bool | None = None  # None/True: a bar on a terminal, else a line every progress_interval s
    progress_interval: float | None = None  # None: bench.progress.LINE_INTERVAL_S
    unreachable_after: int = 20  # stop when this many first downloads all fail with one network error


@dataclass
class Outcome:
    """What a worker found for one id; the main thread turns it into a manifest row (and files when ``ok``)."""

    sample_id: str
    split: str
    status: str
    detail: str = ""
    fields: dict[str, object] = field(default_factory=dict)
    source: str = ""
    image: bytes = b""
    mask: bytes = b""
    attempts: int = 0


@dataclass
class FetchReport:
    """Counts after a run (earlier runs' rows included) and what this run asked the network."""

    rows: dict[str, tuple[str, str]]  # id -> (status, split)
    linked: int  # ids with a URL
    problems: list[str]
    attempts: dict[str, int] = field(default_factory=dict)  # id -> HTTP attempts made by this run
    offline: bool = False
    from_dir: tuple[int, int] | None = None  # (files matched to an id, files that matched none) with --from-dir

    def count(self, status: str, split: str | None = None) -> int:
        return sum(1 for st, sp in self.rows.values() if st == status and (split is None or sp == split))

    def summary(self) -> str:
        ok = self.count("ok")
        unused = self.count("unused")
        failed = self.count("failed")
        lines = [
            f"recovered {ok + unused} of {self.linked} linked photos (train {self.count('ok', 'train')}, "
            f"test {self.count('ok', 'test')}, in neither list {unused}); "
            f"{self.count('unavailable')} unavailable, {failed} failed, {self.count('bad_image')} bad images; "
            f"without url/crop/mask: {self.count('no_url')}/{self.count('no_crop')}/{self.count('no_mask')}.",
        ]
        if self.from_dir is not None:
            lines.append(f"--from-dir: {self.from_dir[0]} files matched an id, {self.from_dir[1]} matched none "
                         "(names used: NNNNN.jpg, or the Flickr file name in alldata_urls.txt, in any subfolder).")
        if failed and self.offline:
            lines.append(f"{failed} photo{'s' * (failed > 1)} had no usable raw image and --offline forbids "
                         "downloading; give them with --from-dir, or rerun without --offline.")
        elif failed:
            lines.append(f"Rerun the same command to retry the {failed} failed download{'s' * (failed > 1)}.")
        else:
            lines.append("Nothing left to retry.")
        for split in ("train", "test"):
            if not self.count("ok", split):
                lines.append(f"warning: the {split} split is empty; the dataset cannot be used to "
                             f"{'train' if split == 'train' else 'evaluate'} yet.")
        return "\n".join(lines)


class _Counts:
    """Running counts for the progress bar."""

    def __init__(self, rows: dict[str, tuple[str, str]]) -> None:
        self.c = Counter(st for st, _ in rows.values())

    def postfix(self) -> dict[str, int]:
        return {"ok": self.c["ok"] + self.c["unused"], "unavailable": self.c["unavailable"],
                "failed": self.c["failed"]}


class _Fetcher:
    """Per-id work, shared by the worker threads (read-only state plus the thread-safe session)."""

    def __init__(self, release: Release, splits: dict[str, str], out: Path, opts: FetchOptions) -> None:
        self.release = release
        self.splits = splits
        self.raw_dir = out / RAW_DIR
        self.opts = opts
        self.session = None if opts.offline else make_session(opts.workers)
        self.from_dir_files, self.from_dir_unmatched = _index_from_dir(opts.from_dir, release)
        self.throttle = Throttle()
        self._rng_lock = threading.Lock()
        self._rng = random.Random()

    def _raw(self, sid: str) -> tuple[bytes, str, int, str]:
        """The raw JPEG for ``sid``: (bytes, source, HTTP attempts, failure status) - status '' when found."""
        own = self.raw_dir / f"{sid}.jpg"
        reasons = []
        for path, source in ((own, f"{RAW_DIR}/{sid}.jpg"), (self.from_dir_files.get(sid), None)):
            if path is None or not path.is_file():
                continue
            data = path.read_bytes()
            problem = check_jpeg(data)
            if problem is None:
                return data, source or str(path.resolve()), 0, ""
            reasons.append(f"{path}: {problem}")
            if path == own:
                own.unlink(missing_ok=True)  # never trust a bad file in our own raw folder again
        if self.opts.offline:
            why = "; ".join(reasons) or f"no {sid}.jpg in {self.raw_dir}" + (
                f" or {self.opts.from_dir}" if self.opts.from_dir else "")
            return b"", "", 0, f"failed:offline, no usable raw image ({why})"
        with self._rng_lock:
            rng = random.Random(self._rng.random())
        got = download(self.session, self.release.urls[sid], self.opts.download, self.throttle, rng)
        if got.status != "ok":
            return b"", "", got.attempts, f"{got.status}:{got.detail}"
        atomic_write_bytes(own, got.data)
        return got.data, f"{RAW_DIR}/{sid}.jpg", got.attempts, ""

    def process(self, sid: str) -> Outcome:
        rel = self.release
        split = self.splits[sid]
        url = rel.urls.get(sid)
        box = rel.crops.get(sid)
        out = Outcome(sid, split, "", fields={"url": url or "", "crop": str(box) if box else ""})
        if sid not in rel.urls:
            out.status, out.detail = "no_url", "no line in alldata_urls.txt"
            return out
        if url is None:
            out.status, out.detail = "no_url", "URL is None in alldata_urls.txt"
            return out
        if box is None:
            out.status, out.detail = "no_crop", "no line in crop.txt"
            return out
        if sid not in rel.mask_names:
            out.status, out.detail = "no_mask", f"no images_mask/{sid}_mask.mat"
            return out
        try:
            mask = rel.load_mask(sid)
        except MaskError as e:
            out.status, out.detail = "no_mask", str(e)
            return out
        data, source, out.attempts, failure = self._raw(sid)
        if failure:
            out.status, out.detail = failure.split(":", 1)
            return out
        out.source = source
        out.fields.update(raw_bytes=len(data), raw_sha256=hashlib.sha256(data).hexdigest())
        try:
            crop = crop_portrait(data, box, name=source)
        except BadImage as e:
            out.status, out.detail = "bad_image", str(e)
            return out
        out.fields.update(raw_size=f"{crop.width}x{crop.height}", clamped="yes" if crop.clamped else "no")
        if crop.clamped:
            out.detail = f"crop box {box} clamped to the {crop.width}x{crop.height} image"
        if split == "none":
            out.status = "unused"
            out.detail = (out.detail + "; " if out.detail else "") + "in neither the train nor the test list"
            return out
        out.status = "ok"
        out.image = encode_image(crop.rgb, self.opts.image_format)
        out.mask = encode_mask(mask)
        return out


def _index_from_dir(folder: Path | None, release: Release) -> tuple[dict[str, Path], int]:
    """Raw images under ``folder`` (any depth) by id, and how many files matched no id.

    A file is ``NNNNN.jpg`` (any case, .jpeg too) or named as Flickr serves it (``10041446846_49d351873d_b.jpg``,
    the last part of its URL in alldata_urls.txt); hidden files are not counted.
    """
    if folder is None:
        return {}, 0
    flickr = {urlsplit(u).path.rsplit("/", 1)[-1].lower(): sid for sid, u in release.urls.items() if u}
    known = set(release.urls) | set(release.mask_names)
    found: dict[str, Path] = {}
    unmatched = 0
    for p in sorted(folder.rglob("*")):
        if p.name.startswith(".") or not p.is_file():
            continue
        name = p.name.lower()
        stem, _, ext = name.rpartition(".")
        sid = stem if ext in ("jpg", "jpeg") and ID_RE.match(stem) else flickr.get(name)
        if sid in known:
            found.setdefault(sid, p)
        else:
            unmatched += 1
    return found, unmatched


def _record(writer: DatasetWriter, o: Outcome) -> None:
    if o.status == "ok":
        writer.add_encoded(o.sample_id, o.image, o.mask, o.split, detail=o.detail, source=o.source, **o.fields)
    else:
        writer.skip(o.sample_id, o.split, o.status, o.detail, source=o.source, **o.fields)


def _finished(writer: DatasetWriter, sid: str) -> bool:
    if writer.done(sid):
        return True
    row = writer.row(sid)
    return bool(row) and row.get("status") not in ("ok", *RETRIED) and row.get("status") in STATUSES


def fetch(release_path: str | os.PathLike, out: str | os.PathLike, opts: FetchOptions | None = None) -> FetchReport:
    """Build (or continue) the PFCN portrait dataset in ``out``; returns the counts. Raises ``ReleaseError`` or
    ``DatasetError`` when the release cannot be read or the output cannot be written."""
    opts = opts or FetchOptions()
    out = Path(out)
    release = read_release(release_path)
    splits = split_of(release, opts.split)
    params = {"split": opts.split, "crop": f"img[y0:y1, x0:x1] -> {OUT_W}x{OUT_H} INTER_AREA",
              "clamp_tolerance": CLAMP_TOLERANCE}
    writer = DatasetWriter(out, name=f"pfcn-{opts.split}", created_by=f"pfcn {bench.__version__}", params=params,
                           fields=FIELDS, image_format=opts.image_format)
    try:
        (out / RAW_DIR).mkdir(parents=True, exist_ok=True)
        remove_partial_writes(out / RAW_DIR)
        ids = release.ids()
        rows = {i: (writer.row(i)["status"], writer.row(i)["split"]) for i in ids if _finished(writer, i)}
        # ids finished earlier keep their rows; everything else (new, failed, killed half-way) is done now
        todo = [i for i in ids if i not in rows]
        fetcher = _Fetcher(release, splits, out, opts)
        attempts = _run(fetcher, writer, todo, rows, len(ids), opts)
        linked = sum(1 for u in release.urls.values() if u is not None)
        # a mask member that is there but cannot be used (corrupt, wrong shape or values) is a problem of the release
        problems = release.problems + [writer.row(i)["detail"] for i in ids
                                       if i in release.mask_names and rows[i][0] == "no_mask"]
        writer.finalize({"release_problems": problems, "linked": linked})
    finally:
        writer.close()
        remove_partial_writes(out / RAW_DIR)
    from_dir = (len(fetcher.from_dir_files), fetcher.from_dir_unmatched) if opts.from_dir else None
    return FetchReport(rows=rows, linked=linked, problems=problems, attempts=attempts, offline=opts.offline,
                       from_dir=from_dir)


def _run(fetcher: _Fetcher, writer: DatasetWriter, todo: list[str], rows: dict[str, tuple[str, str]], total: int,
         opts: FetchOptions) -> dict[str, int]:
    """Process ``todo`` on a thread pool with at most 2 x workers ids in flight; record in the main thread."""
    counts = _Counts(rows)
    attempts: dict[str, int] = {}
    first_network: list[tuple[str, str]] = []  # (status, detail) of the first outcomes that asked the network
    bar = Progress(total, "pfcn fetch", "ids", initial=total - len(todo), enabled=opts.progress,
                   interval=opts.progress_interval)
    pending: set[Future] = set()
    queue = iter(todo)
    ex = ThreadPoolExecutor(max_workers=max(1, opts.workers), thread_name_prefix="pfcn")
    try:
        while True:
            while len(pending) < 2 * max(1, opts.workers):
                sid = next(queue, None)
                if sid is None:
                    break
                pending.add(ex.submit(fetcher.process, sid))
            if not pending:
                break
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                o = fut.result()
                _record(writer, o)
                if o.attempts:
                    attempts[o.sample_id] = o.attempts
                    if len(first_network) < opts.unreachable_after:
                        first_network.append((o.status, o.detail))
                        _stop_if_unreachable(first_network, opts.unreachable_after)
                rows[o.sample_id] = (o.status, o.split)
                counts.c[o.status] += 1
                bar.update(1, **counts.postfix())
    finally:
        for fut in pending:
            fut.cancel()
        ex.shutdown(wait=True, cancel_futures=True)
        bar.close()
    return attempts


def _stop_if_unreachable(first: list[tuple[str, str]], n: int) -> None:
    if n < 1 or len(first) != n or len(set(first)) != 1:
        return
    status, detail = first[0]
    if status == "failed" and detail.startswith(NETWORK_ERRORS):
        raise NetworkUnreachable(
            f"the network looks unreachable: the first {n} downloads all failed with {detail!r}; stopped early. "
            "Check the connection (or HTTPS_PROXY), or use --offline with --from-dir; rerun to continue.")


def read_rows(out: str | os.PathLike) -> list[dict[str, str]]:
    """The manifest rows of a finished build, or the journalled rows of one still running or killed."""
    try:
        return read_manifest_rows(out)
    except DatasetError as e:
        raise FileNotFoundError(f"{out}: no manifest.csv (not a pfcn output folder, or nothing fetched yet)") from e


def status_table(out: str | os.PathLike) -> str:
    """Counts by status (rows) and split (columns) as a plain-text table."""
    rows = read_rows(out)
    c = Counter((r.get("status", ""), r.get("split", "") or "none") for r in rows)
    splits = [s for s in ("train", "test", "none") if any(sp == s for _, sp in c)]
    splits += sorted({sp for _, sp in c} - set(splits))
    statuses = [s for s in STATUSES if any(st == s for st, _ in c)]
    statuses += sorted({st for st, _ in c} - set(statuses))
    header = ["status", *splits, "total"]
    body = [[st, *(str(c[(st, sp)]) for sp in splits), str(sum(c[(st, sp)] for sp in splits))] for st in statuses]
    body.append(["total", *(str(sum(c[(st, sp)] for st in statuses)) for sp in splits), str(len(rows))])
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{widths[0]}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    lines = [fmt.format(*header), "  ".join("-" * w for w in widths)] + [fmt.format(*r) for r in body]
    if not build_finished(out):
        lines.append("(build not finished: counts from the journal; rerun pfcn fetch to continue)")
    return "\n".join(lines)
