"""docs/examples/onnx_portrait.py, the standalone example of docs/deploy.md, runs with numpy, OpenCV and onnxruntime
alone (torch and bench blocked) and gives bench's own masks, from a plain file and from a baked one."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from bench.cli.main import main
from bench.data.preprocess import Preprocess
from bench.deploy.backends import BackendError
from bench.deploy.bake import BakedPortrait
from bench.deploy.export import export_onnx
from bench.deploy.predict import labels, portrait_logits
from bench.deploy.runtime import load_predictor
from bench.deploy.sources import load_torch_model, onnx_metadata, resolve

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docs" / "examples" / "onnx_portrait.py"
SIZE = 64
# `import torch` or `import bench` inside the script raises ImportError; afterwards nothing of either is loaded
BLOCKED = """import runpy, sys
for name in ("torch", "bench"):
    sys.modules[name] = None
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
loaded = sorted(m for m, mod in sys.modules.items() if m.split(".")[0] in ("torch", "bench") and mod is not None)
assert not loaded, loaded
"""


def _photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth RGB uint8 'portrait': a bright ellipse on a shaded background, blurred like a camera's."""
    rng = np.random.default_rng(seed)
    img = (np.linspace(20, 110, w)[None, :, None] + rng.integers(0, 40, (h, w, 3))).astype(np.uint8)
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (w // 2, 2 * h // 3), (w // 3, h // 2), 0, 0, 360, 1, -1)
    img[mask == 1] = np.clip(img[mask == 1].astype(int) + [110, 80, 60], 0, 255).astype(np.uint8)
    return cv2.GaussianBlur(img, (5, 5), 0)


@pytest.fixture(scope="module")
def elb():
    """ELB with the registry's random weights, its decoder bias centred so that about half of a photo is portrait
    (random weights alone call nearly every pixel portrait, which any file would reproduce)."""
    info = resolve("elb").at_size(SIZE)
    model, pre = load_torch_model(info), info.preprocess
    d = portrait_logits(model, [_photo(90, 70)], pre)[0]
    with torch.no_grad():
        model.decoder.bias[1] -= float(np.median(d))
    return model, info, pre


@pytest.fixture(scope="module")
def files(elb, tmp_path_factory):
    model, info, _ = elb
    folder = tmp_path_factory.mktemp("onnx")
    plain = export_onnx(model, folder / "elb.onnx", SIZE, card=info)
    baked = export_onnx(model, folder / "elb-baked.onnx", SIZE, card=info, bake=True)
    return plain, baked


def _run_script(model: Path, rgb: np.ndarray, tmp_path: Path) -> np.ndarray:
    photo, out = tmp_path / "photo.png", tmp_path / "mask.png"
    cv2.imwrite(str(photo), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    r = subprocess.run([sys.executable, "-I", "-c", BLOCKED, str(SCRIPT), str(model), str(photo), str(out)],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    mask = cv2.imread(str(out), cv2.IMREAD_GRAYSCALE)
    assert mask.shape == rgb.shape[:2] and set(np.unique(mask)) <= {0, 255}
    return (mask > 127).astype(np.uint8)


@pytest.mark.parametrize("shape", [(150, 110), (40, 52), (100, 30)])  # shrinking, enlarging, both at once
def test_the_standalone_script_gives_benchs_masks(elb, files, tmp_path, shape):
    model, _, pre = elb
    plain, baked = files
    rgb = _photo(*shape, seed=1)
    want = labels(model, [rgb], pre)[0]
    assert 0.05 < want.mean() < 0.95  # a mask with boundaries, not a constant
    assert (_run_script(plain, rgb, tmp_path) != want).mean() <= 0.002
    with torch.no_grad():
        graph = BakedPortrait(model, pre).eval()(torch.from_numpy(rgb[None])).numpy()[0] > 0.5
    got = _run_script(baked, rgb, tmp_path)
    assert (got != graph).mean() <= 0.002  # the file is the wrapper it was exported from
    assert (got != want).mean() <= 0.05  # antialiased bilinear stands in for OpenCV's area averaging


def test_a_baked_file_takes_uint8_photos_of_any_size_and_says_so(files):
    import onnxruntime as ort

    baked = files[1]
    session = ort.InferenceSession(str(baked), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["baked"] == "true" and meta["input"].startswith("image: uint8 RGB (N, H, W, 3), any size")
    assert meta["output"].startswith("probability") and meta["input_size"] == f"{SIZE},{SIZE}"
    batch = np.stack([_photo(77, 133), _photo(77, 133, seed=2)])
    p = session.run(None, {"image": batch})[0]
    assert p.dtype == np.float32 and p.shape == (2, 77, 133) and 0 <= p.min() and p.max() <= 1
    assert onnx_metadata(baked)["baked"] is True
    with pytest.raises(BackendError, match="baked in"):  # bench's Predictors feed normalised float batches
        load_predictor(baked)


def test_a_bgr_bilinear_preprocess_is_baked_as_it_says(elb, tmp_path):
    """Channel order, mean, std and bilinear resize all come from the source's Preprocess; with bilinear resizing
    (no area averaging to approximate) the baked graph gives the Python path's mask, but for the pixels that the
    Python path's rounding of the resized photo to uint8 flips (under 1% with these nearly flat random logits; the
    wrong channel order flips half, the wrong mean a tenth)."""
    import onnxruntime as ort

    model, info, _ = elb
    pre = Preprocess((SIZE, SIZE), channels="BGR", mean=(0.4, 0.45, 0.5), std=(0.25, 0.2, 0.3), interpolation="linear")
    path = export_onnx(model, tmp_path / "bgr.onnx", SIZE, card=replace(info, preprocess=pre), bake=True)
    meta = ort.InferenceSession(str(path)).get_modelmeta().custom_metadata_map
    assert (meta["channel_order"], meta["mean"], meta["interpolation"].split()[0]) == ("BGR", "[0.4, 0.45, 0.5]",
                                                                                       "linear")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for shape in ((150, 110), (40, 52)):
        rgb = _photo(*shape, seed=3)
        got = session.run(None, {"image": rgb[None]})[0][0] > 0.5
        want = labels(model, [rgb], pre)[0]
        assert 0.05 < want.mean() < 0.95 and (got != want).mean() <= 0.01


def test_bake_is_refused_where_it_cannot_apply(tmp_path):
    runner = CliRunner()
    out = str(tmp_path / "x.onnx")
    for extra, words in ((["--precision", "int8"], "fp32 only"), (["--dynamic-size"], "--dynamic-size")):
        r = runner.invoke(main, ["export", "--model", "elb", "--size", "32", "--bake-preprocess", *extra, "--out", out])
        assert r.exit_code == 1 and words in r.output and "Traceback" not in r.output, r.output


def test_the_code_in_docs_deploy_is_the_script():
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8"), re.S)
    assert blocks and all(b in SCRIPT.read_text(encoding="utf-8") for b in blocks)
