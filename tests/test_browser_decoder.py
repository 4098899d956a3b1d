"""SmolLM2 in a real Chromium: readable, marked tokens on the axes, the Generation view, the model view's
key/value-head labels, sink flags and a click on a thumbnail that opens that head."""

from __future__ import annotations

import urllib.parse

import numpy as np
import pytest

from model import capture, load_model
from model.readable import GENERATED_MARK
from tests.conftest import screenshot
from tests.page_actions import trace_values

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PROMPT = "中文 and code: def f(x):"


@pytest.fixture(scope="module")
def reference():
    return capture(load_model("smollm2"), PROMPT, max_new_tokens=20)


def open_page(browser, dashboard_url, view: str, **params):
    context = browser.new_context(viewport={"width": 1400, "height": 2400})
    pg = context.new_page()
    query = urllib.parse.urlencode({"model": "smollm2", "text": PROMPT, "view": view, **params})
    pg.goto(f"{dashboard_url}/?{query}")
    pg.locator(".js-plotly-plot").first.wait_for(timeout=240_000)
    return context, pg


def test_head_view_axes_read_as_text_with_the_continuation_marked(browser, dashboard_url, reference):
    context, pg = open_page(browser, dashboard_url, "Head view", layer="5", head="0")
    try:
        plot = pg.locator(".js-plotly-plot").first
        ticks = plot.locator(".ytick text").all_text_contents()
        assert ticks[:4] == ["中", "文", "␣and", "␣code"]  # not "ä¸Ń", "æĸĩ", "Ġand"
        assert all(t.endswith(GENERATED_MARK) for t in ticks[-reference.n_generated:])
        z = trace_values(pg, "layer 5 head 0", "z").reshape(len(reference.tokens), -1)
        np.testing.assert_allclose(z, reference.head("decoder", 5, 0), atol=1e-6)
        screenshot(pg, "smollm2_head_view")
    finally:
        context.close()


def test_generation_view_draws_each_heads_row_at_the_step(browser, dashboard_url, reference):
    context, pg = open_page(browser, dashboard_url, "Generation", layer="5", head="0")
    try:
        pg.get_by_text("Step 1 wrote").wait_for(timeout=120_000)
        n_prompt = len(reference.tokens) - reference.n_generated
        z = trace_values(pg, "each head of layer 5", "z").reshape(9, n_prompt)
        np.testing.assert_allclose(z, reference.layer("decoder", 5)[:, n_prompt - 1, :n_prompt], atol=1e-6)
        assert pg.locator("[data-testid='stException']").count() == 0
        screenshot(pg, "smollm2_generation")
    finally:
        context.close()


def test_model_view_names_kv_heads_flags_sinks_and_a_click_opens_the_head(browser, dashboard_url, reference):
    context, pg = open_page(browser, dashboard_url, "Model view")
    try:
        plot = pg.locator(".js-plotly-plot").first
        heads = plot.locator(".xtick text").all_text_contents()
        assert heads[:4] == ["H0KV0", "H1KV0", "H2KV0", "H3KV1"]  # two lines of one tick: H0 over KV0
        flagged = reference.first_share("decoder") >= 0.5
        assert pg.get_by_text(f"{int(flagged.sum())} of 270 heads are attention sinks").count() == 1
        assert plot.locator(".scatterlayer .trace").nth(1).locator(".point").count() == int(flagged.sum())
        screenshot(pg, "smollm2_model_view")
        box = plot.locator(".scatterlayer .trace").first.locator(".point").nth(7 * 9 + 4).bounding_box()
        pg.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        pg.locator(".js-plotly-plot .gtitle").filter(has_text="layer 7 head 4").wait_for(timeout=120_000)
        assert pg.get_by_role("radio", name="Head view", exact=True).is_checked()
    finally:
        context.close()
