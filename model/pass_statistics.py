"""Head statistics of a whole padded batch, computed while the forward pass runs.

``model.statistics.head_statistics`` measures one sentence's weights in numpy. Over a corpus that
means building every sentence's weights again from its queries and keys, then a data frame per
sentence: more time than the forward pass itself. Here the same measures are taken in torch on the
padded ``(B, H, Q, K)`` weights of each layer, masked to each sentence's real tokens, at the hook
point where the pass computes them (``Adapter.pattern_points``), and the layer's weights are
dropped at once. A family without such hook points is measured the same way on weights rebuilt
from its capture, one sentence at a time. Either way ``batch_head_statistics`` returns, per sentence,
``kind -> (layers, heads, len(STAT_COLUMNS))``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from model.capture import capture_batch, hooked_pass, padded, target_ids_of
from model.codec import Encoded
from model.hooks import hooked
from model.statistics import FIRST_SPECIAL, LAST_SPECIAL, STAT_COLUMNS, is_punctuation
from model.types import KINDS, Capture, LoadedModel, Point

N_STATS = len(STAT_COLUMNS)
SHARED = ("cls", "sep", "punct")  # the statistics that are shares on flagged keys, in flag order


def key_flags(tokens: list[str], width: int) -> torch.Tensor:
    """(width, 3) floats: 1 where a key is [CLS]-like, [SEP]-like, punctuation; padding keys 0."""
    flags = torch.zeros((width, len(SHARED)))
    for i, t in enumerate(tokens):
        flags[i] = torch.tensor([t in FIRST_SPECIAL, t in LAST_SPECIAL, is_punctuation(t)], dtype=torch.float32)
    return flags


def _mean_over(values: torch.Tensor, valid: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """Mean of ``values (B, H, n)`` over the positions where ``valid (B, n)``; NaN where ``count`` is 0."""
    total = (values * valid[:, None, :]).sum(-1)  # (B, H)
    return torch.where(count[:, None] > 0, total / count.clamp(min=1)[:, None], torch.nan)


def padded_statistics(w: torch.Tensor, q_len: torch.Tensor, k_len: torch.Tensor, flags: torch.Tensor,
                      self_attention: bool) -> torch.Tensor:
    """Every measure of ``head_statistics`` for padded weights ``w (B, H, Q, K)``: ``(B, H, N_STATS)``.

    Row ``b`` holds ``q_len[b]`` real queries and ``k_len[b]`` real keys; the weight on padding keys is
    zero (the mask), and padding queries are left out of every mean. ``flags (B, K, 3)`` marks the
    keys the shares count. Distance and the neighbour shares are NaN unless ``self_attention``.
    """
    w = w.double()  # sums in float64: an engine's thread count must not show in the 7th digit
    B, H, Q, K = w.shape
    q_pos = torch.arange(Q)
    q_valid = (q_pos[None, :] < q_len[:, None]).double()  # (B, Q)
    n_q = q_len.double()
    out = torch.full((B, H, N_STATS), torch.nan, dtype=torch.float64)
    column = STAT_COLUMNS.index

    def per_query(values: torch.Tensor) -> torch.Tensor:  # (B, H, Q) -> (B, H)
        return _mean_over(values, q_valid, n_q)

    out[..., column("entropy")] = per_query(-torch.special.xlogy(w, w).sum(-1))
    out[..., column("confidence")] = per_query(w.amax(-1))
    out[..., column("first")] = per_query(w[..., 0])
    shares = w @ flags[:, None, :, :].double()  # (B, H, Q, 3): each query's weight on the flagged keys
    for i, name in enumerate(SHARED):
        out[..., column(name)] = per_query(shares[..., i])
    if self_attention:
        dist = (torch.arange(K)[None, :] - q_pos[:, None]).abs().double()  # (Q, K)
        out[..., column("distance")] = per_query((w * dist).sum(-1))
        for name, offset in (("previous", -1), ("same", 0), ("next", 1)):
            diag = torch.diagonal(w, offset=offset, dim1=-2, dim2=-1)  # (B, H, Q - |offset|)
            n = (q_len - abs(offset)).clamp(min=0)  # queries with such a neighbour
            valid = (torch.arange(diag.shape[-1])[None, :] < n[:, None]).double()  # (B, Q - |offset|)
            out[..., column(name)] = _mean_over(diag, valid, n.double())
    return out


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
        return [_capture_statistics(cap) for cap in capture_batch(model, encoded)]
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


def _capture_statistics(cap: Capture) -> dict[str, np.ndarray]:
    """The same measures of one capture's rebuilt weights, for a family without pattern hook points."""
    out = {}
    for kind in cap.kinds:
        w = torch.from_numpy(np.stack(list(cap.layers(kind))))  # (L, H, Q, K), L as the batch axis
        L, _H, Q, K = w.shape
        flags = key_flags(cap.key_tokens(kind), K).expand(L, K, len(SHARED))
        stats = padded_statistics(w, torch.full((L,), Q), torch.full((L,), K), flags, self_attention=kind != "cross")
        out[kind] = stats.numpy()  # (L, H, N_STATS)
    return out
