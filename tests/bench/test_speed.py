"""bench speed: the FPS protocol's record, through the command line."""

from __future__ import annotations

import importlib
import json

import pytest
from click.testing import CliRunner

from bench.cli.main import main
from bench.registry import get_spec, model_names
from bench.speed.grid import measure_fps


@pytest.mark.parametrize("name", ["elb", "elb-dr4"])
def test_speed_json(name):
    r = CliRunner().invoke(main, ["speed", "--model", name, "--size", "64", "--warmup", "1", "--passes", "3",
                                  "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["model"] == name and d["fps"] > 0 and d["fps_p10"] <= d["fps"] <= d["fps_p90"]
    assert d["device"] == "cpu" and d["dtype"] == "float32" and d["threads"] >= 1 and d["torch"]
    assert d["runs"] == 3 and d["batch_size"] == 1 and d["size"] == 64 and d["device_name"]
    assert d["fps"] == pytest.approx(1000.0 / d["ms_median"])


def test_speed_rejects_half_on_cpu_and_unknown_models():
    r = CliRunner().invoke(main, ["speed", "--model", "elb", "--half"])
    assert r.exit_code != 0 and "CUDA" in r.output
    r = CliRunner().invoke(main, ["speed", "--model", "nope"])
    assert r.exit_code != 0 and "nope: neither a zoo name" in r.output


@pytest.mark.parametrize("name", [n for n in model_names() if not n.startswith("elb")])
def test_every_registered_baseline_can_be_timed(name):
    module = get_spec(name).factory.split(":")[0]
    try:
        importlib.import_module(module)
    except ModuleNotFoundError:
        pytest.skip(f"{module} is not written yet")
    d = measure_fps(name, size=64, warmup=0, runs=1, batch_size=2)
    assert d["fps"] > 0 and d["batch_size"] == 2
