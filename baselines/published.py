"""The authors' published SINet and ExtremeC3Net weights, loaded into the models written here: the key maps stay with
the architectures; what else is known of the files (source, sha256, licence, the authors' preprocessing) is the
harness's (``bench.deploy.published``).

Nothing is downloaded and nothing of the authors' repository is copied here: a user passes the path of a file they
have. Both files are plain state dicts (name -> tensor), so
``torch.load(weights_only=True)`` reads them and no pickled code runs. Their names are the authors' module names;
``KEY_RULES`` maps them onto ours (prefix templates, ``{i}`` standing for a module index, read both ways), and every
key and shape is checked before anything is copied, so a wrong file fails with one line naming it.

ExtremeC3Net was released with one output (the Lovász hinge's portrait logit ``z``, portrait where ``z > 0``): it
loads into the 2-class model as the logits ``(0, z)``, whose softmax is ``sigmoid(z)`` and whose argmax is the
authors' decision.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from baselines.extremec3net import DILATIONS, ExtremeC3Net
from baselines.pretrained import read_state_dict
from baselines.sinet import SINet


class PublishedWeightsError(ValueError):
    """A published weights file that cannot be loaded (missing, unreadable, wrong keys or shapes)."""


@dataclass(frozen=True)
class PublishedLayout:
    """How a published file's tensors map onto the model written here: the rest of what is known of the file (where
    it is published, sha256, licence, how the authors feed a photo) is the harness's, ``bench.deploy.published``."""

    model: str  # the registry name
    outputs: int  # output channels of the released head
    key_rules: tuple[tuple[str, str], ...]  # (published prefix, our prefix), most specific first


def _s2_module_rules(published: str, ours: str) -> list[tuple[str, str]]:
    rules = [(f"{published}.c1.conv.", f"{ours}.reduce."), (f"{published}.BR.bn.", f"{ours}.bn."),
             (f"{published}.BR.act.", f"{ours}.act.")]
    for b in range(2):
        pub, our = f"{published}.d{b + 1}.", f"{ours}.branches.{b}."
        rules += [(pub + "conv.0.", our + "dw."), (pub + "conv.1.", our + "dw_bn."),
                  (pub + "act_conv1x1.0.", our + "act."), (pub + "act_conv1x1.1.", our + "pw."),
                  (pub + "bn.", our + "bn.")]
    return rules


def _se_downsampler_rules(published: str, ours: str) -> list[tuple[str, str]]:
    return [(f"{published}.conv.0.", f"{ours}.dw."), (f"{published}.conv.1.dense.", f"{ours}.se.layers."),
            (f"{published}.conv.2.", f"{ours}.pw."), (f"{published}.bn.", f"{ours}.bn."),
            (f"{published}.act.", f"{ours}.act.")]


SINET_RULES = (
    ("encoder.level1.", "stem."),
    *_se_downsampler_rules("encoder.level2_0", "down2"),
    *_s2_module_rules("encoder.level2.{i}", "stage2.{i}"),
    ("encoder.BR2.", "merge2."),
    *_se_downsampler_rules("encoder.level3_0", "down3"),
    *_s2_module_rules("encoder.level3.{i}", "stage3.{i}"),
    ("encoder.BR3.", "merge3."),
    ("encoder.classifier.conv.", "coarse_head."),
    ("bn_3.", "coarse_bn."),
    ("level2_C.", "skip_head."),
    ("bn_2.", "fine_bn."),
    ("classifier.1.", "head."),
)


def _c3_module_rules(published: str, ours: str, dilations: tuple[int, ...], br: str) -> list[tuple[str, str]]:
    """An advanced C3 module; the authors' branch layers are numbered, and their numbering depends on the dilation."""
    rules = [(f"{published}.c1.conv.", f"{ours}.reduce."), (f"{published}.{br}bn.", f"{ours}.bn."),
             (f"{published}.{br}act.", f"{ours}.act.")]
    for b, d in enumerate(dilations):
        pub, our = f"{published}.d{b + 1}.conv.", f"{ours}.branches.{b}."
        names = ("sep_v", "bn_v", "act_v", "sep_h", "bn_h", "dw", "pw") if d > 1 else ("dw", "pw")
        rules += [(f"{pub}{n}.", f"{our}{name}.") for n, name in enumerate(names)]
    return rules


