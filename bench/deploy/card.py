"""A model card: one typed idea of "a trained model and how it sees a photo", from loading to every command.

Whatever a user names (a registry name, a zoo name, a run folder, a checkpoint, an ``.onnx`` file) resolves to one
``ModelCard`` (``bench.deploy.sources.resolve``): the architecture, the weights (where, sha256, how stored), the
``Preprocess``, the classes, where the weights came from (trained here: run and commit; published: source and
licence; exported: the ONNX file and what it was exported from) and the metrics recorded for them. The runtime turns
a card into a predictor on any back end, and every predictor carries its card (``predictor.card``), so ``segment``,
``bench eval``, ``export``, the gallery, the speed grid, the Python API and ``hubconf.py`` read the same facts.

A card is plain data (no torch): it is written into every exported ONNX file (``to_dict``) and read back from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from bench.data.preprocess import Preprocess
from bench.defaults import NUM_CLASSES
from bench.deploy.refine import NONE, Refine

CLASSES = ("background", "portrait")
# Where a card's weights came from (Provenance.origin).
TRAINED, PUBLISHED, EXPORTED, UNTRAINED = "trained here", "published weights", "exported", "untrained"


@dataclass(frozen=True)
class Weights:
    """The file that holds the weights, its sha256 (when recorded) and how the numbers are stored."""

    path: str
    sha256: str | None = None
    dtype: str = "float32"  # float32, float16, int8 (a zoo file's storage) or an ONNX file's precision


@dataclass(frozen=True)
class Provenance:
    """Where the weights came from: ``origin`` (TRAINED, PUBLISHED, EXPORTED, UNTRAINED) and what records it."""

    origin: str
    run: str | None = None  # trained here: the run record (a run folder, or the zoo manifest's reports/ path)
    commit: str | None = None  # trained here: the commit that trained it
    profile: str | None = None  # trained here: the run-all profile, where known
    source: str | None = None  # published: the repository; exported: what was exported
    licence: str | None = None
    onnx: str | None = None  # exported: the ONNX file


@dataclass(frozen=True)
class ModelCard:
    """A model as the harness knows it; ``name`` is what the user gave (a zoo name, a path, a registry name)."""

    name: str
    architecture: str  # the registry name (``bench models``); "" for an ONNX file written elsewhere
    preprocess: Preprocess
    provenance: Provenance
    weights: Weights | None = None  # None: the registry's random weights (for speed only), made at load time
    num_classes: int = NUM_CLASSES
    classes: tuple[str, ...] = CLASSES
    metrics: Mapping[str, float] = field(default_factory=dict)  # percent, on the test split of ``dataset``
    dataset: str | None = None  # the training dataset's name
    training_data: str | None = None  # the training dataset's folder, where recorded (int8 calibration, bench eval)
    epochs_trained: int | None = None
    val_fraction: float = 0.0
    zoo: str | None = None  # the zoo entry's name, if the weights are a shipped entry
    refine: Refine = NONE  # the edge refinement measured to help this model (a zoo manifest's ``refine``), else none

    @property
    def trained(self) -> bool:
        """False for random weights (a registered name, or an ONNX file exported from one)."""
        return self.provenance.origin != UNTRAINED

    @property
    def size(self) -> int:
        """The square side the model was trained and is scored at."""
        return int(self.preprocess.size[0])

    def at_size(self, size: int) -> ModelCard:
        """The same model fed at another square input size."""
        return replace(self, preprocess=replace(self.preprocess, size=(int(size), int(size))))

    def describe(self) -> str:
        """One line for a command's output: what runs, and where its weights came from."""
        what = self.zoo or self.name
        arch = f" ({self.architecture})" if self.architecture and self.architecture != what else ""
        origin = self.provenance.origin
        if not self.trained:
            origin = "random weights: untrained, for timing only"
        return f"{what}{arch}, {self.size}x{self.size} {self.preprocess.channels}, {origin}"

    def to_dict(self) -> dict[str, object]:
        """Plain JSON types (for an ONNX file's metadata); ``from_dict`` reads it back."""
        return {"name": self.name, "architecture": self.architecture, "preprocess": self.preprocess.to_dict(),
                "provenance": {k: v for k, v in vars(self.provenance).items() if v is not None},
                "weights": None if self.weights is None else dict(vars(self.weights)),
                "num_classes": self.num_classes, "classes": list(self.classes), "metrics": dict(self.metrics),
                "dataset": self.dataset, "training_data": self.training_data,
                "epochs_trained": self.epochs_trained, "val_fraction": self.val_fraction, "zoo": self.zoo,
                "refine": self.refine.settings()}

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> ModelCard:
        w = d.get("weights")
        return cls(name=str(d["name"]), architecture=str(d.get("architecture") or ""),
                   preprocess=Preprocess.from_dict(d["preprocess"]), provenance=Provenance(**d["provenance"]),
                   weights=None if w is None else Weights(**w), num_classes=int(d.get("num_classes") or NUM_CLASSES),
                   classes=tuple(d.get("classes") or CLASSES), metrics=dict(d.get("metrics") or {}),
                   dataset=d.get("dataset"), training_data=d.get("training_data"),
                   epochs_trained=d.get("epochs_trained"), val_fraction=float(d.get("val_fraction") or 0.0),
                   zoo=d.get("zoo"), refine=Refine.from_settings(d.get("refine")))
