"""Boundary weight maps: 1 + g, g = 1 on the boundary, falling with distance, 0 weight on ignore pixels."""

from __future__ import annotations

import numpy as np
import pytest

from elb.boundary import boundary, boundary_distance_map, boundary_weight_map, boundary_weight_maps


def _square(h=40, w=40):
    m = np.zeros((h, w), np.uint8)
    m[10:30, 10:30] = 1
    return m


def test_boundary_is_both_sides_of_the_edge():
    edge = boundary(_square())
    assert edge[10, 15] and edge[9, 15]  # the portrait pixel and the background pixel next to it
    assert not edge[20, 20] and not edge[0, 0]
    assert not edge[9, 9]  # diagonal contact only: not a 4-neighbour


def test_g_is_one_on_the_boundary_and_falls_with_distance():
    g = boundary_distance_map(_square())
    assert g.dtype == np.float32 and g.min() >= 0 and g.max() == 1
    assert np.all(g[boundary(_square())] == 1)
    row = g[20, 10:20]  # from the edge into the middle of the square
    assert np.all(np.diff(row) < 0)
    assert g.min() < 1e-6  # per-image normalisation: the farthest pixel gets 0


def test_distance_matches_the_euclidean_distance():
    g = boundary_distance_map(_square(), max_distance=8)
    # pixel (20, 14) is 4 px from the boundary column x = 10 inside the square
    assert g[20, 14] == pytest.approx(1 - 4 / 8, abs=0.02)
    assert g[20, 20] == 0  # beyond the cap


@pytest.mark.parametrize("value", [0, 1])
def test_no_boundary_gives_weight_one(value):
    w = boundary_weight_map(np.full((16, 16), value, np.uint8))
    assert np.all(w == 1)


def test_ignore_pixels_get_zero_weight_and_make_no_boundary():
    m = _square()
    m[:, :5] = 255
    w = boundary_weight_map(m)
    assert np.all(w[:, :5] == 0)
    assert not boundary(m)[:, 4:6].any()  # background next to ignore is not a portrait boundary
    assert w[10, 15] == 2 and np.all(w[:, 5:] >= 1)


def test_batch_equals_single_calls():
    masks = np.stack([_square(), np.zeros((40, 40), np.uint8), np.rot90(_square()).copy()])
    batch = boundary_weight_maps(masks)
    for m, w in zip(masks, batch, strict=True):
        np.testing.assert_array_equal(w, boundary_weight_map(m))
