"""``bench run-all``: train, evaluate, time and count every model on every dataset, then write the paper's tables.

Everything ``run-all`` measures lands in ``<out>/results.csv`` (one row per model, dataset and loss) and
``<out>/run_info.json`` (the footer facts); ``build_reports`` turns those two files and the run folders into the
tables and figures, so ``bench tables`` can rebuild them without training. Work already done is never redone: a
finished run is skipped, an interrupted one resumes from its last checkpoint, and speed and complexity figures are
cached per model, device and torch version under ``<runs>/measurements/``.

A long protocol outlives machines: as each job finishes, its small files (``config.json``, ``train_log.csv`` and the
metrics) are copied to ``<out>/runs/<role>/<run>/`` and ``results.csv`` is rewritten, so a report folder kept in the
repository is a record of every finished job. Started again on a machine whose ``runs/`` is gone, run-all takes a
recorded job with the same settings as finished and trains only the rest.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import torch

from bench.dataset import PortraitDataset, atomic_write_bytes, atomic_write_json, atomic_write_text, read_dataset
from bench.registry import check_input_size, default_loss, get_spec, model_names
from bench.tables import RESULT_COLUMNS, git_commit
from bench.train_config import TrainConfig, TrainError, train_defaults

DATASET_ROLES = ("pfcn", "pseg")
# The [train] settings run-all decides itself, for each job of the grid; a profile sets any other TrainConfig field.
JOB_FIELDS = ("model", "data", "out", "loss", "device", "resume")
# The keys each other table of a profile may hold.
PROFILE_KEYS = {
    "": ("name", "description", "synthetic", "train", "speed", "models", "figures"),
    "synthetic": ("n_train", "n_test", "width", "height", "seed"),
    "speed": ("size", "batch_size", "warmup", "runs"),
    "models": ("names", "ablation"),
    "figures": ("grid_images",),
}


@dataclass
class Profile:
    """A run-all protocol, read from a TOML file (``smoke`` and ``paper`` ship with the package)."""

    name: str
    description: str
    source: str
    synthetic: dict[str, object] = field(default_factory=dict)
    train: dict[str, object] = field(default_factory=dict)
    speed: dict[str, object] = field(default_factory=dict)
    models: list[str] = field(default_factory=list)
    ablation: bool = True
    figures: dict[str, object] = field(default_factory=dict)

    def train_config(self, **job: object) -> TrainConfig:
        """The ``TrainConfig`` of one job: the profile's ``[train]`` table plus the job's own fields."""
        return TrainConfig(**{**self.train, **job})

    def train_setting(self, key: str) -> object:
        """One training setting as the runs use it: the profile's, else the ``TrainConfig`` default."""
        return self.train.get(key, train_defaults()[key])

    def check_models(self, names: list[str]) -> None:
        """Every model is registered (else ``KeyError``) and takes the training and timing sizes (else
        ``ValueError`` naming the profile): checked before any work, not when the grid reaches that model."""
        for n in names:
            get_spec(n)
            for table, size in (("train", self.train_setting("size")), ("speed", self.speed.get("size", 512))):
                try:
                    check_input_size(n, int(size))
                except ValueError as e:
                    raise ValueError(f"{self.source}: [{table}] {e}") from None


def _check_keys(data: dict, source: str) -> None:
    """Every key of a profile must mean something: a typo raises, naming the file, the table and the key."""
    allowed = {**PROFILE_KEYS, "train": tuple(k for k in train_defaults() if k not in JOB_FIELDS)}
    for table, keys in allowed.items():
        given = data if table == "" else data.get(table, {})
        if not isinstance(given, dict):
            raise ValueError(f"{source}: [{table}] must be a table")
        for key in given:
            if key not in keys:
                where = f"[{table}] " if table else ""
                raise ValueError(f"{source}: unknown key {where}{key!r}; expected one of {', '.join(keys)}")


