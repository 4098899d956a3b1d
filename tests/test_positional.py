"""Positional encodings: the sinusoidal formula, permutation equivariance without positions, the
shuffled-words ablation on MiniLM, and the figures of the Positions view."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from model import capture
from model.ablation import align_shuffled, max_gap, reorder, shuffle_words
from model.adapters import OUR_POSITIONS as POSITIONS
from model.hooks import hooked
from model.statistics import offset_profile, position_similarity
from model.transformer import Transformer, TransformerConfig
from viz.positional import dimension_curves, offset_profile_heatmap, positions_heatmap, similarity_heatmap


def small_encoder(positional: str) -> Transformer:
    torch.manual_seed(0)
    cfg = TransformerConfig(vocab_size=50, d_model=32, n_heads=4, n_layers=2, d_ff=64, max_positions=64,
                            positional=positional, arch="encoder")
    return Transformer(cfg).eval()


def run(net: Transformer, ids: list[int], zero_positions: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Attention ``[L, H, T, T]`` and the positional vectors the embeddings added, read through hooks."""
    patterns: dict[int, np.ndarray] = {}
    seen: list[np.ndarray] = []

    def record(name: str, output: torch.Tensor):
        if name == POSITIONS:
            seen.append(output.detach().numpy().copy())
            return torch.zeros_like(output) if zero_positions else None
        patterns[int(name.split(".")[2])] = output[0].detach().numpy().copy()
        return None

    points = {n: m for n, m in net.hook_points().items() if n == POSITIONS or n.endswith("hook_pattern")}
    with hooked(points, record), torch.inference_mode():
        net(torch.tensor([ids]))
    return np.stack([patterns[i] for i in sorted(patterns)]), (seen[0] if seen else None)


