"""The URL's state: indices parsed strictly, long text kept out of the address."""

from __future__ import annotations

import pytest

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
