"""``capture()``: run a model with hooks and return what they saw, for every family through its adapter.

Text -> tokens -> one padded forward pass over a batch (hooks fire) -> one ``Capture`` per
text. The hooks record each layer's per-head queries, keys and values; a ``Capture``
recomputes any head's weights from them exactly, so nothing of size heads x tokens^2 is
kept. ``capture_batch`` is the same pass over many texts (the corpus statistics use it);
padding keys are masked, so each text gets the weights it gets alone. A decoder-only model
given ``max_new_tokens`` first continues the prompt greedily (no hooks), then one hooked pass
reads the prompt and what it wrote together.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from i18n import _
from model.codec import MAX_TEXT_CHARS, Encoded
from model.decoding import greedy
from model.hooks import hooked
from model.readable import readable_tokens
from model.types import Capture, LoadedModel, Point, summarise

POOL_IN_PASS_FROM = 1024  # from this many queries or keys, thumbnails are pooled during the forward pass
MAX_NEW_TOKENS = 200  # a decoder writes at most this many tokens: each one reruns the whole sequence


def quote_piece(word: str, limit: int = 40) -> str:
    """``word`` for a notice: its first ``limit`` characters and "…" when it is longer."""
    return word if len(word) <= limit else word[:limit] + "…"


def encode_checked(model: LoadedModel, text: str) -> Encoded:
    """``text`` tokenised for ``model``, or ``ValueError`` with a readable message when there is
    nothing to read: empty text, unpaired surrogates, or only special tokens. Only the first
    ``MAX_TEXT_CHARS`` characters are read."""
    if not isinstance(text, str) or not text[:MAX_TEXT_CHARS].strip():
        raise ValueError(_("The text is empty: type a sentence to see its attention."))
    try:
        text[:MAX_TEXT_CHARS].encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates, which the tokenizer cannot take
        raise ValueError(_("The text is not valid Unicode: it holds unpaired surrogate characters.")) from exc
    enc = model.codec.encode(text)
    if all(t in model.codec.special_tokens for t in enc.tokens):
        raise ValueError(_("The text has no readable tokens: type a sentence to see its attention."))
    return enc


def notice_of(model: LoadedModel, enc: Encoded) -> str | None:
    """What a reader should be told about how ``enc`` was read: cut, truncated, unknown words."""
    notices = []
    if enc.cut:
        notices.append(_("The text has {n_chars} characters; only the first {limit} are read.").format(
            n_chars=f"{enc.n_chars:,}", limit=f"{MAX_TEXT_CHARS:,}"))
    if enc.truncated:
        notices.append(_("The text has {n_total} tokens; {model} reads at most {limit}, so the last {n_left} were "
                         "left out.").format(n_total=enc.n_total, model=model.name, limit=model.max_tokens,
                                             n_left=enc.n_total - len(enc.ids)))
    if enc.unknown:
        named = ", ".join(f"'{quote_piece(w)}'" for w in enc.unknown[:8]) + (", ..." if len(enc.unknown) > 8 else "")
        notices.append(_("Not in {model}'s vocabulary, read as {unk}: {named}.").format(
            model=model.name, unk=model.codec.unk_token, named=named))
        n_unknown = enc.tokens.count(model.codec.unk_token)
        if n_unknown * 4 >= len(enc.tokens):  # a quarter or more: the axes can no longer be told apart
            notices.append(_("{n_unknown} of the {n_tokens} tokens are {unk}, so their rows and columns look alike. "
                             "A model with byte-level tokens reads any character: SmolLM2 (Chinese, emoji and code "
                             "included).").format(n_unknown=n_unknown, n_tokens=len(enc.tokens),
                                                  unk=model.codec.unk_token))
    return " ".join(notices) or None


def padded(rows: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``rows`` right-padded with ``pad`` into ids (B, T) and a mask (B, T), 1 at real tokens."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)  # (B, T)
    mask = torch.zeros((len(rows), width), dtype=torch.long)  # (B, T)
    for b, r in enumerate(rows):
        ids[b, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[b, : len(r)] = 1
    return ids, mask


def hooked_pass(model: LoadedModel, ids: torch.Tensor, mask: torch.Tensor,
                target_rows: list[list[int]] | None) -> None:
    """The pass hooks read, over padded ``ids``; an encoder-decoder's decoder reads ``target_rows``."""
    if target_rows is None:
        model.adapter.hooked_pass(model.net, ids, mask)
    else:
        tgt, tgt_mask = padded(target_rows, int(model.eos_id or 0))
        model.adapter.hooked_pass(model.net, ids, mask, tgt, tgt_mask)


