"""bench.segment.video and `bench segment` on a short generated video: streamed frames, smoothing, mp4 outputs."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli.main import main
from bench.segment.photos import SegmentError, parse_background
from bench.segment.video import Smoother, segment_video
from tests.bench.helpers import BrightPredictor


def make_video(path, frames: int = 12, size=(64, 48), fps: float = 10.0):
    """A bright square moving over a dark background."""
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size, True)
    assert w.isOpened()
    for i in range(frames):
        f = np.full((size[1], size[0], 3), 20, np.uint8)
        f[10:30, 2 + 3 * i:22 + 3 * i] = 230
        w.write(f)
    w.release()
    return path


def frames_of(path):
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        out.append(f)
    cap.release()
    return out, cap


def test_every_output_has_every_frame(tmp_path):
    video = make_video(tmp_path / "clip.mp4")
    seen = []
    paths = segment_video(video, BrightPredictor(), (32, 32), tmp_path / "out", ("mask", "background", "preview"),
                          parse_background("blue"), smooth=0.5, progress=lambda d, t: seen.append((d, t)))
    assert [p.name for p in paths] == ["clip_mask.mp4", "clip_background.mp4", "clip_preview.mp4"]
    assert seen[-1] == (12, 12) and len(seen) == 12
    masks, _ = frames_of(paths[0])
    previews, _ = frames_of(paths[2])
    assert len(masks) == len(previews) == 12
    assert masks[0].shape == (48, 64, 3) and previews[0].shape == (48, 192, 3)
    # the mask follows the square (mp4v is lossy: compare coarsely)
    assert masks[5][12:28, 20:34].mean() > 200 and masks[5][35:, :].mean() < 40
    assert cv2.VideoCapture(str(paths[1])).get(cv2.CAP_PROP_FPS) == pytest.approx(10.0)


def test_smoothing_averages_over_frames():
    s = Smoother(0.75)
    a, b = np.zeros((2, 2), np.float32), np.ones((2, 2), np.float32)
    assert (s(a) == 0).all() and (s(b) == 0.25).all() and np.allclose(s(b), 0.4375)
    assert (s(np.ones((3, 3), np.float32)) == 1).all()  # a new size restarts the average
    assert (Smoother(0.0)(b) == 1).all()
    with pytest.raises(SegmentError, match="smoothing"):
        Smoother(1.0)


def test_photo_only_outputs_and_broken_videos_are_refused(tmp_path):
    video = make_video(tmp_path / "clip.mp4", frames=2)
    with pytest.raises(SegmentError, match="a video has no cutout output"):
        segment_video(video, BrightPredictor(), (32, 32), tmp_path, ("cutout",))
    (tmp_path / "bad.mp4").write_bytes(b"not a video at all")
    with pytest.raises(SegmentError, match="bad.mp4: (not a readable video|no frame could be decoded)"):
        segment_video(tmp_path / "bad.mp4", BrightPredictor(), (32, 32), tmp_path / "o", ("mask",))


def test_segment_command_mixes_photos_and_videos(tmp_path, tiny_run):
    src = tmp_path / "in"
    src.mkdir()
    make_video(src / "clip.mp4", frames=5)
    cv2.imwrite(str(src / "photo.jpg"), np.zeros((30, 40, 3), np.uint8))
    r = CliRunner().invoke(main, ["segment", str(src), "--model", str(tiny_run), "--out", str(tmp_path / "o"),
                                  "--preview", "--smooth", "0.3", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "clip.mp4: 5 frames segmented" in r.output and "1 photos segmented" in r.output
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["clip_preview.mp4", "photo_preview.jpg"]
    assert len(frames_of(tmp_path / "o" / "clip_preview.mp4")[0]) == 5
    r = CliRunner().invoke(main, ["segment", str(src / "clip.mp4"), "--model", str(tiny_run), "--out",
                                  str(tmp_path / "o2"), "--cutout", "--no-progress"])
    assert r.exit_code == 1 and "a video has no cutout output" in r.output


def test_the_readme_mix_of_photos_videos_and_a_cutout_skips_only_the_videos_cutout(tmp_path, tiny_run):
    src = tmp_path / "in"
    src.mkdir()
    make_video(src / "clip.mp4", frames=3)
    cv2.imwrite(str(src / "photo.jpg"), np.zeros((30, 40, 3), np.uint8))
    r = CliRunner().invoke(main, ["segment", str(src / "photo.jpg"), str(src / "clip.mp4"), "--model", str(tiny_run),
                                  "--out", str(tmp_path / "o"), "--mask", "--cutout", "--background", "blur",
                                  "--no-progress"])
    assert r.exit_code == 0, r.output
    assert r.stderr.splitlines() == ["note: videos get no cutout (an mp4 has no alpha channel); clip.mp4: mask, "
                                     "background only"]
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [
        "clip_background.mp4", "clip_mask.mp4", "photo_background.jpg", "photo_cutout.png", "photo_mask.png"]
