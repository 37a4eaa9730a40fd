"""A portrait dataset packed into one compact file, for a machine the dataset folder does not reach (``bench pack``).

A GPU lease has no network and carries only what travels with the command (tens of MB), so the dataset goes as one
``.npz`` file of already-compressed samples::

    meta.npy                   JSON bytes: {"format": "portrait-pack/1", "dataset": <dataset.json>, "size", "codec",
                               "quality", "counts", "native_masks", "source"}
    <split>.ids.npy            the split's ids, sorted (a unicode array: loads without pickle)
    <split>.images.npy         the images, squashed to size x size exactly as training does (area averaging,
                               ``preprocess.resize_image``), each encoded (``codec``) and concatenated;
                               ``<split>.images_at.npy`` the N + 1 byte offsets
    <split>.masks.npy          the masks at size x size (``preprocess.resize_mask``: nearest), PNG, with offsets
    test.native_masks.npy      the test masks at their own resolution (600x800 for PFCN), PNG, with offsets

Decisions, measured on the real PFCN (1,291 train + 264 test photos of 600x800; ``docs/runs.md``):

* Images are stored at the training square, not at 600x800: the model never sees more, and 512x512 is 55% of the
  pixels. WebP at quality 85 is the default codec: on 40 PFCN photos at 512 it costs 30.8 KB a photo for an RMSE of
  2.63 grey levels against the uncompressed resize, where JPEG needs quality 85 and 44.7 KB for the same error (JPEG
  quality 75, 33 KB, errs 3.28). The whole set then fits the 60 MB a GPU lease carries with room to spare; JPEG (and
  lossless PNG, for tests) remain options. The error is well under the augmentation's own +-20% brightness change.
* Masks are PNG (compression 9): about 2 KB at 512, lossless for every value of the format (0, 1 and 255); bit-packing
  would save about 1.4 MB on PFCN but lose the ignore label.
* The test split also keeps its masks at native resolution (264 x 3.2 KB, under 1 MB), so a run trained from a pack
  is scored at 600x800 like every other run (``metrics_native.json``, which ``bench run-all`` requires of a finished
  job): the model's input at native evaluation is the photo squashed to the training size, which is exactly the
  packed image, and its logits are upsampled bilinearly onto the native mask (``bench.eval.loop``). Only the
  codec's error differs from scoring the dataset folder.
* The file is written atomically and byte-identically for the same inputs (zip entries stored, fixed timestamps).

``read_pack`` opens a pack as a ``Pack``, which reads like a ``PortraitDataset`` at the packed size (``ids``,
``check_split``, ``load_image``, ``load_mask``), so the training pipeline, evaluation and run-all take either;
``open_data`` opens whichever a path is. numpy and OpenCV only.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from bench.data.format import DatasetError, PortraitDataset, decode_image, read_dataset
from bench.data.io import atomic_write_bytes
from bench.data.preprocess import resize_image, resize_mask

PACK_FORMAT = "portrait-pack/1"
CODECS = ("webp", "jpg", "png")
DEFAULT_CODEC, DEFAULT_QUALITY = "webp", 85
PACK_SUFFIX = ".npz"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def encode_rgb(rgb: np.ndarray, codec: str, quality: int) -> bytes:
    """One RGB uint8 image in the pack's codec (deterministic bytes)."""
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    params = {"webp": [cv2.IMWRITE_WEBP_QUALITY, int(quality)], "jpg": [cv2.IMWRITE_JPEG_QUALITY, int(quality)],
              "png": [cv2.IMWRITE_PNG_COMPRESSION, 9]}[codec]
    ok, buf = cv2.imencode(f".{codec}", bgr, params)
    if not ok:
        raise DatasetError(f"OpenCV could not encode an image as {codec}")
    return buf.tobytes()


def _encode_mask(mask: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(mask, np.uint8), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise DatasetError("OpenCV could not encode a mask")
    return buf.tobytes()


def _joined(blobs: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(blobs) + 1, np.int64)
    offsets[1:] = np.cumsum([len(b) for b in blobs])
    return np.frombuffer(b"".join(blobs), np.uint8).copy(), offsets


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An ``np.load``-able archive, stored (the payload is compressed already) with fixed entry times."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for key in sorted(arrays):
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_TIME)
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asarray(arrays[key]), allow_pickle=False)
    return buf.getvalue()


def pack_dataset(data: str | os.PathLike, out: str | os.PathLike, size: int, codec: str = DEFAULT_CODEC,
                 quality: int = DEFAULT_QUALITY, workers: int | None = None,
                 progress: Callable[[int], None] | None = None) -> dict[str, object]:
    """Pack every split of the dataset folder ``data`` into ``out`` at ``size`` x ``size``; return the pack's meta
    (with ``bytes``, the file's size). ``progress`` is called with the number of samples finished so far."""
    if codec not in CODECS:
        raise DatasetError(f"unknown codec {codec!r}; expected one of {CODECS}")
    if size < 1:
        raise DatasetError(f"size must be at least 1, got {size}")
    ds = read_dataset(Path(data))
    arrays: dict[str, np.ndarray] = {}
    done = 0

    def sample(args: tuple[str, bool]) -> tuple[bytes, bytes, bytes | None]:
        sid, native = args
        rgb, mask = ds.load_image(sid), ds.load_mask(sid)
        if rgb.shape[:2] != mask.shape[:2]:
            raise DatasetError(f"{ds.image_path(sid)}: image {rgb.shape[:2]} and mask {mask.shape[:2]} differ")
        return (encode_rgb(resize_image(rgb, size), codec, quality), _encode_mask(resize_mask(mask, size)),
                _encode_mask(mask) if native else None)

    counts = {}
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:  # OpenCV releases the GIL
        for split in sorted(ds.splits):
            ids = sorted(ds.ids(split))
            if not ids:
                continue
            ds.check_split(split)  # values in {0, 1, 255} and some portrait: a pack only holds trainable splits
            native = split == "test"
            results = []
            for r in pool.map(sample, [(sid, native) for sid in ids]):
                results.append(r)
                done += 1
                if progress:
                    progress(done)
            counts[split] = len(ids)
            arrays[f"{split}.ids"] = np.array(ids, dtype=np.str_)
            arrays[f"{split}.images"], arrays[f"{split}.images_at"] = _joined([r[0] for r in results])
            arrays[f"{split}.masks"], arrays[f"{split}.masks_at"] = _joined([r[1] for r in results])
            if native:
                arrays[f"{split}.native_masks"], arrays[f"{split}.native_masks_at"] = _joined([r[2] for r in results])
    meta = {"format": PACK_FORMAT, "dataset": ds.meta, "size": int(size), "codec": codec,
            "quality": None if codec == "png" else int(quality), "counts": counts, "native_masks": ["test"],
            "source": ds.name, "resize": "squash: resize_image (area) for images, resize_mask (nearest) for masks"}
    arrays["meta"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), np.uint8)
    blob = _npz_bytes(arrays)
    atomic_write_bytes(Path(out), blob)
    return {**meta, "bytes": len(blob)}


