"""The page with SmolLM2: prompt, continuation, the Generation view's stepper, readable and marked tokens."""

from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from model import capture, load_model
from model.readable import GENERATED_MARK
from tests.test_dashboard import as_array
from viz.labels import escape

PROMPT = "The capital of France is"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reference():
    return capture(load_model("smollm2"), PROMPT, max_new_tokens=20)


def page(view: str, **state) -> AppTest:
    at = AppTest.from_file("../dashboard.py", default_timeout=180)
    at.session_state["model"] = "smollm2"
    at.session_state["text"] = PROMPT
    at.session_state["view"] = view
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def heatmaps(at: AppTest) -> list[dict]:
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return [s for s in specs if s["data"][0]["type"] == "heatmap"]


def test_each_step_shows_the_row_that_wrote_its_token(reference):
    at = page("Generation", layer=5)
    assert reference.n_generated == 20 and reference.output_text.startswith(" Paris.")
    assert at.get("code")[0].value == reference.output_text
    for step in (1, 2, 7):
        at.slider(key="gen_step").set_value(step).run()
        assert not at.exception
        written = 5 + step - 1
        text = " ".join(m.value for m in at.markdown)
        assert f"Step {step} wrote" in text and f"(position {written})" in text
        heads, layers, steps = heatmaps(at)
        z = as_array(heads["data"][0]["z"])  # (9 heads, keys before the written token)
        expected = reference.layer("decoder", 5)[:, written - 1, :written]
        np.testing.assert_allclose(z, expected, atol=1e-6)
        np.testing.assert_allclose(z.sum(axis=1), 1.0, atol=1e-5)
        assert heads["data"][0]["y"][4] == "H4 (KV1)"
        assert len(as_array(layers["data"][0]["z"])) == 30
    # every step: one row per written token, each the row of the token before it, labelled by what it wrote
    z = as_array(steps["data"][0]["z"])
    np.testing.assert_allclose(z, reference.head("decoder", 5, 0)[4:24], atol=1e-6)
    assert steps["data"][0]["y"][0] == "1 ␣Paris" + GENERATED_MARK


def test_hiding_the_sink_drops_the_first_key_and_renormalises(reference):
    at = page("Generation", layer=5, hide_sink=True, gen_step=3)
    z = as_array(heatmaps(at)[0]["data"][0]["z"])
    row = reference.layer("decoder", 5)[:, 6, :7]  # step 3 wrote position 7
    np.testing.assert_allclose(z, row[:, 1:] / row[:, 1:].sum(axis=1, keepdims=True), atol=1e-5)
    assert row[:, 0].mean() > 0.3  # layer 5 parks on the first token: hiding it changes the picture


def test_head_view_reads_as_text_and_marks_the_continuation():
    at = page("Head view", layer=5, head=0)
    spec = heatmaps(at)[0]
    ticks = spec["layout"]["yaxis"]["ticktext"]
    assert ticks[:6] == ["The", "␣capital", "␣of", "␣France", "␣is", "␣Paris" + GENERATED_MARK]
    assert len(as_array(spec["data"][0]["z"])) == 25
    caption = " ".join(c.value for c in at.caption)
    assert "wrote 20 tokens" in caption


def test_as_chat_and_fewer_tokens():
    at = page("Generation", as_chat=True, new_tokens=12, text="What is the capital of France?")
    assert at.get("code")[0].value == "The capital of France is Paris."  # its answer, ended by <|im_end|>
    ticks = heatmaps(at)[0]["layout"]["xaxis"]["ticktext"]
    assert ticks[:3] == [escape("<|im_start|>"), "system", "↵"]  # the chat format, the model's own special tokens
    spec = heatmaps(at)[2]
    assert len(as_array(spec["data"][0]["z"])) <= 12
    at.checkbox(key="generate").uncheck().run()
    assert not at.exception
    assert any("Continue the text" in i.value for i in at.info)


def test_encoders_say_this_view_is_for_decoders():
    at = AppTest.from_file("../dashboard.py", default_timeout=120)
    at.session_state["view"] = "Generation"
    at.run()
    assert not at.exception
    assert any("for a decoder" in i.value for i in at.info)
    assert not at.checkbox(key="hide_sink").value
    assert "generate" not in at.session_state


def test_a_2048_token_head_is_an_overview_and_a_window():
    text = " ".join(f"Sentence number {i} talks about cats, dogs and the weather in Paris." for i in range(200))
    at = page("Head view", text=text, generate=False, layer=5, head=0)
    assert any("reads at most 2048" in w.value for w in at.warning)
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert sum(len(c.proto.spec) for c in at.get("plotly_chart")) < 2_000_000  # light enough to send
    overview, window = specs
    cap = capture(load_model("smollm2"), text)
    w = cap.head("decoder", 5, 0)
    z = as_array(overview["data"][0]["z"])  # 128 x 128 blocks of 16 x 16 cells, each its strongest weight
    assert z.shape == (128, 128)
    where = as_array(overview["data"][0]["customdata"])  # (128, 128, 2): the strongest cell's query and key
    q_at, k_at = where[..., 0], where[..., 1]
    np.testing.assert_allclose(z, w[q_at, k_at], atol=1e-6)  # the hover's query, key and weight are exact
    np.testing.assert_allclose(z, w.reshape(128, 16, 128, 16).max(axis=(1, 3)), atol=1e-6)
    # the window: the last 128 queries and keys at full resolution, labelled by their place in the whole text
    np.testing.assert_allclose(as_array(window["data"][0]["z"]), w[1920:, 1920:], atol=1e-6)
    assert window["data"][0]["y"][0] == f"1920 {escape(cap.labels[1920])}"
    at.number_input(key="win_k").set_value(0).run()
    window = json.loads(at.get("plotly_chart")[1].proto.spec)
    np.testing.assert_allclose(as_array(window["data"][0]["z"]), w[1920:, :128], atol=1e-6)
    # this head's own range: the colour bar says so, and spans what the window holds
    at.radio(key="head_range").set_value("head").run()
    window = json.loads(at.get("plotly_chart")[1].proto.spec)
    assert window["data"][0]["zmax"] == pytest.approx(float(w[1920:, :128].max()), rel=1e-6)
    assert "this head's range" in window["data"][0]["colorbar"]["title"]["text"]
