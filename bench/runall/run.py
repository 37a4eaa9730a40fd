"""``bench run-all``: train, evaluate, time and count every model on every dataset, then write the paper's tables.

Everything ``run-all`` measures lands in ``<out>/results.csv`` (one row per model, dataset and loss) and
``<out>/run_info.json`` (the footer facts); ``build_reports`` turns those two files and the run folders into the
tables and figures, so ``bench tables`` can rebuild them without training. Work already done is never redone: a
finished run is skipped, an interrupted one resumes from its last checkpoint, and speed and complexity figures are
cached per model, device and torch version under ``<runs>/measurements/``.

A long protocol outlives machines: as each job finishes, its small files (``config.json``, ``train_log.csv`` and the
metrics) are copied to ``<out>/runs/<role>/<run>/`` and ``results.csv`` is rewritten, so a report folder kept in the
repository is a record of every finished job. Started again on a machine whose ``runs/`` is gone, run-all takes a
recorded job as finished when it was trained with the same settings, on the same device type, in the same precision
and from the same data format (a dataset folder or a pack), and trains only the rest; a job whose record or run folder
was trained otherwise is refused before any training, so one report folder never mixes CPU and GPU runs (a GPU run
writes to its own, ``reports/<profile>-gpu`` by default).

A dataset may be a pack file (``bench pack``) instead of a folder: its runs train from batches made on the device
(``bench.data.device_batches``) and are scored natively from its packed 600x800 test masks, and the figures show its
test photos at the packed size. With ``parallel`` > 1 the unfinished jobs train several at once, each in a process
of its own on the same device (``train_in_processes``), and each is evaluated and recorded here as soon as it has
finished, while the others train on; a job that fails there is reported after the others finish, and the sequential
pass then stops at it with its own error.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from bench.data.format import PortraitDataset
from bench.data.io import atomic_write_bytes, atomic_write_json
from bench.data.pack import Pack, open_data
from bench.defaults import ABLATION_LOSS, ABLATION_MODEL
from bench.devices import is_cuda, resolve_device
from bench.errors import UserError
from bench.registry import default_loss, get_spec
from bench.report.folder import FINISHED, NOT_RUN, ReportFolder, ResultRow
from bench.runall.profile import Profile
from bench.runall.reports import build_reports, run_info
from bench.runs.folder import (
    CHECKPOINT,
    EXECUTION_FIELDS,
    METRICS,
    METRICS_NATIVE,
    RECORDED_FILES,
    execution,
    finished_metrics,
    per_image_name,
    percent,
    read_config,
    read_json,
    read_log,
    record_settings,
    train_minutes,
)
from bench.train.config import TrainConfig

__all__ = ["build_reports", "default_out", "run_all"]


@dataclass
class Job:
    """One training run of the grid: a model, a dataset role and a loss."""

    model: str
    role: str
    loss: str
    data: Path
    dataset_name: str  # the dataset's own name (dataset.json), which a recorded run is matched by
    seed: int | None = None  # None: the profile's own; else one of its extra seeds (``Profile.extra_seeds``)
    pack: Mapping[str, object] | None = None  # the pack's codec settings when ``data`` is a pack, else None

    @property
    def run_name(self) -> str:
        name = self.model if self.is_default else f"{self.model}-{self.loss}"
        return name if self.seed is None else f"{name}-seed{self.seed}"

    @property
    def is_default(self) -> bool:
        return self.loss == default_loss(self.model)


def plan_jobs(profile: Profile, datasets: Mapping[str, PortraitDataset | Pack], models: list[str]) -> list[Job]:
    """The grid: every model on every dataset with its own default loss, plus ELB with plain CE (the ablation), then
    the seeded models' extra seeds (last: a budget that runs out costs spreads, not rows)."""
    jobs, seeded = [], []
    for role, ds in datasets.items():
        pack = ds.pack_meta if isinstance(ds, Pack) else None
        for m in models:
            jobs.append(Job(m, role, default_loss(m), ds.root, ds.name, pack=pack))
            seeded += [Job(m, role, default_loss(m), ds.root, ds.name, seed, pack) for seed in profile.extra_seeds(m)]
        if profile.ablation and ABLATION_MODEL in models:
            jobs.append(Job(ABLATION_MODEL, role, ABLATION_LOSS, ds.root, ds.name, pack=pack))
    return jobs + seeded


