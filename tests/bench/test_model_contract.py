"""Every registered model follows the registry's contract: shapes, auxiliary outputs, training, state dicts.

Parametrized over ``model_names()``, so a newly registered model is tested here without listing it.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bench.registry import build_model, model_names

MODELS = model_names()
# The auxiliary heads the baselines' papers train with (the contract test itself reads ``model.aux_losses``).
EXPECTED_AUX = {
    "erfnet": {},
    "enet": {},
    "icnet": {"sub4": ("mask", 0.4), "sub24": ("mask", 0.4)},
    "bisenet": {"aux_16": ("mask", 1.0), "aux_8": ("mask", 1.0)},
    "portraitnet": {"boundary": ("boundary", 0.1)},
}
SECOND_SIZE = (96, 160)  # non-square, multiple of 32
# Training-mode BN over globally pooled (1x1) maps needs two samples; the others run at batch 1 to save time.
TRAIN_BATCH = {"bisenet": 2}
FOCAL_GAMMA = 2.0


def _build(name: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(name)


def _resize_nearest(target: torch.Tensor, size: torch.Size) -> torch.Tensor:
    return F.interpolate(target[:, None].float(), size=tuple(size), mode="nearest")[:, 0].long()


def _boundary_band(target: torch.Tensor, radius: int = 2) -> torch.Tensor:
    """1 where a pixel lies within ``radius`` of both classes (dilation minus erosion of the mask)."""
    fg = target[:, None].float()
    k = 2 * radius + 1
    dilated = F.max_pool2d(fg, k, stride=1, padding=radius)
    eroded = -F.max_pool2d(-fg, k, stride=1, padding=radius)
    return (dilated - eroded)[:, 0].long()


def _focal(logits: torch.Tensor, target: torch.Tensor, gamma: float = FOCAL_GAMMA) -> torch.Tensor:
    logp = F.log_softmax(logits, dim=1).gather(1, target[:, None])[:, 0]
    return (-((1 - logp.exp()) ** gamma) * logp).mean()


def contract_loss(model: torch.nn.Module, output, target: torch.Tensor) -> torch.Tensor:
    """The registry's loss combination: CE on "out" + sum(weight * aux loss) over ``model.aux_losses``."""
    if isinstance(output, torch.Tensor):
        return F.cross_entropy(output, target)
    assert set(output) - {"out"} == set(model.aux_losses)
    total = F.cross_entropy(output["out"], target)
    for key, (kind, weight) in model.aux_losses.items():
        logits = output[key]
        small = _resize_nearest(target, logits.shape[-2:])
        term = F.cross_entropy(logits, small) if kind == "mask" else _focal(logits, _boundary_band(small))
        total = total + weight * term
    return total


def _tiny_batch(size: int = 64, n: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed batch: an ellipse "portrait" mask per image and an image that shows it through noise."""
    g = torch.Generator().manual_seed(1)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    masks = []
    for i in range(n):
        cy, cx = size * (0.45 + 0.1 * i), size * (0.5 - 0.05 * i)
        masks.append((((yy - cy) / (0.3 * size)) ** 2 + ((xx - cx) / (0.22 * size)) ** 2 <= 1).long())
    target = torch.stack(masks)
    noise = torch.randn(n, 3, size, size, generator=g)
    image = 0.8 * target[:, None].float().expand(n, 3, size, size) + 0.5 * noise
    return image, target


@pytest.mark.parametrize("name", EXPECTED_AUX)
def test_baselines_declare_their_papers_auxiliary_losses(name: str) -> None:
    assert getattr(_build(name), "aux_losses", {}) == EXPECTED_AUX[name]


@pytest.mark.parametrize("name", MODELS)
def test_eval_and_train_shapes(name: str) -> None:
    model = _build(name)
    aux_losses = getattr(model, "aux_losses", None) or {}
    assert all(kind in ("mask", "boundary") and weight > 0 for kind, weight in aux_losses.values()), aux_losses
    sizes = [(512, 512), SECOND_SIZE] + ([(224, 224)] if name == "portraitnet" else [])
    with torch.no_grad():
        for h, w in sizes:
            model.eval()
            out = model(torch.randn(1, 3, h, w))
            assert isinstance(out, torch.Tensor) and out.shape == (1, 2, h, w), (name, h, w)
            n = TRAIN_BATCH.get(name, 1)
            model.train()
            out = model(torch.randn(n, 3, h, w))
            if isinstance(out, torch.Tensor):
                assert out.shape == (n, 2, h, w)
                continue
            assert set(out) == {"out", *aux_losses}
            assert out["out"].shape == (n, 2, h, w)
            for key in aux_losses:
                aux = out[key]
                assert aux.shape[:2] == (n, 2), (key, aux.shape)
                assert h % aux.shape[2] == 0 and w % aux.shape[3] == 0, (key, aux.shape)
                assert aux.shape[2] * w == aux.shape[3] * h  # same aspect ratio as the input


@pytest.mark.parametrize(
    ("name", "bad", "multiple"), [("erfnet", 84, 8), ("enet", 84, 8), ("portraitnet", 80, 32)]
)
def test_input_size_not_divisible_is_a_clear_error(name: str, bad: int, multiple: int) -> None:
    with pytest.raises(ValueError, match=rf"needs input sides divisible by {multiple}, got {bad}x64"):
        _build(name).eval()(torch.zeros(1, 3, bad, 64))


@pytest.mark.parametrize("name", ("icnet", "bisenet"))
def test_resizing_models_accept_any_size(name: str) -> None:
    with torch.no_grad():
        assert _build(name).eval()(torch.zeros(1, 3, 84, 100)).shape == (1, 2, 84, 100)


@pytest.mark.parametrize("name", MODELS)
def test_adam_steps_reduce_total_loss_with_aux_losses(name: str) -> None:
    model = _build(name).train()
    image, target = _tiny_batch()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def loss_now() -> torch.Tensor:
        torch.manual_seed(123)  # the same dropout masks each time the loss is measured
        return contract_loss(model, model(image), target)

    loss = loss_now()
    initial = loss.item()
    optimizer.zero_grad()
    loss.backward()
    unused = [n for n, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert not unused, f"{name}: parameters without gradient (dead layers): {unused[:5]}"
    optimizer.step()
    for _ in range(7):
        optimizer.zero_grad()
        contract_loss(model, model(image), target).backward()
        optimizer.step()
    final = loss_now().item()
    assert final < 0.9 * initial, (name, initial, final)


@pytest.mark.parametrize("name", MODELS)
def test_state_dict_round_trip_gives_identical_outputs(name: str, tmp_path) -> None:
    model = _build(name, seed=0)
    image, _ = _tiny_batch()
    with torch.no_grad():
        model.train()(image)  # move the BN running statistics off their defaults
        model.eval()
        expected = model(image)
    path = tmp_path / f"{name}.pt"
    torch.save(model.state_dict(), path)
    restored = _build(name, seed=1)
    restored.load_state_dict(torch.load(path, weights_only=True))
    with torch.no_grad():
        assert torch.equal(restored.eval()(image), expected)
