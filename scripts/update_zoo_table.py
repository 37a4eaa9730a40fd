"""Rewrite README.md's model-zoo table from the manifests (bench/weights/*.json) and reports/speed.csv, as `bench zoo`
prints it.

    .venv/bin/python scripts/update_zoo_table.py     # after `bench zoo add` or a new reports/speed.csv
"""

from pathlib import Path

from bench.deploy.zoo import entries
from bench.report.zoo import SPEED_CSV, readme_table

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- zoo table:", "<!-- end of zoo table -->"

readme = ROOT / "README.md"
text = readme.read_text(encoding="utf-8")
head, rest = text.split(START, 1)
marker, rest = rest.split("\n", 1)
tail = rest.split(END, 1)[1]
table = readme_table(entries().values(), SPEED_CSV)
readme.write_text(f"{head}{START}{marker}\n{table}\n{END}{tail}", encoding="utf-8")
print(f"{readme}: zoo table rewritten ({len(entries())} entries)")
