"""Static images, offline HTML and the data exports, checked on the bytes they produce."""

from __future__ import annotations

import io
import json
import os
import re
import struct
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from export import data as data_export
from export.images import ChromiumMissing, Renderer, chromium_problem, figure_html, find_chromium
from export.names import file_name
from model import capture
from viz.publication import MIN_PLOT_PX, for_print, head_figure, min_size

SENTENCE = "The cat sat on the mat."


@pytest.fixture(scope="module")
def cap(minilm):
    return capture(minilm, SENTENCE)


@pytest.fixture(scope="module")
def renderer():
    r = Renderer()
    yield r
    r.close()


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def chromium_children() -> set[int]:
    """Process ids of Chrome/Chromium processes descended from this test process."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces, so split after the last ")".
        names[int(entry.name)] = stat[stat.index("(") + 1:stat.rindex(")")]
        parents[int(entry.name)] = int(stat[stat.rindex(")") + 2:].split()[1])
    me, found = os.getpid(), set()
    for pid, name in names.items():
        p = pid
        while p > 1 and p in parents:
            p = parents[p]
            if p == me:
                if "chrom" in name.lower():
                    found.add(pid)
                break
    return found


# --- Static images ------------------------------------------------------------------------

@pytest.mark.browser
@pytest.mark.parametrize(("width", "height", "scale"), [(640, 480, 1), (640, 480, 2), (500, 700, 3)])
def test_png_has_the_requested_pixel_size(cap, renderer, width, height, scale):
    data = renderer.render(head_figure(cap, "encoder", 2, 5), "png", width=width, height=height, scale=scale)
    assert png_size(data) == (width * scale, height * scale)


@pytest.mark.browser
def test_svg_parses_as_xml_and_holds_the_tokens(cap, renderer):
    data = renderer.render(head_figure(cap, "encoder", 2, 5), "svg", width=800, height=600)
    root = ET.fromstring(data)
    assert root.tag.endswith("svg")
    assert float(root.get("width")) == 800 and float(root.get("height")) == 600
    texts = {t.text for t in root.iter() if t.tag.endswith("text") and t.text}
    assert {"[CLS]", "cat", "mat", "[SEP]"} <= texts
    assert any("layer 2" in t and "head 5" in t for t in texts)
    assert "attention weight" in texts


@pytest.mark.browser
def test_pdf_is_a_pdf(cap, renderer):
    data = renderer.render(head_figure(cap, "encoder", 0, 0), "pdf", width=600, height=500)
    assert data.startswith(b"%PDF")
    assert data.rstrip().endswith(b"%%EOF")


@pytest.mark.browser
def test_a_second_export_reuses_the_browser(cap, renderer):
    fig = head_figure(cap, "encoder", 1, 1)
    renderer.render(fig, "png", width=300, height=300)
    pid, launched, browsers = renderer.browser_pid, renderer.launches, chromium_children()
    assert pid is not None and browsers, "the first export should have left a browser running"
    renderer.render(fig, "svg", width=300, height=300)
    renderer.render(head_figure(cap, "encoder", 3, 4), "png", width=300, height=300)
    assert renderer.browser_pid == pid
    assert renderer.launches == launched
    assert chromium_children() == browsers  # no browser started, none ended


def test_unknown_image_format_is_refused(cap, renderer):
    with pytest.raises(ValueError, match="unknown image format 'gif'"):
        renderer.render(head_figure(cap, "encoder", 0, 0), "gif")


def test_missing_chromium_says_how_to_install_it(cap, monkeypatch, tmp_path):
    missing = tmp_path / "no-such-chromium"
    with pytest.raises(ChromiumMissing, match="apt-get install -y chromium"):
        Renderer(chromium=missing).render(head_figure(cap, "encoder", 0, 0), "png")
    monkeypatch.setenv("CHROMIUM_PATH", str(missing))
    with pytest.raises(ChromiumMissing, match=str(missing)):
        find_chromium()
    assert "apt-get install -y chromium" in chromium_problem()
    # HTML and data need no browser.
    assert "Plotly.newPlot" in figure_html(head_figure(cap, "encoder", 0, 0))
    assert data_export.load_npz(data_export.npz_bytes(cap)).tokens == cap.tokens


def test_html_is_self_contained_and_holds_the_plot(cap):
    html = figure_html(head_figure(cap, "encoder", 2, 5))
    assert html.lstrip().lower().startswith("<html") or html.lstrip().lower().startswith("<!doctype")
    assert '<script src="http' not in html and "<script src='http" not in html
    assert not re.search(r"<script[^>]*\bsrc\s*=", html), "every script is inline"
    assert len(html) > 1_000_000  # plotly.js itself is inlined
    assert "Plotly.newPlot" in html and '"type":"heatmap"' in html
    assert "layer 2" in html and "head 5" in html


# --- Publication styling ------------------------------------------------------------------

def test_head_figure_is_titled_and_labelled(cap):
    fig = head_figure(cap, "encoder", 2, 5)
    title = fig.layout.title.text
    assert "minilm" in title and "encoder" in title and "layer 2" in title and "head 5" in title
    assert fig.data[0].colorbar.title.text == "attention weight"
    assert fig.layout.font.size >= 14
    np.testing.assert_array_equal(fig.data[0].z, cap.attentions["encoder"][2, 5])


def test_for_print_leaves_the_shown_figure_alone(cap):
    fig = head_figure(cap, "encoder", 0, 0)
    fig.update_layout(font={"size": 11})
    printed = for_print(fig, font_size=20)
    assert printed.layout.font.size == 20 and fig.layout.font.size == 11


def test_file_name_says_what_it_holds():
    assert file_name("minilm", "L2", "H5", "encoder") == "minilm_L2_H5_encoder"
    assert file_name("minilm", "L0", None, "cross") == "minilm_L0_cross"


@pytest.mark.parametrize("model", ["/srv/models/my model", "../x", "../../etc/passwd", ".hidden", "", None,
                                   "é中文 модель", "a" * 5000, "a\x00b\nc\rd\x1b[31m", "\u202e\u200b", "C:\\models\\x",
                                   "...", "/", "~/m"])
def test_file_name_is_safe_for_any_model_name(model):
    stem = file_name(model, "L2", "H5", "encoder")
    assert stem and len(stem) <= 120
    assert "/" not in stem and "\\" not in stem and not stem.startswith((".", "-"))
    assert not any(ord(c) < 32 or c.isspace() or c in "\u202e\u200b\x7f" for c in stem)
    assert stem.endswith("_L2_H5_encoder") or len(stem) == 120
    assert file_name(model) and len(file_name(model)) <= 120


def test_long_names_stay_apart():
    assert file_name("a" * 300 + "1") != file_name("a" * 300 + "2")


@pytest.mark.parametrize(("layer", "head", "message"), [(6, 0, "layer 6 is out of range"),
                                                        (0, 12, "head 12 is out of range")])
def test_head_out_of_range_is_a_clear_error(cap, layer, head, message):
    with pytest.raises(ValueError, match=message):
        head_figure(cap, "encoder", layer, head)


# --- Data ---------------------------------------------------------------------------------

def test_npz_round_trips_exactly(cap):
    back = data_export.load_npz(data_export.npz_bytes(cap))
    assert back.tokens == cap.tokens and back.model_name == cap.model_name
    assert back.truncated == cap.truncated and back.target_tokens == cap.target_tokens
    assert set(back.attentions) == set(cap.attentions)
    for kind, att in cap.attentions.items():
        assert back.attentions[kind].dtype == att.dtype
        np.testing.assert_array_equal(back.attentions[kind], att)
    np.testing.assert_array_equal(back.positions, cap.positions)
    for part in ("q", "k", "v"):
        for kind, arr in getattr(cap, part).items():
            np.testing.assert_array_equal(getattr(back, part)[kind], arr)
    assert back.score_forms == cap.score_forms and back.architecture == cap.architecture


def test_npz_is_plain_numpy(cap):
    with np.load(io.BytesIO(data_export.npz_bytes(cap)), allow_pickle=False) as z:
        assert z["attentions/encoder"].shape == (6, 12, len(cap.tokens), len(cap.tokens))
        assert list(z["tokens"]) == cap.tokens


def test_csv_round_trips_to_the_weights(cap):
    df = pd.read_csv(io.BytesIO(data_export.csv_bytes(cap)))
    att = cap.attentions["encoder"]
    assert len(df) == att.size == data_export.csv_rows(cap)
    assert list(df.columns) == ["kind", "layer", "head", "query", "query_token", "key", "key_token", "weight"]
    back = np.zeros_like(att)
    back[df["layer"], df["head"], df["query"], df["key"]] = df["weight"].to_numpy(np.float32)
    np.testing.assert_allclose(back, att, rtol=0, atol=1e-7)
    assert df.loc[df["key"] == 2, "key_token"].unique().tolist() == ["cat"]


def test_csv_of_one_head(cap):
    df = pd.read_csv(io.BytesIO(data_export.csv_bytes(cap, "encoder", 2, 5)))
    n = len(cap.tokens)
    assert len(df) == n * n == data_export.csv_rows(cap, "encoder", 2, 5)
    assert set(df["layer"]) == {2} and set(df["head"]) == {5}
    np.testing.assert_allclose(df["weight"].to_numpy().reshape(n, n), cap.attentions["encoder"][2, 5], atol=1e-7)


def test_json_round_trips_exactly(cap):
    doc = json.loads(data_export.json_bytes(cap))
    assert doc["tokens"] == cap.tokens and doc["model_name"] == "minilm"
    np.testing.assert_array_equal(np.asarray(doc["attentions"]["encoder"], dtype=np.float32), cap.attentions["encoder"])
    np.testing.assert_array_equal(np.asarray(doc["positions"], dtype=np.float32), cap.positions)


@pytest.mark.browser
@pytest.mark.slow
def test_zip_holds_every_head_of_every_layer(cap):
    data = data_export.all_heads_zip(cap, "encoder", width=400, height=400, scale=1)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        assert len(names) == 6 * 12
        assert set(names) == {f"minilm_L{lay}_H{h}_encoder.png" for lay in range(6) for h in range(12)}
        for name in ("minilm_L0_H0_encoder.png", "minilm_L5_H11_encoder.png"):
            assert png_size(zf.read(name)) == (400, 400)


def test_zip_of_a_missing_kind_is_refused(cap):
    with pytest.raises(ValueError, match="no cross attention"):
        data_export.all_heads_zip(cap, "cross")


@pytest.mark.browser
def test_scale_multiplies_png_pixels_and_leaves_vectors_at_layout_size(cap, renderer):
    fig = head_figure(cap, "encoder", 0, 0)
    svg = ET.fromstring(renderer.render(fig, "svg", width=700, height=500, scale=3))
    assert (float(svg.get("width")), float(svg.get("height"))) == (700, 500)


# --- The page (AppTest) -------------------------------------------------------------------

def page_downloads(at) -> dict:
    return {b.proto.label: b.proto for b in at.get("download_button")}


def test_every_chart_offers_deferred_image_and_html_downloads():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file("../dashboard.py", default_timeout=120).run()
    assert not at.exception
    buttons = page_downloads(at)
    assert {"PNG", "SVG", "PDF", "HTML"} <= set(buttons)
    for label in ("PNG", "SVG", "PDF", "HTML"):
        # Made on click, not on every rerun: the page holds a placeholder id, not the file.
        assert buttons[label].HasField("deferred_file_id") and not buttons[label].disabled


def test_without_chromium_the_page_says_how_to_install_it(monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("CHROMIUM_PATH", str(tmp_path / "no-chromium"))
    at = AppTest.from_file("../dashboard.py", default_timeout=120).run()
    assert not at.exception
    buttons = page_downloads(at)
    assert buttons["PNG"].disabled and buttons["SVG"].disabled and buttons["PDF"].disabled
    assert not buttons["HTML"].disabled
    assert any("apt-get install -y chromium" in c.value for c in at.caption)

    at.segmented_control(key="view").set_value("Export").run()
    assert not at.exception
    data = page_downloads(at)
    assert {"NPZ (exact)", "JSON"} <= set(data) and not any(b.disabled for b in data.values())
    assert any("apt-get install -y chromium" in w.value for w in at.warning)


@pytest.mark.browser
@pytest.mark.slow
def test_export_view_prepares_a_zip_of_every_head():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file("../dashboard.py", default_timeout=300).run()
    at.segmented_control(key="view").set_value("Export").run()
    at.selectbox(key="export_zip_scale").set_value(1)
    at.button(key="export_zip_prepare").click().run()
    assert not at.exception and not at.error
    (zip_button,) = [b for b in at.get("download_button") if b.proto.label.startswith("Download ZIP")]
    assert zip_button.proto.url, zip_button.proto


@pytest.mark.browser
def test_renders_from_many_threads_each_get_their_own_image(cap, renderer):
    """Streamlit sessions export from their own threads: every caller gets the image it asked for."""
    from concurrent.futures import ThreadPoolExecutor

    sizes = [(500 + 20 * i, 400 + 10 * i) for i in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = [pool.submit(renderer.render, head_figure(cap, "encoder", i, i), "png", width=w, height=h)
                   for i, (w, h) in enumerate(sizes)]
        got = [png_size(f.result()) for f in futures]
    assert got == sizes
    assert renderer.launches == 1


@pytest.mark.browser
def test_too_small_an_image_is_a_clear_error(cap, renderer):
    fig = head_figure(cap, "encoder", 1, 1)
    least_w, least_h = min_size(fig)
    assert least_h == fig.layout.margin.t + fig.layout.margin.b + MIN_PLOT_PX
    with pytest.raises(ValueError, match=f"at least {least_w} x {least_h} px"):
        renderer.render(fig, "png", width=least_w, height=least_h - 1)
    assert png_size(renderer.render(fig, "png", width=least_w, height=least_h)) == (least_w, least_h)
