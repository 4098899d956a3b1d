"""Tokens as the text they stand for: what a person reads on an axis or in a table.

A byte-level BPE tokenizer (GPT-2, SmolLM2, Llama 3, Qwen2) stores each token as bytes
spelled in a 256-character alphabet: a leading space is ``Ġ``, a newline ``Ċ``, and a
Chinese character is three such letters (``ä¸Ń`` for 中). A rare character may even be
split across two tokens, each holding only part of its UTF-8 bytes.

``readable_tokens`` turns them back into text: whitespace becomes a visible mark
(``␣`` a space, ``↵`` a newline, ``⇥`` a tab), a token holding only part of a character
is shown as its bytes (``⟨e4 b8⟩``), and the character goes on the token that completes
it. Special tokens (``<|im_start|>``) and tokens of other tokenizers stay as they are.
The ids and the raw token strings are untouched: only what is shown changes.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections.abc import Collection, Sequence
from functools import cache

WHITESPACE_MARKS = {" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"}
CONTROL_NAMES = {"\n": "LINE FEED", "\t": "CHARACTER TABULATION", "\r": "CARRIAGE RETURN"}  # unicodedata has none
# A label of a token the model wrote itself (a decoder's continuation), not one of the prompt's
GENERATED_MARK = "✎"
BYTES_PART = re.compile(r"(⟨[0-9a-f ]+⟩)")


@cache
def byte_alphabet() -> dict[str, int]:
    """Byte-level BPE's letter -> byte map: printable bytes spell themselves, the rest from U+0100 up."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    letters = dict(zip(printable, printable, strict=True))
    extra = 0
    for b in range(256):
        if b not in letters:
            letters[b] = 256 + extra
            extra += 1
    return {chr(letter): b for b, letter in letters.items()}


def token_bytes(token: str) -> bytes | None:
    """The bytes a byte-level token spells, or None if it is not spelled in that alphabet."""
    alphabet = byte_alphabet()
    if not token or any(c not in alphabet for c in token):
        return None
    return bytes(alphabet[c] for c in token)


def show_whitespace(text: str) -> str:
    return "".join(WHITESPACE_MARKS.get(c, c) for c in text)


def show_bytes(data: bytes) -> str:
    return "⟨" + " ".join(f"{b:02x}" for b in data) + "⟩"


def readable_tokens(tokens: Sequence[str], special: Collection[str] = (), *, byte_level: bool = True) -> list[str]:
    """What each token reads as (see the module docstring); the list has one label per token."""
    if not byte_level:
        return list(tokens)
    labels = []
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    for token in tokens:
        data = None if token in special else token_bytes(token)
        if data is None:  # a special token, or one spelled outside the byte alphabet
            decoder.reset()
            labels.append(token)
            continue
        try:
            text = decoder.decode(data)
        except UnicodeDecodeError:  # a character left unfinished, or bytes that are not UTF-8 at all
            decoder.reset()
            try:
                text = decoder.decode(data)
            except UnicodeDecodeError:
                decoder.reset()
                labels.append(show_bytes(data))
                continue
        rest = decoder.getstate()[0]  # bytes of a character a later token completes
        own = rest[-min(len(rest), len(data)):] if rest else b""  # those this token holds, not earlier ones
        label = show_whitespace(text) + (show_bytes(own) if own else "")
        labels.append(label or show_bytes(data))
    return labels


def marked(labels: Sequence[str], n_generated: int) -> list[str]:
    """The labels with the last ``n_generated`` (those a decoder wrote) marked ``GENERATED_MARK``."""
    cut = len(labels) - max(n_generated, 0)
    return [label if i < cut else f"{label}{GENERATED_MARK}" for i, label in enumerate(labels)]


def character_names(label: str) -> str:
    """What a label is made of, character by character: ``中 U+4E2D CJK UNIFIED IDEOGRAPH-4E2D``;
    a whitespace mark names the whitespace, a ``⟨e4 b8⟩`` part says it is bytes of an unfinished character,
    and the mark of a token the model wrote is left out."""
    unmark = {v: k for k, v in WHITESPACE_MARKS.items()}
    parts = []
    for piece in BYTES_PART.split(label.removesuffix(GENERATED_MARK)):
        if BYTES_PART.fullmatch(piece):
            parts.append(f"{piece} part of a character's UTF-8 bytes")
            continue
        for c in piece:
            c = unmark.get(c, c)
            name = CONTROL_NAMES.get(c) or unicodedata.name(c, "unnamed")
            parts.append(f"{show_whitespace(c)} U+{ord(c):04X} {name}")
    return "; ".join(parts)
