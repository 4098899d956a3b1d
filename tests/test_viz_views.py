"""Figures of the model view, lines view and step by step, on the real MiniLM's attention."""

from __future__ import annotations

import base64
import json

import numpy as np
import plotly.io
import pytest

from model import capture
from viz.grid import model_view_figure, thumbnails, tile
from viz.heatmaps import attention_heatmap
from viz.lines import lines_figure, link_segments

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
    att = cap.attentions["encoder"]
    fig = model_view_figure(att, selected=(2, 5))
    spec = json.loads(plotly.io.to_json(fig, validate=False))
    z = decode(spec["data"][0]["z"])
    assert z.dtype == np.uint8
    assert z.shape == (6 * 10, 12 * 10)
    # panel (layer 2, head 5) holds that head's weights, 8-bit
    np.testing.assert_array_equal(z[20:30, 50:60], np.rint(att[2, 5] * 255).astype(np.uint8))
    assert spec["layout"]["xaxis"]["ticktext"] == [f"H{h}" for h in range(12)]
    assert spec["layout"]["yaxis"]["ticktext"] == [f"L{i}" for i in range(6)]
    rect = [s for s in spec["layout"]["shapes"] if s["type"] == "rect"]
    assert rect == [{"type": "rect", "x0": 4.5, "x1": 5.5, "y0": 1.5, "y1": 2.5,
                     "line": {"color": "crimson", "width": 3}}]


def test_model_view_at_510_tokens_is_small(long_cap):
    att = long_cap.attentions["encoder"]
    assert att.shape == (6, 12, 512, 512)
    payload = plotly.io.to_json(model_view_figure(att), validate=False)
    assert '"bdata"' in payload
    assert len(payload) < 500_000  # 6 x 12 thumbnails of at most 48 x 48 bytes
    thumbs = thumbnails(att)
    assert thumbs.shape[2:] == (47, 47)
    # block-max pooling: each thumbnail keeps its head's strongest weight
    np.testing.assert_allclose(thumbs.max(axis=(2, 3)) / 255, att.max(axis=(2, 3)), atol=0.5 / 255 + 1e-6)


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
    att = long_cap.attentions["encoder"]
    fig = attention_heatmap(att[0, 0], long_cap.tokens)
    assert fig.data[0].z.shape == (512, 512)
    assert len(fig.data[0].x) == 512
    assert 2 < len(fig.layout.xaxis.ticktext) <= 65


def test_heatmap_highlight_row_and_column(cap):
    fig = attention_heatmap(cap.attentions["encoder"][0, 0], cap.tokens, highlight=3)
    assert [(s.y0, s.y1, s.x0, s.x1) for s in fig.layout.shapes] == [(2.5, 3.5, -0.5, 9.5), (-0.5, 9.5, 2.5, 3.5)]
    cross = attention_heatmap(np.full((2, 3), 1 / 3), ["a", "b"], ["x", "y", "z"], highlight=1)
    assert len(cross.layout.shapes) == 1  # queries are not keys: only the row
    with pytest.raises(ValueError):
        attention_heatmap(np.full((2, 3), 1 / 3), ["a", "b"], ["x", "y", "z"], highlight=2)


def test_lines_one_colour_per_head_and_token_filter(cap):
    layer = cap.attentions["encoder"][1]  # (12, 10, 10)
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
    layer = long_cap.attentions["encoder"][0]  # (12, 512, 512)
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


