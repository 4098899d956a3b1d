"""The served dashboard against a 10 MB paste and a killed image renderer, in a real Chromium.

A 10,000,000-character text is cut to the first 100,000 characters before tokenising, said
in a notice, drawn, and kept out of the address bar. Killing the Chromium tab that renders
images for the server does not break the next PNG download: the renderer starts again.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest

from model.codec import MAX_TEXT_CHARS
from tests.conftest import screenshot
from tests.page_actions import download, png_size, set_sentence, wait_for_ticks

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TIMEOUT = 120_000  # ms; the first run loads the model, and the machine is shared
EXCEPTION = "[data-testid='stException']"
PLOT = ".js-plotly-plot"
HUGE_CHARS = 10_000_000


def paste(pg, word: str, times: int) -> None:
    """Put ``word * times`` into the sentence box at once, as a paste does, and submit it (Ctrl+Enter).

    Typing or ``fill`` would send millions of key events; the text is built in the page and set through
    the textarea's native value setter, then announced with an input event so that React takes it.
    """
    box = pg.get_by_label("Sentence", exact=True)
    box.evaluate(
        "(el, [word, times]) => {"
        " const set = Object.getOwnPropertyDescriptor(HTMLTextAreaElement.prototype, 'value').set;"
        " set.call(el, word.repeat(times));"
        " el.dispatchEvent(new Event('input', {bubbles: true})); }",
        [word, times],
    )
    assert box.evaluate("el => el.value.length") == len(word) * times
    box.press("Control+Enter")


def test_ten_megabyte_paste_is_cut_with_a_notice_and_drawn(page):
    page.wait_for_selector(PLOT, timeout=TIMEOUT)
    paste(page, "word ", HUGE_CHARS // 5)
    start = time.monotonic()
    notice = f"The text has {HUGE_CHARS:,} characters; only the first {MAX_TEXT_CHARS:,} are read."
    page.wait_for_function("(m) => [...document.querySelectorAll(\"[data-testid='stAlert']\")]"
                           ".some(e => e.innerText.includes(m))", arg=notice, timeout=30_000)
    # the head view of the first 512 tokens: [CLS], 510 words, [SEP]
    page.wait_for_function(
        "() => { const gd = document.querySelector('.js-plotly-plot');"
        " return !!(gd && gd.data && gd.data[0].type === 'heatmap' && gd.data[0].x.length === 512); }",
        timeout=30_000,
    )
    print(f"10 MB paste: notice and heatmap {time.monotonic() - start:.1f} s after the submit")
    ticks = page.locator(PLOT).first.locator(".xtick text").all_text_contents()
    assert ticks[0] == "[CLS]" and ticks[-1] == "[SEP]" and set(ticks[1:-1]) == {"word"}
    alerts = " ".join(page.locator("[data-testid='stAlert']").all_inner_texts())
    assert notice in alerts and "reads at most 512" in alerts
    # the address bar keeps the view, not the text
    assert len(page.url) < 500, page.url[:200]
    assert "text=" not in page.url and "view=" in page.url
    assert page.locator(EXCEPTION).count() == 0
    screenshot(page, "hardening_10mb_paste")


# --- A killed renderer tab ---------------------------------------------------------------------------


def process_tree(root: int) -> list[tuple[int, bytes]]:
    """(pid, command line) of every process below ``root``, read from /proc."""
    children: dict[int, list[int]] = {}
    cmdlines: dict[int, bytes] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])  # the name in () may hold spaces
            cmdlines[int(entry.name)] = (entry / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue  # gone meanwhile
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            todo.append(child)
            found.append((child, cmdlines.get(child, b"")))
    return found


def renderer_tabs(server_pid: int) -> list[int]:
    """The Chromium ``--type=renderer`` processes the dashboard server started (its image renderer's tabs)."""
    return [pid for pid, cmd in process_tree(server_pid)
            if b"--type=renderer" in cmd and b"chrom" in cmd.split(b"\0")[0].lower()]


def png_button(pg):
    """The head view's PNG download, in the chart's "Download" popover (opened if closed)."""
    body = pg.get_by_test_id("stPopoverBody")
    if not body.is_visible():
        pg.get_by_test_id("stPopover").first.get_by_role("button").click()
        body.wait_for(state="visible", timeout=10_000)
    return body.get_by_role("button", name="PNG", exact=True)


def test_png_export_works_after_the_renderer_tab_is_killed(page, dashboard_server):
    page.goto(f"{dashboard_server.url}/?layer=0&head=0")
    set_sentence(page, "The cat sat on the mat.")
    wait_for_ticks(page, ["[CLS]", "the", "cat", "sat", "on", "the", "mat", ".", "[SEP]"], timeout=TIMEOUT)
    name, first = download(page, png_button(page), timeout=TIMEOUT)
    assert name == "minilm_L0_H0_encoder.png"
    width, height = png_size(first)
    assert width >= 400 and height >= 300

    tabs = renderer_tabs(dashboard_server.pid)
    assert tabs, "rendering a PNG leaves the server's Chromium with a --type=renderer tab"
    for pid in tabs:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while set(tabs) & {pid for pid, _ in process_tree(dashboard_server.pid)} and time.monotonic() < deadline:
        time.sleep(0.1)

    button = png_button(page)
    stated = page.get_by_test_id("stPopoverBody").get_by_text(re.compile(r"^PNG \d+ x \d+ px")).inner_text()
    name, again = download(page, button, timeout=TIMEOUT)
    assert name == "minilm_L0_H0_encoder.png"
    w, h = (int(v) for v in re.match(r"PNG (\d+) x (\d+) px", stated).groups())
    assert png_size(again) == (w, h)  # the size the popover says it delivers
    assert len(again) > 10_000  # a drawn heatmap, not an empty frame
    assert renderer_tabs(dashboard_server.pid), "the renderer runs again"
    assert not set(renderer_tabs(dashboard_server.pid)) & set(tabs)
    assert page.locator(EXCEPTION).count() == 0
    screenshot(page, "hardening_renderer_killed")
