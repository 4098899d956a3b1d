"""Head view beyond the raw weight: weight x |value|, words instead of pieces, and spans."""

from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from model import capture
from tests.test_dashboard import as_array
from viz.matrix_ops import merge_groups, span_groups, value_weighted, word_groups

TEXT = "Tokenization is surprisingly unbelievable."


@pytest.fixture
def app():
    at = AppTest.from_file("../dashboard.py", default_timeout=180)
    at.run()
    at.text_area(key="text").set_value(TEXT).run()
    return at


def shown_head(at) -> tuple[int, int]:
    """The layer and head the sliders show (a first visit opens at a head with a clear pattern)."""
    return at.slider(key="layer").value, at.slider(key="head").value


def drawn(at) -> tuple[np.ndarray, dict]:
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    return as_array(spec["data"][0]["z"]), spec


def test_word_groups_join_pieces_but_not_special_tokens():
    assert word_groups(["[CLS]", "token", "##ization", "is", "[SEP]"], {"[CLS]", "[SEP]"}) == [[0], [1, 2], [3], [4]]
    assert word_groups(["The", "Ġcat", "s", "Ġsat"]) == [[0], [1, 2], [3]]
    assert span_groups(5, [3, 1]) == [[0], [1, 3], [2], [4]]


def test_merging_sums_columns_and_averages_rows():
    w = np.array([[0.5, 0.25, 0.25], [0.0, 1.0, 0.0], [0.2, 0.3, 0.5]], dtype=np.float32)
    merged = merge_groups(w, [[0], [1, 2]], [[0], [1, 2]])
    np.testing.assert_allclose(merged, [[0.5, 0.5], [0.1, 0.9]])
    np.testing.assert_allclose(merged.sum(1), 1.0)
    np.testing.assert_allclose(value_weighted(w, np.array([1.0, 2.0, 0.0])), w * [1.0, 2.0, 0.0])
    with pytest.raises(ValueError):
        value_weighted(w, np.ones(2))


def test_the_page_draws_weight_times_value_norm(app, minilm):
    app.radio(key="cells").set_value("value").run()
    assert not app.exception
    z, spec = drawn(app)
    cap = capture(minilm, TEXT)
    layer, head = shown_head(app)
    assert f"layer {layer} head {head}" in spec["layout"]["title"]["text"]
    expected = cap.head("encoder", layer, head) * np.linalg.norm(cap.v["encoder"][layer, head], axis=-1)[None]
    np.testing.assert_allclose(z.reshape(expected.shape), expected, rtol=1e-5)
    assert "weight × |value|" in spec["layout"]["title"]["text"]
    assert spec["data"][0].get("zmax") is None  # this head's own range, not 0..1


def test_the_page_merges_words_and_a_span(app, minilm):
    app.radio(key="pieces").set_value("words").run()
    z, spec = drawn(app)
    assert spec["layout"]["xaxis"]["ticktext"] == ["[CLS]", "tokenization", "is", "surprisingly", "unbelievable",
                                                   ".", "[SEP]"]
    cap = capture(minilm, TEXT)
    head = cap.head("encoder", *shown_head(app))
    # column "tokenization": the weight each word's queries give "token" and "##ization" together
    rows = [[0], [1, 2], [3], [4], [5], [6], [7]]
    expected = np.array([head[r][:, [1, 2]].sum(1).mean() for r in rows])
    np.testing.assert_allclose(z.reshape(7, 7)[:, 1], expected, rtol=1e-5)
    app.multiselect(key="span").set_value([1, 2]).run()
    z, spec = drawn(app)
    assert spec["layout"]["xaxis"]["ticktext"][1] == "tokenization is"
    np.testing.assert_allclose(z.reshape(6, 6).sum(1), 1.0, atol=1e-5)
