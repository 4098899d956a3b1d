"""Our Transformer: one config, explicit attention, named hook points.

Read top to bottom: config -> hook point -> positional encodings (sinusoidal,
learned, RoPE) -> embeddings -> norms -> multi-head / grouped-query attention ->
feed-forward (GELU, ReLU, SwiGLU) -> encoder / decoder layers -> the three model
shapes (encoder, decoder-only, encoder-decoder). BERT, the translator and Llama
(SmolLM2: RoPE, grouped-query attention, RMSNorm, SwiGLU, no biases) are all one
config away.

Every tensor a user may want to look at passes through a ``HookPoint``, an
identity module, so a forward hook on it sees the value. Hook names are module
paths from ``named_modules()``, e.g. ``encoder.layers.3.self_attn.hook_pattern``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Positional = Literal["sinusoidal", "learned", "rope", "none"]
Arch = Literal["encoder", "decoder", "encoder-decoder"]


@dataclass(frozen=True)
class TransformerConfig:
    """Everything that shapes the network; passed to every module."""

    vocab_size: int
    d_model: int = 384
    n_heads: int = 12
    n_layers: int = 6  # encoder layers (or decoder layers for a decoder-only model)
    n_decoder_layers: int = 0  # decoder layers of an encoder-decoder model
    d_ff: int = 1536
    max_positions: int = 512
    positional: Positional = "learned"
    arch: Arch = "encoder"
    norm_first: bool = False  # pre-LN; False is post-LN as in BERT
    activation: Literal["gelu", "relu", "swiglu"] = "gelu"  # swiglu: down(silu(gate(x)) * up(x))
    layer_norm_eps: float = 1e-12  # the eps of every norm, LayerNorm or RMSNorm
    norm: Literal["layer", "rms"] = "layer"
    n_kv_heads: int = 0  # key/value heads (grouped-query attention); 0 means n_heads
    rope_theta: float = 10000.0  # base of RoPE's frequencies (positional="rope")
    bias: bool = True  # biases on the attention and feed-forward projections (Llama has none)
    tie_embeddings: bool = False  # a decoder's LM head reuses the token embedding matrix
    type_vocab_size: int = 0  # BERT's segment embeddings; 0 for none
    embedding_norm: bool = False  # BERT normalises the summed embeddings
    scale_embeddings: bool = False  # multiply token embeddings by sqrt(d_model) (Vaswani)
    target_vocab_size: int = 0  # decoder vocabulary of an encoder-decoder model
    pad_id: int = 0

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    @property
    def kv_heads(self) -> int:
        return self.n_kv_heads or self.n_heads

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if self.n_heads % self.kv_heads:
            raise ValueError(f"n_heads {self.n_heads} is not a multiple of n_kv_heads {self.kv_heads}")
        if self.positional == "rope" and self.d_head % 2:
            raise ValueError(f"RoPE rotates pairs of dimensions: d_head {self.d_head} is odd")


class HookPoint(nn.Module):
    """Identity. Exists so that a forward hook can read (or replace) the value."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def sinusoidal_table(n_positions: int, d_model: int) -> torch.Tensor:
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(same)."""
    position = torch.arange(n_positions, dtype=torch.float32).unsqueeze(1)  # (P, 1)
    div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    table = torch.zeros(n_positions, d_model)
    table[:, 0::2] = torch.sin(position * div)
    table[:, 1::2] = torch.cos(position * div[: d_model // 2])
    return table


class Rotary(nn.Module):
    """RoPE's angles: position p turns dimension pair (i, i + d/2) by p * theta^(-2i/d).

    The halves-paired layout (not interleaved pairs) is the one Hugging Face's Llama uses.
    """

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        hs = cfg.d_head
        inv_freq = 1.0 / (cfg.rope_theta ** (torch.arange(0, hs, 2, dtype=torch.int64).float() / hs))  # (hs/2,)
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, T: int, offset: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """(cos, sin), each (T, hs), for positions offset..offset+T-1."""
        t = torch.arange(offset, offset + T, dtype=torch.float32)
        freqs = t[:, None] * self.inv_freq[None, :]  # (T, hs/2)
        angles = torch.cat([freqs, freqs], dim=-1)  # (T, hs): the same angle for i and i + hs/2
        return angles.cos(), angles.sin()


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x (B, h, T, hs) with each pair (x_i, x_{i+hs/2}) turned by its position's angle."""
    half = x.shape[-1] // 2
    turned = torch.cat([-x[..., half:], x[..., :half]], dim=-1)  # (B, h, T, hs): (-x2, x1)
    return x * cos + turned * sin


