"""Shared by the command-line tools (pfcn, pseg, bench, segment): how a command's help shows its examples, and how
its errors read.

A usage error or a ``bench.errors.UserError`` (and the builders' own user errors, which subclass it) is one line on
stderr and exit status 1 (2 for usage); anything else is a bug in our code and keeps its traceback."""

from __future__ import annotations

import sys

import click

from bench.errors import UserError

_NO_ARGS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())  # click >= 8.2
HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}


def examples(*lines: str) -> str:
    """An ``Example:`` block for a command's epilog (``\\b`` keeps click from rewrapping the lines)."""
    return "\b\nExample:\n" + "\n".join(f"  {line}" for line in lines)


class _OneLineMain:
    """A user's error is one line on stderr (usage errors carry the --help hint on it); a bug keeps its traceback."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):  # noqa: D102
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _NO_ARGS_HELP as e:  # the bare command: its help, as click prints it
            e.show()
            sys.exit(e.exit_code)
        except click.ClickException as e:
            msg = " ".join(line.strip() for line in e.format_message().splitlines() if line.strip())
            if isinstance(e, click.UsageError) and e.ctx is not None:
                msg += f" (see '{e.ctx.command_path} --help')"
            click.echo(f"Error: {msg}", err=True)
            sys.exit(e.exit_code)
        except UserError as e:
            click.echo(f"Error: {e.one_line()}", err=True)
            sys.exit(1)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


class OneLineErrors(_OneLineMain, click.Group):
    """A command group (pfcn, pseg, bench) whose user errors are one line on stderr."""


class OneLineCommand(_OneLineMain, click.Command):
    """A command run on its own (the ``segment`` console script) whose user errors are one line on stderr."""


def renamed(old: str, new: str, meaning: str):
    """A hidden option under an old spelling that refuses, in one line naming the new one: each option means one
    thing across the commands (``--model``: anything a model can be named by; ``--passes``: timed passes)."""

    def refuse(ctx: click.Context, _param: click.Parameter, value: object) -> None:
        if value not in (None, ()):
            raise click.UsageError(f"{old} is now {new} ({meaning})", ctx=ctx)

    return click.option(old, expose_value=False, hidden=True, callback=refuse, help=f"Renamed: {new}.")
