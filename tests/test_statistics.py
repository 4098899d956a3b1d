"""Head statistics, rollout and clustering on cases whose answer is known; corpus statistics on MiniLM."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from model import capture
from model.corpus import capture_statistics, corpus_statistics, parse_corpus, token_batches
from model.statistics import (
    STAT_COLUMNS,
    attention_rollout,
    cluster_heads,
    cluster_order,
    head_similarity,
    head_statistics,
    is_punctuation,
    largest_changes,
    offset_profile,
    position_similarity,
    similar_heads,
)
from tests.statistics_reference import reference_measures

TOKENS = ["[CLS]", "the", "cat", "sat", ".", "[SEP]"]


def previous_token_head(n: int) -> np.ndarray:
    """Every query attends fully to the token before it; the first, which has none, to the next."""
    w = np.zeros((n, n), dtype=np.float32)
    w[np.arange(1, n), np.arange(n - 1)] = 1.0
    w[0, 1] = 1.0
    return w


def test_previous_token_head_has_previous_share_one_and_distance_one():
    att = previous_token_head(6)[None, None]  # (1, 1, 6, 6)
    row = head_statistics(att, TOKENS).iloc[0]
    assert row["previous"] == pytest.approx(1.0)
    assert row["distance"] == pytest.approx(1.0)
    assert row["same"] == pytest.approx(0.0)
    assert row["next"] == pytest.approx(1 / 5)  # only the first query looks ahead, 1 of 5 that can
    assert row["confidence"] == pytest.approx(1.0)
    assert row["entropy"] == pytest.approx(0.0, abs=1e-7)
    offsets, profile = offset_profile(att)
    assert list(offsets) == list(range(-5, 6))
    assert profile[0, 0, list(offsets).index(-1)] == pytest.approx(1.0)
    assert profile[0, 0, list(offsets).index(-3)] == pytest.approx(0.0)


def test_offset_profile_can_leave_positions_out():
    att = previous_token_head(6)[None, None]  # (1, 1, 6, 6)
    att[..., 1, :] = 0.0
    att[..., 1, 5] = 1.0  # position 1 looks at the last token instead
    keep = np.array([False, True, True, True, True, False])
    offsets, profile = offset_profile(att, keep=keep)
    assert list(offsets) == [-3, -2, -1, 0, 1, 2, 3]
    # among positions 1..4, queries 2..4 attend to the previous one; query 1's weight left with position 5
    assert profile[0, 0, 2] == pytest.approx(1.0)
    assert profile[0, 0].sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="keep mask"):
        offset_profile(att, keep=keep[:3])


@pytest.mark.parametrize("n", [1, 2, 7, 64])
def test_uniform_attention_has_maximum_entropy(n):
    att = np.full((2, 3, n, n), 1.0 / n, dtype=np.float32)
    frame = head_statistics(att, ["x"] * n)
    np.testing.assert_allclose(frame["entropy"], math.log(n), atol=1e-5)
    # mean |i - j| over all pairs of 0..n-1 is (n^2 - 1) / (3n)
    np.testing.assert_allclose(frame["distance"], (n * n - 1) / (3 * n), rtol=1e-5)
    peaked = np.eye(n, dtype=np.float32)[None, None]
    assert head_statistics(peaked, ["x"] * n)["entropy"].iloc[0] == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("self_attention", [True, False])
def test_random_heads_equal_the_plain_numpy_reading(self_attention):
    rng = np.random.default_rng(7)
    q_tokens = ["[CLS]", "the", ",", "cat", "sat", "!", "[SEP]"]
    k_tokens = q_tokens if self_attention else ["<s>", "a", ".", "b", "</s>"]
    att = rng.dirichlet(np.full(len(k_tokens), 0.3), size=(3, 4, len(q_tokens))).astype(np.float32)
    att[0, 0, :, 1] = 0.0  # zero weights: 0 log 0 counts as 0
    att[0, 0] /= att[0, 0].sum(-1, keepdims=True)
    frame = head_statistics(att, q_tokens, k_tokens, self_attention=self_attention)
    want = reference_measures(att, q_tokens, k_tokens, self_attention=self_attention)
    got = frame[STAT_COLUMNS].to_numpy()
    assert np.array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0, equal_nan=True)


def test_shares_on_special_and_punctuation_tokens():
    w = np.zeros((6, 6), dtype=np.float32)
    w[:, 0] = 0.5  # [CLS]
    w[:, 5] = 0.25  # [SEP]
    w[:, 4] = 0.25  # "."
    row = head_statistics(w[None, None], TOKENS).iloc[0]
    assert (row["cls"], row["sep"], row["punct"]) == pytest.approx((0.5, 0.25, 0.25))


@pytest.mark.parametrize(("token", "expected"), [
    (".", True), ("##.", True), ("Ġ,", True), ("▁!", True), ("...", True), ("「", True),
    ("a", False), ("[CLS]", False), ("", False), ("##", False), ("$", False), ("it's", False),
])
def test_is_punctuation(token, expected):
    assert is_punctuation(token) is expected


def test_one_token_has_no_neighbours():
    row = head_statistics(np.ones((1, 1, 1, 1), dtype=np.float32), ["[CLS]"]).iloc[0]
    assert math.isnan(row["previous"]) and math.isnan(row["next"])
    assert row["same"] == 1.0 and row["distance"] == 0.0 and row["entropy"] == 0.0


def test_cross_attention_leaves_positional_measures_out():
    rng = np.random.default_rng(0)
    att = rng.dirichlet(np.ones(5), size=(2, 3, 4)).astype(np.float32)  # (2, 3, 4, 5): 4 queries, 5 keys
    frame = head_statistics(att, ["a", "b", "c", "d"], ["<s>", "x", "y", ",", "</s>"], self_attention=False)
    assert len(frame) == 6 and list(frame.columns) == ["layer", "head", *STAT_COLUMNS]
    assert frame[["distance", "previous", "same", "next"]].isna().all().all()
    np.testing.assert_allclose(frame["cls"], att[..., 0].mean(-1).ravel(), rtol=1e-5)
    np.testing.assert_allclose(frame["sep"], att[..., 4].mean(-1).ravel(), rtol=1e-5)
    np.testing.assert_allclose(frame["confidence"], att.max(-1).mean(-1).ravel(), rtol=1e-5)
    with pytest.raises(ValueError, match="do not match"):
        head_statistics(att, ["a"], ["b"])


def test_rollout_of_identity_attention_is_identity():
    att = np.broadcast_to(np.eye(5, dtype=np.float32), (3, 4, 5, 5))
    np.testing.assert_allclose(attention_rollout(att), np.broadcast_to(np.eye(5), (3, 5, 5)), atol=1e-7)


def test_rollout_multiplies_residual_mixed_layers():
    rng = np.random.default_rng(1)
    att = rng.dirichlet(np.ones(4), size=(2, 3, 4)).astype(np.float64)  # (2, 3, 4, 4)
    mixed = [0.5 * att[i].mean(0) + 0.5 * np.eye(4) for i in range(2)]
    rollout = attention_rollout(att)
    np.testing.assert_allclose(rollout[0], mixed[0], atol=1e-6)
    np.testing.assert_allclose(rollout[1], mixed[1] @ mixed[0], atol=1e-6)
    np.testing.assert_allclose(rollout.sum(-1), 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="square"):
        attention_rollout(att[..., :3])


def test_clusters_recover_two_kinds_of_head():
    n = 6
    prev, first = previous_token_head(n), np.zeros((n, n), dtype=np.float32)
    first[:, 0] = 1.0
    heads = np.stack([prev, first, prev, first, first, prev])  # (6, n, n)
    att = heads.reshape(2, 3, n, n)  # (L=2, H=3, n, n)
    sim = head_similarity(att)
    assert sim.shape == (6, 6)
    np.testing.assert_allclose(np.diag(sim), 1.0, atol=1e-6)
    labels = cluster_heads(sim, 2)
    assert list(labels) == [0, 1, 0, 1, 1, 0]
    assert list(cluster_order(labels)) == [0, 2, 5, 1, 3, 4]
    assert [i for i, _ in similar_heads(sim, 0, k=2)] == [2, 5]
    assert similar_heads(sim, 0, k=2)[0][1] == pytest.approx(1.0)
    assert len(set(cluster_heads(sim, 6))) == 6 and set(cluster_heads(sim, 1)) == {0}


def test_position_similarity():
    v = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0]], dtype=np.float32)
    np.testing.assert_allclose(position_similarity(v, "cosine"), [[1, 1, 0], [1, 1, 0], [0, 0, 1]], atol=1e-6)
    np.testing.assert_allclose(position_similarity(v, "dot"), v @ v.T)
    with pytest.raises(ValueError, match="metric"):
        position_similarity(v, "euclid")


def test_largest_changes_lists_the_biggest_first():
    a = np.zeros((3, 3), dtype=np.float32)
    b = a.copy()
    b[2, 1], b[0, 0] = -0.5, 0.2
    table = largest_changes(a, b, ["x", "y", "z"], n=2)
    assert list(table["query"]) == [2, 0] and list(table["key token"]) == ["y", "x"]
    assert list(table["change (B - A)"]) == pytest.approx([-0.5, 0.2])


def test_parse_corpus_limits():
    assert parse_corpus("one\n\n  two  \n") == ["one", "two"]
    with pytest.raises(ValueError, match="empty"):
        parse_corpus("\n  \n")
    with pytest.raises(ValueError, match="201 sentences; at most 200"):
        parse_corpus("s\n" * 201)
    with pytest.raises(ValueError, match="MB"):
        parse_corpus("x" * 2_000_001)


CORPUS = [
    "The cat sat on the mat.",
    "The animal didn't cross the street because it was too tired.",
    "hello",
    "She went to the bank to deposit money, then sat on the river bank.",
    "   ",
]


def test_corpus_statistics_equal_per_sentence_captures(minilm):
    calls = []
    frame = corpus_statistics(minilm, CORPUS, batch_size=3, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(3, 4), (4, 4)]  # the blank line is skipped
    assert len(frame) == 6 * 12 and (frame["sentences"] == 4).all()
    per = pd.concat([capture_statistics(capture(minilm, s)) for s in CORPUS if s.strip()])
    grouped = per.groupby(["kind", "layer", "head"])[STAT_COLUMNS]
    expected_mean, expected_std = grouped.mean().reset_index(), grouped.std().reset_index()
    for col in STAT_COLUMNS:
        np.testing.assert_allclose(frame[f"{col}_mean"], expected_mean[col], atol=1e-4, err_msg=col)
        np.testing.assert_allclose(frame[f"{col}_std"], expected_std[col], atol=1e-4, err_msg=col)
    # one padded batch and one sentence at a time agree
    one_by_one = corpus_statistics(minilm, CORPUS, batch_size=1)
    np.testing.assert_allclose(one_by_one["entropy_mean"], frame["entropy_mean"], atol=1e-5)
    with pytest.raises(ValueError, match="no readable sentence"):
        corpus_statistics(minilm, ["", "[SEP]"])


def test_capture_statistics_of_an_encoder_decoder(minilm):
    """Every kind gets its rows; cross-attention's positional measures are left out."""
    import torch

    from model import LoadedModel
    from model.adapters import TransformerAdapter
    from model.transformer import Transformer, TransformerConfig

    torch.manual_seed(0)
    cfg = TransformerConfig(vocab_size=minilm.codec.vocab_size, d_model=32, n_heads=4, n_layers=2,
                            n_decoder_layers=3, d_ff=64, positional="sinusoidal", arch="encoder-decoder")
    net = Transformer(cfg).eval()
    tiny = LoadedModel(name="tiny", net=net, codec=minilm.codec, adapter=TransformerAdapter(net),
                       target_codec=minilm.codec)
    cap = capture(tiny, "the cat saw the dog", target="a cat")
    frame = capture_statistics(cap)
    assert list(frame.groupby("kind", sort=False).size().items()) == [("encoder", 8), ("decoder", 12), ("cross", 12)]
    cross = frame[frame["kind"] == "cross"]
    assert cross["distance"].isna().all() and cross["entropy"].notna().all()
    decoder = frame[frame["kind"] == "decoder"]
    assert (decoder["next"] == 0).all()  # causal: nothing attends ahead
    rollout = attention_rollout(cap.attentions["decoder"])
    assert rollout.shape == (3, 4, 4) and np.allclose(np.triu(rollout[-1], 1), 0)


