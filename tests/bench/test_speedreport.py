"""bench speed-report: the speed table and the roofline figure, from a tiny grid (figures vary; structure does not)."""

from __future__ import annotations

import pandas as pd
from click.testing import CliRunner

from bench import runtime
from bench.cli import main
from bench.speedreport import sgemm_gflops


def test_sgemm_rate_is_positive_and_finite():
    rate = sgemm_gflops(128, repeats=2, threads=1)
    assert 0 < rate < 1e6


def test_speed_report_writes_every_candidate_and_says_what_could_not_run(tmp_path, monkeypatch):
    monkeypatch.setattr(runtime, "backend_installed", lambda backend: backend in runtime.TORCH_BACKENDS)
    r = CliRunner().invoke(main, ["speed-report", "--out", str(tmp_path), "--model", "elb", "--model", "elb-dr4",
                                  "--backend", "eager", "--backend", "openvino", "--precision", "fp32",
                                  "--precision", "int8", "--threads", "1", "--size", "32", "--warmup", "0",
                                  "--runs", "2", "--sgemm-size", "64"])
    assert r.exit_code == 0, r.output
    df = pd.read_csv(tmp_path / "speed.csv")
    assert len(df) == 8 and set(df["threads"]) == {1}
    ok = df[df["status"] == "ok"]
    assert set(zip(ok["model"], ok["backend"], ok["precision"], strict=True)) == {("elb", "eager", "fp32"),
                                                                                  ("elb-dr4", "eager", "fp32")}
    assert (ok["gflops"] > 0).all() and (ok["interleaved_with"] == 2).all()
    assert df[df["backend"] == "openvino"]["status"].str.startswith("not installed").all()
    md = (tmp_path / "speed.md").read_text()
    assert "| elb |" in md and "interleaved" in md and "openvino fp32: not installed" in md
    assert "eager int8: unsupported" in md and "load average" in md
    assert (tmp_path / "figures" / "roofline.png").stat().st_size > 1000
