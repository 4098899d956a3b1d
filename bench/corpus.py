"""The corpus job's throughput and memory: in-process against Ray with 1 and 2 workers, side by side.

    python -m bench.corpus [--sentences 2000] [--model minilm] [--shard-size 250] [--repeats 1]

Generates ``--sentences`` sentences of 10-40 words (seeded), then runs ``python -m corpus run`` on
them once per engine (``--repeats`` times, in turns, reporting medians), each in its own process:
in-process with one torch thread and with every core, Ray with one torch thread per worker. Reports
the job's own time (reading, tokenising, computing, writing; after the model and Ray have started)
as sentences per second; when the engine's first batch came back (for Ray, the workers' start-up: a
process each, the model loaded in it, Ray Data's own actors) and the rate from then to the last
batch; the whole command's wall time (with Python, model and Ray start-up), and the peak resident
memory of the job's process (``ru_maxrss`` of that child; Ray's workers are other processes, not
counted). The in-process job also runs on a second corpus size (``--memory-sentences``, default a
quarter): flat peak memory means the shards bound it. Last, the machine's own ceiling for two
workers: the per-batch function alone (``corpus.batches.batch_table``, one torch thread, no engine,
no files) over the same ``--ceiling-sentences`` in one process, then in two processes at once.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench.common import markdown_table
from corpus.batches import batch_table, plan_batches
from corpus.job import JobSettings
from corpus.reading import CorpusFile
from model.loading import load_model

WORDS = ("the a small old new red quick brown lazy happy dog cat bird fox tree river bank city house "
         "child woman man teacher student runs jumps sings sleeps reads writes sees finds takes gives "
         "over under near with without before after because while and but quickly slowly often never "
         "today yesterday money street school garden music morning night water light").split()


def sentences(n: int, seed: int = 0) -> list[str]:
    """``n`` sentences of 10 to 40 words, the same for a given seed."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        words = list(rng.choice(WORDS, size=int(rng.integers(10, 41))))
        out.append(" ".join(words).capitalize() + ".")
    return out


def run_job(corpus: Path, out: Path, model: str, engine: list[str], shard_size: int) -> dict[str, float]:
    """One ``python -m corpus run`` in a fresh process: its job seconds, wall seconds and peak RSS (MB).

    ``engine`` holds the engine's flags, ``--threads`` among them where the thread count is fixed.
    """
    one = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"} if "--threads" in engine else {}
    env = {**{k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}, **one}
    cmd = [sys.executable, "-m", "corpus", "run", str(corpus), "--model", model, "--out", str(out),
           "--no-progress", "--shard-size", str(shard_size), *engine]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{err}")
    found = re.search(r"([\d,]+) sentences in .*?, ([\d.]+) s: first batch after ([\d.]+) s, "
                      r"then ([\d.]+) sentences/s\)", err)
    if found is None:
        raise RuntimeError(f"no summary line in:\n{err}")
    n, seconds = int(found.group(1).replace(",", "")), float(found.group(2))
    return {"sentences": n, "job_s": seconds, "first_s": float(found.group(3)), "steady": float(found.group(4)),
            "wall_s": wall, "rss_mb": usage.ru_maxrss / 1024}


def compute_only(corpus: Path, model_name: str) -> float:
    """Sentences per second of ``batch_table`` over ``corpus``'s planned batches, here, with one torch thread."""
    torch.set_num_threads(1)
    model = load_model(model_name)
    batches, _skipped = plan_batches(model, list(CorpusFile(corpus)), JobSettings.batch_size)
    batch_table(model, batches[0])  # warm-up
    start = time.perf_counter()
    for batch in batches:
        batch_table(model, batch)
    return sum(len(b) for b in batches) / (time.perf_counter() - start)


