"""The dashboard server's memory: peak with 16 sessions at 510 tokens, and over 50 sentences in a row.

    python -m bench.memory [--tokens 510] [--sessions 16] [--sentences 50]

Reads ``VmRSS`` (resident now) and ``VmHWM`` (peak resident) of the ``streamlit run``
process from ``/proc/<pid>/status``:

1. after the first page load (MiniLM loaded, the default sentence captured);
2. ``--sessions`` browser sessions open at once, each submits its own sentence of ``--tokens``
   tokens in the head view, then switches to the model view: peak and current memory;
3. one session submits ``--sentences`` different sentences of ``--tokens`` tokens one
   after another; memory after each of the first 8 (the capture cache's size: the growth per
   cached capture) and every 10 sentences. Flat means the caches are bounded.
"""

from __future__ import annotations

import argparse

from bench.browser import Session, choose_view, submit
from bench.common import markdown_table, process_memory_mb, text_of_tokens
from model import load_model
from tests.live_server import chromium, serve_dashboard

CACHED = 8  # entries of the dashboard's capture cache


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=510)
    parser.add_argument("--sessions", type=int, default=16)
    parser.add_argument("--sentences", type=int, default=50)
    args = parser.parse_args()

    codec = load_model("minilm").codec
    rows = []

    def record(what: str, pid: int) -> None:
        mem = process_memory_mb(pid)
        rows.append([what, f"{mem['VmRSS']:.0f}", f"{mem['VmHWM']:.0f}"])
        print(" | ".join(rows[-1]), flush=True)

    with serve_dashboard() as (url, proc), chromium() as browser:
        first = Session(browser, url)
        record("first page (model loaded)", proc.pid)
        first.close()

        sessions = [Session(browser, url) for _ in range(args.sessions)]
        for i, s in enumerate(sessions):  # every session submits before any is waited for: they run together
            s.start(submit(text_of_tokens(codec, args.tokens, variant=i + 1)))
        for s in sessions:
            s.wait()
        record(f"{args.sessions} sessions, {args.tokens} tokens, head view", proc.pid)
        for s in sessions:
            s.start(choose_view("Model view"))
        for s in sessions:
            s.wait()
        record(f"{args.sessions} sessions, {args.tokens} tokens, + model view", proc.pid)
        peak = process_memory_mb(proc.pid)["VmHWM"]
        for s in sessions:
            s.close()

    with serve_dashboard() as (url, proc), chromium() as browser:
        one = Session(browser, url)
        start = process_memory_mb(proc.pid)["VmRSS"]
        record("a fresh server, first page", proc.pid)
        for i in range(1, args.sentences + 1):
            one.act(submit(text_of_tokens(codec, args.tokens, variant=100 + i)))
            if i == CACHED:
                grown = process_memory_mb(proc.pid)["VmRSS"] - start
            if i % 10 == 0 or i == args.sentences or i == CACHED:
                record(f"after {i} different sentences of {args.tokens} tokens", proc.pid)
        one.close()
    print()
    print(markdown_table(["server state", "RSS now (MB)", "peak RSS (MB)"], rows))
    print(f"\nPeak with {args.sessions} sessions at {args.tokens} tokens: {peak:,.0f} MB (target: at most 1,500 MB).")
    print(f"RSS growth per cached capture over the first {CACHED} sentences: {grown / CACHED:,.1f} MB.")


if __name__ == "__main__":
    main()
