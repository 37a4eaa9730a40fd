"""bench run-all: the whole grid on a tiny synthetic set with a test profile, tables, resume, 'not run' columns."""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from bench.data.format import read_dataset
from bench.deploy.backends import DEVICE_BACKENDS
from bench.errors import UnknownModelError, UserError
from bench.report.folder import ReportFolder
from bench.runall import run as runall
from bench.runall.profile import ProfileError, load_profile
from bench.runall.run import run_all

TEST_PROFILE = """
name = "tiny"
description = "test profile: a few iterations"
[synthetic]
n_train = 8
n_test = 4
width = 64
height = 80
seed = 3
[train]
size = 32
epochs = 1
batch_size = 4
lr = 5e-4
schedule = "poly"
workers = 0
[speed]
size = 64
warmup = 0
runs = 2
[models]
names = ["elb", "elb-dr4"]
ablation = true
[figures]
grid_images = 2
"""


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """One run-all over two models (and the ELB cross-entropy ablation) on the generated synthetic set."""
    root = tmp_path_factory.mktemp("runall")
    (root / "tiny.toml").write_text(TEST_PROFILE)
    profile = load_profile(str(root / "tiny.toml"))
    logs: list[str] = []
    run_all(profile, device="cpu", out=root / "reports", runs=root / "runs", log=logs.append)
    return root, profile, logs


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_results_hold_every_job(grid):
    root, _, _ = grid
    rows = _csv(root / "reports" / "results.csv")
    assert {(r["model"], r["loss"], r["dataset"]) for r in rows} == {
        ("elb", "adaptive", "synthetic"), ("elb-dr4", "adaptive", "synthetic"), ("elb", "ce", "synthetic")}
    for r in rows:
        assert 0 <= float(r["miou"]) <= 100 and float(r["fps"]) > 0 and int(r["params"]) > 0
        assert r["profile"] == "tiny" and Path(r["run_dir"], "checkpoint.pt").exists()
    assert int(next(r for r in rows if r["model"] == "elb")["params"]) == 662558
    assert {(r["model"], r["loss"]): r["loss_default"] for r in rows} == {
        ("elb", "adaptive"): "True", ("elb-dr4", "adaptive"): "True", ("elb", "ce"): "False"}


def test_tables_have_the_right_rows_columns_and_footers(grid):
    root, _, _ = grid
    reports = root / "reports"
    for name in ("table1", "table2", "ablation"):
        assert (reports / f"{name}.csv").exists() and (reports / f"{name}.md").exists()
    t1 = _csv(reports / "table1.csv")
    methods = [r[next(iter(r))] for r in t1]
    assert "ELB (ours)" in methods and "Graph-cut*" in methods and "ERFNet" in methods
    header = list(t1[0])
    assert any("synthetic" in h for h in header)
    elb = next(r for r in t1 if r[header[0]] == "ELB (ours)")
    assert any(v == "not run" for k, v in elb.items() if "PFCN" in k or "pfcn" in k)
    md = (reports / "table1.md").read_text()
    assert "synthetic" in md.lower() and "tiny" in md
    assert "pfcn fetch" in md and "pseg build" in md  # the commands that would fill the 'not run' columns
    t2 = _csv(reports / "table2.csv")
    assert [r[next(iter(r))] for r in t2] == ["BFB-DR4", "BFB-DR2"]
    assert "cpu" in (reports / "table2.md").read_text().lower()
    ablation = (reports / "ablation.md").read_text()
    assert "adaptive" in ablation.lower() and "ce" in ablation.lower()


def test_figures_are_written(grid):
    root, _, _ = grid
    figs = root / "reports" / "figures"
    for name in ("fps_vs_miou_synthetic.png", "boundary_weights.png", "predictions_synthetic.png"):
        assert (figs / name).stat().st_size > 1000


def test_second_call_trains_and_measures_nothing(grid, monkeypatch):
    root, profile, _ = grid
    ckpts = sorted((root / "runs").rglob("checkpoint.pt"))
    before = {p: p.stat().st_mtime_ns for p in ckpts}

    def no_timing(*a, **k):
        raise AssertionError("speed was measured again")

    monkeypatch.setattr("bench.speed.grid.measure_fps", no_timing)
    run_all(profile, device="cpu", out=root / "reports", runs=root / "runs", log=lambda s: None)
    assert {p: p.stat().st_mtime_ns for p in ckpts} == before


