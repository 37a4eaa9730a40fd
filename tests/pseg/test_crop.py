"""The crop sampler: seeded by (seed, image, person) only; inside the image; head, margin and shoulders."""

from __future__ import annotations

import numpy as np

from pseg.crop import person_rng, sample_box, stable_hash


def draw(head, upper_top, w=640, h=480, seed=0, image="17", k=1):
    return sample_box(head, upper_top, w, h, 0.75, person_rng(seed, image, k))


def test_draw_depends_only_on_seed_image_and_person():
    head = (300, 100, 360, 170)
    assert draw(head, 175) == draw(head, 175)
    others = {draw(head, 175, seed=1), draw(head, 175, image="18"), draw(head, 175, k=2)}
    assert draw(head, 175) not in others and len(others) == 3
    assert stable_hash("17") == 1715031521596023621  # pinned: a change would change every dataset


def test_boxes_hold_head_margin_and_shoulders_and_keep_the_aspect():
    rng = np.random.default_rng(0)
    for i in range(300):
        hh = int(rng.integers(40, 200))
        hw = int(hh * rng.uniform(0.6, 1.0))
        x0, y0 = int(rng.integers(1, 640 - hw)), int(rng.integers(1, 480 - hh))
        head = (x0, y0, x0 + hw, y0 + hh)
        upper_top = min(479, y0 + hh + int(rng.integers(-hh // 3, hh // 2)))
        box = draw(head, upper_top, image=str(i))
        assert box is not None  # heads up to 200 px always fit a 640x480 image
        bx0, by0, bx1, by1 = box
        assert 0 <= bx0 and 0 <= by0 and bx1 <= 640 and by1 <= 480
        assert bx0 <= head[0] and by0 <= head[1] and head[2] <= bx1 and head[3] <= by1
        assert by1 > upper_top and by1 >= min(480, head[3] + 0.25 * hh)
        assert abs((bx1 - bx0) - 0.75 * (by1 - by0)) <= 1
        if by0 > 0 and by1 < 480 and head[1] - 0.15 * hh >= 0:
            assert by1 - by0 >= 1.65 * hh - 1 and head[1] - by0 >= 0.15 * hh - 1  # drawn, not shrunk


def test_heads_at_the_border_are_shifted_inside_and_oversized_boxes_shrink():
    box = draw((2, 1, 52, 61), 66, w=400, h=300)
    assert box[0] == 0 and box[1] == 0 and box[2] >= 52 + 6
    big = draw((40, 30, 120, 130), 135, w=160, h=200)  # wants 165-295 px of height, 200 available
    assert big is not None and big[3] - big[1] <= 200 and big[0] >= 0 and big[2] <= 160
    assert draw((10, 5, 150, 115), 118, w=160, h=120) is None  # the head nearly fills the image
