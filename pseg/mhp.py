"""Readers for LV-MHP-v1 and v2 exactly as they ship: tree detection, list files, annotations, pose files.

v1: ``images/NNNN.jpg``, ``annotations/<img>_<P:02d>_<k:02d>.png`` (one 8-bit channel, value = class id),
``train_list.txt`` / ``test_list.txt`` (lines like ``0001.jpg``). v2: ``list/{train,val}.txt`` (bare ids),
``{train,val}/images/<id>.jpg``, ``parsing_annos/<id>_<P:02d>_<k:02d>.png`` (class id in the R channel of a 3-
or 4-channel PNG), ``pose_annos/<id>.mat`` (face and person boxes, not linked to ``k``: matched by overlap).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from bench.data.format import DatasetError, decode_image
from bench.errors import UserError

V1_DIR, V2_DIR = "LV-MHP-v1", "LV-MHP-v2"
V1_LISTS = ("train_list.txt", "test_list.txt")  # PSEG pools both (train_list holds train+val)
V2_SUBSETS = ("train", "val")  # v2 test has no annotations
IMAGE_EXTS = (".jpg", ".jpeg", ".png")
EXPECTED = (
    f"expected {V1_DIR} (images/, annotations/, train_list.txt or test_list.txt), {V2_DIR} "
    "(list/ and train/ or val/ holding images/ and parsing_annos/), or a folder holding one of them"
)
_ANNO_RE = re.compile(r"^(?P<img>[A-Za-z0-9][A-Za-z0-9.-]*)_(?P<n>\d+)_(?P<k>\d+)\.png$", re.IGNORECASE)
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,100}$")  # no '_': it separates annotation name fields


class MHPError(UserError):
    """Not an MHP tree, or an MHP file that cannot be used; the message names the path and the problem."""


@dataclass
class MHPImage:
    """One annotated image: where its files are and which person files it has (``persons[k]`` = path)."""

    image_id: str
    subset: str
    image_path: Path | None
    persons: dict[int, Path] = field(default_factory=dict)
    n_persons: int = 0
    pose_path: Path | None = None
    source: str = ""  # the image's path inside the version folder (where it is, or should be)


@dataclass
class BadFile:
    """An annotation file whose name cannot be used (recorded as a skipped row, never read)."""

    path: Path
    image_id: str | None
    person: int | None
    reason: str


@dataclass
class MHPTree:
    """An indexed MHP version folder: every listed image with its person files, and the unusable files."""

    version: str
    root: Path
    images: list[MHPImage]
    bad_files: list[BadFile]
    duplicates: list[str]
    bad_list_lines: list[str]


# -- detection -----------------------------------------------------------------------------------------------
def _is_v1(p: Path) -> bool:
    has_list = any((p / f).is_file() for f in V1_LISTS)
    return (p / "images").is_dir() and (p / "annotations").is_dir() and has_list


def _is_v2(p: Path) -> bool:
    return (p / "list").is_dir() and any((p / s / "parsing_annos").is_dir() for s in V2_SUBSETS)


def find_tree(root: str | os.PathLike, version: str = "auto") -> tuple[str, Path]:
    """``(version, folder)`` for ``root`` naming an MHP version folder or its parent; else MHPError."""
    if version not in ("auto", "v1", "v2"):
        raise MHPError(f"unknown MHP version {version!r}; expected auto, v1 or v2")
    root = Path(root)
    if not root.is_dir():
        raise MHPError(f"{root}: not a folder; {EXPECTED}")
    checks = {"v1": _is_v1, "v2": _is_v2}
    wanted = ("v1", "v2") if version == "auto" else (version,)
    here = [v for v in wanted if checks[v](root)]
    if here:
        return here[0], root
    found: dict[str, list[Path]] = {"v1": [], "v2": []}
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        for v in wanted:
            if checks[v](child):
                found[v].append(child)
    hits = [(v, p) for v in wanted for p in found[v]]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        names = ", ".join(f"{p.name} ({v})" for v, p in hits)
        hint = "choose one with --mhp-version or " if version == "auto" else ""
        raise MHPError(f"{root}: holds several MHP trees ({names}); {hint}name the version folder itself")
    other = [v for v in ("v1", "v2") if v not in wanted and checks[v](root)]
    if other:
        raise MHPError(f"{root}: is an LV-MHP-{other[0]} tree, not {version} "
                       f"(use --mhp-version auto or {other[0]})")
    raise MHPError(f"{root}: not an MHP tree; {EXPECTED}")


# -- list files ----------------------------------------------------------------------------------------------
def read_list(path: str | os.PathLike) -> tuple[list[str], list[str]]:
    """Image ids of a list file of either style (``0001.jpg`` or bare ``96``), in order; and its bad lines."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as e:
        raise MHPError(f"{path}: cannot read the list file ({e.strerror or e})") from e
    ids, bad = [], []
    for n, line in enumerate(text.splitlines(), 1):
        token = line.strip()
        if not token:
            continue
        stem, ext = os.path.splitext(token)
        image_id = stem if ext.lower() in IMAGE_EXTS else token
        if _ID_RE.match(image_id):
            ids.append(image_id)
        else:
            bad.append(f"{path.name}:{n}: {token!r}")
    return ids, bad


