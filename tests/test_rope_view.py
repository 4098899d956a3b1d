"""RoPE in the Positions view: model.rope against SmolLM2's capture, its figures, the view in AppTest, and the
robust colour range of positional vectors."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from model import capture, load_model, rope
from model.ablation import shuffle_words
from model.hooks import hooked
from model.types import softmax
from ui import positions_view
from ui.text import plain
from viz.positional import colour_range, positions_heatmap
from viz.rope import frequency_figure, offset_scores_figure, pair_contribution_figure, query_scores_figure

TEXT = "The capital of France is Paris, and the capital of Italy is Rome."
KIND = "decoder"
TIMEOUT = 300
HEADS = [(0, 0), (3, 4), (18, 8), (29, 8)]  # first and last layer, a key head shared by three query heads


@pytest.fixture(scope="module")
def smollm2():
    return load_model("smollm2")


@pytest.fixture(scope="module")
def cap(smollm2):
    return capture(smollm2, TEXT)


def rotate_half(x: np.ndarray, theta: float) -> np.ndarray:
    """``x [T, dh]`` with pair (i, i + dh/2) at position t turned by t * theta^(-2i/dh), written out here."""
    t, dh = x.shape
    angle = np.arange(t)[:, None] * theta ** (-2.0 * np.arange(dh // 2) / dh)[None, :]  # (T, dh/2)
    a, b = x[:, : dh // 2], x[:, dh // 2:]
    return np.concatenate([a * np.cos(angle) - b * np.sin(angle), b * np.cos(angle) + a * np.sin(angle)], axis=1)


def test_capture_declares_rope(cap):
    assert cap.rope_theta == 100_000.0 and cap.positions is None and "RoPE" in cap.positions_note
    assert rope.uses_rope(cap, KIND)
    assert cap.q_raw[KIND].shape == cap.q[KIND].shape == (30, 9, len(cap.tokens), 64)
    assert cap.k_raw[KIND].shape == cap.k[KIND].shape == (30, 3, len(cap.tokens), 64)


def test_frequencies_are_the_models_and_turn_raw_queries_into_rotated_ones(cap, smollm2):
    freq = rope.frequencies(64, cap.rope_theta)
    np.testing.assert_allclose(freq, smollm2.net.rotary.inv_freq.numpy(), rtol=1e-6)
    assert freq[0] == 1.0 and np.all(np.diff(freq) < 0)
    np.testing.assert_allclose(rope.wavelengths(freq), 2 * np.pi / freq)
    assert rope.wavelengths(freq)[-1] > 4e5  # the slowest pair: more than 400k tokens for one turn
    for layer, head in HEADS:
        np.testing.assert_allclose(rotate_half(cap.q_raw[KIND][layer, head].astype(np.float64), cap.rope_theta),
                                   cap.q[KIND][layer, head], atol=2e-4, rtol=1e-4)
        np.testing.assert_allclose(rotate_half(cap.k_raw[KIND][layer, head // 3].astype(np.float64), cap.rope_theta),
                                   cap.k[KIND][layer, head // 3], atol=2e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="even"):
        rope.frequencies(63, 10_000.0)


def test_queries_and_keys_before_rotation_are_what_the_hooks_saw(smollm2):
    """A capture keeps the rotated q / k and the pass's angles; turned back they are the projections' output."""
    modules = dict(smollm2.net.named_modules())
    points = {f"decoder.layers.{layer}.self_attn.hook_{what}_raw": (layer, what)
              for layer in range(30) for what in "qk"}
    seen = {}

    def keep(name, output):
        seen[points[name]] = output[0].numpy().copy()  # (heads, T, dh)

    with hooked({name: modules[name] for name in points}, keep):
        cap = capture(smollm2, TEXT)
    n = len(cap.tokens)
    cos, sin = smollm2.net.rope(n)
    np.testing.assert_array_equal(cap.rope_angles[KIND][0], cos.numpy())  # the very angles of the pass
    np.testing.assert_array_equal(cap.rope_angles[KIND][1], sin.numpy())
    assert len(seen) == 60
    for (layer, what), raw in seen.items():
        back = cap.unrotated(KIND, what, layer)  # (heads, T, dh)
        # float32 rounding and no more: within 1e-6 of the largest value (about 20 here, so a few 1e-6 apart)
        np.testing.assert_allclose(back, raw, rtol=0, atol=1e-6 * np.abs(raw).max())
        assert np.mean(back == raw) > 0.5  # most values come back bit for bit
    np.testing.assert_array_equal(cap.q_raw[KIND][7], cap.unrotated(KIND, "q", 7))
    np.testing.assert_array_equal(cap.k_raw[KIND][7, 2], cap.unrotated(KIND, "k", 7, 2))
    assert list(cap.q_raw) == list(cap.k_raw) == [KIND]
    # what it keeps: q, k, v and the angles, not a second copy of q and k
    kept = sum(a.nbytes for a in (cap.q[KIND], cap.k[KIND], cap.v[KIND], *cap.rope_angles[KIND]))
    assert cap.nbytes == kept + sum(t.nbytes for t in cap.thumbs.values())


@pytest.mark.parametrize(("layer", "head"), HEADS)
def test_query_scores_are_the_captures(cap, layer, head):
    scores, weights = cap.scores(KIND, layer, head), cap.head(KIND, layer, head)
    n = len(cap.tokens)
    dh = cap.q[KIND].shape[-1]
    for query in (0, 5, n - 1):
        split = rope.query_scores(cap, KIND, layer, head, query)
        np.testing.assert_array_equal(split.keys, np.arange(query + 1))  # causal: itself and the tokens before
        np.testing.assert_allclose(split.rotated, scores[query, : query + 1], atol=1e-5, rtol=0)
        np.testing.assert_allclose(softmax(split.rotated), weights[query, : query + 1], atol=1e-6)
        assert np.all(weights[query, query + 1:] == 0)
        raw_q, raw_k = cap.q_raw[KIND][layer, head, query], cap.k_raw[KIND][layer, head // 3, : query + 1]
        np.testing.assert_allclose(split.content, raw_k @ raw_q / np.sqrt(dh), atol=1e-5, rtol=1e-5)
        # at offset 0 query and key turn alike: the rotation adds nothing
        assert abs(split.position[-1]) <= 1e-4 * max(1.0, abs(split.content[-1]))
        for key in (0, query):
            r, c = rope.pair_contributions(cap, KIND, layer, head, query, key)
            assert r.shape == c.shape == (dh // 2,)
            assert r.sum() == pytest.approx(split.rotated[key], abs=1e-4)
            assert c.sum() == pytest.approx(split.content[key], abs=1e-4)
    assert np.abs(rope.query_scores(cap, KIND, layer, head, n - 1).position[:-1]).max() > 1e-3  # it does add


def test_offset_means_against_every_pair(cap):
    layer, head = 3, 4
    offsets, content, position, counts = rope.offset_means(cap, KIND, layer, head)
    n = len(cap.tokens)
    np.testing.assert_array_equal(offsets, np.arange(-(n - 1), 1))
    np.testing.assert_array_equal(counts, n - np.abs(offsets))
    rows = [rope.query_scores(cap, KIND, layer, head, q) for q in range(n)]
    for o, c, p in zip(offsets, content, position, strict=True):
        pairs = [(s.content[q + o], s.position[q + o]) for q, s in enumerate(rows) if q + o >= 0]
        assert c == pytest.approx(np.mean([a for a, _ in pairs]), abs=1e-4)
        assert p == pytest.approx(np.mean([b for _, b in pairs]), abs=1e-4)
    assert abs(position[-1]) < 1e-4  # offset 0


def test_unrotated_pattern_is_the_masked_softmax_of_content(cap):
    layer, head = 3, 4
    n = len(cap.tokens)
    w = rope.unrotated_pattern(cap, KIND, layer, head)
    raw_q, raw_k = cap.q_raw[KIND][layer, head], cap.k_raw[KIND][layer, head // 3]
    scores = raw_q @ raw_k.T / 8.0
    scores[np.triu_indices(n, 1)] = -np.inf
    np.testing.assert_allclose(w, torch.softmax(torch.from_numpy(scores), -1).numpy(), atol=1e-6)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-5)
    assert np.all(w[np.triu_indices(n, 1)] == 0)
    assert np.abs(w - cap.head(KIND, layer, head)).max() > 0.01  # the rotation matters to this head


def test_a_previous_token_head_is_made_by_the_rotation(cap):
    """SmolLM2's layer 16 head 0 looks at the token before; without the rotation it hardly does."""
    with_rotation = np.diagonal(cap.head(KIND, 16, 0), -1).mean()
    without = np.diagonal(rope.unrotated_pattern(cap, KIND, 16, 0), -1).mean()
    assert with_rotation > 0.5 > 0.2 > without
    offsets, _, position, _ = rope.offset_means(cap, KIND, 16, 0)
    assert offsets[np.argmax(position)] == -1  # where the rotation adds most


