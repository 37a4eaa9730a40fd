"""Fake LV-MHP-v1 / v2 source trees in the real layouts, for tests and throughput benchmarks (never for training;
the finished synthetic portrait dataset is ``bench.data.synthetic``).

A person is drawn as labelled parts (hair, face, optional hat and glasses, neck skin, upper clothes, arms,
pants) around a head of a chosen height; persons later in the list stand in front and occlude the earlier ones
in their person files, as in MHP. v2 annotations carry the class in the R channel (G = B = 0) of a 3- or
4-channel PNG and get a pose file whose ``person_j`` order is shuffled (not the annotation order).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from pseg.classes import table


@dataclass
class SynthPerson:
    """One drawn person: head centre x, head top y and head height in pixels."""

    cx: float
    top: float
    head_h: float
    hat: bool = False
    glasses: bool = False


@dataclass
class SynthImage:
    """One image to generate: id as in the list files, size, persons (back to front), v2 subset."""

    image_id: str
    width: int
    height: int
    persons: list[SynthPerson] = field(default_factory=list)
    subset: str = "train"


_PARTS = {  # part -> (v1 class name, v2 class name)
    "hat": ("hat", "cap/hat"), "hair": ("hair", "hair"), "face": ("face", "face"),
    "glasses": ("sunglass", "sunglasses"), "skin": ("torso-skin", "torso-skin"),
    "upper": ("upper-clothes", "tee-shirt"), "larm": ("left-arm", "left-arm"),
    "rarm": ("right-arm", "right-arm"),
    "pants": ("pants", "pants"),
}


def person_classes(p: SynthPerson, width: int, height: int, version: str) -> np.ndarray:
    """The class map (uint8, H x W) of one person drawn alone."""
    tab = table(version)
    cid = {part: tab.id_of(names[0 if version == "v1" else 1]) for part, names in _PARTS.items()}
    m = np.zeros((height, width), np.uint8)
    h, cx, t = p.head_h, p.cx, p.top

    def pt(x: float, y: float) -> tuple[int, int]:
        return int(round(x)), int(round(y))

    def rect(x0: float, y0: float, x1: float, y1: float, c: int) -> None:
        cv2.rectangle(m, pt(x0, y0), pt(x1, y1), c, thickness=-1)

    rect(cx - 0.62 * h, t + 3.3 * h, cx + 0.62 * h, t + 6.0 * h, cid["pants"])
    torso = np.array([pt(cx - 0.85 * h, t + 1.15 * h), pt(cx + 0.85 * h, t + 1.15 * h),
                      pt(cx + 0.7 * h, t + 3.4 * h), pt(cx - 0.7 * h, t + 3.4 * h)], np.int32)
    cv2.fillPoly(m, [torso], cid["upper"])
    rect(cx - 1.08 * h, t + 1.25 * h, cx - 0.84 * h, t + 3.2 * h, cid["larm"])
    rect(cx + 0.84 * h, t + 1.25 * h, cx + 1.08 * h, t + 3.2 * h, cid["rarm"])
    rect(cx - 0.16 * h, t + 0.85 * h, cx + 0.16 * h, t + 1.2 * h, cid["skin"])
    cv2.ellipse(m, pt(cx, t + 0.47 * h), pt(0.42 * h, 0.47 * h), 0, 0, 360, cid["hair"], thickness=-1)
    cv2.ellipse(m, pt(cx, t + 0.6 * h), pt(0.32 * h, 0.4 * h), 0, 0, 360, cid["face"], thickness=-1)
    if p.hat:
        rect(cx - 0.45 * h, t, cx + 0.45 * h, t + 0.22 * h, cid["hat"])
    if p.glasses:
        rect(cx - 0.26 * h, t + 0.48 * h, cx + 0.26 * h, t + 0.58 * h, cid["glasses"])
    return m


def render(spec: SynthImage, version: str, seed: int = 0) -> tuple[np.ndarray, list[np.ndarray]]:
    """The RGB image and each person's class map after occlusion by the persons in front of it."""
    key = int.from_bytes(spec.image_id.encode()[:8], "little")
    rng = np.random.default_rng([seed, len(spec.image_id), key])
    H, W = spec.height, spec.width
    maps = [person_classes(p, W, H, version) for p in spec.persons]
    front = np.zeros((H, W), bool)
    visible = []
    for m in reversed(maps):
        visible.append(np.where(front, 0, m).astype(np.uint8))
        front |= m > 0
    visible.reverse()
    base = rng.uniform(40, 200, 3)
    ramp = np.linspace(-30, 30, H, dtype=np.float32)[:, None, None]
    img = np.broadcast_to(base.astype(np.float32), (H, W, 3)) + ramp
    palette = np.random.default_rng(7).uniform(20, 235, (256, 3)).astype(np.float32)
    for m in visible:
        tint = rng.uniform(-25, 25, 3).astype(np.float32)
        on = m > 0
        img[on] = palette[m[on]] + tint
    img = img + rng.normal(0, 6, img.shape).astype(np.float32)
    rgb = cv2.GaussianBlur(np.clip(img, 0, 255).astype(np.uint8), (3, 3), 0)
    return rgb, visible


