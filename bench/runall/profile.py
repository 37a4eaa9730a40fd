"""A ``bench run-all`` protocol: a TOML profile read into typed settings, checked before any work.

A profile may start from another (``extends = "cpu"``, a shipped name or a path beside it) and give only what it
changes: tables merge key by key, a value replaces the parent's, so a recipe that is "the cpu one plus X" says so once.

A profile names the training recipe (``[train]``: any ``TrainConfig`` field run-all does not set per job), how models
are timed (``[speed]``), the synthetic set used when no dataset is given (``[synthetic]``), the models and whether the
loss ablation runs (``[models]``) and the figures (``[figures]``). Each table's defaults live in its dataclass here;
an unknown key, an impossible setting or a size a model cannot take is refused naming the file and the key.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path

from bench.data.synthetic import DEFAULT_N_TEST, DEFAULT_N_TRAIN, DEFAULT_SIZE
from bench.defaults import INPUT_SIZE
from bench.errors import UserError
from bench.registry import check_input_size, get_spec, model_names
from bench.train.config import TrainConfig, TrainError, train_defaults

SHIPPED = ("smoke", "cpu", "paper", "robust", "robust-frame", "robust-tail", "fast", "fast96")
# The [train] settings run-all decides itself, for each job of the grid; a profile sets any other TrainConfig field.
JOB_FIELDS = ("model", "data", "out", "loss", "device", "resume")


class ProfileError(UserError):
    """A profile that cannot be read or cannot work; the message names the file, the table and the key."""


@dataclass(frozen=True)
class SpeedSettings:
    """``[speed]``: how each model is timed (``bench.speed.grid``, batch 1 at the paper's 512 px by default)."""

    size: int = INPUT_SIZE
    batch_size: int = 1
    warmup: int = 10
    runs: int = 50


@dataclass(frozen=True)
class SyntheticSettings:
    """``[synthetic]``: the procedural set of a profile run without a dataset (``bench.data.synthetic``)."""

    n_train: int = DEFAULT_N_TRAIN
    n_test: int = DEFAULT_N_TEST
    width: int = DEFAULT_SIZE[0]
    height: int = DEFAULT_SIZE[1]
    seed: int = 0


@dataclass(frozen=True)
class FigureSettings:
    """``[figures]``: how many test photos the prediction grid shows."""

    grid_images: int = 4


@dataclass(frozen=True)
class ModelSettings:
    """``[models]``: the registry names to run, whether ELB also trains with plain cross-entropy, and which models
    train ``seeds`` times (the ``[train]`` seed, then the next ``seeds - 1``) so the tables can give a spread."""

    names: tuple[str, ...] = tuple(model_names())
    ablation: bool = True
    seeded: tuple[str, ...] = ()
    seeds: int = 1


_TABLES = {"speed": SpeedSettings, "synthetic": SyntheticSettings, "figures": FigureSettings, "models": ModelSettings}


@dataclass
class Profile:
    """A run-all protocol (``smoke``, ``cpu``, ``paper`` and ``robust`` ship with the package in ``profiles/``)."""

    name: str
    description: str
    source: str
    train: dict[str, object] = field(default_factory=dict)  # the [train] table as given
    speed: SpeedSettings = field(default_factory=SpeedSettings)
    synthetic: SyntheticSettings = field(default_factory=SyntheticSettings)
    figures: FigureSettings = field(default_factory=FigureSettings)
    models: list[str] = field(default_factory=lambda: list(ModelSettings().names))
    ablation: bool = ModelSettings().ablation
    seeded: list[str] = field(default_factory=list)
    seeds: int = 1

    def extra_seeds(self, model: str) -> list[int]:
        """The seeds ``model`` trains with besides the profile's own (``[models] seeded`` and ``seeds``)."""
        first = int(self.train_setting("seed"))
        return list(range(first + 1, first + self.seeds)) if model in self.seeded else []

    def train_config(self, **job: object) -> TrainConfig:
        """The ``TrainConfig`` of one job: the profile's ``[train]`` table plus the job's own fields."""
        return TrainConfig(**{**self.train, **job})

    def train_setting(self, key: str) -> object:
        """One training setting as the runs use it: the profile's, else the ``TrainConfig`` default."""
        return self.train.get(key, train_defaults()[key])

    def check_models(self, names: list[str]) -> None:
        """Every model is registered and takes the training and timing sizes: checked before any work, not when the
        grid reaches that model."""
        for n in names:
            get_spec(n)
            for table, size in (("train", self.train_setting("size")), ("speed", self.speed.size)):
                try:
                    check_input_size(n, int(size))
                except UserError as e:
                    raise ProfileError(f"{self.source}: [{table}] {e}") from None


def _check_keys(data: dict, source: str) -> None:
    """Every key of a profile must mean something: a typo raises, naming the file, the table and the key."""
    allowed = {"": ("name", "description", "extends", *_TABLES, "train"),
               "train": tuple(k for k in train_defaults() if k not in JOB_FIELDS),
               **{t: tuple(f.name for f in fields(cls)) for t, cls in _TABLES.items()}}
    for table, keys in allowed.items():
        given = data if table == "" else data.get(table, {})
        if not isinstance(given, dict):
            raise ProfileError(f"{source}: [{table}] must be a table")
        for key in given:
            if key not in keys:
                where = f"[{table}] " if table else ""
                raise ProfileError(f"{source}: unknown key {where}{key!r}; expected one of {', '.join(keys)}")


def _merge(parent: dict, child: dict) -> dict:
    """The child's tables over the parent's, key by key at every depth; any other value replaces the parent's."""
    out = dict(parent)
    for key, value in child.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _read(name_or_path: str, beside: Path | None = None) -> tuple[dict, str, Path | None]:
    """One profile file's own table, its source for messages, and the path a parent named by path is found beside
    (None for a shipped profile, whose parents are shipped names)."""
    path = Path(name_or_path)
    if beside is not None and not path.is_absolute() and path.suffix == ".toml":
        path = beside / path
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise ProfileError(f"{path}: no such profile file")
        text, source, folder = path.read_text(encoding="utf-8"), str(path), path.parent
    else:
        try:
            text = (resources.files("bench.runall") / "profiles" / f"{name_or_path}.toml").read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ProfileError(f"unknown profile {name_or_path!r}: use {', '.join(SHIPPED)} or a path to a .toml "
                               "file") from None
        source, folder = f"bench/runall/profiles/{name_or_path}.toml", None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ProfileError(f"{source}: not valid TOML ({e})") from e
    _check_keys(data, source)
    return data, source, folder


def _resolve(name_or_path: str) -> tuple[dict, str]:
    """A profile's table with every ``extends`` parent merged under it; a cycle is refused naming the chain. The
    name and description are each file's own: a child does not inherit what its parent calls itself."""
    def key(src: str, folder: Path | None) -> str:  # one file however it was reached
        return str(Path(src).resolve()) if folder is not None else src

    data, source, folder = _read(name_or_path)
    chain, seen, merged = [source], {key(source, folder)}, data
    while "extends" in data:
        parent = data["extends"]
        if not isinstance(parent, str):
            raise ProfileError(f"{chain[-1]}: extends must be a profile name or a path to a .toml file")
        data, parent_source, folder = _read(parent, folder)
        chain.append(parent_source)
        if key(parent_source, folder) in seen:
            raise ProfileError(f"{source}: extends itself ({' -> '.join(chain)})")
        seen.add(key(parent_source, folder))
        own = {k: v for k, v in data.items() if k not in ("name", "description", "extends")}
        merged = _merge(own, merged)
    merged.pop("extends", None)
    return merged, source


def load_profile(name_or_path: str) -> Profile:
    """A shipped profile by name (``smoke``, ``cpu``, ``paper``, the ``robust`` recipes, ...) or a user's own TOML
    file by path, with the profiles it extends merged in."""
    path = Path(name_or_path)
    data, source = _resolve(name_or_path)
    try:
        TrainConfig(model="elb", data="", **data.get("train", {})).validate()
    except TrainError as e:
        raise ProfileError(f"{source}: [train] {e}") from None
    tables = {t: data.get(t, {}) for t in _TABLES}
    models = ModelSettings(**{**tables["models"], "names": tuple(tables["models"].get("names", model_names())),
                              "seeded": tuple(tables["models"].get("seeded", ()))})
    if models.seeds < 1 or not set(models.seeded) <= set(models.names):
        raise ProfileError(f"{source}: [models] seeds must be at least 1 and seeded a subset of names "
                           f"(got seeds = {models.seeds}, seeded = {list(models.seeded)})")
    profile = Profile(name=str(data.get("name", path.stem)), description=str(data.get("description", "")),
                      source=source, train=dict(data.get("train", {})), speed=SpeedSettings(**tables["speed"]),
                      synthetic=SyntheticSettings(**tables["synthetic"]), figures=FigureSettings(**tables["figures"]),
                      models=list(models.names), ablation=bool(models.ablation), seeded=list(models.seeded),
                      seeds=int(models.seeds))
    profile.check_models(profile.models)  # unknown names and sizes a model cannot take fail here, before any work
    return profile
