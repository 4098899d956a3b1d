"""Our Transformer as a Llama (RoPE, grouped-query attention, RMSNorm, SwiGLU): a tiny random
``transformers.LlamaForCausalLM`` and ours on the same weights agree, and a capture reads it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM

from model import capture
from model.adapters import TransformerAdapter
from model.codec import TextCodec
from model.decoding import greedy
from model.llama_weights import llama_config, llama_state_dict
from model.transformer import Transformer
from model.types import LoadedModel

WORDS = ["<unk>", "<eos>", *"the cat sat on a mat and dog saw bird it was very tired".split()]


def tiny_config(tied: bool) -> LlamaConfig:
    return LlamaConfig(vocab_size=len(WORDS), hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                       rope_theta=500.0, rms_norm_eps=1e-5, tie_word_embeddings=tied, attn_implementation="eager")


def pair(tied: bool = False) -> tuple[LlamaForCausalLM, Transformer]:
    torch.manual_seed(0)
    ref = LlamaForCausalLM(tiny_config(tied)).eval()
    with torch.no_grad():  # norms start at 1: make them matter
        for name, p in ref.named_parameters():
            if "norm" in name:
                p.uniform_(0.5, 1.5)
    cfg = llama_config(ref.config.to_dict())
    net = Transformer(cfg)
    net.load_state_dict(llama_state_dict(ref.state_dict(), cfg), strict=True)
    return ref, net.eval()


@pytest.mark.parametrize("tied", [False, True])
def test_logits_and_attention_equal_transformers(tied):
    ref, net = pair(tied)
    assert net.cfg.kv_heads == 2 and net.cfg.positional == "rope" and net.cfg.norm == "rms"
    ids = torch.randint(0, len(WORDS), (2, 23), generator=torch.Generator().manual_seed(1))  # (B, T)
    seen = {}
    hooks = [net.decoder.layers[i].self_attn.hook_pattern.register_forward_hook(
        lambda m, a, out, i=i: seen.__setitem__(i, out)) for i in range(2)]
    with torch.inference_mode():
        out = ref(input_ids=ids, output_attentions=True)
        ours = net(ids)
    for h in hooks:
        h.remove()
    torch.testing.assert_close(ours, out.logits, atol=1e-5, rtol=0)
    for i in range(2):
        torch.testing.assert_close(seen[i], out.attentions[i], atol=1e-5, rtol=0)


def test_rope_hook_points_and_shapes():
    _, net = pair()
    names = set(net.hook_points())
    for n in ("q_raw", "k_raw", "q", "k", "v", "scores", "pattern"):
        assert f"decoder.layers.1.self_attn.hook_{n}" in names
    assert "embeddings.hook_positions" in names  # present, but RoPE never passes vectors through it
    assert net.embeddings.position_table() is None


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> LoadedModel:
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    path = tmp_path_factory.mktemp("tiny-llama") / "tokenizer.json"
    tok.save(str(path))
    _, net = pair()
    return LoadedModel(name="tiny-llama", net=net, codec=TextCodec(path, max_tokens=64),
                       adapter=TransformerAdapter(net), eos_id=1)


def test_capture_keeps_rotated_keys_with_kv_heads(tiny_model):
    ref, _ = pair()
    text = "the cat sat on a mat and the dog saw it"
    cap = capture(tiny_model, text)
    n = len(cap.tokens)
    assert cap.q["decoder"].shape == (2, 4, n, 8) and cap.k["decoder"].shape == (2, 2, n, 8)
    assert cap.q_raw["decoder"].shape == (2, 4, n, 8) and cap.k_raw["decoder"].shape == (2, 2, n, 8)
    assert cap.positions is None and "RoPE" in cap.positions_note
    assert tiny_model.adapter.positional == "rope"
    with torch.inference_mode():
        out = ref(input_ids=torch.tensor([tiny_model.codec.encode(text).ids]), output_attentions=True)
    np.testing.assert_allclose(cap.attentions["decoder"], np.stack([a[0].numpy() for a in out.attentions]),
                               atol=1e-5)
    # position 0 is not rotated; later ones are, by different angles
    np.testing.assert_allclose(cap.k["decoder"][:, :, 0], cap.k_raw["decoder"][:, :, 0], atol=1e-6)
    assert not np.allclose(cap.k["decoder"][:, :, 3], cap.k_raw["decoder"][:, :, 3], atol=1e-3)
    assert np.allclose(np.linalg.norm(cap.k["decoder"], axis=-1), np.linalg.norm(cap.k_raw["decoder"], axis=-1),
                       atol=1e-4)  # a rotation keeps lengths


def test_generation_continues_the_prompt(tiny_model):
    cap = capture(tiny_model, "the cat sat", max_new_tokens=5)
    prompt = tiny_model.codec.encode("the cat sat").ids
    expected = greedy(lambda ids: tiny_model.net(ids), 1, 0, 1, len(prompt) + 5, prefix=torch.tensor([prompt]))[0]
    assert cap.n_generated == len(expected) - len(prompt) <= 5
    assert cap.tokens[:3] == ["the", "cat", "sat"]
    assert cap.tokens == [WORDS[i] for i in expected]
    assert cap.q["decoder"].shape[2] == len(cap.tokens)
    assert cap.output_text == tiny_model.codec.decode(expected[len(prompt):])


def test_max_new_tokens_is_clamped(tiny_model):
    cap = capture(tiny_model, "the cat", max_new_tokens=-3)
    assert cap.n_generated == 0 and "between 0 and 200" in cap.notice
    assert len(cap.tokens) == 2
    assert capture(tiny_model, "the cat", max_new_tokens=0).notice is None
    long = " ".join(["the cat sat"] * 21)  # 63 of the model's 64 positions
    cap = capture(tiny_model, long, max_new_tokens=300)
    assert len(cap.tokens) <= 64 and cap.n_generated <= 1
    assert "between 0 and 200" in cap.notice and "64 positions" in cap.notice


def test_greedy_stops_at_eos_after_the_prefix():
    vocab = 5

    def always(ids: torch.Tensor) -> torch.Tensor:  # writes 3, then eos (1), then 4 forever
        nxt = {2: 3, 3: 1}.get(ids.shape[1], 4)
        return torch.nn.functional.one_hot(torch.full(ids.shape, nxt), vocab).float()  # (B, U, V)

    prefix = torch.tensor([[2, 1]])  # an eos inside the prompt does not end it
    assert greedy(always, 1, 0, 1, 10, prefix=prefix) == [[2, 1, 3, 1]]


def test_cached_steps_equal_rerunning_the_sequence(tiny_model):
    net = tiny_model.net
    ids = torch.randint(2, len(WORDS), (1, 12), generator=torch.Generator().manual_seed(3))  # (1, T)
    step = tiny_model.adapter.cached_steps(net)
    with torch.inference_mode():
        full = net(ids)  # (1, T, V)
        parts = [step(ids[:, :7]), step(ids[:, :8]), step(ids[:, :12])]  # the prompt, then new ids only
    # each step returns the logits of its last position alone: all greedy decoding reads
    assert [p.shape[1] for p in parts] == [1, 1, 1]
    torch.testing.assert_close(torch.cat(parts, dim=1), full[:, [6, 7, 11]], atol=1e-5, rtol=0)
