"""Comparison figures: one colour scale for compared panels, a difference centred on 0."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from model import capture
from viz.compare import Panel, compare_figure
from viz.statistics import (
    ERROR_BAR_COLOUR,
    MAX_BAR_TICKS,
    MAX_MATRIX_TICKS,
    colour_table,
    head_grid,
    head_name,
    head_scatter,
    mean_spread,
    similarity_matrix,
)


@pytest.fixture(scope="module")
def pair(minilm):
    return (capture(minilm, "The animal didn't cross the street because it was too tired."),
            capture(minilm, "The animal didn't cross the street because it was too wide."))


def test_two_heads_share_a_scale_and_difference_is_centred(pair):
    cap = pair[0]
    a, b = cap.head("encoder", 0, 2), cap.head("encoder", 4, 7)
    fig = compare_figure([Panel(a, cap.tokens, cap.tokens, "A"), Panel(b, cap.tokens, cap.tokens, "B")])
    assert [t.coloraxis for t in fig.data] == ["coloraxis", "coloraxis", "coloraxis2"]
    assert fig.layout.coloraxis.cmin == 0.0
    assert fig.layout.coloraxis.cmax == pytest.approx(max(a.max(), b.max()))
    assert fig.layout.coloraxis2.cmid == 0.0
    np.testing.assert_allclose(np.asarray(fig.data[2].z), b - a)
    for i, axis in enumerate(("xaxis", "xaxis2", "xaxis3")):
        assert list(fig.layout[axis].ticktext) == cap.tokens, i
    assert [a.text for a in fig.layout.annotations] == ["A", "B", "difference: B - A"]


def test_tired_wide_pair_is_aligned(pair):
    tired, wide = pair
    assert len(tired.tokens) == len(wide.tokens)
    a, b = tired.head("encoder", 5, 0), wide.head("encoder", 5, 0)
    fig = compare_figure([Panel(a, tired.tokens, tired.tokens, "tired"), Panel(b, wide.tokens, wide.tokens, "wide")])
    assert len(fig.data) == 3 and np.asarray(fig.data[2].z).shape == a.shape
    assert fig.layout.xaxis2.ticktext[-3] == "wide"


def test_unequal_lengths_side_by_side(minilm):
    a, b = capture(minilm, "the cat"), capture(minilm, "the cat saw the dog")
    panels = [Panel(a.head("encoder", 0, 0), a.tokens, a.tokens, "A"),
              Panel(b.head("encoder", 0, 0), b.tokens, b.tokens, "B")]
    with pytest.raises(ValueError, match="same shape|one shape"):
        compare_figure(panels)
    fig = compare_figure(panels, difference=False)
    assert [np.asarray(t.z).shape for t in fig.data] == [(4, 4), (7, 7)]
    assert "coloraxis2" not in fig.to_dict()["layout"]


def test_non_square_cross_attention_panels():
    rng = np.random.default_rng(0)
    a, b = rng.dirichlet(np.ones(5), size=3), rng.dirichlet(np.ones(5), size=3)  # 3 queries, 5 keys
    q, k = ["<s>", "x", "y"], ["a", "<b>", "c", "d", "</s>"]
    fig = compare_figure([Panel(a, q, k, "A"), Panel(b, q, k, "B")])
    assert np.asarray(fig.data[2].z).shape == (3, 5)
    assert list(fig.layout.xaxis.ticktext) == ["a", "&lt;b&gt;", "c", "d", "&lt;/s&gt;"]
    with pytest.raises(ValueError, match="does not match"):
        compare_figure([Panel(a, k, q, "A")], difference=False)


def test_statistics_figures(minilm):
    from model.corpus import capture_statistics

    stats = capture_statistics(capture(minilm, "the cat saw the dog"))
    fig = head_scatter(stats, "distance", "entropy", selected=(0, 2))
    assert len(fig.data[0].x) == 72 and len(fig.data) == 2
    assert fig.data[1].text == ("L0 H2",)
    assert fig.data[1].x[0] == pytest.approx(stats.loc[2, "distance"])
    grid = head_grid(stats["entropy"].to_numpy().reshape(6, 12))
    assert np.asarray(grid.data[0].z).shape == (6, 12)
    sim = np.eye(72, dtype=np.float32)
    order = list(range(71, -1, -1))
    matrix = similarity_matrix(sim, 12, order)
    assert matrix.data[0].x[0] == "L5 H11"
    styled = colour_table(stats[["layer", "head", "entropy"]], ["entropy"]).to_html()
    assert "background-color: rgba(33, 113, 181, 0.80)" in styled  # the highest entropy is darkest
    frame = stats.assign(entropy_mean=stats["entropy"], entropy_std=0.1)
    bars = mean_spread(frame, "entropy")
    assert len(bars.data[0].x) == 72 and list(bars.data[0].error_y.array[:2]) == [0.1, 0.1]


def test_three_panels_with_the_difference_of_the_first_two():
    eye, flat = np.eye(3), np.full((3, 3), 1 / 3)
    tokens = ["a", "b", "c"]
    fig = compare_figure([Panel(eye, tokens, tokens, "A"), Panel(flat, tokens, tokens, "B"),
                          Panel(np.eye(2), tokens[:2], tokens[:2], "C")])
    assert [t.coloraxis for t in fig.data] == ["coloraxis"] * 3 + ["coloraxis2"]
    np.testing.assert_allclose(np.asarray(fig.data[3].z), flat - eye, atol=1e-7)
    assert fig.layout.annotations[-1].text == "difference: B - A"


def test_corpus_bars_send_colours_as_strings_and_error_bars_their_own_colour():
    """plotly.js reads a numeric colour array's typed-array form as one invalid colour: send strings."""
    frame = pd.DataFrame({"layer": np.repeat(np.arange(6, dtype=np.int8), 12), "head": np.tile(np.arange(12), 6),
                          "entropy_mean": np.linspace(0, 2, 72), "entropy_std": np.full(72, 0.1)})
    bar = mean_spread(frame, "entropy").data[0]
    payload = json.loads(mean_spread(frame, "entropy").to_json())["data"][0]
    colours = payload["marker"]["color"]
    assert isinstance(colours, list) and all(c.startswith("rgb(") for c in colours)
    assert bar.error_y.color == ERROR_BAR_COLOUR
    assert bar.marker.color[0] == "rgb(68, 1, 84)" and bar.marker.color[-1] == "rgb(253, 231, 37)"  # Viridis ends