def target_ids_of(model: LoadedModel, ids: torch.Tensor, mask: torch.Tensor,
                  targets: list[str | None]) -> list[list[int]]:
    """Decoder inputs per row: the given target teacher-forced, or what greedy decoding writes."""
    start = int(model.decoder_start_id or 0)
    rows: list[list[int] | None] = [None] * len(targets)
    for b, target in enumerate(targets):
        if target is not None:
            given = model.target_codec.encode(target).ids
            # T5's tokenizer does not write the decoder's start token; the translator's writes <s> itself
            missing = model.decoder_start_id is not None and given[:1] != [start]
            rows[b] = [start, *given] if missing else given
    free = [b for b, row in enumerate(rows) if row is None]
    if free:
        adapter, net = model.adapter, model.net
        memory = adapter.encode(net, ids[free], mask[free])
        written = greedy(lambda tgt: adapter.step_logits(net, memory, ids[free], mask[free], tgt),
                         len(free), start, model.eos_id, model.max_target_tokens)
        for b, row in zip(free, written, strict=True):
            rows[b] = row
    return rows


def capture_batch(model: LoadedModel, encoded: list[Encoded], targets: list[str | None] | None = None, *,
                  zero_positions: bool = False, notices: list[str | None] | None = None) -> list[Capture]:
    """One padded forward pass over ``encoded`` texts; one ``Capture`` per text, as if it ran alone.

    ``targets`` (encoder-decoder only) teacher-forces a target per text; None greedy-decodes it.
    ``zero_positions`` replaces the positional vectors with zeros through their hook point.
    """
    adapter, net = model.adapter, model.net
    n = len(encoded)
    targets = targets or [None] * n
    notices = notices or [None] * n
    ids, mask = padded([e.ids for e in encoded], adapter.pad_id)
    lengths = [len(e.ids) for e in encoded]
    target_rows = target_lengths = None
    with torch.inference_mode():
        if model.arch == "encoder-decoder":
            target_rows = target_ids_of(model, ids, mask, targets)
            target_lengths = [len(r) for r in target_rows]

    n_tgt = target_lengths or lengths
    # (queries, keys) of each kind per row: decoder queries are the target, cross keys the source
    sizes = [{"encoder": (n, n), "decoder": (u, u), "cross": (u, n)} for n, u in zip(lengths, n_tgt, strict=True)]
    points = adapter.points(net)
    modules = dict(net.named_modules())
    found: dict[tuple[str, int, str], torch.Tensor] = {}  # (kind, layer, q|k|v) -> (B, H, T, dh)
    positions: list[torch.Tensor] = []

    # A long capture pools its model-view thumbnails (and each head's share on the first token) from the
    # weights the pass computes anyway: built later from q and k they took 15 s at 2,048 tokens, against
    # about a tenth of the pass here. Short ones build them on first use (pooling here cost a third of a
    # 512-token MiniLM pass, for a picture not every visitor asks for).
    if max(max(size) for row in sizes for size in row.values()) >= POOL_IN_PASS_FROM:
        points = {**points, **adapter.pattern_points(net)}
    pooled: dict[tuple[str, int], list[tuple[np.ndarray, np.ndarray]]] = {}  # (kind, layer) -> per row

    def record(name: str, output: torch.Tensor) -> torch.Tensor | None:
        point: Point = points[name]
        if point.what == "pattern":
            pooled[(point.kind, point.layer)] = [
                summarise(w) for w in (output[b, :, :sizes[b][point.kind][0], :sizes[b][point.kind][1]].float()
                          for b in range(output.shape[0]))]  # each (H, Q, K) of real tokens only
            return None
        if point.what == "positions":
            if zero_positions:
                output = torch.zeros_like(output)
            if not positions:
                positions.append(output.detach().float().cpu())
            return output if zero_positions else None
        for what, t in adapter.split(point, output).items():
            found[(point.kind, point.layer, what)] = t.detach().float().cpu()
        return None

    with hooked({name: modules[name] for name in points}, record), torch.inference_mode():
        hooked_pass(model, ids, mask, target_rows)

    kinds = sorted({kind for kind, _layer, _what in found}, key=("encoder", "decoder", "cross").index)
    n_layers = {kind: 1 + max(layer for k, layer, _what in found if k == kind) for kind in kinds}
    # each row's q, k, v: one contiguous (L, H, T, dh) array per kind, its real tokens only, filled layer by
    # layer while each hooked tensor is dropped, so the pass's copies and these never both exist whole
    stores: list[dict[str, dict[str, np.ndarray]]] = [{"q": {}, "k": {}, "v": {}} for _ in encoded]
    angles: dict[str, tuple[np.ndarray, np.ndarray] | None] = {}
    for kind in kinds:
        for what in ("q", "k", "v"):
            for layer in range(n_layers[kind]):
                t = found.pop((kind, layer, what))  # (B, H, T, dh)
                for b in range(n):
                    length = sizes[b][kind][0 if what == "q" else 1]
                    if layer == 0:
                        stores[b][what][kind] = np.empty((n_layers[kind], t.shape[1], length, t.shape[3]),
                                                         dtype=np.float32)
                    stores[b][what][kind][layer] = t[b, :, :length].numpy()
                del t
            for store in stores:
                store[what][kind].flags.writeable = False  # shared by every session that reads this capture
        with torch.inference_mode():
            angles[kind] = adapter.rope_angles(net, kind, max(size[kind][0] for size in sizes))
    captures = []
    for b, enc in enumerate(encoded):
        n_src = lengths[b]
        q, k, v = (stores[b][what] for what in ("q", "k", "v"))
        bias, rope_angles = {}, {}
        for kind in kinds:
            n_q, n_k = sizes[b][kind]
            with torch.inference_mode():
                rel = adapter.relative_bias(net, kind, n_q, n_k)
            if rel is not None:
                bias[kind] = rel
            if angles[kind] is not None:
                rope_angles[kind] = tuple(a[:n_q].copy() for a in angles[kind])  # each (T, dh)
        thumbs, first_shares = {}, {}
        for kind in kinds:
            if all((kind, layer) in pooled for layer in range(n_layers[kind])):
                thumbs[kind] = np.stack([pooled[(kind, layer)][b][0] for layer in range(n_layers[kind])])
                first_shares[kind] = np.stack([pooled[(kind, layer)][b][1] for layer in range(n_layers[kind])])
        target_tokens = output_text = None
        if target_rows is not None:
            row = target_rows[b]
            target_tokens = [model.target_codec.full.id_to_token(i) or f"<{i}>" for i in row]
            output_text = model.target_codec.decode(row)
        pos = None
        if positions:
            p = positions[0]  # (T, d), or (1 or B, T, d)
            pos = (p if p.ndim == 2 else p[b if p.shape[0] > 1 else 0])[:n_src].numpy().copy()
        captures.append(Capture(
            tokens=enc.tokens, q=q, k=k, v=v, score_forms={kind: adapter.score_form(kind) for kind in kinds},
            positions=pos, bias=bias, target_tokens=target_tokens, model_name=model.name,
            architecture=model.arch, special_tokens=model.special_tokens, truncated=enc.truncated,
            notice=notices[b], positions_note=None if pos is not None else adapter.positions_note,
            output_text=output_text, rope_angles=rope_angles, thumbs=thumbs, first_shares=first_shares,
            rope_theta=adapter.rope_theta if rope_angles else None,
            labels=readable_tokens(enc.tokens, model.special_tokens, byte_level=model.codec.byte_level),
            target_labels=None if target_tokens is None else readable_tokens(
                target_tokens, model.special_tokens, byte_level=model.target_codec.byte_level),
        ))
    return captures