def prepare_datasets(profile: Profile, given: Mapping[str, str | Path | None], runs: Path,
                     log: Callable[[str], None]) -> dict[str, PortraitDataset | Pack]:
    """The datasets to run on, opened once: the ones given (folders or packs), else the synthetic set (built under
    ``runs``).

    Opening validates each folder, so a bad one is named before any training.
    """
    if any(given.values()):
        return {role: open_data(p) for role, p in given.items() if p}
    from bench.data.synthetic import make_synthetic

    syn = profile.synthetic
    root = runs / "data" / f"synthetic-{profile.name}"
    log(f"no dataset given: building the synthetic portrait set in {root}")
    make_synthetic(root, n_train=syn.n_train, n_test=syn.n_test, size=(syn.width, syn.height), seed=syn.seed)
    return {"synthetic": open_data(root)}


def _cached(path: Path, compute: Callable[[], dict[str, object]]) -> dict[str, object]:
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    value = compute()
    atomic_write_json(path, value)
    return value


def _timing_key(name: str, profile: Profile, device: str) -> str:
    """What a cached FPS depends on: the model, the device, the torch version and the profile's speed settings."""
    speed = asdict(profile.speed)
    settings = "-".join(f"{k}{speed[k]}" for k in sorted(speed))  # other settings, other timing
    return f"{name}-{device}-torch{torch.__version__}-{settings}".replace("/", "_").replace("+", "_")


def measure_model(name: str, profile: Profile, device: str, runs: Path, timed: bool = True) -> dict[str, object]:
    """Params and GMACs at the speed size, and FPS there (batch 1; ``timed=False``: not timed, FPS left blank),
    cached per device and torch version."""
    from bench.speed import grid
    from bench.speed.complexity import measure

    s = profile.speed
    counts = _cached(runs / "measurements" / f"complexity-{name}-{s.size}.json",
                     lambda: measure(name, s.size).as_dict())
    if not timed:
        import torch

        return {"params": counts["params"], "gmacs": counts["gmacs"], "fps": "", "device": device,
                "device_name": grid.device_name(torch.device(device))}
    speed = _cached(runs / "measurements" / f"speed-{_timing_key(name, profile, device)}.json",
                    lambda: grid.measure_fps(name, size=s.size, device=device, batch_size=s.batch_size,
                                             warmup=s.warmup, runs=s.runs))
    return {"params": counts["params"], "gmacs": counts["gmacs"], **speed}


def measure_best_speeds(models: list[str], profile: Profile, device: str, runs: Path) -> dict[str, dict[str, object]]:
    """Each model's FPS on its fastest installed fp32 back end, cached per model, device and torch version.

    The models still to measure are timed together, every model on every back end in one interleaved grid, so the
    choice of back end and the comparison between models both hold on a busy machine. fp32 only: the tables' mIoU
    is the fp32 model's, and int8's accuracy is measured on its own (``bench eval --model``).
    """
    from bench.deploy.backends import installed_backends
    from bench.speed.grid import best_per_model, measure_grid

    s = profile.speed
    paths = {m: runs / "measurements" / f"speed-best-{_timing_key(m, profile, device)}.json" for m in models}
    missing = [m for m, p in paths.items() if not p.exists()]
    if missing:
        rows = measure_grid(missing, installed_backends(device), ["fp32"], size=s.size, batch_size=s.batch_size,
                            warmup=s.warmup, runs=s.runs, device=device)
        best = best_per_model(rows)
        for m in missing:
            if m not in best:
                raise UserError(f"{m}: no back end could time it: "
                                   + "; ".join(str(r["status"]) for r in rows if r["model"] == m))
            atomic_write_json(paths[m], best[m])
    return {m: json.loads(p.read_text(encoding="utf-8")) for m, p in paths.items()}


def _wanted(job: Job, cfg: TrainConfig) -> dict[str, object]:
    """What a run must share with ``job``, trained as ``cfg`` (device resolved), to stand for it: RECORD_FIELDS and
    how it computes (``execution``: device type, the precision ``cfg.amp`` resolves to there, the data format)."""
    from bench.train.loop import resolve_amp

    return {**record_settings(cfg), **execution(cfg.device, resolve_amp(cfg.amp, torch.device(cfg.device)), job.pack)}


