"""The dashboard page with SmolLM2 at 2,048 tokens: each view's chart bytes and draw time, server memory, generation.

    python -m bench.smollm2_page [--tokens 2048] [--reference-tokens 510] [--views "Model view" "Head view" ...]
                                 [--rounds 2] [--parts views memory generation] [--sessions 3]
                                 [--server-threads N] [--malloc-arenas N]

Three parts, run one after another (``--parts`` picks them):

1. ``views``: a fresh ``streamlit run`` server and Chromium. One browser session opens
   ``/?model=smollm2&view=Step+by+step``, types a prompt of exactly ``--tokens`` tokens into the
   Sentence box (too long for the URL) and submits it with Ctrl+Enter; the page continues it for
   20 tokens ("Continue the text" is on by default for a decoder), so the capture holds prompt and
   continuation. With that capture cached, it switches to each of ``--views`` in turn, ``--rounds``
   times: each switch is timed from the click until every plot is drawn (``bench.browser.DRAWN``:
   the run finished, nothing stale, the running indicator gone, each ``.js-plotly-plot`` new with
   its main SVG, its heatmap images and, for GL traces, a canvas), and the websocket bytes it
   received are counted, with the Plotly figure JSON of each chart. The first round is a view's
   first draw for this capture (what it builds once, e.g. the model view's thumbnails, included);
   later rounds show a revisit. Then MiniLM at ``--reference-tokens`` in its own session, the
   reference point (no Generation view: an encoder writes nothing).
2. ``memory``: resident memory of the ``streamlit run`` process and its children (``/proc``,
   sampled every 50 ms for the peak since the server started): after part 1's SmolLM2 session
   (before MiniLM loads) and, each on a fresh server, with one and with ``--sessions`` (3) browser
   sessions each submitting its own ``--tokens``-token prompt on the head view at once; "settled"
   is read 10 s after the last run finished. Then one such capture in this process, as the server
   runs it (``ui.memory``: blocks of 1 MB and more mapped on their own, a trim after the capture):
   resident memory before it, its peak, after it and after the trim, and what it keeps
   (``Capture.nbytes``). ``--malloc-arenas N`` sets the server's ``MALLOC_ARENA_MAX``.
3. ``generation``: in this process, ``capture(m, prompt, max_new_tokens=20)`` against ``capture(m,
   prompt)`` at 128 and 512 prompt tokens (``bench.smollm2.generation_times``), torch threads pinned
   (``--threads``, 1 by default: on a small shared machine more threads than free cores is slower).

The server uses torch's default threads (one per core) unless ``--server-threads`` is given.
Nothing is asserted: the targets are printed next to the numbers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import urllib.parse

import torch

from bench.browser import Session, choose_view, submit
from bench.common import PeakSampler, markdown_table, process_memory_mb, text_of_tokens, tree_rss_mb
from bench.smollm2 import GENERATION_HEADER, generation_times
from model import capture, load_model
from tests.live_server import chromium, serve_dashboard
from ui.memory import fix_mmap_threshold, release_freed

VIEWS = ("Model view", "Head view", "Generation", "Lines", "Step by step")
START_VIEW = "Step by step"  # light: the page first draws here, so the first switch to each view is timed
DECODER_ONLY = {"Generation"}
SETTLE_S = 10
SUBMIT_TIMEOUT_MS = 900_000  # a 2,048-token forward pass and continuation on two shared cores takes minutes
VIEW_TIMEOUT_MS = 300_000
TARGETS = {"Model view": (1e6, 3.0), "Head view": (2e6, None)}  # (chart bytes, seconds to draw)
MB = 1e6


def page_url(url: str, model: str, view: str) -> str:
    return f"{url}/?{urllib.parse.urlencode({'model': model, 'view': view})}"


def switch(session: Session, view: str) -> dict:
    """Time switching ``session`` to ``view``; a view that fails or times out reports what it received."""
    try:
        return session.act(choose_view(view))
    except Exception as exc:  # a failing view is a result of this benchmark, not the end of it
        return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}", "bytes": session.received,
                "charts": dict(session.charts)}


def views_of_model(browser, url: str, model: str, text: str, views: list[str], rounds: int,
                   sampler: PeakSampler) -> tuple[dict, dict[str, list[dict]]]:
    """One session: the page on ``model``, ``text`` submitted, then every view ``rounds`` times.

    Each result also holds ``peak_mb``, the server's peak RSS so far (it only grows): the step that
    raises it is the one that needed the memory.
    """
    session = Session(browser, page_url(url, model, START_VIEW), timeout_ms=VIEW_TIMEOUT_MS)
    try:
        session.timeout_ms = SUBMIT_TIMEOUT_MS
        first = {**session.act(submit(text)), "peak_mb": sampler.peak}
        session.timeout_ms = VIEW_TIMEOUT_MS
        print(model, "submitted:", {k: v for k, v in first.items() if k != "charts"}, flush=True)
        runs: dict[str, list[dict]] = {v: [] for v in views}
        for _ in range(rounds):
            for view in views:
                r = {**switch(session, view), "peak_mb": sampler.peak}
                runs[view].append(r)
                print(model, view, {k: v for k, v in r.items() if k != "charts"}, flush=True)
        return first, runs
    finally:
        session.close()


def chart_kb(charts: dict[str, int]) -> str:
    return ", ".join(f"{title}: {n / 1e3:,.0f}" for title, n in charts.items()) or "none"


def meets(ok: bool) -> str:
    return "meets" if ok else "misses"


def target_note(view: str, chart_bytes: int, first: float | None, again: float | None = None) -> str:
    """The view's targets against its chart bytes and its draw times (first visit, and a revisit if any)."""
    if view not in TARGETS:
        return ""
    max_bytes, max_s = TARGETS[view]
    notes = [f"{meets(chart_bytes <= max_bytes)} <= {max_bytes / MB:.0f} MB"]
    if max_s is not None:
        note = f"{meets(first is not None and first <= max_s)} <= {max_s:.0f} s"
        if again is not None:
            note += f" first visit, {meets(again <= max_s)} again"
        notes.append(note)
    return "; ".join(notes)


