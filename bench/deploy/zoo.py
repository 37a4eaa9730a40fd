"""The model zoo: trained weights shipped in the package (``bench/weights/``), found by name wherever a run folder is
accepted.

Each entry is a weights-only torch file (a flat state dict: floating parameters stored as float16, or as int8 with
per-channel scales for the largest models, to keep the repository small; buffers such as batch-norm statistics as
float32) and a JSON manifest saying what it is: registry
model, dataset and split, how it was trained, the ``Preprocess`` it expects, its metrics re-scored on the stored
weights, sha256 and size. A name resolves to a model only after the file's sha256 matches its manifest, so a
corrupted or truncated file fails in one line naming it and the expected digest. ``docs/zoo.md`` has the format.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch
from torch import nn

from bench.data.io import atomic_write_bytes, atomic_write_json
from bench.data.preprocess import Preprocess
from bench.errors import UserError
from bench.registry import build_model, default_loss
from bench.runs.checkpoint import read_weights_only

FORMAT = "portrait-zoo/1"
# The shipped weights: <name>.pt (a state dict of tensors only, so loading runs no code) and <name>.json (its
# manifest, docs/zoo.md), package data of bench (a folder, not a module: nothing in it is code).
FOLDER = Path(__file__).resolve().parents[1] / "weights"
# What `segment` and the Python API use without a name: as accurate as any entry once refined, and twice the photos
# per second of the next most accurate (README, "Which model": reports/zoo/edges/significance_refined.md,
# reports/zoo/segment_vs_mediapipe.txt).
DEFAULT = "sinet-eg1800"
# How an entry's parameters are stored (the manifest's ``storage`` says it in words): float16 by default, int8 for
# the largest models where the re-scored mIoU stays within 0.05 of the run's own, float32 for published weights.
STORAGE = {
    "float16": "float16 parameters, float32 buffers (weights-only torch file)",
    "int8": "int8 weights with a float32 scale per output channel (symmetric), float16 other parameters, float32 "
            "buffers (weights-only torch file)",
    "float32": "float32 (as published), weights-only torch file",
}
INT8_SCALE = ".int8_scale"  # key suffix of an int8 weight's scales


def storage_kind(described: str) -> str:
    """The ``STORAGE`` key of a manifest's ``storage`` text (float32 for a text it does not know)."""
    return next((k for k, v in STORAGE.items() if v == described), "float32")


class ZooError(UserError):
    """A zoo name that is unknown, or a shipped file that is missing or does not match its manifest."""


@dataclass(frozen=True)
class ZooEntry:
    """One shipped weight: its manifest (``manifest``) and where its files are."""

    manifest: dict
    folder: Path

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def model(self) -> str:
        return str(self.manifest["model"])

    @property
    def path(self) -> Path:
        return self.folder / str(self.manifest["file"])

    @property
    def sha256(self) -> str:
        return str(self.manifest["sha256"])

    @property
    def preprocess(self) -> Preprocess:
        return Preprocess.from_dict(self.manifest["preprocess"])

    @property
    def size(self) -> int:
        return int(self.preprocess.size[0])


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@cache
def _entries(folder: str) -> dict[str, ZooEntry]:
    found = {}
    for path in sorted(Path(folder).glob("*.json")):
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if manifest.get("format") == FORMAT:
            found[manifest["name"]] = ZooEntry(manifest, path.parent)
    return found


def entries(folder: str | os.PathLike = FOLDER) -> dict[str, ZooEntry]:
    """Every shipped entry by name (manifests read once per process)."""
    return dict(_entries(str(Path(folder).resolve())))


def is_zoo_name(name: str | os.PathLike, folder: str | os.PathLike = FOLDER) -> bool:
    """A zoo name, not a path: a name that has no folder part, is not an existing file and is in the zoo."""
    s = str(name)
    return "/" not in s and os.sep not in s and not Path(s).exists() and s in entries(folder)


def get_entry(name: str, folder: str | os.PathLike = FOLDER) -> ZooEntry:
    found = entries(folder)
    if name not in found:
        raise ZooError(f"{name!r}: not in the model zoo; shipped: {', '.join(found) or 'none'} (`bench zoo`)")
    return found[name]


def entry_of_file(path: str | os.PathLike, folder: str | os.PathLike = FOLDER) -> ZooEntry | None:
    """The entry whose weight file ``path`` is (a user who points at ``bench/weights/elb-pfcn.pt`` means elb-pfcn), None
    for any other file; its sha256 is checked when it loads, as for the name."""
    p = Path(path)
    if not p.is_file():
        return None
    return next((e for e in entries(folder).values() if e.path.is_file() and p.samefile(e.path)), None)


# Which entry stands for an architecture (torch.hub's ``pretrained=True``): trained with the model's own loss (not an
# ablation), under the cpu profile as the zoo default is, else its authors' published weights, else the paper's.
PROFILE_PREFERENCE = ("cpu", "published", "paper")