def clamp_new_tokens(max_new_tokens: int | None) -> tuple[int, str | None]:
    """``max_new_tokens`` within 0..MAX_NEW_TOKENS, and a notice when it was not."""
    asked = int(max_new_tokens or 0)
    n = min(max(asked, 0), MAX_NEW_TOKENS)
    if n == asked:
        return n, None
    return n, _("{asked} new tokens were asked for; a decoder writes between 0 and {limit}, so {n}.").format(
        asked=asked, limit=MAX_NEW_TOKENS, n=n)


def continued(model: LoadedModel, enc: Encoded, max_new_tokens: int) -> Encoded:
    """``enc`` followed by what ``model`` writes greedily after it: at most ``max_new_tokens``, up to its end token."""
    adapter, net = model.adapter, model.net
    prompt = torch.tensor([enc.ids], dtype=torch.long)  # (1, P)
    # our Transformer caches keys and values between steps; other families rerun the sequence
    next_logits = adapter.cached_steps(net)
    with torch.inference_mode():
        row = greedy(next_logits, 1, 0, model.eos_id, len(enc.ids) + max_new_tokens, prefix=prompt)[0]
    written = row[len(enc.ids):]
    tokens = [model.codec.full.id_to_token(i) or f"<{i}>" for i in written]
    return dataclasses.replace(enc, ids=[*enc.ids, *written], tokens=[*enc.tokens, *tokens],
                               n_total=enc.n_total + len(written))


