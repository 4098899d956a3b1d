"""A crashed Chromium tab or browser is restarted and the image retried; a bad temp dir is a readable error."""

from __future__ import annotations

import os
import signal
import time

import plotly.graph_objects as go
import pytest

from viz import images
from viz.images import ImageExportError, Renderer, _renderer_pids


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
