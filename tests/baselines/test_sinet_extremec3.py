"""SINet and ExtremeC3Net: the registry contract, the published complexity, and the published weights' key map.

The checkpoints here are built from random tensors under the published key names; the real files are not needed.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pytest
import torch

from baselines.extremec3net import ExtremeC3Net
from baselines.published import LAYOUTS, PublishedWeightsError, load_published, rename_key
from baselines.sinet import SINet
from bench.deploy.published import PUBLISHED
from bench.registry import build_model
from bench.speed.complexity import count_gmacs, count_params, measure

MODELS = ("sinet", "extremec3net")
# name -> (params, GMACs at 224x224) as published (the papers and the source README), 2 classes for SINet and the
# released single logit for ExtremeC3Net.
PAPER = {"sinet": (0.087e6, 0.064), "extremec3net": (0.038e6, 0.128)}
TOLERANCE = 0.10
# The real files' key listing ("key:shape" lines, sorted), its sha256 and length: what the map must reproduce.
PUBLISHED_LISTING = {
    "sinet": ("3de42e9b03f81ba94c774e8c936c2ee45cb276bad06f1571f61696d3e0a5df86", 393),
    "extremec3net": ("448a05a6f7bf785be3fa104e53559e7379c354cb6c25138de13af7ed5cc50288", 405),
}
# A sample of the published names and shapes, read from the files.
PUBLISHED_KEYS = {
    "sinet": {
        "encoder.level2_0.conv.1.dense.0.weight": (12, 12),
        "encoder.level3.3.d1.act_conv1x1.1.weight": (48, 48, 1, 1),
        "encoder.level3.7.d2.conv.0.weight": (48, 1, 5, 5),
        "encoder.BR3.act.weight": (144,),
        "level2_C.conv.weight": (2, 48, 1, 1),
        "classifier.1.weight": (2, 2, 3, 3),
    },
    "extremec3net": {
        "encoder.level2_0.c1.conv.weight": (16, 27, 3, 3),
        "encoder.level2_0.d3.conv.0.weight": (16, 1, 5, 1),
        "encoder.level3.4.d3.conv.3.weight": (18, 1, 1, 15),
        "encoder.level3_0.d1.conv.1.weight": (20, 18, 1, 1),
        "Fine.1.bn.act.weight": (24,),
        "upsample.1.running_var": (24,),
        "classifier.2.weight": (1, 24, 1, 1),
    },
}
FACTORIES = {"sinet": SINet, "extremec3net": ExtremeC3Net}


def _listing_digest(state: dict[str, torch.Tensor]) -> str:
    lines = "\n".join(f"{k}:{tuple(v.shape)}" for k, v in sorted(state.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


def _published_state(name: str, seed: int = 5) -> dict[str, torch.Tensor]:
    """Random tensors under the published names, laid out as the released file (ExtremeC3Net: one logit, and no
    ``num_batches_tracked``, as the file was written by an older torch)."""
    torch.manual_seed(seed)
    model = FACTORIES[name](num_classes=LAYOUTS[name].outputs)
    state = {}
    for key, value in model.state_dict().items():
        if name == "extremec3net" and key.endswith("num_batches_tracked"):
            continue
        if key.endswith("running_var"):
            value = torch.rand_like(value) + 0.5
        elif value.is_floating_point():
            value = torch.randn_like(value) * 0.3
        state[rename_key(key, LAYOUTS[name].key_rules, to_published=True)] = value
    return state


@pytest.mark.parametrize("name", MODELS)
def test_contract_shapes_in_eval_and_train_mode(name: str) -> None:
    model = build_model(name)
    assert not getattr(model, "aux_losses", {})  # the papers' boundary term lies on the main output
    with torch.no_grad():
        for h, w in ((224, 224), (96, 160)):
            assert model.eval()(torch.randn(1, 3, h, w)).shape == (1, 2, h, w)
            assert model.train()(torch.randn(2, 3, h, w)).shape == (2, 2, h, w)


def test_sinet_refuses_sides_not_divisible_by_32() -> None:
    with pytest.raises(ValueError, match="SINet needs input sides divisible by 32, got 80x64"):
        build_model("sinet").eval()(torch.zeros(1, 3, 80, 64))


@pytest.mark.parametrize("name", MODELS)
def test_complexity_within_ten_percent_of_the_papers(name: str) -> None:
    params, gmacs = PAPER[name]
    for model in (build_model(name), FACTORIES[name](num_classes=LAYOUTS[name].outputs)):
        assert abs(count_params(model) - params) <= TOLERANCE * params
        assert abs(count_gmacs(model, (224, 224)) - gmacs) <= TOLERANCE * gmacs
    assert measure(name, 224).params == count_params(build_model(name))


@pytest.mark.parametrize("name", MODELS)
def test_key_map_reproduces_the_published_names_and_reads_both_ways(name: str) -> None:
    rules = LAYOUTS[name].key_rules
    state = _published_state(name)
    assert (_listing_digest(state), len(state)) == PUBLISHED_LISTING[name]
    assert {k: tuple(state[k].shape) for k in PUBLISHED_KEYS[name]} == PUBLISHED_KEYS[name]
    for key in state:
        assert rename_key(rename_key(key, rules), rules, to_published=True) == key


@pytest.mark.parametrize("name", MODELS)
def test_published_checkpoint_loads_with_its_values(name: str, tmp_path) -> None:
    state = _published_state(name)
    path = tmp_path / f"{name}.pth"
    torch.save(state, path)
    model = load_published(path, name)
    assert not model.training
    own = model.state_dict()
    rules = LAYOUTS[name].key_rules
    for key, value in state.items():
        ours = own[rename_key(key, rules)]
        if ours.shape == value.shape:
            assert torch.equal(ours, value), key
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 64))
    assert out.shape == (1, 2, 64, 64) and torch.isfinite(out).all()


def test_single_logit_head_loads_as_two_logits_with_the_same_decision(tmp_path) -> None:
    state = _published_state("extremec3net")
    path = tmp_path / "ExtremeC3.pth"
    torch.save(state, path)
    one = load_published(path, "extremec3net", num_classes=1)
    two = load_published(path, "extremec3net")
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        z, logits = one(x)[:, 0], two(x)
    assert torch.equal(logits[:, 0], torch.zeros_like(z))
    torch.testing.assert_close(logits[:, 1], z)
    assert torch.equal(logits.argmax(1), (z > 0).long())


@pytest.mark.parametrize("name", MODELS)
def test_missing_or_unexpected_key_fails_naming_the_file(name: str, tmp_path) -> None:
    state = _published_state(name)
    dropped = next(k for k in state if k.endswith("weight"))
    path = tmp_path / "missing.pth"
    torch.save({k: v for k, v in state.items() if k != dropped}, path)
    expected = rf"^{re.escape(str(path))}: keys do not match .*missing \['{re.escape(dropped)}'\]"
    with pytest.raises(PublishedWeightsError, match=expected) as e:
        load_published(path, name)
    assert "\n" not in str(e.value)
    path = tmp_path / "unexpected.pth"
    torch.save({**state, "encoder.extra.weight": torch.zeros(3)}, path)
    with pytest.raises(PublishedWeightsError, match=rf"^{re.escape(str(path))}: .*unexpected \['encoder\.extra\."):
        load_published(path, name)


@pytest.mark.parametrize("name", MODELS)
def test_shape_mismatch_fails_naming_file_and_key(name: str, tmp_path) -> None:
    state = _published_state(name)
    key = next(k for k in state if k.endswith("conv.weight"))
    state[key] = torch.zeros(3, 3, 3, 3)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(PublishedWeightsError, match=rf"^{re.escape(str(path))}: shape mismatch for '{key}'"):
        load_published(path, name)


def test_unreadable_or_foreign_files_and_a_wrong_sha256_fail_naming_the_file(tmp_path) -> None:
    with pytest.raises(PublishedWeightsError, match="not found"):
        load_published(tmp_path / "absent.pth", "sinet")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(PublishedWeightsError, match=rf"^{re.escape(str(junk))}: not a readable torch"):
        load_published(junk, "sinet")
    listed = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], listed)
    with pytest.raises(PublishedWeightsError, match=rf"^{re.escape(str(listed))}: expected a state dict"):
        load_published(listed, "sinet")
    path = tmp_path / "SINet.pth"
    torch.save(_published_state("sinet"), path)
    from bench.deploy.published import PublishedError, load_published_model

    expected = rf"^{re.escape(str(path))}: sha256 .* not the published result/SINet/SINet.pth"
    with pytest.raises(PublishedError, match=expected):
        load_published_model(path, "sinet")
    assert load_published_model(path, "sinet", verify_sha256=False).training is False


def test_published_facts_are_recorded() -> None:
    for name, spec in PUBLISHED.items():
        assert spec.model == name and len(spec.sha256) == 64 and len(spec.commit) == 40
        assert spec.licence.startswith("MIT") and "clovaai/ext_portrait_segmentation" in spec.source
        p = spec.preprocessing
        assert p.size == (224, 224) and p.channel_order == "BGR" and p.post_scale == pytest.approx(1 / 255)


@pytest.mark.parametrize("name", ["sinet", "extremec3net"])
def test_the_harness_sees_a_photo_as_the_authors_code_does(name: str) -> None:
    import cv2

    from bench.deploy.published import published_preprocess

    p = PUBLISHED[name].preprocessing
    rgb = np.random.default_rng(1).integers(0, 256, (80, 60, 3), dtype=np.uint8)
    ours, _ = published_preprocess(name).batch([rgb])
    # the authors' order: BGR, normalise on the 0-255 scale, resize the float photo, divide by 255
    theirs = (rgb[..., ::-1].astype(np.float32) - np.float32(p.mean)) / np.float32(p.std)
    theirs = cv2.resize(theirs, p.size[::-1], interpolation=cv2.INTER_LINEAR) * np.float32(p.post_scale)
    step = 1.0 / (min(p.std) * 255.0)  # one grey level of the photo, in network units
    assert ours.shape == (1, 3, *p.size)
    assert np.abs(ours[0].transpose(1, 2, 0) - theirs).max() <= step  # only the resized photo's rounding differs
