"""The PSEG build: MHP tree -> per-image jobs in worker processes -> one ``bench.data.format.DatasetWriter``.

Workers read an image and its person files, decide each person's fate and return encoded crops and manifest
rows; only the parent writes. Every random choice is a function of (seed, image id, person index) and the
split of (seed, image id), so the output is byte-identical whatever ``workers`` is. A rerun keeps what an
earlier run finished (``DatasetWriter`` journal) and processes only the images with unfinished persons.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np

import bench
from bench.data.format import DatasetError, DatasetWriter, encode_image, encode_mask
from bench.progress import Progress
from pseg import crop as cropmod
from pseg.classes import IGNORE, ClassTable, table
from pseg.mhp import (
    BadFile,
    Box,
    MHPError,
    MHPImage,
    index_tree,
    match_faces,
    read_annotation,
    read_image,
    read_pose,
)
from pseg.stats import PAPER_COUNTS

FIELDS = (
    "source_image", "person", "x0", "y0", "x1", "y1", "subset", "persons_in_image",
    "head_x0", "head_y0", "head_x1", "head_y1", "face_x0", "face_y0", "face_x1", "face_y1",
    "persons_in_crop", "coverage",
)


@dataclass(frozen=True)
class BuildOptions:
    """Everything that decides the output (stored as the dataset's params; a resumed build must match)."""

    version: str = "auto"
    seed: int = 0
    test_fraction: float = 0.1
    size: tuple[int, int] = (600, 800)  # output width, height
    per: str = "person"
    min_head: int = 40
    limit: int | None = None
    jpeg_quality: int = 95

    def check(self) -> None:
        if self.per not in ("person", "image"):
            raise ValueError(f"--per must be 'person' or 'image', not {self.per!r}")
        if not 0.0 <= self.test_fraction <= 1.0:
            raise ValueError(f"--test-fraction must lie in [0, 1], not {self.test_fraction}")
        if min(self.size) < 1:
            raise ValueError(f"--size must be positive, not {self.size}")
        if self.min_head < 1:
            raise ValueError(f"--min-head must be at least 1, not {self.min_head}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"--limit must be at least 1, not {self.limit}")


@dataclass(frozen=True)
class Job:
    """One image's work, all a worker needs (picklable, no open files)."""

    image: MHPImage
    split: str
    version: str
    options: BuildOptions


@dataclass
class Outcome:
    """One candidate person's result: a manifest row, and encoded crop and mask when kept."""

    sample_id: str
    split: str
    status: str
    detail: str
    fields: dict[str, object]
    image_bytes: bytes = b""
    mask_bytes: bytes = b""


@dataclass
class BuildSummary:
    """What a build did (returned to the CLI, which prints it)."""

    out: Path
    version: str
    root: Path
    images: int
    images_processed: int
    candidates: int
    counts: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)


def sample_id(image_id: str, person: int) -> str:
    """Manifest id of person ``k`` of an image (``00`` for a row about the image itself)."""
    return f"{image_id}_{person:02d}"


def candidate_ids(img: MHPImage) -> list[str]:
    """The ids a job for ``img`` records: one per person index 1..P, or one image row when it has none."""
    if img.n_persons == 0:
        return [sample_id(img.image_id, 0)]
    return [sample_id(img.image_id, k) for k in range(1, img.n_persons + 1)]


def choose_test_images(image_ids: list[str], fraction: float, seed: int) -> set[str]:
    """The test images: the ``round(fraction * n)`` with the lowest seeded hash (the same in any order)."""
    n_test = int(round(fraction * len(image_ids)))
    ranked = sorted(image_ids, key=lambda i: (hashlib.sha256(f"{seed}:{i}".encode()).digest(), i))
    return set(ranked[:n_test])


# -- one image -----------------------------------------------------------------------------------------------
@dataclass
class _Person:
    k: int
    labels: np.ndarray | None = None  # class map (uint8) or None when empty/unusable
    reason: str = ""
    head: Box | None = None
    box: Box | None = None
    face: Box | None = None
    fields: dict[str, object] = field(default_factory=dict)


def _bbox(mask: np.ndarray) -> Box | None:
    x, y, w, h = cv2.boundingRect(mask.view(np.uint8))
    return None if w == 0 else (x, y, x + w, y + h)


def _skip_all(job: Job, reason: str) -> list[Outcome]:
    img = job.image
    rows = []
    for sid in candidate_ids(img):
        k = int(sid.rsplit("_", 1)[1])
        rows.append(Outcome(sid, job.split, "skipped", reason, _base_fields(img, k)))
    return rows


def _base_fields(img: MHPImage, k: int) -> dict[str, object]:
    return {"source": img.source, "source_image": img.image_id, "person": k, "subset": img.subset,
            "persons_in_image": img.n_persons}


def _eligibility(p: _Person, tab: ClassTable, width: int, height: int, min_head: int) -> tuple[str, int]:
    """The reason ``p`` cannot be a subject ("" if it can) and its first upper-body row under the head."""
    labels = p.labels
    head = tab.head_lut[labels]
    p.head = _bbox(head)
    if p.head is None:
        return "no-head: no head-class pixels (hat, hair, face, ...)", -1
    hx0, hy0, hx1, hy1 = p.head
    if hx0 == 0 or hy0 == 0 or hx1 == width or hy1 == height:
        return "head-cut: the head touches the image border", -1
    if hy1 - hy0 < min_head:
        return f"head-too-small: head is {hy1 - hy0} px tall, --min-head is {min_head}", -1
    start = hy0 + (hy1 - hy0) // 2
    rows = np.flatnonzero(tab.upper_lut[labels[start:, hx0:hx1]].any(axis=1))
    if rows.size == 0:
        return "no-upper-body: no upper-body pixels under the head", -1
    upper_top = start + int(rows[0])
    if upper_top - hy1 > (hy1 - hy0):
        return "no-upper-body: the upper body starts more than a head height under the head", -1
    return "", upper_top


def _resize(arr: np.ndarray, size: tuple[int, int], nearest: bool) -> np.ndarray:
    if nearest:
        return cv2.resize(arr, size, interpolation=cv2.INTER_NEAREST)
    shrinking = size[0] < arr.shape[1] or size[1] < arr.shape[0]
    return cv2.resize(arr, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def process_image(job: Job) -> list[Outcome]:
    """Every candidate person of one image: kept crops (encoded), skipped rows with reasons. Never raises."""
    try:
        return _process_image(job)
    except Exception as e:  # a fault in one image never stops the build
        return _skip_all(job, f"internal-error: {type(e).__name__}: {e}")


def _process_image(job: Job) -> list[Outcome]:
    img = job.image
    if img.n_persons == 0:
        return _skip_all(job, "no-annotations: no person files for this image")
    if img.image_path is None:
        return _skip_all(job, "missing-image: no image file for this id")
    try:
        rgb = read_image(img.image_path)
    except MHPError as e:
        return _skip_all(job, f"undecodable-image: {e}")
    height, width = rgb.shape[:2]
    persons, fatal = _read_persons(img, width, height)
    if fatal:
        for p in persons.values():
            if not p.reason:
                p.reason = (f"sibling-unusable: person {fatal[0]}'s annotation is unusable, so masks would "
                            "miss a person")
        return [Outcome(sample_id(img.image_id, k), job.split, "skipped", p.reason, _base_fields(img, k))
                for k, p in persons.items()]
    union, labelled = _union_mask(persons, width, height)
    _choose_boxes(job, persons, labelled, width, height)
    return [_emit(job, k, p, rgb, union, labelled) for k, p in persons.items()]


def _read_persons(img: MHPImage, width: int, height: int) -> tuple[dict[int, _Person], list[int]]:
    """Every person's label map, or why it has none; and the persons whose pixels are unknown, so that every crop
    of this image would miss them in its mask."""
    persons: dict[int, _Person] = {}
    fatal = []
    for k in range(1, img.n_persons + 1):
        p = persons[k] = _Person(k)
        path = img.persons.get(k)
        if path is None:
            p.reason = "missing-annotation: no person file for this index"
            fatal.append(k)
            continue
        try:
            labels = read_annotation(path)
        except MHPError as e:
            p.reason = f"unreadable-annotation: {e}"
            fatal.append(k)
            continue
        if labels is None:
            p.reason = f"empty-person: {path.name} is an empty file"
        elif labels.shape != (height, width):
            p.reason = (f"size-mismatch: {path.name} is {labels.shape[1]}x{labels.shape[0]}, the image "
                        f"{width}x{height}")
            fatal.append(k)
        else:
            p.labels = labels
    return persons, fatal


def _union_mask(persons: dict[int, _Person], width: int, height: int) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """The union of every person (1 where labelled, 255 where only an ignore region is, 0 elsewhere) and each
    labelled person's own pixels; a person with no labelled pixel gets its reason."""
    union = np.zeros((height, width), np.uint8)
    ignore = np.zeros((height, width), bool)
    labelled: dict[int, np.ndarray] = {}
    for k, p in persons.items():
        if p.labels is None:
            continue
        lab = (p.labels > 0) & (p.labels != IGNORE)
        ign = p.labels == IGNORE
        ignore |= ign
        if lab.any():
            labelled[k] = lab
            union[lab] = 1
        elif ign.any():
            p.reason = "ignore-person: the person file is marked 255 (ignore), no parts labelled"
        else:
            p.reason = "empty-person: the person file has no labelled pixel"
    union[ignore & (union == 0)] = IGNORE
    return union, labelled


def _choose_boxes(job: Job, persons: dict[int, _Person], labelled: dict[int, np.ndarray], width: int,
                  height: int) -> None:
    """Each eligible person's head-and-shoulders crop box (widened by a matched face box on v2), or why none;
    with ``--per image``, one person of the image is kept."""
    img, opt = job.image, job.options
    tab = table(job.version)
    upper_top: dict[int, int] = {}
    for k, p in persons.items():
        if p.reason:
            continue
        p.reason, upper_top[k] = _eligibility(p, tab, width, height, opt.min_head)

    if job.version == "v2" and img.pose_path is not None:
        try:
            poses = read_pose(img.pose_path)
        except MHPError:
            poses = []  # face boxes only refine the head region; a broken pose file loses nothing else
        boxes = {k: (_bbox(labelled[k]), persons[k].head) for k in labelled}
        for k, face in match_faces(poses, {k: b for k, b in boxes.items() if b[0] is not None}).items():
            persons[k].face = face

    aspect = opt.size[0] / opt.size[1]
    for k, p in persons.items():
        if p.reason:
            continue
        head = p.head
        if p.face is not None:  # the matched face box can only widen the region kept, within the image
            f = p.face
            head = (max(0, min(head[0], f[0])), max(0, min(head[1], f[1])),
                    min(width, max(head[2], f[2])), min(height, max(head[3], f[3])))
        rng = cropmod.person_rng(opt.seed, img.image_id, k)
        p.box = cropmod.sample_box(head, upper_top[k], width, height, aspect, rng)
        if p.box is None:
            p.reason = "crop-does-not-fit: no box of the output aspect holds head and shoulders in the image"

    eligible = [k for k, p in persons.items() if not p.reason]
    if opt.per == "image" and len(eligible) > 1:
        chosen = eligible[int(cropmod.image_rng(opt.seed, img.image_id).integers(len(eligible)))]
        for k in eligible:
            if k != chosen:
                persons[k].reason = f"not-chosen: --per image keeps person {chosen} of this image"


def _emit(job: Job, k: int, p: _Person, rgb: np.ndarray, union: np.ndarray,
          labelled: dict[int, np.ndarray]) -> Outcome:
    """Person ``k``'s outcome: the encoded crop and mask when it has a box, else the reason it was skipped."""
    img, opt = job.image, job.options
    fields = _base_fields(img, k)
    if p.head is not None:
        fields.update(zip(("head_x0", "head_y0", "head_x1", "head_y1"), p.head, strict=True))
    if p.face is not None:
        fields.update(zip(("face_x0", "face_y0", "face_x1", "face_y1"), p.face, strict=True))
    if p.box is not None:
        fields.update(zip(("x0", "y0", "x1", "y1"), p.box, strict=True))
    sid = sample_id(img.image_id, k)
    if p.reason:
        return Outcome(sid, job.split, "skipped", p.reason, fields)
    x0, y0, x1, y1 = p.box
    mask = _resize(union[y0:y1, x0:x1], opt.size, nearest=True)
    crop = _resize(np.ascontiguousarray(rgb[y0:y1, x0:x1]), opt.size, nearest=False)
    fields["persons_in_crop"] = sum(1 for lab in labelled.values() if lab[y0:y1, x0:x1].any())
    fields["coverage"] = round(float(np.count_nonzero(mask == 1)) / mask.size, 6)
    return Outcome(sid, job.split, "ok", "", fields, encode_image(crop, "jpg", opt.jpeg_quality), encode_mask(mask))


def _init_worker() -> None:
    cv2.setNumThreads(1)  # one process per core already; OpenCV threads would only contend


# -- the whole build -----------------------------------------------------------------------------------------
def _bad_file_row(bad: BadFile, splits: dict[str, str]) -> tuple[str, str, dict[str, object]]:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "-", bad.path.name)[:80]
    digest = hashlib.sha256(str(bad.path.name).encode()).hexdigest()[:8]
    sid = f"badfile-{safe}-{digest}"
    fields: dict[str, object] = {"source": f"{bad.path.parent.name}/{bad.path.name}",
                                 "source_image": bad.image_id or "",
                                 "person": bad.person or ""}
    return sid, splits.get(bad.image_id or "", "none"), fields


def _finished(writer: DatasetWriter, ids: list[str]) -> bool:
    for sid in ids:
        row = writer.row(sid)
        if row is None or (row.get("status") == "ok" and not writer.done(sid)):
            return False
    return True


def build_pseg(mhp_root: str | os.PathLike, out: str | os.PathLike, options: BuildOptions = BuildOptions(),
               workers: int | None = None, progress: bool = True) -> BuildSummary:
    """Build PSEG from an MHP tree into ``out`` (resumable); raises MHPError/DatasetError only when fatal."""
    options.check()
    tree = index_tree(mhp_root, options.version)
    images = tree.images[: options.limit] if options.limit else tree.images
    test = choose_test_images([i.image_id for i in images], options.test_fraction, options.seed)
    splits = {i.image_id: ("test" if i.image_id in test else "train") for i in images}
    params = {k: v for k, v in asdict(options).items() if k != "jpeg_quality"}
    params.update(version=tree.version, size=f"{options.size[0]}x{options.size[1]}")
    writer = DatasetWriter(out, name=f"pseg-mhp-{tree.version}", created_by=f"pseg {bench.__version__}",
                           params=params, fields=FIELDS, jpeg_quality=options.jpeg_quality)
    job_options = BuildOptions(**{**asdict(options), "version": tree.version})
    try:
        listed = {i.image_id for i in images}
        for bad in tree.bad_files:
            if bad.image_id is not None and bad.image_id not in listed:
                continue  # belongs to an image beyond --limit
            sid, split, fields = _bad_file_row(bad, splits)
            if writer.row(sid) is None:
                writer.skip(sid, split, "skipped", bad.reason, **fields)
        jobs = [Job(i, splits[i.image_id], tree.version, job_options) for i in images
                if not _finished(writer, candidate_ids(i))]
        n_candidates = sum(len(candidate_ids(i)) for i in images)
        for outcome in _run(jobs, workers, progress):
            if outcome.status == "ok":
                writer.add_encoded(outcome.sample_id, outcome.image_bytes, outcome.mask_bytes, outcome.split,
                                   **outcome.fields)
            else:
                writer.skip(outcome.sample_id, outcome.split, outcome.status, outcome.detail,
                            **outcome.fields)
        meta = writer.finalize({
            "source": {"dataset": f"LV-MHP-{tree.version}", "images": len(images),
                       "candidates": n_candidates, "duplicate_ids": tree.duplicates,
                       "bad_list_lines": tree.bad_list_lines},
            "paper_counts": PAPER_COUNTS,
        })
    finally:
        writer.close()
    return BuildSummary(Path(out), tree.version, tree.root, len(images), len(jobs), n_candidates,
                        dict(meta["counts"]), dict(meta["statuses"]))


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _run(jobs: list[Job], workers: int | None, progress: bool) -> Iterator[Outcome]:
    workers = default_workers() if not workers else workers
    workers = max(1, min(workers, len(jobs)))
    bar = Progress(len(jobs), "pseg build", "images", enabled=None if progress else False)
    try:
        if workers == 1 or len(jobs) <= 1:
            results: Iterator[list[Outcome]] = map(process_image, jobs)
            for res in results:
                yield from res
                bar.update(1)
        else:
            with get_context("spawn").Pool(workers, _init_worker) as pool:  # fork can deadlock OpenCV
                chunk = max(1, min(8, math.ceil(len(jobs) / (workers * 16))))
                for res in pool.imap_unordered(process_image, jobs, chunksize=chunk):
                    yield from res
                    bar.update(1)
    finally:
        bar.close()


__all__ = ["BuildOptions", "BuildSummary", "DatasetError", "MHPError", "build_pseg", "process_image",
           "choose_test_images", "sample_id", "FIELDS", "PAPER_COUNTS"]
