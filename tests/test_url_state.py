"""The URL's state: indices parsed strictly, long text kept out of the address."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from ui.url_state import MAX_URL_TEXT, parse_index, url_params


@pytest.mark.parametrize("value", ["²", "①", "٣", "１", "", "-1", "x", "1e9", "12345", None, 3])
def test_parse_index_rejects(value):
    assert parse_index(value) is None


@pytest.mark.parametrize(("value", "want"), [("0", 0), ("7", 7), ("1234", 1234)])
def test_parse_index_accepts_ascii_digits(value, want):
    assert parse_index(value) == want


def test_short_text_is_in_the_url():
    assert url_params("minilm", "the cat", "Head", 2, 3) == {
        "model": "minilm", "text": "the cat", "view": "Head", "layer": "2", "head": "3"}


def test_long_text_is_left_out_of_the_url():
    want = url_params("minilm", "x" * (MAX_URL_TEXT + 1), "Head", 0, 1)
    assert "text" not in want
    assert want == {"model": "minilm", "view": "Head", "layer": "0", "head": "1"}
    assert url_params("minilm", "x" * MAX_URL_TEXT, "Head", 0, 1)["text"] == "x" * MAX_URL_TEXT


def app_with(params: dict[str, str]):
    at = AppTest.from_file("../dashboard.py", default_timeout=120)
    at.query_params = params
    at.run()
    assert not at.exception, at.exception
    return at


def test_sidebar_options_and_sub_tabs_round_trip_through_the_url():
    at = app_with({"text": "the cat sat", "view": "Statistics", "hide_special": "1", "hide_sink": "1",
                   "combine": "max", "colorscale": "Viridis", "stats_section": "Rollout"})
    assert at.checkbox(key="hide_special").value and at.checkbox(key="hide_sink").value
    assert at.radio(key="combine").value == "max" and at.selectbox(key="colorscale").value == "Viridis"
    assert at.segmented_control(key="stats_section").value == "Rollout"
    assert not at.warning and not at.info  # nothing ignored, no widget warned about its state
    assert {k: at.query_params[k] for k in ("hide_special", "hide_sink", "combine", "colorscale", "stats_section")} \
        == {"hide_special": "1", "hide_sink": "1", "combine": "max", "colorscale": "Viridis",
            "stats_section": "Rollout"}
    at.checkbox(key="hide_special").uncheck().run()
    at.segmented_control(key="view").set_value("Positions").run()
    at.segmented_control(key="pos_section").set_value("Offsets").run()
    assert "hide_special" not in at.query_params  # back at its default: out of the address
    assert at.query_params["pos_section"] == "Offsets" and at.query_params["view"] == "Positions"


def test_bad_url_values_are_named_not_silently_dropped():
    at = app_with({"model": "local", "layer": "x", "combine": "sum", "hide_sink": "yes", "new_tokens": "900"})
    said = " ".join(i.value for i in at.info).replace("\\", "")  # the page escapes Markdown
    for part in ("model=local without folder", "layer='x' is not a number", "combine='sum'", "hide_sink='yes'",
                 "new_tokens=900 is outside 1-200: 200"):
        assert part in said, part
    assert at.selectbox(key="model").value == "minilm"
    at.run()
    assert not any("Not taken from the link" in i.value for i in at.info)  # said once, on opening


def test_a_decoder_link_keeps_its_generation_options():
    at = app_with({"model": "smollm2", "text": "The capital of France is", "view": "Generation",
                   "new_tokens": "5", "as_chat": "1"})
    assert at.number_input(key="new_tokens").value == 5 and at.checkbox(key="as_chat").value
    assert at.query_params["new_tokens"] == "5" and at.query_params["as_chat"] == "1"
    at.checkbox(key="generate").uncheck().run()
    assert at.query_params["generate"] == "0"
