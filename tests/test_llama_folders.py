"""Local Llama, Qwen2 and Mistral folders: tiny random checkpoints loaded by path, checked against transformers.

Each folder holds a random ``*ForCausalLM`` saved with ``save_pretrained`` (safetensors) and a
byte-level BPE tokenizer, the kind these families ship, trained here on a few sentences; nothing
is downloaded. The reference is the same weights in ``transformers`` with eager attention.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

from model import ModelLoadError, capture, load_model
from model.capture import capture_batch
from model.folders import ROOTS_ENV
from model.hf_loading import estimated_parameters
from tests.test_hf_models import assert_every_view_draws
from ui.sidebar import DEFAULT_NEW_TOKENS
from viz.labels import escape

CORPUS = [
    "The cat sat on the mat and the dog saw it.",
    "A bird was very tired after the long flight over the street.",
    "Attention heads read queries, keys and values; RoPE turns each by its position.",
]
TEXT = "The cat sat on the mat and the dog saw the bird."
SPECIALS = ["<s>", "</s>", "<pad>"]
FAMILIES = ["llama", "qwen2", "mistral"]


def bpe_tokenizer(folder: Path) -> int:
    """A byte-level BPE tokenizer that writes ``<s>`` first, as Llama's does; returns its vocabulary size."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS, trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 0)])
    transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                         pad_token="<pad>").save_pretrained(str(folder))
    return tok.get_vocab_size(with_added_tokens=True)


