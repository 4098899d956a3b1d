"""The Translation view in a real Chromium: the alignment drawn with one tick per token, then screenshotted."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SOURCE = "the third of march nineteen ninety eight"
WRITTEN = ["1", "9", "9", "8", "-", "0", "3", "-", "0", "3", "</s>"]


def ticks(plot, axis: str) -> list[str]:
    return plot.locator(f".{axis}tick text").all_text_contents()


def test_alignment_view(browser, dashboard_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1200})
    pg = context.new_page()
    try:
        # The address bar holds the model, sentence and view, as a bookmark would.
        pg.goto(f"{dashboard_url}/?{urlencode({'model': 'translator', 'view': 'Translation', 'text': SOURCE})}")
        pg.wait_for_function(
            "() => [...document.querySelectorAll('.js-plotly-plot .gtitle')]"
            ".some(t => t.textContent.startsWith('Cross-attention, layer'))",
            timeout=90_000,
        )
        alignment = pg.locator(".js-plotly-plot").filter(has_text="Cross-attention, layer").first
        assert ticks(alignment, "x") == SOURCE.split()
        assert ticks(alignment, "y") == WRITTEN
        assert alignment.locator(".hm image, .heatmaplayer").count() >= 1
        assert pg.get_by_text("1998-03-03").count() >= 1
        bars = pg.locator(".js-plotly-plot").filter(has_text="Step 1: writing")
        assert bars.locator(".point").count() == len(SOURCE.split())
        assert pg.locator("[data-testid='stException']").count() == 0
        screenshot(pg, "translation_alignment")
    finally:
        context.close()