def ceiling(corpus: Path, model: str, processes: int) -> float:
    """Sentences per second of ``processes`` runs of ``compute_only`` at once, all of them together."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "bench.corpus", "--compute-only", str(corpus), "--model", model]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env) for _ in range(processes)]
    return sum(float(p.communicate()[0].split()[-1]) for p in procs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compute-only", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--shard-size", type=int, default=250)
    parser.add_argument("--memory-sentences", type=int,
                        help="a second in-process corpus size, for peak memory (default: a quarter of --sentences)")
    parser.add_argument("--ceiling-sentences", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=1,
                        help="runs of each engine, in turns; the table shows medians (default 1)")
    args = parser.parse_args()
    if args.compute_only:
        print(f"{compute_only(args.compute_only, args.model):.2f}")
        return

    engines = [("in-process, 1 thread", ["--threads", "1"]),
               (f"in-process, {os.cpu_count()} threads", []),
               ("Ray, 1 worker", ["--engine", "ray", "--workers", "1", "--threads", "1"]),
               ("Ray, 2 workers", ["--engine", "ray", "--workers", "2", "--threads", "1"])]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        corpus = root / "corpus.txt"
        corpus.write_text("\n".join(sentences(args.sentences)) + "\n", encoding="utf-8")
        other = root / "other.txt"
        other.write_text("\n".join(sentences(args.memory_sentences or args.sentences // 4)) + "\n",
                         encoding="utf-8")
        runs: dict[str, list[dict[str, float]]] = {name: [] for name, _flags in engines}
        for turn in range(args.repeats):
            # each turn starts one engine later, so no engine always runs first or after the same one
            for name, flags in engines[turn % len(engines):] + engines[:turn % len(engines)]:
                out = root / "out"
                runs[name].append(run_job(corpus, out, args.model, flags, args.shard_size))
                shutil.rmtree(out)
        results = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in runs.items()}
        small = run_job(other, root / "out-other", args.model, engines[1][1], args.shard_size)
        few = root / "ceiling.txt"
        few.write_text("\n".join(sentences(args.ceiling_sentences)) + "\n", encoding="utf-8")
        one, two = ceiling(few, args.model, 1), ceiling(few, args.model, 2)

    def rate(r: dict[str, float]) -> float:
        return r["sentences"] / r["job_s"]

    base = rate(results[engines[0][0]])
    rows = [[name, int(r["sentences"]), f"{r['job_s']:.1f}", f"{rate(r):.1f}", f"{rate(r) / base:.2f}",
             f"{r['first_s']:.1f}", f"{r['steady']:.1f}", f"{r['wall_s']:.1f}", f"{r['rss_mb']:.0f}"]
            for name, r in results.items()]
    ray1, ray2 = results["Ray, 1 worker"], results["Ray, 2 workers"]
    print(f"{args.model}, {args.sentences} sentences of 10-40 words, shards of {args.shard_size}, "
          f"{os.cpu_count()} CPUs\n")
    print(markdown_table(["engine", "sentences", "job s", "sentences/s", "x in-process, 1 thread",
                          "first batch after s", "sentences/s after it", "command wall s", "job peak RSS MB"],
                         rows))
    print(f"\nRay, 2 workers: {rate(ray2) / rate(ray1):.2f}x Ray, 1 worker over the whole job; "
          f"{ray2['steady'] / ray1['steady']:.2f}x from the first batch back to the last "
          f"(first batch after {ray1['first_s']:.1f} and {ray2['first_s']:.1f} s).")
    if args.repeats > 1:
        turns = list(zip(runs["Ray, 1 worker"], runs["Ray, 2 workers"], strict=True))
        print("Each turn, whole job: " + ", ".join(f"{a['job_s'] / b['job_s']:.2f}x" for a, b in turns)
              + "; from the first batch: " + ", ".join(f"{b['steady'] / a['steady']:.2f}x" for a, b in turns))
    every = results[engines[1][0]]
    print(f"In-process peak RSS ({engines[1][0]}): {small['rss_mb']:.0f} MB at {small['sentences']:,} sentences "
          f"({small['sentences'] / small['job_s']:.1f} sentences/s), {every['rss_mb']:.0f} MB at "
          f"{int(every['sentences']):,}: {small['rss_mb'] / every['rss_mb']:.2f}x.")
    print(f"At {base:.1f} sentences/s in-process, 1M sentences take {1e6 / base / 3600:.1f} h on one worker.")
    print(f"Ceiling: the per-batch function alone, {args.ceiling_sentences:,} sentences, one thread a process: "
          f"{one:.1f} sentences/s in one process, {two:.1f} in two at once ({two / one:.2f}x).")


if __name__ == "__main__":
    main()