EXTREMEC3_RULES = (
    ("encoder.level1.", "stem."),
    ("encoder.b1.", "merge1."),
    *_c3_module_rules("encoder.level2_0", "down2", DILATIONS["down2"], br=""),
    *_c3_module_rules("encoder.level2.{i}", "stage2.{i}", DILATIONS["stage2"], br="bn."),
    ("encoder.b2.", "merge2."),
    *_c3_module_rules("encoder.level3_0", "project3", DILATIONS["project3"], br="bn."),
    *_c3_module_rules("encoder.level3.{i}", "stage3.{i}", DILATIONS["stage3"], br="bn."),
    ("encoder.b3.", "merge3."),
    ("upsample.0.", "coarse_proj."),
    ("upsample.1.", "coarse_bn."),
    ("Fine.0.conv.", "fine_conv."),
    *_c3_module_rules("Fine.1", "fine_block", DILATIONS["fine"], br="bn."),
    ("classifier.0.", "head_norm."),
    ("classifier.2.", "head."),
)

LAYOUTS: dict[str, PublishedLayout] = {
    "sinet": PublishedLayout("sinet", outputs=2, key_rules=SINET_RULES),
    "extremec3net": PublishedLayout("extremec3net", outputs=1, key_rules=EXTREMEC3_RULES),
}
_FACTORIES = {"sinet": SINet, "extremec3net": ExtremeC3Net}
HEAD_KEY = "head.weight"  # our final classifier, the one a single-logit head is widened into


def _template_regex(template: str) -> re.Pattern[str]:
    return re.compile(re.escape(template).replace(re.escape("{i}"), r"(?P<i>\d+)"))


def rename_key(key: str, rules: tuple[tuple[str, str], ...], to_published: bool = False) -> str | None:
    """``key`` renamed by the first rule whose prefix it starts with (ours -> published when ``to_published``);
    ``None`` when no rule applies."""
    for published, ours in rules:
        source, target = (ours, published) if to_published else (published, ours)
        m = _template_regex(source).match(key)
        if m:
            return target.replace("{i}", m.group("i") if "{i}" in source else "") + key[m.end():]
    return None


def _listing(keys: list[str]) -> str:
    return f"{keys[:3]}{' ...' if len(keys) > 3 else ''} ({len(keys)})"


def load_published(path: str | os.PathLike[str], name: str, num_classes: int = 2) -> nn.Module:
    """The model ``name`` ("sinet" or "extremec3net") in eval mode with the published weights at ``path``.

    Every published key must map onto one of ours and every one of ours must be in the file (a missing one is named
    by its published name; ``num_batches_tracked`` buffers, absent from older files, keep their value). Shapes must
    agree, except that a single-logit head widens into two logits ``(0, z)``. Anything else raises
    ``PublishedWeightsError`` naming the file and the key. That the file is the published one byte for byte is the
    harness's check (``bench.deploy.published``), with the sha256 recorded here.
    """
    path = Path(path)
    spec = LAYOUTS[name]
    state = read_state_dict(path, PublishedWeightsError, "published weights")
    model = _FACTORIES[name](num_classes=num_classes)
    own = model.state_dict()
    renamed = [(rename_key(k, spec.key_rules), k) for k in state]
    targets = [ours for ours, _ in renamed]
    unexpected = sorted(k for ours, k in renamed if ours is None or ours not in own or targets.count(ours) > 1)
    missing = sorted(rename_key(k, spec.key_rules, to_published=True) or k
                     for k in own if k not in targets and not k.endswith("num_batches_tracked"))
    if unexpected or missing:
        raise PublishedWeightsError(
            f"{path}: keys do not match the published {name}: unexpected {_listing(unexpected)}, "
            f"missing {_listing(missing)}"
        )
    mapped = {}
    for ours, key in renamed:
        value, expected = state[key], own[ours].shape
        if ours == HEAD_KEY and value.shape[0] == 1 and expected[0] == 2 and value.shape[1:] == expected[1:]:
            value = torch.cat([torch.zeros_like(value), value])  # one logit z -> two logits (0, z)
        if value.shape != expected:
            raise PublishedWeightsError(
                f"{path}: shape mismatch for {key!r} ({ours!r} here): file has {tuple(value.shape)}, "
                f"{name} expects {tuple(expected)}"
            )
        mapped[ours] = value
    model.load_state_dict({**own, **mapped})
    return model.eval()
