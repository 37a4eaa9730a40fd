"""Video stability: the clip maker (seeded bytes, the truth moving with the subject), the temporal metrics (a perfect
predictor scores no temporal error and no flips), flow-guided smoothing on a moving square (less flicker than single
frames, less lag than the moving average), the API and `segment` with it, and `bench video-stability`."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli.main import main
from bench.robustness.clips import ClipSettings, clip_sources, make_clip
from bench.robustness.stability import TemporalScore
from bench.robustness.video_stability import CLIPS_CSV, FLOOR, STRIP, SUMMARY_MD, truth_seen_at
from bench.segment.photos import SegmentError
from bench.segment.portrait import PortraitSegmenter
from bench.segment.temporal import FlowSmoother, Smoother, make_smoother
from bench.segment.video import segment_video
from tests.bench.helpers import BrightPredictor
from tests.bench.test_robustness import redness, subject_photo
from tests.bench.test_video import frames_of, make_video

SHORT = ClipSettings(frames=8, sway=0.15)


def _clip(seed: int = 0, settings: ClipSettings = SHORT):
    subject, mask = subject_photo(seed=1)
    room, room_mask = subject_photo(seed=2)
    return make_clip(subject, mask, room, room_mask, seed=seed, clip=0, settings=settings)


def test_a_seed_gives_the_same_clip_and_another_seed_another():
    a, ta = _clip(5)
    b, tb = _clip(5)
    c, _ = _clip(6)
    assert len(a) == len(ta) == SHORT.frames and a[0].shape == (240, 180, 3) and ta[0].dtype == np.uint8
    assert all(x.tobytes() == y.tobytes() for x, y in zip(a + ta, b + tb, strict=True))
    assert not np.array_equal(a[3], c[3])
    assert not np.array_equal(a[3], a[4])  # fresh noise and motion in every frame


def test_the_true_mask_moves_with_the_subject():
    frames, truths = _clip(0)
    centres = []
    for rgb, truth in zip(frames, truths, strict=True):
        red = redness(rgb)
        assert red[truth == 1].mean() > 0.85 and red[truth == 0].mean() < 0.03
        centres.append(np.nonzero(truth)[1].mean())
    assert np.ptp(centres) > 3  # it moved


def test_clip_sources_take_the_room_from_another_photo():
    pairs = clip_sources(["a", "b", "c"], 5, seed=1)
    assert len(pairs) == 3 and all(s != r for s, r in pairs) and len({s for s, _ in pairs}) == 3
    assert pairs == clip_sources(["a", "b", "c"], 5, seed=1)


def moving_square(frames: int = 12, speed: int = 3, h: int = 96, seed: int = 0):
    """A textured bright square moving right at a constant ``speed`` over a textured dark room, and its truths."""
    rng = np.random.default_rng(seed)
    w = 60 + frames * speed
    room = cv2.GaussianBlur(rng.integers(0, 90, (h, w, 3), dtype=np.uint8), (0, 0), 1.0)
    square = cv2.GaussianBlur(rng.integers(150, 256, (40, 40, 3), dtype=np.uint8), (0, 0), 1.0)
    out, truths = [], []
    for t in range(frames):
        rgb, truth = room.copy(), np.zeros((h, w), np.uint8)
        x = 10 + speed * t
        rgb[28:68, x:x + 40], truth[28:68, x:x + 40] = square, 1
        out.append(rgb)
        truths.append(truth)
    return out, truths


def test_a_perfect_predictor_scores_no_temporal_error_and_no_flips():
    for _frames, truths in (moving_square(), _clip(0)):
        score = TemporalScore()
        for truth in truths:
            score.update(truth.astype(np.float32), truth)
        r = score.result()
        assert r["dtssd"] == 0.0 and r["flips"] == 0.0 and r["miou"] == 100.0 and r["frames"] == len(truths)
    late = TemporalScore()  # the truth one frame late: the same masks, but moving at the wrong time
    _, truths = moving_square()
    for prev, truth in zip(truths, truths[1:], strict=False):
        late.update(prev.astype(np.float32), truth)
    assert late.result()["dtssd"] > 0 and late.result()["miou"] < 100


def test_flow_guided_blending_flickers_less_than_single_frames_and_lags_less_than_the_average():
    frames, truths = moving_square(frames=16, speed=6)
    rng = np.random.default_rng(0)  # a noisy predictor: the truth, blurred into 0.15-0.85, plus noise of std 0.2
    noisy = [np.clip(0.15 + 0.7 * t + rng.normal(0, 0.2, t.shape), 0, 1).astype(np.float32) for t in truths]
    scores = {}
    for name, blend in (("single", lambda p, _rgb: p), ("ema", Smoother(0.6)), ("flow", FlowSmoother(0.6))):
        score = TemporalScore()
        for rgb, p, truth in zip(frames, noisy, truths, strict=True):
            score.update(blend(p, rgb), truth)
        scores[name] = score.result()
    assert scores["flow"]["flips"] < 0.5 * scores["single"]["flips"], scores
    assert scores["flow"]["dtssd"] < 0.7 * scores["single"]["dtssd"], scores
    assert scores["flow"]["miou"] > scores["ema"]["miou"] + 5.0, scores  # the average trails the square
    assert scores["flow"]["dtssd"] < scores["ema"]["dtssd"], scores


def test_the_resolution_floor_is_the_truth_through_an_input_size():
    frames, truths = moving_square(frames=8, speed=5)
    exact, coarse = truth_seen_at(truths[0].shape), truth_seen_at((12, 12))
    scores = []
    for floor in (exact, coarse):
        score = TemporalScore()
        for rgb, truth in zip(frames, truths, strict=True):
            score.update(floor(rgb, truth), truth)
        scores.append(score.result())
    assert scores[0]["dtssd"] == 0.0 and scores[0]["miou"] == 100.0  # at the frame's own size: the truth itself
    assert scores[1]["dtssd"] > 1.0 and scores[1]["miou"] > 85.0  # a coarse input: soft edges that move unlike it


def test_the_smoothers_are_chosen_by_name_and_refuse_what_cannot_work():
    assert type(make_smoother("ema", 0.5)) is Smoother and type(make_smoother("flow", 0.5)) is FlowSmoother
    with pytest.raises(SegmentError, match="give smooth > 0"):
        make_smoother("flow", 0.0)
    with pytest.raises(SegmentError, match="temporal method 'optical'"):
        make_smoother("optical", 0.5)
    with pytest.raises(SegmentError, match="needs each frame"):
        FlowSmoother(0.5)(np.zeros((4, 4), np.float32))


def test_the_api_streams_with_flow():
    frames, _ = moving_square(frames=4)
    seg = PortraitSegmenter(BrightPredictor())
    stream = seg.stream(smooth=0.5, method="flow")
    probs = [stream(f) for f in frames]
    assert all(p.shape == frames[0].shape[:2] and p.dtype == np.float32 for p in probs)
    assert probs[3][40:60, 25:45].mean() > 0.6 and probs[3][:20].mean() < 0.4
    with pytest.raises(SegmentError, match="give smooth > 0"):
        seg.stream(method="flow")


def test_segment_videos_with_flow(tmp_path):
    video = make_video(tmp_path / "clip.mp4")
    paths = segment_video(video, BrightPredictor(), (32, 32), tmp_path / "out", ("mask",), smooth=0.5,
                          temporal="flow")
    masks, _ = frames_of(paths[0])
    assert len(masks) == 12 and masks[5][12:28, 20:34].mean() > 200 and masks[5][35:, :].mean() < 40
    r = CliRunner().invoke(main, ["segment", str(video), "--temporal", "flow", "--out", str(tmp_path / "o")])
    assert r.exit_code == 1 and "give smooth > 0" in r.output and len(r.output.strip().splitlines()) == 1


def test_the_command_writes_its_reports(portrait_data, tiny_run, tmp_path):
    out = tmp_path / "v"
    r = CliRunner().invoke(main, ["video-stability", "--model", str(tiny_run), "--data", str(portrait_data),
                                  "--clips", "2", "--frames", "4", "--out", str(out), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "flow: mIoU" in r.output and "synthetic motion over real photos" in r.output
    rows = (out / CLIPS_CSV).read_text().splitlines()
    assert len(rows) == 1 + 2 * 2 * 3 and rows[0].startswith("model,clip,subject,room,method,miou,dtssd,flips")
    assert sum(row.startswith(f"{FLOOR}32x32,") for row in rows) == 2 * 3  # the model's floor: its input size
    assert "synthetic motion over real photos" in (out / SUMMARY_MD).read_text()
    assert (out / STRIP).read_bytes()[:2] == b"\xff\xd8"  # a JPEG
    info = json.loads((out / "video_stability.json").read_text())
    assert info["settings"]["frames"] == 4 and info["smooth"] == 0.5


@pytest.mark.parametrize(("args", "words"), [
    (["--frames", "1"], "--frames"),
    (["--smooth", "0"], "--smooth"),
    (["--clips", "0"], "--clips"),
    (["--model", "elb"], "a registered model has random weights"),
])
def test_bad_input_is_one_line(args, words, portrait_data, tmp_path):
    model = [] if "--model" in args else ["--model", "elb-pfcn"]
    r = CliRunner().invoke(main, ["video-stability", *model, *args, "--data", str(portrait_data), "--out",
                                  str(tmp_path / "o"), "--no-progress"])
    assert r.exit_code != 0 and words in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1, r.output
