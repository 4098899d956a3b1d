"""Figures of the head view, model view and lines view, and the one heatmap factory every matrix figure uses."""

from __future__ import annotations

import base64
import json

import numpy as np
import plotly.io
import pytest

from model import capture
from viz.alignment import alignment_grid, alignment_heatmap
from viz.compare import Panel, compare_figure
from viz.grid import model_view_figure, thumbnails, tile
from viz.heatmaps import MAX_HEIGHT, MIN_HEIGHT, attention_heatmap, heatmap_height, title_style
from viz.labels import MAX_TICKS, position_labels
from viz.lines import lines_figure, link_segments
from viz.positional import offset_profile_heatmap, positions_heatmap, similarity_heatmap
from viz.statistics import head_grid, similarity_matrix

SENTENCE = "the cat saw the dog and the bird"
TOKENS = ["[CLS]", "the", "cat", "saw", "the", "dog", "and", "the", "bird", "[SEP]"]


@pytest.fixture(scope="module")
def cap(minilm):
    return capture(minilm, SENTENCE)


@pytest.fixture(scope="module")
def long_cap(minilm):
    return capture(minilm, " ".join(["word"] * 600))  # truncated to 512 tokens


def decode(typed: dict) -> np.ndarray:
    """A Plotly base64 typed array back to numpy."""
    shape = [int(s) for s in str(typed["shape"]).split(",")]
    return np.frombuffer(base64.b64decode(typed["bdata"]), dtype=typed["dtype"]).reshape(shape)


def test_model_view_is_one_uint8_image_with_labelled_panels(cap):
    fig = model_view_figure(cap.thumbnails("encoder"), selected=(2, 5))
    spec = json.loads(plotly.io.to_json(fig, validate=False))
    z = decode(spec["data"][0]["z"])
    assert z.dtype == np.uint8
    assert z.shape == (6 * 10, 12 * 10)
    # panel (layer 2, head 5) holds that head's weights, 8-bit
    np.testing.assert_array_equal(z[20:30, 50:60], np.rint(cap.head("encoder", 2, 5) * 255).astype(np.uint8))
    assert spec["layout"]["xaxis"]["ticktext"] == [f"H{h}" for h in range(12)]
    assert spec["layout"]["yaxis"]["ticktext"] == [f"L{i}" for i in range(6)]
    rect = [s for s in spec["layout"]["shapes"] if s["type"] == "rect"]
    assert rect == [{"type": "rect", "x0": 4.5, "x1": 5.5, "y0": 1.5, "y1": 2.5,
                     "line": {"color": "crimson", "width": 3}}]


def test_model_view_at_510_tokens_is_small(long_cap):
    assert long_cap.shape("encoder") == (6, 12, 512, 512)
    thumbs = long_cap.thumbnails("encoder")
    payload = plotly.io.to_json(model_view_figure(thumbs), validate=False)
    assert '"bdata"' in payload
    assert len(payload) < 500_000  # 6 x 12 thumbnails of at most 48 x 48 bytes
    assert thumbs.shape == (6, 12, 47, 47)
    # block-max pooling: each thumbnail keeps its head's strongest weight
    strongest = np.stack([layer.max(axis=(1, 2)) for layer in long_cap.layers("encoder")])  # (6, 12)
    np.testing.assert_allclose(thumbs.max(axis=(2, 3)) / 255, strongest, atol=0.5 / 255 + 1e-6)
    # pooled here from float weights, one layer: the same thumbnails
    np.testing.assert_array_equal(thumbnails(long_cap.layer("encoder", 3)[None])[0], thumbs[3])


def test_tile_places_layers_down_and_heads_across():
    thumbs = np.arange(2 * 3 * 2 * 2, dtype=np.uint8).reshape(2, 3, 2, 2)
    img = tile(thumbs)
    assert img.shape == (4, 6)
    np.testing.assert_array_equal(img[2:4, 4:6], thumbs[1, 2])


def test_model_view_non_square_cross_attention():
    att = np.full((2, 4, 3, 7), 1 / 7, dtype=np.float32)
    spec = json.loads(plotly.io.to_json(model_view_figure(att), validate=False))
    assert decode(spec["data"][0]["z"]).shape == (2 * 3, 4 * 7)


def test_head_view_at_510_tokens_labels_a_subset(long_cap):
    fig = attention_heatmap(long_cap.head("encoder", 0, 0), long_cap.tokens)
    assert fig.data[0].z.shape == (512, 512)
    assert len(fig.data[0].x) == 512
    assert 2 < len(fig.layout.xaxis.ticktext) <= 65


