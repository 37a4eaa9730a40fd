"""bench.data.augment: the robustness stages keep photo and mask aligned, repeat from a seed, stay off by default
(today's pipeline byte for byte), and are recorded in a run's config.json and identity; the robust profile loads."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from bench.data.augment import (
    GEOMETRIC,
    STAGES,
    Augment,
    adjust_brightness_contrast,
    affine,
    augment_sample,
    make_augment,
    reframe,
)
from bench.data.pipeline import PortraitTorchDataset, sample_rng
from bench.runall.profile import ProfileError, load_profile
from bench.runs.folder import RESULT_FIELDS, RunConfig
from bench.train.config import TrainConfig, TrainError

S = 64
OFF = {f"p_{s}": 0.0 for s in STAGES}


def disc(cx: float = 40, cy: float = 28, r: float = 12) -> tuple[np.ndarray, np.ndarray]:
    """A white disc on a dark textured ground, its mask the disc: the photo says where the mask should be."""
    yy, xx = np.mgrid[:S, :S]
    mask = ((xx - cx) ** 2 + (yy - cy) ** 2 < r * r).astype(np.uint8)
    rgb = np.random.default_rng(1).integers(0, 60, (S, S, 3), dtype=np.uint8)
    rgb[mask == 1] = (230, 200, 180)
    return rgb, mask


def run(a: Augment, rgb, mask, key=(0, 0, 0)):
    return augment_sample(a, rgb, mask, sample_rng(*key), key)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_the_defaults_are_todays_pipeline_byte_for_byte():
    rgb, mask = disc()
    for key in [(0, 0, i) for i in range(8)] + [(3, 7, 2)]:
        rng = sample_rng(*key)  # the pipeline as it was: three draws, flip, brightness then contrast
        flip, b, c = rng.random(), rng.uniform(0.8, 1.2), rng.uniform(0.8, 1.2)
        r0, m0 = (rgb[:, ::-1], mask[:, ::-1]) if flip < 0.5 else (rgb, mask)
        x, m = run(Augment(), rgb, mask, key)
        assert x.tobytes() == adjust_brightness_contrast(r0, b, c).tobytes() and m.tobytes() == m0.tobytes()
        # ranges of stages that are off change nothing
        assert run(Augment(scale=(0.5, 2.0), jpeg_quality=(5.0, 10.0)), rgb, mask, key)[0].tobytes() == x.tobytes()


def test_geometric_jitter_moves_the_mask_with_the_disc():
    rgb, mask = disc()
    out, m = affine(rgb, mask, 1.2, 25.0, -0.2, 0.15)
    assert iou(m == 1, mask == 1) < 0.5  # it moved
    assert iou(m == 1, out[..., 0] > 120) > 0.9  # and the bright disc moved with it
    assert set(np.unique(m)) <= {0, 1}  # reflected borders: labels, never holes
    a = Augment(hflip=0.0, brightness=(1, 1), contrast=(1, 1), p_affine=1.0)
    for i in range(6):
        x, m = run(a, rgb, mask, (0, 0, i))
        assert iou(m == 1, x[..., 0] > 120) > 0.9


def test_framing_shrinks_and_moves_the_subject_over_a_room_without_a_person():
    rgb, mask = disc(cx=32, cy=40, r=14)
    out, m = reframe(rgb, mask, 0.5, 0.5, 0.25)
    assert out.shape == rgb.shape and set(np.unique(m)) <= {0, 1}
    area = (mask == 1).sum() * 0.5 * 0.25  # half the height, a quarter of the width
    assert abs((m == 1).sum() - area) < 0.15 * area
    ys, xs = np.nonzero(m == 1)
    assert xs.mean() < S / 2 - 8 and ys.mean() > 40  # to the left, lower: its bottom edge stays on the frame's
    assert iou(m == 1, out[..., 0] > 120) > 0.8  # the bright disc is where the mask says
    assert (out[m == 0][..., 0] > 120).mean() < 0.02  # and nowhere else: the room around it holds no person
    a = Augment(hflip=0.0, brightness=(1, 1), contrast=(1, 1), p_frame=1.0)
    for i in range(6):
        x, m = run(a, rgb, mask, (0, 0, i))
        assert (m == 1).sum() < (mask == 1).sum() and iou(m == 1, x[..., 0] > 120) > 0.8
    # framing has its own generator: an identity framing leaves what the other stages draw, and so the bytes, as
    # they were without it (the robust recipe trained before it existed repeats exactly)
    jitter = Augment(p_affine=1.0, p_noise=1.0, p_jpeg=1.0)
    identity = replace(jitter, p_frame=1.0, frame_height=(1.0, 1.0), frame_narrow=(1.0, 1.0), frame_centre=(0.5, 0.5))
    for key in [(0, 0, 0), (2, 5, 3)]:
        assert [v.tobytes() for v in run(jitter, rgb, mask, key)] == [v.tobytes() for v in run(identity, rgb, mask,
                                                                                               key)]


@pytest.mark.parametrize("stage", [s for s in STAGES if s not in GEOMETRIC])
def test_each_photometric_stage_changes_the_photo_and_keeps_the_mask(stage):
    rgb, mask = disc()
    # lengths are pixels at 800 px and scale with the photo: a 64 px photo needs a long one to show
    base = Augment(hflip=0.0, brightness=(1, 1), contrast=(1, 1), blur_sigma=(24.0, 24.0))
    x0, _ = run(base, rgb, mask)
    x, m = run(replace(base, **{f"p_{stage}": 1.0}), rgb, mask)
    assert x.dtype == np.float32 and x.shape == rgb.shape and m.tobytes() == mask.tobytes()
    assert not np.array_equal(x, x0)


def test_a_seed_reproduces_the_bytes_and_stages_draw_independently():
    rgb, mask = disc()
    a = make_augment(load_profile("robust").train["augment"])
    first = [run(a, rgb, mask, (5, 2, i)) for i in range(4)]
    again = [run(a, rgb, mask, (5, 2, i)) for i in range(4)]
    assert [(x.tobytes(), m.tobytes()) for x, m in first] == [(x.tobytes(), m.tobytes()) for x, m in again]
    assert run(a, rgb, mask, (5, 3, 0))[0].tobytes() != first[0][0].tobytes()  # another epoch, other draws
    only_affine = replace(a, **{**OFF, "p_affine": 1.0})
    with_jpeg = replace(only_affine, p_jpeg=1.0)
    assert run(only_affine, rgb, mask)[1].tobytes() == run(with_jpeg, rgb, mask)[1].tobytes()


def test_the_dataset_serves_the_recipe(portrait_data):
    a = Augment(p_affine=1.0, p_noise=1.0)
    ds = PortraitTorchDataset(portrait_data, "train", 32, a, seed=0, weights=True)
    item = ds[0]
    assert item["image"].shape == (3, 32, 32) and item["weight"].shape == (32, 32)
    assert ds.arrays(1)[0].tobytes() == ds.arrays(1)[0].tobytes()


def test_settings_are_canonical_checked_and_part_of_the_identity():
    assert "augment" in RESULT_FIELDS
    assert TrainConfig(model="elb", data="d").augment is None
    assert TrainConfig(model="elb", data="d", augment={"hflip": 0.5, "brightness": [0.8, 1.2]}).augment is None
    cfg = TrainConfig(model="elb", data="d", augment={"p_jpeg": 0.3, "contrast": (0.6, 1.4)})
    assert cfg.augment == {"contrast": [0.6, 1.4], "p_jpeg": 0.3}
    with pytest.raises(TrainError, match="unknown augment setting 'p_jpg'"):
        TrainConfig(model="elb", data="d", augment={"p_jpg": 0.3})
    with pytest.raises(TrainError, match="p_blur is a probability"):
        TrainConfig(model="elb", data="d", augment={"p_blur": 2})
    record = {**{k: None for k in RESULT_FIELDS}, "model": "elb", "size": 32, "dataset": {"name": "x"}}
    old = {k: v for k, v in record.items() if k != "augment"}  # a record from before these stages
    wanted = {k: record[k] for k in RESULT_FIELDS if k != "data"}
    execution = {"device_type": None, "amp": None, "data_format": "folder"}
    assert RunConfig.from_dict(old).same_result({**wanted, **execution}, "x")
    assert not RunConfig.from_dict(old).same_result({**wanted, "augment": cfg.augment, **execution}, "x")


def test_the_run_records_its_augmentation_and_refuses_another_on_resume(portrait_data, tmp_path):
    from bench.train.loop import train

    aug = {"p_affine": 1.0, "p_noise": 0.5}
    small = dict(model="elb", data=str(portrait_data), out=str(tmp_path / "r"), epochs=2, batch_size=4, size=32,
                 workers=0, progress=False, max_iters_per_epoch=1)
    run_dir = train(TrainConfig(**small, augment=aug), stop_after_epoch=1)
    cfg = json.loads((run_dir / "config.json").read_text())
    assert cfg["augment"] == {"p_affine": 1.0, "p_noise": 0.5}
    assert cfg["augmentation"]["p_affine"] == 1.0 and cfg["augmentation"]["scale"] == [0.75, 1.25]
    with pytest.raises(TrainError, match="augment"):
        train(TrainConfig(**small, augment={"p_affine": 1.0}, resume=True))


def test_the_robust_profile_loads_and_a_typo_is_refused_in_one_line(tmp_path):
    robust, cpu = load_profile("robust"), load_profile("cpu")
    assert robust.models == ["elb"] and not robust.ablation
    assert {k: v for k, v in robust.train.items() if k != "augment"} == cpu.train  # the cpu recipe, plus augmentation
    assert make_augment(robust.train["augment"]).extra == tuple(s for s in STAGES if s != "frame")
    framed = load_profile("robust-frame")  # the robust recipe plus framing, nothing else
    assert make_augment(framed.train["augment"]).extra == STAGES
    assert {k: v for k, v in framed.train["augment"].items() if not k.startswith(("p_frame", "frame_"))} == \
           robust.train["augment"] and {k: v for k, v in framed.train.items() if k != "augment"} == cpu.train
    bad = tmp_path / "typo.toml"
    bad.write_text('[train]\nsize = 256\n[train.augment]\np_jepg = 0.3\n')
    with pytest.raises(ProfileError, match=r"typo.toml: \[train\] unknown augment setting 'p_jepg'") as e:
        load_profile(str(bad))
    assert "\n" not in str(e.value)


def test_a_clean_tail_turns_the_extra_stages_off_after_its_epochs():
    rgb, mask = disc()
    a = make_augment({"p_affine": 1.0, "p_noise": 1.0, "extra_epochs": 2})
    paper = replace(a, p_affine=0.0, p_noise=0.0, extra_epochs=0)
    for epoch in (0, 1):  # the first two epochs (counted from 0) are augmented as without a tail
        assert run(a, rgb, mask, (0, epoch, 3))[0].tobytes() == run(replace(a, extra_epochs=0), rgb, mask,
                                                                     (0, epoch, 3))[0].tobytes()
    x, m = run(a, rgb, mask, (0, 2, 3))  # from epoch 2: the paper's stages, the same draws
    x0, m0 = run(paper, rgb, mask, (0, 2, 3))
    assert x.tobytes() == x0.tobytes() and m.tobytes() == m0.tobytes()
    with pytest.raises(TrainError, match="extra_epochs is a whole number"):
        TrainConfig(model="elb", data="d", augment={"extra_epochs": -1})
    tail = load_profile("robust-tail")  # robust-frame plus the tail, nothing else
    assert {k: v for k, v in tail.train["augment"].items() if k != "extra_epochs"} == \
           load_profile("robust-frame").train["augment"] and tail.train["augment"]["extra_epochs"] == 25