def entry_for(model: str, folder: str | os.PathLike = FOLDER) -> ZooEntry | None:
    """The zoo's entry for a registered architecture (``PROFILE_PREFERENCE``), None when it ships none."""
    own_loss = default_loss(model)
    rank = {p: i for i, p in enumerate(PROFILE_PREFERENCE)}

    def key(e: ZooEntry) -> tuple:
        loss = (e.manifest.get("training") or {}).get("loss", own_loss)
        return loss != own_loss, rank.get(e.manifest.get("profile"), len(rank)), e.name

    return min((e for e in entries(folder).values() if e.model == model), key=key, default=None)


def trained_instead(model: str) -> str:
    """What to name instead of a registered model (random weights) where trained weights are needed: the zoo's
    entries of that architecture, the one that stands for it first, else where trained weights come from."""
    best = entry_for(model)
    if best is None:
        return f"name trained weights: a zoo name such as {DEFAULT}, a run folder, a checkpoint or an .onnx file"
    names = [best.name, *(e.name for e in entries().values() if e.model == model and e.name != best.name)]
    return f"did you mean {best.name}? (the zoo's trained {model}: {', '.join(names)})"


def load_weights(entry: ZooEntry, verify: bool = True) -> dict[str, torch.Tensor]:
    """The entry's state dict as stored, after checking the file against its manifest."""
    path = entry.path
    if not path.is_file():
        raise ZooError(f"{path}: missing (zoo entry {entry.name}, expected sha256 {entry.sha256})")
    if verify and (digest := sha256_file(path)) != entry.sha256:
        raise ZooError(f"{path}: sha256 {digest[:16]}... does not match the manifest's {entry.sha256} "
                       "(corrupted or replaced; reinstall the package or restore the file)")
    return read_weights_only(path, ZooError, "weights file")


def model_from_state(model_name: str, state: dict[str, torch.Tensor], num_classes: int = 2) -> nn.Module:
    """A registered model in eval mode holding ``state`` (widened to float32: ``stored_to_float``)."""
    model = build_model(model_name, num_classes)
    model.load_state_dict(stored_to_float(state))
    return model.eval()


def load_zoo_model(name: str, device: str | torch.device = "cpu", folder: str | os.PathLike = FOLDER) -> nn.Module:
    """The entry's model with its weights, in eval mode; ``model.zoo_entry`` is the entry."""
    entry = get_entry(name, folder)
    model = model_from_state(entry.model, load_weights(entry), int(entry.manifest.get("num_classes", 2)))
    model.to(device)
    model.zoo_entry = entry
    return model


def storage_state(model: nn.Module, storage: str = "float16") -> dict[str, torch.Tensor]:
    """What a zoo file stores (``STORAGE``): buffers as they are; parameters as float16 (half the bytes), float32,
    or, for ``int8``, each weight of two or more dimensions as int8 with one float32 scale per slice of its first
    dimension (per output channel of a convolution: symmetric, max |w| -> 127), the other parameters float16."""
    if storage not in STORAGE:
        raise ValueError(f"storage {storage!r}: expected one of {', '.join(STORAGE)}")
    params = {k for k, _ in model.named_parameters()}
    out = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu()
        if k in params and v.is_floating_point() and storage != "float32":
            if storage == "int8" and v.dim() >= 2:
                scale = v.float().abs().amax(dim=tuple(range(1, v.dim())), keepdim=True).clamp_min(1e-12) / 127
                out[k], out[k + INT8_SCALE] = torch.round(v / scale).to(torch.int8), scale.flatten()
                continue
            v = v.half()
        out[k] = v.contiguous()
    return out


def stored_to_float(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A stored state dict as the model's own: int8 weights times their scales, float16 widened to float32."""
    out = {}
    for k, v in state.items():
        if k.endswith(INT8_SCALE):
            continue
        if (scale := state.get(k + INT8_SCALE)) is not None:
            out[k] = v.float() * scale.float().view(-1, *([1] * (v.dim() - 1)))
        else:
            out[k] = v.float() if v.is_floating_point() else v
    return out


def update_manifest(name: str, folder: str | os.PathLike = FOLDER, **fields: object) -> ZooEntry:
    """Add or replace manifest keys of an entry (not its weights: sha256 and bytes stay the file's)."""
    entry = get_entry(name, folder)
    manifest = {**entry.manifest, **fields}
    atomic_write_json(entry.folder / f"{name}.json", manifest)
    _entries.cache_clear()
    return ZooEntry(manifest, entry.folder)


def write_entry(folder: str | os.PathLike, manifest: dict, state: dict[str, torch.Tensor]) -> ZooEntry:
    """Write ``<name>.pt`` and ``<name>.json`` (sha256 and size filled in), each through a temporary file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = manifest["name"]
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(folder / f"{name}.pt", buf.getvalue())
    manifest = {"format": FORMAT, **manifest, "file": f"{name}.pt", "sha256": sha256_file(folder / f"{name}.pt"),
                "bytes": (folder / f"{name}.pt").stat().st_size}
    atomic_write_json(folder / f"{name}.json", manifest)
    _entries.cache_clear()
    return ZooEntry(manifest, folder)