def load_profile(name_or_path: str) -> Profile:
    """A shipped profile by name (``smoke``, ``paper``) or a user's own TOML file by path."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such profile file")
        text, source = path.read_text(encoding="utf-8"), str(path)
    else:
        try:
            text = (resources.files("bench") / "profiles" / f"{name_or_path}.toml").read_text(encoding="utf-8")
        except FileNotFoundError:
            raise FileNotFoundError(f"unknown profile {name_or_path!r}: use smoke, cpu, paper or a path to a "
                                    ".toml file") from None
        source = f"bench/profiles/{name_or_path}.toml"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{source}: not valid TOML ({e})") from e
    _check_keys(data, source)
    try:
        TrainConfig(model="elb", data="", **data.get("train", {})).validate()
    except TrainError as e:
        raise ValueError(f"{source}: [train] {e}") from None
    models = data.get("models", {})
    profile = Profile(
        name=str(data.get("name", path.stem)), description=str(data.get("description", "")), source=source,
        synthetic=dict(data.get("synthetic", {})), train=dict(data.get("train", {})), speed=dict(data.get("speed", {})),
        models=list(models.get("names", model_names())), ablation=bool(models.get("ablation", True)),
        figures=dict(data.get("figures", {})),
    )
    profile.check_models(profile.models)  # unknown names and sizes a model cannot take fail here, before any work
    return profile


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for, but torch sees no CUDA device")
    return device


@dataclass
class Job:
    """One training run of the grid: a model, a dataset role and a loss."""

    model: str
    role: str
    loss: str
    data: Path
    dataset_name: str  # the dataset's own name (dataset.json), which a recorded run is matched by

    @property
    def run_name(self) -> str:
        return self.model if self.is_default else f"{self.model}-{self.loss}"

    @property
    def is_default(self) -> bool:
        return self.loss == default_loss(self.model)


def plan_jobs(profile: Profile, datasets: Mapping[str, PortraitDataset], models: list[str]) -> list[Job]:
    """The grid: every model on every dataset with its own default loss, plus ELB with plain CE (the ablation)."""
    jobs = []
    for role, ds in datasets.items():
        for m in models:
            jobs.append(Job(m, role, default_loss(m), ds.root, ds.name))
        if profile.ablation and "elb" in models:
            jobs.append(Job("elb", role, "ce", ds.root, ds.name))
    return jobs


def prepare_datasets(profile: Profile, given: Mapping[str, str | Path | None], runs: Path,
                     log: Callable[[str], None]) -> dict[str, PortraitDataset]:
    """The datasets to run on, opened once: the ones given, else the synthetic set (built under ``runs``).

    Opening validates each folder, so a bad one is named before any training.
    """
    if any(given.values()):
        return {role: read_dataset(p) for role, p in given.items() if p}
    from bench.synthetic import make_synthetic

    syn = profile.synthetic
    root = runs / "data" / f"synthetic-{profile.name}"
    log(f"no dataset given: building the synthetic portrait set in {root}")
    make_synthetic(root, n_train=int(syn.get("n_train", 64)), n_test=int(syn.get("n_test", 16)),
                   size=(int(syn.get("width", 160)), int(syn.get("height", 208))), seed=int(syn.get("seed", 0)))
    return {"synthetic": read_dataset(root)}


def _cached(path: Path, compute: Callable[[], dict[str, object]]) -> dict[str, object]:
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    value = compute()
    atomic_write_json(path, value)
    return value


def _timing_key(name: str, profile: Profile, device: str) -> str:
    """What a cached FPS depends on: the model, the device, the torch version and the profile's speed settings."""
    settings = "-".join(f"{k}{profile.speed[k]}" for k in sorted(profile.speed))  # other settings, other timing
    return f"{name}-{device}-torch{torch.__version__}-{settings}".replace("/", "_").replace("+", "_")