def view_rows(label: str, first: dict, runs: dict[str, list[dict]]) -> tuple[list[list[object]], list[list[object]]]:
    """Table rows: one per view (first draw, later draws' median), and each chart's figure JSON."""
    rows = [[label, "submit (forward pass + continuation + Step by step)", "", f"{first['bytes'] / MB:.2f}",
             f"{first['server']:.2f}", f"{first['drawn']:.2f}", "", f"{first['peak_mb']:,.0f}", ""]]
    charts = []
    for view, rs in runs.items():
        r0 = rs[0]
        chart_bytes = sum(r0["charts"].values())
        charts.append([label, view, chart_kb(r0["charts"])])
        if "error" in r0:
            rows.append([label, view, f"{chart_bytes / MB:.2f}", f"{r0['bytes'] / MB:.2f}", "", "FAILED: "
                         + r0["error"], "", f"{r0['peak_mb']:,.0f}", target_note(view, chart_bytes, None)])
            continue
        again = [r["drawn"] for r in rs[1:] if "error" not in r]
        again_s = statistics.median(again) if again else None
        rows.append([label, view, f"{chart_bytes / MB:.2f}", f"{r0['bytes'] / MB:.2f}", f"{r0['server']:.2f}",
                     f"{r0['drawn']:.2f}", "" if again_s is None else f"{again_s:.2f}", f"{r0['peak_mb']:,.0f}",
                     target_note(view, chart_bytes, r0["drawn"], again_s)])
    return rows, charts


def memory_row(what: str, pid: int, sampler: PeakSampler) -> list[object]:
    time.sleep(SETTLE_S)
    own = process_memory_mb(pid)
    row = [what, f"{sampler.peak:,.0f}", f"{own['VmHWM']:,.0f}", f"{tree_rss_mb(pid):,.0f}"]
    print(" | ".join(row), flush=True)
    return row


def sessions_memory(browser, url: str, pid: int, codec, tokens: int, n: int) -> list[object]:
    """``n`` sessions on the head view, each submitting its own prompt at once; the server's memory."""
    variant = int(time.time()) % 100_000
    with PeakSampler(pid) as sampler:
        sessions = [Session(browser, page_url(url, "smollm2", "Head view"), timeout_ms=SUBMIT_TIMEOUT_MS)
                    for _ in range(n)]
        try:
            for i, s in enumerate(sessions):  # all submit before any is waited for: they run together
                s.start(submit(text_of_tokens(codec, tokens, variant=variant + i)))
            for s in sessions:
                s.wait()
            what = f"{n} sessions at once, {tokens} tokens each" if n > 1 else f"1 session, {tokens} tokens"
            return memory_row(f"{what}, head view", pid, sampler)
        finally:
            for s in sessions:
                s.close()


