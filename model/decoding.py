"""Greedy decoding, batched: every model that writes text writes it here, one argmax at a time."""

from __future__ import annotations

from collections.abc import Callable

import torch


def greedy(next_logits: Callable[[torch.Tensor], torch.Tensor], batch: int, start: int, eos: int | None,
           max_len: int, prefix: torch.Tensor | None = None) -> list[list[int]]:
    """Decoder inputs of ``batch`` rows, ``start`` first (or ``prefix``), each next id the argmax of ``next_logits``.

    ``next_logits(ids (B, U)) -> (B, U, V)``. ``prefix`` (B, P) ids, when given, stand in for ``start``:
    a decoder-only model continues a prompt. A row ends with its first ``eos`` after the prefix, or at
    ``max_len`` ids in all. Rows that have ended are fed ``eos`` again until every row has: causal
    attention keeps those inputs from changing what came before, so each row is what it would be
    decoded alone. No cache of keys and values: each step reruns the whole sequence (slower, simpler).
    """
    ids = torch.full((batch, 1), start, dtype=torch.long) if prefix is None else prefix.long()  # (B, P)
    n_prefix = ids.shape[1]
    done = torch.zeros(batch, dtype=torch.bool)
    fill = start if eos is None else eos
    while ids.shape[1] < max_len:
        nxt = next_logits(ids)[:, -1].argmax(-1)  # (B,)
        nxt = torch.where(done, torch.full_like(nxt, fill), nxt)
        ids = torch.cat([ids, nxt[:, None]], dim=1)  # (B, U + 1)
        if eos is not None:
            done |= nxt == eos
        if bool(done.all()):
            break
    rows = []
    for row in ids.tolist():
        written = row[n_prefix:]
        end = n_prefix + written.index(eos) + 1 if eos is not None and eos in written else len(row)
        rows.append(row[:end])
    return rows
