"""The Python API's helpers that users of rembg and MediaPipe expect: cut-out, background replacement, and a frame
stream that keeps its state. A fake predictor with known logits makes every expected pixel computable."""

from __future__ import annotations

import numpy as np
import pytest

from bench.segment.photos import COLOURS, SegmentError
from bench.segment.portrait import PortraitSegmenter


class HalfPortrait:
    """Logits calling the left half of any input portrait (``sign`` = -1: the right half)."""

    input_size = 32

    def __init__(self, sign: float = 1.0) -> None:
        self.sign = sign

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        n, _, h, w = batch.shape
        d = np.where(np.arange(w) < w // 2, 20.0, -20.0) * self.sign
        out = np.zeros((n, 2, h, w), np.float32)
        out[:, 1] = d[None, None, :]
        return out


def _photo(h: int = 40, w: int = 64) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_cutout_is_the_photo_with_the_probability_as_alpha():
    seg, rgb = PortraitSegmenter(HalfPortrait()), _photo()
    rgba = seg.cutout(rgb)
    assert rgba.shape == (40, 64, 4) and rgba.dtype == np.uint8
    assert (rgba[..., :3] == rgb).all()
    assert (rgba[:, :20, 3] == 255).all() and (rgba[:, -20:, 3] == 0).all()


@pytest.mark.parametrize(("background", "colour"), [((0, 255, 0), (0, 255, 0)), ("#00ff00", (0, 255, 0)),
                                                    ("green", COLOURS["green"])])
def test_replace_background_puts_the_portrait_over_a_colour(background, colour):
    seg, rgb = PortraitSegmenter(HalfPortrait()), _photo()
    out = seg.replace_background(rgb, background)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert (out[:, :20] == rgb[:, :20]).all()
    assert (out[:, -20:] == np.array(colour, np.uint8)).all()


def test_replace_background_takes_an_image_and_refuses_a_bad_colour():
    seg, rgb = PortraitSegmenter(HalfPortrait()), _photo()
    beach = np.full((10, 10, 3), 200, np.uint8)
    out = seg.replace_background(rgb, beach)
    assert (out[:, -20:] == 200).all() and (out[:, :20] == rgb[:, :20]).all()
    with pytest.raises(SegmentError, match=r"\(r, g, b\)"):
        seg.replace_background(rgb, (0, 300, 0))


def test_a_stream_keeps_its_state_between_frames():
    left = PortraitSegmenter(HalfPortrait())
    stream = left.stream(smooth=0.5)
    first = stream(_photo())
    assert first[:, :20].min() > 0.99
    left.predictor.sign = -1.0  # the next frame: the portrait moved to the right half
    second = stream(_photo())
    np.testing.assert_allclose(second[:, :20], 0.5 * first[:, :20], atol=1e-6)  # half the old belief remains
    assert stream.mask(_photo(20, 30)).shape == (20, 30)  # a new size starts afresh
    assert left.stream()(_photo())[:, -20:].min() > 0.99  # smooth=0: each frame alone


def test_the_guided_filter_puts_a_stretched_map_back_on_the_photos_edge():
    import cv2

    from bench.deploy.refine import NONE, Refine, _solve_sym3

    h, w = 200, 150
    truth = np.zeros((h, w), np.uint8)
    cv2.circle(truth, (75, 110), 50, 1, -1)
    rgb = np.where(truth[..., None] == 1, np.uint8([200, 170, 150]), np.uint8([40, 60, 80]))
    stretched = cv2.resize(cv2.resize(truth.astype(np.float32), (8, 8), interpolation=cv2.INTER_AREA), (w, h))
    refined = Refine(16, 1e-3, reference_side=200)(rgb, stretched)  # radius 16 px at this photo's size
    assert refined.shape == (h, w) and refined.dtype == np.float32 and 0 <= refined.min() <= refined.max() <= 1
    before, after = ((stretched > 0.5) != truth).mean(), ((refined > 0.5) != truth).mean()
    assert after < before / 4
    assert NONE(rgb, stretched) is stretched  # radius 0: unchanged
    rng = np.random.default_rng(1)
    m = rng.normal(size=(5, 4, 3, 3)).astype(np.float64)
    spd = m @ np.swapaxes(m, -1, -2) + 0.1 * np.eye(3)
    v = rng.normal(size=(5, 4, 3))
    upper = {(i, j): spd[..., i, j] for i in range(3) for j in range(i, 3)}
    np.testing.assert_allclose(_solve_sym3(upper, v), np.linalg.solve(spd, v[..., None])[..., 0], rtol=1e-6)


def test_refinement_is_the_cards_measured_one_unless_asked_otherwise():
    from bench.deploy.refine import NONE, Refine
    from bench.segment.photos import refinement

    fake = HalfPortrait()
    assert refinement(fake, "auto") == NONE  # no card: nothing measured, nothing applied
    assert refinement(fake, "guided") == Refine(32, 1e-3)
    assert refinement(fake, "guided:16:0.01") == Refine(16, 0.01) and refinement(fake, "none") == NONE
    for bad in ("blur", "guided:0", "guided:8:x", "guided:1:2:3"):
        with pytest.raises(SegmentError, match="expected auto, none, guided"):
            refinement(fake, bad)


class CoarseBright:
    """Logits at 1/8 of the input, positive where the input is bright: a low-resolution model of a bright subject."""

    input_size = 32

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        n, _, h, w = batch.shape
        grey = batch.mean(axis=1).reshape(n, h // 8, 8, w // 8, 8).mean(axis=(2, 4))
        out = np.zeros((n, 2, h // 8, w // 8), np.float32)
        out[:, 1] = 4.0 * grey
        return out


def test_the_api_refines_along_the_photos_edge():
    """The model's 4x4 map of a bright disc, stretched to the photo, cuts the disc's edge; refined along the photo,
    the mask follows it."""
    import cv2

    h, w = 200, 150
    truth = np.zeros((h, w), np.uint8)
    cv2.circle(truth, (70, 100), 55, 1, -1)
    rgb = np.where(truth[..., None] == 1, np.uint8([230, 200, 180]), np.uint8([20, 30, 40]))
    plain = PortraitSegmenter(CoarseBright(), refine="none").probability(rgb)
    refined = PortraitSegmenter(CoarseBright(), refine="guided:48").probability(rgb)
    assert plain.shape == refined.shape == (h, w)
    err = [((p > 0.5) != truth).mean() for p in (plain, refined)]
    assert err[1] < err[0] / 2, err