def test_corpus_batches_are_bounded_by_tokens(minilm):
    long_text = "word " * 600  # truncated to 512 tokens
    texts = [long_text] * 20 + ["A short one."] * 50
    batches = token_batches(minilm, texts, batch_size=64, max_tokens=4096)
    assert sorted(t for b in batches for t in b) == sorted(texts)
    for b in batches:
        longest = max(min(minilm.codec.encode(t).n_total, minilm.max_tokens) for t in b)
        assert len(b) == 1 or len(b) * longest <= 4096
    assert max(len(b) for b in batches if long_text in b) == 8  # 8 x 512 tokens
    assert max(len(b) for b in batches) > 8  # short sentences still batch widely


def test_token_batched_corpus_equals_one_by_one(minilm):
    texts = ["word " * 300, "The cat sat on the mat.", "word " * 200 + "end", "It rained.", "Short."]
    batched = corpus_statistics(minilm, texts, batch_size=64)
    one_by_one = corpus_statistics(minilm, texts, batch_size=1)
    numbers = batched.select_dtypes("number").columns
    np.testing.assert_allclose(batched[numbers].to_numpy(), one_by_one[numbers].to_numpy(), atol=1e-6)


def test_statistics_one_layer_at_a_time_equal_those_of_every_head(minilm):
    """The statistics view reads ``cap.layers``: per-layer statistics, and rollout of each layer's mean of heads,
    equal what the whole ``[L, H, Q, K]`` gives."""
    cap = capture(minilm, "The cat sat on the mat, and the dog watched.")
    every = np.stack(list(cap.layers("encoder")))
    whole = head_statistics(every, cap.tokens)
    by_layer = pd.concat([head_statistics(att[None], cap.tokens).assign(layer=layer)
                          for layer, att in enumerate(cap.layers("encoder"))], ignore_index=True)
    pd.testing.assert_frame_equal(by_layer, whole, rtol=1e-5)
    means = np.stack([att.mean(axis=0) for att in cap.layers("encoder")])[:, None]  # (L, 1, T, T)
    np.testing.assert_allclose(attention_rollout(means), attention_rollout(every), atol=1e-5)
    # the offset profile, one layer at a time
    offsets, profile = offset_profile(every, 3)
    per_layer = np.stack([offset_profile(att, 3)[1] for att in cap.layers("encoder")])
    np.testing.assert_allclose(per_layer, profile, atol=1e-6)
    assert list(offsets) == [-3, -2, -1, 0, 1, 2, 3]
