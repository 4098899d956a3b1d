"""Interventions: knock heads out, patch them from another sentence, and measure what the model does.

A head's output is its slice of the input of the attention's output projection, ``(B, T,
heads * d_head)``: a forward pre-hook there (named by the adapter's ``head_outputs``) replaces
the slice by zeros, by its mean over positions, or by the same head's output on a second
sentence of the same token length (activation patching). One measure per model kind says how
much the output changed (positive: the intervention hurt):

- an encoder: ``1 - cosine`` of the mean over tokens of the last hidden state, with and without;
- an encoder-decoder: the drop in log-probability of the output the unchanged model wrote
  (teacher-forced);
- a decoder: the drop in log-probability of the next token the unchanged model predicts, or of
  a continuation the user gives.

``head_importance`` runs one ablated copy of the input per head, many copies a batch, and
``attribution`` estimates the same from one backward pass (gradient x activation change).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F

from i18n import _
from model.capture import encode_checked, padded, target_ids_of
from model.hooks import hooked
from model.types import LoadedModel

MODES = ("zero", "mean", "patch")
MAX_BATCH_TOKENS = 4096  # ablated copies of one input in one pass: copies x tokens

Head = tuple[str, int, int]  # (kind, layer, head)


@dataclass
class Inputs:
    """One tokenised input, ready to run (batch of one), and what the measure scores."""

    ids: torch.Tensor  # (1, T)
    mask: torch.Tensor  # (1, T)
    target: torch.Tensor | None  # (1, U): encoder-decoder decoder inputs
    scored: int  # decoder: how many of the last tokens are a continuation to score (0: the next token)
    tokens: list[str]


def measure_name(model: LoadedModel, continuation: str | None = None) -> str:
    """What the effect of an intervention means for this model, said for the page."""
    if model.arch == "encoder":
        return _("1 − cosine of the sentence embedding (mean of the last hidden states)")
    if model.arch == "encoder-decoder":
        return _("drop in log-probability of the output the unchanged model wrote")
    if continuation:
        return _("drop in log-probability of the continuation")
    return _("drop in log-probability of the next token the unchanged model predicts")


def prepare(model: LoadedModel, text: str, continuation: str | None = None) -> Inputs:
    """Tokenise ``text`` (and a decoder's ``continuation``); an encoder-decoder's target is what it writes."""
    enc = encode_checked(model, text)
    rows, scored = list(enc.ids), 0
    if continuation and model.arch == "decoder":
        try:
            continuation.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(_("The continuation is not valid Unicode: it holds unpaired surrogate "
                             "characters.")) from exc
        extra = model.codec.full.encode(continuation, add_special_tokens=False).ids
        if not extra:
            raise ValueError(_("The continuation has no tokens to score: type the words the model should write."))
        rows = (rows + extra)[: model.max_tokens]
        scored = max(0, len(rows) - len(enc.ids))
    ids, mask = padded([rows], model.adapter.pad_id)
    target = None
    if model.arch == "encoder-decoder":
        with torch.no_grad():  # not inference_mode: attribution runs a backward pass over these ids
            target = torch.tensor(target_ids_of(model, ids, mask, [None]))  # (1, U)
    return Inputs(ids, mask, target, scored, enc.tokens)


def score(model: LoadedModel, inputs: Inputs, out: torch.Tensor) -> torch.Tensor:
    """What the measure compares, per batch row: an embedding (B, d) or a log-probability (B,)."""
    if model.arch == "encoder":
        return out.mean(dim=1)  # (B, d): every token is real (one sentence, no padding)
    logp = F.log_softmax(out.float(), dim=-1)  # (B, T, V)
    if model.arch == "encoder-decoder":
        nxt = inputs.target[:, 1:].expand(out.shape[0], -1)  # (B, U-1): each next target token
        return logp[:, :-1].gather(-1, nxt[..., None])[..., 0].sum(-1)
    if inputs.scored:
        n = inputs.scored
        nxt = inputs.ids[:, -n:].expand(out.shape[0], -1)  # (B, n)
        return logp[:, -n - 1:-1].gather(-1, nxt[..., None])[..., 0].sum(-1)
    return logp[:, -1]  # (B, V): the next token is chosen from the clean run


def effect(model: LoadedModel, clean: torch.Tensor, changed: torch.Tensor, next_token: int | None) -> torch.Tensor:
    """(B,) how much each changed score fell from the clean one (1 row)."""
    if model.arch == "encoder":
        return 1.0 - F.cosine_similarity(changed, clean.expand_as(changed), dim=-1)
    if next_token is not None:
        return clean[:, next_token] - changed[:, next_token]
    return clean - changed


def layers_of(model: LoadedModel) -> dict[str, int]:
    """Layers of each kind of attention, from the adapter's output projections."""
    found: dict[str, int] = {}
    for kind, layer in model.adapter.head_outputs(model.net).values():
        found[kind] = max(found.get(kind, 0), layer + 1)
    return found


def every_head(model: LoadedModel) -> list[Head]:
    return [(kind, layer, head) for kind, n in layers_of(model).items()
            for layer in range(n) for head in range(model.adapter.n_heads)]


Plan = dict[tuple[str, int], list[tuple[int | None, int]]]  # (kind, layer) -> (row or None for all, head)


def plan_of(heads: Iterable[Head], row: int | None = None) -> Plan:
    plan: Plan = {}
    for kind, layer, head in heads:
        plan.setdefault((kind, layer), []).append((row, head))
    return plan


@contextmanager
def intervening(model: LoadedModel, plan: Plan, mode: str = "zero",
                source: dict[tuple[str, int], torch.Tensor] | None = None) -> Iterator[None]:
    """Inside the block, this thread's forward passes of ``model`` have the planned heads replaced:
    by zeros, by the head's mean over positions, or by ``source[(kind, layer)]`` (1, T, H*dh), the
    heads' outputs on another sentence of the same token length. Captures run inside see it too."""
    if mode not in MODES:
        raise ValueError(f"an intervention is one of {', '.join(MODES)}, not {mode!r}")
    if mode == "patch" and source is None:
        raise ValueError("patching needs the heads' outputs on a second sentence")
    outputs = model.adapter.head_outputs(model.net)
    modules = dict(model.net.named_modules())
    n_heads = model.adapter.n_heads

    def replace(name: str, z: torch.Tensor) -> torch.Tensor | None:
        pairs = plan.get(outputs[name])
        if not pairs:
            return None
        dh = z.shape[-1] // n_heads
        z = z.clone()  # (B, T, H * dh)
        for row, head in pairs:
            rows = slice(None) if row is None else row
            cols = slice(head * dh, (head + 1) * dh)
            if mode == "zero":
                z[rows, :, cols] = 0.0
            elif mode == "mean":
                z[rows, :, cols] = z[rows, :, cols].mean(dim=-2, keepdim=True)
            else:
                z[rows, :, cols] = source[outputs[name]][0, :, cols]
        return z

    with hooked({n: modules[n] for n in outputs}, replace, on_input=True):
        yield


def forward(model: LoadedModel, inputs: Inputs, rows: int = 1) -> torch.Tensor:
    """The model's output tensor on ``rows`` copies of ``inputs``."""
    ids, mask = inputs.ids.expand(rows, -1), inputs.mask.expand(rows, -1)
    target = None if inputs.target is None else inputs.target.expand(rows, -1)
    result = model.adapter.forward(model.net, ids, mask, target, None if target is None else torch.ones_like(target))
    return model.adapter.output(model.net, result)


def head_outputs_on(model: LoadedModel, inputs: Inputs) -> dict[tuple[str, int], torch.Tensor]:
    """Every attention's head outputs (1, T, H*dh) on ``inputs``: the source of a patch."""
    outputs = model.adapter.head_outputs(model.net)
    modules = dict(model.net.named_modules())
    found: dict[tuple[str, int], torch.Tensor] = {}

    def keep(name: str, z: torch.Tensor) -> None:
        found[outputs[name]] = z.detach().clone()

    with hooked({n: modules[n] for n in outputs}, keep, on_input=True), torch.inference_mode():
        forward(model, inputs)
    return found


def patch_source(model: LoadedModel, text: str, corrupted: str | None, mode: str) -> dict | None:
    """The second sentence's head outputs for a patch, checked to have the first one's token length."""
    if mode != "patch":
        return None
    if not corrupted:
        raise ValueError(_("Patching needs a second sentence to take the heads' outputs from."))
    clean, other = prepare(model, text), prepare(model, corrupted)
    if other.ids.shape != clean.ids.shape:
        raise ValueError(_("The two sentences must have the same number of tokens to patch one into the other: "
                           "{n_first} and {n_second}.").format(n_first=clean.ids.shape[1],
                                                              n_second=other.ids.shape[1]))
    return head_outputs_on(model, other)


@dataclass
class Outcome:
    """One intervention's effect and what the model wrote or predicted, before and after."""

    measure: str
    effect: float
    before: str
    after: str


def describe(model: LoadedModel, inputs: Inputs, out: torch.Tensor, clean: torch.Tensor) -> str:
    """What the output shows a reader: cosine to the clean embedding, or the top next tokens."""
    if model.arch == "encoder":
        cos = float(F.cosine_similarity(out.mean(1), clean.mean(1), dim=-1)[0])
        return _("an embedding at cosine {cos} to the unchanged one").format(cos=f"{cos:.4f}")
    probs = F.softmax(out[0, -1].float(), dim=-1)
    top = torch.topk(probs, 5)
    codec = model.target_codec or model.codec
    return ", ".join(f"{codec.decode([int(i)])!r} {float(p):.1%}" for p, i in zip(top.values, top.indices, strict=True))


def intervene(model: LoadedModel, text: str, heads: Iterable[Head], mode: str = "zero",
              corrupted: str | None = None, continuation: str | None = None) -> Outcome:
    """The effect of replacing ``heads`` (all at once) on ``text``, and the output before and after."""
    heads = list(heads)
    inputs = prepare(model, text, continuation)
    source = patch_source(model, text, corrupted, mode)
    with torch.inference_mode():
        clean = forward(model, inputs)
        with intervening(model, plan_of(heads), mode, source):
            changed = forward(model, inputs)
            if model.arch == "encoder-decoder":
                after = model.target_codec.decode(target_ids_of(model, inputs.ids, inputs.mask, [None])[0])
    clean_score, changed_score = score(model, inputs, clean), score(model, inputs, changed)
    next_token = next_token_of(model, inputs, clean_score)
    value = float(effect(model, clean_score, changed_score, next_token)[0])
    if model.arch == "encoder-decoder":
        before = model.target_codec.decode(inputs.target[0].tolist())
    elif model.arch == "encoder":
        before, after = _("the sentence embedding"), describe(model, inputs, changed, clean)
    else:
        before, after = describe(model, inputs, clean, clean), describe(model, inputs, changed, clean)
    return Outcome(measure_name(model, continuation), value, before, after)


def next_token_of(model: LoadedModel, inputs: Inputs, clean_score: torch.Tensor) -> int | None:
    """A decoder's next token as the unchanged model predicts it (None where the measure scores more)."""
    if model.arch != "decoder" or inputs.scored:
        return None
    return int(clean_score[0].argmax())


def head_importance(model: LoadedModel, text: str, mode: str = "zero", corrupted: str | None = None,
                    continuation: str | None = None) -> pd.DataFrame:
    """One row per head (``kind``, ``layer``, ``head``, ``effect``): that head alone replaced, exactly,
    as many ablated copies of the input a forward pass as ``MAX_BATCH_TOKENS`` allows."""
    inputs = prepare(model, text, continuation)
    source = patch_source(model, text, corrupted, mode)
    heads = every_head(model)
    per_pass = max(1, MAX_BATCH_TOKENS // inputs.ids.shape[1])
    effects = []
    with torch.inference_mode():
        clean_score = score(model, inputs, forward(model, inputs))
        next_token = next_token_of(model, inputs, clean_score)
        for start in range(0, len(heads), per_pass):
            chunk = heads[start:start + per_pass]
            plan: Plan = {}
            for row, (kind, layer, head) in enumerate(chunk):
                plan.setdefault((kind, layer), []).append((row, head))
            with intervening(model, plan, mode, source):
                changed = score(model, inputs, forward(model, inputs, rows=len(chunk)))
            effects.append(effect(model, clean_score, changed, next_token))
    frame = pd.DataFrame(heads, columns=["kind", "layer", "head"])
    frame["effect"] = torch.cat(effects).float().numpy()
    return frame


def attribution(model: LoadedModel, text: str, mode: str = "zero", corrupted: str | None = None,
                continuation: str | None = None) -> pd.DataFrame:
    """Every head's effect estimated from one backward pass: -(gradient . change of its output).

    The first-order term of the measure in each head's output. An encoder's ``1 - cosine`` is flat at
    the unchanged embedding, so there the estimate is that of the embedding's drop along its own
    direction, which ranks heads rather than predicting the value.
    """
    inputs = prepare(model, text, continuation)
    source = patch_source(model, text, corrupted, mode)
    outputs = model.adapter.head_outputs(model.net)
    modules = dict(model.net.named_modules())
    kept: dict[tuple[str, int], torch.Tensor] = {}

    def keep(name: str, z: torch.Tensor) -> torch.Tensor | None:
        if z.requires_grad:
            kept[outputs[name]] = z
            return None
        leaf = z.detach().requires_grad_(True)  # the first head outputs the measure depends on
        kept[outputs[name]] = leaf
        return leaf

    with torch.enable_grad(), hooked({n: modules[n] for n in outputs}, keep, on_input=True):
        out = forward(model, inputs)
        clean_score = score(model, inputs, out)
        if model.arch == "encoder":
            direction = clean_score.detach() / clean_score.detach().norm()
            metric = (clean_score * direction).sum() / clean_score.detach().norm()
        else:
            next_token = next_token_of(model, inputs, clean_score.detach())
            metric = clean_score[0, next_token] if next_token is not None else clean_score.sum()
        # gradients of the head outputs only: no parameter's gradient is made or kept
        grads = dict(zip(kept, torch.autograd.grad(metric, list(kept.values()), allow_unused=True), strict=True))
    n_heads = model.adapter.n_heads
    rows = []
    for (kind, layer), z in kept.items():
        dh = z.shape[-1] // n_heads
        zc = z.detach()
        grad = grads[(kind, layer)]
        if grad is None:  # a head output the measure does not read
            grad = torch.zeros_like(zc)
        if mode == "zero":
            new = torch.zeros_like(zc)
        elif mode == "mean":
            new = zc.mean(dim=-2, keepdim=True).expand_as(zc)
        else:
            new = source[(kind, layer)]
        change = (grad * (new - zc)).view(*zc.shape[:-1], n_heads, dh).sum(dim=(0, 1, 3))  # (H,)
        rows += [(kind, layer, head, float(-change[head])) for head in range(n_heads)]
    frame = pd.DataFrame(rows, columns=["kind", "layer", "head", "estimate"])
    return frame.sort_values(["kind", "layer", "head"], key=_kind_order).reset_index(drop=True)


def agreement(exact: pd.DataFrame, estimate: pd.DataFrame) -> float:
    """Spearman rank correlation of the exact effects and their estimates, head by head."""
    both = exact.merge(estimate, on=["kind", "layer", "head"])
    if len(both) < 2 or both["effect"].nunique() < 2 or both["estimate"].nunique() < 2:
        return float("nan")
    return float(both["effect"].corr(both["estimate"], method="spearman"))


def _kind_order(column: pd.Series) -> pd.Series:
    if column.name == "kind":
        return column.map({"encoder": 0, "decoder": 1, "cross": 2})
    return column
