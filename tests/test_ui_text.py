"""Messages quote user text literally: Markdown in it is escaped, not rendered."""

from __future__ import annotations

import re

from ui.text import plain


def test_plain_escapes_markdown():
    assert plain("**x** $1 :red[y]") == r"\*\*x\*\* \$1 \:red\[y\]"
    assert plain("no specials") == "no specials"


def test_every_special_is_escaped_and_nothing_else_changes():
    text = "<b>x</b> [a](http://b.c) `code` # h ~s~ | 1. - + ! _u_ {z} a=b^c \\"
    escaped = plain(text)
    assert re.sub(r"\\(.)", r"\1", escaped) == text
    assert not re.search(r"(?<!\\)[*_`\[\]<>$:]", escaped)
