"""What the model view and head view send to the browser, against BertViz's model view, on MiniLM.

    pip install -r bench/requirements.txt
    python -m bench.payload [--sizes 16 128 510] [--repeats 3]

For texts of exactly N tokens ([CLS] and [SEP] included), on the same checkpoint:

- ours: text -> ``capture()`` -> the model view figure and the head view figure the dashboard
  draws by default (layer 0, head 0), each serialised as ``st.plotly_chart`` sends it
  (``plotly.io.to_json(fig, validate=False)``). The time covers all of that.
- BertViz: the ``transformers`` BertModel from the same folder (eager attention,
  ``output_attentions=True``) run on the same text, then
  ``model_view(attention, tokens, html_action="return")``; its bytes are the HTML it returns.

Both sides run with ``--threads`` torch threads (1 by default). Times are medians of
``--repeats`` runs (one run for BertViz from 256 tokens, where it takes seconds and
gigabytes). Ratios are BertViz / ours: above 1 means ours is smaller or faster.
"""

from __future__ import annotations

import argparse
import time

import plotly.io
import torch

from bench.common import markdown_table, median_time, text_of_tokens
from model import Capture, capture, load_model
from model.loading import minilm_dir
from viz.grid import model_view_figure
from viz.heatmaps import attention_heatmap

SIZES = (16, 128, 510)
SLOW_FROM = 256


def sent_json(cap: Capture) -> dict[str, str]:
    """The JSON of each figure the two views draw for ``cap`` with default settings."""
    att = cap.attentions["encoder"]
    grid = model_view_figure(att, title="model view", selected=(0, 0))
    head = attention_heatmap(att[0, 0], cap.tokens, title="layer 0 head 0")
    return {"model view": plotly.io.to_json(grid, validate=False),
            "head view": plotly.io.to_json(head, validate=False)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for both sides; on a shared machine more threads than free cores "
                             "makes every forward pass several times slower")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from bertviz import model_view  # bench-only dependency: bench/requirements.txt
    from transformers import BertModel, BertTokenizerFast

    m = load_model("minilm")
    folder = str(minilm_dir())
    reference = BertModel.from_pretrained(folder, attn_implementation="eager").eval()
    tokenizer = BertTokenizerFast.from_pretrained(folder)
    rows = []
    for n in args.sizes:
        text = text_of_tokens(m.codec, n)

        def ours(text: str = text) -> dict[str, str]:
            return sent_json(capture(m, text))

        def bertviz(text: str = text) -> str:
            enc = tokenizer(text, return_tensors="pt")
            with torch.inference_mode():
                out = reference(**enc, output_attentions=True)
            tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
            return model_view(out.attentions, tokens, html_action="return").data

        sent = ours()
        assert all('"bdata"' in s for s in sent.values()), "numpy arrays should travel as base64 typed arrays"
        t_ours = median_time(ours, args.repeats)
        start = time.perf_counter()
        html = bertviz()
        t_bv = time.perf_counter() - start
        if n < SLOW_FROM:
            t_bv = median_time(bertviz, args.repeats, warmup=0)
        b_model, b_head = len(sent["model view"]), len(sent["head view"])
        b_bv = len(html)
        del html
        rows.append([n, f"{b_model / 1e3:,.0f}", f"{b_head / 1e3:,.0f}", f"{b_bv / 1e3:,.0f}",
                     f"{b_bv / b_model:,.0f}x", f"{b_bv / (b_model + b_head):,.0f}x",
                     f"{t_ours * 1e3:,.0f}", f"{t_bv * 1e3:,.0f}", f"{t_bv / t_ours:,.1f}x"])
        print(f"{n} tokens done", flush=True)
    print(markdown_table(
        ["tokens", "model view kB", "head view kB", "BertViz kB", "bytes ratio (model view)",
         "bytes ratio (both views)", "ours ms", "BertViz ms", "time ratio"], rows))


if __name__ == "__main__":
    main()
