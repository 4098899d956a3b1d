"""Downloads in a real Chromium: click a button under a chart or in the Export view and receive the file."""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pytest

from model import capture
from tests import page_actions
from tests.conftest import screenshot
from tests.page_actions import download, png_size

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TOKENS = ["[CLS]", "the", "cat", "sat", "on", "the", "mat", ".", "[SEP]"]


def set_sentence(pg, text: str) -> None:
    """Submit ``text`` and wait until its head view is drawn."""
    page_actions.set_sentence(pg, text)
    page_actions.wait_for_ticks(pg, TOKENS)


def open_downloads(pg):
    """Open the first chart's "Download" popover; returns its body."""
    pg.get_by_test_id("stPopover").first.get_by_role("button").click()
    body = pg.get_by_test_id("stPopoverBody")
    body.wait_for(state="visible", timeout=10_000)
    return body


def plotly_figure(html: str) -> tuple[list[dict], dict]:
    """The traces and layout an exported page passes to ``Plotly.newPlot(div, data, layout, config)``."""
    assert html.count("Plotly.newPlot(") == 1
    rest = html[html.index("Plotly.newPlot(") + len("Plotly.newPlot("):]
    decoder = json.JSONDecoder()
    args = []
    for _ in range(3):  # the div id, the traces, the layout
        value, end = decoder.raw_decode(rest.lstrip())
        args.append(value)
        rest = rest.lstrip()[end:].lstrip()
        assert rest.startswith(","), rest[:40]
        rest = rest[1:]
    return args[1], args[2]


def array_of(value) -> np.ndarray:
    """A trace's array as Plotly wrote it: a base64 typed array (``shape`` when 2-D) or a nested list."""
    if isinstance(value, dict):
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        return flat.reshape([int(s) for s in str(value["shape"]).split(",")]) if "shape" in value else flat
    return np.asarray(value, dtype=np.float64)


def test_chart_downloads_html_and_png(page, dashboard_url, minilm):
    page.goto(f"{dashboard_url}/?layer=0&head=0")
    set_sentence(page, "The cat sat on the mat.")
    body = open_downloads(page)

    name, html = download(page, body.get_by_role("button", name="HTML", exact=True))
    assert name == "minilm_L0_H0_encoder.html"
    text = html.decode("utf-8")
    assert not re.search(r"<script[^>]*\bsrc\s*=", text)  # plotly.js inlined: opens offline
    data, layout = plotly_figure(text)
    assert [t["type"] for t in data] == ["heatmap"]
    z = array_of(data[0]["z"])
    # the page's figure is head 0 of layer 0, every weight exact, one row and column per token
    np.testing.assert_allclose(z, capture(minilm, "The cat sat on the mat.").head("encoder", 0, 0), atol=1e-6)
    assert layout["xaxis"]["ticktext"] == TOKENS and layout["yaxis"]["ticktext"] == TOKENS
    assert len(data[0]["x"]) == len(set(data[0]["x"])) == len(TOKENS)  # the two "the" keep their own columns
    assert layout["title"]["text"] == "minilm encoder layer 0 head 0"

    # Choose the image size in the popover, then download the PNG it describes.
    for label, value in (("Width (px)", "600"), ("Height (px)", "450")):
        box = body.get_by_label(label, exact=True)
        box.fill(value)
        box.press("Enter")
    # The caption is drawn by the rerun the new size started: once it shows, the buttons are current.
    body.get_by_text("PNG 1200 x 900 px").wait_for(timeout=60_000)
    name, png = download(page, body.get_by_role("button", name="PNG", exact=True))
    assert name == "minilm_L0_H0_encoder.png"
    assert png_size(png) == (1200, 900)  # 600 x 450 at the default 2x
    assert page.locator("[data-testid='stException']").count() == 0
    screenshot(page, "export_popover")


def test_export_view_downloads_the_capture_as_npz(page):
    set_sentence(page, "The cat sat on the mat.")
    page.locator("[data-testid='stButtonGroup']").get_by_text("Export", exact=True).click()
    button = page.get_by_role("button", name="NPZ (exact)")
    button.wait_for(timeout=60_000)
    name, data = download(page, button)
    assert name == "minilm_capture.npz"
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        assert list(z["tokens"]) == TOKENS
        att = z["attentions/encoder"]
    assert att.shape == (6, 12, len(TOKENS), len(TOKENS))
    np.testing.assert_allclose(att.sum(-1), 1.0, atol=1e-5)
    screenshot(page, "export_view")
