"""Download buttons: a figure as PNG, SVG, PDF or offline HTML, and the data behind it.

Every file is made only when its button is clicked: ``st.download_button`` takes a
callable for ``data`` and runs it then, on a worker thread, so a rerun costs a
few widgets and never an image. Static images go through the one shared
Chromium (``viz.images``); without a Chromium the image buttons are disabled and
say how to install it, while HTML and data downloads still work.
"""

from __future__ import annotations

from collections.abc import Callable

import plotly.graph_objects as go
import streamlit as st

from viz.images import IMAGE_FORMATS, MAX_SIDE_PX, MIME, check_image_size, chromium_problem, figure_html, render_image
from viz.publication import for_print, print_min_size

SCALES = (1, 2, 3, 4)
DEFAULT_WIDTH, DEFAULT_HEIGHT = 900, 700
MIN_SIDE, MAX_SIDE = 200, MAX_SIDE_PX


def image_maker(fig: go.Figure, fmt: str, width: int, height: int, scale: float) -> Callable[[], bytes]:
    """Deferred: the print-styled image of ``fig``, rendered when called."""
    return lambda: render_image(for_print(fig), fmt, width=width, height=height, scale=scale)


def size_problem(width: int, height: int, scale: float, fmt: str = "png") -> str | None:
    """Why an image of this size cannot be made (too many pixels, out of bounds), or None."""
    try:
        check_image_size(width, height, scale, fmt)
    except ValueError as exc:
        return f"This image is too large or malformed: {exc}"
    return None


def html_maker(fig: go.Figure) -> Callable[[], str]:
    return lambda: figure_html(fig)


def size_inputs(key: str, width: int, height: int, least: tuple[int, int] = (MIN_SIDE, MIN_SIDE)
                ) -> tuple[int, int, int]:
    """Width, height (layout pixels) and scale for static images, remembered per chart.

    ``least`` is the smallest size that leaves the figure a plot area inside its margins.
    """
    c1, c2, c3 = st.columns(3)
    least_w, least_h = max(least[0], MIN_SIDE), max(least[1], MIN_SIDE)
    # a tall figure (a long lines view) must not start outside the inputs' range
    width, height = min(max(width, least_w), MAX_SIDE), min(max(height, least_h), MAX_SIDE)
    w = c1.number_input("Width (px)", least_w, MAX_SIDE, width, step=50, key=f"{key}_width")
    h = c2.number_input("Height (px)", least_h, MAX_SIDE, height, step=50, key=f"{key}_height")
    s = c3.selectbox("Scale", SCALES, index=1, key=f"{key}_scale", format_func=lambda v: f"{v}x",
                     help="Pixels per layout pixel in PNG: 2x or more for print. SVG and PDF are vectors.")
    return int(w), int(h), int(s)


def figure_downloads(fig: go.Figure, name: str, key: str) -> None:
    """A compact "Download" popover under a chart: PNG, SVG, PDF and interactive HTML."""
    with st.popover("Download", icon=":material/download:", key=f"{key}_downloads"):
        width, height, scale = size_inputs(
            f"{key}_dl", int(fig.layout.width or DEFAULT_WIDTH), int(fig.layout.height or DEFAULT_HEIGHT),
            least=print_min_size(fig))
        problem = chromium_problem()
        too_big = size_problem(width, height, scale, "png")
        if too_big and not problem:
            st.error(too_big)
        cols = st.columns(len(IMAGE_FORMATS) + 1)
        for col, fmt in zip(cols, IMAGE_FORMATS, strict=False):
            size = f"{width * scale} x {height * scale} px" if fmt == "png" else "vector image"
            why = problem or size_problem(width, height, scale, fmt)
            col.download_button(
                fmt.upper(), data=image_maker(fig, fmt, width, height, scale), file_name=f"{name}.{fmt}",
                mime=MIME[fmt], key=f"{key}_dl_{fmt}", on_click="ignore", disabled=why is not None,
                help=why or f"{fmt.upper()}, {size}",
            )
        cols[-1].download_button(
            "HTML", data=html_maker(fig), file_name=f"{name}.html", mime=MIME["html"], key=f"{key}_dl_html",
            on_click="ignore", help="Interactive page that works offline (plotly.js included)",
        )
        st.caption(problem or f"PNG {width * scale} x {height * scale} px; SVG and PDF {width} x {height}; "
                              "HTML is the interactive chart.")


def data_button(label: str, maker: Callable[[], bytes], file_name: str, mime: str, key: str,
                help: str | None = None) -> None:
    """One deferred data download."""
    st.download_button(label, data=maker, file_name=file_name, mime=mime, key=key, on_click="ignore", help=help,
                       icon=":material/download:")
