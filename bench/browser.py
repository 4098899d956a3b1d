"""The dashboard in a real Chromium: time from submitting a sentence to every plot drawn, and bytes received.

    python -m bench.browser [--sizes 16 128 510] [--views "Head view" "Model view"] [--repeats 3]
                            [--server-threads N]

For each view and length, ``--repeats`` times (the table shows medians), a fresh
browser session opens the dashboard (a new
session, as a new visitor), switches to the view, then submits a sentence of
exactly that many tokens that no one has sent before (the Capture cache cannot
answer it). From the Ctrl+Enter that submits it, it records:

- ``server done``: the server's ``script_finished`` message arrived (forward pass,
  figures and their JSON all sent);
- ``drawn``: the page is idle with every plot drawn, meaning: the server said the run
  finished, no element is marked stale (``data-stale``), Streamlit's running
  indicator is gone, and every ``.js-plotly-plot`` holds new data (not the figure
  it showed before the sentence) with its ``.main-svg`` and one heatmap image per
  heatmap trace, checked on an animation frame (so after Chromium has laid it out);
- ``received``: the bytes of every websocket frame the page received in between, and of those
  the Plotly figure JSON of each chart (``charts``: title -> bytes of the spec the page got).

In the head view it then moves the Head slider one step (the same sentence: the
cached Capture answers) and records the same three figures for that rerun.

The forward pass alone (``capture()`` in this process, median of 5, with as many torch
threads as the server) is printed alongside as the reference for the "forward + 0.5 s"
target. ``--server-threads N`` starts the server with ``OMP_NUM_THREADS=N`` (torch's
default otherwise: one per core).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from bench.common import markdown_table, median_time, text_of_tokens
from model import capture, load_model
from tests.live_server import chromium, serve_dashboard

SIZES = (16, 128, 510)
VIEWS = ("Head view", "Model view")
TIMEOUT_MS = 180_000

# Remember which figure each plot showed, so "drawn" means drawn with the new sentence.
MARK_OLD = """() => { window.__oldData = [...document.querySelectorAll('.js-plotly-plot')]
    .map(gd => gd.data && gd.data[0]).filter(Boolean); }"""

DRAWN = """() => {
    if (document.querySelector('[data-stale="true"]')) return false;
    if (document.querySelector('[data-testid="stStatusWidget"] [data-testid="stStatusWidgetRunningIcon"]'))
        return false;
    const plots = [...document.querySelectorAll('.js-plotly-plot')];
    if (!plots.length) return false;
    const old = window.__oldData || [];
    return plots.every(gd => {
        if (!gd._fullData || !gd.data || !gd.data.length || old.includes(gd.data[0])) return false;
        if (!gd.querySelector('.main-svg')) return false;
        if (gd._fullData.some(t => t.type.endsWith('gl')) && !gd.querySelector('canvas')) return false;
        const heatmaps = gd._fullData.filter(t => t.type === 'heatmap' && t.visible !== false).length;
        return gd.querySelectorAll('.heatmaplayer image').length >= heatmaps;
    });
}"""


def chart_title(spec: str) -> str:
    """The title of a Plotly figure's JSON (what names a chart in a table), or "untitled"."""
    title = json.loads(spec).get("layout", {}).get("title", "")
    text = title.get("text", "") if isinstance(title, dict) else title
    return text or "untitled"


