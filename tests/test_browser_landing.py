"""In Chromium: a first visit draws a head with a clear pattern, and holding an arrow key on a slider walks
through every value, the figure following."""

from __future__ import annotations

import time
import urllib.parse

import numpy as np
import pytest

from model import capture
from model.statistics import clear_head, head_statistics
from tests.conftest import screenshot
from tests.page_actions import trace_values

pytestmark = pytest.mark.browser

EXAMPLE = "The animal didn't cross the street because it was too tired."  # what a first visit shows
LONG = " ".join([EXAMPLE] * 35)  # 492 tokens
# Every value the slider shows, in order, sampled every 5 ms while the key is held and after.
RECORD_JS = """(label) => { window.seen = []; setInterval(() => {
  const el = [...document.querySelectorAll('input[type=range]')].find(e => e.getAttribute('aria-label') === label);
  const v = el ? Number(el.value) : null;
  if (window.seen[window.seen.length - 1] !== v) window.seen.push(v); }, 5); }"""
TITLE_JS = "(text) => [...document.querySelectorAll('.js-plotly-plot .gtitle')].some(t => t.textContent === text)"


def clearest(cap) -> tuple[int, int]:
    return clear_head(head_statistics(np.stack(list(cap.layers("encoder"))), cap.tokens))


def open_first_visit(browser, url: str, size: tuple[int, int] = (1400, 1000)):
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    pg = context.new_page()
    pg.goto(url)
    pg.locator(".js-plotly-plot .gtitle").first.wait_for(timeout=180_000)
    return context, pg


def test_a_first_visit_draws_a_clear_head(browser, dashboard_url, minilm):
    cap = capture(minilm, EXAMPLE)
    layer, head = clearest(cap)
    title = f"minilm encoder layer {layer} head {head}"
    context, pg = open_first_visit(browser, dashboard_url, size=(1400, 1500))
    try:
        pg.wait_for_function(TITLE_JS, arg=title, timeout=60_000)
        z = trace_values(pg, title, "z").reshape(16, 16)
        np.testing.assert_allclose(z, cap.head("encoder", layer, head), atol=1e-6)
        assert z[1:].max(-1).min() > 0.99  # every row but [CLS]'s: one dark cell
        assert pg.get_by_text("Opened at a head with a clear pattern").is_visible()
        params = urllib.parse.parse_qs(urllib.parse.urlparse(pg.url).query)
        assert (params["layer"], params["head"]) == ([str(layer)], [str(head)])  # a bookmark of what is shown
        screenshot(pg, "landing_16_tokens")
    finally:
        context.close()


def test_a_first_visit_with_a_long_text_draws_its_clear_head(browser, dashboard_url, minilm):
    cap = capture(minilm, LONG)
    assert len(cap.tokens) == 492
    layer, head = clearest(cap)
    title = f"minilm encoder layer {layer} head {head}"
    context, pg = open_first_visit(browser, f"{dashboard_url}/?{urllib.parse.urlencode({'text': LONG})}",
                                   size=(1400, 1400))
    try:
        pg.wait_for_function(TITLE_JS, arg=title, timeout=120_000)
        z = trace_values(pg, title, "z").reshape(492, 492)
        weights = cap.head("encoder", layer, head)
        np.testing.assert_allclose(z, weights, atol=1e-6)
        assert weights.max(-1).mean() > 0.9
        assert pg.get_by_text("Opened at a head with a clear pattern").is_visible()
        screenshot(pg, "landing_492_tokens")
    finally:
        context.close()


def hold_arrow(pg, label: str, presses: int) -> list[int]:
    """Hold ArrowRight on a slider for ``presses`` key repeats; every value it showed, in order."""
    thumb = pg.get_by_role("slider", name=label)
    thumb.focus()
    start = int(thumb.input_value())
    pg.evaluate(RECORD_JS, label)
    for _press in range(presses):
        pg.keyboard.down("ArrowRight")  # a repeat while held, as a keyboard's auto-repeat sends
        time.sleep(0.05)
    pg.keyboard.up("ArrowRight")
    time.sleep(3)  # any run still on its way would pull the slider back in this time
    return [start, *pg.evaluate("window.seen")]


@pytest.mark.parametrize("view", ["Head view", "Step by step"])
def test_holding_an_arrow_key_on_the_head_slider_walks_every_step(browser, dashboard_url, minilm, view):
    presses = 8
    query = urllib.parse.urlencode({"layer": 0, "head": 0, "view": view})
    context, pg = open_first_visit(browser, f"{dashboard_url}/?{query}")
    try:
        seen = hold_arrow(pg, "Head", presses)
        assert seen[0] == 0 and seen[-1] == presses, seen
        assert seen == sorted(seen), f"the slider went back: {seen}"
        cap = capture(minilm, EXAMPLE)
        if view == "Head view":
            title = f"minilm encoder layer 0 head {presses}"
            pg.wait_for_function(TITLE_JS, arg=title, timeout=60_000)
            np.testing.assert_allclose(trace_values(pg, title, "z").reshape(16, 16),
                                       cap.head("encoder", 0, presses), atol=1e-6)
        else:  # the softmax bars of query 1 ("the") in the head the slider shows
            expected = cap.head("encoder", 0, presses)[1]
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # until the last run has drawn
                bars = trace_values(pg, "2. softmax: the weights of", "y")
                if bars is not None and np.abs(bars - expected).max() < 1e-5:
                    break
                time.sleep(0.2)
            np.testing.assert_allclose(trace_values(pg, "2. softmax: the weights of", "y"), expected, atol=1e-5)
        assert pg.get_by_role("slider", name="Head").input_value() == str(presses)
        assert pg.locator("[data-testid='stException']").count() == 0
    finally:
        context.close()


def test_holding_an_arrow_key_on_the_generation_step_slider_walks_every_step(browser, dashboard_url):
    presses = 8
    context, pg = open_first_visit(browser, f"{dashboard_url}/?model=smollm2&view=Generation")
    try:
        seen = hold_arrow(pg, "Step", presses)
        assert seen[0] == 1 and seen[-1] == 1 + presses, seen
        assert seen == sorted(seen), f"the slider went back: {seen}"
        title = pg.locator(".js-plotly-plot .gtitle").filter(has_text=f"step {1 + presses}: each head of layer")
        title.wait_for(timeout=60_000)  # the figures follow the slider
        assert pg.get_by_role("slider", name="Step").input_value() == str(1 + presses)
        assert pg.locator("[data-testid='stException']").count() == 0
    finally:
        context.close()
