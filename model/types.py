"""The types every part of ``model/`` shares: ``Capture``, ``ScoreForm``, ``Adapter``, ``LoadedModel``.

``Adapter`` is the one seam between a model family and the capture: it says where
queries, keys, values and positional vectors are read, how scores are formed, and how
to run a forward pass and a decoding step. Nothing outside the adapters branches on a
model's class.

A ``Capture`` keeps what recomputes every head's weights exactly, per-head queries
and keys (and values, which the step-by-step view multiplies), plus a relative-position
bias where the family has one. Its size grows with layers x tokens x d_head, not with
heads x tokens^2: a view asks for the head or the layer it draws, and only that is built.
A RoPE model's queries and keys before their rotation are not kept: they are the rotated
ones turned back by the angles the pass used (``unrotate``), which a capture keeps instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from i18n import _
from model.codec import TextCodec
from model.readable import GENERATED_MARK, marked

KINDS = ("encoder", "decoder", "cross")
THUMB_CELLS = 48  # a model-view thumbnail about 100 px wide cannot show more cells a side


@dataclass(frozen=True)
class ScoreForm:
    """``score = scale * (q . k) + bias[key - query] + mask``, then a softmax over the keys."""

    scale: float
    causal: bool = False  # a query sees only keys at or before its own position
    relative_bias: bool = False  # a learned bias indexed by key position - query position (T5)

    def describe(self) -> str:
        parts = ["q · k" if self.scale == 1.0 else f"q · k / √{round(1 / self.scale ** 2)}"
                 if abs(1 / self.scale ** 2 - round(1 / self.scale ** 2)) < 1e-6 else f"{self.scale:.4g} × q · k"]
        if self.relative_bias:
            parts.append(_("a learned position bias"))
        if self.causal:
            parts.append(_("a causal mask"))
        return " + ".join(parts)


def block_max(x: torch.Tensor, size: int) -> torch.Tensor:
    """``x [N, n, m]`` -> ``[N, ceil(n / size), m]``: the max of each run of ``size`` rows, the last run
    holding what is left. The rows are reduced over a middle axis with whole rows contiguous, which
    reads the matrix once: 3.5x faster than ``max_pool2d`` on a 2,068-token layer."""
    n = x.shape[1]
    whole = n // size * size
    runs = [x[:, :whole].unflatten(1, (n // size, size)).amax(2)] if whole else []  # (N, n // size, m)
    if whole < n:
        runs.append(x[:, whole:].amax(1, keepdim=True))  # (N, 1, m)
    return torch.cat(runs, 1) if len(runs) > 1 else runs[0]


def pool_thumbnails(weights: torch.Tensor) -> np.ndarray:
    """``[..., Q, K]`` weights -> uint8 ``[..., <= THUMB_CELLS, <= THUMB_CELLS]``, block-max pooled, 255 = 1.

    Blocks of ``ceil(Q / THUMB_CELLS)`` rows by ``ceil(K / THUMB_CELLS)`` columns, the edge blocks
    holding what is left (as ``viz.matrix_ops.downsample``): rows first, then columns of the far
    smaller result.
    """
    q, k = weights.shape[-2:]
    fq, fk = math.ceil(q / THUMB_CELLS), math.ceil(k / THUMB_CELLS)
    w = weights.detach().float().reshape(-1, q, k)  # (N, Q, K)
    if fq > 1:
        w = block_max(w, fq)  # (N, Q', K)
    if fk > 1:
        w = block_max(w.transpose(1, 2), fk).transpose(1, 2)  # (N, Q', K')
    out = torch.round(w.clamp(0.0, 1.0) * 255).to(torch.uint8).cpu().numpy()
    return out.reshape(*weights.shape[:-2], *out.shape[-2:])


def summarise(weights: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """A layer's ``[H, Q, K]`` weights -> its thumbnails (``pool_thumbnails``) and each head's mean weight on
    the first key ``[H]``: what the model view draws and flags, from a capture or from a forward pass."""
    return pool_thumbnails(weights), weights[..., 0].mean(dim=-1).double().numpy()


def unrotate(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """float32 ``x [..., T, d]`` turned back by the angles RoPE turned it by; ``cos``, ``sin`` ``[T, d]``.

    RoPE writes ``x cos + turned(x) sin`` with ``turned(x) = (-x2, x1)`` (pair ``i`` is dimensions ``i`` and
    ``i + d/2``, one angle for both). Its inverse is ``(y cos - turned(y) sin) / (cos^2 + sin^2)``: the
    denominator is 1 unless a scaled variant multiplies both (YaRN). Computed in float64, so the result is
    the input within float32 rounding (a relative 1e-7 of each pair's size).
    """
    y = np.asarray(x, dtype=np.float64)
    c, s = np.asarray(cos, dtype=np.float64), np.asarray(sin, dtype=np.float64)
    half = y.shape[-1] // 2
    turned = np.concatenate([-y[..., half:], y[..., :half]], axis=-1)  # (..., T, d): (-y2, y1)
    return ((y * c - turned * s) / (c * c + s * s)).astype(np.float32)


class Unrotated(Mapping):
    """``{kind: float32 [layers, heads, tokens, d_head]}``: a capture's queries or keys before their rotation,
    each kind built from the rotated ones when it is read (``Capture.unrotated`` gives one head)."""

    def __init__(self, cap: Capture, what: str) -> None:
        self._cap, self._what = cap, what

    def __getitem__(self, kind: str) -> np.ndarray:
        if kind not in self._cap.rope_angles:
            raise KeyError(kind)
        return self._cap.unrotated(kind, self._what)

    def __iter__(self) -> Iterator[str]:
        return iter(self._cap.rope_angles)

    def __len__(self) -> int:
        return len(self._cap.rope_angles)


def softmax(scores: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in float32, with rows of only ``-inf`` left at zero."""
    top = scores.max(axis=-1, keepdims=True)
    e = np.exp(scores - np.where(np.isfinite(top), top, 0.0), dtype=np.float32)
    total = e.sum(axis=-1, keepdims=True)
    return np.divide(e, total, out=np.zeros_like(e), where=total > 0)


@dataclass(eq=False)
class Capture:
    """Tokens, per-head queries/keys/values and positional vectors of one forward pass.

    ``q[kind]`` is float32 ``[layers, heads, queries, d_head]``; ``k[kind]`` and ``v[kind]`` are
    ``[layers, kv_heads, keys, d_head]`` (kv_heads divides heads: grouped-query attention shares
    one key head among ``heads / kv_heads`` query heads). ``bias[kind]`` is ``[heads, queries +
    keys - 1]`` where the family adds a relative-position bias. Kinds: ``encoder`` and ``decoder``
    self-attention, ``cross`` (decoder queries over encoder keys).
    """

    tokens: list[str]
    q: dict[str, np.ndarray]
    k: dict[str, np.ndarray]
    v: dict[str, np.ndarray]
    score_forms: dict[str, ScoreForm]
    positions: np.ndarray | None = None
    bias: dict[str, np.ndarray] = field(default_factory=dict)
    target_tokens: list[str] | None = None
    model_name: str = ""
    architecture: str = ""  # "encoder", "decoder" or "encoder-decoder"
    special_tokens: frozenset[str] = frozenset()
    truncated: bool = False
    notice: str | None = None  # what a user should be told, e.g. that the text was cut
    positions_note: str | None = None  # why positions is None, when it is
    output_text: str | None = None  # what the model wrote (encoder-decoder target, decoder continuation)
    n_generated: int = 0  # how many of the last tokens a decoder wrote
    thumbs: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # see thumbnails()
    first_shares: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # see first_share()
    # RoPE models: {kind: (cos, sin)}, each float32 [tokens, d_head], the angles the pass turned that kind's
    # queries and keys by (q and k hold the rotated ones, which the scores use); empty otherwise.
    # q_raw / k_raw are recomputed from them: keeping both copies cost 45% more at 2,048 tokens.
    rope_angles: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)
    rope_theta: float | None = None  # RoPE's base: dimension pair i turns by position * theta^(-2i / d_head)
    # what each token reads as (model.readable): byte-level tokens as text, whitespace marked; the
    # tokens themselves where the capture was built without them
    labels: list[str] = field(default_factory=list, repr=False)
    target_labels: list[str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.labels = self.labels or list(self.tokens)
        if self.target_tokens is not None and self.target_labels is None:
            self.target_labels = list(self.target_tokens)
        for group in (self.q, self.k, self.v, self.bias, self.thumbs, self.first_shares):
            for a in group.values():
                a.flags.writeable = False  # shared by every session that reads this capture
        for pair in self.rope_angles.values():
            for a in pair:
                a.flags.writeable = False
        if self.positions is not None:
            self.positions.flags.writeable = False

    @property
    def q_raw(self) -> Mapping[str, np.ndarray]:
        """RoPE kinds' queries before their rotation, ``{kind: [layers, heads, queries, d_head]}``, each kind
        built when it is read (``unrotated`` gives one head); empty for models without RoPE."""
        return Unrotated(self, "q")

    @property
    def k_raw(self) -> Mapping[str, np.ndarray]:
        """RoPE kinds' keys before their rotation, ``{kind: [layers, kv_heads, keys, d_head]}`` (see ``q_raw``)."""
        return Unrotated(self, "k")

    def unrotated(self, kind: str, what: str, layer: int | None = None, head: int | None = None) -> np.ndarray:
        """float32 queries (``what="q"``) or keys (``"k"``) of ``kind`` before their rotation: every layer,
        one ``layer`` ``[heads, tokens, d_head]`` or one ``head`` of it ``[tokens, d_head]`` (a key/value head
        for keys). The rotated ones turned back by the pass's own angles (``unrotate``)."""
        if kind not in self.rope_angles:
            raise KeyError(f"this capture's {kind!r} queries and keys were not rotated (no RoPE)")
        rotated = {"q": self.q, "k": self.k}[what][kind]
        part = rotated if layer is None else rotated[layer] if head is None else rotated[layer, head]
        cos, sin = self.rope_angles[kind]
        n = part.shape[-2]
        return unrotate(part, cos[:n], sin[:n])

    @property
    def kinds(self) -> list[str]:
        return [k for k in KINDS if k in self.q]

    def query_tokens(self, kind: str) -> list[str]:
        return self.tokens if kind == "encoder" or self.target_tokens is None else self.target_tokens

    def key_tokens(self, kind: str) -> list[str]:
        return self.target_tokens if kind == "decoder" and self.target_tokens is not None else self.tokens

    def query_labels(self, kind: str) -> list[str]:
        """``query_tokens`` as a person reads them, a decoder's own tokens marked (``model.readable``)."""
        if kind == "encoder" or self.target_labels is None:
            return marked(self.labels, self.n_generated)
        return list(self.target_labels)

    def key_labels(self, kind: str) -> list[str]:
        """``key_tokens`` as a person reads them (see ``query_labels``)."""
        if kind == "decoder" and self.target_labels is not None:
            return list(self.target_labels)
        return marked(self.labels, self.n_generated)

    @property
    def special_labels(self) -> frozenset[str]:
        """The labels special tokens have (``query_labels``): as they are, or marked where a decoder wrote one."""
        return self.special_tokens | {f"{t}{GENERATED_MARK}" for t in self.special_tokens}

    @property
    def kv_heads(self) -> dict[str, int]:
        """Key/value heads per kind: fewer than query heads where grouped-query attention shares them."""
        return {kind: k.shape[1] for kind, k in self.k.items()}

    def kv_head(self, kind: str, head: int) -> int:
        """The key/value head query ``head`` reads (query heads share them in order, as Llama does)."""
        return head // (self.n_heads(kind) // self.kv_heads[kind])

    def shape(self, kind: str) -> tuple[int, int, int, int]:
        """``(layers, heads, queries, keys)`` of ``kind``'s attention."""
        n_layers, n_heads, n_q, _d_head = self.q[kind].shape
        return n_layers, n_heads, n_q, self.k[kind].shape[2]

    def n_layers(self, kind: str) -> int:
        return self.q[kind].shape[0]

    def n_heads(self, kind: str) -> int:
        return self.q[kind].shape[1]

    def _check(self, kind: str, layer: int, head: int | None) -> None:
        if kind not in self.q:
            raise KeyError(f"this capture has no {kind!r} attention; it has {', '.join(self.kinds)}")
        n_layers, n_heads = self.q[kind].shape[:2]
        if not 0 <= layer < n_layers or (head is not None and not 0 <= head < n_heads):
            raise IndexError(f"{kind} has {n_layers} layers x {n_heads} heads, not L{layer} H{head}")

    def score_terms(self, kind: str, layer: int, head: int | None = None,
                    queries: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """The terms whose sum is the score before the softmax, each ``[(heads,) queries, keys]``.

        ``content`` is ``scale * q . k``; ``bias`` the relative-position bias where the family has
        one; ``mask`` 0 where a key is visible and ``-inf`` where it is not (causal attention).
        ``queries`` (positions) keeps only those rows: what one decoding step read costs one row.
        """
        self._check(kind, layer, head)
        form = self.score_forms[kind]
        heads = np.arange(self.n_heads(kind)) if head is None else np.array([head])
        group = self.q[kind].shape[1] // self.k[kind].shape[1]
        rows = np.arange(self.q[kind].shape[2]) if queries is None else np.asarray(queries, dtype=np.int64)
        q = self.q[kind][layer][heads][:, rows]  # (h, Q, dh)
        k = self.k[kind][layer, heads // group]  # (h, K, dh)
        terms = {"content": np.matmul(q, k.transpose(0, 2, 1)) * np.float32(form.scale)}  # (h, Q, K)
        n_all, n_k = self.q[kind].shape[2], k.shape[1]
        offset = np.arange(n_k)[None, :] - rows[:, None]  # (Q, K): key - query
        if kind in self.bias:
            terms["bias"] = self.bias[kind][heads][:, offset + n_all - 1]  # (h, Q, K)
        if form.causal:
            terms["mask"] = np.where(offset > 0, -np.inf, 0.0).astype(np.float32)[None]  # (1, Q, K)
        if head is not None:
            terms = {name: t[0] for name, t in terms.items()}
        return terms

    def rows(self, kind: str, layer: int, queries: np.ndarray, head: int | None = None) -> np.ndarray:
        """The exact weights of the ``queries`` rows only, ``[(heads,) len(queries), keys]``."""
        return softmax(self.scores(kind, layer, head, queries))

    def scores(self, kind: str, layer: int, head: int | None = None,
               queries: np.ndarray | None = None) -> np.ndarray:
        """Scores before the softmax, ``[(heads,) queries, keys]``, masked keys at ``-inf`` (``queries``:
        only those rows, as ``score_terms``)."""
        terms = list(self.score_terms(kind, layer, head, queries).values())
        total = terms[0]
        for t in terms[1:]:
            total = total + t
        return total.astype(np.float32, copy=False)

    def head(self, kind: str, layer: int, head: int) -> np.ndarray:
        """float32 ``[queries, keys]``: the weights one head computed, rows summing to 1."""
        return softmax(self.scores(kind, layer, head))

    def layer(self, kind: str, layer: int) -> np.ndarray:
        """float32 ``[heads, queries, keys]``: every head of one layer."""
        return softmax(self.scores(kind, layer))

    def layers(self, kind: str) -> Iterator[np.ndarray]:
        """Each layer's ``[heads, queries, keys]`` in turn, one layer in memory at a time."""
        for layer in range(self.n_layers(kind)):
            yield self.layer(kind, layer)

    @property
    def attentions(self) -> dict[str, np.ndarray]:
        """Every weight, ``{kind: float32 [layers, heads, queries, keys]}``, built on each access.

        For code that wants the whole array: a view that draws one head asks ``head()``.
        """
        return {kind: np.stack(list(self.layers(kind))) for kind in self.kinds}

    def thumbnails(self, kind: str) -> np.ndarray:
        """uint8 ``[layers, heads, q', k']`` block-max pooled to at most ``THUMB_CELLS`` a side, 255 = 1.

        Built once, on the first call, from the queries and keys: pooling while the forward pass ran
        cost a third of its time at 512 tokens, for a picture not every visitor asks for.
        """
        if kind not in self.thumbs:
            self._summarise(kind)
        return self.thumbs[kind]

    def first_share(self, kind: str) -> np.ndarray:
        """float ``[layers, heads]``: each head's mean weight on the first key (where attention sinks park),
        the ``first`` statistic of ``model.statistics``; built in the same pass as the thumbnails."""
        if kind not in self.first_shares:
            self._summarise(kind)
        return self.first_shares[kind]

    def _summarise(self, kind: str) -> None:
        thumbs, first = [], []
        for layer in range(self.n_layers(kind)):
            # torch's softmax is about twice numpy's here; the scores are a fresh array it may own
            thumb, share = summarise(torch.softmax(torch.from_numpy(self.scores(kind, layer)), dim=-1))
            thumbs.append(thumb)
            first.append(share)
        for store, value in ((self.thumbs, np.stack(thumbs)), (self.first_shares, np.stack(first))):
            value.flags.writeable = False
            store[kind] = value

    @property
    def nbytes(self) -> int:
        """Bytes held in this capture's arrays."""
        arrays = [*self.q.values(), *self.k.values(), *self.v.values(), *self.bias.values(),
                  *(a for pair in self.rope_angles.values() for a in pair), *self.thumbs.values()]
        if self.positions is not None:
            arrays.append(self.positions)
        return sum(a.nbytes for a in arrays)

    def to_frame(self, kind: str | None = None, layer: int | None = None, head: int | None = None) -> pd.DataFrame:
        """One row per weight: kind, layer, head, query, query_token, key, key_token, weight.

        ``kind``, ``layer`` and ``head`` keep only those weights (all when None); only those rows are built.
        """
        frames = []
        for k in [kind] if kind else self.kinds:
            n_layers, n_heads, n_q, n_k = self.shape(k)
            layers = range(n_layers) if layer is None else [layer]
            heads = np.arange(n_heads) if head is None else np.array([head])
            q_tokens = np.asarray(self.query_tokens(k), dtype=object)
            k_tokens = np.asarray(self.key_tokens(k), dtype=object)
            for lay in layers:
                att = self.layer(k, lay)[heads]  # (heads kept, Q, K)
                head_ix, query, key = np.meshgrid(heads, np.arange(n_q), np.arange(n_k), indexing="ij")
                frames.append(pd.DataFrame({
                    "kind": pd.Categorical([k] * att.size, categories=list(KINDS)),
                    "layer": np.full(att.size, lay, dtype=np.int16),
                    "head": head_ix.ravel().astype(np.int16),
                    "query": query.ravel().astype(np.int32),
                    "query_token": pd.Categorical(q_tokens[query.ravel()]),
                    "key": key.ravel().astype(np.int32),
                    "key_token": pd.Categorical(k_tokens[key.ravel()]),
                    "weight": att.ravel(),
                }))
        return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class Point:
    """What a hook point's output holds: ``what`` of ``kind``'s attention in ``layer``.

    ``what`` is ``q``, ``k`` or ``v`` (one projection), ``qkv`` (one fused projection) or
    ``positions`` (the positional vectors added to the embeddings; kind and layer unused).
    """

    kind: str
    layer: int
    what: str


class Adapter:
    """One model family, as the capture sees it. Subclasses fill in each method."""

    arch: str = "encoder"  # "encoder", "decoder" or "encoder-decoder"
    positional: str = "learned"  # how positions enter: "learned", "sinusoidal", "relative bias", "none"
    positions_note: str | None = None  # why a capture has no positional vectors, where it has none
    pad_id: int = 0  # what fills a padded batch (its keys are masked)
    max_positions: int = 0  # how long a sequence can be, prompt and continuation (0: the codec's limit)
    n_heads: int = 0  # query heads of every attention
    rope_theta: float | None = None  # RoPE's frequency base, where queries and keys are rotated

    def points(self, net: nn.Module) -> dict[str, Point]:
        """Module path -> what its output holds, for every module a capture hooks."""
        raise NotImplementedError

    def pattern_points(self, net: nn.Module) -> dict[str, Point]:
        """Module path -> (kind, layer) of each attention's weights ``(B, H, Q, K)``, where the family has a
        hook point on them: a long capture pools its thumbnails there, in the pass (none by default)."""
        return {}

    def split(self, point: Point, output: torch.Tensor) -> dict[str, torch.Tensor]:
        """A hooked module's output as ``{"q"|"k"|"v": (B, heads, T, d_head)}``."""
        raise NotImplementedError

    def score_form(self, kind: str) -> ScoreForm:
        raise NotImplementedError

    def relative_bias(self, net: nn.Module, kind: str, n_queries: int, n_keys: int) -> np.ndarray | None:
        """``[heads, n_queries + n_keys - 1]``, the bias added at key - query offsets, where there is one."""
        return None

    def forward(self, net: nn.Module, ids: torch.Tensor, mask: torch.Tensor,
                target_ids: torch.Tensor | None = None, target_mask: torch.Tensor | None = None) -> Any:
        """One forward pass over padded ``ids`` (B, T); ``mask`` (B, T) is 1 at real tokens."""
        raise NotImplementedError

    def hooked_pass(self, net: nn.Module, ids: torch.Tensor, mask: torch.Tensor,
                    target_ids: torch.Tensor | None = None, target_mask: torch.Tensor | None = None) -> None:
        """The forward pass a capture runs for what its hooks read. This default is ``forward``; a family that
        can skip its output layer does (a decoder's logits over 2,048 tokens are 400 MB nobody reads)."""
        self.forward(net, ids, mask, target_ids, target_mask)

    def rope_angles(self, net: nn.Module, kind: str, n_positions: int) -> tuple[np.ndarray, np.ndarray] | None:
        """float32 ``(cos, sin)``, each ``[n_positions, d_head]``: the angles ``kind``'s queries and keys at
        positions 0 .. n_positions - 1 are turned by, exactly as the pass computes them; None without RoPE."""
        return None

    def encode(self, net: nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> Any:
        """What every decoding step of an encoder-decoder reads of the source (its encoder states)."""
        raise NotImplementedError

    def step_logits(self, net: nn.Module, memory: Any, ids: torch.Tensor, mask: torch.Tensor,
                    target_ids: torch.Tensor) -> torch.Tensor:
        """Decoder logits (B, U, V) for ``target_ids`` (B, U) over the encoded source."""
        raise NotImplementedError

    def position_table(self, net: nn.Module) -> np.ndarray | None:
        """The model's positional vectors over every position it has ``[positions, d_model]``, if any."""
        return None

    def cached_steps(self, net: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
        """A decoder-only model's ``next_logits(ids (1, U)) -> (1, U', V)`` for greedy decoding, one per
        decoding; the last of the ``U'`` rows is the next token's (greedy reads no other). This default
        reruns the whole sequence each step; a family with a key/value cache feeds only the new ids and
        returns the last row alone."""

        def next_logits(ids: torch.Tensor) -> torch.Tensor:
            return self.output(net, self.forward(net, ids, torch.ones_like(ids)))

        return next_logits

    def head_outputs(self, net: nn.Module) -> dict[str, tuple[str, int]]:
        """Module path -> (kind, layer) of each attention's output projection, whose input holds the
        heads' outputs side by side ``(B, T, heads * d_head)``: where a head is knocked out."""
        raise NotImplementedError

    def output(self, net: nn.Module, result: Any) -> torch.Tensor:
        """What ``forward`` returned, as the tensor a measure reads: an encoder's last hidden states
        (B, T, d), a decoder's logits (B, T, V)."""
        raise NotImplementedError


@dataclass
class LoadedModel:
    """A network, its adapter, and what it takes to feed it text."""

    name: str
    net: nn.Module
    codec: TextCodec
    adapter: Adapter
    target_codec: TextCodec | None = None  # the decoder's vocabulary, encoder-decoder only
    description: str = ""
    decoder_start_id: int | None = None  # encoder-decoder: the first decoder input
    eos_id: int | None = None  # where greedy decoding stops
    max_target_tokens: int = 64  # greedy decoding stops here if the model never writes its end token
    chat_template: str | None = None  # Jinja, for instruction-tuned models (model.chat.as_chat)

    @property
    def arch(self) -> str:
        return self.adapter.arch

    @property
    def max_tokens(self) -> int:
        return self.codec.max_tokens

    @property
    def special_tokens(self) -> frozenset[str]:
        specials = set(self.codec.special_tokens)
        if self.target_codec is not None:
            specials |= self.target_codec.special_tokens
        return frozenset(specials)

    def position_table(self) -> tuple[np.ndarray | None, str]:
        """The model's whole positional table (None where it has none) and how it was made."""
        table = self.adapter.position_table(self.net)
        return table, self.adapter.positional
