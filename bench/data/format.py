"""The portrait dataset format: the one writer and the one reader (numpy, OpenCV and pandas; no torch).

Layout (``docs/datasets.md``)::

    <root>/dataset.json      {"format": "portrait-dataset/1", "name", "created_by", "params", "counts", ...}
    <root>/images/<id>.jpg   RGB (JPEG quality 95 by default, PNG on request)
    <root>/masks/<id>.png    8-bit single channel: 0 background, 1 portrait, 255 ignore
    <root>/splits/<split>.txt ids, one a line, sorted (train.txt and test.txt always exist)
    <root>/manifest.csv      one row per candidate sample, kept or not

While a build runs, every finished sample is journalled (``.journal.jsonl``, one fsynced line per sample) so that a
build killed at any moment and started again keeps what it finished and redoes nothing; ``finalize`` turns the journal
into ``manifest.csv``, the split files and ``dataset.json``, sorted by id, so the output does not depend on the order
in which samples were produced.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from bench.data.io import atomic_write_bytes, atomic_write_json, atomic_write_text, remove_partial_writes
from bench.errors import UserError

FORMAT = "portrait-dataset/1"
BASE_FIELDS = ("id", "split", "status", "detail", "source")
MASK_VALUES = (0, 1, 255)
IGNORE = 255
IMAGE_FORMATS = ("jpg", "png")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_SPLIT_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_JOURNAL = ".journal.jsonl"
_INPROGRESS = ".inprogress.json"
# Splits that are recorded in the manifest but never written as a split file.
NO_SPLIT = ("", "none")


class DatasetError(UserError):
    """A portrait dataset folder cannot be read or written; the message names the file and the problem."""


def check_id(sample_id: str) -> str:
    """Return ``sample_id`` if it is safe to use as a file name, else raise (ids never reach a path unchecked)."""
    if not isinstance(sample_id, str) or not _ID_RE.match(sample_id) or ".." in sample_id:
        raise DatasetError(f"invalid sample id {sample_id!r}: use letters, digits, '_', '-', '.' (no '..')")
    return sample_id


def encode_image(rgb: np.ndarray, image_format: str = "jpg", jpeg_quality: int = 95) -> bytes:
    """Encode an RGB uint8 (H, W, 3) array the way the format stores images (deterministic bytes)."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise DatasetError(f"image must be uint8 (H, W, 3) RGB, got {rgb.dtype} {rgb.shape}")
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if image_format == "jpg":
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
    elif image_format == "png":
        ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    else:
        raise DatasetError(f"unknown image format {image_format!r}; expected one of {IMAGE_FORMATS}")
    if not ok:
        raise DatasetError("OpenCV could not encode the image")
    return buf.tobytes()


