"""The model card: whatever a user names resolves to one card, and every predictor carries it."""

from __future__ import annotations

import pytest

from bench.deploy import zoo
from bench.deploy.backends import BackendError
from bench.deploy.card import EXPORTED, PUBLISHED, TRAINED, UNTRAINED, ModelCard
from bench.deploy.runtime import load_predictor
from bench.deploy.sources import load_torch_model, resolve


@pytest.mark.parametrize("name", sorted(zoo.entries()))
def test_a_zoo_name_resolves_to_its_manifest(name):
    entry = zoo.get_entry(name)
    card = resolve(name)
    assert (card.zoo, card.architecture, card.preprocess) == (name, entry.model, entry.preprocess)
    assert card.weights.path == str(entry.path) and card.weights.sha256 == entry.sha256
    assert card.weights.dtype == zoo.storage_kind(entry.manifest["storage"]) != "" and card.trained
    assert card.metrics["miou"] == entry.manifest["metrics"]["miou"]
    published = entry.manifest["origin"].startswith("published")
    assert card.provenance.origin == (PUBLISHED if published else TRAINED)
    assert (card.provenance.source is not None) == published and card.provenance.licence == entry.manifest["licence"]
    assert ModelCard.from_dict(card.to_dict()) == card  # plain data: it travels in an exported file


def test_every_predictor_and_model_carries_the_card_it_was_loaded_from():
    card = resolve(zoo.DEFAULT)
    assert load_predictor(zoo.DEFAULT).card == card
    assert load_predictor(card).card == card  # a card is accepted wherever a name is
    assert load_torch_model(card).card == card


def test_a_registered_name_is_an_untrained_card_and_says_so():
    card = resolve("elb")
    assert not card.trained and card.weights is None and card.provenance.origin == UNTRAINED
    assert "random weights" in card.describe()
    assert card.at_size(128).size == 128 and card.size == 512


def test_a_name_that_is_nothing_fails_in_one_line(tmp_path):
    with pytest.raises(BackendError, match="neither a zoo name") as e:
        resolve(tmp_path / "nope")
    assert "\n" not in str(e.value)
    with pytest.raises(BackendError, match="no such ONNX file"):
        resolve(tmp_path / "nope.onnx")


def test_an_exported_file_keeps_its_sources_card(tmp_path):
    pytest.importorskip("onnx")
    from bench.deploy.export import export_source

    path = export_source("elb-pfcn", tmp_path / "elb.onnx")
    card = resolve(str(path))
    source = resolve("elb-pfcn")
    assert card.provenance.origin == EXPORTED and card.provenance.onnx == str(path)
    assert card.provenance.source == "elb-pfcn" and card.provenance.commit == source.provenance.commit
    assert (card.architecture, card.preprocess, card.metrics, card.zoo) == (source.architecture, source.preprocess,
                                                                            source.metrics, "elb-pfcn")


def test_an_onnx_file_exported_before_cards_still_resolves_and_runs(tmp_path):
    """Files exported before the card carried the model's facts as flat keys of the ``bench`` metadata: they keep
    loading, with what those keys say."""
    pytest.importorskip("onnxruntime")
    import json

    import numpy as np
    import onnx

    from bench.deploy.export import export_source

    path = export_source("elb-pfcn", tmp_path / "new.onnx")
    proto = onnx.load(str(path))
    props = {p.key: p.value for p in proto.metadata_props}
    legacy = {k: v for k, v in json.loads(props["bench"]).items() if k != "card"}  # what older exports wrote
    del proto.metadata_props[:]
    proto.metadata_props.add(key="bench", value=json.dumps(legacy))
    old = tmp_path / "old.onnx"
    onnx.save(proto, str(old))
    card = resolve(str(old))
    assert (card.architecture, card.zoo, card.size, card.trained) == ("elb", "elb-pfcn", 256, True)
    assert card.preprocess == resolve("elb-pfcn").preprocess and card.provenance.origin == EXPORTED
    p = load_predictor(str(old))
    x = np.zeros((1, 3, 256, 256), np.float32)
    np.testing.assert_allclose(p(x), load_predictor(str(path))(x), atol=1e-5)
