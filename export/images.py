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
import math
import os
import shutil
import tempfile
import threading
from concurrent.futures import Future
from pathlib import Path

import plotly.graph_objects as go

from i18n import N_, _
from viz.publication import min_size

IMAGE_FORMATS = ("png", "svg", "pdf")
MIME = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf", "html": "text/html"}
DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ENV = "CHROMIUM_PATH"
INSTALL_HINT = "apt-get install -y chromium"
RENDER_TIMEOUT_S = 120.0


# Bounds on what an image may ask for: layout pixels per side, PNG scale, and output pixels in all.
MIN_SIDE_PX, MAX_SIDE_PX = 100, 4000
MIN_SCALE, MAX_SCALE = 0.25, 8.0
MAX_PIXELS = 40_000_000
# One message per side, so that a translation names the side in its own words.
WHOLE_PIXELS = {"width": N_("width must be a whole number of pixels, got {value}"),
                "height": N_("height must be a whole number of pixels, got {value}")}
SIDE_RANGE = {"width": N_("width must be between {least} and {most} px, got {value}"),
              "height": N_("height must be between {least} and {most} px, got {value}")}


class ChromiumMissing(RuntimeError):
    """No Chrome/Chromium to render static images with."""


class ImageExportError(RuntimeError):
    """An image could not be made; the message is meant for the person who asked for it."""


def check_image_size(width: float | None, height: float | None, scale: float | None = 1.0,
                     fmt: str = "png") -> None:
    """``ValueError`` with a one-line message unless width, height and scale make an image we can render.

    Width and height are layout pixels (None: the figure's own); scale multiplies a PNG's pixels.
    """
    for name, v in (("width", width), ("height", height)):
        if v is None:
            continue
        if not isinstance(v, (int, float)) or not math.isfinite(v) or v != int(v):
            raise ValueError(_(WHOLE_PIXELS[name]).format(value=v))
        if not MIN_SIDE_PX <= v <= MAX_SIDE_PX:
            raise ValueError(_(SIDE_RANGE[name]).format(least=MIN_SIDE_PX, most=MAX_SIDE_PX, value=v))
    if scale is not None:
        if not isinstance(scale, (int, float)) or not math.isfinite(scale):
            raise ValueError(_("scale must be a finite number, got {value}").format(value=scale))
        if not MIN_SCALE <= scale <= MAX_SCALE:
            raise ValueError(_("scale must be between {least} and {most}, got {value}").format(
                least=f"{MIN_SCALE:g}", most=f"{MAX_SCALE:g}", value=f"{scale:g}"))
    if fmt == "png" and width is not None and height is not None:
        pixels = width * height * (scale or 1.0) ** 2
        if pixels > MAX_PIXELS:
            raise ValueError(_("a {width} x {height} px PNG at scale {scale} has {pixels} million pixels; the most is "
                               "{most} million: lower the size or the scale").format(
                width=width, height=height, scale=f"{scale:g}", pixels=f"{pixels / 1e6:,.0f}",
                most=f"{MAX_PIXELS / 1e6:,.0f}"))


def check_image_bytes(data: object, fmt: str) -> bytes:
    """``data`` when it is a whole ``fmt`` image, else ``ImageExportError``."""
    ok = isinstance(data, (bytes, bytearray)) and len(data) > 32 and (
        (fmt == "png" and data.startswith(b"\x89PNG\r\n\x1a\n"))
        or (fmt == "pdf" and data.startswith(b"%PDF"))
        or (fmt == "svg" and (data.lstrip()[:5] == b"<?xml" or data.lstrip()[:4] == b"<svg")))
    if not ok:
        size = len(data) if isinstance(data, (bytes, bytearray)) else 0
        raise ImageExportError(_("the browser returned no usable {format} ({size} bytes): try a smaller size or "
                                 "scale").format(format=fmt.upper(), size=size))
    return bytes(data)


def temp_dir_problem() -> str | None:
    """Why the temporary folder cannot hold the renderer's files, or None when it can."""
    where = tempfile.gettempdir()
    try:
        with tempfile.NamedTemporaryFile(dir=where, prefix="kaleido-check-") as f:
            f.write(b"x" * 4096)
            f.flush()
    except OSError as exc:
        return _("Images cannot be made: the temporary folder {folder} is not writable or is full ({reason}). "
                 "Free some space there or set TMPDIR to a writable folder.").format(
            folder=where, reason=exc.strerror or exc)
    return None