def encode_mask(mask: np.ndarray) -> bytes:
    """Encode a (H, W) uint8 mask with values in {0, 1, 255} as PNG."""
    if mask.dtype != np.uint8 or mask.ndim != 2:
        raise DatasetError(f"mask must be uint8 (H, W), got {mask.dtype} {mask.shape}")
    bad = np.setdiff1d(np.unique(mask), MASK_VALUES)
    if bad.size:
        raise DatasetError(f"mask has values {bad.tolist()} outside {{0, 1, 255}}")
    ok, buf = cv2.imencode(".png", mask, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise DatasetError("OpenCV could not encode the mask")
    return buf.tobytes()


def decode_image(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode JPEG/PNG bytes to RGB uint8, as stored (EXIF orientation is not applied)."""
    arr = np.frombuffer(data, dtype=np.uint8)
    bgr = cv2.imdecode(arr, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION) if arr.size else None
    if bgr is None:
        raise DatasetError(f"{name}: not a decodable image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _stringify(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


class DatasetWriter:
    """Adds samples one at a time to a portrait dataset folder; resumable after a kill.

    ``fields`` names the manifest columns a builder adds after the base ones (``id, split, status, detail,
    source``). Every row is keyed by id: recording an id again replaces its row. ``done(id)`` tells a builder that a
    sample was finished by an earlier run and need not be redone.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        name: str,
        created_by: str,
        params: Mapping[str, object] | None = None,
        fields: Iterable[str] = (),
        image_format: str = "jpg",
        jpeg_quality: int = 95,
    ) -> None:
        if image_format not in IMAGE_FORMATS:
            raise DatasetError(f"unknown image format {image_format!r}; expected one of {IMAGE_FORMATS}")
        self.root = Path(root)
        self.name = name
        self.created_by = created_by
        self.params = json.loads(json.dumps(dict(params or {}), sort_keys=True))
        self.fields = tuple(BASE_FIELDS) + tuple(f for f in fields if f not in BASE_FIELDS)
        self.image_format = image_format
        self.jpeg_quality = jpeg_quality
        self._rows: dict[str, dict[str, str]] = {}
        self._refuse_foreign_folder()
        try:
            for sub in ("images", "masks", "splits"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DatasetError(f"{self.root}: cannot create the output folder ({e.strerror or e})") from e
        self._check_same_build()
        self._load_existing()
        try:
            self._journal = open(self.root / _JOURNAL, "a", encoding="utf-8")
        except OSError as e:
            raise DatasetError(f"{self.root / _JOURNAL}: cannot write ({e.strerror or e})") from e

    # -- resume -------------------------------------------------------------------------------------------------
    def _identity(self) -> dict[str, object]:
        return {"name": self.name, "params": self.params, "image_format": self.image_format,
                "jpeg_quality": self.jpeg_quality}

    def _refuse_foreign_folder(self) -> None:
        """Write only into a new or empty folder or one holding a build of this writer, never among a user's files."""
        try:
            if self.root.exists() and not self.root.is_dir():
                raise DatasetError(f"{self.root}: exists and is not a folder; choose another --out")
            if not self.root.is_dir() or next((p for p in self.root.rglob("*") if not p.is_dir()), None) is None:
                return  # new, or only empty folders (a run killed before its first file)
        except OSError as e:
            raise DatasetError(f"{self.root}: cannot read the output folder ({e.strerror or e})") from e
        if not any((self.root / f).is_file() for f in (_INPROGRESS, "dataset.json")):
            raise DatasetError(f"{self.root}: not empty and not a portrait dataset (no dataset.json); refusing to "
                               "write into it - choose a new or empty --out folder")

    def _check_same_build(self) -> None:
        """Refuse to mix two different builds in one folder (a resumed build must use the same parameters)."""
        ident = self._identity()
        for fname in (_INPROGRESS, "dataset.json"):
            p = self.root / fname
            if not p.exists():
                continue
            try:
                old = json.loads(p.read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:
                raise DatasetError(f"{p}: unreadable ({e}); delete the output folder or choose another") from e
            old_ident = {k: old.get(k) for k in ident}
            if old_ident["name"] != self.name:
                raise DatasetError(f"{self.root}: holds a {old_ident['name']!r} dataset ({p.name}), not "
                                   f"{self.name!r} (another tool or other parameters); use a new --out folder")
            if old_ident != ident:
                raise DatasetError(
                    f"{self.root}: holds a dataset built with other parameters ({p.name}: {old_ident['params']}); "
                    "use a new --out folder or delete this one"
                )
            break
        atomic_write_json(self.root / _INPROGRESS, ident)

    def _load_existing(self) -> None:
        self._rows.update(_manifest_rows(self.root))

    def done(self, sample_id: str) -> bool:
        """True if an earlier run finished this sample as ``ok`` and its files are still there."""
        row = self._rows.get(sample_id)
        return bool(row and row.get("status") == "ok" and self.image_path(sample_id).exists()
                    and self.mask_path(sample_id).exists())

    def row(self, sample_id: str) -> dict[str, str] | None:
        """The manifest row recorded so far for ``sample_id`` (this run or an earlier one)."""
        return self._rows.get(sample_id)

    # -- writing ------------------------------------------------------------------------------------------------
    def image_path(self, sample_id: str) -> Path:
        return self.root / "images" / f"{check_id(sample_id)}.{self.image_format}"

    def mask_path(self, sample_id: str) -> Path:
        return self.root / "masks" / f"{check_id(sample_id)}.png"

    def add(self, sample_id: str, image: np.ndarray, mask: np.ndarray, split: str, **extra: object) -> None:
        """Encode and write one kept sample (RGB uint8 image, uint8 mask of the same size) and record its row."""
        if image.shape[:2] != mask.shape[:2]:
            raise DatasetError(f"sample {sample_id}: image {image.shape[:2]} and mask {mask.shape[:2]} differ in size")
        self.add_encoded(sample_id, encode_image(image, self.image_format, self.jpeg_quality), encode_mask(mask),
                         split, **extra)

    def add_encoded(self, sample_id: str, image_bytes: bytes, mask_bytes: bytes, split: str, **extra: object) -> None:
        """Write one kept sample from already-encoded bytes (lets worker processes do the encoding)."""
        check_id(sample_id)
        _check_split(split, kept=True)
        atomic_write_bytes(self.mask_path(sample_id), mask_bytes)
        atomic_write_bytes(self.image_path(sample_id), image_bytes)
        self.record(sample_id, split, "ok", extra.pop("detail", ""), **extra)

    def skip(self, sample_id: str, split: str, status: str, detail: str, **extra: object) -> None:
        """Record a candidate that was not kept, with the reason; any files of an earlier run are removed."""
        if status == "ok":
            raise DatasetError("skip() records candidates that were not kept; use add() for kept samples")
        for p in (self.image_path(sample_id), self.mask_path(sample_id)):
            p.unlink(missing_ok=True)
        self.record(sample_id, split, status, detail, **extra)

    def record(self, sample_id: str, split: str, status: str, detail: str = "", **extra: object) -> None:
        """Journal one manifest row (fsynced, so a kill right after keeps it)."""
        check_id(sample_id)
        _check_split(split, kept=False)
        unknown = set(extra) - set(self.fields)
        if unknown:
            raise DatasetError(f"manifest fields {sorted(unknown)} were not declared for this dataset")
        row = {"id": sample_id, "split": split or "none", "status": status, "detail": _stringify(detail)}
        row.update({k: _stringify(v) for k, v in extra.items()})
        self._rows[sample_id] = row
        self._journal.write(json.dumps(row, sort_keys=True) + "\n")
        self._journal.flush()
        os.fsync(self._journal.fileno())

    def close(self) -> None:
        if not self._journal.closed:
            self._journal.close()

    def finalize(self, extra_meta: Mapping[str, object] | None = None) -> dict[str, object]:
        """Write ``manifest.csv``, ``splits/`` and ``dataset.json`` from every recorded row; return the metadata."""
        self.close()
        rows = [self._rows[k] for k in sorted(self._rows)]
        kept = [r for r in rows if r.get("status") == "ok"]
        missing = [r["id"] for r in kept if not self.done(r["id"])]
        if missing:
            raise DatasetError(f"{self.root}: samples recorded ok but missing files: {missing[:5]}")
        splits: dict[str, list[str]] = {"train": [], "test": []}
        for r in kept:
            splits.setdefault(r["split"], []).append(r["id"])
        self._remove_orphans()
        for split, ids in splits.items():
            atomic_write_text(self.root / "splits" / f"{split}.txt", "".join(f"{i}\n" for i in sorted(ids)))
        for stale in (self.root / "splits").glob("*.txt"):
            if stale.stem not in splits:
                stale.unlink()
        fields = list(self.fields)
        for r in rows:  # columns from an earlier run's manifest are kept, in a stable order
            fields.extend(k for k in r if k not in fields)
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in fields})
        atomic_write_text(self.root / "manifest.csv", buf.getvalue())
        statuses: dict[str, int] = {}
        for r in rows:
            statuses[r["status"]] = statuses.get(r["status"], 0) + 1
        meta: dict[str, object] = {
            "format": FORMAT,
            **self._identity(),
            "created_by": self.created_by,
            "counts": {s: len(ids) for s, ids in sorted(splits.items())},
            "statuses": dict(sorted(statuses.items())),
        }
        if extra_meta:
            meta.update(json.loads(json.dumps(dict(extra_meta), sort_keys=True)))
        atomic_write_json(self.root / "dataset.json", meta)
        (self.root / _JOURNAL).unlink(missing_ok=True)
        (self.root / _INPROGRESS).unlink(missing_ok=True)
        return meta

    def _remove_orphans(self) -> None:
        """Drop what a killed run of this writer left: temporaries and the files of ids recorded as not kept.

        Only files this writer names are touched; anything else in the folder is not ours to delete.
        """
        for sub in ("images", "masks", "splits"):
            remove_partial_writes(self.root / sub)
        for sid, row in self._rows.items():
            if row.get("status") != "ok":
                for p in (self.image_path(sid), self.mask_path(sid)):
                    p.unlink(missing_ok=True)

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _manifest_rows(root: Path) -> dict[str, dict[str, str]]:
    """Rows of the finished manifest, overridden by the journal of a build still running or killed."""
    rows: dict[str, dict[str, str]] = {}
    manifest = root / "manifest.csv"
    if manifest.exists():
        with open(manifest, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row.get("id"):
                    rows[row["id"]] = {k: (v or "") for k, v in row.items() if k}
    journal = root / _JOURNAL
    if journal.exists():
        with open(journal, encoding="utf-8") as f:
            for line in f:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue  # the line a kill cut short: that sample is simply redone
                if isinstance(row, dict) and row.get("id"):
                    rows[row["id"]] = row
    return rows


def read_manifest_rows(root: str | os.PathLike) -> list[dict[str, str]]:
    """Every manifest row of a dataset folder, sorted by id, whether its build finished, runs or was killed."""
    root = Path(root)
    if not (root / "manifest.csv").exists() and not (root / _JOURNAL).exists():
        raise DatasetError(f"{root}: no manifest.csv (not a portrait dataset folder, or nothing built yet)")
    rows = _manifest_rows(root)
    return [rows[k] for k in sorted(rows)]


def build_finished(root: str | os.PathLike) -> bool:
    """True when a build in ``root`` reached ``finalize`` and was not restarted since."""
    root = Path(root)
    return (root / "dataset.json").exists() and not (root / _INPROGRESS).exists()


def _check_split(split: str, kept: bool) -> None:
    if split in NO_SPLIT:
        if kept:
            raise DatasetError("a kept sample needs a split (train, test, ...)")
        return
    if not _SPLIT_RE.match(split):
        raise DatasetError(f"invalid split name {split!r}")


# -- reading ---------------------------------------------------------------------------------------------------
_CHECKED_SPLITS: set[tuple[str, str, int]] = set()  # (root, split, split file mtime) that passed check_split


@dataclass
class PortraitDataset:
    """A validated portrait dataset folder: ids per split and loaders for images and masks."""

    root: Path
    meta: dict[str, object]
    splits: dict[str, list[str]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.meta.get("name", self.root.name))

    @property
    def image_ext(self) -> str:
        return str(self.meta.get("image_format", "jpg"))

    def ids(self, split: str) -> list[str]:
        if split not in self.splits:
            raise DatasetError(f"{self.root / 'splits' / (split + '.txt')}: no such split "
                               f"(have {sorted(self.splits)})")
        return self.splits[split]

    def image_path(self, sample_id: str) -> Path:
        return self.root / "images" / f"{sample_id}.{self.image_ext}"

    def mask_path(self, sample_id: str) -> Path:
        return self.root / "masks" / f"{sample_id}.png"

    def load_image(self, sample_id: str) -> np.ndarray:
        """RGB uint8 (H, W, 3)."""
        p = self.image_path(sample_id)
        bgr = cv2.imread(str(p), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
        if bgr is None:
            raise DatasetError(f"{p}: missing or not a decodable image")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def load_mask(self, sample_id: str) -> np.ndarray:
        """uint8 (H, W) with 0 background, 1 portrait, 255 ignore."""
        p = self.mask_path(sample_id)
        m = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        if m is None:
            raise DatasetError(f"{p}: missing or not a decodable PNG")
        if m.ndim != 2 or m.dtype != np.uint8:
            raise DatasetError(f"{p}: mask must be 8-bit single channel, got {m.dtype} with shape {m.shape}")
        return m

    def check_split(self, split: str) -> None:
        """Raise ``DatasetError`` unless ``split`` can train or evaluate: not empty, every mask value in {0, 1, 255},
        and some portrait (1) pixel. Reads every mask of the split once per process (threads, then remembered), so
        a bad mask fails at the start instead of hours into training, and 0/255 masks are not silently ignored."""
        ids = self.ids(split)
        split_file = self.root / "splits" / f"{split}.txt"
        if not ids:
            raise DatasetError(f"{split_file}: the {split} split is empty (no sample to use)")
        key = (str(self.root.resolve()), split, split_file.stat().st_mtime_ns)
        if key in _CHECKED_SPLITS:
            return
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            histograms = list(pool.map(lambda sid: np.bincount(self.load_mask(sid).ravel(), minlength=256), ids))
        allowed = np.zeros(256, bool)
        allowed[list(MASK_VALUES)] = True
        for sid, hist in zip(ids, histograms, strict=True):
            bad = np.flatnonzero(hist[~allowed] > 0)
            if bad.size:
                values = np.flatnonzero(~allowed)[bad]
                raise DatasetError(f"{self.mask_path(sid)}: mask values {values[:8].tolist()} outside {{0, 1, 255}} "
                                   "(0 background, 1 portrait, 255 ignore)")
        total = np.sum(histograms, axis=0)
        if total[1] == 0:
            hint = (" (masks stored as 0/255? 255 means ignore here; store the portrait as 1)" if total[IGNORE] else "")
            raise DatasetError(f"{split_file}: no mask of the {split} split has a portrait pixel (value 1){hint}")
        _CHECKED_SPLITS.add(key)

    def manifest(self):
        """The manifest as a pandas DataFrame (all columns as strings)."""
        import pandas as pd

        return pd.read_csv(self.root / "manifest.csv", dtype=str, keep_default_na=False)


def validate(root: str | os.PathLike, full: bool = True) -> list[str]:
    """Every problem found in a dataset folder, each naming the file; empty when the folder is valid.

    ``full`` also decodes every image and mask (values, channels, matching sizes); without it only the structure
    and the presence of files are checked.
    """
    root = Path(root)
    problems: list[str] = []
    if not root.is_dir():
        return [f"{root}: not a folder"]
    meta_path = root / "dataset.json"
    meta: dict[str, object] = {}
    if not meta_path.exists():
        problems.append(f"{meta_path}: missing (not a portrait dataset, or its build did not finish)")
    else:
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if not isinstance(meta, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as e:
            problems.append(f"{meta_path}: not valid JSON ({e})")
            meta = {}
        if meta and meta.get("format") != FORMAT:
            problems.append(f"{meta_path}: format is {meta.get('format')!r}, expected {FORMAT!r}")
    ext = str(meta.get("image_format", "jpg"))
    splits_dir = root / "splits"
    split_files = sorted(splits_dir.glob("*.txt")) if splits_dir.is_dir() else []
    for required in ("train", "test"):
        if not (splits_dir / f"{required}.txt").exists():
            problems.append(f"{splits_dir / (required + '.txt')}: missing")
    counts = meta.get("counts") if isinstance(meta.get("counts"), dict) else {}
    seen: dict[str, str] = {}
    for sf in split_files:
        lines = sf.read_text(encoding="utf-8").splitlines()
        ids = [x.strip() for x in lines if x.strip()]
        for n, sid in enumerate(ids, 1):
            if not _ID_RE.match(sid) or ".." in sid:
                problems.append(f"{sf}:{n}: invalid id {sid!r}")
                continue
            if sid in seen:
                problems.append(f"{sf}:{n}: id {sid} is also in {seen[sid]}")
            seen[sid] = sf.name
            img_p, mask_p = root / "images" / f"{sid}.{ext}", root / "masks" / f"{sid}.png"
            if not img_p.exists():
                problems.append(f"{img_p}: missing (id {sid} is listed in {sf.name})")
            if not mask_p.exists():
                problems.append(f"{mask_p}: missing (id {sid} is listed in {sf.name})")
            if full and img_p.exists() and mask_p.exists():
                problems.extend(_check_pair(img_p, mask_p))
        if ids != sorted(ids):
            problems.append(f"{sf}: ids are not sorted")
        if sf.stem in counts and counts[sf.stem] != len(ids):
            problems.append(f"{sf}: {len(ids)} ids but dataset.json counts {counts[sf.stem]}")
    if not (root / "manifest.csv").exists():
        problems.append(f"{root / 'manifest.csv'}: missing")
    return problems


def _check_pair(img_p: Path, mask_p: Path) -> list[str]:
    out = []
    img = cv2.imread(str(img_p), cv2.IMREAD_UNCHANGED)
    mask = cv2.imread(str(mask_p), cv2.IMREAD_UNCHANGED)
    if img is None:
        out.append(f"{img_p}: not a decodable image (corrupt or truncated)")
    if mask is None:
        out.append(f"{mask_p}: not a decodable PNG (corrupt or truncated)")
        return out
    if mask.ndim != 2 or mask.dtype != np.uint8:
        out.append(f"{mask_p}: mask must be 8-bit single channel, got {mask.dtype} with shape {mask.shape}")
    else:
        bad = np.setdiff1d(np.unique(mask), MASK_VALUES)
        if bad.size:
            out.append(f"{mask_p}: values {bad[:8].tolist()} outside {{0, 1, 255}}")
    if img is not None and img.shape[:2] != mask.shape[:2]:
        out.append(f"{img_p}: size {img.shape[1]}x{img.shape[0]} differs from its mask "
                   f"{mask.shape[1]}x{mask.shape[0]} ({mask_p.name})")
    return out


def read_dataset(root: str | os.PathLike, full: bool = False) -> PortraitDataset:
    """Open a portrait dataset folder, raising ``DatasetError`` listing the problems if it is not valid."""
    root = Path(root)
    problems = validate(root, full=full)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise DatasetError("invalid portrait dataset: " + "; ".join(problems[:3]) + more)  # one line
    meta = json.loads((root / "dataset.json").read_text(encoding="utf-8"))
    splits = {
        sf.stem: [x.strip() for x in sf.read_text(encoding="utf-8").splitlines() if x.strip()]
        for sf in sorted((root / "splits").glob("*.txt"))
    }
    return PortraitDataset(root=root, meta=meta, splits=splits)
