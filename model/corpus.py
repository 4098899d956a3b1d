"""Head statistics over a corpus: one sentence per line, captured in batches.

``corpus_statistics`` is a pure function of (model, sentences): it reads nothing
but its arguments and keeps no state, so the same call can run anywhere a
model loads. Each sentence is tokenised once; every model runs a whole batch in
one padded forward pass that measures every head as it goes (``model.pass_statistics``),
the padding keys masked, which gives each sentence the weights it gets alone.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from i18n import _
from model.capture import encode_checked
from model.codec import Encoded
from model.pass_statistics import batch_head_statistics, capture_measures, statistics_rows
from model.statistics import STAT_COLUMNS
from model.types import Capture, LoadedModel

MAX_SENTENCES = 200
MAX_BYTES = 1_000_000

Progress = Callable[[int, int], None]  # (sentences done, sentences in all)


def parse_corpus(text: str, max_sentences: int = MAX_SENTENCES, max_bytes: int = MAX_BYTES) -> list[str]:
    """Non-blank lines of ``text``, stripped. ``ValueError`` with a readable message beyond the limits."""
    size = len(text.encode("utf-8"))
    if size > max_bytes:
        raise ValueError(_("The corpus is {size} MB; at most {limit} MB is read. Use a smaller file.").format(
            size=f"{size / 1e6:.1f}", limit=f"{max_bytes / 1e6:.0f}"))
    sentences = [line.strip() for line in text.splitlines() if line.strip()]
    if not sentences:
        raise ValueError(_("The corpus is empty: give one sentence per line."))
    if len(sentences) > max_sentences:
        raise ValueError(_("The corpus has {n} sentences; at most {limit} are read. Keep the first ones or split "
                           "the file.").format(n=len(sentences), limit=max_sentences))
    return sentences


def capture_statistics(cap: Capture) -> pd.DataFrame:
    """``head_statistics`` of every kind of attention in one capture, with a ``kind`` column."""
    return statistics_rows([capture_measures(cap)]).drop(columns="row")


MAX_BATCH_TOKENS = 4096  # padded tokens in one batch: sentences x the longest one's tokens


def batches_by_length(lengths: list[int], batch_size: int, max_tokens: int = MAX_BATCH_TOKENS) -> list[list[int]]:
    """Indices into ``lengths`` in batches of similar length, at most ``batch_size`` items and ``max_tokens``
    padded tokens each (one long item alone may exceed it).

    A batch's activations grow with sentences x length: bounding sentences x length keeps 64 sentences of
    512 tokens from holding gigabytes at once, while short sentences still batch widely.
    """
    order = np.argsort(lengths, kind="stable")  # similar lengths together waste less work on padding
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        longest_with = max(longest, lengths[i])
        if current and (len(current) >= batch_size or (len(current) + 1) * longest_with > max_tokens):
            batches.append(current)
            current, longest_with = [], lengths[i]
        current.append(int(i))
        longest = longest_with
    if current:
        batches.append(current)
    return batches


def token_batches(model: LoadedModel, texts: list[str], batch_size: int,
                  max_tokens: int = MAX_BATCH_TOKENS) -> list[list[str]]:
    """``texts`` grouped as ``corpus_statistics`` runs them (``batches_by_length`` of their token counts)."""
    lengths = [len(model.codec.encode(t).ids) for t in texts]
    return [[texts[i] for i in batch] for batch in batches_by_length(lengths, batch_size, max_tokens)]


def corpus_statistics(model: LoadedModel, sentences: list[str], batch_size: int = 16,
                      progress: Progress | None = None) -> pd.DataFrame:
    """Mean and spread of every head statistic over ``sentences``.

    One row per (kind, layer, head): ``sentences`` (how many were read), then
    ``<stat>_mean`` and ``<stat>_std`` (sample standard deviation) for each of
    ``STAT_COLUMNS``. Sentences with no readable token are skipped; sentences longer than the
    model reads are truncated as in ``capture``. ``progress(done, total)`` is
    called after each batch.
    """
    encoded: list[Encoded] = []
    for s in sentences:
        try:
            encoded.append(encode_checked(model, s))
        except ValueError:
            continue
    if not encoded:
        raise ValueError(_("The corpus has no readable sentence: give one sentence per line."))
    if batch_size < 1:
        raise ValueError(f"batch_size is at least 1, got {batch_size}")
    frames: list[pd.DataFrame] = []
    done = 0
    for batch in batches_by_length([len(e.ids) for e in encoded], batch_size):
        frames.append(statistics_rows(batch_head_statistics(model, [encoded[i] for i in batch])))
        done += len(batch)
        if progress is not None:
            progress(done, len(encoded))
    every = pd.concat(frames, ignore_index=True).drop(columns="row")
    grouped = every.groupby(["kind", "layer", "head"], sort=False)[STAT_COLUMNS]
    means, stds = grouped.mean(), grouped.std()
    out = grouped.size().rename("sentences").to_frame()
    for name in STAT_COLUMNS:
        out[f"{name}_mean"] = means[name]
        out[f"{name}_std"] = stds[name]
    return out.reset_index().sort_values(["kind", "layer", "head"], key=_kind_order).reset_index(drop=True)


def _kind_order(column: pd.Series) -> pd.Series:
    if column.name == "kind":
        return column.map({"encoder": 0, "decoder": 1, "cross": 2})
    return column