def test_sinusoidal_positions_match_the_formula():
    net = small_encoder("sinusoidal")
    _, positions = run(net, list(range(1, 21)), zero_positions=False)
    d = 32
    expected = np.zeros((20, d))
    for pos in range(20):
        for i in range(d // 2):
            angle = pos / 10000 ** (2 * i / d)
            expected[pos, 2 * i], expected[pos, 2 * i + 1] = math.sin(angle), math.cos(angle)
    np.testing.assert_allclose(positions, expected, atol=1e-5)
    # banded: near positions are more alike than far ones
    sim = position_similarity(net.embeddings.position_table().numpy(), "cosine")
    assert sim[10, 11] > sim[10, 14] > sim[10, 30]


@pytest.mark.parametrize("positional", ["learned", "sinusoidal"])
def test_zeroed_positions_make_attention_permutation_equivariant(positional):
    net = small_encoder(positional)
    ids = list(range(1, 13))
    perm = np.random.default_rng(3).permutation(len(ids))
    shuffled = [ids[i] for i in perm]
    att, _ = run(net, ids, zero_positions=True)
    att_perm, _ = run(net, shuffled, zero_positions=True)
    # shuffled position j holds original token perm[j]: the pattern permutes the same way
    np.testing.assert_allclose(att_perm, att[..., perm, :][..., :, perm], atol=1e-5)
    with_pos, _ = run(net, ids, zero_positions=False)
    with_pos_perm, _ = run(net, shuffled, zero_positions=False)
    assert np.abs(with_pos_perm - with_pos[..., perm, :][..., :, perm]).max() > 1e-3


def test_model_without_positions_is_equivariant_and_has_no_positions():
    net = small_encoder("none")
    ids = [5, 9, 2, 7, 7, 1]
    perm = np.array([3, 0, 5, 1, 4, 2])
    att, positions = run(net, ids, zero_positions=False)
    att_perm, _ = run(net, [ids[i] for i in perm], zero_positions=False)
    assert positions is None
    np.testing.assert_allclose(att_perm, att[..., perm, :][..., :, perm], atol=1e-5)


def test_shuffle_words_is_a_seeded_permutation():
    text = "the cat saw the dog and the bird"
    shuffled, order = shuffle_words(text, 7)
    assert shuffle_words(text, 7)[0] == shuffled
    assert sorted(order) == list(range(8)) and list(order) != list(range(8))
    assert shuffled.split() == [text.split()[i] for i in order]
    assert shuffle_words("two words", 0)[0] == "words two"  # never the identity
    assert shuffle_words("one", 0)[0] == "one"


def test_shuffle_words_within_a_span_moves_only_the_words_there():
    text = "<|user|>\nthe cat  saw\tthe dog<|end|>\n<|assistant|>\n"
    start = text.index("the cat")
    span = (start, start + len("the cat  saw\tthe dog"))
    shuffled, order = shuffle_words(text, 3, within=span)
    words = text.split()
    assert len(shuffled) == len(text)  # the same words and the same gaps
    assert shuffled[:start] == text[:start] and shuffled.endswith("<|end|>\n<|assistant|>\n")
    assert shuffled.split() == [words[i] for i in order]
    moved = [i for i, j in enumerate(order) if i != j]
    assert moved and all(1 <= i <= 4 for i in moved)  # "dog<|end|>" straddles the span's end: it stays
    assert "  " in shuffled and "\t" in shuffled
    assert shuffle_words(text, 3, within=(0, start))[0] == text  # nothing wholly inside: nothing moves


def test_minilm_without_positions_cannot_tell_the_shuffled_sentence_apart(minilm):
    text = "The animal didn't cross the street because it was too tired."
    shuffled, order = shuffle_words(text, 0)
    idx = align_shuffled(minilm.codec, text, shuffled, order)
    original, mixed = capture(minilm, text), capture(minilm, shuffled)
    assert [mixed.tokens[i] for i in idx] == original.tokens
    zeroed, mixed_zeroed = capture(minilm, text, zero_positions=True), capture(minilm, shuffled, zero_positions=True)
    assert max_gap(zeroed.attentions["encoder"], reorder(mixed_zeroed.attentions["encoder"], idx)) < 1e-4
    assert max_gap(original.attentions["encoder"], reorder(mixed.attentions["encoder"], idx)) > 0.1


def test_align_shuffled_gives_up_on_truncated_text(minilm):
    text = " ".join(["word"] * 600)
    shuffled, order = shuffle_words(text, 0)
    assert align_shuffled(minilm.codec, text, shuffled, order) is None


def test_positions_heatmap_and_curves(minilm):
    cap = capture(minilm, "the cat saw the dog")
    fig = positions_heatmap(cap.positions, cap.tokens, title="<b>x</b>")
    assert np.asarray(fig.data[0].z).shape == (7, 384)
    assert list(fig.layout.yaxis.ticktext) == cap.tokens
    assert fig.layout.title.text == "&lt;b&gt;x&lt;/b&gt;"
    curves = dimension_curves(cap.positions, [0, 5])
    assert len(curves.data) == 2
    np.testing.assert_array_equal(curves.data[1].y, cap.positions[:, 5])
    with pytest.raises(ValueError, match="outside"):
        dimension_curves(cap.positions, [384])


def test_similarity_over_all_512_learned_positions(minilm):
    table = minilm.net.embeddings.position_table().detach().numpy()
    fig = similarity_heatmap(position_similarity(table, "cosine"), metric="cosine")
    z = np.asarray(fig.data[0].z)
    assert z.shape == (512, 512) and z.dtype == np.float32
    np.testing.assert_allclose(np.diag(z), 1.0, atol=1e-5)
    assert (fig.data[0].zmin, fig.data[0].zmax) == (-1.0, 1.0)
    # What the browser receives is z itself (float32, base64: 4/3 bytes a byte) and little else: no
    # per-cell hover text, which at 512 x 512 would add megabytes; hover reads the coordinates instead.
    sent = json.loads(fig.to_json())["data"][0]
    assert set(sent) & {"text", "hovertext", "customdata"} == set()
    assert len(fig.to_json()) < 1.2 * (512 * 512 * 4 * 4 / 3)
    assert fig.data[0].hovertemplate == "position %{y}<br>position %{x}<br>cosine %{z:.3f}<extra></extra>"
    np.testing.assert_array_equal(fig.data[0].x, np.arange(512))
    dot = similarity_heatmap(position_similarity(table, "dot"), metric="dot")
    assert dot.data[0].zmid == 0.0


def test_offset_profile_heatmap_rows_are_heads(minilm):
    cap = capture(minilm, "the cat saw the dog and the bird")
    offsets, profile = offset_profile(cap.attentions["encoder"], 3)
    fig = offset_profile_heatmap(offsets, profile)
    assert list(fig.data[0].x) == [-3, -2, -1, 0, 1, 2, 3]
    assert np.asarray(fig.data[0].z).shape == (72, 7)
    assert fig.data[0].y[0] == "L0 H0" and fig.data[0].y[-1] == "L5 H11"
    # L0 H2 of MiniLM is a previous-token head on this sentence
    assert np.asarray(fig.data[0].z)[2].argmax() == list(offsets).index(-1)