def _recorded(record: Path, job: Job, cfg: TrainConfig) -> tuple[dict, dict] | None:
    """The (metrics, native metrics) a report folder holds for this job, if it finished with the same settings on
    the same device type, in the same precision and from the same data format (a CPU record never stands for a CUDA
    job, nor the reverse)."""
    config, native = read_config(record), read_json(record / METRICS_NATIVE)
    metrics = finished_metrics(record, METRICS, cfg.epochs)
    if not (config and metrics and native):
        return None
    return (metrics, native) if config.same_result(_wanted(job, cfg), job.dataset_name) else None


def _check_execution(run_dir: Path, record: Path | None, job: Job, cfg: TrainConfig) -> None:
    """Refuse a job whose run folder (with a checkpoint) or record was trained on another device type, precision or
    data format: resuming, reusing or overwriting it would mix two executions in one result or one report folder."""
    wanted = {k: v for k, v in _wanted(job, cfg).items() if k in EXECUTION_FIELDS}
    folders = [(run_dir, "--runs")] if (run_dir / CHECKPOINT).exists() else []
    for folder, option in [*folders, *([(record, "--out")] if record is not None else [])]:
        config = read_config(folder)
        if config is not None and config.execution != wanted:
            raise UserError(f"{folder}: trained as {config.execution}, but this job runs as {wanted}; give run-all "
                            f"another {option} folder (a report folder holds runs of one execution)")


def _evaluated(run_dir: Path, name: str, epochs: int, native: bool, device: str) -> dict:
    """The run's metrics file if it is of the finished run and has its per-image CSV (older evaluations lack it),
    else a fresh evaluation (which writes both)."""
    from bench.eval.evaluate import evaluate, model_source
    from bench.eval.loop import AT_INPUT, NATIVE

    done = finished_metrics(run_dir, name, epochs) if (run_dir / per_image_name(name)).is_file() else None
    return done or evaluate(model_source(run_dir, device=device), split="test",
                            resolution=NATIVE if native else AT_INPUT)


def _job_run(job: Job, profile: Profile, runs: Path, device: str = "auto") -> tuple[Path, TrainConfig]:
    """A job's run folder and its training settings."""
    run_dir = runs / profile.name / job.role / job.run_name
    seed = {} if job.seed is None else {"seed": job.seed}
    return run_dir, profile.train_config(model=job.model, data=str(job.data), out=str(run_dir), loss=job.loss,
                                         device=device, resume=True, **seed)


def train_and_evaluate(job: Job, profile: Profile, device: str, runs: Path,
                       report: ReportFolder | None = None) -> tuple[Path, dict[str, object], dict[str, object]]:
    """Train one job (skipped when finished or recorded, resumed when interrupted); evaluate it on the test split at
    the model's input size and at native resolution; copy its small files to its record in ``report`` when given."""
    from bench.train.loop import train

    run_dir, cfg = _job_run(job, profile, runs, device)
    record = report.record(job.role, job.run_name) if report is not None else None
    if record is not None and not (run_dir / CHECKPOINT).exists():
        done = _recorded(record, job, cfg)
        if done is not None:
            return record, *done
    _check_execution(run_dir, record, job, cfg)
    train(cfg)
    metrics = _evaluated(run_dir, METRICS, cfg.epochs, False, device)
    native = _evaluated(run_dir, METRICS_NATIVE, cfg.epochs, True, device)
    if record is not None:
        for name in RECORDED_FILES:
            atomic_write_bytes(record / name, (run_dir / name).read_bytes())
    return run_dir, metrics, native


def _train_job(cfg: TrainConfig) -> str:
    from bench.train.loop import train

    return str(train(cfg))


def _worker_setup(threads: int) -> None:
    import torch as _torch

    _torch.set_num_threads(threads)
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # each epoch's line, from every process


