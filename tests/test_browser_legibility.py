"""What a person reads in Chromium at 1,400 px: the Statistics view's table, matrix and corpus chart, and
the multi-panel figures of Compare, Positions (ablation) and Interventions at 16 and at 443 tokens.

Geometry is read from the drawn SVG: panel titles, tick labels and each panel's plot area.
"""

from __future__ import annotations

import math

import pytest

from model import capture
from tests.conftest import screenshot
from tests.page_actions import choose_view, set_sentence
from viz.statistics import ERROR_BAR_COLOUR, MAX_MATRIX_TICKS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHORT = "The animal didn't cross the street because it was too tired."  # 16 MiniLM tokens
PARAGRAPH = ("Attention lets every token of a sentence look at every other token and decide how much of each to "
             "read. A transformer stacks many such layers, and each layer has several heads that learn different "
             "patterns: some follow the previous word, some look for the verb of a subject, some rest on "
             "punctuation. ")
LONG = " ".join((PARAGRAPH * 12).split()[:378])  # 443 MiniLM tokens, a long pasted text

# Per plot holding ``title``: its panels' plot areas, panel titles and tick labels, in page pixels.
GEOMETRY_JS = """(title) => {
  const gd = [...document.querySelectorAll('.js-plotly-plot')]
    .find(p => [...p.querySelectorAll('.annotation-text, .gtitle')].some(t => t.textContent.includes(title)));
  if (!gd || !gd._fullLayout) return null;
  const box = gd.getBoundingClientRect(), L = gd._fullLayout;
  const rect = e => { const r = e.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, text: e.textContent,
            size: parseFloat(getComputedStyle(e).fontSize)}; };
  const ids = Object.keys(L).filter(k => /^xaxis\\d*$/.test(k))
    .sort((a, b) => (parseInt(a.slice(5)) || 1) - (parseInt(b.slice(5)) || 1));
  return {
    panels: ids.map(k => ({left: box.left + L[k]._offset, right: box.left + L[k]._offset + L[k]._length})),
    titles: [...gd.querySelectorAll('.annotation-text')].map(rect),
    xticks: ids.map(k => [...gd.querySelectorAll(`.${k.replace('axis', '')}tick text`)].map(rect)),
    yticks: ids.map(k => [...gd.querySelectorAll(`.${k.replace('xaxis', 'y')}tick text`)].map(rect)),
  };
}"""


def wait_for_title(pg, text: str) -> None:
    pg.wait_for_function(
        "(text) => [...document.querySelectorAll('.js-plotly-plot')].some(p => "
        "[...p.querySelectorAll('.gtitle, .annotation-text')].some(t => t.textContent.includes(text)))",
        arg=text, timeout=180_000)


def geometry(pg, title: str) -> dict:
    geo = pg.evaluate(GEOMETRY_JS, title)
    assert geo is not None, f"no plot titled {title!r}"
    return geo


def assert_readable_panels(geo: dict, n_tokens: int) -> None:
    """Titles apart, row labels clear of the panel before, token labels a subset that does not overlap."""
    titles = sorted(geo["titles"], key=lambda t: t["left"])
    assert len(titles) == len(geo["panels"])
    for a, b in zip(titles, titles[1:], strict=False):
        assert a["right"] <= b["left"], f"panel titles overlap: {a['text']!r} and {b['text']!r}"
    for i, (panel, title) in enumerate(zip(geo["panels"], titles, strict=True)):
        assert title["right"] - title["left"] <= panel["right"] - panel["left"] + 40, title["text"]
        if i:
            for label in geo["yticks"][i]:
                assert label["left"] >= geo["panels"][i - 1]["right"] + 2, f"row label {label['text']!r} touches " \
                                                                            f"panel {i}"
    for xs, ys in zip(geo["xticks"], geo["yticks"], strict=True):
        assert 2 <= len(xs) <= n_tokens and len(ys) <= n_tokens
        anchors = sorted(x["right"] for x in xs)
        # labels tilted by 60 degrees are parallel lines: the gap between neighbours is dx * sin(60)
        gaps = [(b - a) * math.sin(math.radians(60)) for a, b in zip(anchors, anchors[1:], strict=False)]
        assert min(gaps) >= xs[0]["size"], f"token labels overlap: gaps {min(gaps):.1f} px"
        rows = sorted(ys, key=lambda y: y["top"])
        for a, b in zip(rows, rows[1:], strict=False):
            assert a["bottom"] <= b["top"] + 1, f"row labels overlap: {a['text']!r} and {b['text']!r}"


@pytest.fixture
def wide(browser, dashboard_url):
    context = browser.new_context(viewport={"width": 1400, "height": 2400})
    pg = context.new_page()
    messages: list[str] = []
    pg.on("console", lambda m: messages.append(m.text))
    pg.goto(dashboard_url)
    pg.console_messages = messages
    yield pg
    context.close()


