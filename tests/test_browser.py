"""The dashboard in a real Chromium: type a sentence, see the heatmap drawn."""

from __future__ import annotations

import pytest

from tests.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def set_sentence(pg, text: str) -> None:
    box = pg.get_by_label("Sentence", exact=True)
    box.fill(text)
    box.press("Control+Enter")


def test_heatmap_has_one_tick_per_token(page):
    set_sentence(page, "the cat saw the dog and the bird")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.js-plotly-plot .xtick text')].map(t => t.textContent)"
        ".join(' ') === '[CLS] the cat saw the dog and the bird [SEP]'",
        timeout=60_000,
    )
    ticks = page.locator(".js-plotly-plot").first.locator(".xtick text").all_text_contents()
    assert ticks == ["[CLS]", "the", "cat", "saw", "the", "dog", "and", "the", "bird", "[SEP]"]
    assert page.locator("[data-testid='stException']").count() == 0
    screenshot(page, "head_view")
