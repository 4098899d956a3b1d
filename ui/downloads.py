"""Download buttons: a figure as PNG, SVG, PDF or offline HTML, and the data behind it.

Every file is made only when its button is clicked: ``st.download_button`` takes a
callable for ``data`` and runs it then, on a worker thread, so a rerun costs a
few widgets and never an image. Static images go through the one shared
Chromium (``export.images``); without a Chromium the image buttons are disabled and
say how to install it, while HTML and data downloads still work.

When a render fails once clicked (the renderer died, timed out, the temporary folder
is not writable, the image is too large), no file is delivered and the popover shows
an ``st.error`` saying why: the click reruns the script, which waits for that render
and reads the reason it left behind.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import plotly.graph_objects as go
import streamlit as st

from export import images
from export.images import IMAGE_FORMATS, MAX_SIDE_PX, MIME, ChromiumMissing, ImageExportError, check_image_size
from export.names import file_name
from i18n import _, language, set_language
from viz.publication import for_print, print_min_size

SCALES = (1, 2, 3, 4)
DEFAULT_WIDTH, DEFAULT_HEIGHT = 900, 700
MIN_SIDE, MAX_SIDE = 200, MAX_SIDE_PX


JOBS_KEY = "_image_jobs"  # {button key: ImageJob}: the last render each image button started
WAIT_START_S = 5.0  # how long a click's rerun waits for its render to begin


class ImageJob:
    """One deferred render: when it ends, and why it failed (None when it made its image)."""

    def __init__(self) -> None:
        self.started_at = time.monotonic()
        self.done = threading.Event()
        self.error: str | None = None


def failure_reason(exc: BaseException) -> str:
    """A sentence for the visitor saying why an image was not made."""
    if isinstance(exc, (ChromiumMissing, ImageExportError)):
        return str(exc)
    if isinstance(exc, ValueError):
        return _("This image is too large or malformed: {reason}").format(reason=exc)
    if isinstance(exc, TimeoutError):
        return _("The image renderer (Chromium) gave no image within {seconds} s: try a smaller size or scale, "
                 "or try again").format(seconds=f"{images.RENDER_TIMEOUT_S:.0f}")
    if isinstance(exc, OSError):
        return _("The image could not be written: {reason}").format(reason=exc.strerror or exc)
    return _("The image could not be rendered ({error}: {reason})").format(error=type(exc).__name__, reason=exc)


def image_maker(fig: go.Figure, fmt: str, width: int, height: int, scale: float,
                jobs: dict[str, ImageJob] | None = None, key: str = "") -> Callable[[], bytes]:
    """Deferred: the print-styled image of ``fig``, rendered when called.

    With ``jobs``, the render is recorded under ``key``; a failure leaves its readable reason there
    and raises ``ImageExportError`` with it, so no broken file is delivered.
    """
    lang = language()  # the click's render runs on a worker thread, outside this session's context

    def make() -> bytes:
        set_language(lang)
        job = ImageJob()
        if jobs is not None:
            jobs[key] = job
        try:
            return images.render_image(for_print(fig), fmt, width=width, height=height, scale=scale)
        except Exception as exc:
            job.error = _("The {format} could not be made. {reason}").format(format=fmt.upper(),
                                                                            reason=failure_reason(exc))
            raise ImageExportError(job.error) from exc
        finally:
            job.done.set()

    return make


def image_jobs() -> dict[str, ImageJob]:
    """This session's image renders, by button key (a plain dict the render threads write into)."""
    return st.session_state.setdefault(JOBS_KEY, {})


def render_failure(jobs: dict[str, ImageJob], key: str, clicked: bool) -> str | None:
    """Why the last render of button ``key`` failed, or None; after a click, waits for that render."""
    def current(job: ImageJob | None) -> bool:  # still running, or begun since the click
        return job is not None and (not job.done.is_set() or time.monotonic() - job.started_at < WAIT_START_S)

    job = jobs.get(key)
    if clicked:
        deadline = time.monotonic() + WAIT_START_S  # the click's render may not have begun yet
        while not current(job := jobs.get(key)) and time.monotonic() < deadline:
            time.sleep(0.05)
        if job is not None:
            job.done.wait(2 * images.RENDER_TIMEOUT_S + 30)
    return job.error if job is not None and job.done.is_set() else None


