"""Downloads in a real Chromium: click a button under a chart or in the Export view and receive the file."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest

from tests import page_actions
from tests.conftest import screenshot
from tests.test_export import png_size

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


def download(pg, button, timeout: float = 90_000):
    """Click ``button`` and return (suggested file name, bytes) of the file the browser receives."""
    with pg.expect_download(timeout=timeout) as info:
        button.click()
    dl = info.value
    with open(dl.path(), "rb") as f:
        return dl.suggested_filename, f.read()


def test_chart_downloads_html_and_png(page):
    set_sentence(page, "The cat sat on the mat.")
    body = open_downloads(page)

    name, html = download(page, body.get_by_role("button", name="HTML", exact=True))
    assert name == "minilm_L0_H0_encoder.html"
    text = html.decode("utf-8")
    assert "Plotly.newPlot" in text and not re.search(r"<script[^>]*\bsrc\s*=", text)
    assert '"mat"' in text or "mat" in text

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