class Embeddings(nn.Module):
    """Token embedding + positional encoding (+ segment embedding, + LayerNorm for BERT)."""

    def __init__(self, cfg: TransformerConfig, vocab_size: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.tokens = nn.Embedding(vocab_size, cfg.d_model)
        # RoPE adds nothing here: it rotates queries and keys inside attention instead
        if cfg.positional == "learned":
            self.positions = nn.Embedding(cfg.max_positions, cfg.d_model)
        elif cfg.positional == "sinusoidal":
            # A buffer, not a parameter: saved with the model, never trained.
            self.register_buffer("sinusoid", sinusoidal_table(cfg.max_positions, cfg.d_model), persistent=False)
        self.token_types = nn.Embedding(cfg.type_vocab_size, cfg.d_model) if cfg.type_vocab_size else None
        self.norm = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps) if cfg.embedding_norm else None
        self.hook_positions = HookPoint()  # (T, d_model): the vectors added at positions 0..T-1

    def position_table(self, n_positions: int | None = None) -> torch.Tensor | None:
        """The positional vectors for positions 0..n-1, or None when the model has none."""
        n = self.cfg.max_positions if n_positions is None else n_positions
        if self.cfg.positional == "learned":
            return self.positions.weight[:n]
        if self.cfg.positional == "sinusoidal":
            return self.sinusoid[:n]
        return None

    def forward(self, ids: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """ids (B, T) at positions offset..offset+T-1 (offset > 0: the steps after a cached prefix)."""
        B, T = ids.shape
        if offset + T > self.cfg.max_positions:
            raise ValueError(f"{offset + T} tokens exceed the model's {self.cfg.max_positions} positions")
        x = self.tokens(ids)  # (B, T, d)
        if self.cfg.scale_embeddings:
            x = x * math.sqrt(self.cfg.d_model)
        table = self.position_table(offset + T)
        if table is not None:
            table = table[offset:]
            x = x + self.hook_positions(table)  # (T, d) broadcasts over B
        if self.token_types is not None:
            x = x + self.token_types(torch.zeros_like(ids))  # one segment: type 0
        if self.norm is not None:
            x = self.norm(x)
        return x


def make_norm(cfg: TransformerConfig) -> nn.Module:
    """LayerNorm (BERT, GPT-2, the translator) or RMSNorm (Llama: no centring, no bias)."""
    if cfg.norm == "rms":
        return nn.RMSNorm(cfg.d_model, eps=cfg.layer_norm_eps)
    return nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)


class MultiHeadAttention(nn.Module):
    """softmax(Q K^T / sqrt(d_head) + mask) V, computed explicitly so every weight is seen.

    Grouped-query attention: ``kv_heads`` key/value heads, each shared by ``n_heads / kv_heads``
    query heads (query head h reads key head h // group). With RoPE, queries and keys pass
    ``hook_q_raw`` / ``hook_k_raw`` before their rotation and ``hook_q`` / ``hook_k`` after it:
    the rotated ones are what the scores use.
    """

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        kv_width = cfg.kv_heads * cfg.d_head
        self.query = nn.Linear(cfg.d_model, cfg.d_model, bias=cfg.bias)
        self.key = nn.Linear(cfg.d_model, kv_width, bias=cfg.bias)
        self.value = nn.Linear(cfg.d_model, kv_width, bias=cfg.bias)
        self.out = nn.Linear(cfg.d_model, cfg.d_model, bias=cfg.bias)
        if cfg.positional == "rope":  # only here, so the hook names of other models stay as they were
            self.hook_q_raw = HookPoint()  # (B, nh, T, hs), before the rotation
            self.hook_k_raw = HookPoint()  # (B, n_kv, S, hs), before the rotation
        self.hook_q = HookPoint()  # (B, nh, T, hs)
        self.hook_k = HookPoint()  # (B, n_kv, S, hs)
        self.hook_v = HookPoint()  # (B, n_kv, S, hs)
        self.hook_scores = HookPoint()  # (B, nh, T, S), scaled and masked, before softmax
        self.hook_pattern = HookPoint()  # (B, nh, T, S), rows sum to 1

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None,
                mask: torch.Tensor | None = None,
                rope: tuple[torch.Tensor, torch.Tensor] | None = None,
                past: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """x: (B, T, d) queries; context: (B, S, d) keys/values (x itself for self-attention);
        mask: additive, broadcastable to (B, nh, T, S), 0 where allowed and very negative elsewhere;
        rope: (cos, sin) each (T, hs), self-attention of a RoPE model only; past: the keys and values
        of earlier positions (decoding step by step), extended here with this call's."""
        B, T, C = x.shape
        nh, n_kv, hs = self.cfg.n_heads, self.cfg.kv_heads, self.cfg.d_head
        kv = x if context is None else context
        S = kv.shape[1]
        q = self.query(x).view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = self.key(kv).view(B, S, n_kv, hs).transpose(1, 2)  # (B, n_kv, S, hs)
        if rope is not None:
            cos, sin = rope
            q = rotate(self.hook_q_raw(q), cos, sin)  # (B, nh, T, hs)
            k = rotate(self.hook_k_raw(k), cos, sin)  # (B, n_kv, S, hs)
        q = self.hook_q(q)
        k = self.hook_k(k)
        v = self.hook_v(self.value(kv).view(B, S, n_kv, hs).transpose(1, 2))  # (B, n_kv, S, hs)
        if past is not None:
            if past:
                k = torch.cat([past["k"], k], dim=2)  # (B, n_kv, S_past + S, hs)
                v = torch.cat([past["v"], v], dim=2)  # (B, n_kv, S_past + S, hs)
            past["k"], past["v"] = k, v
        group = nh // n_kv
        if group > 1:  # each key/value head serves `group` query heads, side by side
            k = k.repeat_interleave(group, dim=1)  # (B, nh, S, hs)
            v = v.repeat_interleave(group, dim=1)  # (B, nh, S, hs)
        # in place: at 2,048 tokens each (B, nh, T, S) temporary is 150 MB; the same values as out of place
        scores = (q @ k.transpose(-2, -1)).div_(math.sqrt(hs))  # (B, nh, T, S)
        if mask is not None:
            scores = scores.add_(mask)
        scores = self.hook_scores(scores)
        pattern = self.hook_pattern(F.softmax(scores, dim=-1))  # (B, nh, T, S)
        z = pattern @ v  # (B, nh, T, hs)
        z = z.transpose(1, 2).reshape(B, T, C)  # (B, T, d): heads side by side again
        return self.out(z)


