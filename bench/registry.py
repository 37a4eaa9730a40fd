"""The model registry: names -> constructors, in the style of timm's registry.

The contract every registered model follows, so the harness trains, times and counts them all the same way:

* Input (N, 3, H, W) float, ImageNet-normalised RGB.
* ``model.eval()``: ``forward`` returns one tensor, (N, num_classes, H, W) logits at the input size.
* ``model.train()``: ``forward`` returns either that tensor, or a ``dict`` with the main logits under ``"out"`` and
  one entry per auxiliary output (logits at any resolution). The model then has an attribute
  ``aux_losses: dict[str, tuple[str, float]]`` mapping each auxiliary key to ``(kind, weight)``, where ``kind`` is

  - ``"mask"``: cross-entropy against the segmentation target resized (nearest) to that output's size
    (ICNet's cascade labels, BiSeNet's auxiliary heads);
  - ``"boundary"``: PortraitNet's boundary loss (focal loss, gamma 2) against the mask's boundary band.

  The total loss is ``main_loss + sum(weight * aux_loss)`` with the weights each model's paper uses
  (``bench.train.losses`` computes it).

Constructors take ``num_classes`` and keyword options; they are imported lazily so that listing the registry does not
import every model. How to add one: ``docs/models.md``.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass

from torch import nn

from bench.defaults import NUM_CLASSES
from bench.errors import InputSizeError, UnknownModelError


@dataclass(frozen=True)
class ModelSpec:
    name: str
    factory: str  # "module:callable"
    paper_name: str
    default_loss: str  # one of bench.train.config.MAIN_LOSSES: the loss the model's own paper or release trains with
    stride: int = 8  # the input side must be a multiple of this (the model's total downsampling)
    # Whether training on a CPU may use channels-last. ExtremeC3Net's may not: in channels-last with bf16 its first
    # training step at batch 16 and 256 px did not finish in 5 minutes on a 2-core Xeon, against 1.7 s contiguous.
    cpu_channels_last: bool = True


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("elb", "elb.model:elb", "ELB (ours)", "adaptive"),  # BFB channel reduction 2 (DR2)
        ModelSpec("elb-dr4", "elb.model:elb_dr4", "BFB-DR4", "adaptive"),  # BFB channel reduction 4
        ModelSpec("erfnet", "baselines.erfnet:ERFNet", "ERFNet", "ce"),
        ModelSpec("enet", "baselines.enet:ENet", "ENet", "ce"),
        ModelSpec("icnet", "baselines.icnet:ICNet", "ICNet", "ce"),
        ModelSpec("bisenet", "baselines.bisenet:BiSeNet", "BiSeNet", "ce"),  # ResNet18 context path
        ModelSpec("portraitnet", "baselines.portraitnet:PortraitNet", "PortraitNet", "ce", stride=32),
        ModelSpec("sinet", "baselines.sinet:SINet", "SINet", "ce-edge", stride=32),  # S2 blocks pool the 1/8 map by 4
        ModelSpec("extremec3net", "baselines.extremec3net:ExtremeC3Net", "ExtremeC3Net", "lovasz-edge",
                  cpu_channels_last=False),
    )
}


def model_names() -> list[str]:
    return list(MODELS)


def get_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}; registered: {', '.join(MODELS)}") from None


def check_input_size(name: str, size: int) -> None:
    """Raise ``InputSizeError`` unless ``size`` is a positive multiple of the model's stride (8 for a
    "module:callable")."""
    stride = MODELS[name].stride if name in MODELS else 8
    if size < stride or size % stride:
        near = max(stride, int(round(size / stride)) * stride)
        raise InputSizeError(f"size {size} does not suit {name}: use a multiple of {stride} (e.g. {near})")


def build_model(name: str, num_classes: int = NUM_CLASSES, **kwargs: object) -> nn.Module:
    """A registered model by name, or ``"module:callable"``: any factory taking ``num_classes`` (a user's model).

    A name that does not resolve to a model (unknown, not importable, not callable with ``num_classes``, or
    returning something other than an ``nn.Module``) raises ``UnknownModelError`` with a one-line message.
    An exception raised inside the factory itself is a bug in that model and propagates as it is.
    """
    if ":" not in name:
        module_name, attr = get_spec(name).factory.split(":")
        return getattr(importlib.import_module(module_name), attr)(num_classes=num_classes, **kwargs)
    module_name, attr = name.split(":", 1)
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as e:
        raise UnknownModelError(f"model factory {name!r} cannot be imported ({e})") from e
    try:
        inspect.signature(factory).bind(num_classes=num_classes, **kwargs)
    except (TypeError, ValueError) as e:  # not callable, or not with these arguments
        raise UnknownModelError(f"model factory {name!r} cannot be called with num_classes ({e})") from e
    model = factory(num_classes=num_classes, **kwargs)  # what it raises is the model's own bug: not caught
    if not isinstance(model, nn.Module):
        raise UnknownModelError(f"model factory {name!r} returned a {type(model).__name__}, not a torch nn.Module")
    return model


def default_loss(name: str) -> str:
    """The main loss a model trains with unless told otherwise: its spec's, ``ce`` for a ``"module:callable"``."""
    return "ce" if ":" in name else get_spec(name).default_loss


def cpu_channels_last(name: str) -> bool:
    """Whether the model may train channels-last on a CPU: its spec's, ``True`` for a ``"module:callable"``."""
    return ":" in name or get_spec(name).cpu_channels_last