def _renderer_pids(root: int) -> list[int]:
    """Process ids of the ``--type=renderer`` processes (tabs) below browser process ``root``."""
    children: dict[int, list[int]] = {}
    cmdlines: dict[int, bytes] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            cmdlines[int(entry.name)] = (entry / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            todo.append(child)
            if b"--type=renderer" in cmdlines.get(child, b""):
                found.append(child)
    return found


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
        raise ChromiumMissing(_(
            "Static images (PNG, SVG, PDF) need Chromium, and there is none at {path}. "
            "Install it with `{command}` or point {env} at a Chrome/Chromium executable. "
            "HTML and data exports (CSV, NPZ, JSON) work without it."
        ).format(path=candidate, command=INSTALL_HINT, env=CHROMIUM_ENV))
    if Path(DEFAULT_CHROMIUM).is_file():
        return Path(DEFAULT_CHROMIUM)
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if found := shutil.which(name):
            return Path(found)
    raise ChromiumMissing(_(
        "Static images (PNG, SVG, PDF) need Chromium, and none was found on this machine. "
        "Install it with `{command}` (or set {env} to a Chrome/Chromium executable). "
        "HTML and data exports (CSV, NPZ, JSON) work without it."
    ).format(command=INSTALL_HINT, env=CHROMIUM_ENV))


def chromium_problem(path: str | os.PathLike | None = None) -> str | None:
    """Why static images cannot be made here, or None when they can."""
    try:
        find_chromium(path)
    except ChromiumMissing as exc:
        return str(exc)
    return None


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

    def _alive(self) -> bool:
        """The browser runs and still has a tab (a ``--type=renderer`` process) to draw in."""
        k = self._kaleido
        if k is None or k.subprocess.poll() is not None:
            return False
        if not Path("/proc/self").exists():  # no /proc to look in: trust the launcher
            return True
        return bool(_renderer_pids(k.subprocess.pid))

    def _discard(self) -> None:
        """Forget a dead or stuck browser, closing what is left of it (caller holds the lock)."""
        k, self._kaleido = self._kaleido, None
        if k is None:
            return
        try:
            self._submit(k.close()).result(15)
        except Exception:  # noqa: BLE001 - a dead browser may not close cleanly
            pass
        try:
            if k.subprocess.poll() is None:
                k.subprocess.kill()
        except Exception:  # noqa: BLE001
            pass

    def _ensure_open(self):
        """Start the loop and the browser if they are not running (caller holds the lock)."""
        if self._alive():
            return self._kaleido
        if self._kaleido is not None:
            self._discard()
        path = find_chromium(self._chromium)
        if problem := temp_dir_problem():
            raise ImageExportError(problem)
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

        try:
            self._kaleido = self._submit(start()).result(RENDER_TIMEOUT_S)
        except OSError as exc:
            cannot_start = _("The image renderer (Chromium) could not start: {reason}.").format(
                reason=exc.strerror or exc)
            raise ImageExportError(f"{cannot_start} {temp_dir_problem() or ''}".strip()) from exc
        except Exception as exc:  # noqa: BLE001 - kaleido/choreographer raise their own types
            raise ImageExportError(_("The image renderer (Chromium) could not start: {reason}").format(
                reason=exc)) from exc
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
        check_image_size(opts["width"], opts["height"], opts["scale"], fmt)
        least_w, least_h = min_size(fig_dict)
        if opts["width"] < least_w or opts["height"] < least_h:
            raise ValueError(_("{width} x {height} px leaves no room for the plot inside its margins: this figure "
                               "needs at least {least_width} x {least_height} px").format(
                width=opts["width"], height=opts["height"], least_width=least_w, least_height=least_h))
        # One image at a time: plotly.js in kaleido's tab fails ("axis scaling", error 525)
        # when two figures are laid out in it at once.
        with self._render_lock:
            last: BaseException | None = None
            for _attempt in range(2):  # a dead tab or browser is restarted and the image tried once more
                with self._lock:
                    k = self._ensure_open()
                try:
                    data = self._submit(k.calc_fig(fig_dict, opts=opts)).result(RENDER_TIMEOUT_S)
                except Exception as exc:  # noqa: BLE001 - timeouts, a closed pipe, a crashed tab
                    last = exc
                    with self._lock:
                        self._discard()
                    continue
                return check_image_bytes(data, fmt)
            raise ImageExportError(_("The {format} could not be rendered, even after restarting the browser: "
                                     "{reason}").format(format=fmt.upper(), reason=f"{type(last).__name__}: {last}"))

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
