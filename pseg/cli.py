"""The ``pseg`` command: build PSEG from an MHP download, report on it, preview it (thin over the library)."""

from __future__ import annotations

import re

import click

import bench
from bench.cli.help import HELP_OPTIONS, OneLineErrors, examples
from bench.data.format import DatasetError
from bench.data.io import to_json
from pseg.build import BuildOptions, build_pseg, default_workers
from pseg.mhp import MHPError
from pseg.preview import contact_sheet
from pseg.stats import dataset_stats, format_stats


def _size(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", value)
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise click.BadParameter(f"{value!r} is not WIDTHxHEIGHT, e.g. 600x800")
    return int(m.group(1)), int(m.group(2))


@click.group(cls=OneLineErrors, context_settings=HELP_OPTIONS)
@click.version_option(bench.__version__, prog_name="pseg")
def main() -> None:
    """Build the PSEG head-and-shoulders portrait dataset from LV-MHP-v1 or LV-MHP-v2."""


@main.command(epilog=examples("pseg build --mhp-root LV-MHP-v2 --out data/pseg",
                               "pseg build --mhp-root LV-MHP-v1 --out data/pseg-v1 --per image --seed 1"))
@click.option("--mhp-root", required=True, type=click.Path(file_okay=False, path_type=str),
              help="The LV-MHP-v1 or LV-MHP-v2 folder, or the folder holding it.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=str), help="Output folder.")
@click.option("--mhp-version", type=click.Choice(["auto", "v1", "v2"]), default="auto", show_default=True,
              help="auto: recognised from the folder layout.")
@click.option("--seed", type=int, default=0, show_default=True, help="Decides the crop boxes and the split.")
@click.option("--test-fraction", type=click.FloatRange(0, 1), default=0.1, show_default=True,
              help="Share of the source images (not crops) that go to test.")
@click.option("--size", default="600x800", show_default=True, callback=_size, help="Output WIDTHxHEIGHT.")
@click.option("--per", type=click.Choice(["person", "image"]), default="person", show_default=True,
              help="One crop per eligible person, or one per image (a person chosen by the seed).")
@click.option("--min-head", type=click.IntRange(1), default=40, show_default=True,
              help="Smallest head height in source pixels.")
@click.option("--workers", type=click.IntRange(0), default=0, help="Worker processes (default: all cores).")
@click.option("--limit", type=click.IntRange(1), default=None, help="Only the first N listed images.")
@click.option("--quiet", is_flag=True, help="No progress (a bar on a terminal, else a line every 30 s).")
def build(mhp_root: str, out: str, mhp_version: str, seed: int, test_fraction: float, size: tuple[int, int],
          per: str, min_head: int, workers: int, limit: int | None, quiet: bool) -> None:
    """Build PSEG into --out (resumable: a rerun keeps finished crops)."""
    opts = BuildOptions(version=mhp_version, seed=seed, test_fraction=test_fraction, size=size, per=per,
                        min_head=min_head, limit=limit)
    n = workers or default_workers()
    try:
        s = build_pseg(mhp_root, out, opts, workers=n, progress=not quiet)
    except (MHPError, DatasetError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    skipped = s.candidates - sum(s.counts.values())
    if not sum(s.counts.values()):
        reasons = ", ".join(f"{k} {v}" for k, v in dataset_stats(s.out)["skip_reasons"].items()) or "none recorded"
        raise click.ClickException(f"{s.root}: no usable person among {s.candidates} candidates in {s.images} "
                                   f"images, so {s.out} is empty; skipped by reason: {reasons}")
    click.echo(f"LV-MHP-{s.version} at {s.root}: {s.images} images, {s.candidates} candidate persons "
               f"({s.images_processed} images processed now, {n} workers)")
    click.echo(f"wrote {s.out}: train {s.counts.get('train', 0)}, test {s.counts.get('test', 0)}, "
               f"skipped {skipped}; see `pseg stats {s.out}`")


@main.command(epilog=examples("pseg stats data/pseg", "pseg stats data/pseg --json"))
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print the numbers as JSON.")
def stats(root: str, as_json: bool) -> None:
    """Counts per split (beside the paper's), skip reasons, persons per crop, mask coverage."""
    try:
        s = dataset_stats(root)
    except DatasetError as e:
        raise click.ClickException(str(e)) from None
    click.echo(to_json(s) if as_json else format_stats(s))


@main.command(epilog=examples("pseg preview data/pseg --out sheet.png", "pseg preview data/pseg --out test.png "
                                                                          "--split test -n 12 --cols 4"))
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=str))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=str), help="PNG to write.")
@click.option("-n", "--count", type=click.IntRange(1), default=24, show_default=True, help="Crops on the sheet.")
@click.option("--cols", type=click.IntRange(1), default=6, show_default=True, help="Crops per row.")
@click.option("--seed", type=int, default=0, show_default=True, help="Decides which crops are drawn.")
@click.option("--split", default=None, help="Only this split (default: all).")
def preview(root: str, out: str, count: int, cols: int, seed: int, split: str | None) -> None:
    """A contact sheet of random crops with their masks overlaid (green: portrait, hatched blue: ignore)."""
    try:
        path = contact_sheet(root, out, n=count, cols=cols, seed=seed, split=split)
    except DatasetError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"wrote {path}")