def build(family: str, folder: Path, **overrides) -> Path:
    """Save a tiny random ``family`` checkpoint (2 layers, 4 query heads sharing 2 key/value heads)."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab = bpe_tokenizer(folder)
    torch.manual_seed(0)
    common = dict(vocab_size=vocab, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                  bos_token_id=0, eos_token_id=1, pad_token_id=2, rope_theta=500.0)
    common.update(overrides)
    cfg = {"llama": transformers.LlamaConfig, "qwen2": transformers.Qwen2Config,
           "mistral": transformers.MistralConfig}[family](**common)
    net = getattr(transformers, {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM",
                                 "mistral": "MistralForCausalLM"}[family])(cfg)
    with torch.no_grad():  # norms start at 1 and biases at 0: make them matter
        for name, p in net.named_parameters():
            if "norm" in name:
                p.uniform_(0.5, 1.5)
            elif name.endswith(".bias"):
                p.normal_(0.0, 0.5)
    net.save_pretrained(str(folder), safe_serialization=True)
    return folder


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("llama")
    return {f: build(f, root / f) for f in FAMILIES}


@pytest.fixture(scope="module")
def loaded(checkpoints):
    return {f: load_model(str(path)) for f, path in checkpoints.items()}


def reference_attention(m, cap) -> np.ndarray:
    """``[layers, heads, T, T]`` that transformers returns with ``output_attentions=True``."""
    ids = torch.tensor([[m.codec.full.token_to_id(t) for t in cap.tokens]])
    with torch.inference_mode():
        out = m.net(input_ids=ids, output_attentions=True, use_cache=False)
    return np.stack([a[0].numpy() for a in out.attentions])


@pytest.mark.parametrize("family", FAMILIES)
def test_every_head_equals_output_attentions(loaded, family):
    m = loaded[family]
    assert m.arch == "decoder" and m.adapter.positional == "rope"
    cap = capture(m, TEXT)
    assert cap.tokens[0] == "<s>" and len(cap.tokens) > 8
    ref = reference_attention(m, cap)
    assert cap.shape("decoder") == ref.shape == (2, 4, len(cap.tokens), len(cap.tokens))
    for layer in range(2):
        for head in range(4):
            np.testing.assert_allclose(cap.head("decoder", layer, head), ref[layer, head], atol=1e-4, rtol=0)
    att = cap.attentions["decoder"]
    np.testing.assert_allclose(att.sum(-1), 1.0, atol=1e-5)
    upper = np.triu(np.ones(att.shape[-2:], dtype=bool), k=1)
    assert np.all(att[..., upper] == 0.0)


@pytest.mark.parametrize("family", FAMILIES)
def test_keys_and_values_keep_their_kv_heads_and_rotation(loaded, family):
    m = loaded[family]
    cap = capture(m, TEXT)
    n = len(cap.tokens)
    assert cap.q["decoder"].shape == cap.q_raw["decoder"].shape == (2, 4, n, 8)
    assert cap.k["decoder"].shape == cap.k_raw["decoder"].shape == cap.v["decoder"].shape == (2, 2, n, 8)
    assert cap.rope_theta == 500.0
    assert "RoPE" in cap.positions_note and cap.positions is None
    for rotated, raw in ((cap.q["decoder"], cap.q_raw["decoder"]), (cap.k["decoder"], cap.k_raw["decoder"])):
        np.testing.assert_allclose(rotated[:, :, 0], raw[:, :, 0], atol=1e-6)  # position 0 turns by 0
        moved = np.abs(rotated[:, :, 1:] - raw[:, :, 1:]).max(axis=-1)  # (L, h, T-1)
        assert moved.min() > 1e-4
        # a rotation keeps each vector's length
        np.testing.assert_allclose(np.linalg.norm(rotated, axis=-1), np.linalg.norm(raw, axis=-1), rtol=1e-4)


def test_raw_projections_are_the_module_outputs(loaded):
    """q_raw / k_raw are q_proj / k_proj's outputs split per head, with Qwen2's biases in them."""
    m = loaded["qwen2"]
    cap = capture(m, TEXT)
    ids = torch.tensor([[m.codec.full.token_to_id(t) for t in cap.tokens]])
    attn = m.net.model.layers[1].self_attn
    seen = {}
    hooks = [attn.q_proj.register_forward_hook(lambda mod, a, out: seen.__setitem__("q", out)),
             attn.k_proj.register_forward_hook(lambda mod, a, out: seen.__setitem__("k", out))]
    try:
        with torch.inference_mode():
            m.net(input_ids=ids, use_cache=False)
    finally:
        for h in hooks:
            h.remove()
    n = len(cap.tokens)
    q = seen["q"][0].view(n, 4, 8).transpose(0, 1).numpy()  # (H, T, dh)
    k = seen["k"][0].view(n, 2, 8).transpose(0, 1).numpy()  # (kv, T, dh)
    np.testing.assert_allclose(cap.q_raw["decoder"][1], q, atol=1e-6)
    np.testing.assert_allclose(cap.k_raw["decoder"][1], k, atol=1e-6)
    assert attn.q_proj.bias is not None and np.abs(attn.q_proj.bias.detach().numpy()).max() > 0.1


@pytest.mark.parametrize("family", FAMILIES)
def test_greedy_continuation_equals_generate(loaded, family):
    m = loaded[family]
    prompt = m.codec.encode(TEXT).ids
    with torch.inference_mode():
        ref = m.net.generate(torch.tensor([prompt]), max_new_tokens=5, do_sample=False,
                             attention_mask=torch.ones(1, len(prompt), dtype=torch.long), pad_token_id=2)
    cap = capture(m, TEXT, max_new_tokens=5)
    written = ref[0, len(prompt):].tolist()
    assert cap.n_generated == len(written) >= 1
    assert [m.codec.full.token_to_id(t) for t in cap.tokens] == ref[0].tolist()
    np.testing.assert_allclose(cap.head("decoder", 1, 3), reference_attention(m, cap)[1, 3], atol=1e-4, rtol=0)


@pytest.mark.parametrize("scaling", [
    {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
     "original_max_position_embeddings": 16},
    {"rope_type": "linear", "factor": 4.0},
    {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16},  # also scales q and k
], ids=lambda s: s["rope_type"])
def test_scaled_rope_uses_the_models_own_angles(tmp_path, scaling):
    """Scaled RoPE variants: the rotated queries and keys are the ones the model itself used."""
    m = load_model(str(build("llama", tmp_path / "scaled", rope_scaling=scaling)))
    assert m.adapter.rope_type == scaling["rope_type"]
    cap = capture(m, TEXT)
    np.testing.assert_allclose(cap.attentions["decoder"], reference_attention(m, cap), atol=1e-4, rtol=0)
    assert scaling["rope_type"] in cap.positions_note
    # the frequencies are not theta^(-2i/d): the capture does not claim a base that would say they are
    assert cap.rope_theta is None and "decoder" in cap.q_raw


def test_dynamic_rope_is_refused(tmp_path):
    folder = build("llama", tmp_path / "dyn", rope_scaling={"rope_type": "dynamic", "factor": 2.0})
    with pytest.raises(ModelLoadError, match="'dynamic' RoPE recomputes its angles"):
        load_model(str(folder))


def test_sliding_window_limits_the_tokens_read(tmp_path):
    """Within its window a sliding mask is the causal one: longer text is truncated to it, exactly."""
    m = load_model(str(build("mistral", tmp_path / "window", sliding_window=6)))
    assert m.max_tokens == m.adapter.max_positions == 6
    cap = capture(m, TEXT)
    assert len(cap.tokens) == 6 and cap.truncated and "at most 6" in cap.notice
    np.testing.assert_allclose(cap.attentions["decoder"], reference_attention(m, cap), atol=1e-4, rtol=0)
    assert capture(m, "The cat", max_new_tokens=20).n_generated <= 6 - 3


def test_a_padded_batch_gives_each_text_its_own_weights(loaded):
    """The corpus job's batches: a shorter text padded on the right reads as it does alone."""
    m = loaded["mistral"]
    texts = [TEXT, "A bird was tired."]
    batch = capture_batch(m, [m.codec.encode(t) for t in texts])
    for text, cap in zip(texts, batch, strict=True):
        np.testing.assert_allclose(cap.attentions["decoder"], capture(m, text).attentions["decoder"], atol=1e-5)
        np.testing.assert_allclose(cap.k_raw["decoder"], capture(m, text).k_raw["decoder"], atol=1e-5)
    assert len(batch[1].tokens) < len(batch[0].tokens)


