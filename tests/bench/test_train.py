"""bench.train.loop and bench.eval.evaluate end to end on a tiny dataset (CPU): files, resume, finished runs, NaN,
predict."""

from __future__ import annotations

import csv
import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import bench.train.loop as train_mod
from bench.cli.main import main
from bench.data.format import read_dataset
from bench.data.pipeline import holdout_ids
from bench.data.preprocess import Preprocess, normalize
from bench.deploy.predict import labels
from bench.errors import UnknownModelError
from bench.eval.evaluate import evaluate, model_source
from bench.eval.loop import NATIVE, SplitError
from bench.eval.metrics import MetricAccumulator
from bench.registry import build_model, default_loss
from bench.runs.checkpoint import CheckpointError, load_model
from bench.train.config import TrainConfig, TrainError
from bench.train.loop import NonFiniteLossError, resolve_amp, train

SMALL = dict(epochs=2, batch_size=4, size=32, workers=0, progress=False)


def weights(run_dir):
    return torch.load(run_dir / "checkpoint.pt", weights_only=True)


def test_cli_train_then_eval_write_the_run_files(portrait_data, tmp_path):
    run = tmp_path / "run"
    args = ["train", "--model", "elb", "--data", str(portrait_data), "--out", str(run), "--epochs", "2",
            "--batch-size", "4", "--size", "32", "--workers", "0", "--eval-every", "1", "--no-progress"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    cfg = json.loads((run / "config.json").read_text())
    assert (cfg["model"], cfg["loss"], cfg["schedule"], cfg["batch_size"]) == ("elb", "adaptive", "poly", 4)
    assert cfg["amp"] == resolve_amp("auto", torch.device("cpu"))
    assert cfg["lr"] == 5e-4 and cfg["weight_decay"] == 1e-4 and cfg["betas"] == [0.9, 0.999]
    rows = list(csv.DictReader(open(run / "train_log.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert float(rows[0]["lr"]) == 5e-4 and float(rows[1]["lr"]) == pytest.approx(5e-4 * 0.5 ** 0.9)
    assert all(0 <= float(r["test_miou"]) <= 1 and float(r["images_per_s"]) > 0 for r in rows)
    ckpt = weights(run)
    assert ckpt["epoch"] == 2 and {"model", "optimizer", "scheduler", "scaler", "rng"} <= set(ckpt)

    r = CliRunner().invoke(main, ["eval", "--model", str(run), "--json"])
    assert r.exit_code == 0, r.output
    m = json.loads(r.output)
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["miou"] == m["miou"] and 0 <= m["miou"] <= 1 and 0 <= m["boundary_f"] <= 1
    data = read_dataset(portrait_data)
    ignored = sum(int((np.asarray(data.load_mask(i))[:4, :4] == 255).sum() > 0) for i in data.ids("test"))
    assert ignored == 4 and sum(map(sum, m["confusion_matrix"])) < 4 * 32 * 32  # ignore pixels are left out
    assert m["size"] == 32 and m["images"] == 4 and m["epochs_trained"] == 2

    before = (run / "checkpoint.pt").read_bytes()
    r = CliRunner().invoke(main, args)  # finished: detected, not trained again
    assert r.exit_code == 0 and (run / "checkpoint.pt").read_bytes() == before


@pytest.mark.parametrize("amp", ["none", "bf16"])
def test_interrupted_and_resumed_run_ends_with_the_same_weights(portrait_data, tmp_path, amp):
    # CPU kernels are deterministic in both precisions, so exactness holds for fp32 and for bf16 autocast alike
    base = TrainConfig(model="elb", data=str(portrait_data), eval_every=1, amp=amp, **SMALL)
    straight = train(replace(base, out=str(tmp_path / "straight")))
    cut = replace(base, out=str(tmp_path / "cut"), workers=1)  # the worker count must not matter either
    train(cut, stop_after_epoch=1)
    assert weights(tmp_path / "cut")["epoch"] == 1
    with pytest.raises(TrainError, match="--resume"):
        train(cut)
    train(replace(cut, resume=True))
    a, b = weights(straight), weights(tmp_path / "cut")
    assert b["epoch"] == 2
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values(), strict=True):
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert [r["loss"] for r in a["history"]] == [r["loss"] for r in b["history"]]
    assert json.loads((tmp_path / "cut" / "config.json").read_text())["amp"] == amp


def test_compiled_training_matches_eager_and_resumes_an_eager_run(portrait_data, tmp_path, monkeypatch):
    # --compile changes how the step executes, not what it computes: same losses to float tolerance, checkpoints
    # an eager model loads, and a run may switch it on between sessions. (A model with dropout draws other masks
    # when compiled: inductor has its own RNG. TinyNet has none, and its small graph compiles in seconds.)
    base = TrainConfig(model="tests.bench.helpers:TinyNet", data=str(portrait_data), amp="none",
                       max_iters_per_epoch=2, **SMALL)
    eager = train(replace(base, out=str(tmp_path / "eager")))
    train(replace(base, out=str(tmp_path / "mixed")), stop_after_epoch=1)
    compiled, real_compile = [], torch.compile
    monkeypatch.setattr(torch, "compile", lambda m, **kw: compiled.append(m) or real_compile(m, **kw))
    mixed = train(replace(base, out=str(tmp_path / "mixed"), compile=True, resume=True))
    a, b = weights(eager), weights(mixed)
    assert set(a["model"]) == set(b["model"])  # no torch.compile wrapper prefix in the saved weights
    assert [r["loss"] for r in a["history"]] == pytest.approx([r["loss"] for r in b["history"]], rel=1e-4)
    assert len(compiled) == 1 and json.loads((mixed / "config.json").read_text())["compile"] is True
    assert load_model(mixed).trained_epochs == 2


def test_changed_settings_are_refused_on_resume(portrait_data, tmp_path):
    cfg = TrainConfig(model="elb-dr4", data=str(portrait_data), out=str(tmp_path / "r"), max_iters_per_epoch=1,
                      **SMALL)
    train(cfg, stop_after_epoch=1)
    with pytest.raises(TrainError, match="lr"):
        train(replace(cfg, lr=1e-3, resume=True))



def test_config_records_the_commit_and_a_resume_under_newer_code_is_allowed(portrait_data, tmp_path, monkeypatch):
    from bench.machine import git_commit
    from bench.runs.folder import RECORD_FIELDS, RESULT_FIELDS

    assert "commit" not in RESULT_FIELDS and "commit" not in RECORD_FIELDS  # not what a run computes
    run = tmp_path / "r"
    cfg = TrainConfig(model="elb-dr4", data=str(portrait_data), out=str(run), max_iters_per_epoch=1, **SMALL)
    train(cfg, stop_after_epoch=1)
    first = json.loads((run / "config.json").read_text())
    assert first["commit"] == git_commit() and "earlier_commits" not in first
    assert weights(run)["config"]["commit"] == first["commit"]  # the checkpoint carries it too
    monkeypatch.setattr(train_mod, "git_commit", lambda: "newer00")
    train(replace(cfg, resume=True))  # another commit is no other setting
    resumed = json.loads((run / "config.json").read_text())
    assert resumed["commit"] == "newer00" and resumed["earlier_commits"] == [first["commit"]]


@pytest.mark.parametrize("model, expected", [("elb-dr4", True), ("extremec3net", False)])
def test_channels_last_is_dropped_on_a_cpu_for_a_model_whose_spec_forbids_it(portrait_data, tmp_path, model,
                                                                             expected):
    """ExtremeC3Net's training step stalls in channels-last on a CPU (bench/registry.py), so its run records it off."""
    run = tmp_path / model
    cfg = TrainConfig(model=model, data=str(portrait_data), out=str(run), max_iters_per_epoch=1, device="cpu",
                      **SMALL)
    assert cfg.channels_last
    train(cfg, stop_after_epoch=1)
    assert json.loads((run / "config.json").read_text())["channels_last"] is expected


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(portrait_data, tmp_path,
                                                                                monkeypatch):
    real = train_mod.compute_loss
    calls = {"n": 0}

    def nan_from_third_step(*args, **kwargs):
        calls["n"] += 1
        total, parts = real(*args, **kwargs)
        return (total * float("nan") if calls["n"] >= 3 else total), parts

    monkeypatch.setattr(train_mod, "compute_loss", nan_from_third_step)
    run = tmp_path / "nan"
    cfg = TrainConfig(model="elb", data=str(portrait_data), out=str(run), **SMALL)
    with pytest.raises(NonFiniteLossError, match=r"loss is nan at epoch 2, step 1.*checkpoint.pt \(epoch 1\)"):
        train(cfg)
    kept = weights(run)
    assert kept["epoch"] == 1 and all(torch.isfinite(v).all() for v in kept["model"].values() if v.is_floating_point())
    assert len(list(csv.DictReader(open(run / "train_log.csv")))) == 1


def test_unreadable_checkpoint_is_named(portrait_data, tmp_path):
    run = tmp_path / "bad"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(TrainError, match="checkpoint.pt: not a readable checkpoint"):
        train(TrainConfig(model="elb", data=str(portrait_data), out=str(run), **SMALL))
    with pytest.raises(CheckpointError, match="checkpoint.pt"):
        load_model(run)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_model(tmp_path)


def test_load_model_and_predict(portrait_data, tmp_path):
    run = train(TrainConfig(model="elb", data=str(portrait_data), out=str(tmp_path / "p"), max_iters_per_epoch=1,
                            **SMALL))
    model = load_model(run)
    assert not model.training and model.trained_epochs == 2 and model.run_config["size"] == 32
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (32, 32, 3), dtype=np.uint8), rng.integers(0, 255, (50, 70, 3), dtype=np.uint8)]
    maps = labels(model, images, Preprocess((32, 32)), batch_size=1)
    assert [m.shape for m in maps] == [(32, 32), (50, 70)] and all(m.dtype == np.uint8 for m in maps)
    with torch.no_grad():
        direct = model(torch.from_numpy(normalize(images[0]))[None]).argmax(1)[0].numpy()
    assert np.array_equal(maps[0], direct)


def test_a_module_callable_model_is_built_and_a_bad_one_is_named():
    model = build_model("tests.bench.helpers:TinyNet", num_classes=3)
    assert model.conv2.out_channels == 3 and default_loss("tests.bench.helpers:TinyNet") == "ce"
    with pytest.raises(UnknownModelError, match="'tests.bench.helpers:Nope' cannot be imported"):
        build_model("tests.bench.helpers:Nope")
    with pytest.raises(UnknownModelError, match="unknown model 'nope'"):
        build_model("nope")


def test_native_evaluation_scores_every_pixel_of_the_original_masks(portrait_data, tmp_path):
    run = train(TrainConfig(model="elb", data=str(portrait_data), out=str(tmp_path / "n"), max_iters_per_epoch=1,
                            **SMALL))
    ds = read_dataset(portrait_data)
    labelled = sum(int((ds.load_mask(i) != 255).sum()) for i in ds.ids("test"))
    native = evaluate(model_source(run), resolution=NATIVE)
    at_size = evaluate(model_source(run))
    assert native["resolution"] == "native" and at_size["resolution"] == "model"
    assert np.asarray(native["confusion_matrix"]).sum() == labelled
    assert np.asarray(at_size["confusion_matrix"]).sum() <= len(ds.ids("test")) * 32 * 32
    assert (run / "metrics_native.json").is_file() and (run / "metrics.json").is_file()
    model = load_model(run)
    images = [ds.load_image(i) for i in ds.ids("test")]
    acc = MetricAccumulator()
    for sid, pred in zip(ds.ids("test"), labels(model, images, Preprocess((32, 32))), strict=True):
        acc.update(pred, ds.load_mask(sid))
    assert native["miou"] == pytest.approx(acc.result()["miou"])


def test_held_out_validation_split_is_evaluated_and_timed(portrait_data, tmp_path):
    with pytest.raises(TrainError, match="val_fraction"):
        train(TrainConfig(model="elb", data=str(portrait_data), out=str(tmp_path / "x"), eval_split="val", **SMALL))
    run = train(TrainConfig(model="elb", data=str(portrait_data), out=str(tmp_path / "v"), val_fraction=0.5,
                            eval_split="val", eval_every=1, **SMALL))
    rows = list(csv.DictReader(open(run / "train_log.csv")))
    assert [r["eval_split"] for r in rows] == ["val", "val"] and all(0 <= float(r["test_miou"]) <= 1 for r in rows)
    assert float(rows[1]["elapsed_s"]) == pytest.approx(float(rows[0]["seconds"]) + float(rows[1]["seconds"]),
                                                        abs=2e-3)


def test_eval_on_the_held_out_validation_part(portrait_data, tmp_path):
    run = train(TrainConfig(model="elb", data=str(portrait_data), out=str(tmp_path / "v"), val_fraction=0.5,
                            eval_split="val", eval_every=1, **SMALL))
    val = holdout_ids(read_dataset(portrait_data).ids("train"), 0.5)[1]
    m = evaluate(model_source(run), split="val")
    assert m["split"] == "val" and m["images"] == len(val)
    last = list(csv.DictReader(open(run / "train_log.csv")))[-1]
    assert m["miou"] == pytest.approx(float(last["test_miou"]))  # the same samples training evaluated
    assert evaluate(model_source(run), split="val", resolution=NATIVE)["images"] == len(val)
    plain = train(TrainConfig(model="elb", data=str(portrait_data), out=str(tmp_path / "p"), **SMALL))
    with pytest.raises(SplitError, match="held out none"):
        evaluate(model_source(plain), split="val")
