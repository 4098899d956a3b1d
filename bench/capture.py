"""Capture cost: time against our plain forward and transformers, bytes kept, one head, the model view.

    python -m bench.capture [--repeats 15] [--threads 1]

On MiniLM at 16, 128 and 512 tokens, the median of several runs (timed in turns) of: our forward
pass without hooks, ``capture()`` (hooks, copies to numpy, Capture), and the reference
``transformers`` BertModel forward (eager attention, output_attentions=True), with the ratios
capture/forward and ours/transformers. Then, at 510 tokens: the bytes a Capture keeps against the
dense ``[layers, heads, T, T]`` weights (what a Capture held before), the time of ``cap.head()``
for one head, and the model view's thumbnails (built once per capture from q and k) against
pooling the dense weights, which the model view did on every rerun before.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from transformers import BertModel

from bench.common import interleaved_medians, markdown_table, text_of_tokens
from model import capture, load_model
from model.loading import minilm_dir
from viz.grid import thumbnails

SIZES = (16, 128, 512)
LONG = 510


def timings(model, reference, repeats: int) -> list[list[object]]:
    rows = []
    for n in SIZES:
        text = text_of_tokens(model.codec, n)
        ids = torch.tensor([model.codec.encode(text).ids])  # (1, n)

        def ours(ids: torch.Tensor = ids) -> None:
            with torch.inference_mode():
                model.net(ids)

        def reference_forward(ids: torch.Tensor = ids) -> None:
            with torch.inference_mode():
                reference(ids, output_attentions=True)

        t_ours, t_capture, t_ref = interleaved_medians(
            [ours, lambda text=text: capture(model, text), reference_forward], repeats)
        rows.append([n, f"{t_ours * 1e3:.1f}", f"{t_capture * 1e3:.1f}", f"{t_ref * 1e3:.1f}",
                     f"{t_capture / t_ours:.2f}x", f"{t_ours / t_ref:.2f}x"])
    return rows


def long_capture(model, repeats: int) -> list[list[object]]:
    cap = capture(model, text_of_tokens(model.codec, LONG))
    dense = cap.attentions["encoder"]  # what a Capture held before: every weight, float32
    dense_bytes = dense.nbytes + cap.q["encoder"].nbytes * 3  # + the q, k, v it also kept
    # the model view's thumbnails: built once from q and k, against pooling dense weights (every rerun before)
    assert np.abs(cap.thumbnails("encoder").astype(int) - thumbnails(dense).astype(int)).max() <= 1

    def first_thumbnails() -> np.ndarray:
        cap.thumbs.clear()
        return cap.thumbnails("encoder")

    t_head, t_dense_head, t_thumbs, t_dense_thumbs = interleaved_medians([
        lambda: cap.head("encoder", 3, 7),
        lambda: dense[3, 7].copy(),
        first_thumbnails,
        lambda: thumbnails(dense),
    ], repeats)
    kept = cap.nbytes
    return [
        ["bytes kept per capture (MB)", f"{kept / 1e6:.1f}", f"{dense_bytes / 1e6:.1f}",
         f"{dense_bytes / kept:.1f}x fewer"],
        ["one head, cap.head() vs a slice (ms)", f"{t_head * 1e3:.2f}", f"{t_dense_head * 1e3:.2f}", ""],
        ["model view thumbnails, first draw (ms)", f"{t_thumbs * 1e3:.0f}", f"{t_dense_thumbs * 1e3:.0f}",
         "later draws: cached"],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; 1 gives steadier timings on a small machine")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model = load_model("minilm")
    reference = BertModel.from_pretrained(str(minilm_dir()), attn_implementation="eager").eval()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, median of {args.repeats} runs (ms)\n")
    print(markdown_table(["tokens", "our forward", "capture()", "transformers eager", "capture / forward",
                          "ours / transformers"], timings(model, reference, args.repeats)))
    print(f"\nMiniLM at {LONG} tokens: a Capture against the dense weights it replaced\n")
    print(markdown_table(["", "Capture", "dense weights", "ratio"], long_capture(model, args.repeats)))


if __name__ == "__main__":
    main()
