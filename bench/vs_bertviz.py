"""Bytes and build time of the model view and head view, side by side with BertViz, on MiniLM, up to 510 tokens.

    pip install -r bench/requirements.txt
    python -m bench.vs_bertviz [--sizes 16 64 128 256 510] [--repeats 3]

Same checkpoint, same texts (exactly N tokens, [CLS] and [SEP] included), one run:

- BertViz: the ``transformers`` BertModel from the same folder (eager attention,
  ``output_attentions=True``) forward pass, then ``model_view(attention, tokens,
  html_action="return")``; its bytes are the length of the HTML it returns (every
  weight written as JSON text).
- Ours: text -> ``capture()`` -> the model view and head view figures the dashboard
  draws by default (``bench.payload.sent_json``: layer 0, head 0), each serialised as
  ``st.plotly_chart`` sends it. Timed twice: text to the model view's JSON alone, and
  text to both views' JSON; both include the forward pass.

Before timing, the two sides' layer-0 head-0 weights are checked equal (1e-4), so
both draw the same numbers. Both sides run with ``--threads`` torch threads (1 by default,
as ``bench.payload``: on a shared machine, more threads than free cores slows every forward
pass). Times are medians of ``--repeats`` runs (BertViz: one run from 256 tokens up, where it
takes seconds and gigabytes). Ratios are BertViz / ours: above 1 means ours is smaller or faster.
"""

from __future__ import annotations

import argparse

import numpy as np
import plotly.io
import torch

from bench.common import markdown_table, median_time, text_of_tokens
from bench.payload import SLOW_FROM, sent_json
from model import LoadedModel, capture, load_model
from model.loading import minilm_dir
from viz.grid import model_view_figure

SIZES = (16, 64, 128, 256, 510)


def load_reference():
    """The ``transformers`` BertModel of the same MiniLM checkpoint, with attention weights out."""
    from transformers import BertModel

    return BertModel.from_pretrained(str(minilm_dir()), attn_implementation="eager").eval()


def reference_attentions(reference, ids: list[int]) -> tuple[torch.Tensor, ...]:
    with torch.inference_mode():
        return reference(torch.tensor([ids]), output_attentions=True).attentions  # L x (1, H, T, T)


def bertviz_html(reference, ids: list[int], tokens: list[str]) -> str:
    """BertViz's model view of these tokens as the HTML it returns, forward pass included."""
    from bertviz import model_view  # bench-only dependency: bench/requirements.txt

    return model_view(reference_attentions(reference, ids), tokens, html_action="return").data


def ours_bytes(model: LoadedModel, text: str) -> dict[str, int]:
    """Text -> Capture -> each view's figure JSON; the bytes of each, as Streamlit sends them."""
    return {view: len(spec.encode()) for view, spec in sent_json(capture(model, text)).items()}


def model_view_json(model: LoadedModel, text: str) -> str:
    """Text -> Capture -> the model view's JSON alone, with the figure ``sent_json`` makes."""
    grid = model_view_figure(capture(model, text).attentions["encoder"], title="model view", selected=(0, 0))
    return plotly.io.to_json(grid, validate=False)


def compare(model: LoadedModel, reference, n: int, repeats: int) -> dict[str, float]:
    """Bytes and seconds of both tools on one text of ``n`` tokens."""
    text = text_of_tokens(model.codec, n)
    enc = model.codec.encode(text)
    np.testing.assert_allclose(capture(model, text).attentions["encoder"][0, 0],
                               reference_attentions(reference, enc.ids)[0][0, 0].numpy(), atol=1e-4)
    sent = ours_bytes(model, text)
    t_model = median_time(lambda: model_view_json(model, text), repeats)
    t_ours = median_time(lambda: sent_json(capture(model, text)), repeats)
    html_bytes = len(bertviz_html(reference, enc.ids, enc.tokens).encode())  # also its warm-up
    t_bv = median_time(lambda: bertviz_html(reference, enc.ids, enc.tokens),
                       1 if n >= SLOW_FROM else repeats, warmup=0)
    return {"tokens": n, "bertviz_bytes": html_bytes, "bertviz_s": t_bv, "model_s": t_model, "ours_s": t_ours,
            "model_bytes": sent["model view"], "head_bytes": sent["head view"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads, for both sides")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model = load_model("minilm")
    reference = load_reference()
    rows, results = [], []
    for n in args.sizes:
        r = compare(model, reference, n, args.repeats)
        results.append(r)
        rows.append([n, f"{r['bertviz_bytes'] / 1e6:,.1f}", f"{r['model_bytes'] / 1e3:,.0f}",
                     f"{r['head_bytes'] / 1e3:,.0f}", f"{r['bertviz_bytes'] / r['model_bytes']:,.0f}x",
                     f"{r['bertviz_bytes'] / (r['model_bytes'] + r['head_bytes']):,.0f}x",
                     f"{r['bertviz_s']:.2f}", f"{r['model_s']:.2f}", f"{r['bertviz_s'] / r['model_s']:.1f}x",
                     f"{r['ours_s']:.2f}", f"{r['bertviz_s'] / r['ours_s']:.1f}x"])
        print(" | ".join(str(c) for c in rows[-1]), flush=True)
    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads; times include the forward pass\n")
    print(markdown_table(
        ["tokens", "BertViz MB", "model view kB", "head view kB", "bytes ratio (model view)",
         "bytes ratio (both views)", "BertViz s", "model view s", "time ratio (model view)",
         "both views s", "time ratio (both views)"], rows))
    r = results[-1]
    print(f"\nAt {r['tokens']} tokens the model view sends {r['model_bytes'] / 1e6:.2f} MB (target: at most 5 MB) "
          f"built in 1/{r['bertviz_s'] / r['model_s']:.0f} of BertViz's time (target: 1/10 or less; "
          f"both views: 1/{r['bertviz_s'] / r['ours_s']:.0f}).")


if __name__ == "__main__":
    main()
