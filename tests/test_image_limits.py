"""One bound on image size for the page and the command line: sides, scale and total pixels."""

from __future__ import annotations

import math

import pytest

from export.images import MAX_PIXELS, MAX_SIDE_PX, Renderer, check_image_size
from ui.downloads import MAX_SIDE, size_problem


@pytest.mark.parametrize(("w", "h", "s", "message"), [
    (6000, 6000, 4, "between 100 and 4000"),
    (1_000_000, 600, 1, "width must be between"),
    (900, 50, 1, "height must be between"),
    (900, 700, 1000, "scale must be between"),
    (900, 700, math.nan, "finite"),
    (900, 700, math.inf, "finite"),
    (4000, 4000, 4, "million pixels"),
    (900.5, 700, 1, "whole number"),
])
def test_out_of_bounds_is_refused(w, h, s, message):
    with pytest.raises(ValueError, match=message):
        check_image_size(w, h, s, "png")


def test_within_bounds_passes_and_vectors_ignore_scale_pixels():
    check_image_size(900, 700, 4, "png")
    check_image_size(4000, 4000, 4, "svg")  # vectors keep layout size: no pixel bound
    assert 4000 * 4000 * 4 > MAX_PIXELS


def test_the_page_uses_the_same_bounds():
    assert MAX_SIDE == MAX_SIDE_PX == 4000
    assert "million pixels" in size_problem(4000, 4000, 4, "png")
    assert size_problem(900, 700, 2, "png") is None


def test_the_renderer_refuses_before_starting_a_browser():
    r = Renderer(chromium="/nonexistent")  # would raise ChromiumMissing if it got that far
    with pytest.raises(ValueError, match="million pixels"):
        r.render({"data": [], "layout": {}}, "png", width=4000, height=4000, scale=4)
    assert r.launches == 0
