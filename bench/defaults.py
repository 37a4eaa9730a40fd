"""The defaults that several rooms share, each set once.

``INPUT_SIZE`` is the paper's 512x512 (Section 3.2, and its FPS protocol): the input side of a model with random
weights, of ``bench speed``, ``bench models`` and ``bench export``, and the training size of ``TrainConfig``. The
ablation is ELB trained again with plain cross-entropy (Section 4.3's loss comparison).
"""

from __future__ import annotations

INPUT_SIZE = 512
NUM_CLASSES = 2
ABLATION_MODEL = "elb"
ABLATION_LOSS = "ce"