def test_tables_rebuild_without_training(grid, monkeypatch):
    root, _, _ = grid
    (root / "reports" / "table1.md").unlink()
    monkeypatch.setattr("bench.train.loop.train", lambda *a, **k: pytest.fail("tables must not train"))
    runall.build_reports(root / "reports", log=lambda s: None)
    assert (root / "reports" / "table1.md").exists()


def test_a_given_dataset_is_measured_and_a_missing_one_is_not_run(grid, tmp_path):
    root, profile, _ = grid
    data = next((root / "runs" / "data").iterdir())  # the synthetic set, standing in for a real PFCN folder
    profile.models, profile.ablation = ["elb"], False
    run_all(profile, datasets={"pfcn": data, "pseg": None}, device="cpu", out=tmp_path / "reports",
            runs=root / "runs", log=lambda s: None)
    rows = _csv(tmp_path / "reports" / "results.csv")
    assert [(r["model"], r["dataset"]) for r in rows] == [("elb", "pfcn")]
    info = json.loads((tmp_path / "reports" / "run_info.json").read_text())
    assert info["synthetic"] is False and list(info["datasets"]) == ["pfcn"]
    t1 = _csv(tmp_path / "reports" / "table1.csv")
    elb = next(r for r in t1 if r[next(iter(r))] == "ELB (ours)")
    assert any(v == "not run" for k, v in elb.items() if "PSEG" in k or "pseg" in k)
    assert not any(v == "not run" for k, v in elb.items() if "ours" in k.lower() and "PFCN" in k)


def test_profiles_ship_and_bad_ones_are_named(tmp_path):
    smoke, paper, cpu = load_profile("smoke"), load_profile("paper"), load_profile("cpu")
    assert paper.train["size"] == 512 and paper.train["epochs"] == 100 and paper.train["batch_size"] == 16
    # the paper profile runs the paper's seven models; the others add the two beyond the paper, in the same order
    assert len(paper.models) == 7 and smoke.models == cpu.models == [*paper.models, "sinet", "extremec3net"]
    # the CPU protocol keeps the paper's batch, optimiser settings and schedule shape; only size, epochs and lr change
    assert (cpu.train["batch_size"], cpu.train_setting("weight_decay"), cpu.train_setting("schedule")) == (
        16, 1e-4, "poly") and cpu.ablation
    with pytest.raises(ProfileError, match="unknown profile 'nope'"):
        load_profile("nope")
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\nsize = 1")
    with pytest.raises(ProfileError, match="bad.toml: not valid TOML"):
        load_profile(str(bad))
    typo = tmp_path / "typo.toml"
    typo.write_text("[train]\nepochs = 2\nlearning_rate = 0.1\n")
    with pytest.raises(ProfileError, match=r"typo.toml: unknown key \[train\] 'learning_rate'"):
        load_profile(str(typo))
    typo.write_text('[speed]\nrun = 3\n')
    with pytest.raises(ProfileError, match=r"typo.toml: unknown key \[speed\] 'run'"):
        load_profile(str(typo))
    typo.write_text('[train]\nschedule = "cosine"\n')
    with pytest.raises(ProfileError, match=r"typo.toml: \[train\] unknown schedule 'cosine'"):
        load_profile(str(typo))
    typo.write_text('[train]\nmodel = "elb"\n')  # run-all sets the model of each job itself
    with pytest.raises(ProfileError, match=r"unknown key \[train\] 'model'"):
        load_profile(str(typo))
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('[models]\nnames = ["elb", "resnet9000"]\n')
    with pytest.raises(UnknownModelError, match="resnet9000"):
        load_profile(str(unknown))
    unsized = tmp_path / "unsized.toml"
    unsized.write_text("[train]\nsize = 48\n")  # a multiple of 8, but PortraitNet takes multiples of 32
    with pytest.raises(ProfileError, match=r"unsized.toml: \[train\] size 48 does not suit portraitnet"):
        load_profile(str(unsized))


