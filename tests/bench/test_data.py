"""bench.data.pipeline: the training augmentation, its seeding and the boundary weights of the final mask."""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader

from bench.data.augment import Augment, adjust_brightness_contrast
from bench.data.format import read_dataset
from bench.data.pipeline import (
    PortraitTorchDataset,
    holdout_ids,
    sample_rng,
    worker_init,
)
from bench.data.preprocess import IMAGENET_MEAN, IMAGENET_STD, resize_image, resize_mask
from elb.boundary import boundary_weight_map


def test_same_seed_epoch_index_gives_the_same_sample(portrait_data):
    a = PortraitTorchDataset(portrait_data, "train", 32, Augment(), seed=3, weights=True)
    b = PortraitTorchDataset(portrait_data, "train", 32, Augment(), seed=3, weights=True)
    for ds in (a, b):
        ds.set_epoch(2)
    for i in range(len(a)):
        x, y = a[i], b[i]
        assert all(torch.equal(x[k], y[k]) for k in ("image", "mask", "weight"))
    a.set_epoch(3)
    assert any(not torch.equal(a[i]["image"], b[i]["image"]) for i in range(len(a)))


def test_batches_do_not_depend_on_the_worker_count(portrait_data):
    ds = PortraitTorchDataset(portrait_data, "train", 32, Augment(), seed=1, weights=True)
    ds.set_epoch(1)
    batches = []
    # OpenCV's thread pool running in the parent before the fork once made worker_init hang the workers
    cv2.resize(np.zeros((800, 600, 3), np.uint8), (512, 512), interpolation=cv2.INTER_AREA)
    for workers in (0, 2):
        loader = DataLoader(ds, batch_size=4, shuffle=False, num_workers=workers,
                            worker_init_fn=worker_init if workers else None, timeout=60 if workers else 0)
        batches.append(list(loader))
    for b0, b2 in zip(*batches, strict=True):
        for k in ("image", "mask", "weight"):
            assert torch.equal(b0[k], b2[k])


def test_sample_is_flip_of_resize_with_jitter_and_weights_of_the_final_mask(portrait_data):
    data = read_dataset(portrait_data)
    ds = PortraitTorchDataset(data, "test", 32, Augment(), seed=0, weights=True)  # test masks hold ignore pixels
    seen_flip = seen_plain = False
    for epoch in range(6):
        ds.set_epoch(epoch)
        for i, sid in enumerate(ds.ids):
            rng = sample_rng(0, epoch, i)
            flip, b, c = rng.random(), rng.uniform(0.8, 1.2), rng.uniform(0.8, 1.2)
            assert 0.8 <= b <= 1.2 and 0.8 <= c <= 1.2
            mask = resize_mask(data.load_mask(sid), 32)
            rgb = adjust_brightness_contrast(resize_image(data.load_image(sid), 32), b, c)
            if flip < 0.5:
                mask, rgb = mask[:, ::-1], rgb[:, ::-1]
                seen_flip = True
            else:
                seen_plain = True
            item = ds[i]
            assert np.array_equal(item["mask"].numpy(), mask)
            np.testing.assert_array_equal(item["weight"].numpy(), boundary_weight_map(np.ascontiguousarray(mask)))
            expected = (rgb / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
            np.testing.assert_allclose(item["image"].numpy().transpose(1, 2, 0), expected, atol=1e-5)
    assert seen_flip and seen_plain
    assert (item["weight"][item["mask"] == 255] == 0).all() and (item["mask"] == 255).any()


def test_eval_transform_is_resize_and_normalise_only(portrait_data):
    data = read_dataset(portrait_data)
    ds = PortraitTorchDataset(data, "test", 48)
    item = ds[0]
    assert "weight" not in item and item["image"].shape == (3, 48, 48) and item["mask"].dtype == torch.int64
    rgb = resize_image(data.load_image(ds.ids[0]), 48).astype(np.float32)
    np.testing.assert_allclose(item["image"].numpy().transpose(1, 2, 0),
                               (rgb / 255.0 - IMAGENET_MEAN) / IMAGENET_STD, atol=1e-5)
    assert np.array_equal(item["mask"].numpy(), resize_mask(data.load_mask(ds.ids[0]), 48))


def test_brightness_and_contrast_by_hand():
    rgb = np.array([[[100, 100, 100], [200, 200, 200]]], np.uint8)
    out = adjust_brightness_contrast(rgb, 1.1, 1.0)
    np.testing.assert_allclose(out[0, :, 0], [110, 220], rtol=1e-6)
    out = adjust_brightness_contrast(rgb, 1.0, 0.5)  # grey mean 150: values pulled half-way to it
    np.testing.assert_allclose(out[0, :, 0], [125, 175], rtol=1e-5)
    out = adjust_brightness_contrast(np.array([[[100, 230, 250]]], np.uint8), 1.2, 1.0)
    np.testing.assert_allclose(out[0, 0], [120, 255, 255], rtol=1e-6)  # clipped at 255


def test_cached_samples_equal_streamed_ones(portrait_data):
    streamed = PortraitTorchDataset(portrait_data, "train", 32, Augment(), seed=2, weights=True)
    cached = PortraitTorchDataset(portrait_data, "train", 32, Augment(), seed=2, weights=True, cache=True)
    for epoch in (0, 1):
        streamed.set_epoch(epoch)
        cached.set_epoch(epoch)
        for i in range(len(streamed)):
            a, b = streamed[i], cached[i]
            assert all(torch.equal(a[k], b[k]) for k in ("image", "mask", "weight"))
    # augmentation never writes into the cache: a sample drawn twice in one epoch is the same both times
    first = cached[0]["image"].clone()
    cached[0]
    assert torch.equal(cached[0]["image"], first)


def test_holdout_depends_only_on_the_ids_and_the_fraction():
    ids = [f"{i:05d}" for i in range(2000)]
    train, val = holdout_ids(ids, 0.15)
    assert sorted(train + val) == ids and not set(train) & set(val)
    assert 0.12 < len(val) / len(ids) < 0.18
    train2, val2 = holdout_ids(list(reversed(ids[:1000])), 0.15)  # order and a smaller list do not move an id
    assert set(val2) == set(val) & set(ids[:1000])
    assert holdout_ids(ids, 0.0) == (ids, [])


def test_probability_is_the_sigmoid_in_float32_and_leaves_the_logit_alone():
    from bench.data.preprocess import probability

    logit = np.array([[-1e4, -3.0, 0.0], [2.0, 40.0, 1e4]], np.float32)
    kept = logit.copy()
    with np.errstate(all="raise"):
        p = probability(logit)
    assert p.dtype == np.float32 and np.array_equal(logit, kept)
    np.testing.assert_allclose(p, 1.0 / (1.0 + np.exp(-np.clip(logit, -600, 600).astype(np.float64))), atol=1e-6)
    assert p[0, 0] == 0.0 and p[0, 2] == 0.5 and p[1, 2] == 1.0
