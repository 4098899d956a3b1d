"""Step by step: the scores it shows are the ones the model used, its softmax the head's row."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model import LoadedModel, capture, load_model
from model.adapters import TransformerAdapter
from model.hooks import hooked
from model.transformer import Transformer, TransformerConfig
from viz.steps import compute_step, contributions_table, scores_figure, weights_figure

TOKENS = ["[CLS]", "the", "cat", "saw", "the", "dog", "[SEP]"]


@pytest.fixture(scope="module")
def translator():
    return load_model("translator")


def own_patterns(model: LoadedModel, text: str, target: str | None = None) -> dict[tuple[str, int], np.ndarray]:
    """The softmax our Transformer itself computed, read at its hook_pattern points."""
    found = {}

    def keep(name, output):
        stack, _, layer, attn, _ = name.split(".")
        kind = "cross" if attn == "cross_attn" else stack
        found[(kind, int(layer))] = output[0].detach().numpy().copy()

    points = {n: p for n, p in model.net.hook_points().items() if n.endswith("hook_pattern")}
    with hooked(points, keep):
        capture(model, text, target)
    return found


def steps_match(cap, patterns, heads) -> None:
    for (kind, layer), pattern in patterns.items():
        for head in heads:
            terms = cap.score_terms(kind, layer, head)
            for query in range(pattern.shape[1]):
                step = compute_step({n: t[min(query, t.shape[0] - 1)] for n, t in terms.items()},
                                    cap.v[kind][layer, head])
                np.testing.assert_allclose(step.weights, pattern[head, query], atol=1e-5)
                np.testing.assert_allclose(cap.head(kind, layer, head)[query], pattern[head, query], atol=1e-5)


def test_minilm_steps_equal_the_forward_pass(minilm):
    steps_match(capture(minilm, "the cat saw the dog"), own_patterns(minilm, "the cat saw the dog"), [0, 5, 11])


def test_translator_steps_equal_the_forward_pass(translator):
    text = "the third of march nineteen ninety eight"
    cap = capture(translator, text)
    patterns = own_patterns(translator, text, target=None)
    assert {k for k, _ in patterns} == {"encoder", "decoder", "cross"}
    steps_match(cap, patterns, range(cap.n_heads("encoder")))
    assert cap.score_forms["decoder"].causal and not cap.score_forms["cross"].causal


def test_untrained_encoder_decoder_steps_equal_the_forward_pass(minilm):
    torch.manual_seed(0)
    cfg = TransformerConfig(vocab_size=minilm.codec.vocab_size, target_vocab_size=minilm.codec.vocab_size,
                            d_model=32, n_heads=4, n_layers=2, n_decoder_layers=2, d_ff=64, max_positions=64,
                            positional="sinusoidal", arch="encoder-decoder")
    net = Transformer(cfg).eval()
    model = LoadedModel("seq2seq", net, minilm.codec, TransformerAdapter(net), target_codec=minilm.codec)
    cap = capture(model, "the cat saw the dog", target="a dog was seen")
    steps_match(cap, own_patterns(model, "the cat saw the dog", "a dog was seen"), range(4))
    assert cap.shape("cross")[2:] == (len(cap.target_tokens), len(cap.tokens))


def test_step_figures_and_table(minilm):
    cap = capture(minilm, "the cat saw the dog")
    step = compute_step({n: t[4] for n, t in cap.score_terms("encoder", 1, 2).items()}, cap.v["encoder"][1, 2])
    scores = scores_figure(step, cap.tokens, "the", cap.score_forms["encoder"].describe())
    weights = weights_figure(step, cap.tokens, "the")
    np.testing.assert_allclose(scores.data[0].y, step.scores, rtol=1e-6)
    np.testing.assert_allclose(weights.data[0].y, step.weights, rtol=1e-6)
    assert "q · k / √32" in scores.layout.title.text
    assert list(weights.layout.xaxis.ticktext) == TOKENS
    table = contributions_table(step, cap.tokens, top=4)
    assert len(table) == 4
    assert table["|weight \u00b7 v|"].is_monotonic_decreasing
    np.testing.assert_allclose(table["weight"], step.weights[table["key"]])
    np.testing.assert_allclose(step.output, step.weights @ cap.v["encoder"][1, 2], rtol=1e-5, atol=1e-6)


def test_a_masked_key_gets_no_weight_and_no_bar():
    rng = np.random.default_rng(0)
    content, v = rng.normal(size=5), rng.normal(size=(5, 8))
    step = compute_step({"content": content, "mask": np.array([0, 0, -np.inf, -np.inf, -np.inf])}, v)
    assert step.weights[2:].tolist() == [0.0, 0.0, 0.0]
    assert step.weights.sum() == pytest.approx(1.0)
    assert np.isnan(scores_figure(step, list("abcde"), "b", "q · k").data[0].y[3])


def test_a_position_bias_is_its_own_term():
    content, bias = np.array([1.0, 2.0, 0.5]), np.array([-1.0, 0.5, 3.0])
    step = compute_step({"content": content, "bias": bias}, np.eye(3))
    np.testing.assert_allclose(step.scores, content + bias)
    expected = np.exp(content + bias) / np.exp(content + bias).sum()
    np.testing.assert_allclose(step.weights, expected)
    fig = scores_figure(step, list("abc"), "a", "q · k + a learned position bias")
    assert [t.name for t in fig.data] == ["q · k (content)", "position bias", "score (sum)"]
    np.testing.assert_allclose(fig.data[1].y, bias, rtol=1e-6)
    np.testing.assert_allclose(fig.data[2].y, content + bias, rtol=1e-6)
