"""A table and its two texts: a CSV for machines (raw numbers) and Markdown for people (numbers rounded once).

Every Markdown number is rounded once, half away from zero, from the raw value as ``results.csv`` writes it
(``fixed``): nothing is rounded on the way, so ICNet's 93.05 is 93.1 and ELB's 10.9514 FPS is 11.0, never 93.0 or
10.9 (a value rounded first to 10.95, or the binary float 93.05 = 93.04999..., rounded again).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd


@dataclass
class Table:
    """One table: its cells (raw values, the CSV columns in order) and the Markdown layout (labels and formats)."""

    name: str
    frame: pd.DataFrame
    md_columns: list[tuple[str, str, str]]  # (column key, header label, format kind)
    title: str
    footer: list[str]


# Each FPS column and the column of its interquartile range, shown after it as "± spread".
FPS_SPREAD = {"fps_ours": "fps_spread_ours", "fps_train_size_ours": "fps_train_spread_ours"}
# Decimals shown per format kind.
DIGITS = {"gmacs": 2, "params": 2, "fps": 1, "miou": 1, "f": 1, "minutes": 0}


def table_csv(table: Table) -> str:
    """The CSV text: one header row, then one row per line, raw values (empty where there is none)."""
    return table.frame.to_csv(index=False, lineterminator="\n")


def missing(value: object) -> bool:
    return value is None or value == "" or (isinstance(value, float) and pd.isna(value))


def fixed(value: object, digits: int, sign: bool = False) -> str:
    """``value`` rounded once to ``digits`` decimals, half away from zero, from its shortest decimal form (the number
    as results.csv writes it): 93.05 -> 93.1, 10.9514 -> 11.0, -0.356 -> -0.4."""
    q = Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    q = abs(q) if q == 0 else q  # no "-0.0"
    return f"{q:+f}" if sign else f"{q:f}"


def _cell(value: object, kind: str) -> str:
    """Markdown cell: our numbers at the table's precision, paper numbers as published, text as is."""
    if missing(value):
        return "—"
    if isinstance(value, str):
        return value
    if kind == "paper":
        return repr(float(value))  # as printed in the paper: 80.0, 0.51, 13.4
    if kind == "diff":
        return fixed(value, 1, sign=True)
    digits = DIGITS.get(kind)
    return str(value) if digits is None else fixed(value, digits)


def _seeds_cell(mean: object, sd: object, count: object) -> str:
    if any(missing(v) for v in (mean, sd, count)):
        return "—"
    return f"{fixed(mean, 2)} ± {fixed(sd, 2)} ({int(float(count))} seeds)"


def _ci_cell(lo: object, hi: object) -> str:
    if any(missing(v) for v in (lo, hi)):
        return "—"
    return f"[{fixed(lo, 1)}, {fixed(hi, 1)}]"


def table_markdown(table: Table) -> str:
    """The Markdown text: title, table with formatted numbers (FPS with its spread), footer."""
    out = [f"# {table.title}", "", "| " + " | ".join(label for _, label, _ in table.md_columns) + " |",
           "|" + "|".join("---" if kind == "text" else "---:" for _, _, kind in table.md_columns) + "|"]
    for row in table.frame.to_dict("records"):
        cells = []
        for key, _, kind in table.md_columns:
            if kind == "ci":
                text = _ci_cell(row.get(key), row.get(key.replace("_lo_", "_hi_")))
            elif kind == "seeds":
                text = _seeds_cell(row.get(key), row.get(key.replace("_mean_", "_std_")),
                                   row.get(key.replace("_mean_", "_count_")))
            else:
                text = _cell(row.get(key), kind)
            spread = row.get(FPS_SPREAD.get(key, ""))
            if key in FPS_SPREAD and text != "—" and isinstance(spread, float) and not pd.isna(spread):
                text += f" ± {fixed(spread, 1)}"
            cells.append(text)
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    out += [f"- {line}" for line in table.footer]
    return "\n".join(out) + "\n"