def measure_model(name: str, profile: Profile, device: str, runs: Path) -> dict[str, object]:
    """Params and GMACs at the speed size, and FPS there (batch 1), cached per device and torch version."""
    from bench.complexity import measure
    from bench.speed import measure_fps

    size = int(profile.speed.get("size", 512))
    counts = _cached(runs / "measurements" / f"complexity-{name}-{size}.json",
                     lambda: measure(name, size).as_dict())
    speed = _cached(runs / "measurements" / f"speed-{_timing_key(name, profile, device)}.json",
                    lambda: measure_fps(name, size=size, device=device,
                                        batch_size=int(profile.speed.get("batch_size", 1)),
                                        warmup=int(profile.speed.get("warmup", 10)),
                                        runs=int(profile.speed.get("runs", 50))))
    return {"params": counts["params"], "gmacs": counts["gmacs"], **speed}


def measure_best_speeds(models: list[str], profile: Profile, device: str, runs: Path) -> dict[str, dict[str, object]]:
    """Each model's FPS on its fastest installed fp32 back end, cached per model, device and torch version.

    The models still to measure are timed together, every model on every back end in one interleaved grid, so the
    choice of back end and the comparison between models both hold on a busy machine. fp32 only: the tables' mIoU
    is the fp32 model's, and int8's accuracy is measured on its own (``bench eval --onnx``).
    """
    from bench.runtime import backend_installed
    from bench.speedgrid import CPU_BACKENDS, CUDA_BACKENDS, best_per_model, measure_grid

    size = int(profile.speed.get("size", 512))
    paths = {m: runs / "measurements" / f"speed-best-{_timing_key(m, profile, device)}.json" for m in models}
    missing = [m for m, p in paths.items() if not p.exists()]
    if missing:
        backends = [b for b in (CUDA_BACKENDS if device.startswith("cuda") else CPU_BACKENDS) if backend_installed(b)]
        rows = measure_grid(missing, backends, ["fp32"], size=size, batch_size=int(profile.speed.get("batch_size", 1)),
                            warmup=int(profile.speed.get("warmup", 10)), runs=int(profile.speed.get("runs", 50)),
                            device=device)
        best = best_per_model(rows)
        for m in missing:
            if m not in best:
                raise RuntimeError(f"{m}: no back end could time it: "
                                   + "; ".join(str(r["status"]) for r in rows if r["model"] == m))
            atomic_write_json(paths[m], best[m])
    return {m: json.loads(p.read_text(encoding="utf-8")) for m, p in paths.items()}


# The small files of a finished run that the report folder keeps (never the checkpoint).
RECORDED_FILES = ("config.json", "train_log.csv", "metrics.json", "metrics_native.json")
# Settings a recorded run must share with the job to stand for it (the dataset by name: paths differ by machine).
RECORD_FIELDS = ("model", "loss", "epochs", "batch_size", "size", "lr", "weight_decay", "betas", "schedule",
                 "poly_power", "exp_gamma", "seed", "max_iters_per_epoch", "boundary_max_distance", "val_fraction")


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _saved_metrics(run_dir: Path, name: str, epochs: int) -> dict | None:
    """The run's metrics file if it scores the finished run (all ``epochs`` trained), else None."""
    metrics = _read_json(run_dir / name)
    return metrics if metrics and metrics.get("epochs_trained") == epochs else None


def _recorded(record: Path, cfg: TrainConfig, dataset_name: str) -> tuple[dict, dict] | None:
    """The (metrics, native metrics) a report folder holds for this job, if it finished with the same settings."""
    config, native = _read_json(record / "config.json"), _read_json(record / "metrics_native.json")
    metrics = _saved_metrics(record, "metrics.json", cfg.epochs)
    if not (config and metrics and native):
        return None
    wanted = json.loads(json.dumps({k: getattr(cfg, k) for k in RECORD_FIELDS}))
    if any(config.get(k) != v for k, v in wanted.items()) or config.get("dataset", {}).get("name") != dataset_name:
        return None
    return metrics, native


