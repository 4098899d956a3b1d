"""``Capture``: what one forward pass showed, as plain numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

KINDS = ("encoder", "decoder", "cross")


@dataclass
class Capture:
    """Tokens, attention weights and positional vectors of one forward pass.

    ``attentions[kind]`` is float32 ``[layers, heads, queries, keys]`` for each kind
    the model has: ``encoder`` and ``decoder`` self-attention and ``cross``
    (decoder queries over encoder keys). ``qkv[kind]`` holds the per-head queries,
    keys and values ``[layers, heads, tokens, d_head]`` that made those weights.
    """

    tokens: list[str]
    attentions: dict[str, np.ndarray]
    positions: np.ndarray | None
    target_tokens: list[str] | None = None
    model_name: str = ""
    truncated: bool = False
    notice: str | None = None  # what a user should be told, e.g. that the text was cut
    positions_note: str | None = None  # why positions is None, when it is
    qkv: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    output_text: str | None = None  # what an encoder-decoder model wrote

    @property
    def kinds(self) -> list[str]:
        return [k for k in KINDS if k in self.attentions]

    def query_tokens(self, kind: str) -> list[str]:
        return self.tokens if kind == "encoder" or self.target_tokens is None else self.target_tokens

    def key_tokens(self, kind: str) -> list[str]:
        return self.target_tokens if kind == "decoder" and self.target_tokens is not None else self.tokens

    def to_frame(self, kind: str | None = None, layer: int | None = None, head: int | None = None) -> pd.DataFrame:
        """One row per weight: kind, layer, head, query, query_token, key, key_token, weight.

        ``kind``, ``layer`` and ``head`` keep only those weights (all when None); only those rows are built.
        """
        frames = []
        for k in [kind] if kind else self.kinds:
            L, H, Q, K = self.attentions[k].shape
            layers = np.arange(L) if layer is None else np.array([layer])
            heads = np.arange(H) if head is None else np.array([head])
            att = self.attentions[k][np.ix_(layers, heads)]  # (layers kept, heads kept, Q, K)
            layer_ix, head_ix, query, key = np.meshgrid(layers, heads, np.arange(Q), np.arange(K), indexing="ij")
            q_tokens = np.asarray(self.query_tokens(k), dtype=object)
            k_tokens = np.asarray(self.key_tokens(k), dtype=object)
            frames.append(pd.DataFrame({
                "kind": pd.Categorical([k] * att.size, categories=list(KINDS)),
                "layer": layer_ix.ravel().astype(np.int16),
                "head": head_ix.ravel().astype(np.int16),
                "query": query.ravel().astype(np.int32),
                "query_token": pd.Categorical(q_tokens[query.ravel()]),
                "key": key.ravel().astype(np.int32),
                "key_token": pd.Categorical(k_tokens[key.ravel()]),
                "weight": att.ravel(),
            }))
        return pd.concat(frames, ignore_index=True)
