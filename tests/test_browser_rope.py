"""The Positions view in a real Chromium: SmolLM2's RoPE sections at 16 and ~500 tokens, MiniLM's vectors on a
robust colour range; what the page drew is read back from Plotly and compared with the capture."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import numpy as np
import pytest

from model import capture, load_model, rope
from tests.conftest import screenshot
from tests.page_actions import SENTENCE, set_sentence, trace_values
from tests.page_actions import choose_view as click
from tests.test_browser_analysis import no_exception, pick, wait_for_title
from viz.positional import colour_range

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHORT = "The capital of France is Paris, and the capital of Italy is Rome."
LONG = " ".join(["The quick brown fox jumps over the lazy dog, and the old man watched it from the hill."] * 24)
# section -> a title (or subplot title) its figure holds once drawn
SECTIONS = {"Rotation speeds": "RoPE turns 32 dimension pairs", "One query's scores": "pair by pair",
            "Scores by offset": "mean score by offset", "Without rotation": "the rotation taken out",
            "Offsets": "mean weight by offset key - query", "Ablation": "words shuffled"}
# every trace's z, x and y sizes of every plot on the page
SIZES_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].flatMap(gd => (gd.data || []).map(t =>
  Math.max(...['z', 'x', 'y'].map(a => !t[a] ? 0 : (t[a].length || 0) * ((t[a][0] && t[a][0].length) || 1)))))"""
RANGE_JS = """(title) => {
  const gd = [...document.querySelectorAll('.js-plotly-plot')]
    .find(p => [...p.querySelectorAll('.gtitle')].some(t => t.textContent.includes(title)));
  return gd && gd.data ? [gd.data[0].zmin, gd.data[0].zmax, gd.data[0].colorbar.title.text] : null;
}"""


@pytest.fixture(scope="module")
def smollm2():
    return load_model("smollm2")


def open_page(browser, url: str, params: dict[str, str]):
    context = browser.new_context(viewport={"width": 1400, "height": 2200})
    pg = context.new_page()
    pg.goto(f"{url}/?{urlencode(params)}")
    return context, pg


def read_only(pg) -> None:
    """Untick "Continue the text": the model reads the prompt and writes nothing."""
    box = pg.get_by_label("Continue the text", exact=True)
    box.wait_for(timeout=120_000)
    if box.is_checked():
        pg.get_by_text("Continue the text", exact=True).click()


def every_section(pg, name: str) -> None:
    for section, title in SECTIONS.items():
        click(pg, section)
        wait_for_title(pg, title)
        no_exception(pg)
        # the ablation pools beyond 512 tokens a side, the pattern without rotation beyond 256
        assert max(pg.evaluate(SIZES_JS)) <= (512 if section == "Ablation" else 256) ** 2, section
        screenshot(pg, f"positions_rope_{name}_{section.lower().replace(' ', '_').replace(chr(39), '')}")


def test_rope_sections_short(browser, dashboard_url, smollm2):
    context, pg = open_page(browser, dashboard_url, {"model": "smollm2", "view": "Positions", "text": SHORT,
                                                     "layer": "18", "head": "8"})
    try:
        read_only(pg)
        cap = capture(smollm2, SHORT)
        n = len(cap.tokens)
        wait_for_title(pg, SECTIONS["Rotation speeds"])
        np.testing.assert_allclose(trace_values(pg, "RoPE turns", "y"), rope.frequencies(64, cap.rope_theta),
                                   rtol=1e-6)
        click(pg, "One query's scores")
        wait_for_title(pg, f"query {n - 1}")
        drawn = trace_values(pg, "scores with and without the rotation", "y")
        np.testing.assert_allclose(drawn, cap.scores("decoder", 18, 8)[n - 1], atol=1e-5)
        click(pg, "Without rotation")
        wait_for_title(pg, "the rotation taken out")
        np.testing.assert_allclose(trace_values(pg, "the rotation taken out", "z"),
                                   rope.unrotated_pattern(cap, "decoder", 18, 8), atol=1e-6)
        every_section(pg, f"{n}_tokens")
        click(pg, "One query's scores")
        wait_for_title(pg, "pair by pair")
        pg.get_by_text("What am I looking at?").click()
        pg.get_by_text("Why there are no position vectors here.").wait_for(timeout=30_000)
        assert pg.get_by_text("attention sink", exact=False).count() >= 1
        screenshot(pg, f"positions_rope_{n}_tokens_explained")
    finally:
        context.close()


def test_rope_sections_long(browser, dashboard_url, smollm2):
    # a previous-token head: the rotation, not content, puts its weight on the token before
    context, pg = open_page(browser, dashboard_url, {"model": "smollm2", "view": "Positions", "layer": "16",
                                                     "head": "0"})
    try:
        read_only(pg)
        set_sentence(pg, LONG)
        screenshot(pg, "positions_rope_long_typed")
        n = len(capture(smollm2, LONG).tokens)
        assert 450 <= n <= 550
        wait_for_title(pg, SECTIONS["Rotation speeds"])
        pg.wait_for_function("(t) => document.body.innerText.includes(t) || [...document.querySelectorAll("
                             "'.js-plotly-plot text')].some(e => e.textContent.includes(t))",
                             arg=f"this text: {n} tokens", timeout=120_000)
        every_section(pg, f"{n}_tokens")
        click(pg, "Without rotation")
        pick(pg, "128 tokens up to the query token, every weight")
        wait_for_title(pg, "the rotation taken out")
        pg.get_by_text(re.compile(r"^Queries and keys \d+\.\.\d+")).wait_for(timeout=60_000)
        # the caption comes before the chart in the page: the chart may still be redrawing from the overview
        shape = None
        for _attempt in range(120):
            shape = trace_values(pg, "the rotation taken out", "z").shape
            if shape == (128, 128):
                break
            pg.wait_for_timeout(500)
        assert shape == (128, 128)
        screenshot(pg, f"positions_rope_{n}_tokens_without_rotation_window")
    finally:
        context.close()


def test_minilm_vectors_on_a_robust_range(browser, dashboard_url, minilm):
    context, pg = open_page(browser, dashboard_url, {"model": "minilm", "view": "Positions", "text": SENTENCE})
    try:
        wait_for_title(pg, "positional vectors added to this sentence")
        zmin, zmax, bar = pg.evaluate(RANGE_JS, "added to this sentence")
        limit = colour_range(capture(minilm, SENTENCE).positions).limit
        assert zmin == pytest.approx(-limit) and zmax == pytest.approx(limit) and "clipped" in bar
        assert pg.get_by_text("dim 99 (1.87)", exact=False).count() == 1  # the caption names the outlier
        screenshot(pg, "positions_minilm_vectors_sentence")

        pick(pg, "the model's whole table (512 positions, learned)")
        wait_for_title(pg, "all positions")
        table, _ = minilm.position_table()
        zmin, zmax, _ = pg.evaluate(RANGE_JS, "all positions")
        assert zmax == pytest.approx(colour_range(table).limit) and zmax < 0.1 < float(np.abs(table).max())
        screenshot(pg, "positions_minilm_vectors_table")

        pick(pg, "each dimension to its own range")
        pg.wait_for_function(f"() => JSON.stringify(({RANGE_JS})('all positions')).includes('dim')", timeout=60_000)
        zmin, zmax, _ = pg.evaluate(RANGE_JS, "all positions")
        assert (zmin, zmax) == (-1, 1)
        screenshot(pg, "positions_minilm_vectors_per_dimension")
        no_exception(pg)
    finally:
        context.close()