class Session:
    """One browser tab on the dashboard that counts the websocket bytes it receives, and each chart's share."""

    def __init__(self, browser, url: str, timeout_ms: float = TIMEOUT_MS) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        self._parse = ForwardMsg.FromString
        self.received = 0
        self.charts: dict[str, int] = {}
        self.finished_at: float | None = None
        self.timeout_ms = timeout_ms
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.page = self.context.new_page()
        self.page.on("websocket", lambda ws: ws.on("framereceived", self._on_frame))
        self.page.goto(url)
        self.page.wait_for_function(DRAWN, polling="raf", timeout=timeout_ms)

    def _on_frame(self, payload: bytes | str) -> None:
        data = payload if isinstance(payload, bytes) else payload.encode()
        self.received += len(data)
        try:
            msg = self._parse(data)
        except Exception:  # a frame that is not a ForwardMsg still counts as bytes
            return
        kind = msg.WhichOneof("type")
        if kind == "script_finished":
            self.finished_at = time.perf_counter()
        elif kind == "delta" and msg.delta.new_element.WhichOneof("type") == "plotly_chart":
            spec = msg.delta.new_element.plotly_chart.spec
            title = chart_title(spec)
            while title in self.charts:  # two charts of one title both count
                title += "'"
            self.charts[title] = len(spec.encode())

    def _wait_finished(self) -> None:
        deadline = time.monotonic() + self.timeout_ms / 1000
        while self.finished_at is None:
            if time.monotonic() > deadline:
                raise TimeoutError("the server never finished the run")
            self.page.wait_for_timeout(5)  # lets Playwright deliver the websocket events

    def start(self, action) -> None:
        """Run ``action(page)`` (e.g. submit a sentence) and start the clock; ``wait`` stops it."""
        self.page.evaluate(MARK_OLD)
        self.received, self.charts, self.finished_at = 0, {}, None
        self.started_at = time.perf_counter()
        action(self.page)

    def wait(self) -> dict[str, float]:
        """Wait until every plot is drawn anew; seconds and bytes since ``start`` (``charts``: bytes a chart)."""
        self._wait_finished()
        self.page.wait_for_function(DRAWN, polling="raf", timeout=self.timeout_ms)
        drawn = time.perf_counter()
        if self.page.locator("[data-testid='stException']").count():
            raise RuntimeError("the page shows an exception")
        return {"server": self.finished_at - self.started_at, "drawn": drawn - self.started_at,
                "bytes": self.received, "plots": self.page.locator(".js-plotly-plot").count(),
                "charts": dict(self.charts)}

    def act(self, action) -> dict[str, float]:
        self.start(action)
        return self.wait()

    def close(self) -> None:
        self.context.close()


def submit(text: str):
    def go(page) -> None:
        box = page.get_by_label("Sentence", exact=True)
        box.fill(text)
        box.press("Control+Enter")
    return go


def choose_view(view: str):
    def go(page) -> None:
        page.get_by_role("radio", name=view, exact=True).click()  # the "View" segmented control
    return go


def next_head(page) -> None:
    page.get_by_role("slider", name="Head").focus()
    page.keyboard.press("ArrowRight")


def measure(url: str, browser, view: str, text: str) -> dict[str, dict[str, float]]:
    """A fresh session: open the dashboard, switch to ``view``, then time submitting ``text``
    (and, in the head view, moving to the next head)."""
    session = Session(browser, url)
    try:
        if view != VIEWS[0]:
            session.act(choose_view(view))
        out = {view: session.act(submit(text))}
        if view == VIEWS[0]:
            out[f"{view}, next head"] = session.act(next_head)
        return out
    finally:
        session.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--views", nargs="+", default=list(VIEWS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--server-threads", type=int, default=None)
    args = parser.parse_args()
    env = None
    if args.server_threads:
        env = {"OMP_NUM_THREADS": str(args.server_threads)}
        torch.set_num_threads(args.server_threads)

    model = load_model("minilm")
    texts = {n: text_of_tokens(model.codec, n) for n in args.sizes}
    forward = {n: median_time(lambda n=n: capture(model, texts[n]), 5) for n in args.sizes}
    rows, drawn = [], {}
    variant = int(time.time()) % 100_000  # a text this server has never seen, run after run
    with serve_dashboard(env=env) as (url, _proc), chromium() as browser:
        for view in args.views:
            for n in args.sizes:
                runs: dict[str, list[dict[str, float]]] = {}
                for _ in range(args.repeats):
                    variant += 1
                    for what, r in measure(url, browser, view, text_of_tokens(model.codec, n, variant)).items():
                        runs.setdefault(what, []).append(r)
                        print(what, n, r, flush=True)
                for what, rs in runs.items():
                    r = {key: statistics.median(x[key] for x in rs) for key in rs[0] if key != "charts"}
                    drawn[what, n] = r["drawn"]
                    rows.append([what, n, f"{forward[n]:.2f}", f"{r['server']:.2f}", f"{r['drawn']:.2f}",
                                 f"{r['bytes'] / 1e6:.2f}", r["plots"]])
    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads; median of {args.repeats} sessions; "
          "seconds from Ctrl+Enter (or the slider key)\n")
    print(markdown_table(["view, action", "tokens", "capture() alone (s)", "server done (s)", "every plot drawn (s)",
                          "received (MB)", "plots"], rows))
    if ("Model view", 510) in drawn:
        print(f"\nModel view, 510 tokens: every thumbnail drawn in {drawn['Model view', 510]:.2f} s (target: 3 s).")
    if ("Head view", 128) in drawn:
        print(f"Head view, 128 tokens: drawn in {drawn['Head view', 128]:.2f} s; target: capture() + 0.5 s = "
              f"{forward[128] + 0.5:.2f} s.")


if __name__ == "__main__":
    main()
