"""Static images (PNG, SVG, PDF) of Plotly figures, rendered by one long-lived Chromium.

kaleido 1.x drives a Chrome or Chromium it finds on the machine. Its one-shot
helpers (``fig.to_image``, ``kaleido.calc_fig_sync``) start a browser for every
image (about 2 s each); here one ``kaleido.Kaleido`` stays open on a private
event loop in a daemon thread and every export, from any thread, is a future on
that loop. Only the first export pays for the browser start.

The browser is ``$CHROMIUM_PATH`` when set, else ``/usr/bin/chromium``, else a
``chromium`` / ``google-chrome`` on ``PATH``. Without one, ``ChromiumMissing``
says how to install it; HTML and data exports need no browser.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import threading
from concurrent.futures import Future
from pathlib import Path

import plotly.graph_objects as go

IMAGE_FORMATS = ("png", "svg", "pdf")
MIME = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf", "html": "text/html"}
DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ENV = "CHROMIUM_PATH"
INSTALL_HINT = "apt-get install -y chromium"
RENDER_TIMEOUT_S = 120.0


class ChromiumMissing(RuntimeError):
    """No Chrome/Chromium to render static images with."""


def find_chromium(path: str | os.PathLike | None = None) -> Path:
    """The browser executable to render with, or ``ChromiumMissing`` saying how to get one.

    An explicit ``path`` (or ``$CHROMIUM_PATH``) is used as given: a wrong path is an
    error, not a reason to pick some other browser silently.
    """
    explicit = path if path is not None else os.environ.get(CHROMIUM_ENV)
    if explicit:
        candidate = Path(explicit)
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
        raise ChromiumMissing(
            f"Static images (PNG, SVG, PDF) need Chromium, and there is none at {candidate}. "
            f"Install it with `{INSTALL_HINT}` or point {CHROMIUM_ENV} at a Chrome/Chromium executable. "
            "HTML and data exports (CSV, NPZ, JSON) work without it."
        )
    if Path(DEFAULT_CHROMIUM).is_file():
        return Path(DEFAULT_CHROMIUM)
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if found := shutil.which(name):
            return Path(found)
    raise ChromiumMissing(
        "Static images (PNG, SVG, PDF) need Chromium, and none was found on this machine. "
        f"Install it with `{INSTALL_HINT}` (or set {CHROMIUM_ENV} to a Chrome/Chromium executable). "
        "HTML and data exports (CSV, NPZ, JSON) work without it."
    )


def chromium_problem(path: str | os.PathLike | None = None) -> str | None:
    """Why static images cannot be made here, or None when they can."""
    try:
        find_chromium(path)
    except ChromiumMissing as exc:
        return str(exc)
    return None


# Plotly's default margins, and the least plot area (px) an image keeps inside them.
DEFAULT_MARGIN = 80
MIN_PLOT_PX = 50


def min_size(fig: go.Figure | dict) -> tuple[int, int]:
    """The smallest width and height that leave ``fig`` a plot area inside its margins.

    Smaller, plotly.js fails with "axis scaling" (kaleido error 525) instead of drawing.
    """
    if isinstance(fig, go.Figure):  # read the layout only: to_dict() would copy every array
        set_margin = {side: getattr(fig.layout.margin, side) for side in "lrtb"}
    else:
        set_margin = fig.get("layout", {}).get("margin") or {}
    margin = {side: DEFAULT_MARGIN for side in "lrtb"} | {
        k: v for k, v in set_margin.items() if k in "lrtb" and v is not None}
    return int(margin["l"] + margin["r"] + MIN_PLOT_PX), int(margin["t"] + margin["b"] + MIN_PLOT_PX)


class Renderer:
    """One Chromium, started on first use and reused for every image until ``close()``."""

    def __init__(self, chromium: str | os.PathLike | None = None) -> None:
        self._chromium = chromium
        self._lock = threading.Lock()
        self._render_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._kaleido = None
        self.launches = 0  # how many browsers this renderer has started

    def _submit(self, coro) -> Future:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def _ensure_open(self):
        """Start the loop and the browser if they are not running (caller holds the lock)."""
        if self._kaleido is not None and self._kaleido.subprocess.poll() is None:
            return self._kaleido
        path = find_chromium(self._chromium)
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._loop.run_forever, name="kaleido-renderer", daemon=True)
            self._thread.start()

        async def start():
            import kaleido

            # mathjax=False: nothing here typesets LaTeX, and its default comes from a CDN.
            k = kaleido.Kaleido(path=str(path), mathjax=False, n=1, timeout=RENDER_TIMEOUT_S)
            await k.open()
            return k

        self._kaleido = self._submit(start()).result(RENDER_TIMEOUT_S)
        self.launches += 1
        return self._kaleido

    @property
    def browser_pid(self) -> int | None:
        """The process id of the running browser's launcher, None before the first image."""
        k = self._kaleido
        return k.subprocess.pid if k is not None and k.subprocess.poll() is None else None

    def render(self, fig: go.Figure | dict, fmt: str = "png", *, width: int | None = None,
               height: int | None = None, scale: float = 1.0) -> bytes:
        """``fig`` as PNG, SVG or PDF bytes of ``width`` x ``height`` layout pixels.

        ``scale`` multiplies the pixels of a PNG (2 for print). SVG and PDF are vectors and keep the
        layout size, so a page laid out at 900 x 700 stays 900 x 700 whatever the scale.
        """
        fmt = fmt.lower()
        if fmt not in IMAGE_FORMATS:
            raise ValueError(f"unknown image format '{fmt}': choose one of {', '.join(IMAGE_FORMATS)}")
        fig_dict = fig.to_dict() if isinstance(fig, go.Figure) else fig
        layout = fig_dict.get("layout", {})
        opts = {
            "format": fmt,
            "width": int(width or layout.get("width") or 900),
            "height": int(height or layout.get("height") or 700),
            "scale": float(scale) if fmt == "png" else 1.0,
        }
        if opts["width"] <= 0 or opts["height"] <= 0 or opts["scale"] <= 0:
            raise ValueError(f"width, height and scale must be positive, got {opts}")
        least_w, least_h = min_size(fig_dict)
        if opts["width"] < least_w or opts["height"] < least_h:
            raise ValueError(f"{opts['width']} x {opts['height']} px leaves no room for the plot inside its "
                             f"margins: this figure needs at least {least_w} x {least_h} px")
        with self._lock:
            k = self._ensure_open()
        # One image at a time: plotly.js in kaleido's tab fails ("axis scaling", error 525)
        # when two figures are laid out in it at once.
        with self._render_lock:
            return self._submit(k.calc_fig(fig_dict, opts=opts)).result(RENDER_TIMEOUT_S)

    def close(self) -> None:
        """Stop the browser and the loop; a later ``render`` starts them again."""
        with self._lock:
            if self._kaleido is not None:
                try:
                    self._submit(self._kaleido.close()).result(30)
                except Exception:  # noqa: BLE001 - a browser that already died needs no closing
                    pass
                self._kaleido = None
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._loop.stop)
                if self._thread is not None:
                    self._thread.join(10)
                self._loop.close()
                self._loop = None
                self._thread = None


_shared: Renderer | None = None
_shared_lock = threading.Lock()


def shared_renderer() -> Renderer:
    """The process-wide renderer every export uses (one browser for the whole server)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Renderer()
            atexit.register(_shared.close)
        return _shared


def render_image(fig: go.Figure | dict, fmt: str = "png", *, width: int | None = None, height: int | None = None,
                 scale: float = 1.0, renderer: Renderer | None = None) -> bytes:
    """Image bytes of ``fig`` through ``renderer`` (default: the shared one)."""
    return (renderer or shared_renderer()).render(fig, fmt, width=width, height=height, scale=scale)


def figure_html(fig: go.Figure) -> str:
    """A self-contained interactive page: plotly.js inlined, so it opens offline (no CDN)."""
    return fig.to_html(include_plotlyjs=True, full_html=True, config={"displaylogo": False})
