"""Beyond the clean test set: portraits under realistic perturbations, and synthetic clips for temporal stability."""