def _write_png(path: Path, arr: np.ndarray) -> None:
    ok, buf = cv2.imencode(".png", arr)
    assert ok
    path.write_bytes(buf.tobytes())


def _write_jpg(path: Path, rgb: np.ndarray) -> None:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    path.write_bytes(buf.tobytes())


def v2_annotation(classes: np.ndarray, channels: int = 3) -> np.ndarray:
    """A v2 person file's pixels in OpenCV (BGR[A]) order: class in R, G = B = 0, alpha 255 if 4 channels."""
    out = np.zeros(classes.shape + (channels,), np.uint8)
    out[:, :, 2] = classes
    if channels == 4:
        out[:, :, 3] = 255
    return out


def pose_arrays(maps: list[np.ndarray], version: str = "v2") -> list[np.ndarray]:
    """Pose rows (20 x 3) per person, in the person order: face box (rows 16-17) and person box (18-19)."""
    tab = table(version)
    face_id = tab.id_of("face")
    out = []
    for m in maps:
        a = np.full((20, 3), -1.0, np.float32)
        a[:, 2] = 2
        for rows, sel in ((slice(16, 18), m == face_id), (slice(18, 20), m > 0)):
            ys, xs = np.nonzero(sel)
            if xs.size:
                a[rows] = [[xs.min(), ys.min(), 0], [xs.max(), ys.max(), 0]]
        out.append(a)
    return out


def write_tree(root: str | os.PathLike, images: list[SynthImage], version: str, seed: int = 0,
               four_channel: bool | set[str] = False) -> Path:
    """Write an LV-MHP tree (``root/LV-MHP-v1`` or ``root/LV-MHP-v2``) and return the version folder.

    v1 lists split the images alternately between ``train_list.txt`` and ``test_list.txt``; v2 uses each
    image's ``subset`` (train or val). ``four_channel`` picks which v2 images get 4-channel person files.
    """
    from scipy.io import savemat

    if version == "v1":
        top = Path(root) / "LV-MHP-v1"
        (top / "images").mkdir(parents=True, exist_ok=True)
        (top / "annotations").mkdir(exist_ok=True)
    else:
        top = Path(root) / "LV-MHP-v2"
        (top / "list").mkdir(parents=True, exist_ok=True)
        for s in ("train", "val"):
            for sub in ("images", "parsing_annos", "pose_annos"):
                (top / s / sub).mkdir(parents=True, exist_ok=True)
        (top / "test" / "images").mkdir(parents=True, exist_ok=True)
    lists: dict[str, list[str]] = {}
    rng = np.random.default_rng(seed)
    for n, spec in enumerate(images):
        rgb, maps = render(spec, version, seed)
        P = len(maps)
        if version == "v1":
            name = "train_list.txt" if n % 2 == 0 else "test_list.txt"
            lists.setdefault(name, []).append(f"{spec.image_id}.jpg")
            _write_jpg(top / "images" / f"{spec.image_id}.jpg", rgb)
            for k, m in enumerate(maps, 1):
                _write_png(top / "annotations" / f"{spec.image_id}_{P:02d}_{k:02d}.png", m)
        else:
            lists.setdefault(f"list/{spec.subset}.txt", []).append(spec.image_id)
            base = top / spec.subset
            _write_jpg(base / "images" / f"{spec.image_id}.jpg", rgb)
            four = four_channel is True or (isinstance(four_channel, set) and spec.image_id in four_channel)
            for k, m in enumerate(maps, 1):
                name = f"{spec.image_id}_{P:02d}_{k:02d}.png"
                _write_png(base / "parsing_annos" / name, v2_annotation(m, 4 if four else 3))
            poses = pose_arrays(maps, version)
            order = rng.permutation(P)  # person_j is not person k
            savemat(str(base / "pose_annos" / f"{spec.image_id}.mat"),
                    {f"person_{j}": poses[i] for j, i in enumerate(order)})
    if version == "v1":
        for name in ("train_list.txt", "test_list.txt"):
            (top / name).write_text("".join(f"{x}\n" for x in lists.get(name, [])))
    else:
        for name in ("list/train.txt", "list/val.txt"):
            (top / name).write_text("".join(f"{x}\n" for x in lists.get(name, [])))
        for name in ("test_all.txt", "test_inter_top10.txt", "test_inter_top20.txt"):
            (top / "list" / name).write_text("")
    return top


def random_scenes(n: int, width: int, height: int, persons: tuple[int, int] = (2, 3), seed: int = 0,
                  first_id: int = 1, v1_ids: bool = False) -> list[SynthImage]:
    """``n`` images of ``persons`` people standing side by side, heads 10-22 % of the image height."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        count = int(rng.integers(persons[0], persons[1] + 1))
        people = []
        for j in range(count):
            head_h = float(rng.uniform(0.10, 0.22) * height)
            cx = (j + 0.5) * width / count + float(rng.uniform(-0.08, 0.08)) * width
            top = float(rng.uniform(0.05, 0.35) * height)
            people.append(SynthPerson(cx, top, head_h, hat=bool(rng.random() < 0.25),
                                      glasses=bool(rng.random() < 0.25)))
        image_id = f"{first_id + i:04d}" if v1_ids else str(first_id + i)
        out.append(SynthImage(image_id, width, height, people, "train" if i % 5 else "val"))
    return out
