"""The dashboard script driven by Streamlit's AppTest, on the real MiniLM."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import ui.state
from model import ModelLoadError, capture, load_model
from viz.labels import escape

TIMEOUT = 120
SENTENCE = "the cat saw the dog and the bird"
TOKENS = ["[CLS]", "the", "cat", "saw", "the", "dog", "and", "the", "bird", "[SEP]"]


@pytest.fixture
def app() -> AppTest:
    at = AppTest.from_file("../dashboard.py", default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    return at


def chart_specs(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def as_array(z) -> np.ndarray:
    """A figure's z as numpy, whether it came as a list or as a base64 typed array."""
    if isinstance(z, dict):
        flat = np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"])
        return flat.reshape([int(s) for s in str(z["shape"]).split(",")]) if "shape" in z else flat
    return np.asarray(z, dtype=float)


def heatmap(at: AppTest) -> tuple[np.ndarray, dict]:
    spec = next(s for s in chart_specs(at) if s["data"][0]["type"] == "heatmap")
    return as_array(spec["data"][0]["z"]), spec


def set_text(at: AppTest, text: str) -> AppTest:
    at.text_area(key="text").set_value(text).run()
    assert not at.exception
    return at


def test_sentence_gives_square_heatmap_with_token_ticks(app):
    set_text(app, SENTENCE)
    z, spec = heatmap(app)
    assert z.shape == (len(TOKENS), len(TOKENS))
    assert spec["layout"]["xaxis"]["ticktext"] == TOKENS
    assert spec["layout"]["yaxis"]["ticktext"] == TOKENS
    np.testing.assert_allclose(z.sum(axis=1), 1.0, atol=1e-5)


def test_empty_sentence_shows_a_message(app):
    set_text(app, "   ")
    assert any("empty" in i.value for i in app.info)
    assert not app.get("plotly_chart")


