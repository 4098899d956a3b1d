"""Greedy decoding, batched: every model that writes text writes it here, one argmax at a time."""

from __future__ import annotations

from collections.abc import Callable

import torch


def greedy(next_logits: Callable[[torch.Tensor], torch.Tensor], batch: int, start: int, eos: int | None,
           max_len: int) -> list[list[int]]:
    """Decoder inputs of ``batch`` rows, ``start`` first, each next id the argmax of ``next_logits``.

    ``next_logits(ids (B, U)) -> (B, U, V)``. A row ends with its first ``eos`` or at ``max_len`` ids.
    Rows that have ended are fed ``eos`` again until every row has: causal attention keeps those
    inputs from changing what came before, so each row is what it would be decoded alone.
    """
    ids = torch.full((batch, 1), start, dtype=torch.long)  # (B, 1)
    done = torch.zeros(batch, dtype=torch.bool)
    fill = start if eos is None else eos
    for _ in range(max_len - 1):
        nxt = next_logits(ids)[:, -1].argmax(-1)  # (B,)
        nxt = torch.where(done, torch.full_like(nxt, fill), nxt)
        ids = torch.cat([ids, nxt[:, None]], dim=1)  # (B, U + 1)
        if eos is not None:
            done |= nxt == eos
        if bool(done.all()):
            break
    rows = []
    for row in ids.tolist():
        end = row.index(eos, 1) + 1 if eos is not None and eos in row[1:] else len(row)
        rows.append(row[:end])
    return rows