def _evaluated(run_dir: Path, name: str, epochs: int, native: bool, device: str) -> dict:
    """The run's metrics file if it is of the finished run, else a fresh evaluation (which writes it)."""
    from bench.evaluate import evaluate_run

    return _saved_metrics(run_dir, name, epochs) or evaluate_run(run_dir, split="test", device=device, native=native)


def _job_run(job: Job, profile: Profile, runs: Path, device: str = "auto") -> tuple[Path, TrainConfig]:
    """A job's run folder and its training settings."""
    run_dir = runs / profile.name / job.role / job.run_name
    return run_dir, profile.train_config(model=job.model, data=str(job.data), out=str(run_dir), loss=job.loss,
                                         device=device, resume=True)


def train_and_evaluate(job: Job, profile: Profile, device: str, runs: Path,
                       record_root: Path | None = None) -> tuple[Path, dict[str, object], dict[str, object]]:
    """Train one job (skipped when finished or recorded, resumed when interrupted); evaluate it on the test split at
    the model's input size and at native resolution; copy its small files to ``record_root`` when given."""
    from bench.train import train

    run_dir, cfg = _job_run(job, profile, runs, device)
    record = record_root / job.role / job.run_name if record_root is not None else None
    if record is not None and not (run_dir / "checkpoint.pt").exists():
        done = _recorded(record, cfg, job.dataset_name)
        if done is not None:
            return record, *done
    train(cfg)
    metrics = _evaluated(run_dir, "metrics.json", cfg.epochs, False, device)
    native = _evaluated(run_dir, "metrics_native.json", cfg.epochs, True, device)
    if record is not None:
        for name in RECORDED_FILES:
            atomic_write_bytes(record / name, (run_dir / name).read_bytes())
    return run_dir, metrics, native


def _finished(job: Job, profile: Profile, runs: Path, record_root: Path) -> bool:
    """Whether a job's result exists without training: evaluated in its run folder, or recorded in the report."""
    run_dir, cfg = _job_run(job, profile, runs)
    if not (run_dir / "checkpoint.pt").exists():
        return _recorded(record_root / job.role / job.run_name, cfg, job.dataset_name) is not None
    return all(_saved_metrics(run_dir, n, cfg.epochs) for n in ("metrics.json", "metrics_native.json"))


def _log_rows(run_dir: str | Path) -> list[dict[str, str]]:
    """The rows of a run's ``train_log.csv`` (none when the run folder has no log)."""
    path = Path(run_dir) / "train_log.csv"
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8")))) if path.is_file() else []


def _train_minutes(run_dir: Path) -> object:
    """Training wall time of a run (evaluation excluded), from the last row of its ``train_log.csv``."""
    rows = _log_rows(run_dir)
    elapsed = rows[-1].get("elapsed_s") if rows else None
    return round(float(elapsed) / 60.0, 2) if elapsed else ""


def _percent(v: object) -> object:
    return "" if v is None else round(100.0 * float(v), 3)


