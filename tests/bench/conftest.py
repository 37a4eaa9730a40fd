"""Fixtures of the harness tests: a tiny portrait dataset written through bench.data.format."""

from __future__ import annotations

import pytest

from tests.bench.helpers import make_portrait_dataset


@pytest.fixture(scope="session")
def portrait_data(tmp_path_factory):
    """8 train and 4 test images of about 64x64 with an ellipse mask (read-only: tests must not modify it)."""
    return make_portrait_dataset(tmp_path_factory.mktemp("tiny") / "data")


@pytest.fixture(scope="session")
def tiny_run(portrait_data, tmp_path_factory):
    """A real ELB run folder trained for one step at 32x32 (read-only)."""
    from bench.train.config import TrainConfig
    from bench.train.loop import train

    return train(TrainConfig(model="elb", data=str(portrait_data), out=str(tmp_path_factory.mktemp("run") / "r"),
                             epochs=1, batch_size=4, size=32, workers=0, progress=False, max_iters_per_epoch=1))
