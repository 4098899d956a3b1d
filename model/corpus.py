"""Head statistics over a corpus: one sentence per line, captured in batches.

``corpus_statistics`` is a pure function of (model, sentences): it reads nothing
but its arguments and keeps no state, so the same call can run anywhere a
model loads. Our encoders run a whole batch in one forward pass, padded, with
the padding keys masked, which gives each sentence the weights it gets alone;
other models (decoders, encoder-decoders, Hugging Face checkpoints) run one
``capture`` per sentence.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import torch

from model.capture_result import Capture
from model.checkpoints import LoadedModel
from model.hooks import PATTERN, capture, encode_checked, hooked
from model.statistics import STAT_COLUMNS, head_statistics
from model.transformer import Transformer

MAX_SENTENCES = 200
MAX_BYTES = 1_000_000

Progress = Callable[[int, int], None]  # (sentences done, sentences in all)


def parse_corpus(text: str, max_sentences: int = MAX_SENTENCES, max_bytes: int = MAX_BYTES) -> list[str]:
    """Non-blank lines of ``text``, stripped. ``ValueError`` with a readable message beyond the limits."""
    size = len(text.encode("utf-8"))
    if size > max_bytes:
        raise ValueError(f"The corpus is {size / 1e6:.1f} MB; at most {max_bytes / 1e6:.0f} MB is read. "
                         "Use a smaller file.")
    sentences = [line.strip() for line in text.splitlines() if line.strip()]
    if not sentences:
        raise ValueError("The corpus is empty: give one sentence per line.")
    if len(sentences) > max_sentences:
        raise ValueError(f"The corpus has {len(sentences)} sentences; at most {max_sentences} are read. "
                         "Keep the first ones or split the file.")
    return sentences


def readable(model: LoadedModel, text: str) -> bool:
    """Whether ``capture`` accepts ``text``."""
    try:
        encode_checked(model, text)
    except ValueError:
        return False
    return True


def capture_statistics(cap: Capture) -> pd.DataFrame:
    """``head_statistics`` of every kind of attention in one capture, with a ``kind`` column."""
    frames = []
    for kind in cap.kinds:
        frame = head_statistics(cap.attentions[kind], cap.query_tokens(kind), cap.key_tokens(kind),
                                self_attention=kind != "cross")
        frame.insert(0, "kind", kind)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


MAX_BATCH_TOKENS = 4096  # padded tokens in one batch: sentences x the longest one's tokens


def batch_statistics(model: LoadedModel, sentences: list[str]) -> list[pd.DataFrame]:
    """Per-sentence statistics of an encoder from one padded forward pass over ``sentences``."""
    encoded = [model.codec.encode(s) for s in sentences]
    lengths = [len(e.ids) for e in encoded]
    pad = model.net.cfg.pad_id
    ids = torch.full((len(encoded), max(lengths)), pad, dtype=torch.long)  # (B, T)
    for b, e in enumerate(encoded):
        ids[b, : lengths[b]] = torch.tensor(e.ids)
    per_sentence: list[list[pd.DataFrame]] = [[] for _ in sentences]

    def record(name: str, output: torch.Tensor) -> None:
        layer = int(PATTERN.match(name).group(2))
        weights = output.detach().float().cpu().numpy()  # (B, H, T, T)
        for b, n in enumerate(lengths):
            frame = head_statistics(weights[b, :, :n, :n][None], encoded[b].tokens)  # (1, H, n, n)
            frame["layer"] = layer
            per_sentence[b].append(frame)

    points = {n: p for n, p in model.net.hook_points().items()
              if n.startswith("encoder.") and n.endswith("self_attn.hook_pattern")}
    with hooked(points, record), torch.inference_mode():
        model.net(ids)
    frames = []
    for layers in per_sentence:
        frame = pd.concat(layers, ignore_index=True)
        frame.insert(0, "kind", "encoder")
        frames.append(frame)
    return frames


def token_batches(model: LoadedModel, texts: list[str], batch_size: int,
                  max_tokens: int = MAX_BATCH_TOKENS) -> list[list[str]]:
    """``texts`` in batches of similar token length, at most ``batch_size`` sentences and ``max_tokens``
    padded tokens each (one long sentence alone may exceed it).

    A batch's attention grows with sentences x length^2: bounding sentences x length keeps 64 sentences of
    512 tokens from holding gigabytes of weights at once, while short sentences still batch widely.
    """
    lengths = [min(model.codec.encode(t).n_total, model.max_tokens) for t in texts]
    order = np.argsort(lengths, kind="stable")  # similar lengths together waste less work on padding
    batches: list[list[str]] = []
    current: list[str] = []
    longest = 0
    for i in order:
        longest_with = max(longest, lengths[i])
        if current and (len(current) >= batch_size or (len(current) + 1) * longest_with > max_tokens):
            batches.append(current)
            current, longest_with = [], lengths[i]
        current.append(texts[i])
        longest = longest_with
    if current:
        batches.append(current)
    return batches


def corpus_statistics(model: LoadedModel, sentences: list[str], batch_size: int = 16,
                      progress: Progress | None = None) -> pd.DataFrame:
    """Mean and spread of every head statistic over ``sentences``.

    One row per (kind, layer, head): ``sentences`` (how many were read), then
    ``<stat>_mean`` and ``<stat>_std`` (sample standard deviation) for each of
    ``STAT_COLUMNS``. Sentences with no readable token are skipped; sentences longer than the
    model reads are truncated as in ``capture``. ``progress(done, total)`` is
    called after each batch.
    """
    texts = [s for s in sentences if isinstance(s, str) and readable(model, s)]
    if not texts:
        raise ValueError("The corpus has no readable sentence: give one sentence per line.")
    if batch_size < 1:
        raise ValueError(f"batch_size is at least 1, got {batch_size}")
    frames: list[pd.DataFrame] = []
    done = 0
    for batch in token_batches(model, texts, batch_size):
        if model.arch == "encoder" and isinstance(model.net, Transformer):
            frames.extend(batch_statistics(model, batch))
        else:
            frames.extend(capture_statistics(capture(model, s, keep_qkv=False)) for s in batch)
        done += len(batch)
        if progress is not None:
            progress(done, len(texts))
    every = pd.concat(frames, ignore_index=True)
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
