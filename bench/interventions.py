"""Head importance: the exact ranking (one ablated run per head, batched) and the one-pass estimate.

    python -m bench.interventions [--repeats 3] [--threads 1]

For MiniLM (72 heads) at 16 and 128 tokens and the translator (24 heads), the median time of:
one forward pass, ``head_importance`` (exact) and ``attribution`` (one forward and one backward
pass), with the ratios exact / forward and estimate / forward, and the rank agreement of the two.
"""

from __future__ import annotations

import argparse

import torch

from bench.common import interleaved_medians, markdown_table, text_of_tokens
from model import load_model
from model.interventions import agreement, attribution, forward, head_importance, prepare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads; 1 gives steadier timings")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    minilm, translator = load_model("minilm"), load_model("translator")
    cases = [("minilm", minilm, text_of_tokens(minilm.codec, 16)),
             ("minilm", minilm, text_of_tokens(minilm.codec, 128)),
             ("translator", translator, "the twenty-first of june two thousand and nine")]
    rows = []
    for name, model, text in cases:
        inputs = prepare(model, text)

        def one_pass(model=model, inputs=inputs) -> None:
            with torch.inference_mode():
                forward(model, inputs)

        t_forward, t_exact, t_estimate = interleaved_medians(
            [one_pass, lambda m=model, t=text: head_importance(m, t), lambda m=model, t=text: attribution(m, t)],
            args.repeats, warmup=1)
        rho = agreement(head_importance(model, text), attribution(model, text))
        rows.append([name, inputs.ids.shape[1], len(head_importance(model, text)), f"{t_forward * 1e3:.0f}",
                     f"{t_exact * 1e3:.0f}", f"{t_estimate * 1e3:.0f}", f"{t_exact / t_forward:.0f}x",
                     f"{t_estimate / t_forward:.1f}x", f"{rho:.2f}"])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, median of {args.repeats} runs (ms)\n")
    print(markdown_table(["model", "tokens", "heads", "forward", "exact", "estimate", "exact / forward",
                          "estimate / forward", "rank agreement"], rows))


if __name__ == "__main__":
    main()