class FeedForward(nn.Module):
    """down(act(up(x))), or with SwiGLU down(silu(gate(x)) * up(x)): a gate chosen per unit."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.gate = nn.Linear(cfg.d_model, cfg.d_ff, bias=cfg.bias) if cfg.activation == "swiglu" else None
        self.up = nn.Linear(cfg.d_model, cfg.d_ff, bias=cfg.bias)
        self.down = nn.Linear(cfg.d_ff, cfg.d_model, bias=cfg.bias)
        self.act = {"gelu": nn.GELU, "relu": nn.ReLU, "swiglu": nn.SiLU}[cfg.activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gate is not None:
            return self.down(self.act(self.gate(x)) * self.up(x))
        return self.down(self.act(self.up(x)))


class Sublayer(nn.Module):
    """A residual block around one sublayer, post-LN (BERT) or pre-LN (GPT-2)."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.norm_first = cfg.norm_first
        self.norm = make_norm(cfg)

    def forward(self, x: torch.Tensor, fn) -> torch.Tensor:
        if self.norm_first:
            return x + fn(self.norm(x))
        return self.norm(x + fn(x))


class EncoderLayer(nn.Module):
    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(cfg)
        self.attn_block = Sublayer(cfg)
        self.ffn = FeedForward(cfg)
        self.ffn_block = Sublayer(cfg)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                rope: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        x = self.attn_block(x, lambda h: self.self_attn(h, mask=mask, rope=rope))
        return self.ffn_block(x, self.ffn)


