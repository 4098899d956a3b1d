"""Property tests: ``capture`` on arbitrary Unicode returns a valid Capture or the documented ValueError.

The documented errors: empty text, text with no readable token (only special or
unknown tokens), and text that is not valid Unicode (unpaired surrogates).
Nothing else may escape.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from model import Capture, capture

DOCUMENTED = (
    "The text is empty: type a sentence to see its attention.",
    "The text has no readable tokens: type a sentence to see its attention.",
    "The text is not valid Unicode: it holds unpaired surrogate characters.",
)

# Everything Unicode has, surrogates and control characters included.
ANY_CHAR = st.characters(codec=None, exclude_categories=())
TRICKY = st.sampled_from([
    "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff",  # zero-width characters
    "\u202e", "\u202d", "\u200f", "\u05e9\u05dc\u05d5\u05dd", "\u0645\u0631\u062d\u0628\u0627",  # RTL
    "<b>", "</b>", "<script>alert(1)</script>", "&amp;", "<br>", "[CLS]", "[SEP]", "[MASK]",
    "\x00", "\n", "\t", "\u0301", "\U0001f600", "\U000e0001", " ", "...", "!?", "the", "cat",
])


def check(model, text: str) -> None:
    try:
        cap = capture(model, text)
    except ValueError as exc:
        assert str(exc) in DOCUMENTED
        if str(exc) == DOCUMENTED[0]:
            assert not text.strip()
        elif str(exc) == DOCUMENTED[1]:
            tokens = model.codec.encode(text).tokens
            assert all(t in model.codec.special_tokens for t in tokens)
        else:
            assert any(0xD800 <= ord(c) <= 0xDFFF for c in text)
        return
    assert isinstance(cap, Capture)
    att = cap.attentions["encoder"]
    n = len(cap.tokens)
    assert 2 < n <= model.max_tokens
    assert att.shape == (6, 12, n, n)
    assert np.isfinite(att).all()
    np.testing.assert_allclose(att.sum(-1), 1.0, atol=1e-5)
    assert cap.positions.shape == (n, 384)
    assert cap.truncated == ("reads at most" in (cap.notice or ""))


@settings(max_examples=50, deadline=None)
@given(text=st.text(ANY_CHAR, max_size=120))
def test_any_unicode(minilm, text):
    check(minilm, text)


@settings(max_examples=40, deadline=None)
@given(text=st.lists(TRICKY | st.text(ANY_CHAR, max_size=3), max_size=40).map("".join))
def test_mixed_tricky_pieces(minilm, text):
    check(minilm, text)


@settings(max_examples=5, deadline=None)
@given(words=st.lists(st.sampled_from(["the", "cat", ",", "a\u200bb", "<b>", "\u05e9"]), min_size=600, max_size=900))
def test_long_text_is_truncated_with_a_notice(minilm, words):
    cap = capture(minilm, " ".join(words))
    assert cap.truncated
    assert len(cap.tokens) == minilm.max_tokens
    assert cap.tokens[-1] == "[SEP]"
    assert "reads at most 512" in cap.notice
    np.testing.assert_allclose(cap.attentions["encoder"].sum(-1), 1.0, atol=1e-5)