def capture_memory(model, prompt: str) -> tuple[list[object], float]:
    """One capture of ``prompt`` continued for 20 tokens, in this process as the server runs it: a table row
    (RSS before, sampled peak, after, after the trim, in MB) and what the capture keeps (MB)."""
    fix_mmap_threshold()
    pid = os.getpid()
    before = process_memory_mb(pid)["VmRSS"]
    with PeakSampler(pid) as sampler:
        cap = capture(model, prompt, max_new_tokens=20)
    after = process_memory_mb(pid)["VmRSS"]
    release_freed()
    trimmed = process_memory_mb(pid)["VmRSS"]
    return [f"{before:,.0f}", f"{sampler.peak:,.0f}", f"{after:,.0f}", f"{trimmed:,.0f}"], cap.nbytes / MB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=2048, help="SmolLM2 prompt tokens (the page reads 2,048)")
    parser.add_argument("--reference-tokens", type=int, default=510, help="MiniLM tokens; 0 skips MiniLM")
    parser.add_argument("--views", nargs="+", default=list(VIEWS))
    parser.add_argument("--rounds", type=int, default=2, help="visits of each view (the first is its first draw)")
    parser.add_argument("--parts", nargs="+", default=["views", "memory", "generation"],
                        choices=["views", "memory", "generation"])
    parser.add_argument("--sessions", type=int, default=3, help="concurrent sessions in the memory part")
    parser.add_argument("--server-threads", type=int, default=None)
    parser.add_argument("--malloc-arenas", type=int, default=None,
                        help="MALLOC_ARENA_MAX for the server: glibc keeps one heap per thread that allocates, "
                             "and sessions run in threads")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the generation part (pinned)")
    parser.add_argument("--repeats", type=int, default=4, help="generation part: runs per median (halved)")
    args = parser.parse_args()
    env = {"OMP_NUM_THREADS": str(args.server_threads)} if args.server_threads else {}
    if args.malloc_arenas:
        env["MALLOC_ARENA_MAX"] = str(args.malloc_arenas)
    smol = load_model("smollm2")  # fetched and converted once; the server then loads it from the cache
    variant = int(time.time()) % 100_000  # a prompt this server has never seen
    prompt = text_of_tokens(smol.codec, args.tokens, variant=variant)
    rows, charts, memory = [], [], []
    kept: float | None = None
    in_process: list[object] = []

    if "views" in args.parts:
        with serve_dashboard(env=env) as (url, proc), chromium() as browser, PeakSampler(proc.pid) as sampler:
            first, runs = views_of_model(browser, url, "smollm2", prompt, args.views, args.rounds, sampler)
            memory.append(memory_row(f"1 session, {args.tokens} tokens, every view", proc.pid, sampler))
            r, c = view_rows(f"SmolLM2 {args.tokens}", first, runs)
            rows += r
            charts += c
            if args.reference_tokens:
                minilm = load_model("minilm")
                text = text_of_tokens(minilm.codec, args.reference_tokens, variant=variant)
                first, runs = views_of_model(browser, url, "minilm", text,
                                             [v for v in args.views if v not in DECODER_ONLY], args.rounds, sampler)
                r, c = view_rows(f"MiniLM {args.reference_tokens}", first, runs)
                rows += r
                charts += c
    if "memory" in args.parts:
        for n in sorted({1, args.sessions}):
            with serve_dashboard(env=env) as (url, proc), chromium() as browser:
                memory.append(sessions_memory(browser, url, proc.pid, smol.codec, args.tokens, n))
        torch.set_num_threads(args.threads)
        in_process, kept = capture_memory(smol, prompt)

    generation = []
    if "generation" in args.parts:
        torch.set_num_threads(args.threads)
        generation = generation_times(smol, args.repeats)

    print(f"\ntorch {torch.__version__}; server threads: {args.server_threads or 'torch default'}; "
          f"MALLOC_ARENA_MAX: {args.malloc_arenas or 'glibc default'}; the SmolLM2 prompt is continued for 20 "
          "tokens (the page's default)\n")
    if rows:
        print("Each view, switched to with the capture cached: chart JSON (the Plotly figures) and every websocket "
              "byte received; seconds from the click\n")
        print(markdown_table(["model, tokens", "view", "chart JSON (MB)", "received (MB)", "server done (s)",
                              "drawn, first visit (s)", "drawn, again (s)", "server peak so far (MB)", "target"],
                             rows))
        print()
        print(markdown_table(["model, tokens", "view", "figure JSON per chart, first visit (kB)"], charts))
    if memory:
        print("\nServer memory: streamlit process and its children (targets: 1 session <= 2,048 MB, "
              "3 sessions <= 3,072 MB)\n")
        print(markdown_table(["server state", "peak RSS, sampled (MB)", "VmHWM streamlit (MB)",
                              f"RSS settled after {SETTLE_S} s (MB)"], memory))
        if kept is not None:
            print(f"\nOne capture of {args.tokens} + 20 tokens keeps {kept:,.0f} MB (Capture.nbytes); in this "
                  f"process, {torch.get_num_threads()} torch thread(s):\n")
            print(markdown_table(["RSS before (MB)", "peak RSS, sampled (MB)", "RSS after (MB)",
                                  "RSS after malloc_trim (MB)"], [in_process]))
    if generation:
        print(f"\ncapture() with and without writing 20 tokens, {torch.get_num_threads()} torch thread(s)\n")
        print(markdown_table(GENERATION_HEADER, generation))


if __name__ == "__main__":
    main()
