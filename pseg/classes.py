"""Head and upper-body class ids of LV-MHP-v1 and v2 (``docs/datasets.md``), as lookup tables over 8-bit labels."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# A person-file value meaning "a person is here, parts not labelled": masked as ignore, never a subject.
IGNORE = 255

V1_NAMES = (
    "background", "hat", "hair", "sunglass", "upper-clothes", "skirt", "pants", "dress", "belt", "left-shoe",
    "right-shoe", "face", "left-leg", "right-leg", "left-arm", "right-arm", "bag", "scarf", "torso-skin",
)
V2_NAMES = (
    "background", "cap/hat", "helmet", "face", "hair", "left-arm", "right-arm", "left-hand", "right-hand",
    "protector", "bikini/bra", "jacket/windbreaker/hoodie", "tee-shirt", "polo-shirt", "sweater", "singlet",
    "torso-skin", "pants",
    "shorts/swim-shorts", "skirt", "stockings", "socks", "left-boot", "right-boot", "left-shoe", "right-shoe",
    "left-highheel", "right-highheel", "left-sandal", "right-sandal", "left-leg", "right-leg", "left-foot",
    "right-foot", "coat", "dress", "robe", "jumpsuit", "other-full-body-clothes", "headwear", "backpack",
    "ball",
    "bats", "belt", "bottle", "carrybag", "cases", "sunglasses", "eyewear", "glove", "scarf", "umbrella",
    "wallet/purse", "watch", "wristband", "tie", "other-accessary", "other-upper-body-clothes",
    "other-lower-body-clothes",
)


@dataclass(frozen=True)
class ClassTable:
    """The class ids of one MHP version that make up a person's head and upper body (shoulders, torso)."""

    version: str
    names: tuple[str, ...]
    head: tuple[int, ...]
    upper: tuple[int, ...]
    head_lut: np.ndarray = field(init=False, repr=False, compare=False)
    upper_lut: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "head_lut", _lut(self.head))
        object.__setattr__(self, "upper_lut", _lut(self.upper))

    def id_of(self, name: str) -> int:
        """The class id of a class name (used by the synthetic tree generator)."""
        return self.names.index(name)


def _lut(ids: tuple[int, ...]) -> np.ndarray:
    lut = np.zeros(256, dtype=bool)
    lut[list(ids)] = True
    return lut


V1 = ClassTable(
    version="v1", names=V1_NAMES,
    head=(1, 2, 3, 11),  # hat, hair, sunglass, face
    upper=(4, 7, 14, 15, 17, 18),  # upper-clothes, dress, left-arm, right-arm, scarf, torso-skin
)
V2 = ClassTable(
    version="v2", names=V2_NAMES,
    head=(1, 2, 3, 4, 39, 47, 48),  # cap/hat, helmet, face, hair, headwear, sunglasses, eyewear
    upper=(5, 6, 10, 11, 12, 13, 14, 15, 16, 34, 35, 36, 37, 38, 50, 55, 57),
)
TABLES = {"v1": V1, "v2": V2}


def table(version: str) -> ClassTable:
    """The class table of ``"v1"`` or ``"v2"``."""
    try:
        return TABLES[version]
    except KeyError:
        raise ValueError(f"unknown MHP version {version!r}; expected 'v1' or 'v2'") from None
