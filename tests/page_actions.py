"""What the browser tests do on the page: type a sentence, choose a view, read the ticks, download a file."""

from __future__ import annotations

import base64
import struct

import numpy as np

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


CHOSEN_JS = ("name => [...document.querySelectorAll('[role=radio][aria-checked=true]')]"
             ".some(e => e.textContent === name)")


def wait_for_chosen(pg, name: str, timeout: float = 120_000) -> None:
    """Until the option ``name`` of a segmented control shows as chosen.

    A page opened from a link gets its first run's values (the view, the sentence) only once the browser has
    drawn the widgets; a click before that reruns with the widgets' empty defaults, and the page falls back
    to the head view with no sentence. Waiting for the view's option to show as chosen waits that out.
    """
    pg.wait_for_function(CHOSEN_JS, arg=name, timeout=timeout)


def x_ticks(pg) -> list[str]:
    return pg.locator(".js-plotly-plot").first.locator(".xtick text").all_text_contents()


def download(pg, button, timeout: float = 90_000) -> tuple[str, bytes]:
    """Click ``button`` and return (suggested file name, bytes) of the file the browser receives."""
    with pg.expect_download(timeout=timeout) as info:
        button.click()
    dl = info.value
    with open(dl.path(), "rb") as f:
        return dl.suggested_filename, f.read()


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (asserts it is a PNG)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"not a PNG: {data[:16]!r}"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


TRACE_JS = """([title, attr]) => {
  const gd = [...document.querySelectorAll('.js-plotly-plot')]
    .find(p => [...p.querySelectorAll('.gtitle')].some(t => t.textContent.includes(title)));
  if (!gd || !gd.data) return null;
  const v = gd.data[0][attr];
  if (ArrayBuffer.isView(v)) return Array.from(v);
  if (v && v.bdata) return {dtype: v.dtype, bdata: v.bdata, shape: v.shape ? String(v.shape) : null};
  return v;
}"""


def trace_values(pg, title: str, attr: str) -> np.ndarray | None:
    """``data[0][attr]`` of the first plot titled with ``title`` as the browser holds it (None: no such plot)."""
    v = pg.evaluate(TRACE_JS, [title, attr])
    if isinstance(v, dict):
        flat = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        return flat.reshape([int(x) for x in v["shape"].split(",")]) if v["shape"] else flat
    return None if v is None else np.asarray(v, dtype=np.float64)
