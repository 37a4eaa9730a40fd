"""Video stability: the clip maker (seeded bytes, the truth moving with the subject), the temporal metrics (a perfect
predictor scores no temporal error and no flips), flow-guided smoothing on a moving square (less flicker than single
frames, less lag than the moving average), the API and `segment` with it, `bench video-stability`, and its peers: the
clips written as files, probability maps read back (16-bit PNG), a peer's folder scored like a model, and the MediaPipe
script (its file handling here; MediaPipe itself in the peers environment, skipped without it)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli.main import main
from bench.data.format import read_dataset
from bench.errors import UserError
from bench.robustness.clip_files import (
    CLIPS_JSON,
    frame_path,
    read_frame,
    read_probability,
    write_frame,
    write_probability,
)
from bench.robustness.clips import ClipSettings, clip_sources, make_clip
from bench.robustness.stability import TemporalScore
from bench.robustness.video_stability import CLIPS_CSV, FLOOR, STRIP, SUMMARY_MD, truth_seen_at
from bench.segment.photos import SegmentError
from bench.segment.portrait import PortraitSegmenter
from bench.segment.temporal import FlowSmoother, Smoother, make_smoother
from bench.segment.video import segment_video
from tests.bench.helpers import BrightPredictor
from tests.bench.test_peers import PEERS_PYTHON, PROBE, ROOT
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


def test_bad_input_is_one_line_and_nothing_to_do_is_a_usage_error(portrait_data, tmp_path):
    r = CliRunner().invoke(main, ["video-stability", "--data", str(portrait_data), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "nothing to do: give --model, --peer or --write-clips" in r.output, r.output


def probability_round_trip(tmp_path):
    """Probability maps through 16-bit PNG: within half a step, 0 and 1 exact, out-of-range values clipped."""
    p = np.random.default_rng(0).random((7, 9)).astype(np.float32)
    p[0, :3] = (0.0, 1.0, 1.7)
    p[1, 0] = -0.2
    write_probability(tmp_path / "p.png", p)
    return p, read_probability(tmp_path / "p.png")


def test_probability_maps_round_trip_through_16_bit_png(tmp_path):
    p, back = probability_round_trip(tmp_path)
    assert back.dtype == np.float32 and back.shape == p.shape
    assert cv2.imread(str(tmp_path / "p.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    assert tuple(back[0, :3]) == (0.0, 1.0, 1.0) and back[1, 0] == 0.0
    inside = (p >= 0) & (p <= 1)
    assert np.abs(back - p)[inside].max() <= 0.5 / 65535 + 1e-7
    cv2.imwrite(str(tmp_path / "m.png"), np.array([[0, 255]], np.uint8))  # a peer that gives 8-bit masks
    assert read_probability(tmp_path / "m.png").tolist() == [[0.0, 1.0]]
    cv2.imwrite(str(tmp_path / "c.png"), np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(UserError, match="one grey channel"):
        read_probability(tmp_path / "c.png")


def test_frames_round_trip_losslessly(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    write_frame(frame_path(tmp_path, 3, 7), rgb)
    assert (tmp_path / "3" / "007.png").is_file() and np.array_equal(read_frame(tmp_path / "3" / "007.png"), rgb)


def video_args(portrait_data, tmp_path, *extra: str) -> list[str]:
    return ["video-stability", "--data", str(portrait_data), "--clips", "2", "--frames", "3", "--out",
            str(tmp_path / "v"), "--no-progress", *extra]


def clips_of(portrait_data, clips: int = 2, frames: int = 3, seed: int = 0):
    """The clips the command makes with these settings: [(frames, truths)], made here independently."""
    ds = read_dataset(portrait_data)
    return [make_clip(ds.load_image(sid), ds.load_mask(sid), ds.load_image(rid), ds.load_mask(rid), seed, c,
                      ClipSettings(frames=frames))
            for c, (sid, rid) in enumerate(clip_sources(ds.ids("test"), clips, seed))]


def truth_peer(portrait_data, folder: Path, peer_json: dict | None = None) -> Path:
    """A peer folder whose probability maps are the true masks of every frame."""
    for c, (_frames, truths) in enumerate(clips_of(portrait_data)):
        for t, truth in enumerate(truths):
            write_probability(frame_path(folder, c, t), (truth == 1).astype(np.float32))
    if peer_json is not None:
        (folder / "peer.json").write_text(json.dumps(peer_json))
    return folder


def test_write_clips_writes_every_frame_and_the_record_the_same_bytes_twice(portrait_data, tmp_path):
    runs = []
    for name in ("a", "b"):
        r = CliRunner().invoke(main, video_args(portrait_data, tmp_path, "--write-clips", str(tmp_path / name)))
        assert r.exit_code == 0 and "clips written" in r.output, r.output
        runs.append({p.relative_to(tmp_path / name): p.read_bytes() for p in (tmp_path / name).rglob("*")
                     if p.is_file()})
    assert runs[0] == runs[1] and len(runs[0]) == 2 * 3 + 1
    assert not (tmp_path / "v").exists()  # nothing scored: no reports
    record = json.loads((tmp_path / "a" / CLIPS_JSON).read_text())
    ds = read_dataset(portrait_data)
    assert record["seed"] == 0 and record["settings"]["frames"] == 3 and record["split"] == "test"
    assert [(x["subject"], x["room"], x["frames"]) for x in record["clips"]] == \
        [(s, r, 3) for s, r in clip_sources(ds.ids("test"), 2, 0)]
    for c, (frames, _truths) in enumerate(clips_of(portrait_data)):
        for t, rgb in enumerate(frames):  # lossless: the very pixels the models see
            assert np.array_equal(read_frame(frame_path(tmp_path / "a", c, t)), rgb)


def rows_of(tmp_path) -> list[list[str]]:
    return [row.split(",") for row in (tmp_path / "v" / CLIPS_CSV).read_text().splitlines()[1:]]


def test_a_peer_whose_maps_are_the_truth_scores_no_temporal_error(portrait_data, tmp_path):
    peer = truth_peer(portrait_data, tmp_path / "peer", {"input_size": [16, 16]})
    r = CliRunner().invoke(main, video_args(portrait_data, tmp_path, "--peer", f"Truth={peer}"))
    assert r.exit_code == 0, r.output
    rows = rows_of(tmp_path)  # model,clip,subject,room,method,miou,dtssd,flips,frames
    single = [row for row in rows if row[0] == "Truth" and row[4] == "single"]
    assert len(single) == 2 and all([float(v) for v in row[5:8]] == [100.0, 0.0, 0.0] for row in single), single
    assert {row[0] for row in rows} == {"Truth", f"{FLOOR}16x16"}  # its floor: peer.json says its input size
    assert "Truth single: mIoU 100.00, dtSSD 0.000" in r.output


def test_a_peer_and_a_model_are_scored_together(portrait_data, tiny_run, tmp_path):
    peer = truth_peer(portrait_data, tmp_path / "peer")
    r = CliRunner().invoke(main, video_args(portrait_data, tmp_path, "--model", str(tiny_run), "--peer",
                                            f"Truth={peer}"))
    assert r.exit_code == 0, r.output
    rows = rows_of(tmp_path)
    names = [row[0] for row in rows]
    assert len(rows) == 3 * 2 * 3 and set(names) == {tiny_run.name, "Truth", f"{FLOOR}32x32"}  # no floor of its own
    info = json.loads((tmp_path / "v" / "video_stability.json").read_text())
    assert info["peers"] == {"Truth": str(peer.resolve())}


def test_the_report_grows_across_runs_on_the_same_clips(portrait_data, tiny_run, tmp_path):
    peer = truth_peer(portrait_data, tmp_path / "peer")
    assert CliRunner().invoke(main, video_args(portrait_data, tmp_path, "--model", str(tiny_run))).exit_code == 0
    first = (tmp_path / "v" / CLIPS_CSV).read_text().splitlines()
    r = CliRunner().invoke(main, video_args(portrait_data, tmp_path, "--model", str(tiny_run), "--peer",
                                            f"Truth={peer}"))
    assert r.exit_code == 0, r.output
    info = json.loads((tmp_path / "v" / "video_stability.json").read_text())
    assert info["scored_by_this_run"] == ["Truth"]  # the model's rows are the first run's, kept
    assert info["models"] == [tiny_run.name, "Truth", f"{FLOOR}32x32"]
    rows = (tmp_path / "v" / CLIPS_CSV).read_text().splitlines()
    assert [row for row in rows if not row.startswith("Truth,")] == first
    assert f"| {tiny_run.name} | flow |" in (tmp_path / "v" / SUMMARY_MD).read_text()
    again = CliRunner().invoke(main, video_args(portrait_data, tmp_path, "--model", str(tiny_run), "--rescore"))
    assert again.exit_code == 0 and json.loads((tmp_path / "v" / "video_stability.json").read_text())[
        "scored_by_this_run"] == [tiny_run.name, f"{FLOOR}32x32"]
    # other clips (more frames): the earlier rows are of other frames, so the report starts afresh
    longer = [a if a != "3" else "4" for a in video_args(portrait_data, tmp_path, "--model", str(tiny_run))]
    assert CliRunner().invoke(main, longer).exit_code == 0
    assert {row[0] for row in rows_of(tmp_path)} == {tiny_run.name, f"{FLOOR}32x32"}


def _missing(peer: Path, _clips: Path) -> str:
    frame_path(peer, 1, 2).unlink()
    return f"{frame_path(peer, 1, 2)}: missing; run the peer over the clips written by --write-clips"


def _wrong_size(peer: Path, _clips: Path) -> str:
    write_probability(frame_path(peer, 0, 1), np.zeros((5, 5), np.float32))
    return "a 5x5 probability map for a"


def _other_seed(peer: Path, clips: Path) -> str:
    record = json.loads((clips / CLIPS_JSON).read_text())
    (peer / "peer.json").write_text(json.dumps({"clips": {**record, "seed": 3}}))
    return "the peer ran over other clips (seed 3, here 0)"


def _other_frames(peer: Path, clips: Path) -> str:
    record = json.loads((clips / CLIPS_JSON).read_text())
    record["settings"]["frames"] = 4
    (peer / "peer.json").write_text(json.dumps({"clips": record}))
    return "the peer ran over other clips (frames 4, here 3)"


def _other_photos(peer: Path, clips: Path) -> str:
    record = json.loads((clips / CLIPS_JSON).read_text())
    record["clips"][1]["room"] = "elsewhere"
    (peer / "peer.json").write_text(json.dumps({"clips": record}))
    return "the peer ran over clips of other photos"


@pytest.mark.parametrize("break_it", [_missing, _wrong_size, _other_seed, _other_frames, _other_photos])
def test_a_broken_peer_folder_is_one_line(break_it, portrait_data, tmp_path):
    clips = tmp_path / "clips"
    assert CliRunner().invoke(main, video_args(portrait_data, tmp_path, "--write-clips", str(clips))).exit_code == 0
    peer = truth_peer(portrait_data, tmp_path / "peer", {"clips": json.loads((clips / CLIPS_JSON).read_text())})
    r = CliRunner().invoke(main, video_args(portrait_data, tmp_path, "--peer", f"Truth={peer}"))
    assert r.exit_code == 0, r.output  # the clips record it copied agrees with these clips
    words = break_it(peer, clips)
    r = CliRunner().invoke(main, video_args(portrait_data, tmp_path, "--peer", f"Truth={peer}"))
    assert r.exit_code == 1 and words in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1, r.output
    r = CliRunner().invoke(main, video_args(portrait_data, tmp_path, "--peer", f"Truth={tmp_path / 'none'}"))
    assert r.exit_code == 1 and "no such peer folder" in r.output and len(r.output.strip().splitlines()) == 1


def load_video_peer():
    """peers/mediapipe_video.py as a module: it imports mediapipe only when run, so its file handling is testable
    here."""
    spec = importlib.util.spec_from_file_location("mediapipe_video", ROOT / "peers" / "mediapipe_video.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_mediapipe_script_streams_each_clip_in_order_and_writes_16_bit_maps(portrait_data, tmp_path):
    clips = tmp_path / "clips"
    assert CliRunner().invoke(main, video_args(portrait_data, tmp_path, "--write-clips", str(clips))).exit_code == 0
    mediapipe_loaded = "mediapipe" in sys.modules
    seen = []

    def segment(rgb):  # a stand-in for MediaPipe: the red share, and the order it was called in
        seen.append(rgb.copy())
        return rgb[..., 0].astype(np.float32) / 255.0

    took = load_video_peer().run_clip(segment, clips, tmp_path / "out", 1, 3)
    assert took >= 0 and ("mediapipe" in sys.modules) == mediapipe_loaded
    for t, rgb in enumerate(seen):
        assert np.array_equal(rgb, read_frame(frame_path(clips, 1, t)))
        back = read_probability(frame_path(tmp_path / "out", 1, t))
        assert np.abs(back - rgb[..., 0] / 255.0).max() <= 0.5 / 65535 + 1e-7


@pytest.mark.skipif(not PEERS_PYTHON.exists(), reason="the peers environment is absent (make peers)")
def test_mediapipe_in_video_mode_is_scored_like_a_model(portrait_data, tmp_path):
    clips, out = tmp_path / "clips", tmp_path / "mp"
    assert CliRunner().invoke(main, video_args(portrait_data, tmp_path, "--write-clips", str(clips))).exit_code == 0
    r = subprocess.run([str(PEERS_PYTHON), "-c", PROBE, str(ROOT / "peers" / "mediapipe_video.py"), "--clips",
                        str(clips), "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("torch imported: False")
    info = json.loads((out / "peer.json").read_text())
    assert info["input_size"] == [256, 256] and info["frames"] == 6 and "mediapipe 0.10.21" in info["runtime"]
    assert cv2.imread(str(frame_path(out, 0, 0)), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    r = CliRunner().invoke(main, video_args(portrait_data, tmp_path, "--peer", f"MediaPipe={out}"))
    assert r.exit_code == 0, r.output
    assert {row[0] for row in rows_of(tmp_path)} == {"MediaPipe", f"{FLOOR}256x256"}
    r = subprocess.run([str(PEERS_PYTHON), str(ROOT / "peers" / "mediapipe_video.py"), "--clips",
                        str(tmp_path / "none"), "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "clips.json: missing" in r.stderr and len(r.stderr.strip().splitlines()) == 1