def run_all(
    profile: Profile,
    datasets: Mapping[str, str | Path | None] | None = None,
    models: list[str] | None = None,
    device: str = "auto",
    out: str | Path = "reports",
    runs: str | Path = "runs",
    log: Callable[[str], None] = print,
    speed_backend: str = "eager",
) -> Path:
    """Run the whole grid and write ``results.csv``, ``run_info.json``, the tables and the figures to ``out``.

    ``speed_backend``: ``eager`` times every model in eager PyTorch; ``best`` on its fastest fp32 back end
    (``measure_best_speeds``), and the tables' footer names it.
    """
    out, runs = Path(out), Path(runs)
    device = resolve_device(device)
    models = models or profile.models
    profile.check_models(models)
    given = dict(datasets or {})
    data = prepare_datasets(profile, given, runs, log)
    jobs = plan_jobs(profile, data, models)
    measured = {}
    for m in models:
        log(f"[measure] {m}: params, GMACs and FPS at {profile.speed.get('size', 512)}x"
            f"{profile.speed.get('size', 512)} on {device}")
        measured[m] = measure_model(m, profile, device, runs)
    if speed_backend == "best":
        log(f"[measure] FPS of {', '.join(models)} on every installed back end, interleaved; keeping each one's best")
        for m, best in measure_best_speeds(models, profile, device, runs).items():
            measured[m].update({k: best[k] for k in ("fps", "fps_iqr", "backend", "precision", "version")})
    out.mkdir(parents=True, exist_ok=True)
    info = run_info(profile, data, device, measured)
    if speed_backend == "best":
        info["speed_backends"] = {m: f"{v['backend']} {v['precision']} ({v['version']})" for m, v in measured.items()}
    atomic_write_json(out / "run_info.json", info)
    # finished jobs first, so results.csv holds every finished result before any training starts (a kill in the
    # middle of a job must not drop the rows of the jobs planned after it); rows are written in plan order
    order = sorted(range(len(jobs)), key=lambda k: not _finished(jobs[k], profile, runs, out / "runs"))
    rows: dict[int, dict[str, object]] = {}
    for i, k in enumerate(order, 1):
        job = jobs[k]
        log(f"[{i}/{len(jobs)}] {job.run_name} on {job.role}: train and evaluate")
        run_dir, metrics, native = train_and_evaluate(job, profile, device, runs, out / "runs")
        ds = data[job.role]
        meas = measured[job.model]
        rows[k] = {
            "model": job.model, "paper_name": get_spec(job.model).paper_name, "loss": job.loss,
            "loss_default": job.is_default,
            "dataset": job.role, "dataset_name": ds.name, "n_train": len(ds.ids("train")),
            "n_test": len(ds.ids("test")), "params": meas["params"], "gmacs": meas["gmacs"],
            "fps": meas["fps"], "fps_spread": meas.get("fps_iqr", ""), "device": meas.get("device", device),
            "miou": _percent(metrics["miou"]), "iou_bg": _percent(metrics["iou"]["background"]),
            "iou_fg": _percent(metrics["iou"]["portrait"]), "boundary_f": _percent(metrics["boundary_f"]),
            "miou_native": _percent(native["miou"]), "boundary_f_native": _percent(native["boundary_f"]),
            "size": profile.train_setting("size"), "train_minutes": _train_minutes(run_dir),
            "epochs": profile.train_setting("epochs"),
            "schedule": profile.train_setting("schedule"), "profile": profile.name, "run_dir": str(run_dir),
        }
        _write_results(out / "results.csv", [rows[j] for j in sorted(rows)])  # after every job
    build_reports(out, log=log)
    return out / "results.csv"