def test_a_profile_extends_another_and_says_only_what_it_changes(tmp_path):
    cpu = load_profile("cpu")
    base = tmp_path / "base.toml"  # a user's own parent, found beside the child when named by path
    base.write_text('extends = "cpu"\nname = "base"\ndescription = "parent"\n[train]\nepochs = 2\n'
                    '[train.augment]\np_noise = 0.5\np_blur = 0.2\n[models]\nnames = ["elb"]\nablation = false\n'
                    'seeded = []\n')
    (tmp_path / "sub").mkdir()
    child = tmp_path / "sub" / "child.toml"
    child.write_text('extends = "../base.toml"\n[train.augment]\np_noise = 0.1\n[speed]\nruns = 3\n')
    p = load_profile(str(child))
    # tables merge key by key through both parents; a value replaces; name and description are the child's own
    assert p.train == {**cpu.train, "epochs": 2, "augment": {"p_noise": 0.1, "p_blur": 0.2}}
    assert (p.speed.runs, p.speed.size, p.models, p.seeds) == (3, cpu.speed.size, ["elb"], cpu.seeds)
    assert (p.name, p.description, p.source) == ("child", "", str(child))
    # the shipped robust recipes are each their parent plus the stages they add (what their records trained with)
    tail, frame, robust = (load_profile(n).train["augment"] for n in ("robust-tail", "robust-frame", "robust"))
    assert set(tail) - set(frame) == {"extra_epochs"} and set(frame) - set(robust) == {
        "p_frame", "frame_height", "frame_narrow", "frame_centre"} and tail["p_jpeg"] == robust["p_jpeg"] == 0.3
    base.write_text('extends = "sub/child.toml"\n')  # a cycle is refused naming the chain, in one line
    with pytest.raises(ProfileError, match=r"child.toml: extends itself \(.*child.toml -> .*base.toml -> "
                                           r".*child.toml\)"):
        load_profile(str(child))
    base.write_text('extends = "cpu"\n[train]\nepoch = 2\n')  # a typo in a parent names the parent
    with pytest.raises(ProfileError, match=r"base.toml: unknown key \[train\] 'epoch'"):
        load_profile(str(child))
    base.write_text('extends = "nope"\n')
    with pytest.raises(ProfileError, match="unknown profile 'nope'"):
        load_profile(str(child))


def test_every_train_setting_reaches_the_run(tmp_path):
    path = tmp_path / "full.toml"
    path.write_text('[train]\nweight_decay = 0.0\namp = "fp16"\nboundary_max_distance = 20.0\nepochs = 3\n')
    profile = load_profile(str(path))
    cfg = profile.train_config(model="enet", data="d", out="o", loss="ce", device="cpu", resume=True)
    assert (cfg.weight_decay, cfg.amp, cfg.boundary_max_distance, cfg.epochs) == (0.0, "fp16", 20.0, 3)
    assert cfg.batch_size == 16 and profile.train_setting("schedule") == "poly"  # the TrainConfig defaults


def test_other_speed_settings_are_timed_again(grid, monkeypatch):
    root, profile, _ = grid
    calls = []

    def fake_fps(name, **kw):
        calls.append((name, kw["runs"]))
        return {"fps": 1.0, "device": "cpu", "fps_iqr": 0.0}

    monkeypatch.setattr("bench.speed.grid.measure_fps", fake_fps)
    profile.speed = replace(profile.speed, runs=3)
    meas = runall.measure_model("elb", profile, "cpu", root / "runs")
    assert calls == [("elb", 3)] and meas["fps"] == 1.0 and meas["params"] == 662558
    runall.measure_model("elb", profile, "cpu", root / "runs")
    assert len(calls) == 1  # cached now