def test_many_heads_label_a_subset_and_keep_every_name_in_the_hover():
    n = 270  # SmolLM2: 30 layers x 9 heads
    names = [head_name(i // 9, i % 9, (i % 9) // 3) for i in range(n)]
    fig = similarity_matrix(np.eye(n, dtype=np.float32), 9, names=names, clusters=np.arange(n) // 90)
    assert len(fig.data[0].x) == n and fig.data[0].x[49] == "L5 H4 (KV1)"
    assert len(fig.layout.xaxis.tickvals) <= MAX_MATRIX_TICKS and fig.layout.xaxis.tickfont.size >= 12
    assert set(fig.layout.yaxis.tickvals) <= set(names)
    assert len(fig.layout.shapes) == 4  # two boundaries between three clusters, across and down
    small = similarity_matrix(np.eye(72, dtype=np.float32), 12)
    assert len(small.layout.xaxis.tickvals) == 24 and small.layout.height >= 700
    frame = pd.DataFrame({"layer": np.arange(n) // 9, "head": np.arange(n) % 9, "x_mean": 0.0, "x_std": 0.0})
    bars = mean_spread(frame, "x", names=names)
    assert len(bars.layout.xaxis.tickvals) <= MAX_BAR_TICKS and list(bars.data[0].x) == names
    scatter = head_scatter(frame.assign(x=0.0, y=1.0), "x", "y", names=names, selected=(5, 4))
    assert scatter.data[0].text[49] == "L5 H4 (KV1)" and scatter.data[1].text == ("L5 H4 (KV1)",)


def test_the_compare_view_honours_hidden_tokens_and_combined_heads(minilm):
    from streamlit.testing.v1 import AppTest

    from tests.test_dashboard import as_array
    from ui.compare_view import PAIR

    at = AppTest.from_file("../dashboard.py", default_timeout=120)
    for key, value in {"view": "Compare", "cmp_mode": "Two sentences", "hide_special": True, "combine": "max",
                       "layer": 2}.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    a = capture(minilm, PAIR[0])
    keep = [i for i, t in enumerate(a.tokens) if t not in ("[CLS]", "[SEP]")]
    hidden = a.layer("encoder", 2)[:, keep][:, :, keep]
    expected = (hidden / hidden.sum(axis=-1, keepdims=True)).max(axis=0)  # each head renormalised, then the max
    np.testing.assert_allclose(as_array(spec["data"][0]["z"]), expected, atol=1e-5)
    assert "[CLS]" not in " ".join(spec["layout"]["xaxis"]["ticktext"])
    assert "max of 12 heads" in json.dumps(spec["layout"].get("annotations", []))
    at.radio(key="cmp_mode").set_value("Two heads").run()
    assert any("two heads are compared one by one" in c.value for c in at.caption)