# -- indexing ------------------------------------------------------------------------------------------------
def _scan(folder: Path) -> list[os.DirEntry]:
    if not folder.is_dir():
        return []
    with os.scandir(folder) as it:
        return sorted((e for e in it if e.is_file() and not e.name.startswith(".")), key=lambda e: e.name)


def _image_files(folder: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for e in _scan(folder):
        stem, ext = os.path.splitext(e.name)
        if ext.lower() in IMAGE_EXTS and stem not in out:
            out[stem] = Path(e.path)
    return out


def _attach_annotations(folder: Path, images: dict[str, MHPImage], bad: list[BadFile]) -> None:
    """Attach the person files of ``folder`` to the listed images; unusable names become ``BadFile``s."""
    parsed: dict[str, list[tuple[int, int, Path]]] = {}
    for e in _scan(folder):
        m = _ANNO_RE.match(e.name)
        if not m:
            lead = re.match(r"[A-Za-z0-9]+", e.name)
            owner = lead.group(0) if lead and lead.group(0) in images else None
            bad.append(BadFile(Path(e.path), owner, None,
                               f"malformed-name: {e.name} is not <image>_<persons:02d>_<k:02d>.png"))
            continue
        if m.group("img") not in images:
            continue  # an image no list names (PSEG uses the listed images only)
        n, k = int(m.group("n")), int(m.group("k"))
        if not 1 <= k <= n:
            bad.append(BadFile(Path(e.path), m.group("img"), k or None,
                               f"malformed-name: {e.name} has person index {k} outside 1..{n}"))
            continue
        parsed.setdefault(m.group("img"), []).append((n, k, Path(e.path)))
    for image_id, files in parsed.items():
        counts = sorted({n for n, _, _ in files}, key=lambda n: (-sum(f[0] == n for f in files), n))
        n_persons = counts[0]  # the count most of the image's files agree on
        img = images[image_id]
        img.n_persons = n_persons
        for n, k, p in files:
            if n != n_persons:
                bad.append(BadFile(p, image_id, k, f"malformed-name: {p.name} says {n} persons, its "
                                                    f"sibling files say {n_persons}"))
            elif k in img.persons:
                bad.append(BadFile(p, image_id, k, f"malformed-name: {p.name} repeats person {k}"))
            else:
                img.persons[k] = p


def index_tree(root: str | os.PathLike, version: str = "auto") -> MHPTree:
    """Find and index an MHP tree: the listed images of each annotated subset, in list order, deduplicated."""
    version, folder = find_tree(root, version)
    images: dict[str, MHPImage] = {}
    bad: list[BadFile] = []
    duplicates: list[str] = []
    bad_lines: list[str] = []

    def add_listed(ids: list[str], subset: str, files: dict[str, Path],
                   pose_dir: Path | None) -> dict[str, MHPImage]:
        mine: dict[str, MHPImage] = {}
        image_dir = "images" if version == "v1" else f"{subset}/images"
        for image_id in ids:
            if image_id in images:
                duplicates.append(f"{subset}/{image_id}")
                continue
            pose = pose_dir / f"{image_id}.mat" if pose_dir is not None else None
            images[image_id] = mine[image_id] = MHPImage(
                image_id, subset, files.get(image_id),
                pose_path=pose if pose is not None and pose.is_file() else None)
            path = files.get(image_id)
            mine[image_id].source = f"{image_dir}/{path.name if path else image_id + '.jpg'}"
        return mine

    if version == "v1":
        files = _image_files(folder / "images")
        listed: dict[str, MHPImage] = {}
        for name in V1_LISTS:
            if (folder / name).is_file():
                ids, bl = read_list(folder / name)
                bad_lines += bl
                listed.update(add_listed(ids, name.removesuffix(".txt"), files, None))
        _attach_annotations(folder / "annotations", listed, bad)
    else:
        for subset in V2_SUBSETS:
            lst = folder / "list" / f"{subset}.txt"
            if not lst.is_file() or not (folder / subset).is_dir():
                continue
            ids, bl = read_list(lst)
            bad_lines += bl
            mine = add_listed(ids, subset, _image_files(folder / subset / "images"),
                              folder / subset / "pose_annos")
            _attach_annotations(folder / subset / "parsing_annos", mine, bad)
    if not images:
        raise MHPError(f"{folder}: an LV-MHP-{version} tree whose list files name no images; {EXPECTED}")
    return MHPTree(version, folder, list(images.values()), bad, duplicates, bad_lines)


# -- pixels --------------------------------------------------------------------------------------------------
def read_image(path: Path) -> np.ndarray:
    """The image as RGB uint8, pixels as stored (no EXIF rotation: annotations follow the stored pixels)."""
    try:
        return decode_image(path.read_bytes(), str(path))
    except DatasetError as e:
        raise MHPError(str(e)) from None


def class_map(pixels: np.ndarray) -> np.ndarray:
    """The class ids of a decoded (OpenCV, BGR order) annotation: v1 one channel; v2 the R channel of 3 or 4.

    Never convert a v2 annotation to grey: that yields about 0.3 x R, not the class id.
    """
    if pixels.ndim == 2:
        return pixels
    if pixels.ndim == 3 and pixels.shape[2] in (3, 4):
        return np.ascontiguousarray(pixels[:, :, 2])  # BGR(A): R is channel 2
    if pixels.ndim == 3 and pixels.shape[2] in (1, 2):
        return np.ascontiguousarray(pixels[:, :, 0])  # grey (+ alpha)
    raise MHPError(f"unexpected annotation layout {pixels.shape}")


def read_annotation(path: Path) -> np.ndarray | None:
    """A person file's class map (uint8, H x W); ``None`` for a 0-byte file (an empty person)."""
    data = np.fromfile(str(path), dtype=np.uint8)
    if data.size == 0:
        return None
    pixels = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise MHPError(f"{path}: not a decodable PNG")
    if pixels.dtype != np.uint8:
        raise MHPError(f"{path}: {pixels.dtype} pixels, expected 8-bit class ids")
    try:
        return class_map(pixels)
    except MHPError as e:
        raise MHPError(f"{path}: {e}") from None


# -- v2 pose files -------------------------------------------------------------------------------------------
Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels, x1 and y1 exclusive


@dataclass(frozen=True)
class PosePerson:
    """One ``person_j`` of a v2 pose file: its face box and person box, where both corners are visible."""

    index: int
    face: Box | None
    body: Box | None


def _corner_box(rows: np.ndarray) -> Box | None:
    if rows.shape != (2, 3) or not np.all(rows[:, 2] == 0) or not np.all(np.isfinite(rows[:, :2])):
        return None  # flag 1/2 or -1 coordinates: the box is not (fully) annotated
    x0, x1 = sorted(rows[:, 0].tolist())
    y0, y1 = sorted(rows[:, 1].tolist())
    if x0 < 0 or y0 < 0:
        return None
    return int(np.floor(x0)), int(np.floor(y0)), int(np.floor(x1)) + 1, int(np.floor(y1)) + 1


def read_pose(path: Path) -> list[PosePerson]:
    """The persons of a v2 ``pose_annos/<id>.mat``: rows 16-17 the face box, 18-19 the person box (20 x 3)."""
    from scipy.io import loadmat

    try:
        mat = loadmat(str(path))
    except Exception as e:  # scipy raises several types for a broken file
        raise MHPError(f"{path}: not a readable MATLAB file ({e})") from None
    out = []
    for key in sorted(mat, key=lambda k: (len(k), k)):
        m = re.fullmatch(r"person_(\d+)", key)
        arr = np.asarray(mat[key])
        if not m or arr.shape != (20, 3):
            continue
        arr = arr.astype(np.float64)
        out.append(PosePerson(int(m.group(1)), _corner_box(arr[16:18]), _corner_box(arr[18:20])))
    return out


def iou(a: Box | None, b: Box | None) -> float:
    """Intersection over union of two boxes (0 when either is missing)."""
    if a is None or b is None:
        return 0.0
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / float((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def match_faces(poses: list[PosePerson], persons: dict[int, tuple[Box, Box | None]],
                min_score: float = 0.3) -> dict[int, Box]:
    """Face box per annotation person ``k``, matched by overlap, one to one (``person_j`` is not ``k``).

    ``persons[k] = (mask box, head box)``. The score of a pair is the better of person-box IoU and
    face-box/head-box IoU; the assignment maximises the total score (Hungarian), pairs under ``min_score``
    are dropped, and a face box is kept only when at least half of it lies on the person's head box.
    """
    from scipy.optimize import linear_sum_assignment

    ks = sorted(persons)
    cand = [p for p in poses if p.face is not None]
    if not ks or not cand:
        return {}
    score = np.array([[max(iou(p.body, persons[k][0]), iou(p.face, persons[k][1])) for p in cand]
                      for k in ks])
    rows, cols = linear_sum_assignment(-score)
    out: dict[int, Box] = {}
    for r, c in zip(rows, cols, strict=True):
        face, head = cand[c].face, persons[ks[r]][1]
        if score[r, c] < min_score or face is None or head is None:
            continue
        on_head = (max(0, min(face[2], head[2]) - max(face[0], head[0]))
                   * max(0, min(face[3], head[3]) - max(face[1], head[1])))
        if on_head * 2 >= (face[2] - face[0]) * (face[3] - face[1]):
            out[ks[r]] = face
    return out