def size_problem(width: int, height: int, scale: float, fmt: str = "png") -> str | None:
    """Why an image of this size cannot be made (too many pixels, out of bounds), or None."""
    try:
        check_image_size(width, height, scale, fmt)
    except ValueError as exc:
        return _("This image is too large or malformed: {reason}").format(reason=exc)
    return None


def html_maker(fig: go.Figure) -> Callable[[], str]:
    return lambda: images.figure_html(fig)


def size_inputs(key: str, width: int, height: int, least: tuple[int, int] = (MIN_SIDE, MIN_SIDE)
                ) -> tuple[int, int, int]:
    """Width, height (layout pixels) and scale for static images, remembered per chart.

    ``least`` is the smallest size that leaves the figure a plot area inside its margins.
    """
    c1, c2, c3 = st.columns(3)
    least_w, least_h = max(least[0], MIN_SIDE), max(least[1], MIN_SIDE)
    # a tall figure (a long lines view) must not start outside the inputs' range
    width, height = min(max(width, least_w), MAX_SIDE), min(max(height, least_h), MAX_SIDE)
    w = c1.number_input(_("Width (px)"), least_w, MAX_SIDE, width, step=50, key=f"{key}_width")
    h = c2.number_input(_("Height (px)"), least_h, MAX_SIDE, height, step=50, key=f"{key}_height")
    s = c3.selectbox(_("Scale"), SCALES, index=1, key=f"{key}_scale", format_func=lambda v: f"{v}x",
                     help=_("Pixels per layout pixel in PNG: 2x or more for print. SVG and PDF are vectors."))
    return int(w), int(h), int(s)


def figure_downloads(fig: go.Figure, name: str, key: str) -> None:
    """A compact "Download" popover under a chart: PNG, SVG, PDF and interactive HTML.

    ``name`` passes through ``export.names.file_name``, so every file name follows one rule.
    """
    name = file_name(name)
    jobs = image_jobs()
    with st.popover(_("Download"), icon=":material/download:", key=f"{key}_downloads"):
        width, height, scale = size_inputs(
            f"{key}_dl", int(fig.layout.width or DEFAULT_WIDTH), int(fig.layout.height or DEFAULT_HEIGHT),
            least=print_min_size(fig))
        problem = images.chromium_problem()
        if not problem and (problem := images.temp_dir_problem()):
            st.error(problem)
        too_big = size_problem(width, height, scale, "png")
        if too_big and not problem:
            st.error(too_big)
        failed = st.empty()  # filled below when a clicked render fails
        cols = st.columns(len(IMAGE_FORMATS) + 1)
        clicks = {}
        for col, fmt in zip(cols, IMAGE_FORMATS, strict=False):
            size = f"{width * scale} x {height * scale} px" if fmt == "png" else _("vector image")
            why = problem or size_problem(width, height, scale, fmt)
            button = f"{key}_dl_{fmt}"
            clicks[button] = col.download_button(
                fmt.upper(), data=image_maker(fig, fmt, width, height, scale, jobs, button),
                file_name=f"{name}.{fmt}", mime=MIME[fmt], key=button, on_click="rerun",
                disabled=why is not None, help=why or f"{fmt.upper()}, {size}",
            )
        cols[-1].download_button(
            "HTML", data=html_maker(fig), file_name=f"{name}.html", mime=MIME["html"], key=f"{key}_dl_html",
            on_click="ignore", help=_("Interactive page that works offline (plotly.js included)"),
        )
        st.caption(problem or _("PNG {png_width} x {png_height} px; SVG and PDF {width} x {height}; "
                                "HTML is the interactive chart.").format(png_width=width * scale,
                                                                         png_height=height * scale,
                                                                         width=width, height=height))
        errors = [e for button, clicked in clicks.items() if (e := render_failure(jobs, button, clicked))]
        if errors:
            failed.error("\n\n".join(errors))


def data_button(label: str, maker: Callable[[], bytes], file_name: str, mime: str, key: str,
                help: str | None = None) -> None:
    """One deferred data download."""
    st.download_button(label, data=maker, file_name=file_name, mime=mime, key=key, on_click="ignore", help=help,
                       icon=":material/download:")