def test_first_token_share_is_the_heads_own(cap):
    share = rope.first_token_share(cap, KIND, last=8)
    assert share.shape == (30, 9)
    for layer, head in HEADS:
        assert share[layer, head] == pytest.approx(cap.head(KIND, layer, head)[-8:, 0].mean(), abs=1e-5)
    assert share.max() > 0.9  # SmolLM2 has attention sinks on the first token


def test_a_model_without_rope_is_refused_clearly(minilm):
    plain = capture(minilm, "the cat sat")
    assert not rope.uses_rope(plain, "encoder")
    with pytest.raises(ValueError, match="no RoPE"):
        rope.query_scores(plain, "encoder", 0, 0, 0)


# --- figures ----------------------------------------------------------------------------------------

def test_rope_figures_hold_the_numbers(cap):
    freq = rope.frequencies(64, cap.rope_theta)
    fig = frequency_figure(freq, n_tokens=16, max_positions=2048)
    np.testing.assert_allclose(fig.data[0].y, freq)
    np.testing.assert_allclose(fig.data[1].y, 2 * np.pi / freq)
    assert fig.layout.yaxis.type == fig.layout.yaxis2.type == "log"
    assert [list(t.y) for t in fig.data[2:]] == [[16, 16], [2048, 2048]]  # this text, the longest input

    split = rope.query_scores(cap, KIND, 3, 4, len(cap.tokens) - 1)
    fig = query_scores_figure(split.keys, split.rotated, split.content, cap.tokens)
    np.testing.assert_allclose(fig.data[0].y, split.rotated, rtol=1e-6)
    np.testing.assert_allclose(fig.data[2].y, split.rotated - split.content, rtol=1e-5, atol=1e-6)
    assert list(fig.layout.xaxis2.ticktext) == cap.tokens

    r, c = rope.pair_contributions(cap, KIND, 3, 4, 5, 0)
    fig = pair_contribution_figure(r, c, freq)
    assert len(fig.data[0].y) == 32 and f"{r.sum():.3f}" in fig.data[0].name

    o, content, position, n = rope.offset_means(cap, KIND, 3, 4)
    fig = offset_scores_figure(o, content, position, n)
    np.testing.assert_allclose(fig.data[0].y, content + position, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="as long as each other"):
        offset_scores_figure(o, content[:-1], position)


