"""The ``bench`` command: thin click wrappers over the harness's library functions."""

from __future__ import annotations

import json

import click

from bench import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bench")
def main() -> None:
    """Train, evaluate, time and count portrait segmentation models under one harness."""


@main.command()
@click.option("--model", "model_name", default=None, help="A registered model name (default: all of them).")
@click.option("--size", default=512, show_default=True, type=int, help="Square input size in pixels.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per model, one a line.")
def complexity(model_name: str | None, size: int, as_json: bool) -> None:
    """Parameters and GMACs (conv and linear multiply-accumulates, FlopCounterMode / 2) at SIZE x SIZE."""
    from bench.complexity import measure
    from bench.registry import get_spec, model_names

    if model_name is not None:
        try:
            get_spec(model_name)
        except KeyError as e:
            raise click.BadParameter(str(e.args[0]), param_hint="--model") from None
    names = [model_name] if model_name else model_names()
    rows = [measure(n, size) for n in names]
    if as_json:
        for r in rows:
            click.echo(json.dumps(r.as_dict()))
        return
    click.echo(f"{'model':<12} {'params (M)':>10} {'GMACs':>8}  input {size}x{size}")
    for r in rows:
        click.echo(f"{r.model:<12} {r.params / 1e6:>10.3f} {r.gmacs:>8.3f}")
    click.echo("GMACs: convolution and linear multiply-accumulates (FlopCounterMode total / 2); "
               "BN, pooling and interpolation are not counted.")


if __name__ == "__main__":
    main()
