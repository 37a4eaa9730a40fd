"""Read the PFCN release (links, crop boxes, masks, splits) exactly as it ships: zip, unpacked ``data/``, or a parent.

Malformed lines are collected as problems (file and line number) and skipped; a release whose required files are
missing or unreadable raises ``ReleaseError`` with one clear line.
"""

from __future__ import annotations

import io
import re
import threading
import zipfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import scipy.io

from bench.errors import UserError

ID_RE = re.compile(r"^\d{5}$")
_MASK_NAME_RE = re.compile(r"^(\d{5})_mask\.mat$")
REQUIRED = ("alldata_urls.txt", "crop.txt", "trainlist.mat", "testlist.mat")
MASK_DIR = "images_mask"
MASK_SHAPE = (800, 600)  # (height, width) of the released masks and of every crop


class ReleaseError(UserError):
    """The release cannot be read; the message names the file and the problem."""


class MaskError(UserError):
    """One mask file cannot be used (the id is recorded as ``no_mask``)."""


def parse_id(token: str) -> str | None:
    """``NNNNN`` from ``NNNNN``, ``NNNNN.jpg`` or ``NNNNN.png``; None for anything else (never reaches a path)."""
    stem = token[:-4] if token.endswith((".jpg", ".png")) else token
    return stem if ID_RE.match(stem) else None


@dataclass(frozen=True)
class CropBox:
    """``img[y0:y1, x0:x1]`` in the stored pixels of the ``_b`` rendition."""

    y0: int
    y1: int
    x0: int
    x1: int

    def __str__(self) -> str:
        return f"{self.y0} {self.y1} {self.x0} {self.x1}"


