"""Help that a new user can act on: -h everywhere, an example in every command, `bench models`; packaging is clean."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from setuptools import find_namespace_packages

from bench.cli.main import main as bench_main
from bench.registry import MODELS
from pfcn.cli import main as pfcn_main
from pseg.cli import main as pseg_main

TOOLS = {"bench": bench_main, "pfcn": pfcn_main, "pseg": pseg_main}
ROOT = Path(__file__).resolve().parents[1]


def _commands():
    return [(tool, name) for tool, group in TOOLS.items() for name in group.commands]


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_dash_h_works_for_every_tool(tool):
    r = CliRunner().invoke(TOOLS[tool], ["-h"])
    assert r.exit_code == 0 and "Usage:" in r.output


@pytest.mark.parametrize(("tool", "name"), _commands())
def test_every_command_shows_an_example_and_describes_every_option(tool, name):
    r = CliRunner().invoke(TOOLS[tool], [name, "-h"])
    assert r.exit_code == 0
    assert "Example:" in r.output and f"  {tool} {name}" in r.output.split("Example:")[1]
    command = TOOLS[tool].commands[name]
    undescribed = [p.opts[-1] for p in command.params if isinstance(p, click.Option) and not p.help]
    assert not undescribed, f"{tool} {name}: no help for {undescribed}"


def test_bench_models_lists_every_model_with_params_and_gmacs():
    r = CliRunner().invoke(bench_main, ["models", "--size", "64"])
    assert r.exit_code == 0, r.output
    rows = {c[0]: c for c in (re.split(r"\s{2,}", line.strip()) for line in r.output.splitlines()[1:-1])}
    assert list(rows) == list(MODELS)
    params, gmacs = float(rows["elb"][3]), float(rows["elb"][4])
    assert 0.5 < params < 0.8 and 0 < gmacs < 1  # ELB: 0.66 M parameters; 3.78 GMACs at 512, 1/64 of it at 64
    assert "bench models" in " ".join(CliRunner().invoke(bench_main, ["train", "-h"]).output.split())


def test_package_data_folders_are_packages_so_setuptools_does_not_warn():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    find = cfg["options.packages.find"]
    packages = find_namespace_packages(str(ROOT), include=find["include"].split(), exclude=find["exclude"].split())
    for pkg in cfg["options.package_data"]:
        assert pkg in packages
    data_dirs = {p.parent.relative_to(ROOT).as_posix().replace("/", ".")
                 for pattern in ("bench/runall/profiles/*.toml", "pfcn/data/*.txt") for p in ROOT.glob(pattern)}
    assert data_dirs <= set(packages)
    assert not any("__pycache__" in p or p.startswith("tests") for p in packages)
