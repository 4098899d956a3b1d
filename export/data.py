"""The data behind the figures: a Capture as NPZ (exact), tidy CSV, JSON, and every head as a ZIP of images.

NPZ keeps every array bit for bit (``load_npz`` gives the Capture back); CSV is
``Capture.to_frame()``, one row per weight; JSON writes float32 weights as the
shortest decimals that read back to the same float32.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from export.images import render_image
from export.names import file_name
from model import Capture
from model.types import ScoreForm
from viz.publication import check_head, head_figure

# Metadata strings stored as 0-d unicode arrays, so the NPZ loads with allow_pickle=False.
META = ("model_name", "notice", "positions_note", "output_text", "architecture")
PARTS = ("q", "k", "v")


def npz_bytes(cap: Capture) -> bytes:
    """The whole Capture (tokens, attentions, positions, q/k/v, score forms, metadata) as a compressed NPZ."""
    arrays: dict[str, np.ndarray] = {"tokens": np.asarray(cap.tokens, dtype=str), "truncated": np.bool_(cap.truncated),
                                     "n_generated": np.int64(cap.n_generated),
                                     "special_tokens": np.asarray(sorted(cap.special_tokens), dtype=str)}
    if cap.target_tokens is not None:
        arrays["target_tokens"] = np.asarray(cap.target_tokens, dtype=str)
    for kind in cap.kinds:
        arrays[f"attentions/{kind}"] = np.stack(list(cap.layers(kind)))  # [layers, heads, queries, keys]
        form = cap.score_forms[kind]
        arrays[f"score_form/{kind}"] = np.asarray([form.scale, form.causal, form.relative_bias], dtype=np.float64)
        for part in PARTS:
            arrays[f"qkv/{kind}/{part}"] = getattr(cap, part)[kind]  # [layers, heads, tokens, d_head]
        if kind in cap.bias:
            arrays[f"bias/{kind}"] = cap.bias[kind]  # [heads, queries + keys - 1]
    if cap.positions is not None:
        arrays["positions"] = cap.positions  # [tokens, d_model]
    for name in META:
        if (value := getattr(cap, name)) is not None:
            arrays[f"meta/{name}"] = np.asarray(value, dtype=str)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def load_npz(data: bytes | str) -> Capture:
    """A Capture back from ``npz_bytes`` output (bytes or a file path)."""
    with np.load(io.BytesIO(data) if isinstance(data, bytes) else data, allow_pickle=False) as z:
        files = set(z.files)
        parts: dict[str, dict[str, np.ndarray]] = {p: {} for p in PARTS}
        for name in files:
            if name.startswith("qkv/"):
                _, kind, part = name.split("/")
                parts[part][kind] = z[name]
        forms = {}
        for name in files:
            if name.startswith("score_form/"):
                scale, causal, relative = z[name]
                forms[name.split("/", 1)[1]] = ScoreForm(float(scale), bool(causal), bool(relative))
        return Capture(
            tokens=[str(t) for t in z["tokens"]],
            q=parts["q"], k=parts["k"], v=parts["v"], score_forms=forms,
            bias={n.split("/", 1)[1]: z[n] for n in files if n.startswith("bias/")},
            positions=z["positions"] if "positions" in files else None,
            target_tokens=[str(t) for t in z["target_tokens"]] if "target_tokens" in files else None,
            truncated=bool(z["truncated"]),
            n_generated=int(z["n_generated"]) if "n_generated" in files else 0,
            special_tokens=frozenset(str(t) for t in z["special_tokens"]) if "special_tokens" in files else frozenset(),
            **{m: str(z[f"meta/{m}"]) for m in META if f"meta/{m}" in files},
        )


# A cell starting with one of these is run as a formula by spreadsheets (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    """``value`` with a leading ``'`` when a spreadsheet would read it as a formula.

    Line breaks inside a token stay in the cell: the CSV writer quotes such a cell, so the row holds.
    """
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def csv_bytes(cap: Capture, kind: str | None = None, layer: int | None = None, head: int | None = None) -> bytes:
    """Tidy CSV, one row per weight: kind, layer, head, query, query_token, key, key_token, weight.

    Text cells (the tokens) that a spreadsheet would run as a formula get a leading ``'``."""
    df = cap.to_frame(kind, layer, head)
    for col in ("query_token", "key_token"):
        if col in df.columns:
            values = df[col].astype("category")
            cats = np.asarray([safe_cell(str(c)) for c in values.cat.categories], dtype=object)
            df[col] = cats[values.cat.codes.to_numpy()]  # one lookup per distinct token, not per row
    # Rows end in \r\n (RFC 4180): minimal quoting then quotes every cell holding \r or \n (with \n
    # alone a lone \r went unquoted), and a CSV reader splits rows only outside quotes.
    return df.to_csv(index=False, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL).encode("utf-8")


def csv_rows(cap: Capture, kind: str | None = None, layer: int | None = None, head: int | None = None) -> int:
    """How many rows ``csv_bytes`` would write, without building them."""
    total = 0
    for k in [kind] if kind else cap.kinds:
        n_layers, n_heads, nq, nk = cap.shape(k)
        total += (1 if layer is not None else n_layers) * (1 if head is not None else n_heads) * nq * nk
    return total


def json_dict(cap: Capture) -> dict:
    """Tokens, attentions ``{kind: [layer][head][query][key]}``, positions and metadata as plain JSON types."""
    return {
        "model_name": cap.model_name,
        "tokens": list(cap.tokens),
        "target_tokens": cap.target_tokens,
        "truncated": cap.truncated,
        "notice": cap.notice,
        "output_text": cap.output_text,
        "attention_shape": "[layers, heads, queries, keys]",
        "attentions": {kind: [att.tolist() for att in cap.layers(kind)] for kind in cap.kinds},
        "positions": cap.positions.tolist() if cap.positions is not None else None,
        "positions_note": cap.positions_note,
    }


def json_bytes(cap: Capture) -> bytes:
    return json.dumps(json_dict(cap), ensure_ascii=False).encode("utf-8")


def zip_bytes(files: Iterable[tuple[str, bytes | str]], fmt: str) -> bytes:
    """One ZIP of ``(name, data)`` files of one format."""
    buf = io.BytesIO()
    # PNG and PDF are compressed already; deflating them again only costs time.
    compression = zipfile.ZIP_STORED if fmt in ("png", "pdf") else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in files:
            zf.writestr(name, data)
    return buf.getvalue()


def all_heads_zip(cap: Capture, kind: str = "encoder", *, fmt: str = "png", width: int | None = None,
                  height: int | None = None, scale: float = 1.0, colorscale: str = "Blues",
                  progress: Callable[[int, int], None] | None = None) -> bytes:
    """Every head of every layer of ``kind`` as one ZIP of images named ``minilm_L2_H5_encoder.png``."""
    check_head(cap, kind, 0, 0)
    n_layers, n_heads = cap.shape(kind)[:2]

    def images() -> Iterator[tuple[str, bytes]]:
        for layer in range(n_layers):
            for head in range(n_heads):
                fig = head_figure(cap, kind, layer, head, colorscale=colorscale)
                yield (f"{file_name(cap.model_name, f'L{layer}', f'H{head}', kind)}.{fmt}",
                       render_image(fig, fmt, width=width, height=height, scale=scale))
                if progress:
                    progress(layer * n_heads + head + 1, n_layers * n_heads)

    return zip_bytes(images(), fmt)
