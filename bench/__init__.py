"""The shared harness: the portrait dataset format, training, evaluation, speed, complexity and tables."""

__version__ = "0.1.0"
