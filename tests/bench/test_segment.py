"""bench.segment.photos, bench.segment.files and `bench segment` on photos: reading, fitting, rendering, the command."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from bench.cli.main import main
from bench.data.preprocess import letterbox
from bench.errors import ModelOutputError
from bench.segment.files import expand_inputs, output_stems, segment_images
from bench.segment.photos import (
    COLOURS,
    Background,
    SegmentError,
    composite,
    cutout,
    input_hw,
    mask_image,
    parse_background,
    photo_probability,
    predict_probabilities,
    read_image,
    render,
    shrink,
)
from tests.bench.helpers import BrightPredictor


def half_bright(h: int, w: int, left: bool = True) -> np.ndarray:
    """Black with its left (or top) half white: the expected mask is exactly that half."""
    rgb = np.zeros((h, w, 3), np.uint8)
    if left:
        rgb[:, : w // 2] = 255
    else:
        rgb[: h // 2] = 255
    return rgb


@pytest.mark.parametrize("shape", [(40, 120), (120, 40), (33, 33)])
@pytest.mark.parametrize("stride", [1, 4])
def test_masks_overlay_the_photo_whatever_its_aspect_ratio(shape, stride):
    for left in (True, False):
        rgb = half_bright(*shape, left=left)
        prob = predict_probabilities(BrightPredictor(32, stride), [rgb], (32, 32))[0]
        assert prob.shape == shape and prob.dtype == np.float32
        truth = rgb[..., 0] > 0
        wrong = (prob > 0.5) != truth
        # only pixels near the one edge may differ (the model saw the photo at 32 px, or 8 px with stride 4)
        near = cv2.dilate(mask_image(truth.astype(np.float32)), np.ones((3, 3)), iterations=max(shape) // 8) != \
            cv2.erode(mask_image(truth.astype(np.float32)), np.ones((3, 3)), iterations=max(shape) // 8)
        assert not (wrong & ~near).any()


def test_letterbox_keeps_the_aspect_ratio_and_pads_with_the_mean_colour():
    canvas, fit = letterbox(np.full((100, 50, 3), 7, np.uint8), (64, 64))
    assert canvas.shape == (64, 64, 3) and (fit.height, fit.width, fit.top, fit.left) == (64, 32, 0, 16)
    assert (canvas[:, 16:48] == 7).all() and (canvas[:, :16] == [124, 116, 104]).all()


def test_input_size_comes_from_the_model_or_the_option():
    assert input_hw(BrightPredictor(48)) == (48, 48)
    assert input_hw(BrightPredictor((40, 56))) == (40, 56)
    assert input_hw(BrightPredictor(None), 64) == (64, 64)
    with pytest.raises(SegmentError, match="--size"):
        input_hw(BrightPredictor(None))


def test_three_class_output_is_refused():
    def three(x):
        return np.zeros((len(x), 3, *x.shape[2:]), np.float32)

    with pytest.raises(ModelOutputError, match="2 classes"):
        predict_probabilities(three, [np.zeros((8, 8, 3), np.uint8)], (8, 8))


# -- reading ---------------------------------------------------------------------------------------------------
def test_exif_orientation_is_applied(tmp_path):
    rgb = np.zeros((20, 40, 3), np.uint8)
    rgb[:, :10] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown rotated 90 degrees clockwise
    Image.fromarray(rgb).save(tmp_path / "r.jpg", "JPEG", exif=exif.tobytes(), quality=95)
    out = read_image(tmp_path / "r.jpg")
    assert out.shape == (40, 20, 3) and out[:10].mean() > 200 and out[-10:].mean() < 50  # the white band is on top


def test_grey_rgba_and_16_bit_files_become_rgb(tmp_path):
    grey = np.tile(np.arange(0, 250, 10, dtype=np.uint8), (5, 1))
    cv2.imwrite(str(tmp_path / "g.png"), grey)
    cv2.imwrite(str(tmp_path / "a.png"), np.dstack([np.full((5, 6, 3), 9, np.uint8), np.zeros((5, 6), np.uint8)]))
    cv2.imwrite(str(tmp_path / "d.png"), (grey.astype(np.uint16) * 257))
    g = read_image(tmp_path / "g.png")
    assert g.shape == (5, 25, 3) and (g[..., 1] == grey).all()
    assert (read_image(tmp_path / "a.png") == 9).all()
    assert np.array_equal(read_image(tmp_path / "d.png")[..., 0], grey)


def test_huge_photos_are_shrunk_for_the_model_only_and_broken_files_named(tmp_path):
    cv2.imwrite(str(tmp_path / "big.png"), half_bright(300, 900))
    big = read_image(tmp_path / "big.png")
    assert big.shape == (300, 900, 3) and shrink(big, 90).shape == (30, 90, 3) and shrink(big, 900) is big
    prob = photo_probability(BrightPredictor(), big, (32, 32), max_side=90)
    agree = (prob > 0.5) == (big[..., 0] > 0)  # away from the one edge, the map lies over the photo
    assert prob.shape == (300, 900) and agree[:, :400].all() and agree[:, 500:].all()
    outcome = segment_images([tmp_path / "big.png"], BrightPredictor(), (32, 32), tmp_path / "o", ("mask", "cutout"),
                             max_side=90)
    assert [cv2.imread(str(p), cv2.IMREAD_UNCHANGED).shape[:2] for p in outcome.written] == [(300, 900)] * 2
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(SegmentError, match=r"bad.jpg: not a decodable image"):
        read_image(tmp_path / "bad.jpg")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(SegmentError, match="empty.png"):
        read_image(tmp_path / "empty.png")


# -- rendering -------------------------------------------------------------------------------------------------
def test_outputs_follow_the_probability_map(tmp_path):
    rgb = np.full((4, 6, 3), 200, np.uint8)
    prob = np.zeros((4, 6), np.float32)
    prob[:, :3] = 1.0
    prob[0, 0] = 0.5
    assert mask_image(prob)[:, :3].sum() == 255 * 11 and mask_image(prob)[:, 3:].max() == 0
    c = cutout(rgb, prob)
    assert c.shape == (4, 6, 4) and c[1, 0, 3] == 255 and c[0, 0, 3] == 128 and c[0, 5, 3] == 0
    green = composite(rgb, prob, Background("colour", colour=COLOURS["green"]))
    assert (green[:, 3:] == COLOURS["green"]).all() and (green[1:, :3] == 200).all()
    assert (green[0, 0] == np.floor((np.array(COLOURS["green"]) + 200) / 2 + 0.5)).all()
    sky = np.zeros((10, 10, 3), np.uint8)
    sky[..., 2] = 250
    assert (composite(rgb, prob, Background("image", image=sky))[:, 3:] == [0, 0, 250]).all()
    out = render(rgb, prob, ("mask", "cutout", "preview"), None)
    assert out["preview"].shape == (4, 18, 3) and out["mask"].ndim == 2
    with pytest.raises(SegmentError, match="needs a background"):
        render(rgb, prob, ("background",), None)


def test_blur_replaces_only_the_background():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)
    prob = np.zeros((40, 40), np.float32)
    prob[:, :20] = 1.0
    out = composite(rgb, prob, parse_background("blur:3"))
    assert (out[:, :20] == rgb[:, :20]).all() and out[:, 25:].std() < rgb[:, 25:].std() / 2


def test_background_specs(tmp_path):
    assert parse_background("#ff8000").colour == (255, 128, 0)
    assert parse_background("10, 20, 30").colour == (10, 20, 30)
    assert parse_background("white").colour == (255, 255, 255)
    assert parse_background("blur").sigma is None
    cv2.imwrite(str(tmp_path / "bg.png"), np.zeros((3, 3, 3), np.uint8))
    assert parse_background(str(tmp_path / "bg.png")).kind == "image"
    for bad in ("blur:-1", "blur:x", "nowhere.jpg", "300,0,0"):
        with pytest.raises(SegmentError):
            parse_background(bad)


# -- many files ------------------------------------------------------------------------------------------------
def test_inputs_from_files_folders_and_globs(tmp_path):
    for name in ("a.jpg", "b.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.jpg").write_bytes(b"x")
    assert [p.name for p in expand_inputs([str(tmp_path)])] == ["a.jpg", "b.png"]
    assert [p.name for p in expand_inputs([str(tmp_path / "**" / "*.jpg")])] == ["a.jpg", "c.jpg"]
    assert [p.name for p in expand_inputs([str(tmp_path / "a.jpg"), str(tmp_path)])] == ["a.jpg", "b.png"]
    with pytest.raises(SegmentError, match="no such file"):
        expand_inputs([str(tmp_path / "missing.jpg")])
    with pytest.raises(SegmentError, match="matches no file"):
        expand_inputs([str(tmp_path / "*.gif")])
    (tmp_path / "sub" / "a.png").write_bytes(b"x")
    with pytest.raises(SegmentError, match="same outputs"):
        output_stems([tmp_path / "a.jpg", tmp_path / "sub" / "a.png"])


def test_an_unreadable_photo_is_skipped_and_the_rest_written(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i, shape in enumerate([(30, 50), (50, 30), (20, 20)]):
        cv2.imwrite(str(src / f"p{i}.png"), half_bright(*shape))
    (src / "p9.jpg").write_bytes(b"garbage")
    skipped = []
    outcome = segment_images(expand_inputs([str(src)]), BrightPredictor(), (32, 32), tmp_path / "out",
                             ("mask", "cutout", "background", "preview"), parse_background("blue"),
                             on_skip=lambda p, m: skipped.append(p.name), prefetch=2)
    assert skipped == ["p9.jpg"] and [p.name for p, _ in outcome.skipped] == ["p9.jpg"]
    assert len(outcome.written) == 12
    m = cv2.imread(str(tmp_path / "out" / "p1_mask.png"), cv2.IMREAD_UNCHANGED)
    assert m.shape == (50, 30) and set(np.unique(m)) == {0, 255} and m[:, :10].min() == 255
    assert cv2.imread(str(tmp_path / "out" / "p0_cutout.png"), cv2.IMREAD_UNCHANGED).shape == (30, 50, 4)
    assert cv2.imread(str(tmp_path / "out" / "p2_preview.jpg")).shape == (20, 60, 3)


# -- the command, with a real (tiny) trained run (the tiny_run fixture) ----------------------------------------
def test_segment_command_on_a_folder_with_a_broken_file(tiny_run, tmp_path):
    src = tmp_path / "photos"
    src.mkdir()
    rng = np.random.default_rng(1)
    cv2.imwrite(str(src / "wide.jpg"), rng.integers(0, 255, (45, 70, 3), dtype=np.uint8))
    cv2.imwrite(str(src / "grey.png"), rng.integers(0, 255, (60, 40), dtype=np.uint8))
    (src / "broken.png").write_bytes(b"\x89PNG broken")
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["segment", str(src), "--model", str(tiny_run), "--out", str(out), "--mask",
                                  "--background", "blur", "--no-progress"])
    assert r.exit_code == 1
    assert "broken.png: not a decodable image" in r.output and "1 of 3 inputs skipped" in r.output
    assert "2 photos segmented" in r.output
    assert sorted(p.name for p in out.iterdir()) == ["grey_background.jpg", "grey_mask.png", "wide_background.jpg",
                                                      "wide_mask.png"]
    assert cv2.imread(str(out / "wide_mask.png"), cv2.IMREAD_UNCHANGED).shape == (45, 70)


def test_segment_command_errors_are_one_line(tiny_run, tmp_path):
    r = CliRunner().invoke(main, ["segment", str(tmp_path / "nope.jpg"), "--model", str(tiny_run)])
    assert r.exit_code == 1 and "nope.jpg: no such file or folder" in r.output and "Traceback" not in r.output
    cv2.imwrite(str(tmp_path / "x.png"), np.zeros((8, 8, 3), np.uint8))
    r = CliRunner().invoke(main, ["segment", str(tmp_path / "x.png"), "--model", str(tmp_path)])
    assert r.exit_code == 1 and "no checkpoint" in r.output
    r = CliRunner().invoke(main, ["segment", str(tmp_path / "x.png"), "--model", str(tiny_run),
                                  "--background", "nothing-like-this"])
    assert r.exit_code == 1 and "not blur[:SIGMA], a colour" in r.output


def test_device_auto_runs_and_another_size_than_the_training_one_is_warned(tiny_run, tmp_path):
    from bench.segment.photos import load_segment_predictor
    from bench.segment.portrait import PortraitSegmenter

    cv2.imwrite(str(tmp_path / "x.png"), np.zeros((40, 30, 3), np.uint8))
    r = CliRunner().invoke(main, ["segment", str(tmp_path / "x.png"), "--model", str(tiny_run), "--device", "auto",
                                  "--size", "64", "--out", str(tmp_path / "o"), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert r.stderr.splitlines() == [f"warning: --size 64x64: {tiny_run} was trained at 32x32; its masks at another "
                                     "size are usually worse"]
    r = CliRunner().invoke(main, ["segment", str(tmp_path / "x.png"), "--model", str(tiny_run), "--size", "32",
                                  "--out", str(tmp_path / "o"), "--no-progress"])
    assert r.exit_code == 0 and r.stderr == ""
    with pytest.warns(UserWarning, match="was trained at 32x32"):
        PortraitSegmenter(load_segment_predictor(tiny_run), size=64)


def test_runs_and_onnx_models_go_through_the_project_runtime(tiny_run, tmp_path):
    from bench.segment.photos import load_segment_predictor

    predictor = load_segment_predictor(tiny_run)  # bench.deploy.runtime's eager predictor, sized by the run's training
    assert predictor.backend == "eager" and input_hw(predictor) == (32, 32)
    with pytest.raises(SegmentError, match="needs trained ones; did you mean elb-pfcn"):
        load_segment_predictor("elb")  # a registered name has no trained weights
    pytest.importorskip("onnxruntime")
    from bench.deploy.export import export_source

    onnx_path = export_source(tiny_run, tmp_path / "elb.onnx")  # at the run's 32x32
    predictor = load_segment_predictor(onnx_path)
    assert predictor.backend == "onnxruntime" and predictor.input_size == 32
    cv2.imwrite(str(tmp_path / "x.png"), np.zeros((40, 30, 3), np.uint8))
    r = CliRunner().invoke(main, ["segment", str(tmp_path / "x.png"), "--model", str(onnx_path), "--out",
                                  str(tmp_path / "o"), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert cv2.imread(str(tmp_path / "o" / "x_mask.png"), cv2.IMREAD_UNCHANGED).shape == (40, 30)
    # segment cannot calibrate an fp32 file: it says how to make an int8 one (segment has no --calib-data)
    r = CliRunner().invoke(main, ["segment", str(tmp_path / "x.png"), "--model", str(onnx_path), "--precision",
                                  "int8", "--out", str(tmp_path / "o8"), "--no-progress"])
    assert r.exit_code == 1 and not (tmp_path / "o8").exists()
    assert f"this .onnx file is not quantized; make one with `bench export --model {tiny_run} --precision int8 " \
           "--calib-data DATA" in r.stderr
    # a run on another back end and precision: int8 through onnxruntime, calibrated on the run's training images
    r = CliRunner().invoke(main, ["segment", str(tmp_path / "x.png"), "--model", str(tiny_run), "--backend",
                                  "onnxruntime", "--precision", "int8", "--out", str(tmp_path / "q"), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert cv2.imread(str(tmp_path / "q" / "x_mask.png"), cv2.IMREAD_UNCHANGED).shape == (40, 30)
    r = CliRunner().invoke(main, ["segment", "--version"])
    assert r.exit_code == 0 and r.output.startswith("segment, version")


def test_exif_jpeg_bytes_roundtrip_is_what_pillow_wrote():
    # guards the EXIF test above: Pillow really stores the orientation tag
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (4, 2)).save(buf, "JPEG", exif=exif.tobytes())
    assert Image.open(io.BytesIO(buf.getvalue())).getexif()[0x0112] == 6


def test_gallery_puts_model_and_peers_side_by_side(tiny_run, portrait_data, tmp_path):
    from bench.data.format import read_dataset

    ds = read_dataset(portrait_data)
    peer = tmp_path / "peer"
    peer.mkdir()
    for sid in ds.ids("test"):
        cv2.imwrite(str(peer / f"{sid}.png"), (ds.load_mask(sid) == 1).astype(np.uint8) * 255)
    out = tmp_path / "g.png"
    r = CliRunner().invoke(main, ["gallery", "--model", str(tiny_run), "--data", str(portrait_data), "--peer",
                                  f"Peer={peer}", "--count", "3", "--out", str(out)])
    assert r.exit_code == 0, r.output
    img = cv2.imread(str(out))
    assert img is not None and img.shape[1] > img.shape[0]  # 4 columns, 3 rows of near-square photos
    (peer / f"{ds.ids('test')[-1]}.png").unlink()
    r = CliRunner().invoke(main, ["gallery", "--model", str(tiny_run), "--data", str(portrait_data), "--peer",
                                  f"Peer={peer}", "--out", str(out)])
    assert r.exit_code == 1 and f"{ds.ids('test')[-1]}.png: missing (peer 'Peer')" in r.output
    r = CliRunner().invoke(main, ["gallery", "--model", str(tiny_run), "--data", str(portrait_data), "--peer", "x"])
    assert r.exit_code == 2 and "expected NAME=DIR" in r.output
