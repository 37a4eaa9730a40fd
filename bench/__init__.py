"""The shared harness: the portrait dataset format, training, evaluation, speed, complexity and tables.

The Python API is ``bench.segment.portrait.PortraitSegmenter``.
"""

__version__ = "0.1.0"