class DecoderLayer(nn.Module):
    """Causal self-attention, then (encoder-decoder only) cross-attention, then feed-forward."""

    def __init__(self, cfg: TransformerConfig, cross: bool) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(cfg)
        self.attn_block = Sublayer(cfg)
        self.cross_attn = MultiHeadAttention(cfg) if cross else None
        self.cross_block = Sublayer(cfg) if cross else None
        self.ffn = FeedForward(cfg)
        self.ffn_block = Sublayer(cfg)

    def forward(self, x: torch.Tensor, causal: torch.Tensor, memory: torch.Tensor | None = None,
                memory_mask: torch.Tensor | None = None,
                rope: tuple[torch.Tensor, torch.Tensor] | None = None,
                past: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        # cross-attention is never rotated: its keys are the source's, at other positions
        x = self.attn_block(x, lambda h: self.self_attn(h, mask=causal, rope=rope, past=past))
        if self.cross_attn is not None:
            x = self.cross_block(x, lambda h: self.cross_attn(h, context=memory, mask=memory_mask))
        return self.ffn_block(x, self.ffn)


class Stack(nn.Module):
    """A list of layers, plus the final LayerNorm a pre-LN stack needs."""

    def __init__(self, cfg: TransformerConfig, layers: list[nn.Module]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.final_norm = make_norm(cfg) if cfg.norm_first else None


def padding_mask(ids: torch.Tensor, pad_id: int) -> torch.Tensor:
    """(B, 1, 1, S) additive mask hiding padding keys."""
    blocked = (ids == pad_id)[:, None, None, :]
    return torch.zeros(blocked.shape).masked_fill(blocked, torch.finfo(torch.float32).min)


def causal_mask(T: int, offset: int = 0) -> torch.Tensor:
    """(T, offset + T) additive mask: query t (at position offset + t) sees keys 0..offset + t only."""
    upper = torch.ones(T, offset + T, dtype=torch.bool).triu(offset + 1)
    return torch.zeros(T, offset + T).masked_fill(upper, torch.finfo(torch.float32).min)


class Transformer(nn.Module):
    """Encoder, decoder-only or encoder-decoder, chosen by ``cfg.arch``.

    ``forward(ids)`` returns the last hidden states (B, T, d) of an encoder and the
    logits (B, T, V) of a decoder-only model; ``forward(ids, target_ids)`` returns
    the decoder logits (B, U, V) of an encoder-decoder model.
    """

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embeddings = Embeddings(cfg, cfg.vocab_size)
        self.rotary = Rotary(cfg) if cfg.positional == "rope" else None
        if cfg.arch in ("encoder", "encoder-decoder"):
            self.encoder = Stack(cfg, [EncoderLayer(cfg) for _ in range(cfg.n_layers)])
        if cfg.arch == "decoder":
            self.decoder = Stack(cfg, [DecoderLayer(cfg, cross=False) for _ in range(cfg.n_layers)])
            self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
            if cfg.tie_embeddings:  # one matrix reads tokens in and writes them out
                self.lm_head.weight = self.embeddings.tokens.weight
        if cfg.arch == "encoder-decoder":
            self.target_embeddings = Embeddings(cfg, cfg.target_vocab_size or cfg.vocab_size)
            self.decoder = Stack(cfg, [DecoderLayer(cfg, cross=True) for _ in range(cfg.n_decoder_layers)])
            self.lm_head = nn.Linear(cfg.d_model, cfg.target_vocab_size or cfg.vocab_size, bias=False)

    def hook_points(self) -> dict[str, HookPoint]:
        """Every hook point by module path: the one list of names a user can hook."""
        return {name: m for name, m in self.named_modules() if isinstance(m, HookPoint)}

    def rope(self, T: int, offset: int = 0) -> tuple[torch.Tensor, torch.Tensor] | None:
        """RoPE's (cos, sin) for T positions from offset, computed once a forward pass; None without RoPE."""
        return None if self.rotary is None else self.rotary(T, offset)

    def encode(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, S) source ids -> (B, S, d) encoder states."""
        mask = padding_mask(ids, self.cfg.pad_id) if (ids == self.cfg.pad_id).any() else None
        x = self.embeddings(ids)
        rope = self.rope(ids.shape[1])
        for layer in self.encoder.layers:
            x = layer(x, mask, rope)
        return x if self.encoder.final_norm is None else self.encoder.final_norm(x)

    def decode(self, target_ids: torch.Tensor, memory: torch.Tensor | None = None,
               memory_ids: torch.Tensor | None = None,
               past: list[dict[str, torch.Tensor]] | None = None, last_only: bool = False) -> torch.Tensor:
        """(B, U) target ids (+ encoder memory) -> (B, U, V) logits, or (B, 1, V) with ``last_only``.

        ``past`` (one dict per layer, empty at first) caches each layer's keys and values: a
        later call passes only the ids after those already seen. ``last_only`` computes the logits
        of the last position alone, all a greedy step reads (SmolLM2's over 2,048 tokens are 400 MB).
        """
        embed = self.embeddings if self.cfg.arch == "decoder" else self.target_embeddings
        offset = past[0]["k"].shape[2] if past and past[0] else 0
        x = embed(target_ids, offset)
        causal = causal_mask(target_ids.shape[1], offset)
        memory_mask = None
        if memory_ids is not None and (memory_ids == self.cfg.pad_id).any():
            memory_mask = padding_mask(memory_ids, self.cfg.pad_id)
        rope = self.rope(target_ids.shape[1], offset)
        for i, layer in enumerate(self.decoder.layers):
            x = layer(x, causal, memory, memory_mask, rope, None if past is None else past[i])
        if last_only:
            x = x[:, -1:]  # (B, 1, d)
        if self.decoder.final_norm is not None:
            x = self.decoder.final_norm(x)
        return self.lm_head(x)

    def forward(self, ids: torch.Tensor, target_ids: torch.Tensor | None = None) -> torch.Tensor:
        if self.cfg.arch == "encoder":
            return self.encode(ids)
        if self.cfg.arch == "decoder":
            return self.decode(ids)
        if target_ids is None:
            raise ValueError("an encoder-decoder model needs target ids")
        return self.decode(target_ids, self.encode(ids), ids)
