"""What the browser tests do on the page: type a sentence, choose a view, read the ticks."""

from __future__ import annotations

SENTENCE = "the cat saw the dog and the bird"
TOKENS = ["[CLS]", "the", "cat", "saw", "the", "dog", "and", "the", "bird", "[SEP]"]
# true once the first plots' x tick labels, joined by spaces, equal the formatted string
TICKS_JS = ("() => [...document.querySelectorAll('.js-plotly-plot .xtick text')].map(t => t.textContent)"
            ".join(' ') === {!r}")


def set_sentence(pg, text: str) -> None:
    """Type ``text`` into the sentence box and submit it (Ctrl+Enter)."""
    box = pg.get_by_label("Sentence", exact=True)
    box.fill(text)
    box.press("Control+Enter")


def wait_for_ticks(pg, tokens: list[str], timeout: float = 60_000) -> None:
    """Until the drawn x ticks are exactly ``tokens``."""
    pg.wait_for_function(TICKS_JS.format(" ".join(tokens)), timeout=timeout)


def choose_view(pg, name: str) -> None:
    """An option of a segmented control (a view, a section), by its exact label."""
    pg.get_by_role("radio", name=name, exact=True).click()


def x_ticks(pg) -> list[str]:
    return pg.locator(".js-plotly-plot").first.locator(".xtick text").all_text_contents()
