"""Head statistics of a whole padded batch, computed while the forward pass runs.

``model.statistics.head_statistics`` measures one capture, whose weights are rebuilt from its queries
and keys. Over a corpus that means rebuilding every sentence's weights, then a data frame per
sentence: more time than the forward pass itself. Here the same kernel
(``model.statistics.padded_statistics``) reads the padded ``(B, H, Q, K)`` weights of each layer,
masked to each sentence's real tokens, at the hook point where the pass computes them
(``Adapter.pattern_points``), and the layer's weights are dropped at once. A family without such hook
points is measured on the weights of its capture, one sentence at a time. Either way
``batch_head_statistics`` returns, per sentence, ``kind -> (layers, heads, len(STAT_COLUMNS))``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from model.capture import capture_batch, hooked_pass, padded, target_ids_of
from model.codec import Encoded
from model.hooks import hooked
from model.statistics import N_STATS, STAT_COLUMNS, head_measures, key_flags, padded_statistics
from model.types import KINDS, Capture, LoadedModel, Point


def _stacked(per_layer: dict[int, torch.Tensor]) -> np.ndarray:
    """``{layer: (B, H, N_STATS)}`` as one ``(B, L, H, N_STATS)`` float64 array."""
    return torch.stack([per_layer[layer] for layer in range(len(per_layer))], dim=1).numpy()


def batch_head_statistics(model: LoadedModel, encoded: list[Encoded]) -> list[dict[str, np.ndarray]]:
    """Per text of ``encoded``: ``kind -> (layers, heads, N_STATS)``, the measures in ``STAT_COLUMNS`` order.

    One padded forward pass over the batch. The values are those ``head_statistics`` gives each
    text's capture alone (tested), the texts truncated as ``capture`` truncates them.
    """
    adapter, net = model.adapter, model.net
    points = adapter.pattern_points(net)
    if not points:
        return [capture_measures(cap) for cap in capture_batch(model, encoded)]
    ids, mask = padded([e.ids for e in encoded], adapter.pad_id)  # (B, T) each
    src_len = torch.tensor([len(e.ids) for e in encoded])
    src_tokens = [e.tokens for e in encoded]
    tgt_len, tgt_tokens, target_rows = src_len, src_tokens, None
    with torch.inference_mode():
        if model.arch == "encoder-decoder":
            target_rows = target_ids_of(model, ids, mask, [None] * len(encoded))
            tgt_len = torch.tensor([len(r) for r in target_rows])
            tgt_tokens = [[model.target_codec.full.id_to_token(i) or f"<{i}>" for i in r] for r in target_rows]
    # (query lengths, key lengths, key tokens) of each kind: decoder queries are the target, cross keys the source
    shapes = {"encoder": (src_len, src_len, src_tokens), "decoder": (tgt_len, tgt_len, tgt_tokens),
              "cross": (tgt_len, src_len, src_tokens)}
    flags: dict[str, torch.Tensor] = {}
    found: dict[str, dict[int, torch.Tensor]] = {}

    def record(name: str, output: torch.Tensor) -> None:
        point: Point = points[name]
        q_len, k_len, tokens = shapes[point.kind]
        if point.kind not in flags:
            flags[point.kind] = torch.stack([key_flags(t, output.shape[-1]) for t in tokens])  # (B, K, 3)
        found.setdefault(point.kind, {})[point.layer] = padded_statistics(
            output, q_len, k_len, flags[point.kind], self_attention=point.kind != "cross")

    modules = dict(net.named_modules())
    with hooked({name: modules[name] for name in points}, record), torch.inference_mode():
        hooked_pass(model, ids, mask, target_rows)
    stacked = {kind: _stacked(found[kind]) for kind in KINDS if kind in found}
    return [{kind: arr[b] for kind, arr in stacked.items()} for b in range(len(encoded))]


def statistics_rows(stats: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    """``batch_head_statistics``' output as one frame: a row per (text, kind, layer, head) in that order,
    columns ``row`` (the text's index in the batch), ``kind``, ``layer``, ``head`` and ``STAT_COLUMNS``."""
    parts = [(b, kind, arr) for b, per_kind in enumerate(stats) for kind, arr in per_kind.items()]
    if not parts:
        return pd.DataFrame(columns=["row", "kind", "layer", "head", *STAT_COLUMNS])
    sizes = [arr.shape[0] * arr.shape[1] for _b, _kind, arr in parts]
    frame = pd.DataFrame({
        "row": np.repeat([b for b, _kind, _arr in parts], sizes),
        "kind": np.repeat([kind for _b, kind, _arr in parts], sizes),
        "layer": np.concatenate([np.repeat(np.arange(arr.shape[0]), arr.shape[1]) for _b, _k, arr in parts]),
        "head": np.concatenate([np.tile(np.arange(arr.shape[1]), arr.shape[0]) for _b, _k, arr in parts]),
    })
    values = np.concatenate([arr.reshape(-1, N_STATS) for _b, _kind, arr in parts])  # (rows, N_STATS)
    for i, name in enumerate(STAT_COLUMNS):
        frame[name] = values[:, i]
    return frame


def capture_measures(cap: Capture) -> dict[str, np.ndarray]:
    """The same measures of one capture's rebuilt weights, ``kind -> (layers, heads, N_STATS)``: for a family
    without pattern hook points, and for one sentence's table (``model.corpus.capture_statistics``)."""
    return {kind: head_measures(np.stack(list(cap.layers(kind))), cap.query_tokens(kind), cap.key_tokens(kind),
                                self_attention=kind != "cross") for kind in cap.kinds}
