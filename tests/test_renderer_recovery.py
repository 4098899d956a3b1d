"""A crashed Chromium tab or browser is restarted and the image retried; a bad temp dir is a readable error."""

from __future__ import annotations

import os
import signal
import time

import plotly.graph_objects as go
import pytest

from export import images
from export.images import ChromiumMissing, ImageExportError, Renderer, _renderer_pids


def fig() -> go.Figure:
    return go.Figure(go.Heatmap(z=[[1, 2], [3, 4]]))


@pytest.mark.browser
def test_a_killed_renderer_tab_is_restarted_and_the_image_made():
    r = Renderer()
    try:
        assert r.render(fig(), "png", width=400, height=300).startswith(b"\x89PNG")
        tabs = _renderer_pids(r.browser_pid)
        assert tabs, "the browser has a --type=renderer child"
        for pid in tabs:
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        start = time.monotonic()
        data = r.render(fig(), "png", width=400, height=300)
        assert data.startswith(b"\x89PNG") and len(data) > 100
        assert time.monotonic() - start < 60
        assert r.launches == 2
    finally:
        r.close()


@pytest.mark.browser
def test_a_killed_browser_is_restarted():
    r = Renderer()
    try:
        r.render(fig(), "svg", width=400, height=300)
        os.kill(r.browser_pid, signal.SIGKILL)
        time.sleep(0.5)
        assert b"<svg" in r.render(fig(), "svg", width=400, height=300)[:400]
        assert r.launches == 2
    finally:
        r.close()


def test_an_unwritable_temp_dir_is_a_readable_error(monkeypatch, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    monkeypatch.setattr(images.tempfile, "tempdir", str(ro))
    try:
        if os.access(ro, os.W_OK):  # root ignores the mode: make the write fail instead
            monkeypatch.setattr(images.tempfile, "NamedTemporaryFile",
                                lambda **kw: (_ for _ in ()).throw(OSError(28, "No space left on device")))
        with pytest.raises(ImageExportError, match="temporary folder .* not writable or is full"):
            Renderer().render(fig(), "png", width=400, height=300)
    finally:
        ro.chmod(0o700)


@pytest.mark.parametrize(("data", "fmt"), [(b"\x89PN", "png"), (b"", "pdf"), (b"hello" * 20, "svg"),
                                           ("text", "png")])
def test_a_broken_image_from_the_browser_fails_loudly(data, fmt):
    with pytest.raises(ImageExportError, match=f"no usable {fmt.upper()}"):
        images.check_image_bytes(data, fmt)


def test_whole_images_pass_the_check():
    assert images.check_image_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "png").startswith(b"\x89PNG")
    assert images.check_image_bytes(b"%PDF-1.4" + b"\0" * 40, "pdf").startswith(b"%PDF")
    assert images.check_image_bytes(b'<?xml version="1.0"?><svg>' + b" " * 40, "svg").startswith(b"<?xml")


# --- A failed render in the page ---------------------------------------------------------

@pytest.mark.parametrize(("exc", "reason"), [
    (ImageExportError("The PNG could not be rendered, even after restarting the browser: EOFError"),
     "even after restarting the browser"),
    (TimeoutError(), "gave no image within 120 s"),
    (ChromiumMissing("Static images (PNG, SVG, PDF) need Chromium"), "need Chromium"),
    (OSError(30, "Read-only file system"), "Read-only file system"),
    (ValueError("a 4000 x 4000 px PNG at scale 8 has 1,024 million pixels"), "1,024 million pixels"),
])
def test_a_failed_download_render_leaves_a_readable_reason(monkeypatch, exc, reason):
    from ui import downloads

    def fail(*args, **kwargs):
        raise exc

    monkeypatch.setattr(images, "render_image", fail)
    jobs: dict = {}
    make = downloads.image_maker(fig(), "png", 400, 300, 1, jobs, "chart_dl_png")
    with pytest.raises(ImageExportError, match="The PNG could not be made") as info:
        make()
    assert reason in str(info.value) and "(" not in str(info.value).split(".")[0]
    assert jobs["chart_dl_png"].done.is_set() and reason in jobs["chart_dl_png"].error


def failing_page():
    """A chart whose PNG render failed (the renderer died): the popover must say why."""
    import plotly.graph_objects as go
    import streamlit as st

    from export import images
    from export.images import ImageExportError
    from ui import downloads

    def dead(*args, **kwargs):
        raise ImageExportError("The PNG could not be rendered, even after restarting the browser: "
                               "TargetClosedError: the tab crashed")

    images.render_image = dead  # this script's process only: the test runs it in its own AppTest
    images.chromium_problem = lambda path=None: None
    fig = go.Figure(go.Heatmap(z=[[0.1, 0.9], [0.5, 0.5]]))
    if not st.session_state.get("clicked"):
        st.session_state["clicked"] = True
        try:  # what the click's deferred render does, on Streamlit's worker thread
            downloads.image_maker(fig, "png", 400, 300, 1, downloads.image_jobs(), "chart_dl_png")()
        except ImageExportError:
            pass
    downloads.figure_downloads(fig, "minilm_L0_H0_encoder", "chart")


def test_a_failed_download_render_shows_st_error(monkeypatch):
    from streamlit.testing.v1 import AppTest

    real = images.render_image, images.chromium_problem
    try:
        at = AppTest.from_function(failing_page, default_timeout=60).run()
    finally:
        images.render_image, images.chromium_problem = real
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any("The PNG could not be made" in e and "the tab crashed" in e for e in errors), errors
    assert not any(e.startswith("(") for e in errors)  # a sentence, not a raw tuple
