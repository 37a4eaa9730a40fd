"""torch.hub entry points: ``torch.hub.load(<this repository>, "elb", pretrained=True, source="local")``.

One entry point per registered architecture that the zoo ships weights for, named as the registry names it (``-`` as
``_``), derived from the zoo (``bench.deploy.zoo.entry_for``: the cpu-profile run trained here, else the authors'
published weights). Each returns the model in eval mode; ``pretrained=True`` loads the zoo's weights (shipped in the
repository, so nothing is downloaded) and attaches ``model.card`` (``bench.deploy.card``: weights, provenance,
metrics) and ``model.preprocess``, how the model expects a photo. ``segmenter`` returns the Python API's
``PortraitSegmenter`` (photo in, probability map and mask out).
"""

dependencies = ["torch", "numpy", "cv2"]


def _entry_point(architecture: str, zoo_name: str):
    def load(pretrained: bool = True):
        from bench.deploy.sources import load_torch_model, resolve

        card = resolve(zoo_name if pretrained else architecture)
        model = load_torch_model(card)
        model.preprocess = card.preprocess
        return model

    load.__name__ = architecture.replace("-", "_")
    load.__doc__ = f"{architecture}; pretrained=True: the zoo's {zoo_name!r} (`bench zoo`)."
    return load


def _entry_points() -> dict:
    from bench.deploy.zoo import entry_for
    from bench.registry import MODELS

    found = {name: entry_for(name) for name in MODELS}
    return {name.replace("-", "_"): _entry_point(name, e.name) for name, e in found.items() if e is not None}


globals().update(_entry_points())


def segmenter(name: str | None = None, device: str = "cpu"):
    """The Python API on a zoo name (default: the zoo's default): ``.probability(photo)``, ``.mask(photo)``,
    ``.cutout(photo)`` at the photo's own size."""
    from bench.segment.portrait import PortraitSegmenter

    return PortraitSegmenter.from_pretrained(name, device=device)