def test_robust_colour_range_shows_minilms_table(minilm):
    table, _ = minilm.position_table()
    full = positions_heatmap(table, scale="full").data[0]
    robust = positions_heatmap(table).data[0]
    top = float(np.abs(table).max())
    assert full.zmax == pytest.approx(top) and top > 1.5  # one outlier dimension
    assert robust.zmin == -robust.zmax and robust.zmax < 0.1 * top
    assert np.mean(np.abs(table) <= robust.zmax) >= 0.99  # 99% of the cells get their own colour
    rng = colour_range(table)
    assert rng.share_beyond == pytest.approx(np.mean(np.abs(table) > robust.zmax)) and rng.share_beyond <= 0.006
    assert next(iter(rng.clipped)) == int(np.abs(table).max(axis=0).argmax())  # the outlier is named first
    assert f"dim {next(iter(rng.clipped))}" in rng.describe() and "clipped at" in robust.colorbar.title.text
    scaled = positions_heatmap(table, scale="dimension").data[0]
    z = np.asarray(scaled.z)
    np.testing.assert_allclose(np.abs(z).max(axis=0), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(scaled.customdata), table)  # the hover keeps the real values


def test_pooled_panels_fit_and_label_blocks():
    tokens = [f"t{i}" for i in range(600)]
    w = np.random.default_rng(0).random((600, 600)).astype(np.float32)
    [p], pooled = positions_view.pooled_panels([positions_view.Panel(w, tokens, tokens, "x")], 256)
    assert pooled and p.weights.shape == (200, 200) and p.query_tokens[1] == "[3-5] t3"
    assert p.weights[1, 0] == w[3:6, :3].max()


# --- the view, driven by AppTest -------------------------------------------------------------------

def decode(value) -> np.ndarray:
    if isinstance(value, dict):
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        return flat.reshape([int(s) for s in str(value["shape"]).split(",")]) if "shape" in value else flat
    return np.asarray(value, dtype=float)


def charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def open_smollm2(text: str, generate: bool = False) -> AppTest:
    """The dashboard on SmolLM2's Positions view, reading ``text`` (and continuing it when ``generate``)."""
    at = AppTest.from_file("../dashboard.py", default_timeout=TIMEOUT)
    at.session_state["model"] = "smollm2"
    at.session_state["text"] = text
    at.session_state["view"] = "Positions"
    at.session_state["generate"] = generate
    at.run()
    assert not at.exception, at.exception
    return at


def section(at: AppTest, name: str) -> list[dict]:
    at.segmented_control(key="pos_section").set_value(name).run()
    assert not at.exception, (name, at.exception)
    assert not at.error, (name, [e.value for e in at.error])
    return charts(at)


