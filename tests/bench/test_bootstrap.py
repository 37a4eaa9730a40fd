"""The paired bootstrap over test images (bench.eval.bootstrap) and `bench significance`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli.main import main
from bench.eval.bootstrap import BootstrapError, bootstrap, load_per_image, markdown, pairwise_markdown
from tests.bench.helpers import model_csv, synthetic_masks


@pytest.fixture
def csvs(tmp_path):
    truth = synthetic_masks()
    out = {}
    for name, flip, seed in (("good", 0.02, 1), ("bad", 0.25, 2), ("good-twin", 0.02, 3)):
        (tmp_path / name).mkdir()
        out[name] = tmp_path / name / "metrics_per_image.csv"
        out[name + "_metrics"] = model_csv(out[name], truth, flip, seed)
    return out


def test_point_estimates_are_the_split_metrics_and_inside_their_intervals(csvs):
    r = bootstrap({"good": load_per_image(csvs["good"]), "bad": load_per_image(csvs["bad"])})
    for row in r["models"]:
        want = csvs[row["model"] + "_metrics"]
        assert row["miou"] == want["miou"] and row["boundary_f"] == want["boundary_f"]
        assert row["portrait_iou_mean"] == pytest.approx(want["portrait_iou_mean"], abs=1e-12)
        for k in ("miou", "portrait_iou_mean", "boundary_f"):
            assert row[f"{k}_lo"] <= row[k] <= row[f"{k}_hi"] and row[f"{k}_lo"] < row[f"{k}_hi"]
    assert r["images"] == 40 and r["resamples"] == 1000 and r["seed"] == 0


def test_a_model_against_itself_differs_by_exactly_zero(csvs):
    t = load_per_image(csvs["good"])
    (pair,) = bootstrap({"a": t, "b": t}, resamples=200)["pairs"]
    assert pair["diff"] == pair["diff_lo"] == pair["diff_hi"] == 0.0 and not pair["significant"]


def test_clearly_different_models_are_significant_and_alike_ones_are_not(csvs):
    tables = {n: load_per_image(csvs[n]) for n in ("good", "bad", "good-twin")}
    pairs = {(p["a"], p["b"]): p for p in bootstrap(tables)["pairs"]}
    far = pairs[("good", "bad")]
    assert far["significant"] and 0 < far["diff_lo"] <= far["diff"] <= far["diff_hi"]
    near = pairs[("good", "good-twin")]
    assert abs(near["diff"]) < 0.01 and not near["significant"]  # the same noise level, other draws
    table = pairwise_markdown(bootstrap(tables))
    assert "| good | bad |" in table and "| yes |" in table and "| no |" in table


def test_seeded_runs_repeat_and_other_seeds_differ(csvs):
    tables = {n: load_per_image(csvs[n]) for n in ("good", "bad")}
    assert bootstrap(tables, seed=7) == bootstrap(tables, seed=7)
    assert bootstrap(tables, seed=7)["models"][0]["miou_lo"] != bootstrap(tables, seed=8)["models"][0]["miou_lo"]


def test_tables_are_paired_by_id_whatever_their_order(csvs):
    t = load_per_image(csvs["good"])
    shuffled = t.take(np.random.default_rng(0).permutation(len(t.ids)))
    assert bootstrap({"a": t, "b": shuffled})["pairs"][0]["diff_hi"] == 0.0


def test_different_test_images_are_a_one_line_error(csvs, tmp_path):
    other = tmp_path / "other.csv"
    model_csv(other, synthetic_masks(), 0.02, 1, ids=[f"x{k}" for k in range(40)])
    with pytest.raises(BootstrapError, match="same test images") as e:
        bootstrap({"good": load_per_image(csvs["good"]), "other": load_per_image(other)})
    assert "\n" not in str(e.value) and str(other) in str(e.value)
    r = CliRunner().invoke(main, ["significance", str(csvs["good"]), str(other)])
    assert r.exit_code == 1 and r.output.count("\n") == 1 and r.output.startswith("Error: ")


def test_a_file_that_is_not_a_per_image_csv_is_named(tmp_path):
    bad = tmp_path / "metrics.json"
    bad.write_text('{\n  "miou": 0.9,\n  "images": 4\n}\n')
    with pytest.raises(BootstrapError, match="not a per-image CSV"):
        load_per_image(bad)
    bad.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(BootstrapError, match="not a per-image CSV"):
        load_per_image(bad)
    with pytest.raises(BootstrapError, match="cannot read"):
        load_per_image(tmp_path / "none.csv")


def test_significance_command_names_models_by_folder_and_writes_md_and_json(csvs, tmp_path):
    out, js = tmp_path / "sig.md", tmp_path / "sig.json"
    r = CliRunner().invoke(main, ["significance", str(csvs["good"]), str(csvs["bad"]), "--resamples", "300",
                                  "--out", str(out), "--json", str(js)])
    assert r.exit_code == 0, r.output
    assert "| good | bad |" in r.output and out.read_text() in r.output
    saved = json.loads(js.read_text())
    assert saved["resamples"] == 300 and [m["model"] for m in saved["models"]] == ["good", "bad"]
    assert saved["pairs"][0]["significant"] is True
    r = CliRunner().invoke(main, ["significance", str(csvs["good"]), str(csvs["bad"]), "--name", "ELB", "--name",
                                  "ENet"])
    assert r.exit_code == 0 and "| ELB | ENet |" in r.output
    r = CliRunner().invoke(main, ["significance", str(csvs["good"]), str(csvs["bad"]), "--name", "ELB"])
    assert r.exit_code == 2 and "one per CSV" in r.output
    r = CliRunner().invoke(main, ["significance", str(csvs["good"]), str(csvs["good"])])
    assert r.exit_code == 2 and "--name" in r.output


def test_holm_rejects_step_down_and_stops_at_the_first_p_it_keeps():
    from bench.eval.bootstrap import holm

    # m = 4 at 0.05: thresholds 0.0125, 0.0167, 0.025, 0.05 for the sorted p
    assert holm([0.01, 0.04, 0.03, 0.005]) == [True, False, False, True]  # 0.03 > 0.025 stops it; 0.04 kept too
    assert holm([0.001, 0.01, 0.02, 0.04]) == [True, True, True, True]
    assert holm([0.03, 0.5]) == [False, False] and holm([0.02, 0.5]) == [True, False] and holm([]) == []


def test_pair_p_values_agree_with_the_interval_and_are_one_for_a_model_against_itself(csvs):
    t = load_per_image(csvs["good"])
    (same,) = bootstrap({"a": t, "b": t}, resamples=200)["pairs"]
    assert same["p"] == 1.0 and not same["holm"]
    tables = {n: load_per_image(csvs[n]) for n in ("good", "bad", "good-twin")}
    for p in bootstrap(tables, resamples=2000)["pairs"]:
        assert 0.0 <= p["p"] <= 1.0
        if p["significant"]:
            assert p["p"] <= 0.05 + 1e-9
        assert not p["holm"] or p["significant"]


def test_significance_holm_adds_p_and_the_corrected_verdict(csvs):
    r = CliRunner().invoke(main, ["significance", str(csvs["good"]), str(csvs["bad"]), "--resamples", "300", "--holm"])
    assert r.exit_code == 0, r.output
    assert "| p | Holm, 1 pairs, 0.05 |" in r.output and "Holm's step-down correction" in r.output
    plain = CliRunner().invoke(main, ["significance", str(csvs["good"]), str(csvs["bad"]), "--resamples", "300"])
    assert "Holm" not in plain.output


def test_against_compares_one_model_with_each_other_and_holm_counts_only_those(csvs):
    tables = {n: load_per_image(csvs[n]) for n in ("good", "bad", "good-twin")}
    every = {(p["a"], p["b"]): p for p in bootstrap(tables, resamples=2000)["pairs"]}
    r = bootstrap(tables, resamples=2000, against="bad")
    assert [(p["a"], p["b"]) for p in r["pairs"]] == [("bad", "good"), ("bad", "good-twin")]
    same, flipped = every[("bad", "good-twin")], every[("good", "bad")]  # the same draws as in every-pair's family
    assert r["pairs"][1]["diff_lo"] == same["diff_lo"] and r["pairs"][1]["p"] == same["p"]
    first = r["pairs"][0]
    assert first["diff"] == -flipped["diff"] and first["p"] == flipped["p"]
    assert first["diff_lo"] == pytest.approx(-flipped["diff_hi"])
    assert "the 2 comparisons of bad with each other model, and no other pair," in markdown(r, with_holm=True)
    with pytest.raises(BootstrapError, match="'ELB', is not one of good, bad, good-twin") as e:
        bootstrap(tables, against="ELB")
    assert "\n" not in str(e.value)
    r = CliRunner().invoke(main, ["significance", str(csvs["good"]), str(csvs["bad"]), "--against", "ELB"])
    assert r.exit_code == 1 and r.output.startswith("Error: ") and r.output.count("\n") == 1


def test_paper_significance_script_asks_the_claim_of_elb_against_the_baselines_only(tmp_path):
    """ELB-DR4 and the exp-schedule ELB are in the every-pair family but are not baselines of the claim's family."""
    truth = synthetic_masks()
    runs = tmp_path / "runs"
    for run, flip, seed in (("elb", 0.02, 1), ("elb-dr4", 0.03, 2), ("icnet", 0.25, 3), ("enet", 0.02, 4),
                            ("elb-exp", 0.02, 5), ("bisenet", 0.1, 6)):
        (runs / run).mkdir(parents=True)
        model_csv(runs / run / "metrics_native_per_image.csv", truth, flip, seed)
    script = Path(__file__).resolve().parents[2] / "scripts/paper_significance.sh"
    env = {**os.environ, "PAPER_RUNS": str(runs), "PAPER_OUT": str(tmp_path),
           "BENCH": str(Path(sys.executable).parent / "bench")}
    done = subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    every = (tmp_path / "significance_paper_native_holm.md").read_text()
    assert "all 15 pairs" in every and "| ELB-DR4 paper | ELB exp schedule paper |" in every
    claim = (tmp_path / "significance_paper_native_elb.md").read_text()
    pairs = [line.split(" | ")[1] for line in claim.splitlines() if line.startswith("| ELB paper | ")
             and line.split(" | ")[1].endswith(" paper")]
    assert pairs == ["ICNet paper", "ENet paper", "BiSeNet paper"]
    assert "the 3 comparisons of ELB paper with each other model" in claim and "ELB-DR4" not in claim
    (icnet,) = [line for line in claim.splitlines() if line.startswith("| ELB paper | ICNet paper |")]
    assert icnet.endswith("| yes |")  # 0.02 against 0.25 flips: clear after Holm
