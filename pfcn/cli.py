"""The ``pfcn`` command: thin click wrappers over ``pfcn.fetch``."""

from __future__ import annotations

from pathlib import Path

import click

import bench
from bench.cli.help import HELP_OPTIONS, OneLineErrors, examples
from bench.data.format import DatasetError

from .download import DownloadConfig
from .fetch import FetchOptions, NetworkUnreachable, fetch, status_table
from .release import ReleaseError


@click.group(cls=OneLineErrors, context_settings=HELP_OPTIONS)
@click.version_option(bench.__version__, prog_name="pfcn")
def main() -> None:
    """Recover the PFCN portrait dataset (Shen et al., EG 2016) from its Flickr links."""


@main.command("fetch", epilog=examples(
    "pfcn fetch --release EG_code_data_release.zip --out data/pfcn",
    "pfcn fetch --release EG_code_data_release.zip --out data/pfcn --from-dir old_photos/ --offline"))
@click.option("--release", "release", required=True, type=click.Path(path_type=Path),
              help="The release zip ([EG_code_data]_release/ inside), its unpacked data/ folder, or a parent.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output dataset folder.")
@click.option("--workers", default=16, show_default=True, type=click.IntRange(1, 256), help="Download threads.")
@click.option("--retries", default=4, show_default=True, type=click.IntRange(0, 20),
              help="Extra attempts on timeouts, connection errors, truncated bodies, 5xx and 429.")
@click.option("--timeout", default=30.0, show_default=True, type=click.FloatRange(0.01),
              help="Seconds to wait for a connection or for the next bytes.")
@click.option("--backoff", default=1.0, show_default=True, type=click.FloatRange(0.0),
              help="Seconds before the first retry (doubled each retry, with jitter).")
@click.option("--split", type=click.Choice(["official", "eg1800"]), default="official", show_default=True,
              help="official: trainlist.mat/testlist.mat; eg1800: PortraitNet's 1,447/289 lists.")
@click.option("--from-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Raw images from an earlier download (NNNNN.jpg or Flickr's file names, any subfolder), "
                   "used before the network.")
@click.option("--offline", is_flag=True, help="Never go to the network.")
@click.option("--image-format", type=click.Choice(["jpg", "png"]), default="jpg", show_default=True,
              help="How the 600x800 crops are stored (masks are always PNG).")
def fetch_cmd(release: Path, out: Path, workers: int, retries: int, timeout: float, backoff: float, split: str,
              from_dir: Path | None, offline: bool, image_format: str) -> None:
    """Download, detect dead links, crop to 600x800 and write a portrait dataset; rerun to resume."""
    opts = FetchOptions(split=split, workers=workers, from_dir=from_dir, offline=offline, image_format=image_format,
                        download=DownloadConfig(timeout=timeout, retries=retries, backoff_base=backoff))
    try:
        report = fetch(release, out, opts)
    except (ReleaseError, DatasetError, NetworkUnreachable) as e:
        raise click.ClickException(str(e)) from e
    except OSError as e:
        raise click.ClickException(f"{e.filename or out}: cannot write ({e.strerror or e})") from e
    for p in report.problems:
        click.echo(f"warning: release {p} (skipped)", err=True)
    click.echo(report.summary())


@main.command("status", epilog=examples("pfcn status data/pfcn"))
@click.argument("out", type=click.Path(path_type=Path))
def status_cmd(out: Path) -> None:
    """Counts by status and split of a pfcn output folder."""
    try:
        click.echo(status_table(out))
    except (FileNotFoundError, DatasetError) as e:
        raise click.ClickException(str(e)) from e