def test_each_finished_job_is_recorded_and_a_machine_without_runs_trains_nothing(grid, tmp_path, monkeypatch):
    root, _, _ = grid
    profile = load_profile(str(root / "tiny.toml"))  # other tests change the fixture's
    reports = root / "reports"
    rows = _csv(reports / "results.csv")
    for r in rows:  # native metrics, training time and the small files of every run, beside the tables
        assert 0 <= float(r["miou_native"]) <= 100 and float(r["train_minutes"]) >= 0 and r["size"] == "32"
        name = r["model"] if r["loss_default"] == "True" else f"{r['model']}-{r['loss']}"
        rec = reports / "runs" / "synthetic" / name
        assert {p.name for p in rec.iterdir()} == set(runall.RECORDED_FILES)
        assert json.loads((rec / "metrics_native.json").read_text())["resolution"] == "native"
    assert "mIoU synthetic native (ours)" in (reports / "table1.md").read_text()
    assert (reports / "figures" / "time_to_accuracy_synthetic.png").stat().st_size > 1000

    # a new machine: the same report folder, the dataset rebuilt, but no runs/ (no checkpoints)
    fresh = tmp_path / "runs"
    (fresh / "data").mkdir(parents=True)
    data = next((root / "runs" / "data").iterdir())
    (fresh / "data" / data.name).symlink_to(data)
    monkeypatch.setattr("bench.train.loop.train", lambda *a, **k: pytest.fail("a recorded job was trained again"))
    monkeypatch.setattr("bench.eval.evaluate.evaluate", lambda *a, **k: pytest.fail("a recorded job was evaluated"))
    run_all(profile, device="cpu", out=reports, runs=fresh, log=lambda s: None)
    again = _csv(reports / "results.csv")
    key = ("model", "loss", "miou", "miou_native", "boundary_f", "train_minutes")
    assert [tuple(r[k] for k in key) for r in again] == [tuple(r[k] for k in key) for r in rows]

    # killed while training a job in the middle of the plan: the rows of the recorded jobs after it are written too
    partial = tmp_path / "partial"
    shutil.copytree(reports, partial)
    shutil.rmtree(partial / "runs" / "synthetic" / "elb-dr4")
    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("bench.train.loop.train", killed)
    with pytest.raises(KeyboardInterrupt):
        run_all(profile, device="cpu", out=partial, runs=tmp_path / "runs2", log=lambda s: None)
    assert [(r["model"], r["loss"]) for r in _csv(partial / "results.csv")] == [
        (r["model"], r["loss"]) for r in rows if r["model"] != "elb-dr4"]

    # a recorded job made with other settings does not stand for this one
    profile.train = {**profile.train, "lr": 1e-3}
    job = runall.plan_jobs(profile, {"synthetic": read_dataset(data)}, ["elb"])[0]
    cfg = profile.train_config(model="elb", data=str(data), out="x", loss="adaptive", device="cpu", resume=True)
    assert runall._recorded(reports / "runs" / "synthetic" / job.run_name, job, cfg) is None

    # nor does one trained on the CPU stand for the same job on CUDA: run-all refuses to mix them in one report folder
    # before training anything (no GPU needed)
    profile.train = {**profile.train, "lr": 5e-4}
    assert runall._finished(job, profile, "cpu", fresh, ReportFolder(reports))
    with pytest.raises(UserError, match=r"elb: trained as .*'cpu'.* runs as .*'cuda'.* another --out folder"):
        runall._finished(job, profile, "cuda", fresh, ReportFolder(reports))


PAPER_RECORD = Path(__file__).resolve().parents[2] / "reports" / "paper" / "runs" / "pfcn" / "elb"
PACK = {"size": 512, "codec": "webp", "quality": 85}  # a pack's codec settings, as config.json records them


def _record(dst: Path, **config: object) -> Path:
    """ELB's paper-protocol record (reports/paper) copied to ``dst`` by hand, its config.json changed by ``config``."""
    dst.mkdir(parents=True)
    for name in ("metrics.json", "metrics_native.json"):
        shutil.copy(PAPER_RECORD / name, dst / name)
    (dst / "config.json").write_text(json.dumps({**json.loads((PAPER_RECORD / "config.json").read_text()), **config}))
    return dst


def test_a_record_stands_only_for_a_job_on_its_device_type_precision_and_data_format(tmp_path):
    """A recorded CPU run is not finished for a CUDA job, nor a CUDA one for a CPU job; a record written before the
    identity had these fields (ELB's paper run: cpu, bf16, a dataset folder) is still its own job's."""
    profile = load_profile("paper")
    folder = runall.Job("elb", "pfcn", "adaptive", tmp_path / "pfcn", "pfcn-official")
    packed = replace(folder, data=tmp_path / "pfcn-512.npz", pack=PACK)

    def job(j: runall.Job, device: str, amp: str):
        return j, replace(runall._job_run(j, profile, tmp_path / "runs", device)[1], amp=amp)

    cpu = _record(tmp_path / "cpu" / "elb")
    assert runall._recorded(cpu, *job(folder, "cpu", "bf16")) is not None  # as it was trained
    assert runall._recorded(cpu, *job(folder, "cuda", "bf16")) is None
    assert runall._recorded(cpu, *job(folder, "cuda:0", "auto")) is None
    assert runall._recorded(cpu, *job(folder, "cpu", "none")) is None  # fp32
    assert runall._recorded(cpu, *job(packed, "cpu", "bf16")) is None
    cuda = _record(tmp_path / "cuda" / "elb", device="cuda:0", pack=PACK)
    assert runall._recorded(cuda, *job(packed, "cuda", "bf16")) is not None
    assert runall._recorded(cuda, *job(packed, "cpu", "bf16")) is None
    assert runall._recorded(cuda, *job(folder, "cpu", "bf16")) is None
    assert runall._recorded(cuda, *job(replace(packed, pack={**PACK, "codec": "png", "quality": None}), "cuda",
                                       "bf16")) is None  # another codec, other pixels


