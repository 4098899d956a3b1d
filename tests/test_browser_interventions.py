"""The Interventions view in a real Chromium: the map drawn, a click on a cell knocks that head out."""

from __future__ import annotations

import numpy as np
import pytest

from model.interventions import head_importance
from tests.conftest import screenshot
from tests.page_actions import SENTENCE, TICKS_JS, TOKENS, choose_view, set_sentence, trace_values

pytestmark = [pytest.mark.browser, pytest.mark.slow]
MAP_TITLE = "exact effect of each head alone"


@pytest.fixture
def page(browser, dashboard_url):
    context = browser.new_context(viewport={"width": 1400, "height": 2000})
    pg = context.new_page()
    pg.goto(dashboard_url)
    set_sentence(pg, SENTENCE)
    pg.wait_for_function(TICKS_JS.format(" ".join(TOKENS)), timeout=60_000)
    choose_view(pg, "Interventions")
    pg.locator(".js-plotly-plot").filter(has_text=MAP_TITLE).wait_for(timeout=120_000)
    yield pg
    context.close()


def test_the_map_draws_every_heads_effect_and_a_click_knocks_it_out(page, minilm):
    pg = page
    drawn = trace_values(pg, MAP_TITLE, "z")
    np.testing.assert_allclose(np.asarray(drawn).reshape(6, 12),
                               head_importance(minilm, SENTENCE).pivot(index="layer", columns="head",
                                                                       values="effect").to_numpy(), atol=1e-5)
    plot = pg.locator(".js-plotly-plot").filter(has_text=MAP_TITLE)
    ticks = plot.locator(".ytick text")
    tops = {ticks.nth(i).text_content(): ticks.nth(i).bounding_box()["y"] for i in range(ticks.count())}
    assert sorted(tops, key=tops.get) == [f"L{i}" for i in range(6)]  # L0 at the top
    screenshot(pg, "interventions_map")
    # the cell of L2 H5: its invisible point takes the click
    box = plot.locator(".scatterlayer .point").nth(2 * 12 + 5).bounding_box()
    pg.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    pg.get_by_text("Without them:").wait_for(timeout=120_000)
    assert pg.get_by_text("encoder L2 H5").count() >= 1  # now among the heads knocked out
    assert pg.locator("[data-testid='stMetricValue']").count() == 1
    assert pg.locator("[data-testid='stException']").count() == 0
    screenshot(pg, "interventions_knocked_out")
