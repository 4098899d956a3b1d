"""The shuffled-words ablation: the same words in another order, mapped back token by token.

Self-attention without positional vectors is permutation-equivariant: shuffle
the input and the pattern shuffles the same way. To compare the shuffled run
with the original, its rows and columns are put back in the original token
order with the index ``align_shuffled`` returns.
"""

from __future__ import annotations

import re

import numpy as np

from model.codec import TextCodec

WORD = re.compile(r"\S+")


def shuffle_words(text: str, seed: int = 0, within: tuple[int, int] | None = None) -> tuple[str, np.ndarray]:
    """The whitespace-separated words of ``text`` in a seeded random order, and that order.

    ``order[j]`` is the index of the original word placed at position ``j``. Only the words lying
    wholly inside the characters ``within`` (``(start, end)``; all of ``text`` by default) move, e.g. a
    prompt inside a chat template; the others, and the whitespace between words, stay where they are.
    With two or more words to move the order is never the identity.
    """
    words = list(WORD.finditer(text))
    lo, hi = within if within is not None else (0, len(text))
    movable = np.array([i for i, w in enumerate(words) if w.start() >= lo and w.end() <= hi], dtype=np.int64)
    moved = np.random.default_rng(seed).permutation(len(movable))
    if len(movable) > 1 and np.array_equal(moved, np.arange(len(movable))):
        moved = np.roll(moved, 1)
    order = np.arange(len(words))
    order[movable] = movable[moved]
    pieces, end = [], 0
    for slot, word in enumerate(words):
        pieces += [text[end:word.start()], words[order[slot]].group()]
        end = word.end()
    return "".join(pieces) + text[end:], order


def token_keys(codec: TextCodec, text: str, word_of: np.ndarray | None = None) -> tuple[list[str], list[tuple]]:
    """What each token of ``text`` spells (its characters, whitespace stripped) and a key naming it
    independently of word order.

    A content token's key is (original word, index within that word); ``word_of``
    maps a word's index in ``text`` to its original index. A byte-level token carries the space
    before its word (``Ġcat``): it is keyed by the word it spells, not the space. A token of only
    whitespace is a gap between words, which stays in place: keyed by the word slot before it.
    Special tokens are keyed by their rank among the special tokens, so [CLS] and [SEP] map to themselves.
    """
    enc = codec.full.encode(text)
    starts = [m.start() for m in WORD.finditer(text)]
    keys: list[tuple] = []
    n_special = 0
    last: tuple | None = None
    within = 0
    for (start, end), special in zip(enc.offsets, enc.special_tokens_mask, strict=True):
        if special:
            keys.append(("special", n_special))
            n_special += 1
            continue
        piece = text[start:end]
        lead = len(piece) - len(piece.lstrip())
        if piece and lead == len(piece):
            owner: tuple = ("gap", int(np.searchsorted(starts, start, side="right")) - 1)  # after that slot
        else:
            slot = int(np.searchsorted(starts, start + lead, side="right")) - 1  # the word this token spells
            owner = ("word", int(word_of[slot]) if word_of is not None and slot >= 0 else slot)
        within = within + 1 if owner == last else 0
        last = owner
        keys.append((*owner, within))
    return [text[start:end].strip() for start, end in enc.offsets], keys


def align_shuffled(codec: TextCodec, text: str, shuffled: str, order: np.ndarray) -> np.ndarray | None:
    """Index ``idx`` with ``shuffled_tokens[idx]`` spelling ``tokens`` position by position, or None.

    ``att_shuffled[..., idx, :][..., :, idx]`` is the shuffled run's attention in the
    original token order. None when the two tokenisations do not match word for
    word (e.g. a truncated text), so the runs can only be shown side by side. A byte-level
    token may differ by the space it carries (``The`` first, ``ĠThe`` after another word).
    """
    tokens, keys = token_keys(codec, text)
    s_tokens, s_keys = token_keys(codec, shuffled, np.asarray(order))
    if len(tokens) > codec.max_tokens or len(tokens) != len(s_tokens) or sorted(keys) != sorted(s_keys):
        return None
    where = {key: i for i, key in enumerate(s_keys)}
    idx = np.array([where[key] for key in keys], dtype=np.int64)
    if [s_tokens[i] for i in idx] != tokens:
        return None
    return idx


def reorder(att: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Rows and columns of ``att [..., T, T]`` taken in the order ``idx``."""
    return np.asarray(att)[..., idx, :][..., :, idx]


def max_gap(a: np.ndarray, b: np.ndarray) -> float:
    """Largest absolute difference between two attention tensors of one shape."""
    a, b = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    if a.shape != b.shape:
        raise ValueError(f"cannot compare shapes {a.shape} and {b.shape}")
    return float(np.abs(a - b).max()) if a.size else 0.0
