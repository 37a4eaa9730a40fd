"""bench speed-report: the speed table and the roofline figure, from a tiny grid (figures vary; structure does not)."""

from __future__ import annotations

import pandas as pd
from click.testing import CliRunner

from bench.cli.main import main
from bench.deploy import backends
from bench.speed.report import sgemm_gflops


def test_sgemm_rate_is_positive_and_finite():
    rate = sgemm_gflops(128, repeats=2, threads=1)
    assert 0 < rate < 1e6


def test_speed_report_writes_every_candidate_and_says_what_could_not_run(tmp_path, monkeypatch):
    monkeypatch.setattr(backends, "backend_installed", lambda backend: backend in backends.TORCH_BACKENDS)
    r = CliRunner().invoke(main, ["speed-report", "--out", str(tmp_path), "--model", "elb", "--model", "elb-dr4",
                                  "--backend", "eager", "--backend", "openvino", "--precision", "fp32",
                                  "--precision", "int8", "--threads", "1", "--size", "32", "--warmup", "0",
                                  "--passes", "2", "--sgemm-size", "64"])
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


def test_a_skipped_candidate_is_kept_as_a_row_and_never_loaded(tmp_path, monkeypatch):
    from bench.speed import grid

    loaded = []
    real = grid.load_predictor
    monkeypatch.setattr(grid, "load_predictor", lambda model, **kw: loaded.append((model, kw["backend"])) or
                        real(model, **kw))
    r = CliRunner().invoke(main, ["speed-report", "--out", str(tmp_path), "--model", "elb", "--model", "elb-dr4",
                                  "--backend", "eager", "--precision", "fp32", "--threads", "1", "--size", "32",
                                  "--warmup", "0", "--passes", "2", "--sgemm-size", "64", "--skip", "elb:eager:fp32"])
    assert r.exit_code == 0, r.output
    df = pd.read_csv(tmp_path / "speed.csv").set_index("model")
    assert df.at["elb", "status"].startswith("skipped") and df.at["elb-dr4", "status"] == "ok"
    assert loaded == [("elb-dr4", "eager")]
    assert "eager fp32 (elb): skipped" in (tmp_path / "speed.md").read_text()
    bad = CliRunner().invoke(main, ["speed-report", "--skip", "elb:eager"])
    assert bad.exit_code == 2 and "MODEL:BACKEND:PRECISION" in bad.output


def test_a_stopped_grid_resumes_with_its_finished_settings(tmp_path, monkeypatch):
    from bench.speed import grid

    args = ["speed-report", "--out", str(tmp_path), "--model", "elb", "--backend", "eager", "--precision", "fp32",
            "--threads", "1", "--size", "32", "--size", "64", "--warmup", "0", "--passes", "2", "--sgemm-size", "64"]
    real, sizes = grid.load_predictor, []

    def stop_at_64(model, **kw):
        if kw["size"] == 64:
            raise KeyboardInterrupt  # the grid killed in its second setting
        sizes.append(kw["size"])
        return real(model, **kw)

    monkeypatch.setattr(grid, "load_predictor", stop_at_64)
    CliRunner().invoke(main, args)
    first = pd.read_csv(tmp_path / "speed.csv")
    assert list(first["setting"]) == ["1 thread, 32x32"] and first["status"].eq("ok").all()

    monkeypatch.setattr(grid, "load_predictor", lambda model, **kw: sizes.append(kw["size"]) or real(model, **kw))
    r = CliRunner().invoke(main, [*args, "--resume"])
    assert r.exit_code == 0, r.output
    assert sizes == [32, 64] and "1 thread, 32x32: kept from" in r.output  # 32 was not measured again
    both = pd.read_csv(tmp_path / "speed.csv")
    assert list(both["setting"]) == ["1 thread, 32x32", "1 thread, 64x64"]
    assert both.iloc[0]["fps"] == first.iloc[0]["fps"] and both.iloc[0]["date"] == first.iloc[0]["date"]
    assert "| elb |" in (tmp_path / "speed.md").read_text()


def test_markdown_ranks_models_by_their_best_fp32_backend():
    from bench.speed.report import speed_markdown

    base = {"setting": "1 thread", "status": "ok", "threads": 1, "size": 64, "batch_size": 1, "warmup": 0, "runs": 2,
            "load_before": 0.1, "load_after": 0.2, "cpu_count": 2, "device": "cpu", "device_name": "cpu",
            "torch": "x", "sgemm_n": 64}
    rows = [{**base, "model": "a", "backend": "eager", "precision": "fp32", "fps": 10.0, "gmacs": 1.0},
            {**base, "model": "a", "backend": "onnxruntime", "precision": "int8", "fps": 30.0, "gmacs": 1.0},
            {**base, "model": "b", "backend": "onnxruntime", "precision": "fp32", "fps": 20.0, "gmacs": 1.0}]
    for r in rows:
        r["gflops"] = 2 * r["gmacs"] * r["fps"]
        r["of_sgemm"] = r["gflops"] / 100.0
    md = speed_markdown(pd.DataFrame(rows), {"1 thread": 100.0})
    table = [line for line in md.splitlines() if line.startswith("| a ") or line.startswith("| b ")]
    assert table[0].startswith("| b ") and "onnxruntime fp32 | 40 (40%)" in table[0]
    assert "| 30.0 |" in table[1] and "eager fp32 | 20 (20%)" in table[1]
    assert "measured while the machine was busy" not in md


def test_roofline_names_its_line_a_measured_rate_and_its_axis_gmacs_per_image():
    from bench.report.figures import roofline_figure

    base = {"setting": "1 thread", "sgemm_n": 64}
    rows = [{**base, "model": "a", "backend": "eager", "precision": "fp32", "gmacs": 1.0, "fps": 10.0},
            {**base, "model": "b", "backend": "onnxruntime", "precision": "fp32", "gmacs": 4.0, "fps": 20.0}]
    fig = roofline_figure(rows, {"1 thread": 100.0})  # b runs at 160 GFLOP/s, above the SGEMM line
    ax = fig.axes[0]
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    line = next(t for t in labels if "SGEMM" in t and "70" not in t)
    assert "measured" in line and "not a bound" in line and "64x64" in line
    assert "measured SGEMM rate: 100 GFLOP/s" in ax.get_title()
    assert ax.get_xlabel().startswith("GMACs per image") and "not arithmetic intensity" in ax.get_xlabel()
    assert "not a roofline bound" in fig.texts[0].get_text()
    md_footer = "a measured rate, not a bound"
    from bench.speed.report import speed_markdown

    full = {"status": "ok", "threads": 1, "size": 64, "batch_size": 1, "warmup": 0, "runs": 2, "load_before": 0.1,
            "load_after": 0.2, "cpu_count": 2, "device": "cpu", "device_name": "cpu", "torch": "x"}
    frame = pd.DataFrame([{**full, **r, "gflops": 2 * r["gmacs"] * r["fps"], "of_sgemm": r["gmacs"] * r["fps"] / 50}
                          for r in rows])
    assert md_footer in speed_markdown(frame, {"1 thread": 100.0})
