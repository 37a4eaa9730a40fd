"""``python -m bench`` (what ``torchrun ... -m bench train`` runs)."""

from bench.cli import main

main()
