"""Export figures and data from the command line, without a browser window or Streamlit.

    python -m export "The cat sat on the mat." --model minilm --layer 2 --head 5 --format png --out plots/

writes ``plots/minilm_L2_H5_encoder.png``. See ``--help`` for ``--all-heads``,
``--view grid|head|positions``, ``--format png|svg|pdf|html|csv|npz|json`` and
``--input FILE`` (one sentence per line). ``--format csv`` writes every weight of every head, as
the page's CSV does (``minilm_attention.csv``); ``--kind``, ``--layer`` and ``--head`` keep only those.
Prints each file it writes; exits 2 with a message on a bad argument and 1 when an image cannot be rendered.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import plotly.graph_objects as go

from export import data as data_export
from export.images import (
    IMAGE_FORMATS,
    ChromiumMissing,
    ImageExportError,
    check_image_size,
    figure_html,
    find_chromium,
    render_image,
)
from export.names import file_name
from model import Capture, ModelLoadError, capture, load_model
from viz.grid import model_view_figure
from viz.positional import positions_heatmap
from viz.publication import check_head, for_print, head_figure

DATA_FORMATS = ("csv", "npz", "json")
FORMATS = (*IMAGE_FORMATS, "html", *DATA_FORMATS)
VIEWS = ("head", "grid", "positions")
MAX_INPUT_BYTES = 1_000_000
MAX_MODEL_NAME = 255


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m export",
        description="Write attention figures (PNG, SVG, PDF, offline HTML) or the data behind them "
                    "(CSV, NPZ, JSON) for one or more sentences.",
    )
    p.add_argument("text", nargs="?", help="the sentence (or use --input)")
    p.add_argument("--input", type=Path, metavar="FILE", help="a text file with one sentence per line")
    p.add_argument("--model", default="minilm", help="'minilm' (default), 'translator' or a checkpoint folder")
    p.add_argument("--target", help="teacher-forced target text for an encoder-decoder model")
    p.add_argument("--view", choices=VIEWS, default="head",
                   help="head: one head's heatmap (default); grid: every layer x head; positions: positional encodings")
    p.add_argument("--kind", choices=("encoder", "decoder", "cross"),
                   help="which attention (default: the model's first: encoder, else decoder)")
    p.add_argument("--layer", type=int, default=None,
                   help="layer, from 0 (default 0; for csv, every layer unless given)")
    p.add_argument("--head", type=int, default=None,
                   help="head, from 0 (default 0; for csv, every head unless given)")
    p.add_argument("--all-heads", action="store_true",
                   help="every head of every layer (of --layer only, when it is given), one file each")
    p.add_argument("--zip", action="store_true",
                   help="with --all-heads: one ZIP of the images instead of a file per head")
    p.add_argument("--format", choices=FORMATS, default="png", help="file format (default png)")
    p.add_argument("--out", type=Path, default=Path("."), help="output folder (created if missing; default .)")
    p.add_argument("--width", type=int, help="image width in layout pixels (default: the figure's, else 900)")
    p.add_argument("--height", type=int, help="image height in layout pixels (default: the figure's)")
    p.add_argument("--scale", type=float, default=2.0, help="pixel multiplier for PNG: 2 for print (default 2)")
    p.add_argument("--colorscale", default="Blues", help="Plotly colour scale name (default Blues)")
    args = p.parse_args(argv)
    for name in ("width", "height", "scale"):
        if (v := getattr(args, name)) is not None and not v > 0:
            p.error(f"--{name} must be positive, got {v}")
    try:
        check_image_size(args.width, args.height, args.scale, args.format)
    except ValueError as exc:
        msg = str(exc)
        p.error(f"--{msg}" if msg.startswith(("width", "height", "scale")) else msg)
    if len(args.model) > MAX_MODEL_NAME or "\0" in args.model:
        p.error(f"--model: a name or folder of at most {MAX_MODEL_NAME} characters, got {len(args.model)}")
    check_out(p, args.out)
    for name in ("layer", "head"):
        if (v := getattr(args, name)) is not None and v < 0:
            p.error(f"--{name} must be 0 or more, got {v}")
    if args.zip and not (args.all_heads and args.format in (*IMAGE_FORMATS, "html")):
        p.error("--zip bundles the figures of --all-heads: use it with --all-heads and png, svg, pdf or html")
    args.sentences = read_sentences(p, args)
    return args


def read_sentences(p: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    if args.text is not None and args.input is not None:
        p.error("give a sentence or --input FILE, not both")
    if args.input is not None:
        lines = read_input(p, args.input).splitlines()
        sentences = [line.strip() for line in lines if line.strip()]
        if not sentences:
            p.error(f"--input {args.input} holds no sentences (one sentence per line)")
        return sentences
    if args.text is None or not args.text.strip():
        p.error("the input is empty: give a sentence, e.g. \"The cat sat on the mat.\", or --input FILE")
    return [args.text.strip()]


def read_input(p: argparse.ArgumentParser, path: Path) -> str:
    """The text of ``path``: a regular UTF-8 text file of at most ``MAX_INPUT_BYTES``, else a one-line exit 2."""
    try:
        # O_NONBLOCK: opening a FIFO with no writer must not wait; fstat then refuses it
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        p.error(f"cannot read --input {path}: {exc.strerror or exc}")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        p.error(f"--input {path} is not a regular file")
    with os.fdopen(fd, "rb") as f:
        try:
            raw = f.read(MAX_INPUT_BYTES + 1)
        except OSError as exc:
            p.error(f"cannot read --input {path}: {exc.strerror or exc}")
    if len(raw) > MAX_INPUT_BYTES:
        p.error(f"--input {path} is larger than {MAX_INPUT_BYTES:,} bytes")
    if b"\0" in raw:
        p.error(f"--input {path} is a binary file, not text (one sentence per line)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        p.error(f"--input {path} is not UTF-8 text (byte {exc.start}): save it as UTF-8")


def check_out(p: argparse.ArgumentParser, out: Path) -> None:
    """``--out`` must be a folder we can write in, or one we can create."""
    if out.is_symlink() and not out.is_dir():
        p.error(f"--out {out} is a link that does not lead to a folder")
    if out.exists():
        if not out.is_dir():
            p.error(f"--out {out} exists and is not a folder")
        if not os.access(out, os.W_OK | os.X_OK):
            p.error(f"--out {out} is not writable")
        return
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        p.error(f"--out {out}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        p.error(f"--out {out} cannot be created: {parent} is not writable")


def view_figures(cap: Capture, args: argparse.Namespace, kind: str) -> Iterator[tuple[str, go.Figure]]:
    """(file stem, figure) pairs for the chosen view."""
    if args.view == "head":
        n_layers, n_heads = cap.shape(kind)[:2]
        if args.all_heads:
            layers = [args.layer] if args.layer is not None else range(n_layers)
            heads = range(n_heads)
        else:
            layers, heads = [args.layer or 0], [args.head or 0]
        for layer in layers:
            for head in heads:
                yield file_name(cap.model_name, f"L{layer}", f"H{head}", kind), head_figure(
                    cap, kind, layer, head, colorscale=args.colorscale)
    elif args.view == "grid":
        title = f"{cap.model_name} · {kind} attention · every layer (rows) x head (columns)"
        yield file_name(cap.model_name, "grid", kind), for_print(model_view_figure(
            cap.thumbnails(kind), title=title, colorscale=args.colorscale))
    else:
        yield file_name(cap.model_name, "positions"), for_print(positions_figure(cap))


def positions_figure(cap: Capture) -> go.Figure:
    """The positional vectors the model added, one row per token."""
    if cap.positions is None:
        raise ValueError(cap.positions_note or f"{cap.model_name} has no positional encodings to draw")
    return positions_heatmap(cap.positions, cap.tokens, title=f"{cap.model_name} · positional encodings "
                                                                f"added at each position")


def write(path: Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` through a temp file in the same folder and ``os.replace``.

    A link (or anything else) planted at ``path`` is replaced, never followed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir() and not path.is_symlink():
        raise OSError(21, "Is a directory", str(path))
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.chmod(tmp, 0o644 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def export_one(cap: Capture, args: argparse.Namespace, prefix: str) -> list[Path]:
    """Write what ``args`` asks for one Capture; returns the paths written."""
    kind = args.kind or cap.kinds[0]
    check_head(cap, kind, args.layer or 0, args.head or 0)
    out: Path = args.out
    if args.format == "npz":
        return [write(out / f"{prefix}{file_name(cap.model_name, 'capture')}.npz", data_export.npz_bytes(cap))]
    if args.format == "json":
        return [write(out / f"{prefix}{file_name(cap.model_name, 'capture')}.json", data_export.json_bytes(cap))]
    if args.format == "csv":
        # Every weight, as the page's CSV holds; --kind, --layer and --head filter it (a layer or head
        # alone is one of the model's first kind, which check_head read it against).
        layer, head = args.layer, args.head
        csv_kind = args.kind or (kind if layer is not None or head is not None else None)
        name = (file_name(cap.model_name, None if layer is None else f"L{layer}", None if head is None else f"H{head}",
                          csv_kind) if csv_kind else file_name(cap.model_name, "attention"))
        return [write(out / f"{prefix}{name}.csv", data_export.csv_bytes(cap, csv_kind, layer, head))]
    files = ((f"{prefix}{stem}.{args.format}", figure_bytes(fig, args)) for stem, fig in view_figures(cap, args, kind))
    if args.zip:
        layers = f"L{args.layer}" if args.layer is not None else "all"
        path = out / f"{prefix}{file_name(cap.model_name, layers, 'heads', kind, args.format)}.zip"
        return [write(path, data_export.zip_bytes(files, args.format))]
    return [write(out / name, data) for name, data in files]


def figure_bytes(fig: go.Figure, args: argparse.Namespace) -> bytes:
    if args.format == "html":
        return figure_html(fig).encode("utf-8")
    return render_image(fig, args.format, width=args.width, height=args.height, scale=args.scale)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.format in IMAGE_FORMATS:
        try:
            find_chromium()  # fail before loading the model, with the install hint
        except ChromiumMissing as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    try:
        model = load_model(args.model)
    except (ModelLoadError, OSError, ValueError) as exc:
        print(f"error: unknown or unreadable model '{args.model}': {exc}", file=sys.stderr)
        return 2
    width = len(str(len(args.sentences)))
    for i, sentence in enumerate(args.sentences, start=1):
        prefix = f"s{i:0{width}d}_" if len(args.sentences) > 1 else ""
        try:
            cap = capture(model, sentence, args.target)
            if cap.notice:
                print(f"note ({prefix or 'sentence'}): {cap.notice}", file=sys.stderr)
            for path in export_one(cap, args, prefix):
                print(path)
        except (ChromiumMissing, ImageExportError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except OSError as exc:
            print(f"error: cannot write to --out {args.out}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
