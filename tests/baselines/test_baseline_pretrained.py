"""Loading local torchvision ImageNet weights into the ResNet18 and MobileNetV2 backbones (no downloads)."""

from __future__ import annotations

import pytest
import torch

from baselines.bisenet import BiSeNet
from baselines.mobilenetv2 import MobileNetV2
from baselines.portraitnet import PortraitNet
from baselines.pretrained import BackboneWeightsError
from baselines.resnet import ResNet18

# A sample of torchvision's key names and shapes, and its total parameter counts (classifiers included).
TORCHVISION_RESNET18_KEYS = {
    "conv1.weight": (64, 3, 7, 7),
    "bn1.running_mean": (64,),
    "layer1.0.conv1.weight": (64, 64, 3, 3),
    "layer2.0.downsample.0.weight": (128, 64, 1, 1),
    "layer2.0.downsample.1.running_var": (128,),
    "layer4.1.bn2.weight": (512,),
}
TORCHVISION_MOBILENETV2_KEYS = {
    "features.0.0.weight": (32, 3, 3, 3),
    "features.0.1.running_mean": (32,),
    "features.1.conv.0.0.weight": (32, 1, 3, 3),
    "features.1.conv.1.weight": (16, 32, 1, 1),
    "features.1.conv.2.running_var": (16,),
    "features.2.conv.0.0.weight": (96, 16, 1, 1),
    "features.2.conv.1.0.weight": (96, 1, 3, 3),
    "features.17.conv.2.weight": (320, 960, 1, 1),
    "features.17.conv.3.bias": (320,),
}
TORCHVISION_RESNET18_PARAMS = 11_689_512
TORCHVISION_MOBILENETV2_PARAMS = 3_504_872


def _torchvision_resnet18_file(path, seed: int = 3) -> dict[str, torch.Tensor]:
    """A state dict laid out as torchvision's resnet18 (the backbone's keys plus the 1000-way fc)."""
    torch.manual_seed(seed)
    state = {k: v + 0.5 if v.is_floating_point() else v for k, v in ResNet18().state_dict().items()}
    state["fc.weight"], state["fc.bias"] = torch.randn(1000, 512), torch.randn(1000)
    torch.save(state, path)
    return state


def _torchvision_mobilenetv2_file(path, seed: int = 3) -> dict[str, torch.Tensor]:
    """A state dict laid out as torchvision's mobilenet_v2 (plus features.18 and the classifier)."""
    torch.manual_seed(seed)
    state = {k: v + 0.5 if v.is_floating_point() else v for k, v in MobileNetV2().state_dict().items()}
    state["features.18.0.weight"] = torch.randn(1280, 320, 1, 1)
    for name in ("weight", "bias", "running_mean", "running_var"):
        state[f"features.18.1.{name}"] = torch.rand(1280)
    state["features.18.1.num_batches_tracked"] = torch.tensor(0)
    state["classifier.1.weight"], state["classifier.1.bias"] = torch.randn(1000, 1280), torch.randn(1000)
    torch.save(state, path)
    return state


def _param_count(state: dict[str, torch.Tensor]) -> int:
    buffers = ("running_mean", "running_var", "num_batches_tracked")
    return sum(v.numel() for k, v in state.items() if not k.endswith(buffers))


def test_backbone_names_and_counts_match_torchvision(tmp_path) -> None:
    resnet, mobilenet = ResNet18().state_dict(), MobileNetV2().state_dict()
    for key, shape in TORCHVISION_RESNET18_KEYS.items():
        assert tuple(resnet[key].shape) == shape, key
    for key, shape in TORCHVISION_MOBILENETV2_KEYS.items():
        assert tuple(mobilenet[key].shape) == shape, key
    assert _param_count(_torchvision_resnet18_file(tmp_path / "r.pth")) == TORCHVISION_RESNET18_PARAMS
    assert _param_count(_torchvision_mobilenetv2_file(tmp_path / "m.pth")) == TORCHVISION_MOBILENETV2_PARAMS


def test_bisenet_loads_resnet18_weights(tmp_path) -> None:
    path = tmp_path / "resnet18.pth"
    source = _torchvision_resnet18_file(path)
    loaded = BiSeNet(pretrained_backbone=path).context_path.backbone.state_dict()
    assert set(loaded) == set(source) - {"fc.weight", "fc.bias"}
    assert all(torch.equal(loaded[k], source[k]) for k in loaded)


def test_portraitnet_loads_mobilenetv2_weights(tmp_path) -> None:
    path = tmp_path / "mobilenet_v2.pth"
    source = _torchvision_mobilenetv2_file(path)
    loaded = PortraitNet(pretrained_backbone=str(path)).backbone.state_dict()
    assert all(torch.equal(loaded[k], source[k]) for k in loaded)
    assert not any(k.startswith(("features.18", "classifier")) for k in loaded)


def test_wrong_shape_names_the_file_and_key(tmp_path) -> None:
    path = tmp_path / "resnet34ish.pth"
    state = _torchvision_resnet18_file(path)
    state["layer3.0.conv1.weight"] = torch.zeros(256, 64, 3, 3)
    torch.save(state, path)
    expected = r"resnet34ish\.pth: shape mismatch for 'layer3\.0\.conv1\.weight': file has \(256, 64, 3, 3\)"
    with pytest.raises(BackboneWeightsError, match=expected):
        BiSeNet(pretrained_backbone=path)


def test_missing_key_and_bad_files_give_clear_errors(tmp_path) -> None:
    path = tmp_path / "mobilenet_v2.pth"
    state = _torchvision_mobilenetv2_file(path)
    del state["features.5.conv.1.0.weight"]
    torch.save(state, path)
    expected = (
        r"mobilenet_v2\.pth: keys do not match MobileNetV2: missing \['features\.5\.conv\.1\.0\.weight'\]"
    )
    with pytest.raises(BackboneWeightsError, match=expected):
        PortraitNet(pretrained_backbone=path)
    # a ResNet file given to the MobileNetV2 backbone
    _torchvision_resnet18_file(tmp_path / "resnet18.pth")
    with pytest.raises(BackboneWeightsError, match=r"resnet18\.pth: keys do not match MobileNetV2"):
        PortraitNet(pretrained_backbone=tmp_path / "resnet18.pth")
    with pytest.raises(BackboneWeightsError, match=r"absent\.pth: backbone weights file not found"):
        BiSeNet(pretrained_backbone=tmp_path / "absent.pth")
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(BackboneWeightsError, match=r"garbage\.pth: not a readable torch weights file"):
        BiSeNet(pretrained_backbone=tmp_path / "garbage.pth")
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(BackboneWeightsError, match=r"list\.pth: expected a state dict"):
        BiSeNet(pretrained_backbone=tmp_path / "list.pth")


def test_default_is_from_scratch() -> None:
    torch.manual_seed(0)
    a = BiSeNet().context_path.backbone.conv1.weight
    torch.manual_seed(1)
    b = BiSeNet().context_path.backbone.conv1.weight
    assert not torch.equal(a, b)  # random initialisation, nothing loaded
