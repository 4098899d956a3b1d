"""The Positions, Compare and Statistics views in a real Chromium: each drawn, then screenshotted."""

from __future__ import annotations

import re

import pytest

from tests.conftest import screenshot
from tests.page_actions import SENTENCE, TICKS_JS, TOKENS, set_sentence
from tests.page_actions import choose_view as click

pytestmark = [pytest.mark.browser, pytest.mark.slow]

def pick(pg, label: str) -> None:
    """An option of a radio group: its label takes the click, the input itself is hidden."""
    pg.get_by_role("radiogroup").get_by_text(label, exact=True).click()


def wait_for_title(pg, text: str, count: int = 1) -> None:
    """Until ``count`` plots hold a title (or subplot title, its wrapped lines joined) containing ``text``."""
    pg.wait_for_function(
        "([text, count]) => [...document.querySelectorAll('.js-plotly-plot')]"
        ".filter(p => [...p.querySelectorAll('.gtitle, .annotation-text')]"
        ".some(t => ([...t.querySelectorAll('tspan.line')].map(l => l.textContent).join(' ') || t.textContent)"
        ".includes(text))).length >= count",
        arg=[text, count], timeout=90_000,
    )


def no_exception(pg) -> None:
    assert pg.locator("[data-testid='stException']").count() == 0


@pytest.fixture
def ready(browser, dashboard_url):
    """The dashboard on the test sentence at layer 0, head 0, in a window tall enough to screenshot a view whole."""
    context = browser.new_context(viewport={"width": 1400, "height": 2200})
    pg = context.new_page()
    pg.goto(f"{dashboard_url}/?layer=0&head=0")
    set_sentence(pg, SENTENCE)
    pg.wait_for_function(TICKS_JS.format(" ".join(TOKENS)), timeout=60_000)
    yield pg
    context.close()


def test_positions_view(ready):
    pg = ready
    click(pg, "Positions")
    wait_for_title(pg, "positional vectors added to this sentence")
    plot = pg.locator(".js-plotly-plot").first
    assert plot.locator(".ytick text").all_text_contents() == TOKENS
    no_exception(pg)
    screenshot(pg, "positions_vectors")

    click(pg, "Similarity")
    pick(pg, "the model's whole table (512 positions, learned)")
    wait_for_title(pg, "all positions: cosine similarity")
    plot = pg.locator(".js-plotly-plot").filter(has_text="all positions: cosine similarity")
    assert plot.locator(".hm image").count() == 1  # 512 x 512 drawn as one image
    no_exception(pg)
    screenshot(pg, "positions_similarity_512")

    click(pg, "Offsets")
    wait_for_title(pg, "mean weight by offset")
    plot = pg.locator(".js-plotly-plot").filter(has_text="mean weight by offset")
    heads = plot.locator(".ytick text").all_text_contents()
    assert heads and all(re.fullmatch(r"L[0-5] H\d{1,2}", h) for h in heads)
    screenshot(pg, "positions_offsets")

    click(pg, "Ablation")
    wait_for_title(pg, "words shuffled, put back in order")
    assert pg.get_by_text("self-attention cannot tell word order apart").count() == 1
    pg.get_by_text("differs from the unshuffled one by at most").wait_for(timeout=60_000)
    no_exception(pg)
    screenshot(pg, "positions_ablation")


def test_compare_view(ready):
    pg = ready
    click(pg, "Compare")
    wait_for_title(pg, "difference: B: L0 H1 - A: L0 H0")
    no_exception(pg)
    screenshot(pg, "compare_two_heads")

    pick(pg, "Two sentences")
    wait_for_title(pg, "difference: B - A")
    plot = pg.locator(".js-plotly-plot").filter(has_text="difference: B - A")
    assert "tired" in plot.locator(".xtick text").all_text_contents()  # panel A
    assert "wide" in plot.locator(".x2tick text").all_text_contents()  # panel B
    no_exception(pg)
    screenshot(pg, "compare_two_sentences")

    pick(pg, "With / without positions")
    wait_for_title(pg, "B: positions zeroed")
    no_exception(pg)
    screenshot(pg, "compare_positions")


def test_statistics_view(ready):
    pg = ready
    click(pg, "Statistics")
    wait_for_title(pg, "every head")
    pg.locator("[data-testid='stDataFrame']").first.wait_for(timeout=60_000)
    assert pg.locator("[data-testid='stDataFrame']").count() == 1
    assert pg.locator(".js-plotly-plot .scatterlayer .point").count() >= 72
    no_exception(pg)
    screenshot(pg, "statistics_table")

    click(pg, "Heads like this one")
    wait_for_title(pg, "heads grouped by cluster")
    screenshot(pg, "statistics_alike")

    click(pg, "Rollout")
    wait_for_title(pg, "attention rollout")
    screenshot(pg, "statistics_rollout")

    click(pg, "Corpus")
    pg.get_by_role("button", name="Compute over the corpus").click()
    wait_for_title(pg, "mean and standard deviation over 3 sentences")
    no_exception(pg)
    screenshot(pg, "statistics_corpus")

    click(pg, "This sentence")
    wait_for_title(pg, "every head")
    pg.get_by_role("button", name="Open L0 H0 in the head view").click()
    pg.wait_for_function(TICKS_JS.format(" ".join(TOKENS)), timeout=60_000)
    no_exception(pg)


def test_translator_positions_and_cross_statistics(browser, dashboard_url):
    """The translator's sinusoidal table over all its positions, and its cross-attention statistics."""
    context = browser.new_context(viewport={"width": 1400, "height": 2200})
    try:
        pg = context.new_page()
        pg.goto(dashboard_url)
        pg.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").filter(has_text="Model").click()
        pg.get_by_role("option", name="Translator", exact=False).click()
        set_sentence(pg, "the third of march 1998")
        pg.wait_for_function(TICKS_JS.format("the third of march 1 9 9 8"), timeout=90_000)
        click(pg, "Positions")
        click(pg, "Similarity")
        pg.get_by_role("radiogroup").get_by_text("the model's whole table", exact=False).click()
        wait_for_title(pg, "sinusoidal positional vectors, all positions: cosine similarity")
        no_exception(pg)
        screenshot(pg, "translator_sinusoidal_similarity")

        click(pg, "Statistics")
        wait_for_title(pg, "translator encoder: every head")
        pg.get_by_role("radiogroup").get_by_text("cross-attention", exact=False).click()
        wait_for_title(pg, "translator cross: every head")
        pg.locator("[data-testid='stDataFrame']").first.wait_for(timeout=60_000)
        no_exception(pg)
        screenshot(pg, "translator_cross_statistics")
    finally:
        context.close()
