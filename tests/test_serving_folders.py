"""What a visitor can make the server read through "Local checkpoint folder".

Only folders inside the allowed roots open; every other path gets one answer; only
safetensors shards inside the folder are read; a config whose parameters would pass the
server's limit is refused before anything is allocated; a tokenizer that does not fit
its weights, or a path the file system refuses, gives a message.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
import transformers

from model import ModelLoadError, capture, load_model
from model.folders import OFF, ROOTS_ENV, allowed_roots, resolve_checkpoint
from model.hf_loading import MAX_PARAM_BYTES_ENV, estimated_parameters
from tests.test_hf_models import TEXT, build


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        line = next(x for x in f if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


@pytest.fixture
def root(tmp_path) -> Path:
    r = tmp_path / "allowed"
    r.mkdir()
    return r


def refusal(text: str, roots: list[Path]) -> str:
    with pytest.raises(ModelLoadError) as info:
        resolve_checkpoint(text, roots)
    return str(info.value)


def test_every_path_outside_the_roots_gets_one_answer(root, tmp_path):
    (root / "a-file").write_text("x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "link-out").symlink_to(outside, target_is_directory=True)
    answers = {refusal(p, [root]) for p in [
        "/root", "/etc/passwd", "/etc", str(root / "missing"), str(root / "a-file"), "~", "~root",
        str(root / "link-out"), str(root / ".." / "outside"), "", "x" * 5000, "bad\x00name",
    ]}
    assert len(answers) == 1
    (answer,) = answers
    assert "No checkpoint folder by that name" in answer
    for leak in ("passwd", "root", "missing", "a-file", "link-out", "outside"):
        assert leak not in answer
    assert str(root) not in answer


def test_a_folder_inside_a_root_resolves_to_its_real_path(root):
    (root / "ckpt").mkdir()
    (root / "alias").symlink_to(root / "ckpt", target_is_directory=True)
    assert resolve_checkpoint(str(root / "ckpt"), [root]) == (root / "ckpt").resolve()
    assert resolve_checkpoint(str(root / "alias"), [root]) == (root / "ckpt").resolve()


def test_no_roots_means_local_folders_are_off(root):
    assert refusal(str(root), []) == OFF


def test_roots_come_from_the_environment_or_the_address(monkeypatch, root):
    monkeypatch.delenv(ROOTS_ENV, raising=False)
    assert allowed_roots("0.0.0.0") == []
    assert allowed_roots("") == []  # Streamlit with no address listens on every interface
    assert Path.cwd().resolve() in allowed_roots("localhost")
    monkeypatch.setenv(ROOTS_ENV, f"{root}{os.pathsep}{root / 'missing'}")
    assert allowed_roots("0.0.0.0") == [root.resolve(), (root / "missing").resolve()]
    monkeypatch.setenv(ROOTS_ENV, "")
    assert allowed_roots("localhost") == []


# --- Shards ------------------------------------------------------------------------------------------


def index_to(folder: Path, shard: str) -> None:
    (folder / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {}, "weight_map": {"wte.weight": shard, "wpe.weight": shard}}))


def test_a_shard_index_that_points_at_a_pickle_is_refused(tmp_path):
    folder = build("gpt2", tmp_path / "ckpt")
    net = transformers.GPT2Model.from_pretrained(str(folder))
    torch.save(net.state_dict(), folder / "weights.bin")
    (folder / "model.safetensors").unlink()
    index_to(folder, "weights.bin")
    with pytest.raises(ModelLoadError, match="not safetensors"):
        load_model(str(folder))


@pytest.mark.parametrize("shard", ["../other/model.safetensors", "/tmp/model.safetensors", "sub/model.safetensors"])
def test_a_shard_outside_the_folder_is_refused(tmp_path, shard):
    folder = build("gpt2", tmp_path / "ckpt")
    other = tmp_path / "other"
    other.mkdir()
    (folder / "model.safetensors").rename(other / "model.safetensors")
    index_to(folder, shard)
    with pytest.raises(ModelLoadError, match="outside the folder"):
        load_model(str(folder))


def test_a_sharded_safetensors_checkpoint_still_loads(tmp_path):
    folder = build("gpt2", tmp_path / "ckpt")
    net = transformers.GPT2Model.from_pretrained(str(folder))
    (folder / "model.safetensors").unlink()
    net.save_pretrained(str(folder), max_shard_size="20KB")
    assert len(list(folder.glob("model-*.safetensors"))) > 1
    m = load_model(str(folder))
    assert m.name == "ckpt"


# --- Size and tokenizer ------------------------------------------------------------------------------


def test_a_huge_config_is_refused_before_anything_is_allocated(tmp_path):
    folder = build("gpt2", tmp_path / "ckpt")
    config = json.loads((folder / "config.json").read_text())
    config["n_layer"] = 10_000
    config["n_embd"] = 768
    (folder / "config.json").write_text(json.dumps(config))
    before = rss_mb()
    with pytest.raises(ModelLoadError, match=r"would need about \d+.*GiB.*at most"):
        load_model(str(folder))
    assert rss_mb() - before < 50


def test_the_limit_is_a_server_setting(tmp_path, monkeypatch):
    folder = build("gpt2", tmp_path / "ckpt")
    config = json.loads((folder / "config.json").read_text())
    assert 0 < 4 * estimated_parameters("gpt2", config) < 2**20  # the tiny test model
    monkeypatch.setenv(MAX_PARAM_BYTES_ENV, "1000")
    with pytest.raises(ModelLoadError, match="loads at most"):
        load_model(str(folder))


@pytest.mark.parametrize("value", [-1, 0, "12", 1.5, True])
def test_a_config_with_a_nonsense_size_gives_a_message(tmp_path, value):
    folder = build("bert", tmp_path / "ckpt")
    config = json.loads((folder / "config.json").read_text())
    config["num_hidden_layers"] = value
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="num_hidden_layers should be a positive whole number"):
        load_model(str(folder))


def test_a_tokenizer_with_ids_beyond_the_vocabulary_is_refused(tmp_path):
    folder = build("gpt2", tmp_path / "ckpt")
    tok = json.loads((folder / "tokenizer.json").read_text())
    tok["added_tokens"].append({"id": 10_000_000, "content": "<far>", "single_word": False, "lstrip": False,
                                "rstrip": False, "normalized": False, "special": True})
    (folder / "tokenizer.json").write_text(json.dumps(tok))
    with pytest.raises(ModelLoadError, match="token id .* does not belong"):
        load_model(str(folder))


def test_a_path_the_file_system_refuses_gives_a_message():
    with pytest.raises(ModelLoadError, match="could not be read"):
        load_model("x" * 5000)  # longer than a file name may be: exists() raises OSError


def test_an_allowed_checkpoint_still_captures(tmp_path):
    folder = build("bert", tmp_path / "ckpt")
    m = load_model(str(resolve_checkpoint(str(folder), [tmp_path])))
    assert capture(m, TEXT).tokens[1:-1] == TEXT.split()