def is_pack(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a pack file (by its suffix; ``read_pack`` checks the contents)."""
    p = Path(path)
    return p.suffix == PACK_SUFFIX and not p.is_dir()


@dataclass
class Pack:
    """An opened pack: reads like a ``PortraitDataset`` whose images and masks are at ``size``."""

    root: Path  # the pack file (where a dataset has its folder)
    meta: dict[str, object]  # the packed dataset.json (its name and counts identify the data, as for a folder)
    pack_meta: dict[str, object]
    splits: dict[str, list[str]] = field(default_factory=dict)
    _arrays: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _index: dict[str, tuple[str, int]] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return str(self.meta.get("name", self.root.stem))

    @property
    def size(self) -> int:
        return int(self.pack_meta["size"])

    def ids(self, split: str) -> list[str]:
        if split not in self.splits:
            raise DatasetError(f"{self.root}: no split {split!r} in this pack (have {sorted(self.splits)})")
        return self.splits[split]

    def check_split(self, split: str) -> None:
        if not self.ids(split):
            raise DatasetError(f"{self.root}: split {split!r} is empty")

    def image_path(self, sample_id: str) -> str:
        """Where a sample lives, for messages."""
        return f"{self.root}[{sample_id}]"

    def _blob(self, key: str, sample_id: str) -> bytes:
        split, i = self._where(sample_id)
        data, at = self._arrays[f"{split}.{key}"], self._arrays[f"{split}.{key}_at"]
        return data[at[i]:at[i + 1]].tobytes()

    def _where(self, sample_id: str) -> tuple[str, int]:
        try:
            return self._index[sample_id]
        except KeyError:
            raise DatasetError(f"{self.root}: no sample {sample_id!r}") from None

    def load_image(self, sample_id: str) -> np.ndarray:
        """RGB uint8 (size, size, 3), as packed (already squashed to the training size)."""
        return decode_image(self._blob("images", sample_id), self.image_path(sample_id))

    def load_mask(self, sample_id: str) -> np.ndarray:
        """uint8 (size, size) mask: 0, 1, 255."""
        return self._mask(self._blob("masks", sample_id), sample_id)

    def has_native_masks(self, split: str) -> bool:
        return f"{split}.native_masks" in self._arrays

    def load_native_mask(self, sample_id: str) -> np.ndarray:
        """The mask at the photo's own resolution (test split only)."""
        split, _ = self._where(sample_id)
        if not self.has_native_masks(split):
            raise DatasetError(f"{self.root}: the {split} split keeps no native-resolution masks (only test does)")
        return self._mask(self._blob("native_masks", sample_id), sample_id)

    def _mask(self, blob: bytes, sample_id: str) -> np.ndarray:
        m = cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_UNCHANGED)
        if m is None or m.ndim != 2:
            raise DatasetError(f"{self.image_path(sample_id)}: not a decodable mask")
        return m

    def decode(self, ids: list[str], workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Samples decoded at once (threads): RGB uint8 (N, S, S, 3) and masks uint8 (N, S, S), in ``ids`` order."""
        with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
            images = list(pool.map(self.load_image, ids))
            masks = list(pool.map(self.load_mask, ids))
        return np.stack(images), np.stack(masks)


def read_pack(path: str | os.PathLike) -> Pack:
    """Open a pack file written by ``pack_dataset`` (loaded whole: it is small by design)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise DatasetError(f"{path}: not a readable pack ({e})") from None
    try:
        pack_meta = json.loads(arrays.pop("meta").tobytes())
    except (KeyError, ValueError):
        raise DatasetError(f"{path}: not a portrait pack (no meta entry)") from None
    if pack_meta.get("format") != PACK_FORMAT:
        raise DatasetError(f"{path}: format {pack_meta.get('format')!r}, expected {PACK_FORMAT!r}")
    splits = {k.removesuffix(".ids"): [str(s) for s in v] for k, v in arrays.items() if k.endswith(".ids")}
    index = {sid: (split, i) for split, ids in splits.items() for i, sid in enumerate(ids)}
    return Pack(path, dict(pack_meta["dataset"]), pack_meta, splits, arrays, index)


def open_data(path: str | os.PathLike) -> PortraitDataset | Pack:
    """A dataset folder (``read_dataset``) or a pack file (``read_pack``), whichever ``path`` is."""
    return read_pack(path) if is_pack(path) else read_dataset(Path(path))