def test_positions_view_on_smollm2(cap):
    at = open_smollm2(TEXT)
    assert at.segmented_control(key="pos_section").options == positions_view.ROPE_SECTIONS
    n = len(cap.tokens)
    at.session_state["layer"], at.session_state["head"] = 18, 8  # the shared head in focus

    [freq] = section(at, "Rotation speeds")
    np.testing.assert_allclose(decode(freq["data"][0]["y"]), rope.frequencies(64, cap.rope_theta), rtol=1e-6)
    assert "no position vectors" in at.expander[0].markdown[0].value

    scores, pairs = section(at, "One query's scores")
    assert at.selectbox(key="query").value == n - 1  # the last token sees every key
    np.testing.assert_allclose(decode(scores["data"][0]["y"]), cap.scores(KIND, 18, 8)[n - 1], atol=1e-5)
    np.testing.assert_allclose(softmax(decode(scores["data"][0]["y"])), cap.head(KIND, 18, 8)[n - 1], atol=1e-6)
    r, _ = rope.pair_contributions(cap, KIND, 18, 8, n - 1, 0)
    np.testing.assert_allclose(decode(pairs["data"][0]["y"]), r, atol=1e-6)
    assert any("Strongest attention sink of this text: layer" in c.value for c in at.caption)
    at.selectbox(key="query").set_value(4).run()
    scores = charts(at)[0]
    np.testing.assert_allclose(decode(scores["data"][0]["y"]), cap.scores(KIND, 18, 8)[4, :5], atol=1e-5)

    [offsets] = section(at, "Scores by offset")
    o, content, position, _ = rope.offset_means(cap, KIND, 18, 8)
    np.testing.assert_allclose(decode(offsets["data"][1]["y"]), content, atol=1e-5)

    [pattern] = section(at, "Without rotation")
    z = [decode(t["z"]) for t in pattern["data"]]
    np.testing.assert_allclose(z[0], rope.unrotated_pattern(cap, KIND, 18, 8), atol=1e-6)
    np.testing.assert_allclose(z[1], cap.head(KIND, 18, 8), atol=1e-6)
    np.testing.assert_allclose(z[2], z[1] - z[0], atol=1e-6)

    [profile] = section(at, "Offsets")
    assert decode(profile["data"][0]["z"]).shape == (270, 21)  # every head, offsets -10..10

    [ablation] = section(at, "Ablation")
    assert [decode(t["z"]).shape for t in ablation["data"]] == [(n, n)] * 4
    assert any("causal mask tells order apart" in i.value for i in at.info)
    assert plain(shuffle_words(TEXT, 0)[0]) in " ".join(c.value for c in at.caption)


def test_positions_view_on_a_continued_prompt(smollm2):
    """With the text continued, every section draws prompt and continuation; the ablation reads the prompt alone."""
    at = open_smollm2(TEXT, generate=True)
    continued = capture(smollm2, TEXT, max_new_tokens=20)
    assert continued.n_generated > 0
    n = len(continued.tokens)
    [scores, _] = section(at, "One query's scores")
    assert at.selectbox(key="query").value == n - 1
    [pattern] = section(at, "Without rotation")
    assert [decode(t["z"]).shape for t in pattern["data"]] == [(n, n)] * 3
    [ablation] = section(at, "Ablation")
    prompt = len(capture(smollm2, TEXT).tokens)
    assert [decode(t["z"]).shape for t in ablation["data"]] == [(prompt, prompt)] * 4
    assert any("reads the prompt alone" in c.value for c in at.caption)


@pytest.mark.slow
def test_positions_view_on_smollm2_at_2048_tokens():
    """The dashboard's longest SmolLM2 input: every section draws, and none sends a 2,048 x 2,048 matrix."""
    at = open_smollm2(" ".join(["The quick brown fox jumps over the lazy dog."] * 240))
    assert any("reads at most 2048" in w.value for w in at.warning)
    for name in positions_view.ROPE_SECTIONS:
        for fig in section(at, name):
            for trace in fig["data"]:
                if "z" in trace:  # the ablation pools to 512 a side, the pattern without rotation to 256
                    assert decode(trace["z"]).size <= (512 if name == "Ablation" else 256) ** 2, name
                for attr in ("x", "y"):  # a line of every key is fine; a matrix is not
                    values = trace.get(attr)
                    n = 0 if values is None else decode(values).size if isinstance(values, dict) else len(values)
                    assert n <= 2048, (name, attr)
    at.segmented_control(key="pos_section").set_value("Without rotation").run()
    at.radio(key="pos_rope_long").set_value("window").run()
    assert not at.exception
    assert [decode(t["z"]).shape for t in charts(at)[0]["data"]] == [(128, 128)] * 3
