"""Fixtures of the harness tests: a tiny portrait dataset written through bench.dataset."""

from __future__ import annotations

import pytest

from tests.bench.helpers import make_portrait_dataset


@pytest.fixture(scope="session")
def portrait_data(tmp_path_factory):
    """8 train and 4 test images of about 64x64 with an ellipse mask (read-only: tests must not modify it)."""
    return make_portrait_dataset(tmp_path_factory.mktemp("tiny") / "data")