def capture(model: LoadedModel, text: str, target: str | None = None, *, zero_positions: bool = False,
            max_new_tokens: int | None = None) -> Capture:
    """Tokenise ``text``, run the model once with hooks, return a ``Capture``.

    Raises ``ValueError`` with a readable message for text with nothing to read
    (empty, or only special or unknown tokens) or that is not valid Unicode.
    Text longer than the model's positions is truncated and ``Capture.truncated``
    and ``Capture.notice`` say so. An encoder-decoder greedy-decodes its target unless
    ``target`` is given. ``zero_positions`` replaces the positional vectors with zeros
    through the positions hook point (an ablation).

    A decoder-only model continues ``text`` greedily by ``max_new_tokens`` (clamped to
    0..MAX_NEW_TOKENS, with a notice), stopping at its end token; the capture then covers
    prompt and continuation, ``n_generated`` says how many tokens it wrote and ``output_text``
    what they read.
    """
    enc = encode_checked(model, text)
    notice = notice_of(model, enc)
    if model.arch != "decoder" or max_new_tokens is None:
        return capture_batch(model, [enc], [target], zero_positions=zero_positions, notices=[notice])[0]
    n_new, clamped = clamp_new_tokens(max_new_tokens)
    room = model.adapter.max_positions or model.max_tokens
    if n_new > room - len(enc.ids):  # the continuation must still fit the model's positions
        n_new = max(room - len(enc.ids), 0)
        room_note = _("The model has {room} positions: it writes {n_new} tokens after these {n_prompt}.").format(
            room=room, n_new=n_new, n_prompt=len(enc.ids))
        clamped = " ".join(n for n in (clamped, room_note) if n)
    notice = " ".join(n for n in (notice, clamped) if n) or None
    full = continued(model, enc, n_new) if n_new else enc
    # n_total counts the written tokens too, so the prompt's truncation is still what it was
    cap = capture_batch(model, [full], [None], zero_positions=zero_positions, notices=[notice])[0]
    written = full.ids[len(enc.ids):]
    cap.n_generated = len(written)
    cap.output_text = model.codec.decode(written)
    return cap