def test_heatmap_highlight_row_and_column(cap):
    fig = attention_heatmap(cap.head("encoder", 0, 0), cap.tokens, highlight=3)
    assert [(s.y0, s.y1, s.x0, s.x1) for s in fig.layout.shapes] == [(2.5, 3.5, -0.5, 9.5), (-0.5, 9.5, 2.5, 3.5)]
    cross = attention_heatmap(np.full((2, 3), 1 / 3), ["a", "b"], ["x", "y", "z"], highlight=1)
    assert len(cross.layout.shapes) == 1  # queries are not keys: only the row
    with pytest.raises(ValueError):
        attention_heatmap(np.full((2, 3), 1 / 3), ["a", "b"], ["x", "y", "z"], highlight=2)


def test_lines_one_colour_per_head_and_token_filter(cap):
    layer = cap.layer("encoder", 1)  # (12, 10, 10)
    fig = lines_figure(layer, cap.tokens, heads=[0, 3])
    legend = [t.name for t in fig.data if t.showlegend is not False and t.name]
    assert legend == ["H0", "H3"]
    colours = {t.legendgroup: t.line.color[:12] for t in fig.data if t.mode == "lines" and t.x[0] is not None}
    assert set(colours) == {"H0", "H3"}
    # every drawn segment of head 3 is a weight >= 2%, and all of them are drawn
    q, k, vals = link_segments(layer[3])
    n_segments = sum(len(t.x) // 3 for t in fig.data if t.legendgroup == "H3" and t.x[0] is not None)
    assert n_segments == len(vals) == int((layer[3] >= 0.02).sum())
    only = lines_figure(layer, cap.tokens, heads=[3], token=2)
    starts = {y for t in only.data if t.mode == "lines" and t.x[0] is not None for y in t.y[0::3]}
    assert starts == {2}
    texts = [t for t in fig.data if t.mode == "text"]
    assert list(texts[0].text) == TOKENS and list(texts[1].text) == TOKENS


def test_lines_of_one_token_in_a_long_text_show_only_the_keys_reached(long_cap):
    layer = long_cap.layer("encoder", 0)  # (12, 512, 512)
    fig = lines_figure(layer, long_cap.tokens, heads=[2, 5], token=40)
    query_col, key_col = [t for t in fig.data if t.mode == "text"]
    assert list(query_col.customdata) == [40]
    reached = sorted(set(np.nonzero(layer[2, 40] >= 0.02)[0]) | set(np.nonzero(layer[5, 40] >= 0.02)[0]))
    assert list(key_col.customdata) == reached
    assert fig.layout.height == max(300, 20 * len(reached) + 120)


def test_lines_escape_tokens():
    fig = lines_figure(np.full((1, 2, 2), 0.5), ["<b>", "x"], heads=[0])
    assert fig.data[-1].text[0] == "&lt;b&gt;"


def test_lines_cap_the_number_of_segments():
    q, k, vals = link_segments(np.full((300, 300), 1 / 30, dtype=np.float32), max_segments=1000)
    assert len(vals) == 1000




def token_heatmaps(n: int, tokens: list[str] | None = None) -> dict:
    """Every heatmap figure of tokens, each drawing ``n`` rows (of ``tokens``, default ``t0..``)."""
    tokens = tokens or [f"t{i}" for i in range(n)]
    w = np.full((n, n), 1 / n, dtype=np.float32)
    return {
        "head": attention_heatmap(w, tokens, title="head"),
        "compare": compare_figure([Panel(w, tokens, tokens, "A"), Panel(w, tokens, tokens, "B")], title="compare"),
        "positions": positions_heatmap(np.zeros((n, 6), dtype=np.float32), tokens, title="positions"),
        "similarity": similarity_heatmap(np.eye(n, dtype=np.float32), tokens, title="similarity"),
        "alignment": alignment_heatmap(w, tokens, tokens, title="alignment"),
        "alignment grid": alignment_grid(np.stack([w, w]), tokens, tokens, title="grid"),
        "offsets": offset_profile_heatmap(np.arange(-1, 2), np.zeros((1, n, 3), dtype=np.float32), title="o"),
        "head grid": head_grid(np.zeros((n, 3)), title="grid"),
        "head similarity": similarity_matrix(np.eye(n, dtype=np.float32), 1, title="similarity"),
    }


@pytest.mark.parametrize("n", [1, 3, 10, 20, 40, 120, 512])
def test_one_height_rule_for_every_heatmap(n):
    heights = {name: fig.layout.height for name, fig in token_heatmaps(n).items()}
    assert set(heights.values()) == {heatmap_height(n)}, heights
    assert MIN_HEIGHT <= heatmap_height(n) <= MAX_HEIGHT


def test_height_grows_with_rows_between_the_bounds():
    heights = [heatmap_height(n) for n in range(0, 600)]
    assert heights == sorted(heights)
    assert heights[0] == MIN_HEIGHT and heights[-1] == MAX_HEIGHT
    assert heatmap_height(20) < heatmap_height(25)  # between the bounds each row adds height


def test_one_title_style_for_every_figure():
    for name, fig in token_heatmaps(4).items():
        title = fig.layout.title
        assert (title.y, title.yref, title.yanchor) == (1.0, "container", "top"), name
    assert title_style("<b>x</b>")["text"] == "&lt;b&gt;x&lt;/b&gt;"
    assert title_style("") is None
    assert attention_heatmap(np.eye(2), ["a", "b"]).layout.title.text is None


def test_factory_escapes_tick_text_and_keeps_positions_apart():
    tokens = ["[CLS]", "<b>", "the", "a&b", "the", "</s>"]
    escaped = ["[CLS]", "&lt;b&gt;", "the", "a&amp;b", "the", "&lt;/s&gt;"]
    figs = token_heatmaps(len(tokens), tokens)
    for name in ("head", "compare", "positions", "similarity", "alignment", "alignment grid"):
        fig = figs[name]
        assert list(fig.layout.yaxis.ticktext) == escaped, name
        trace = fig.data[0]
        assert list(trace.y) == position_labels(tokens), name  # the two "the" keep their own rows
        assert len(set(trace.y)) == len(tokens)
        assert "<b>" not in json.dumps(fig.to_plotly_json()["layout"], default=str), name
    for name in ("head", "compare", "similarity", "alignment", "alignment grid"):
        assert list(figs[name].layout.xaxis.ticktext) == escaped, name


def test_factory_z_shapes():
    n = 7
    figs = token_heatmaps(n)
    assert np.asarray(figs["head"].data[0].z).shape == (n, n)
    assert [np.asarray(t.z).shape for t in figs["compare"].data] == [(n, n)] * 3
    assert np.asarray(figs["positions"].data[0].z).shape == (n, 6)
    assert np.asarray(figs["similarity"].data[0].z).shape == (n, n)
    assert [np.asarray(t.z).shape for t in figs["alignment grid"].data] == [(n, n)] * 2
    assert np.asarray(figs["offsets"].data[0].z).shape == (n, 3)
    assert np.asarray(figs["head grid"].data[0].z).shape == (n, 3)
    cross = attention_heatmap(np.full((2, 3), 1 / 3), ["a", "b"], ["x", "y", "z"])
    assert np.asarray(cross.data[0].z).shape == (2, 3) and list(cross.data[0].x) == position_labels(["x", "y", "z"])
    with pytest.raises(ValueError, match="does not match"):
        attention_heatmap(np.eye(3), ["a", "b"])


def test_many_tokens_label_a_subset_and_hover_every_one():
    tokens = [f"w{i}" for i in range(300)]
    for name, fig in token_heatmaps(300, tokens).items():
        if name in ("offsets", "head grid", "head similarity"):
            continue  # rows are heads or layers, not tokens
        assert 2 < len(fig.layout.yaxis.ticktext) <= MAX_TICKS + 1, name
        assert list(fig.data[0].y) == position_labels(tokens), name  # the hover names every row
        assert "%{y}" in fig.data[0].hovertemplate and "%{x}" in fig.data[0].hovertemplate


def test_head_and_layer_figures_from_the_capture(cap):
    """What the views draw comes from ``cap.head`` / ``cap.layer`` / ``cap.thumbnails``, never every weight."""
    head = cap.head("encoder", 2, 5)
    fig = attention_heatmap(head, cap.tokens)
    np.testing.assert_array_equal(np.asarray(fig.data[0].z), head)
    np.testing.assert_allclose(cap.layer("encoder", 2)[5], head, atol=1e-6)
    thumbs = cap.thumbnails("encoder")
    assert thumbs.dtype == np.uint8
    drawn = json.loads(plotly.io.to_json(model_view_figure(thumbs, selected=(2, 5)), validate=False))
    pooled = json.loads(plotly.io.to_json(model_view_figure(np.stack(list(cap.layers("encoder")))), validate=False))
    np.testing.assert_array_equal(decode(drawn["data"][0]["z"]), decode(pooled["data"][0]["z"]))
    with pytest.raises(ValueError):
        model_view_figure(np.zeros((2, 3), dtype=np.uint8))