def test_interventions_find_every_output_projection(loaded):
    outputs = loaded["llama"].adapter.head_outputs(loaded["llama"].net)
    assert outputs == {f"model.layers.{i}.self_attn.o_proj": ("decoder", i) for i in range(2)}


def test_estimated_parameters_count_the_llama_layout(checkpoints):
    config = json.loads((checkpoints["llama"] / "config.json").read_text())
    real = sum(p.numel() for p in load_model(str(checkpoints["llama"])).net.parameters())
    norms = (2 * 2 + 1) * 32  # two RMSNorms a layer and the final one
    assert estimated_parameters("llama", config) == real - norms


# --- Folders that are not loadable ---------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_pickle_only_weights_are_refused(tmp_path, family):
    folder = build(family, tmp_path / family)
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"not": "read"}))
    with pytest.raises(ModelLoadError, match=r"only in pickle files \(pytorch_model.bin\)"):
        load_model(str(folder))


def edited_config(folder: Path, **changes) -> Path:
    """``folder`` with ``changes`` written into its config.json."""
    path = folder / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))
    return folder


@pytest.mark.parametrize("family", FAMILIES)
def test_broken_config_is_refused(tmp_path, family):
    folder = edited_config(build(family, tmp_path / family), hidden_size="wide")
    with pytest.raises(ModelLoadError, match="hidden_size should be a positive whole number"):
        load_model(str(folder))


def test_weights_that_do_not_fit_the_config(tmp_path):
    folder = edited_config(build("llama", tmp_path / "llama"), num_hidden_layers=3)
    with pytest.raises(ModelLoadError, match="do not fit"):
        load_model(str(folder))


def test_a_config_transformers_rejects_says_why(tmp_path):
    # Qwen2 lists one attention type per layer: now one short
    folder = edited_config(build("qwen2", tmp_path / "qwen2"), num_hidden_layers=3)
    with pytest.raises(ModelLoadError, match=r"could not be loaded as qwen2: .*must be equal to the number"):
        load_model(str(folder))


def test_added_token_beyond_the_embeddings(tmp_path):
    folder = build("llama", tmp_path / "llama")
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    n = tok.get_vocab_size(with_added_tokens=True)
    tok.add_special_tokens(["<|extra|>"])  # id n: one past the last embedding row
    tok.save(str(folder / "tokenizer.json"))
    with pytest.raises(ModelLoadError, match=rf"token id {n}, but the model has only {n} token embeddings"):
        load_model(str(folder))


def test_pad_id_beyond_the_embeddings(tmp_path):
    folder = build("mistral", tmp_path / "mistral")
    cfg = json.loads((folder / "config.json").read_text())
    cfg["pad_token_id"] = cfg["vocab_size"] + 5
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelLoadError, match=rf"pad_token_id {cfg['vocab_size'] + 5}, but the model has only"):
        load_model(str(folder))


# --- The dashboard ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_every_view_draws_a_llama_folder(checkpoints, monkeypatch):
    """A grouped-query RoPE decoder from a folder through every view and statistics section."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv(ROOTS_ENV, str(checkpoints["qwen2"].parent))
    at = AppTest.from_file("../dashboard.py", default_timeout=120)
    at.query_params.update({"model": "local", "folder": str(checkpoints["qwen2"]), "text": TEXT})
    at.run()
    assert not at.exception and not at.error
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    continued = capture(load_model(str(checkpoints["qwen2"])), TEXT, max_new_tokens=DEFAULT_NEW_TOKENS)
    assert continued.n_generated > 0  # the page continues a decoder's text
    assert spec["layout"]["xaxis"]["ticktext"] == [escape(t) for t in continued.query_labels("decoder")]
    assert_every_view_draws(at)
