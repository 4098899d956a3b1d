"""The dashboard in a real Chromium: type a sentence, see the views drawn."""

from __future__ import annotations

import urllib.parse

import numpy as np
import pytest

from model import capture
from tests.conftest import screenshot
from tests.page_actions import TICKS_JS, TOKENS, choose_view, set_sentence, trace_values, x_ticks

pytestmark = [pytest.mark.browser, pytest.mark.slow]

def test_heatmap_has_one_tick_per_token(page):
    set_sentence(page, "the cat saw the dog and the bird")
    page.wait_for_function(TICKS_JS.format(" ".join(TOKENS)), timeout=60_000)
    assert x_ticks(page) == TOKENS
    assert page.locator("[data-testid='stException']").count() == 0
    screenshot(page, "head_view")


def test_model_view_draws_a_panel_per_layer_and_head(page):
    set_sentence(page, "the cat saw the dog and the bird")
    page.wait_for_function(TICKS_JS.format(" ".join(TOKENS)), timeout=60_000)
    choose_view(page, "Model view")
    heads = " ".join(f"H{h}" for h in range(12))
    page.wait_for_function(TICKS_JS.format(heads), timeout=60_000)
    plot = page.locator(".js-plotly-plot").first
    layers = plot.locator(".ytick text").all_text_contents()
    assert layers == [f"L{i}" for i in range(6)]
    assert len(x_ticks(page)) * len(layers) == 72
    assert plot.locator(".hm image").count() == 1  # the 72 thumbnails are one image
    assert page.locator("[data-testid='stException']").count() == 0
    screenshot(page, "model_view")


def test_markup_emoji_and_chinese_render_as_text(page):
    set_sentence(page, "<b>bold</b> \U0001f600 \u6211\u7231\u732b")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.js-plotly-plot .xtick text')].some(t => t.textContent === '<')",
        timeout=60_000,
    )
    ticks = x_ticks(page)
    # the emoji and two of the characters are not in MiniLM's vocabulary: [UNK], shown as text
    assert ticks == ["[CLS]", "<", "b", ">", "bold", "<", "/", "b", ">", "[UNK]", "\u6211", "[UNK]", "[UNK]", "[SEP]"]
    # the token "b" between "<" and ">" stays text: no bold markup reached the plot
    assert page.locator(".js-plotly-plot .xtick text b, .js-plotly-plot .xtick tspan[style*='bold']").count() == 0
    assert page.locator("[data-testid='stException']").count() == 0
    screenshot(page, "markup_emoji_chinese")


def test_url_opens_the_step_by_step_view(browser, dashboard_url, minilm):
    context = browser.new_context(viewport={"width": 1400, "height": 1400})
    try:
        pg = context.new_page()
        query = urllib.parse.urlencode({"text": "the cat saw the dog and the bird", "view": "Step by step",
                                        "layer": "2", "head": "5"})
        pg.goto(f"{dashboard_url}/?{query}")
        pg.wait_for_selector(".js-plotly-plot .bars", timeout=60_000)
        pg.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=30_000)
        assert pg.locator("[data-testid='stException']").count() == 0
        # The bars are the softmax row of the first word ("the", query 1) in layer 2, head 5 of this sentence
        cap = capture(minilm, "the cat saw the dog and the bird")
        weights = trace_values(pg, "2. softmax: the weights of", "y")
        np.testing.assert_allclose(weights, cap.head("encoder", 2, 5)[1], atol=1e-5)
        assert np.abs(weights - cap.head("encoder", 0, 0)[1]).max() > 1e-2  # not the default head
        params = urllib.parse.parse_qs(urllib.parse.urlparse(pg.url).query)
        assert params == {"model": ["minilm"], "text": ["the cat saw the dog and the bird"],
                          "view": ["Step by step"], "layer": ["2"], "head": ["5"], "query": ["1"]}
        screenshot(pg, "step_by_step")
    finally:
        context.close()


def test_lines_view(page):
    set_sentence(page, "the cat saw the dog and the bird")
    page.wait_for_function(TICKS_JS.format(" ".join(TOKENS)), timeout=60_000)
    choose_view(page, "Lines")
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .textpoint text').length === 20",
                           timeout=60_000)
    texts = page.locator(".js-plotly-plot .textpoint text").all_text_contents()
    assert texts == TOKENS + TOKENS  # queries on the left, keys on the right
    assert page.locator("[data-testid='stException']").count() == 0
    screenshot(page, "lines_view")


def test_clicking_the_chosen_view_or_section_again_keeps_it(page):
    set_sentence(page, "the cat saw the dog and the bird")
    page.wait_for_function(TICKS_JS.format(" ".join(TOKENS)), timeout=60_000)
    choose_view(page, "Statistics")
    choose_view(page, "Rollout")
    page.locator(".js-plotly-plot .gtitle").filter(has_text="rollout").first.wait_for(timeout=60_000)
    # a second click on the chosen option used to clear it, and the page fell back to the head view
    choose_view(page, "Statistics")
    choose_view(page, "Rollout")
    page.wait_for_timeout(2_000)
    assert page.get_by_role("radio", name="Statistics", exact=True).is_checked()
    assert page.get_by_role("radio", name="Rollout", exact=True).is_checked()
    assert page.locator(".js-plotly-plot .gtitle").filter(has_text="rollout").count() >= 1
    assert "view=Statistics" in page.url and "stats_section=Rollout" in page.url
