"""Capture overhead: our forward, capture() and the transformers eager forward on MiniLM.

    python -m bench.capture [--repeats 15] [--threads 1]

Prints, at 16, 128 and 512 tokens, the median of several runs (timed in turns) of: our forward pass
without hooks, ``capture()`` (hooks, copies to numpy, Capture), and the reference
``transformers`` BertModel forward (eager attention, output_attentions=True), with
the ratios capture/forward and ours/transformers.
"""

from __future__ import annotations

import argparse

import torch
from transformers import BertModel

from bench.common import interleaved_medians, markdown_table, text_of_tokens
from model import capture, load_model
from model.loading import minilm_dir

SIZES = (16, 128, 512)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; 1 gives steadier timings on a small machine")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model = load_model("minilm")
    reference = BertModel.from_pretrained(str(minilm_dir()), attn_implementation="eager").eval()
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
            [ours, lambda text=text: capture(model, text), reference_forward], args.repeats)
        rows.append([n, f"{t_ours * 1e3:.1f}", f"{t_capture * 1e3:.1f}", f"{t_ref * 1e3:.1f}",
                     f"{t_capture / t_ours:.2f}x", f"{t_ours / t_ref:.2f}x"])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, median of {args.repeats} runs (ms)\n")
    print(markdown_table(["tokens", "our forward", "capture()", "transformers eager", "capture / forward",
                          "ours / transformers"], rows))


if __name__ == "__main__":
    main()