def test_a_run_folder_trained_on_another_device_is_refused_not_resumed(tmp_path):
    profile = load_profile("paper")
    job = runall.Job("elb", "pfcn", "adaptive", tmp_path / "pfcn", "pfcn-official")
    run_dir = runall._job_run(job, profile, tmp_path / "runs")[0]
    _record(run_dir)  # a CPU run's folder, with a checkpoint
    (run_dir / "checkpoint.pt").write_bytes(b"")
    with pytest.raises(UserError, match=r"trained as .*'device_type': 'cpu'.* this job runs as .*'cuda'"):
        runall._finished(job, profile, "cuda", tmp_path / "runs", ReportFolder(tmp_path / "reports"))
    with pytest.raises(UserError, match="another --runs folder"):
        runall.train_and_evaluate(job, profile, "cuda", tmp_path / "runs")
    # a CUDA job into a report folder that holds the CPU record of that job: refused, not overwritten
    record = _record(tmp_path / "reports" / "runs" / "pfcn" / "elb")
    with pytest.raises(UserError, match="another --out folder"):
        runall._finished(job, profile, "cuda", tmp_path / "runs-gpu", ReportFolder(tmp_path / "reports"))
    assert json.loads((record / "config.json").read_text())["device"] == "cpu"


def test_speed_backend_best_times_every_backend_interleaved_and_names_the_winner(grid, tmp_path, monkeypatch):
    root, _, _ = grid
    monkeypatch.setitem(DEVICE_BACKENDS, "cpu", ("eager", "onnxruntime"))
    profile = load_profile(str(root / "tiny.toml"))  # trained already: only the speeds are new
    run_all(profile, device="cpu", out=tmp_path / "reports", runs=root / "runs", log=lambda s: None,
            speed_backend="best")
    info = json.loads((tmp_path / "reports" / "run_info.json").read_text())
    assert set(info["speed_backends"]) == {"elb", "elb-dr4"}
    assert all(v.split()[0] in ("eager", "onnxruntime") for v in info["speed_backends"].values())
    footer = (tmp_path / "reports" / "table1.md").read_text()
    assert "fastest measured fp32 back end" in footer and f"elb {info['speed_backends']['elb']}" in footer
    monkeypatch.setattr("bench.speed.grid.measure_grid", lambda *a, **k: pytest.fail("cached speeds measured again"))
    run_all(profile, device="cpu", out=tmp_path / "reports", runs=root / "runs", log=lambda s: None,
            speed_backend="best")


def test_seeded_models_train_their_extra_seeds_last_each_in_its_own_run(tmp_path):
    path = tmp_path / "seeds.toml"
    path.write_text(TEST_PROFILE.replace("ablation = true", 'ablation = true\nseeded = ["elb"]\nseeds = 3')
                    .replace("workers = 0", "workers = 0\nseed = 5"))
    profile = load_profile(str(path))
    data = tmp_path / "data"
    jobs = runall.plan_jobs(profile, {"synthetic": type("DS", (), {"root": data, "name": "syn"})()},
                            ["elb", "elb-dr4"])
    assert [j.run_name for j in jobs] == ["elb", "elb-dr4", "elb-ce", "elb-seed6", "elb-seed7"]
    seeds = [runall._job_run(j, profile, tmp_path / "runs")[1].seed for j in jobs]
    assert seeds == [5, 5, 5, 6, 7]
    assert runall._job_run(jobs[3], profile, tmp_path / "runs")[0].name == "elb-seed6"
    path.write_text(TEST_PROFILE.replace("ablation = true", 'ablation = true\nseeded = ["enet"]\nseeds = 2'))
    with pytest.raises(ProfileError, match=r"seeds.toml: \[models\] seeds must be at least 1 and seeded a subset"):
        load_profile(str(path))