class _Source:
    """Byte access to the release files, from a folder or from inside the zip (thread-safe)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self._prefix = ""
        self._lock = threading.Lock()
        self._data_dir: Path | None = None
        if path.is_file():
            self._open_zip(path)
        elif path.is_dir():
            self._data_dir = self._find_data_dir(path)
        else:
            raise ReleaseError(f"{path}: no such file or folder (expected the release zip or its data/ folder)")

    def _open_zip(self, path: Path) -> None:
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as e:
            raise ReleaseError(f"{path}: not a readable zip file ({e})") from e
        names = [n for n in self._zip.namelist() if n.endswith("alldata_urls.txt")]
        names.sort(key=len)
        if not names:
            raise ReleaseError(f"{path}: the zip holds no alldata_urls.txt (not the PFCN release)")
        self._prefix = names[0][: -len("alldata_urls.txt")]

    @staticmethod
    def _find_data_dir(path: Path) -> Path:
        for cand in (path, path / "data", *sorted(path.glob("*/data"))):
            if (cand / "alldata_urls.txt").is_file():
                return cand
        raise ReleaseError(f"{path}: no alldata_urls.txt in it, in data/ or in */data/ (not the PFCN release)")

    @property
    def where(self) -> str:
        return f"{self.path}:{self._prefix}" if self._zip else str(self._data_dir)

    def exists(self, rel: str) -> bool:
        if self._zip:
            try:
                self._zip.getinfo(self._prefix + rel)
                return True
            except KeyError:
                return False
        return (self._data_dir / rel).is_file()

    def read(self, rel: str) -> bytes:
        try:
            if self._zip:
                with self._lock:
                    return self._zip.read(self._prefix + rel)
            return (self._data_dir / rel).read_bytes()
        except (KeyError, FileNotFoundError) as e:
            raise ReleaseError(f"{self.where}/{rel}: missing from the release") from e
        except (OSError, zipfile.BadZipFile, EOFError) as e:
            raise ReleaseError(f"{self.where}/{rel}: unreadable ({e})") from e

    def mask_files(self) -> list[str]:
        if self._zip:
            pre = self._prefix + MASK_DIR + "/"
            return sorted(n[len(pre):] for n in self._zip.namelist()
                          if n.startswith(pre) and "/" not in n[len(pre):] and n != pre)
        d = self._data_dir / MASK_DIR
        if not d.is_dir():
            raise ReleaseError(f"{d}: missing (the release must hold images_mask/NNNNN_mask.mat)")
        return sorted(p.name for p in d.iterdir() if p.is_file())


@dataclass
class Release:
    """Everything the fetcher needs from the release, keyed by 5-digit id."""

    where: str
    urls: dict[str, str | None]
    crops: dict[str, CropBox]
    mask_names: dict[str, str]
    train: set[str]
    test: set[str]
    problems: list[str] = field(default_factory=list)
    _source: _Source | None = field(default=None, repr=False)

    def ids(self) -> list[str]:
        """Every id in the URL list or the mask set, sorted."""
        return sorted(set(self.urls) | set(self.mask_names))

    def load_mask(self, sample_id: str) -> np.ndarray:
        """The released mask of ``sample_id``: uint8 (800, 600), values in {0, 1}; ``MaskError`` if it is not."""
        rel = f"{MASK_DIR}/{self.mask_names[sample_id]}"
        try:
            data = self._source.read(rel)
            mat = scipy.io.loadmat(io.BytesIO(data))
        except ReleaseError as e:
            raise MaskError(str(e)) from e
        except Exception as e:  # scipy raises several types for a corrupt .mat
            raise MaskError(f"{rel}: not a readable MATLAB file ({type(e).__name__}: {e})") from e
        mask = mat.get("mask")
        if not isinstance(mask, np.ndarray):
            raise MaskError(f"{rel}: no variable 'mask'")
        if mask.shape != MASK_SHAPE:
            raise MaskError(f"{rel}: mask has shape {mask.shape}, expected {MASK_SHAPE}")
        if mask.dtype != np.uint8:
            if mask.dtype.kind not in "uib" or mask.min() < 0 or mask.max() > 1:
                raise MaskError(f"{rel}: mask dtype {mask.dtype} is not uint8")
            mask = mask.astype(np.uint8)
        bad = np.setdiff1d(np.unique(mask), (0, 1))
        if bad.size:
            raise MaskError(f"{rel}: mask values {bad[:5].tolist()} outside {{0, 1}}")
        return np.ascontiguousarray(mask)


def _text_lines(src: _Source, rel: str) -> list[str]:
    try:
        return src.read(rel).decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise ReleaseError(f"{src.where}/{rel}: not UTF-8 text ({e})") from e


def _parse_urls(src: _Source, problems: list[str]) -> dict[str, str | None]:
    urls: dict[str, str | None] = {}
    for n, line in enumerate(_text_lines(src, "alldata_urls.txt"), 1):
        if not line.strip():
            continue
        parts = line.split()
        sid = parse_id(parts[0])
        if len(parts) != 2 or sid is None:
            problems.append(f"alldata_urls.txt line {n}: expected 'NNNNN.jpg <url>', got {line.strip()[:80]!r}")
            continue
        url = parts[1]
        if url == "None":
            url = None
        elif not url.startswith(("http://", "https://")):
            problems.append(f"alldata_urls.txt line {n}: {sid}: not an http(s) URL: {url[:80]!r}")
            continue
        if sid in urls:
            problems.append(f"alldata_urls.txt line {n}: {sid} appears again (first line kept)")
            continue
        urls[sid] = url
    return urls


def _parse_crops(src: _Source, problems: list[str]) -> dict[str, CropBox]:
    crops: dict[str, CropBox] = {}
    for n, line in enumerate(_text_lines(src, "crop.txt"), 1):
        if not line.strip():
            continue
        parts = line.split()
        sid = parse_id(parts[0])
        if len(parts) != 5 or sid is None or not all(p.isdigit() for p in parts[1:]):
            problems.append(f"crop.txt line {n}: expected 'NNNNN.jpg y0 y1 x0 x1', got {line.strip()[:80]!r}")
            continue
        y0, y1, x0, x1 = (int(p) for p in parts[1:])
        if not (y0 < y1 and x0 < x1):
            problems.append(f"crop.txt line {n}: {sid}: empty box {y0} {y1} {x0} {x1} (needs y0<y1, x0<x1)")
            continue
        if sid in crops:
            problems.append(f"crop.txt line {n}: {sid} appears again (first line kept)")
            continue
        crops[sid] = CropBox(y0, y1, x0, x1)
    return crops


def _parse_list(src: _Source, rel: str, var: str) -> set[str]:
    try:
        mat = scipy.io.loadmat(io.BytesIO(src.read(rel)))
    except ReleaseError:
        raise
    except Exception as e:
        raise ReleaseError(f"{src.where}/{rel}: not a readable MATLAB file ({type(e).__name__}: {e})") from e
    arr = mat.get(var)
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "uif":
        raise ReleaseError(f"{src.where}/{rel}: no numeric variable {var!r}")
    flat = arr.ravel()
    if flat.size and (np.any(flat != np.round(flat)) or flat.min() < 1 or flat.max() > 99999):
        raise ReleaseError(f"{src.where}/{rel}: {var!r} must hold integer ids 1..99999")
    return {f"{int(v):05d}" for v in flat}


def _parse_masks(src: _Source, problems: list[str]) -> dict[str, str]:
    masks: dict[str, str] = {}
    for name in src.mask_files():
        m = _MASK_NAME_RE.match(name)
        if m:
            masks[m.group(1)] = name
        elif name.endswith(".mat"):
            problems.append(f"{MASK_DIR}/{name}: not named NNNNN_mask.mat (skipped)")
    return masks


def read_release(path: str | Path) -> Release:
    """Parse the release at ``path`` (the zip, its unpacked ``data/`` folder or a folder above it)."""
    src = _Source(Path(path))
    for rel in REQUIRED:
        if not src.exists(rel):
            raise ReleaseError(f"{src.where}/{rel}: missing from the release")
    problems: list[str] = []
    urls = _parse_urls(src, problems)
    crops = _parse_crops(src, problems)
    train = _parse_list(src, "trainlist.mat", "trainlist")
    test = _parse_list(src, "testlist.mat", "testlist")
    overlap = train & test
    if overlap:
        problems.append(f"trainlist.mat/testlist.mat: {len(overlap)} ids in both (kept as train): "
                        f"{sorted(overlap)[:5]}")
        test -= overlap
    masks = _parse_masks(src, problems)
    if not urls and not masks:
        raise ReleaseError(f"{src.where}: no usable line in alldata_urls.txt and no mask file")
    return Release(where=src.where, urls=urls, crops=crops, mask_names=masks, train=train, test=test,
                   problems=problems, _source=src)


def eg1800_lists() -> tuple[set[str], set[str]]:
    """PortraitNet's EG1800 train and test ids (shipped as package data)."""
    out = []
    for name in ("eg1800_train.txt", "eg1800_test.txt"):
        text = resources.files("pfcn").joinpath("data", name).read_text(encoding="utf-8")
        ids = {parse_id(t.strip()) for t in text.split()}
        ids.discard(None)
        out.append(ids)
    return out[0], out[1]


def split_of(release: Release, split: str) -> dict[str, str]:
    """Map every id to ``train``, ``test`` or ``none`` under the chosen split (``official`` or ``eg1800``)."""
    if split == "official":
        train, test = release.train, release.test
    elif split == "eg1800":
        train, test = eg1800_lists()
    else:
        raise ValueError(f"unknown split {split!r}; expected 'official' or 'eg1800'")
    return {i: "train" if i in train else "test" if i in test else "none" for i in release.ids()}
