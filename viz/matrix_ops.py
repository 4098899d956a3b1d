"""Pure numpy operations on attention matrices, shared by every figure.

Weights arrive as float arrays ``[..., queries, keys]`` whose rows sum to 1.
Nothing here draws: each function returns a new array and leaves its input alone.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

COMBINE = ("head", "mean", "max")


def keep_indices(tokens: Sequence[str], special: Collection[str], drop_first: bool = False) -> np.ndarray:
    """Positions of the tokens that are not special (``[CLS]``, ``[SEP]``, ``<s>``...), nor the first
    one when ``drop_first`` (where attention sinks park, whatever token it is).

    When every token would go there is nothing else to show, so all are kept.
    """
    keep = np.array([i for i, t in enumerate(tokens) if t not in special and not (drop_first and i == 0)],
                    dtype=np.int64)
    return keep if keep.size else np.arange(len(tokens), dtype=np.int64)


def hide_and_renormalise(weights: np.ndarray, query_keep: np.ndarray, key_keep: np.ndarray) -> np.ndarray:
    """Keep the chosen query rows and key columns, then rescale each row to sum to 1 again.

    Special tokens often soak up most of a row ("attend to [SEP]" as a no-op); dropping them
    and renormalising shows how the rest of the row is shared. A row left with no weight
    at all stays zero rather than dividing by zero.
    """
    w = np.asarray(weights, dtype=np.float32)
    sub = w[..., query_keep, :][..., key_keep]  # (..., q_kept, k_kept)
    sums = sub.sum(axis=-1, keepdims=True)
    return np.divide(sub, sums, out=np.zeros_like(sub), where=sums > 0)


def combine_heads(layer_weights: np.ndarray, how: str, head: int = 0) -> np.ndarray:
    """One ``[queries, keys]`` matrix from a layer's ``[heads, queries, keys]``.

    ``how`` is ``"head"`` (the one ``head``), ``"mean"`` (rows still sum to 1) or
    ``"max"`` (the strongest head at each cell; rows no longer sum to 1).
    """
    w = np.asarray(layer_weights, dtype=np.float32)
    if w.ndim != 3:
        raise ValueError(f"a layer's weights are [heads, queries, keys], got shape {w.shape}")
    if how == "head":
        if not 0 <= head < w.shape[0]:
            raise ValueError(f"head {head} is out of range: the layer has {w.shape[0]} heads")
        return w[head]
    if how == "mean":
        return w.mean(axis=0)
    if how == "max":
        return w.max(axis=0)
    raise ValueError(f"combine heads by one of {COMBINE}, not {how!r}")


def top_k_rows(weights: np.ndarray, k: int) -> np.ndarray:
    """Keep the ``k`` largest weights of each row, zero the rest (ties may keep a few more)."""
    w = np.asarray(weights, dtype=np.float32)
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if k >= w.shape[-1]:
        return w.copy()
    kth = -np.partition(-w, k - 1, axis=-1)[..., k - 1 : k]  # (..., 1): the k-th largest of each row
    return np.where(w >= kth, w, 0.0).astype(np.float32)


def top_p_rows(weights: np.ndarray, p: float) -> np.ndarray:
    """Keep, per row, the smallest set of largest weights whose sum reaches ``p`` of the row's total.

    With ``p = 0.7`` a row ``[0.5, 0.3, 0.2]`` keeps ``0.5`` and ``0.3``: they hold 80%,
    and ``0.5`` alone holds less than 70%.
    """
    if not 0.0 < p <= 1.0:
        raise ValueError(f"the share p must be in (0, 1], got {p}")
    w = np.asarray(weights, dtype=np.float32)
    order = np.argsort(-w, axis=-1, kind="stable")
    ranked = np.take_along_axis(w, order, axis=-1)
    total = ranked.sum(axis=-1, keepdims=True)
    before = np.cumsum(ranked, axis=-1) - ranked  # weight held by the larger entries before this one
    # float32 sums can land a hair under p * total; the tolerance keeps exact shares exact
    keep_ranked = before < p * total - 1e-6 * np.maximum(total, 1.0)
    keep_ranked[..., 0] = True
    keep = np.zeros_like(keep_ranked)
    np.put_along_axis(keep, order, keep_ranked, axis=-1)
    return np.where(keep, w, 0.0).astype(np.float32)


def block_factor(n: int, max_cells: int) -> int:
    """How many positions one thumbnail cell covers so that ``n`` positions fit in ``max_cells``."""
    if max_cells < 1:
        raise ValueError(f"max_cells must be at least 1, got {max_cells}")
    return max(1, -(-n // max_cells))


def downsample(weights: np.ndarray, max_cells: int = 48, how: str = "max") -> np.ndarray:
    """Pool the last two axes into blocks so neither exceeds ``max_cells``.

    Block-max keeps a sharp link visible in a small thumbnail (one 0.9 among
    zeros stays 0.9); block-mean keeps the total. Edge blocks are smaller when the
    length is not a multiple of the block, and pool only the positions they hold.
    """
    w = np.asarray(weights, dtype=np.float32)
    q, k = w.shape[-2:]
    fq, fk = block_factor(q, max_cells), block_factor(k, max_cells)
    if fq == 1 and fk == 1:
        return w.copy()
    # reduceat pools each run of rows (then columns) that starts at these indices, in place of
    # padding the whole array to a multiple of the block and reshaping it
    starts_q, starts_k = np.arange(0, q, fq), np.arange(0, k, fk)
    if how == "max":
        return np.maximum.reduceat(np.maximum.reduceat(w, starts_q, axis=-2), starts_k, axis=-1)
    if how == "mean":
        sums = np.add.reduceat(np.add.reduceat(w, starts_q, axis=-2), starts_k, axis=-1)
        size_q = np.diff(starts_q, append=q)  # real rows in each block
        size_k = np.diff(starts_k, append=k)
        return sums / np.outer(size_q, size_k).astype(np.float32)
    raise ValueError(f"pool by 'max' or 'mean', not {how!r}")


def strongest_in_blocks(weights: np.ndarray, max_cells: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 2-D ``[queries, keys]`` matrix pooled to at most ``max_cells`` a side by block-max, with the
    query and key position of each block's strongest cell: ``(pooled, query_at, key_at)``, all
    ``[blocks_q, blocks_k]``. The pooled value is that cell's exact weight."""
    w = np.asarray(weights, dtype=np.float32)
    if w.ndim != 2:
        raise ValueError(f"a matrix is 2-D, got shape {w.shape}")
    q, k = w.shape
    fq, fk = block_factor(q, max_cells), block_factor(k, max_cells)
    bq, bk = -(-q // fq), -(-k // fk)
    padded = np.full((bq * fq, bk * fk), -np.inf, dtype=np.float32)  # edge blocks hold fewer real cells
    padded[:q, :k] = w
    blocks = padded.reshape(bq, fq, bk, fk).transpose(0, 2, 1, 3).reshape(bq, bk, fq * fk)  # (bq, bk, cells)
    best = blocks.argmax(axis=-1)  # (bq, bk): the flat index inside each block
    pooled = np.take_along_axis(blocks, best[..., None], axis=-1)[..., 0]
    query_at = np.arange(bq)[:, None] * fq + best // fk
    key_at = np.arange(bk)[None, :] * fk + best % fk
    return pooled, query_at, key_at


def quantise_u8(weights: np.ndarray, zmax: float = 1.0) -> np.ndarray:
    """Map ``[0, zmax]`` to ``0..255``: a colour scale has 256 steps, so nothing visible is lost."""
    if zmax <= 0:
        raise ValueError(f"zmax must be positive, got {zmax}")
    w = np.asarray(weights, dtype=np.float32)
    return np.clip(np.rint(w / zmax * 255.0), 0, 255).astype(np.uint8)


def hide_tokens(layer_weights: np.ndarray, query_tokens: Sequence[str], key_tokens: Sequence[str],
                hide: Collection[str] = (), *, first: bool = False) -> tuple[np.ndarray, list[str], list[str]]:
    """Drop the ``hide`` tokens (and with ``first`` the first key, and the first query where queries
    and keys are one sequence) from ``[..., queries, keys]`` and renormalise; also return the tokens left."""
    w = np.asarray(layer_weights, dtype=np.float32)
    q_tokens, k_tokens = list(query_tokens), list(key_tokens)
    if not hide and not first:
        return w, q_tokens, k_tokens
    qi = keep_indices(q_tokens, hide, drop_first=first and q_tokens == k_tokens)
    ki = keep_indices(k_tokens, hide, drop_first=first)
    return hide_and_renormalise(w, qi, ki), [q_tokens[i] for i in qi], [k_tokens[i] for i in ki]


def view_matrix(layer_weights: np.ndarray, query_tokens: Sequence[str], key_tokens: Sequence[str], *,
                head: int = 0, combine: str = "head", hide: Collection[str] = (), first: bool = False
                ) -> tuple[np.ndarray, list[str], list[str]]:
    """The ``[queries, keys]`` matrix a view draws from a layer's ``[heads, queries, keys]``.

    Tokens in ``hide`` (and the first token, with ``first``) are dropped and each head's rows
    renormalised before the heads are combined, so a mean of heads still has rows that sum to 1.
    Returns the matrix and the query and key tokens left.
    """
    if combine == "head":
        # one head is drawn: check it, then hide and renormalise only its rows, not every head's
        combine_heads(layer_weights, "head", head)
        w, q_tokens, k_tokens = hide_tokens(np.asarray(layer_weights)[head:head + 1], query_tokens, key_tokens, hide,
                                            first=first)
        return w[0], q_tokens, k_tokens
    w, q_tokens, k_tokens = hide_tokens(layer_weights, query_tokens, key_tokens, hide, first=first)
    return combine_heads(w, combine, head), q_tokens, k_tokens


CONTINUATION = "##"  # WordPiece marks a piece that continues the word before it
# byte-level BPE and SentencePiece mark a piece that starts a word; readable labels (model.readable) show
# the space or newline as a mark
WORD_STARTS = ("Ġ", "▁", "Ċ", "␣", "↵")


def word_groups(tokens: Sequence[str], special: Collection[str] = ()) -> list[list[int]]:
    """Token positions grouped into words: a WordPiece ``##`` piece joins the piece before it; where
    the tokenizer marks word starts (``Ġ``, ``▁``), a piece without the mark joins the one before.
    Special tokens stay alone."""
    marks_starts = any(t.startswith(WORD_STARTS) for t in tokens)
    groups: list[list[int]] = []
    for i, t in enumerate(tokens):
        joins = (t.startswith(CONTINUATION) and len(t) > 2) or (marks_starts and not t.startswith(WORD_STARTS))
        if groups and joins and t not in special and tokens[groups[-1][0]] not in special:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def group_label(tokens: Sequence[str], group: Sequence[int]) -> str:
    """A group's tokens read as one word: WordPiece marks dropped, pieces joined."""
    if len(group) == 1:
        return tokens[group[0]]
    return "".join(tokens[i].removeprefix(CONTINUATION) for i in group)


def merge_groups(weights: np.ndarray, query_groups: Sequence[Sequence[int]],
                 key_groups: Sequence[Sequence[int]]) -> np.ndarray:
    """``[queries, keys]`` -> ``[query groups, key groups]``: the attention a group of queries pays to a
    group of keys. Columns of a group are summed (what a query gives the whole group); rows of a group
    are averaged (the group's queries as one), so rows still sum to 1."""
    w = np.asarray(weights, dtype=np.float32)
    cols = np.stack([w[:, list(g)].sum(axis=1) for g in key_groups], axis=1)  # (Q, key groups)
    return np.stack([cols[list(g)].mean(axis=0) for g in query_groups], axis=0)  # (query groups, key groups)


def span_groups(n: int, span: Collection[int]) -> list[list[int]]:
    """Positions 0..n-1 with the ``span`` positions as one group, placed where the span starts."""
    chosen = sorted(i for i in set(span) if 0 <= i < n)
    groups: list[list[int]] = []
    for i in range(n):
        if chosen and i == chosen[0]:
            groups.append(chosen)
        elif i not in chosen:
            groups.append([i])
    return groups


def value_weighted(weights: np.ndarray, value_norms: np.ndarray) -> np.ndarray:
    """``weight[i, j] * |v_j|``: how much key j's value vector moves query i's output (Kobayashi et al. 2020)."""
    w = np.asarray(weights, dtype=np.float32)
    norms = np.asarray(value_norms, dtype=np.float32)
    if norms.shape != (w.shape[-1],):
        raise ValueError(f"one value norm per key: {w.shape[-1]} keys, got {norms.shape}")
    return w * norms[None, :]