def _write_results(path: Path, rows: list[dict[str, object]]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=RESULT_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def run_info(profile: Profile, data: Mapping[str, PortraitDataset], device: str,
             measured: Mapping[str, Mapping[str, object]]) -> dict[str, object]:
    """The facts every table's footer states."""
    any_meas = next(iter(measured.values()), {})
    datasets = {role: {"path": str(ds.root), "name": ds.name, "n_train": len(ds.ids("train")),
                       "n_test": len(ds.ids("test"))} for role, ds in data.items()}
    return {
        "grid_images": int(profile.figures.get("grid_images", 4)),
        "profile": profile.name, "profile_source": profile.source, "profile_description": profile.description,
        "schedule": profile.train_setting("schedule"), "train": profile.train, "speed": profile.speed,
        "device": f"{any_meas.get('device', device)} ({any_meas.get('device_name', 'unknown')})",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(), "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git_commit(), "datasets": datasets,
        "synthetic": "synthetic" in data,
    }


def build_reports(out: str | Path, log: Callable[[str], None] = print) -> list[Path]:
    """Tables and figures from ``results.csv``, ``run_info.json`` and the run folders (no training)."""
    from bench import tables

    out = Path(out)
    info = json.loads((out / "run_info.json").read_text(encoding="utf-8"))
    roles: dict[str, str | None] = dict.fromkeys(DATASET_ROLES)
    roles.update({role: v["name"] for role, v in info["datasets"].items()})
    footer = {
        "device": info["device"], "torch": info["torch"], "profile": info["profile"], "schedule": info["schedule"],
        "datasets": ", ".join(f"{v['name']} ({role}: {v['n_train']} train / {v['n_test']} test)"
                              for role, v in info["datasets"].items()),
        "date": info["date"], "commit": info["commit"],
    }
    if info.get("speed_backends"):
        footer["FPS back end"] = ("each model's fastest measured fp32 back end, all timed interleaved: "
                                  + ", ".join(f"{m} {b}" for m, b in info["speed_backends"].items()))
    # off-the-shelf peers (`bench record-peer`) live beside the profile folders, in reports/peers.csv
    written = tables.write_tables(out / "results.csv", out, footer=footer, datasets=roles,
                                  peers_csv=out.parent / "peers.csv")
    written += make_figures(out, info, log)
    for p in written:
        log(f"wrote {p}")
    return written


def _curve(result: Mapping[str, object]) -> list[tuple[float, float]]:
    """(training seconds, test mIoU) of a run: its evaluated epochs, and the final score of ``results.csv``."""
    rows = _log_rows(str(result["run_dir"]))
    points = [(float(x["elapsed_s"]), float(x["test_miou"])) for x in rows
              if x.get("test_miou") and x.get("elapsed_s") and x.get("eval_split", "test") in ("test", "")]
    minutes, miou = result.get("train_minutes"), result.get("miou")
    if rows and not rows[-1].get("test_miou") and isinstance(minutes, float) and isinstance(miou, float) \
            and minutes == minutes and miou == miou:  # not NaN
        points.append((60.0 * minutes, miou / 100.0))
    return points


def make_figures(out: Path, info: Mapping[str, object], log: Callable[[str], None] = print) -> list[Path]:
    """FPS against mIoU per dataset, a Fig. 4 style weight map, and a Fig. 5 style prediction grid."""
    from bench import figures, tables
    from bench.checkpoint import CheckpointError, load_model
    from bench.evaluate import predict

    fig_dir = out / "figures"
    written = []
    results = tables.load_results(out / "results.csv")
    for role in info["datasets"]:
        if (results["dataset"] == role).any():
            written.append(figures.fps_vs_miou(out / "results.csv", fig_dir / f"fps_vs_miou_{role}.png", role))
    role, meta = next(iter(info["datasets"].items()))
    ds = read_dataset(meta["path"])
    ids = ds.ids("test")[: int(info.get("grid_images", 4))]
    images = [ds.load_image(i) for i in ids]
    masks = [ds.load_mask(i) for i in ids]
    written.append(figures.boundary_weight_example(images[0], masks[0], fig_dir / "boundary_weights.png"))
    for r_role in info["datasets"]:
        curves = {r["paper_name"] + ("" if r["loss_default"] else f" ({r['loss']})"): _curve(r)
                  for r in results[results["dataset"] == r_role].to_dict("records")}
        if any(curves.values()):
            name = info["datasets"][r_role]["name"]
            title = f"Time to accuracy: test mIoU on {name} ({info['profile']} profile, {info['device']})"
            written.append(figures.time_to_accuracy(curves, fig_dir / f"time_to_accuracy_{r_role}.png", title))
    predictions: dict[str, list] = {}
    for r in results[(results["dataset"] == role) & results["loss_default"]].to_dict("records"):
        try:
            model = load_model(r["run_dir"])
        except CheckpointError as e:  # a run folder deleted since: the grid simply leaves that model out
            log(f"prediction grid: skipping {r['model']} ({e})")
            continue
        predictions[r["paper_name"]] = predict(model, images, size=int(model.run_config["size"]))
    if predictions:
        written.append(figures.prediction_grid(images, masks, predictions, fig_dir / f"predictions_{role}.png"))
    return written
