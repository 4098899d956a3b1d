"""Bounds on what one input costs: text length read, the URL, the quoted unknown word."""

from __future__ import annotations

import pytest

from model import capture, load_model
from model.capture import encode_checked, quote_piece
from model.codec import MAX_TEXT_CHARS


def test_huge_text_is_cut_before_tokenising(minilm):
    text = "word " * 2_000_000  # 10,000,000 characters
    cap = capture(minilm, text)
    assert "The text has 10,000,000 characters; only the first 100,000 are read." in cap.notice
    assert cap.truncated and "reads at most 512" in cap.notice
    assert len(cap.tokens) == minilm.max_tokens


def test_encode_checked_reads_only_max_chars(minilm):
    enc = encode_checked(minilm, "word " * 2_000_000)
    # "word " is one token; the cut keeps MAX_TEXT_CHARS / 5 words, plus [CLS] and [SEP]
    assert enc.n_total == MAX_TEXT_CHARS // 5 + 2


def test_text_at_the_limit_has_no_char_notice(minilm):
    cap = capture(minilm, "word " * (MAX_TEXT_CHARS // 5))
    assert "characters" not in (cap.notice or "")


def test_quote_piece():
    assert quote_piece("smarch") == "smarch"
    assert quote_piece("x" * 40) == "x" * 40
    assert quote_piece("x" * 1_000_000) == "x" * 40 + "…"


@pytest.fixture(scope="module")
def translator():
    return load_model("translator")


def test_unknown_word_is_quoted_bounded(translator):
    c = capture(translator, "the third of " + "q" * 50_000 + " nineteen")
    assert "<unk>" in c.notice
    assert "'" + "q" * 40 + "…'" in c.notice
    assert len(c.notice) < 500
