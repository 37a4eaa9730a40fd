"""``python -m bench`` (what ``torchrun ... -m bench train`` runs)."""

from bench.cli.main import main

main()
