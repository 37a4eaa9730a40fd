"""The shared harness: the portrait dataset format, training, evaluation, speed, complexity and tables.

``PortraitSegmenter`` (``bench.segment.portrait``) is the Python API; it is imported on first use, so importing
``bench`` stays free of torch for the dataset builders.
"""

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    if name == "PortraitSegmenter":
        from bench.segment.portrait import PortraitSegmenter

        return PortraitSegmenter
    raise AttributeError(f"module 'bench' has no attribute {name!r}")