def test_layer_head_and_view_changes_reuse_the_capture(app, monkeypatch, minilm):
    calls = []
    real = ui.state.capture

    def counting(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(ui.state, "capture", counting)
    text = "counting forward passes: the owl watched the moon rise over the hill"
    set_text(app, text)
    assert calls == [text]
    first, _ = heatmap(app)
    app.slider(key="layer").set_value(3).run()
    app.slider(key="head").set_value(7).run()
    moved, spec = heatmap(app)
    expected = capture(minilm, text).head("encoder", 3, 7)
    np.testing.assert_allclose(moved, expected, atol=1e-5)
    assert not np.allclose(first, moved)
    assert "layer 3 head 7" in spec["layout"]["title"]["text"]
    for view in ("Lines", "Model view", "Step by step", "Head view"):
        app.segmented_control(key="view").set_value(view).run()
        assert not app.exception
    app.checkbox(key="hide_special").check().run()
    app.radio(key="combine").set_value("mean").run()
    assert not app.exception
    assert calls == [text]  # one forward pass for everything above


def test_layer_and_head_survive_a_trip_through_other_views(app):
    set_text(app, SENTENCE)
    app.slider(key="layer").set_value(4).run()
    app.slider(key="head").set_value(9).run()
    app.segmented_control(key="view").set_value("Lines").run()
    app.segmented_control(key="view").set_value("Model view").run()
    app.segmented_control(key="view").set_value("Head view").run()
    assert app.slider(key="layer").value == 4
    assert app.slider(key="head").value == 9


def test_model_view_has_a_panel_per_layer_and_head_and_opens_one(app, minilm):
    set_text(app, SENTENCE)
    app.segmented_control(key="view").set_value("Model view").run()
    z, spec = heatmap(app)
    assert z.dtype == np.uint8
    assert z.shape == (6 * len(TOKENS), 12 * len(TOKENS))  # 6 x 12 panels of 10 x 10
    assert spec["layout"]["xaxis"]["ticktext"] == [f"H{h}" for h in range(12)]
    assert spec["layout"]["yaxis"]["ticktext"] == [f"L{i}" for i in range(6)]
    app.selectbox(key="grid_layer").set_value(3).run()
    app.selectbox(key="grid_head").set_value(7).run()
    app.button(key="grid_open").click().run()
    assert not app.exception
    assert app.segmented_control(key="view").value == "Head view"
    z, spec = heatmap(app)
    np.testing.assert_allclose(z, capture(minilm, SENTENCE).head("encoder", 3, 7), atol=1e-5)


def test_step_by_step_weights_equal_the_pattern_row(app, minilm):
    set_text(app, SENTENCE)
    app.segmented_control(key="view").set_value("Step by step").run()
    app.slider(key="layer").set_value(2).run()
    app.slider(key="head").set_value(5).run()
    app.selectbox(key="query").set_value(4).run()
    assert not app.exception
    bars = [s for s in chart_specs(app) if s["data"][0]["type"] == "bar"]
    assert len(bars) == 2
    weights = as_array(bars[1]["data"][0]["y"])
    pattern = capture(minilm, SENTENCE).head("encoder", 2, 5)[4]
    np.testing.assert_allclose(weights, pattern, atol=1e-5)
    assert bars[1]["layout"]["xaxis"]["ticktext"] == TOKENS
    table = app.dataframe[0].value
    np.testing.assert_allclose(table["weight"], pattern[table["key"]], atol=1e-5)


def test_hide_special_tokens_and_top_k(app):
    set_text(app, SENTENCE)
    app.checkbox(key="hide_special").check().run()
    z, spec = heatmap(app)
    assert spec["layout"]["xaxis"]["ticktext"] == TOKENS[1:-1]
    np.testing.assert_allclose(z.sum(axis=1), 1.0, atol=1e-5)
    app.radio(key="filter_mode").set_value("top-k").run()
    app.number_input(key="top_k").set_value(2).run()
    z, _ = heatmap(app)
    assert (np.count_nonzero(z, axis=1) == 2).all()
    app.number_input(key="top_k").set_value(7).run()
    set_text(app, "a short one")  # 3 tokens once [CLS] and [SEP] are hidden: k follows
    assert app.number_input(key="top_k").value == 3
    z, _ = heatmap(app)
    assert z.shape == (3, 3)


def test_lines_view_token_picker(app):
    set_text(app, SENTENCE)
    app.segmented_control(key="view").set_value("Lines").run()
    app.multiselect(key="lines_heads").set_value([1, 4]).run()
    app.selectbox(key="lines_token").set_value(2).run()
    assert not app.exception
    spec = chart_specs(app)[0]
    lines = [t for t in spec["data"] if t["mode"] == "lines" and t.get("showlegend") is False]  # not the legend
    assert {t["legendgroup"] for t in lines} == {"H1", "H4"}
    starts = {y for t in lines for y in as_array(t["y"])[0::3]}
    assert starts == {2.0}


def test_url_restores_and_follows_the_state():
    at = AppTest.from_file("../dashboard.py", default_timeout=TIMEOUT)
    at.query_params = {"model": "minilm", "text": SENTENCE, "view": "Model view", "layer": "3", "head": "7"}
    at.run()
    assert not at.exception
    assert at.text_area(key="text").value == SENTENCE
    assert at.segmented_control(key="view").value == "Model view"
    assert at.selectbox(key="grid_layer").value == 3 and at.selectbox(key="grid_head").value == 7
    at.segmented_control(key="view").set_value("Head view").run()
    at.slider(key="head").set_value(2).run()
    assert at.query_params == {"model": "minilm", "text": SENTENCE, "view": "Head view", "layer": "3", "head": "2"}


def test_url_with_nonsense_is_ignored():
    at = AppTest.from_file("../dashboard.py", default_timeout=TIMEOUT)
    at.query_params = {"model": "nope", "view": "<script>", "layer": "-3", "head": "x"}
    at.run()
    assert not at.exception
    assert at.segmented_control(key="view").value == "Head view"
    assert at.slider(key="layer").value == 0


def test_large_url_layer_is_clamped():
    at = AppTest.from_file("../dashboard.py", default_timeout=TIMEOUT)
    at.query_params = {"text": SENTENCE, "layer": "99", "head": "5"}
    at.run()
    assert not at.exception
    assert at.slider(key="layer").value == 5 and at.slider(key="head").value == 5


def test_translator_views_offer_the_three_attentions():
    try:
        translator = load_model("translator")
    except ModelLoadError as exc:
        pytest.skip(f"the translator is not trained here: {exc}")
    text = "the third of march 1998"
    cap = capture(translator, text)
    at = AppTest.from_file("../dashboard.py", default_timeout=TIMEOUT)
    at.query_params = {"model": "translator", "text": text}
    at.run()
    assert not at.exception
    at.radio(key="kind").set_value("cross").run()
    z, spec = heatmap(at)
    assert z.shape == (len(cap.target_tokens), len(cap.tokens))
    assert spec["layout"]["xaxis"]["ticktext"] == [escape(t) for t in cap.tokens]
    assert spec["layout"]["yaxis"]["ticktext"] == [escape(t) for t in cap.target_tokens]
    for view in ("Lines", "Model view", "Step by step"):
        at.segmented_control(key="view").set_value(view).run()
        assert not at.exception
        assert at.radio(key="kind").value == "cross"


def test_lines_view_of_a_long_text_shows_one_token(app):
    set_text(app, " ".join(["word"] * 200))
    app.segmented_control(key="view").set_value("Lines").run()
    assert not app.exception
    assert app.selectbox(key="lines_token").value == 1
    query_col, key_col = [t for t in chart_specs(app)[0]["data"] if t["mode"] == "text"]
    assert as_array(query_col["customdata"]).tolist() == [1]
    assert 0 < len(as_array(key_col["customdata"])) < 202


def test_views_ask_only_for_what_they_draw(monkeypatch):
    """No view builds every weight of every head (``Capture.attentions``): each asks for a head, a layer,
    the thumbnails, or (head similarity) stacks the layers once."""
    from model.types import Capture

    def every_weight(self):
        raise AssertionError("a view read Capture.attentions")

    monkeypatch.setattr(Capture, "attentions", property(every_weight))
    at = AppTest.from_file("../dashboard.py", default_timeout=TIMEOUT)
    at.run()
    set_text(at, SENTENCE)
    sections = {"Positions": ("pos_section", ["Vectors", "Similarity", "Offsets", "Ablation"]),
                "Statistics": ("stats_section", ["This sentence", "Heads like this one", "Rollout"])}
    for hide, combine in ((False, "head"), (True, "mean"), (True, "head")):
        at.checkbox(key="hide_special").set_value(hide).run()
        at.radio(key="combine").set_value(combine).run()
        for view in ("Head view", "Lines", "Model view"):
            at.segmented_control(key="view").set_value(view).run()
            assert not at.exception, (view, hide, combine, at.exception)
            assert at.get("plotly_chart"), view
    for view, (key, names) in sections.items():
        at.segmented_control(key="view").set_value(view).run()
        for name in names:
            at.segmented_control(key=key).set_value(name).run()
            assert not at.exception, (view, name, at.exception)
    at.segmented_control(key="view").set_value("Compare").run()
    for mode in ("Two heads", "Two sentences", "Two models", "With / without positions"):
        at.radio(key="cmp_mode").set_value(mode).run()
        assert not at.exception, (mode, at.exception)
    at = AppTest.from_file("../dashboard.py", default_timeout=TIMEOUT)
    at.query_params = {"model": "translator", "text": "the third of march 1998", "view": "Translation"}
    at.run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == 3  # the alignment, the step's bars, each head of the layer


def test_model_view_hiding_special_tokens_pools_what_is_left(app, minilm):
    from viz.grid import thumbnails
    from viz.matrix_ops import hide_tokens

    set_text(app, SENTENCE)
    app.segmented_control(key="view").set_value("Model view").run()
    z, _ = heatmap(app)
    cap = capture(minilm, SENTENCE)
    np.testing.assert_array_equal(z[:10, :10], cap.thumbnails("encoder")[0, 0])
    app.checkbox(key="hide_special").check().run()
    z, _ = heatmap(app)
    assert z.shape == (6 * 8, 12 * 8)  # [CLS] and [SEP] left out of every panel
    kept, _, _ = hide_tokens(cap.layer("encoder", 2), cap.tokens, cap.tokens, cap.special_tokens)
    np.testing.assert_array_equal(z[16:24, 40:48], thumbnails(kept[None])[0, 5])


def test_lines_start_with_the_chosen_head_and_follow_mean_and_max(app, minilm):
    set_text(app, SENTENCE)
    app.slider(key="head").set_value(4).run()
    app.segmented_control(key="view").set_value("Lines").run()
    assert app.multiselect(key="lines_heads").value == [4]
    legend = [t["name"] for t in chart_specs(app)[0]["data"] if t.get("showlegend") is not False and t.get("name")]
    assert legend == ["H4"]
    annotations = [a["text"] for a in chart_specs(app)[0]["layout"]["annotations"]]
    assert annotations == ["<b>query</b>", "<b>key</b>"]
    app.radio(key="combine").set_value("max").run()
    assert not app.exception and app.multiselect(key="lines_heads").disabled
    spec = chart_specs(app)[0]
    legend = [t["name"] for t in spec["data"] if t.get("showlegend") is not False and t.get("name")]
    assert legend == ["max of 12 heads"]
    # the lines drawn are the layer's max over heads: as many segments as cells of at least 2%
    layer = capture(minilm, SENTENCE).layer("encoder", 0).max(axis=0)
    n_segments = sum(len(as_array(t["x"])) // 3 for t in spec["data"] if t["mode"] == "lines" and t.get("showlegend")
                     is False)
    assert n_segments == int((layer >= 0.02).sum())
