"""The installed toolkit: packages import, the console scripts answer --help and --version."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

import bench
from bench.cli.main import main as bench_main


def test_packages_import_without_torch_in_the_dataset_format():
    code = "import pfcn, pseg, elb, baselines, bench; import sys; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


@pytest.mark.parametrize("module", ["bench.cli.main", "pfcn.cli", "pseg.cli"])
def test_each_command_has_help_and_version(module):
    cli = __import__(module, fromlist=["main"]).main
    runner = CliRunner()
    help_ = runner.invoke(cli, ["--help"])
    assert help_.exit_code == 0 and "Usage:" in help_.output
    version = runner.invoke(cli, ["--version"])
    assert version.exit_code == 0 and bench.__version__ in version.output


def test_complexity_json_for_elb():
    result = CliRunner().invoke(bench_main, ["complexity", "--model", "elb", "--size", "256", "--json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.output)
    assert row["model"] == "elb" and row["input"] == [256, 256]
    assert row["params"] == 662558 and abs(row["gmacs"] - 3.778 / 4) < 0.01  # MACs scale with the pixel count


def test_complexity_rejects_an_unknown_model():
    result = CliRunner().invoke(bench_main, ["complexity", "--model", "nope"])
    assert result.exit_code != 0 and "nope: neither a zoo name" in result.output
