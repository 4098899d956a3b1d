"""One adapter per model family: where a capture reads queries, keys, values and positions.

Each adapter states, for its family, which module outputs hold the per-head
projections (as module paths, the names a forward hook is registered on), how its
attention scores are formed (scale, causal mask, T5's relative-position bias), and
how to run one forward pass and one decoding step. ``model.capture`` is written once
against these; nothing else in ``model/`` needs to know which family it runs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from i18n import N_, _
from model.errors import ModelLoadError
from model.transformer import rotate
from model.types import Adapter, Point, ScoreForm

# q / k of a RoPE model are after the rotation; hook_q_raw / hook_k_raw (before it) are not read: a Capture
# turns q / k back by the angles of the pass (rope_angles) instead of keeping a second copy
OURS = re.compile(r"^(encoder|decoder)\.layers\.(\d+)\.(self_attn|cross_attn)\.hook_(q|k|v)$")
OUR_POSITIONS = "embeddings.hook_positions"
OUR_PATTERNS = re.compile(r"^(encoder|decoder)\.layers\.(\d+)\.(self_attn|cross_attn)\.hook_pattern$")
ROPE_NOTE = N_("RoPE adds no position vectors to the embeddings: it rotates each query and key by an "
               "angle that grows with its position, so q · k depends on how far apart they are.")
OUR_OUTPUTS = re.compile(r"^(encoder|decoder)\.layers\.(\d+)\.(self_attn|cross_attn)\.out$")


def per_head(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """(B, T, H * d) projection -> (B, H, T, d)."""
    B, T, _d = x.shape
    return x.view(B, T, n_heads, -1).transpose(1, 2)  # (B, H, T, d)


def relative_vector(bias: torch.Tensor) -> np.ndarray:
    """(1, H, Q, K) bias that depends only on key - query -> (H, Q + K - 1), offset -(Q-1) first."""
    b = bias[0].detach().float().cpu().numpy()  # (H, Q, K)
    n_q = b.shape[1]
    # row Q-1 holds offsets -(Q-1) .. K-Q; row 0 the rest, 1 .. K-1
    return np.concatenate([b[:, n_q - 1, :], b[:, 0, b.shape[2] - n_q + 1:]], axis=1).astype(np.float32)


class TransformerAdapter(Adapter):
    """Our own Transformer (MiniLM, the translator, SmolLM2): its named hook points hold q, k, v per head.

    Keys and values come with ``n_kv_heads`` heads (grouped-query attention); with RoPE the queries and
    keys kept are the rotated ones the scores used, and ``rope_angles`` the angles they were turned by.
    """

    def __init__(self, net: nn.Module) -> None:
        cfg = net.cfg
        self.arch = cfg.arch
        self.pad_id = cfg.pad_id
        self.scale = 1.0 / math.sqrt(cfg.d_head)
        self.n_heads = cfg.n_heads
        self.max_positions = cfg.max_positions  # how long a sequence, prompt and continuation, can be
        self.positional = cfg.positional
        self.rope_theta = cfg.rope_theta if cfg.positional == "rope" else None
        self._positions_note = {
            "none": N_("This model adds no positional vectors to its embeddings."),
            "rope": ROPE_NOTE,
        }.get(cfg.positional)

    @property
    def positions_note(self) -> str | None:  # read per capture: the session's language, not the loader's
        return _(self._positions_note)

    def points(self, net: nn.Module) -> dict[str, Point]:
        found = {}
        for name in net.hook_points():
            if m := OURS.match(name):
                stack, layer, attn, what = m.groups()
                found[name] = Point("cross" if attn == "cross_attn" else stack, int(layer), what)
            elif name == OUR_POSITIONS:
                found[name] = Point("", 0, "positions")
        return found

    def pattern_points(self, net: nn.Module) -> dict[str, Point]:
        found = {}
        for name in net.hook_points():
            if m := OUR_PATTERNS.match(name):
                stack, layer, attn = m.groups()
                found[name] = Point("cross" if attn == "cross_attn" else stack, int(layer), "pattern")
        return found

    def split(self, point: Point, output: torch.Tensor) -> dict[str, torch.Tensor]:
        return {point.what: output}  # already (B, nh, T, hs)

    def score_form(self, kind: str) -> ScoreForm:
        return ScoreForm(self.scale, causal=kind == "decoder")

    def forward(self, net, ids, mask, target_ids=None, target_mask=None) -> Any:
        if self.arch == "encoder":
            return net.encode(ids)  # padding is masked where ids == pad_id
        if self.arch == "decoder":
            return net.decode(ids)
        return net(ids, target_ids)

    def hooked_pass(self, net, ids, mask, target_ids=None, target_mask=None) -> None:
        if self.arch == "encoder":
            net.encode(ids)
        elif self.arch == "decoder":
            net.decode(ids, last_only=True)
        else:
            net.decode(target_ids, net.encode(ids), ids, last_only=True)

    def rope_angles(self, net: nn.Module, kind: str, n_positions: int) -> tuple[np.ndarray, np.ndarray] | None:
        if net.rotary is None or kind == "cross":  # cross-attention is never rotated
            return None
        cos, sin = net.rope(n_positions)  # each (T, hs): what encode / decode compute for this length
        return cos.numpy(), sin.numpy()

    def encode(self, net, ids, mask) -> Any:
        return net.encode(ids)

    def cached_steps(self, net: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
        """A decoder-only model's ``next_logits`` for greedy decoding, with a key/value cache: each
        call feeds only the ids it has not seen yet and returns the last position's logits (B, 1, V).
        One per decoding (it holds that sequence's cache)."""
        past: list[dict[str, torch.Tensor]] = [{} for _layer in net.decoder.layers]
        seen = 0

        def next_logits(ids: torch.Tensor) -> torch.Tensor:
            nonlocal seen
            logits = net.decode(ids[:, seen:], past=past, last_only=True)  # (B, 1, V)
            seen = ids.shape[1]
            return logits
        return next_logits

    def step_logits(self, net, memory, ids, mask, target_ids) -> torch.Tensor:
        return net.decode(target_ids, memory, ids)

    def position_table(self, net: nn.Module) -> np.ndarray | None:
        table = net.embeddings.position_table()
        return None if table is None else table.detach().float().cpu().numpy()

    def head_outputs(self, net: nn.Module) -> dict[str, tuple[str, int]]:
        found = {}
        for name, _module in net.named_modules():
            if m := OUR_OUTPUTS.match(name):
                stack, layer, attn = m.groups()
                found[name] = ("cross" if attn == "cross_attn" else stack, int(layer))
        return found

    def output(self, net: nn.Module, result: Any) -> torch.Tensor:
        return result  # hidden states of an encoder, logits of a decoder


class HFAdapter(Adapter):
    """A ``transformers`` model: hooks on its q/k/v projection modules, named by regex over module paths.

    ``attention`` matches an attention module's path; its groups give (layer,) or, for an
    encoder-decoder, (stack, layer, sublayer). ``projections`` are the child modules that
    project q, k and v, or one fused projection.
    """

    attention = ""
    projections: tuple[str, ...] = ()
    positions: str | None = None  # module path of the position embedding
    output_projection = ""  # regex over module paths, the same groups as ``attention``
    causal = False

    def __init__(self, config: Any) -> None:
        self.n_heads = int(config.num_attention_heads)
        self.pad_id = int(getattr(config, "pad_token_id", None) or 0)
        # how long a sequence can be; 0 where positions set no limit (T5's relative bias)
        self.max_positions = int(getattr(config, "max_position_embeddings", None) or 0)

    @classmethod
    def check_config(cls, config: dict) -> None:
        """Refuse, before any weight is read, a ``config.json`` this family cannot capture exactly."""

    @classmethod
    def for_model(cls, net: nn.Module) -> HFAdapter:
        """The adapter of a loaded ``net``."""
        return cls(net.config)

    def kind_layer(self, match: re.Match) -> tuple[str, int]:
        return self.arch, int(match.group(1))

    def points(self, net: nn.Module) -> dict[str, Point]:
        found = {}
        for name, _module in net.named_modules():
            if m := re.match(self.attention, name):
                kind, layer = self.kind_layer(m)
                fused = len(self.projections) == 1
                for child, what in zip(self.projections, ("qkv",) if fused else ("q", "k", "v"), strict=True):
                    found[f"{name}.{child}"] = Point(kind, layer, what)
        if self.positions is not None:
            found[self.positions] = Point("", 0, "positions")
        return found

    def split(self, point: Point, output: torch.Tensor) -> dict[str, torch.Tensor]:
        if point.what == "qkv":  # GPT-2 projects q, k and v in one (B, T, 3 * d) matrix
            return {w: per_head(part, self.n_heads) for w, part in zip("qkv", output.chunk(3, dim=-1), strict=True)}
        return {point.what: per_head(output, self.n_heads)}

    def score_form(self, kind: str) -> ScoreForm:
        return ScoreForm(self.scale, causal=self.causal)

    def forward(self, net, ids, mask, target_ids=None, target_mask=None) -> Any:
        return net(input_ids=ids, attention_mask=mask)

    def position_table(self, net: nn.Module) -> np.ndarray | None:
        if self.positions is None:
            return None
        return net.get_submodule(self.positions).weight.detach().float().cpu().numpy()

    def head_outputs(self, net: nn.Module) -> dict[str, tuple[str, int]]:
        return {name: self.kind_layer(m) for name, _module in net.named_modules()
                if (m := re.match(self.output_projection, name))}

    def output(self, net: nn.Module, result: Any) -> torch.Tensor:
        return result.last_hidden_state


class BertAdapter(HFAdapter):
    arch = "encoder"
    attention = r"^encoder\.layer\.(\d+)\.attention\.self$"
    projections = ("query", "key", "value")
    positions = "embeddings.position_embeddings"
    output_projection = r"^encoder\.layer\.(\d+)\.attention\.output\.dense$"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.scale = 1.0 / math.sqrt(int(config.hidden_size) // self.n_heads)


class DistilBertAdapter(BertAdapter):
    attention = r"^transformer\.layer\.(\d+)\.attention$"
    projections = ("q_lin", "k_lin", "v_lin")
    output_projection = r"^transformer\.layer\.(\d+)\.attention\.out_lin$"


class GPT2Adapter(HFAdapter):
    arch = "decoder"
    attention = r"^h\.(\d+)\.attn$"
    projections = ("c_attn",)
    positions = "wpe"
    output_projection = r"^h\.(\d+)\.attn\.c_proj$"
    causal = True

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        d_head = int(config.hidden_size) // self.n_heads
        self.scale = 1.0 / math.sqrt(d_head) if getattr(config, "scale_attn_weights", True) else 1.0

    def output(self, net: nn.Module, result: Any) -> torch.Tensor:
        # GPT2Model has no head of its own: its language-model head is the token embedding, tied
        return result.last_hidden_state @ net.wte.weight.T  # (B, T, V)


class T5Adapter(HFAdapter):
    arch = "encoder-decoder"
    attention = r"^(encoder|decoder)\.block\.(\d+)\.layer\.[01]\.(SelfAttention|EncDecAttention)$"
    projections = ("q", "k", "v")
    output_projection = r"^(encoder|decoder)\.block\.(\d+)\.layer\.[01]\.(SelfAttention|EncDecAttention)\.o$"
    positional = "relative bias"
    scale = 1.0  # T5 folds the 1/sqrt(d) into its initialisation: scores are plain q . k

    @property
    def positions_note(self) -> str:
        return _("T5 adds no position vectors: a learned relative-position bias inside attention stands for them.")

    def kind_layer(self, match: re.Match) -> tuple[str, int]:
        stack, layer, sub = match.groups()
        return ("cross" if sub == "EncDecAttention" else stack), int(layer)

    def score_form(self, kind: str) -> ScoreForm:
        return ScoreForm(1.0, causal=kind == "decoder", relative_bias=kind != "cross")

    def relative_bias(self, net, kind, n_queries, n_keys) -> np.ndarray | None:
        if kind == "cross":
            return None
        stack = net.encoder if kind == "encoder" else net.decoder
        # the first layer's bias table is shared by every layer of its stack
        return relative_vector(stack.block[0].layer[0].SelfAttention.compute_bias(n_queries, n_keys))

    def forward(self, net, ids, mask, target_ids=None, target_mask=None) -> Any:
        return net(input_ids=ids, attention_mask=mask, decoder_input_ids=target_ids,
                   decoder_attention_mask=target_mask, use_cache=False)

    def encode(self, net, ids, mask) -> Any:
        return net.get_encoder()(input_ids=ids, attention_mask=mask)

    def step_logits(self, net, memory, ids, mask, target_ids) -> torch.Tensor:
        return net(encoder_outputs=memory, attention_mask=mask, decoder_input_ids=target_ids, use_cache=False).logits

    def output(self, net: nn.Module, result: Any) -> torch.Tensor:
        return result.logits


# RoPE variants whose angles change with the sequence length, in place inside the shared model
STATEFUL_ROPE = ("dynamic", "longrope")


def rope_type_of(params: dict | None) -> str:
    """The RoPE variant a config's ``rope_parameters`` (or older ``rope_scaling``) names."""
    params = params or {}
    return str(params.get("rope_type") or params.get("type") or "default")


def refuse_rope(rope_type: str) -> None:
    if any(s in rope_type for s in STATEFUL_ROPE):
        raise ModelLoadError(
            _("'{rope_type}' RoPE recomputes its angles from the length of each sequence; only fixed "
              "variants (default, linear, llama3, yarn) are read here.").format(rope_type=rope_type)
        )


def sliding_window_of(config: Any) -> int | None:
    """The attention window of a config whose layers (all or some) see only the last keys, else None."""
    window = getattr(config, "sliding_window", None)
    layer_types = getattr(config, "layer_types", None)
    if not window or (layer_types is not None and "sliding_attention" not in layer_types):
        return None
    return int(window)


def llama_positions(config: Any) -> int:
    """How long a Llama-family sequence can be: its positions, or its attention window where that is
    shorter, since within the window a sliding mask is the plain causal one the scores use."""
    n = int(config.max_position_embeddings)
    window = sliding_window_of(config)
    return min(n, window) if window else n


class LlamaAdapter(HFAdapter):
    """Llama, Qwen2, Mistral (``*ForCausalLM``): a causal decoder with RoPE and grouped-query attention.

    The projections' outputs are queries and keys before their rotation: this adapter turns them by
    the model's own RoPE module (its angles, scaling included), so ``q`` / ``k`` are what the scores
    used, and ``rope_angles`` gives that module's angles (a Capture turns them back for ``q_raw`` /
    ``k_raw``). Keys and values keep their ``num_key_value_heads`` heads.
    """

    arch = "decoder"
    attention = r"^model\.layers\.(\d+)\.self_attn$"
    projections = ("q_proj", "k_proj", "v_proj")
    output_projection = r"^model\.layers\.(\d+)\.self_attn\.o_proj$"
    causal = True
    positional = "rope"

    def __init__(self, config: Any, rotary: nn.Module) -> None:
        super().__init__(config)
        self.n_kv_heads = int(getattr(config, "num_key_value_heads", None) or self.n_heads)
        d_head = int(getattr(config, "head_dim", None) or int(config.hidden_size) // self.n_heads)
        self.scale = 1.0 / math.sqrt(d_head)
        self.max_positions = llama_positions(config)
        params = getattr(config, "rope_parameters", None) or {}
        self.rope_type = rope_type_of(params)
        refuse_rope(self.rope_type)
        theta = float(params.get("rope_theta", getattr(config, "rope_theta", 10000.0)))
        # rope_theta promises angles of position * theta^(-2i/d): a scaled variant turns by others
        self.rope_theta = theta if self.rope_type == "default" else None
        self.rope_base = theta
        self.rotary = rotary

    @property
    def positions_note(self) -> str:
        if self.rope_type == "default":
            return _(ROPE_NOTE)
        scaled = _("This checkpoint scales its RoPE ('{rope_type}', base {theta}), so the angles are not "
                   "position × theta^(-2i/d) alone; the queries and keys kept are the ones it turned.")
        return f"{_(ROPE_NOTE)} {scaled.format(rope_type=self.rope_type, theta=f'{self.rope_base:g}')}"

    @classmethod
    def check_config(cls, config: dict) -> None:
        refuse_rope(rope_type_of(config.get("rope_parameters") or config.get("rope_scaling")))

    @classmethod
    def for_model(cls, net: nn.Module) -> HFAdapter:
        return cls(net.config, net.model.rotary_emb)

    def split(self, point: Point, output: torch.Tensor) -> dict[str, torch.Tensor]:
        if point.what == "v":
            return {"v": per_head(output, self.n_kv_heads)}
        raw = per_head(output, self.n_heads if point.what == "q" else self.n_kv_heads)  # (B, h, T, dh)
        # the batch is right-padded, so every row's tokens sit at positions 0 .. T-1
        positions = torch.arange(raw.shape[2], device=raw.device)[None]  # (1, T)
        cos, sin = self.rotary(raw, positions)  # each (1, T, dh)
        return {point.what: rotate(raw, cos[:, None], sin[:, None])}

    def rope_angles(self, net: nn.Module, kind: str, n_positions: int) -> tuple[np.ndarray, np.ndarray] | None:
        probe = torch.zeros(1, dtype=torch.float32)  # the rotary module reads only its dtype and device
        cos, sin = self.rotary(probe, torch.arange(n_positions)[None])  # each (1, T, dh)
        return cos[0].float().numpy(), sin[0].float().numpy()

    def forward(self, net, ids, mask, target_ids=None, target_mask=None) -> Any:
        return net(input_ids=ids, attention_mask=mask, use_cache=False)

    def hooked_pass(self, net, ids, mask, target_ids=None, target_mask=None) -> None:
        net(input_ids=ids, attention_mask=mask, use_cache=False, logits_to_keep=1)

    def cached_steps(self, net: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
        """Greedy steps through the model's own key/value cache: each call feeds only the new ids."""
        past = None
        seen = 0

        def next_logits(ids: torch.Tensor) -> torch.Tensor:
            nonlocal past, seen
            out = net(input_ids=ids[:, seen:], cache=past, use_cache=True, logits_to_keep=1)
            past, seen = out.cache, ids.shape[1]
            return out.logits  # (B, 1, V)
        return next_logits

    def output(self, net: nn.Module, result: Any) -> torch.Tensor:
        return result.logits


# model_type in config.json -> (the transformers class instantiated, its adapter)
HF_FAMILIES: dict[str, tuple[str, type[HFAdapter]]] = {
    "bert": ("BertModel", BertAdapter),
    "roberta": ("RobertaModel", BertAdapter),
    "distilbert": ("DistilBertModel", DistilBertAdapter),
    "gpt2": ("GPT2Model", GPT2Adapter),
    "t5": ("T5ForConditionalGeneration", T5Adapter),
    "llama": ("LlamaForCausalLM", LlamaAdapter),
    "qwen2": ("Qwen2ForCausalLM", LlamaAdapter),
    "mistral": ("MistralForCausalLM", LlamaAdapter),
}
