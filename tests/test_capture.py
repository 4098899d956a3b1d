"""capture() on the pretrained MiniLM: parity with transformers, hooks, threads, bad input."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from transformers import BertModel

from model import Capture, capture
from model.hooks import hooked
from model.loading import minilm_dir

SENTENCES = [
    "The cat sat on the mat.",
    "the cat saw the dog and the bird",
    "The animal didn't cross the street because it was too tired.",
    "我爱自然语言处理。北京是中国的首都。",
    "Attention is all you need 🤖🔥 — naïve café",
    "<b>bold</b> & <script>alert(1)</script>",
]


@pytest.fixture(scope="module")
def reference():
    return BertModel.from_pretrained(str(minilm_dir()), attn_implementation="eager").eval()


@pytest.mark.parametrize("text", SENTENCES)
def test_parity_with_transformers(minilm, reference, text):
    cap = capture(minilm, text)
    ids = torch.tensor([minilm.codec.encode(text).ids])
    with torch.inference_mode():
        ref = reference(ids, output_attentions=True)
        ours = minilm.net(ids)
    ref_att = np.stack([a[0].numpy() for a in ref.attentions])  # (L, H, T, T)
    assert cap.attentions["encoder"].shape == ref_att.shape == (6, 12, len(cap.tokens), len(cap.tokens))
    np.testing.assert_allclose(cap.attentions["encoder"], ref_att, atol=1e-4)
    np.testing.assert_allclose(ours.numpy(), ref.last_hidden_state.numpy(), atol=1e-4)
    table = reference.embeddings.position_embeddings.weight.detach().numpy()
    np.testing.assert_array_equal(cap.positions, table[: len(cap.tokens)])


def test_capture_fields(minilm):
    cap = capture(minilm, "the cat saw the dog")
    assert cap.tokens == ["[CLS]", "the", "cat", "saw", "the", "dog", "[SEP]"]
    assert cap.target_tokens is None
    assert set(cap.attentions) == {"encoder"}
    att = cap.attentions["encoder"]
    assert att.dtype == np.float32
    np.testing.assert_allclose(att.sum(-1), 1.0, atol=1e-5)
    assert cap.positions.shape == (7, 384)
    assert not cap.truncated and cap.notice is None
    q, k = cap.q["encoder"], cap.k["encoder"]
    assert q.shape == (6, 12, 7, 32)
    scores = q[2, 5] @ k[2, 5].T / np.sqrt(32)
    softmax = np.exp(scores - scores.max(-1, keepdims=True))
    np.testing.assert_allclose(softmax / softmax.sum(-1, keepdims=True), att[2, 5], atol=1e-5)


def test_to_frame(minilm):
    cap = capture(minilm, "the cat saw the dog")
    df = cap.to_frame()
    assert list(df.columns) == ["kind", "layer", "head", "query", "query_token", "key", "key_token", "weight"]
    assert len(df) == 6 * 12 * 7 * 7
    row = df[(df["layer"] == 3) & (df["head"] == 4) & (df["query"] == 1) & (df["key"] == 4)].iloc[0]
    assert row.query_token == "the" and row.key_token == "the"
    assert row.weight == cap.attentions["encoder"][3, 4, 1, 4]


def test_no_hook_left_behind(minilm):
    capture(minilm, "hooks come and go")
    assert all(not m._forward_hooks for m in minilm.net.modules())


def test_no_hook_left_when_capture_fails_midway(minilm, monkeypatch):
    class Boom(RuntimeError):
        pass

    def explode(x):
        raise Boom("layer 3 failed")

    # layer 3's feed-forward fails after the hooks of layers 0..3 have fired
    monkeypatch.setattr(minilm.net.encoder.layers[3].ffn, "forward", explode)
    with pytest.raises(Boom):
        capture(minilm, "the forward pass raises halfway")
    assert all(not m._forward_hooks for m in minilm.net.modules())
    monkeypatch.undo()
    np.testing.assert_allclose(capture(minilm, "ok again").attentions["encoder"].sum(-1), 1.0, atol=1e-5)


def test_no_hook_left_when_forward_raises(minilm):
    class Boom(RuntimeError):
        pass

    def explode(name, output):
        raise Boom(name)

    with pytest.raises(Boom):
        with hooked(minilm.net.hook_points(), explode):
            minilm.net(torch.tensor([[101, 102]]))
    assert all(not m._forward_hooks for m in minilm.net.modules())


def test_concurrent_captures_each_get_their_own(minilm):
    texts = [f"sentence number {i} is about {w}" for i, w in
             enumerate(["cats", "the weather in spring", "a b c d e f", "ok", "rivers and banks",
                        "北京", "🤖 robots", "why not"])]
    sequential = [capture(minilm, t) for t in texts]
    results: list[Capture | None] = [None] * len(texts)
    barrier = threading.Barrier(len(texts))

    def work(i: int) -> None:
        barrier.wait()
        results[i] = capture(minilm, texts[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for seq, par in zip(sequential, results, strict=True):
        assert par.tokens == seq.tokens
        np.testing.assert_allclose(par.attentions["encoder"], seq.attentions["encoder"], atol=1e-6)
        np.testing.assert_array_equal(par.positions, seq.positions)


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_empty_text_is_a_readable_error(minilm, text):
    with pytest.raises(ValueError, match="empty"):
        capture(minilm, text)


def test_long_text_is_truncated_and_says_so(minilm):
    cap = capture(minilm, "word " * 700)
    assert cap.truncated
    assert len(cap.tokens) == 512 and cap.tokens[-1] == "[SEP]"
    assert "702 tokens" in cap.notice and "512" in cap.notice
    assert cap.attentions["encoder"].shape == (6, 12, 512, 512)


UNICODE = ["مرحبا بالعالم", "שלום עולם", "a\u200bb\u200dc", "👩‍👩‍👧‍👦 family", "日本語のテキスト"]


@pytest.mark.parametrize("text", UNICODE)
def test_any_unicode(minilm, text):
    cap = capture(minilm, text)
    np.testing.assert_allclose(cap.attentions["encoder"].sum(-1), 1.0, atol=1e-5)


def test_zero_positions_ablation(minilm):
    plain = capture(minilm, "the cat saw the dog")
    ablated = capture(minilm, "the cat saw the dog", zero_positions=True)
    assert np.all(ablated.positions == 0)
    assert not np.allclose(plain.attentions["encoder"], ablated.attentions["encoder"], atol=1e-3)


def test_to_frame_narrowed_equals_the_whole_frame_filtered(minilm):
    cap = capture(minilm, "the cat saw the dog")
    whole = cap.to_frame()
    narrowed = cap.to_frame("encoder", layer=2, head=5)
    expected = whole[(whole["layer"] == 2) & (whole["head"] == 5)].reset_index(drop=True)
    assert len(narrowed) == 7 * 7
    assert narrowed.astype(str).equals(expected.astype(str))
    assert len(cap.to_frame("encoder", layer=4)) == 12 * 7 * 7


def test_each_head_is_the_reference_head_at_510_tokens(minilm, reference):
    """cap.head rebuilds each head from the kept queries and keys: transformers' weights within 1e-5."""
    text = " ".join(["the quick brown fox jumps over the lazy dog"] * 60)
    cap = capture(minilm, text)
    assert len(cap.tokens) == 512
    ids = torch.tensor([minilm.codec.encode(text).ids])
    with torch.inference_mode():
        ref = reference(ids, output_attentions=True).attentions
    for layer, head in [(0, 0), (2, 7), (5, 11)]:
        got = cap.head("encoder", layer, head)
        assert got.dtype == np.float32 and got.shape == (512, 512)
        np.testing.assert_allclose(got, ref[layer][0, head].numpy(), atol=1e-5, rtol=0)
    np.testing.assert_allclose(cap.layer("encoder", 4), ref[4][0].numpy(), atol=1e-5, rtol=0)


def test_a_capture_grows_with_tokens_not_tokens_squared(minilm):
    text = " ".join(["the quick brown fox jumps over the lazy dog"] * 60)
    cap = capture(minilm, text)
    dense = 6 * 12 * 512 * 512 * 4  # every weight as float32: 75 MB
    assert cap.nbytes <= 20_000_000 < dense
    thumbs = cap.thumbnails("encoder")
    assert thumbs.dtype == np.uint8 and thumbs.shape == (6, 12, 47, 47)  # 512 tokens in blocks of 11
    assert cap.nbytes <= 20_000_000
    block = cap.head("encoder", 1, 3)[:11, :11].max()
    assert abs(int(thumbs[1, 3, 0, 0]) - block * 255) <= 0.5 + 1e-3
    assert not any(a.flags.writeable for a in [*cap.q.values(), *cap.k.values(), *cap.v.values(), thumbs])


def test_attentions_are_built_on_access_and_not_kept(minilm):
    cap = capture(minilm, "the cat saw the dog")
    before = cap.nbytes
    first = cap.attentions["encoder"]
    assert cap.nbytes == before and cap.attentions["encoder"] is not first
    np.testing.assert_array_equal(first[3, 2], cap.head("encoder", 3, 2))