def train_in_processes(cfgs: list[TrainConfig], parallel: int, log: Callable[[str], None] = print,
                       on_done: Callable[[int], None] | None = None) -> None:
    """Train ``cfgs`` up to ``parallel`` at once, each in its own process on its config's device.

    Processes, not threads or CUDA streams in one process: each model's step is a long chain of small kernels whose
    launch cost is Python's, so one interpreter per model keeps the GPU fed from as many CPU cores; the GPU
    interleaves the processes' kernels (faster still under MPS, which the GPU script can start). ``spawn``, as CUDA
    cannot be forked. The CPU cores are shared out evenly. Progress bars are off (N bars would garble each other);
    every epoch still logs its line. ``on_done(i)`` runs in this process as soon as ``cfgs[i]`` has finished, while
    the others train on (run-all records the job there, so a budget that runs out loses no finished job). The first
    training error is raised once every other job has ended.
    """
    threads = max(1, (os.cpu_count() or 1) // max(1, parallel))
    errors: list[tuple[str, BaseException]] = []
    with ProcessPoolExecutor(max_workers=parallel, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_worker_setup, initargs=(threads,)) as pool:
        futures = {pool.submit(_train_job, replace(cfg, progress=False)): i for i, cfg in enumerate(cfgs)}
        for future in as_completed(futures):
            cfg = cfgs[futures[future]]
            try:
                log(f"[train] {cfg.model} ({cfg.loss or 'default loss'}): finished in {future.result()}")
            except Exception as e:  # noqa: BLE001 - reported below, after the other jobs had their chance
                log(f"[train] {cfg.model} ({cfg.loss or 'default loss'}): failed: {e}")
                errors.append((cfg.out or cfg.model, e))
                continue
            if on_done is not None:
                on_done(futures[future])
    if errors:
        raise errors[0][1]


def _finished(job: Job, profile: Profile, device: str, runs: Path, report: ReportFolder) -> bool:
    """Whether a job's result exists without training on ``device``: evaluated in its run folder, or recorded in the
    report by a run that computed as this one would (``_recorded``). A job that would mix executions is refused here,
    before any job trains (``_check_execution``)."""
    run_dir, cfg = _job_run(job, profile, runs, device)
    record = report.record(job.role, job.run_name)
    if not (run_dir / CHECKPOINT).exists() and _recorded(record, job, cfg) is not None:
        return True
    _check_execution(run_dir, record, job, cfg)
    return (run_dir / CHECKPOINT).exists() and all(finished_metrics(run_dir, n, cfg.epochs)
                                                   for n in (METRICS, METRICS_NATIVE))


def default_out(profile_name: str, device: str) -> Path:
    """run-all's report folder: ``reports/<profile>`` on the CPU, ``reports/<profile>-gpu`` on CUDA, as a report
    folder holds the runs of one execution (``_check_execution``)."""
    return Path("reports") / (f"{profile_name}-gpu" if is_cuda(resolve_device(device)) else profile_name)


def run_all(
    profile: Profile,
    datasets: Mapping[str, str | Path | None] | None = None,
    models: list[str] | None = None,
    device: str = "auto",
    out: str | Path = "reports",
    runs: str | Path = "runs",
    log: Callable[[str], None] = print,
    speed_backend: str = "eager",
    parallel: int = 1,
    train: bool = True,
) -> Path:
    """Run the whole grid and write ``results.csv``, ``run_info.json``, the tables and the figures to ``out``.

    ``speed_backend``: ``eager`` times every model in eager PyTorch; ``best`` on its fastest fp32 back end
    (``measure_best_speeds``), and the tables' footer names it. ``parallel`` > 1 trains the unfinished jobs that
    many at once first (``train_in_processes``). ``train=False`` trains and times nothing: the tables are written
    from what is finished or recorded, and every other job is a row saying how far its record got (``status``), so
    a protocol that trains elsewhere for days (``scripts/paper_cpu_run.sh``) has its tables as it goes.
    """
    out, runs = Path(out), Path(runs)
    report = ReportFolder(out)
    device = resolve_device(device)
    models = models or profile.models
    profile.check_models(models)
    given = dict(datasets or {})
    data = prepare_datasets(profile, given, runs, log)
    jobs = plan_jobs(profile, data, models)
    measured = {}
    for m in models:
        what = "params, GMACs and FPS" if train else "params and GMACs (nothing timed: --no-train)"
        log(f"[measure] {m}: {what} at {profile.speed.size}x{profile.speed.size} on {device}")
        measured[m] = measure_model(m, profile, device, runs, timed=train)
    if speed_backend == "best" and train:
        log(f"[measure] FPS of {', '.join(models)} on every installed back end, interleaved; keeping each one's best")
        for m, best in measure_best_speeds(models, profile, device, runs).items():
            measured[m].update({k: best[k] for k in ("fps", "fps_iqr", "backend", "precision", "version")})
    out.mkdir(parents=True, exist_ok=True)
    info = run_info(profile, data, device, measured)
    if speed_backend == "best":
        info["speed_backends"] = {m: f"{v['backend']} {v['precision']} ({v['version']})" for m, v in measured.items()}
    report.write_run_info(info)
    # finished jobs first, so results.csv holds every finished result before any training starts (a kill in the
    # middle of a job must not drop the rows of the jobs planned after it); rows are written in plan order
    finished = [_finished(job, profile, device, runs, report) for job in jobs]
    order = sorted(range(len(jobs)), key=lambda k: not finished[k])
    rows: dict[int, ResultRow] = {}

    def record(k: int) -> None:
        """Train (or find) job k, evaluate it, copy its record and rewrite results.csv: after every job."""
        job = jobs[k]
        log(f"[{len(rows) + 1}/{len(jobs)}] {job.run_name} on {job.role}: train and evaluate")
        run_dir, metrics, native = train_and_evaluate(job, profile, device, runs, report)
        rows[k] = _result_row(job, data[job.role], measured[job.model], metrics, native, run_dir, profile, device)
        report.write_results([rows[j] for j in sorted(rows)])

    for k in order:
        if finished[k]:
            record(k)
    todo = [k for k in order if not finished[k]]
    if not train:
        for k in todo:
            job = jobs[k]
            rows[k] = _status_row(job, data[job.role], measured[job.model], report.record(job.role, job.run_name),
                                  profile, device)
            log(f"[no-train] {job.run_name} on {job.role}: {rows[k].status}")
        report.write_results([rows[j] for j in sorted(rows)])
        todo = []
    if parallel > 1 and len(todo) > 1:
        log(f"[train] {len(todo)} jobs, {min(parallel, len(todo))} at a time, each in its own process on {device}")
        train_in_processes([_job_run(jobs[k], profile, runs, device)[1] for k in todo], parallel, log,
                           on_done=lambda i: record(todo[i]))
    for k in todo:
        if k not in rows:
            record(k)
    build_reports(out, log=log)
    return report.results


def _blank(value: object) -> object:
    """None for a measurement left blank (``""``: not timed, no log), else the value."""
    return None if value == "" else value


def _result_row(job: Job, ds: PortraitDataset | Pack, meas: Mapping[str, object], metrics: Mapping[str, object],
                native: Mapping[str, object], run_dir: Path, profile: Profile, device: str) -> ResultRow:
    """The ``results.csv`` row of a finished job."""
    return ResultRow(
        model=job.model, paper_name=get_spec(job.model).paper_name, loss=job.loss, loss_default=job.is_default,
        dataset=job.role, dataset_name=ds.name, n_train=len(ds.ids("train")), n_test=len(ds.ids("test")),
        params=meas["params"], gmacs=meas["gmacs"], fps=_blank(meas["fps"]), fps_spread=_blank(meas.get("fps_iqr", "")),
        device=meas.get("device", device), miou=percent(metrics["miou"]), iou_bg=percent(metrics["iou"]["background"]),
        iou_fg=percent(metrics["iou"]["portrait"]), boundary_f=percent(metrics["boundary_f"]),
        miou_native=percent(native["miou"]), boundary_f_native=percent(native["boundary_f"]),
        size=profile.train_setting("size"), train_minutes=_blank(train_minutes(run_dir)),
        epochs=profile.train_setting("epochs"), schedule=profile.train_setting("schedule"), profile=profile.name,
        run_dir=str(run_dir), seed=profile.train_setting("seed") if job.seed is None else job.seed, status=FINISHED,
    )


def _status_row(job: Job, ds: PortraitDataset | Pack, meas: Mapping[str, object], record: Path, profile: Profile,
                device: str) -> ResultRow:
    """The row of a job that has not finished: its scores blank, ``status`` what its record shows (``run_status``)."""
    empty = {"miou": None, "iou": {"background": None, "portrait": None}, "boundary_f": None}
    row = _result_row(job, ds, meas, empty, empty, record, profile, device)
    return replace(row, run_dir=str(record), train_minutes=None,
                   status=run_status(record, profile.train_setting("epochs")))


def run_status(record: Path, epochs: int) -> str:
    """How far a record got, in words: ``training: epoch 12 of 100, test mIoU 88.10 at epoch 10`` (the last
    periodic evaluation), or ``not run`` when it has no log."""
    rows = read_log(record)
    if not rows:
        return NOT_RUN
    scored = [r for r in rows if r.get("test_miou")]
    last = f", test mIoU {100 * float(scored[-1]['test_miou']):.2f} at epoch {scored[-1]['epoch']}" if scored else ""
    return f"training: epoch {rows[-1]['epoch']} of {epochs}{last}"
