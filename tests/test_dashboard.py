"""The dashboard script driven by Streamlit's AppTest."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

TIMEOUT = 120


@pytest.fixture
def app() -> AppTest:
    at = AppTest.from_file("../dashboard.py", default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    return at


def chart_specs(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_sentence_gives_square_heatmap_with_token_ticks(app):
    app.text_area(key="text").set_value("the cat saw the dog and the bird").run()
    assert not app.exception
    heatmap = next(t for spec in chart_specs(app) for t in spec["data"] if t["type"] == "heatmap")
    spec = next(s for s in chart_specs(app) if s["data"][0] is not None)
    tokens = ["[CLS]", "the", "cat", "saw", "the", "dog", "and", "the", "bird", "[SEP]"]
    z = heatmap["z"]
    n_rows = len(z) if isinstance(z, list) else z["shape"].split(",")[0]
    assert int(n_rows) == len(tokens)
    assert spec["layout"]["xaxis"]["ticktext"] == tokens
    assert spec["layout"]["yaxis"]["ticktext"] == tokens


def test_empty_sentence_shows_a_message(app):
    app.text_area(key="text").set_value("   ").run()
    assert not app.exception
    assert any("empty" in i.value for i in app.info)
