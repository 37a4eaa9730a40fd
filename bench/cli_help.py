"""Shared by the three command-line tools (pfcn, pseg, bench): how a command's help shows its examples."""

from __future__ import annotations

HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}


def examples(*lines: str) -> str:
    """An ``Example:`` block for a command's epilog (``\\b`` keeps click from rewrapping the lines)."""
    return "\b\nExample:\n" + "\n".join(f"  {line}" for line in lines)
