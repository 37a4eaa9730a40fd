"""Trained portrait models that ship with the package: per entry, ``<name>.pt`` (the weights, a state dict of tensors
only, so loading runs no code) and ``<name>.json`` (its manifest). ``bench.deploy.zoo`` reads them, ``bench zoo``
lists them, and ``docs/zoo.md`` describes the manifest."""

from pathlib import Path

FOLDER = Path(__file__).resolve().parent
