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


def shuffle_words(text: str, seed: int = 0) -> tuple[str, np.ndarray]:
    """The whitespace-separated words of ``text`` in a seeded random order, and that order.

    ``order[j]`` is the index of the original word placed at position ``j``. With
    two or more words the order is never the identity.
    """
    words = WORD.findall(text)
    order = np.random.default_rng(seed).permutation(len(words))
    if len(words) > 1 and np.array_equal(order, np.arange(len(words))):
        order = np.roll(order, 1)
    return " ".join(words[i] for i in order), order


def token_keys(codec: TextCodec, text: str, word_of: np.ndarray | None = None) -> tuple[list[str], list[tuple]]:
    """Tokens of ``text`` and, for each, a key naming it independently of word order.

    A content token's key is (original word, index within that word); ``word_of``
    maps a word's index in ``text`` to its original index. Special tokens are
    keyed by their rank among the special tokens, so [CLS] and [SEP] map to themselves.
    """
    enc = codec.full.encode(text)
    starts = [m.start() for m in WORD.finditer(text)]
    keys: list[tuple] = []
    n_special, last_word, within = 0, -1, 0
    for start, special in zip((o[0] for o in enc.offsets), enc.special_tokens_mask, strict=True):
        if special:
            keys.append(("special", n_special))
            n_special += 1
            continue
        word = int(np.searchsorted(starts, start, side="right")) - 1
        within = within + 1 if word == last_word else 0
        last_word = word
        keys.append(("word", int(word_of[word]) if word_of is not None else word, within))
    return list(enc.tokens), keys


def align_shuffled(codec: TextCodec, text: str, shuffled: str, order: np.ndarray) -> np.ndarray | None:
    """Index ``idx`` with ``shuffled_tokens[idx] == tokens`` position by position, or None.

    ``att_shuffled[..., idx, :][..., :, idx]`` is the shuffled run's attention in the
    original token order. None when the two tokenisations do not match word for
    word (e.g. a truncated text), so the runs can only be shown side by side.
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
