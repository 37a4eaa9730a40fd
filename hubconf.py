"""torch.hub entry points: ``torch.hub.load(<this repository>, "elb", pretrained=True, source="local")``.

Each returns the registered model in eval mode; ``pretrained=True`` loads the zoo's weights for it (``bench zoo``:
shipped in the repository, so nothing is downloaded) and attaches ``model.preprocess``, how the model expects a
photo. ``segmenter`` returns the Python API's ``PortraitSegmenter`` (photo in, probability map and mask out).
"""

dependencies = ["torch", "numpy", "cv2"]

# the zoo entry each entry point loads with pretrained=True
PRETRAINED = {"elb": "elb-pfcn", "elb_dr4": "elb-dr4-pfcn", "erfnet": "erfnet-pfcn", "enet": "enet-pfcn",
              "icnet": "icnet-pfcn", "bisenet": "bisenet-pfcn", "portraitnet": "portraitnet-pfcn",
              "sinet": "sinet-eg1800", "extremec3net": "extremec3net-eg1800"}


def _model(entry_point: str, pretrained: bool):
    from bench.deploy.zoo import load_zoo_model
    from bench.registry import build_model

    if not pretrained:
        return build_model(entry_point.replace("_", "-")).eval()
    model = load_zoo_model(PRETRAINED[entry_point])
    model.preprocess = model.zoo_entry.preprocess
    return model


def elb(pretrained: bool = True):
    """ELB (DR2), trained here on PFCN under the cpu profile."""
    return _model("elb", pretrained)


def elb_dr4(pretrained: bool = True):
    """ELB with BFB channel reduction 4 (Table 2)."""
    return _model("elb_dr4", pretrained)


def erfnet(pretrained: bool = True):
    return _model("erfnet", pretrained)


def enet(pretrained: bool = True):
    return _model("enet", pretrained)


def icnet(pretrained: bool = True):
    return _model("icnet", pretrained)


def bisenet(pretrained: bool = True):
    return _model("bisenet", pretrained)


def portraitnet(pretrained: bool = True):
    return _model("portraitnet", pretrained)


def sinet(pretrained: bool = True):
    """SINet with its authors' published EG1800 weights (MIT, clovaai/ext_portrait_segmentation)."""
    return _model("sinet", pretrained)


def extremec3net(pretrained: bool = True):
    """ExtremeC3Net with its authors' published EG1800 weights (MIT, clovaai/ext_portrait_segmentation)."""
    return _model("extremec3net", pretrained)


def segmenter(name: str = "elb-pfcn", device: str = "cpu"):
    """The Python API on a zoo name: ``.probability(photo)`` and ``.mask(photo)`` at the photo's own size."""
    from bench.segment.portrait import PortraitSegmenter

    return PortraitSegmenter.from_pretrained(name, device=device)
