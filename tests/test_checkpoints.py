"""Loading models: the bundled MiniLM, and clear errors for folders that are not checkpoints."""

from __future__ import annotations

import json

import pytest

from model import ModelLoadError, load_model


def test_minilm_shape(minilm):
    cfg = minilm.net.cfg
    assert (cfg.n_layers, cfg.n_heads, cfg.d_model, cfg.max_positions) == (6, 12, 384, 512)
    assert minilm.arch == "encoder"


def test_missing_folder(tmp_path):
    with pytest.raises(ModelLoadError, match="no folder"):
        load_model(str(tmp_path / "nope"))


def test_malformed_config(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        load_model(str(tmp_path))


def test_missing_weights(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ModelLoadError):
        load_model(str(tmp_path))


def test_empty_name():
    with pytest.raises(ModelLoadError):
        load_model("  ")
