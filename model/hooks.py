"""``capture()``: run one forward pass with hooks and return what they saw.

Hooks are registered for the one call and removed in ``finally``. The model is
shared by every browser session, each in its own thread, so a hook keeps only
what its own thread computes: a second capture running at the same time fires
the same hook points but is ignored here and kept by its own hooks.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from model.capture_result import Capture
from model.checkpoints import LoadedModel
from model.codec import MAX_TEXT_CHARS, Encoded, cap_text

PATTERN = re.compile(r"^(encoder|decoder)\.layers\.(\d+)\.(self_attn|cross_attn)\.hook_(pattern|q|k|v)$")
POSITIONS = "embeddings.hook_positions"


@contextmanager
def hooked(modules: dict[str, nn.Module], fn: Callable[[str, torch.Tensor], torch.Tensor | None]) -> Iterator[None]:
    """Call ``fn(name, output)`` for each named module's output, in this thread only, inside the block.

    ``fn`` may return a tensor to replace the output (an ablation) or None to leave it.
    """
    owner = threading.get_ident()
    handles = []

    def make(name: str):
        def hook(module, args, output):
            if threading.get_ident() == owner:
                return fn(name, output)
            return None
        return hook

    try:
        for name, module in modules.items():
            handles.append(module.register_forward_hook(make(name)))
        yield
    finally:
        for h in handles:
            h.remove()


def kind_of(stack: str, attn: str) -> str:
    if attn == "cross_attn":
        return "cross"
    return stack


def greedy(next_logits: Callable[[list[int]], torch.Tensor], start: int, eos: int | None, max_len: int) -> list[int]:
    """Decoder inputs, ``start`` first, each next one the argmax of ``next_logits(ids so far)`` (1, U, V),
    until ``eos`` or ``max_len`` ids."""
    out = [start]
    for _ in range(max_len - 1):
        nxt = int(next_logits(out)[0, -1].argmax())
        out.append(nxt)
        if nxt == eos:
            break
    return out


def greedy_decode(model: LoadedModel, src: torch.Tensor, max_len: int) -> list[int]:
    """Target ids of our encoder-decoder, BOS first, written one argmax at a time until EOS."""
    codec = model.target_codec
    memory = model.net.encode(src)
    return greedy(lambda ids: model.net.decode(torch.tensor([ids]), memory, src),
                  codec.full.token_to_id("<s>"), codec.full.token_to_id("</s>"), max_len)


def quote_piece(word: str, limit: int = 40) -> str:
    """``word`` for a notice: its first ``limit`` characters and "…" when it is longer."""
    return word if len(word) <= limit else word[:limit] + "…"


def encode_checked(model: LoadedModel, text: str) -> Encoded:
    """``text`` tokenised for ``model``, or ``ValueError`` with a readable message when there is
    nothing to read: empty text, unpaired surrogates, or only special tokens. Only the first
    ``MAX_TEXT_CHARS`` characters are read."""
    if isinstance(text, str):
        text = cap_text(text)
    if not isinstance(text, str) or not text.strip():
        raise ValueError("The text is empty: type a sentence to see its attention.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates, which the tokenizer cannot take
        raise ValueError("The text is not valid Unicode: it holds unpaired surrogate characters.") from exc
    enc = model.codec.encode(text)
    if all(t in model.codec.special_tokens for t in enc.tokens):
        raise ValueError("The text has no readable tokens: type a sentence to see its attention.")
    return enc


def capture(model: LoadedModel, text: str, target: str | None = None, *,
            zero_positions: bool = False, keep_qkv: bool = True) -> Capture:
    """Tokenise ``text``, run the model once with hooks, return a ``Capture``.

    Raises ``ValueError`` with a readable message for text with nothing to read
    (empty, or only special or unknown tokens) or that is not valid Unicode.
    Text longer than the model's positions is truncated and ``Capture.truncated``
    and ``Capture.notice`` say so. ``zero_positions`` replaces the positional
    vectors with zeros through the positions hook point (an ablation).
    """
    enc = encode_checked(model, text)
    notices = []
    if len(text) > MAX_TEXT_CHARS:
        notices.append(f"The text has {len(text):,} characters; only the first {MAX_TEXT_CHARS:,} are read.")
        text = cap_text(text)
    if enc.truncated:
        notices.append(f"The text has {enc.n_total} tokens; {model.name} reads at most {model.max_tokens}, "
                       f"so the last {enc.n_total - len(enc.ids)} were left out.")
    unk = getattr(model.codec.full.model, "unk_token", None)
    if unk and unk in enc.tokens:
        full = model.codec.full.encode(text)
        words = list(dict.fromkeys(text[a:b] for (a, b), t in zip(full.offsets, full.tokens, strict=True)
                                   if t == unk))
        named = ", ".join(f"'{quote_piece(w)}'" for w in words[:8]) + (", ..." if len(words) > 8 else "")
        notices.append(f"Not in {model.name}'s vocabulary, read as {unk}: {named}.")
    notice = " ".join(notices) or None
    # Imported here: hf_models builds on this module's ``hooked``.
    from model.hf_models import HFModel, capture_hf

    if isinstance(model, HFModel):
        return capture_hf(model, enc, notice, target, zero_positions=zero_positions, keep_qkv=keep_qkv)

    net = model.net
    src = torch.tensor([enc.ids])  # (1, T)
    target_ids = None
    with torch.inference_mode():
        if net.cfg.arch == "encoder-decoder":
            if target is None:
                target_ids = greedy_decode(model, src, net.cfg.max_positions)
            else:
                target_ids = model.target_codec.encode(target).ids
    found: dict[tuple[str, int, str], np.ndarray] = {}
    positions: list[np.ndarray] = []

    # Each hook point's name parsed once, here, not on every call of its hook.
    hook_points = net.hook_points()
    slots: dict[str, tuple[str, int, str]] = {}
    for name in hook_points:
        if m := PATTERN.match(name):
            stack, layer, attn, what = m.groups()
            if keep_qkv or what == "pattern":
                slots[name] = (kind_of(stack, attn), int(layer), what)

    def record(name: str, output: torch.Tensor) -> torch.Tensor | None:
        if name == POSITIONS:
            if zero_positions:
                output = torch.zeros_like(output)
            if not positions:
                positions.append(output.detach().float().cpu().numpy().copy())
            return output if zero_positions else None
        slot = slots[name]
        if slot[2] == "pattern":
            kind, layer, _ = slot
            if kind not in patterns:
                patterns[kind] = np.empty((n_layers[kind], *output.shape[1:]), dtype=np.float32)  # (L, nh, T, S)
            # Copied into one array for all layers, so the forward pass can free and reuse its own buffer.
            patterns[kind][layer] = output[0].detach().float().cpu().numpy()
        else:
            # q, k, v arrive as (nh, T, hs) views of a (T, nh, hs) projection: keep that contiguous
            # layout so stacking the layers is one plain copy.
            found[slot] = output[0].detach().float().cpu().transpose(0, 1).numpy()  # (T, nh, hs)
        return None

    n_layers: dict[str, int] = {}
    for kind, layer, _ in slots.values():
        n_layers[kind] = max(n_layers.get(kind, 0), layer + 1)
    patterns: dict[str, np.ndarray] = {}
    points = {n: p for n, p in hook_points.items() if n == POSITIONS or n in slots}
    with hooked(points, record), torch.inference_mode():
        if target_ids is None:
            net(src)
        else:
            net(src, torch.tensor([target_ids]))

    attentions, qkv = {}, {}
    for kind in ("encoder", "decoder", "cross"):
        if kind not in patterns:
            continue
        attentions[kind] = patterns[kind]
        layers = range(n_layers[kind])
        if keep_qkv:
            # (L, T, nh, hs) stacked, seen as (L, nh, T, hs)
            qkv[kind] = {w: np.stack([found[(kind, i, w)] for i in layers]).transpose(0, 2, 1, 3)
                         for w in ("q", "k", "v")}
    target_tokens = None
    output_text = None
    if target_ids is not None:
        target_tokens = [model.target_codec.full.id_to_token(i) for i in target_ids]
        output_text = model.target_codec.decode(target_ids)
    return Capture(
        tokens=enc.tokens,
        attentions=attentions,
        positions=positions[0] if positions else None,
        target_tokens=target_tokens,
        model_name=model.name,
        truncated=enc.truncated,
        notice=notice,
        positions_note=None if positions else f"{model.name} adds no positional vectors to its embeddings.",
        qkv=qkv,
        output_text=output_text,
    )
