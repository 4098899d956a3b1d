"""The Interventions view in the page (AppTest): the map, chosen heads, the output before and after."""

from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from model import capture
from model.interventions import head_importance, intervene, intervening, plan_of
from tests.test_dashboard import as_array
from viz.importance import effect_grid, importance_figure

TEXT = "The cat sat on the mat."


@pytest.fixture
def app():
    at = AppTest.from_file("../dashboard.py", default_timeout=180)
    at.run()
    at.segmented_control(key="view").set_value("Interventions").run()
    assert not at.exception
    return at


def spec(at, i=0) -> dict:
    return json.loads(at.get("plotly_chart")[i].proto.spec)


def test_the_map_holds_every_heads_exact_effect(app, minilm):
    app.text_area(key="text").set_value(TEXT).run()
    fig = spec(app)
    heat, points = fig["data"][0], fig["data"][1]
    exact = head_importance(minilm, TEXT)
    np.testing.assert_allclose(as_array(heat["z"]).reshape(6, 12), effect_grid(exact, "encoder"), atol=1e-5)
    assert as_array(points["customdata"]).reshape(-1, 3)[13, :2].tolist() == [1, 1]  # one point per cell
    assert any("Spearman" in c.value for c in app.caption)


def test_chosen_heads_show_the_output_and_attention_after(app, minilm):
    heads = [("encoder", 2, 3), ("encoder", 4, 0)]
    app.multiselect(key="iv_heads").set_value(heads).run()
    assert not app.exception
    text = app.session_state["text"]
    expected = intervene(minilm, text, heads)
    assert app.get("metric")[0].value == f"{expected.effect:.4g}"
    assert any("cosine" in m.value for m in app.markdown if m.value.startswith("**Without them"))
    pair = spec(app, 1)
    with intervening(minilm, plan_of(heads)):
        after = capture(minilm, text).head("encoder", app.slider(key="layer").value, app.slider(key="head").value)
    np.testing.assert_allclose(as_array(pair["data"][1]["z"]).reshape(after.shape), after, atol=1e-6)


def test_patch_needs_a_second_sentence_of_the_same_length(app):
    app.radio(key="iv_mode").set_value("patch").run()
    assert any("second sentence" in i.value for i in app.info)
    app.text_input(key="iv_corrupted").set_value("Rome").run()
    assert not app.exception
    assert any("same number of tokens" in i.value for i in app.info)


def test_the_translator_writes_something_else_without_its_cross_attention():
    at = AppTest.from_file("../dashboard.py", default_timeout=180)
    at.session_state["model"] = "translator"
    at.run()
    at.segmented_control(key="view").set_value("Interventions").run()
    assert not at.exception
    at.radio(key="kind").set_value("cross").run()
    heads = [("cross", layer, h) for layer in range(2) for h in range(4)]
    at.multiselect(key="iv_heads").set_value(heads).run()
    assert not at.exception
    marks = [m.value for m in at.markdown if m.value.startswith("**")]
    before = next(m for m in marks if m.startswith("**Unchanged"))
    after = next(m for m in marks if m.startswith("**Without"))
    assert before != after.replace("Without them", "Unchanged model")


def test_importance_figure_outlines_selected_heads_and_rejects_bad_input():
    grid = np.arange(6, dtype=np.float32).reshape(2, 3) - 2
    fig = importance_figure(grid, selected=[(1, 2)], measure="m")
    assert fig.data[0].zmid == 0 and fig.data[0].zmax == 3
    assert [tuple(c) for c in fig.data[1].customdata][-1] == (1, 2, 3)
    assert fig.layout.shapes[0].x0 == 1.5 and fig.layout.shapes[0].y0 == 0.5
    with pytest.raises(ValueError):
        importance_figure(np.zeros((0, 3)))


def test_the_map_says_which_display_settings_it_does_not_apply(app):
    assert not [c for c in app.caption if "do not apply to the map" in c.value]  # nothing hidden, heads apart
    for key in ("hide_special", "hide_sink"):
        app.checkbox(key=key).check().run()
        assert not app.exception
        said = [c.value for c in app.caption if "do not apply to the map" in c.value]
        assert len(said) == 1
        assert all(s in said[0] for s in ("special tokens", "the first token", "combining heads")), said
        app.checkbox(key=key).uncheck().run()
    app.radio(key="combine").set_value("mean").run()
    assert any("do not apply to the map" in c.value for c in app.caption)
