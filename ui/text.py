"""User text inside Streamlit messages, shown as the characters it is.

Streamlit renders messages as Markdown (with colour directives, icons and
LaTeX): a word like ``**x**`` or ``$1`` typed by a user, or a folder name, must not
turn into formatting.
"""

from __future__ import annotations

import re

MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>$:~=^])")


def plain(text: str) -> str:
    """Backslash-escape every character Markdown could interpret."""
    return MARKDOWN_SPECIALS.sub(r"\\\1", text)