def open_text(pg, text: str) -> None:
    set_sentence(pg, text)
    pg.locator(".js-plotly-plot").first.wait_for(timeout=180_000)


def no_exception(pg) -> None:
    assert pg.locator("[data-testid='stException']").count() == 0


def test_statistics_view_table_matrix_and_corpus_read_at_1400px(wide):
    pg = wide
    open_text(pg, SHORT)
    choose_view(pg, "Statistics")
    pg.locator("[data-testid='stDataFrame']").first.wait_for(timeout=120_000)
    pg.get_by_text("Attention sinks:").wait_for(timeout=60_000)
    scroll = pg.evaluate("() => { const s = document.querySelector(\"[data-testid='stDataFrame'] .dvn-scroller\");"
                         " return [s.scrollWidth, s.clientWidth]; }")
    assert scroll[0] <= scroll[1] + 1, f"the table is cut off: {scroll[0]} px of columns in {scroll[1]} px"
    no_exception(pg)
    screenshot(pg, "legibility_statistics_table_16")

    choose_view(pg, "Heads like this one")
    wait_for_title(pg, "pattern similarity")
    geo = geometry(pg, "pattern similarity")
    for ticks in (geo["xticks"][0], geo["yticks"][0]):
        assert 10 <= len(ticks) <= MAX_MATRIX_TICKS and min(t["size"] for t in ticks) >= 12
    rows = sorted(geo["yticks"][0], key=lambda y: y["top"])
    assert all(a["bottom"] <= b["top"] + 1 for a, b in zip(rows, rows[1:], strict=False))
    screenshot(pg, "legibility_statistics_similarity_16")

    choose_view(pg, "Corpus")
    pg.get_by_role("button", name="Compute over the corpus").click()
    wait_for_title(pg, "mean and standard deviation over 3 sentences")
    pg.wait_for_timeout(1000)
    assert not [m for m in pg.console_messages if "Invalid color" in m]
    strokes = pg.evaluate("() => [...document.querySelectorAll('.js-plotly-plot .errorbar path')]"
                          ".map(p => getComputedStyle(p).stroke)")
    assert len(strokes) == 72 and set(strokes) == {ERROR_BAR_COLOUR}
    fills = pg.evaluate("() => [...document.querySelectorAll('.js-plotly-plot .bars .point path')]"
                        ".map(p => getComputedStyle(p).fill)")
    assert len(fills) == 72 and fills[0] == "rgb(68, 1, 84)" and fills[-1] == "rgb(253, 231, 37)"  # Viridis
    scroll = pg.evaluate("() => [...document.querySelectorAll(\"[data-testid='stDataFrame'] .dvn-scroller\")]"
                         ".map(s => s.scrollWidth - s.clientWidth)")
    assert scroll and max(scroll) <= 1
    no_exception(pg)
    screenshot(pg, "legibility_statistics_corpus")


@pytest.mark.parametrize("text", [SHORT, LONG], ids=["16-tokens", "443-tokens"])
def test_compare_panels_read_at_1400px(wide, dashboard_url, minilm, text):
    n = len(capture(minilm, text).tokens)
    assert n == (16 if text == SHORT else 443)
    pg = wide
    pg.goto(f"{dashboard_url}/?layer=0&head=0")  # head 0 against head 1
    open_text(pg, text)
    choose_view(pg, "Compare")
    wait_for_title(pg, "difference: B: L0 H1 - A: L0 H0")
    geo = geometry(pg, "difference: B: L0 H1 - A: L0 H0")
    assert_readable_panels(geo, n)
    if n == 16:
        assert [len(xs) for xs in geo["xticks"]] == [16, 16, 16]  # every token fits three panels
    else:
        assert all(10 <= len(xs) <= 30 for xs in geo["xticks"]), "a long input labels a readable subset"
    no_exception(pg)
    screenshot(pg, f"legibility_compare_{n}")


def test_ablation_and_intervention_panels_read_at_1400px(wide):
    pg = wide
    open_text(pg, SHORT)
    choose_view(pg, "Positions")
    choose_view(pg, "Ablation")
    wait_for_title(pg, "difference: positions zeroed")
    assert_readable_panels(geometry(pg, "difference: positions zeroed"), 16)
    screenshot(pg, "legibility_ablation_16")

    choose_view(pg, "Interventions")
    pg.get_by_text("Heads to knock out together").wait_for(timeout=180_000)
    pg.locator("[data-testid='stMultiSelect']").first.click()
    pg.keyboard.type("encoder L5 H3")  # the list of 72 heads draws only what is in view: filter it
    pg.get_by_role("option", name="encoder L5 H3", exact=True).click()
    pg.keyboard.press("Escape")
    wait_for_title(pg, "B: without encoder L5 H3")
    assert_readable_panels(geometry(pg, "B: without encoder L5 H3"), 16)
    no_exception(pg)
    screenshot(pg, "legibility_interventions_16")
