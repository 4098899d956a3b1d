"""The benchmarks import and measure sane things on a short text (no timings asserted)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
from pathlib import Path

import plotly.io
import pytest

from bench.browser import chart_title
from bench.common import PeakSampler, descendants, process_memory_mb, text_of_tokens, tree_rss_mb
from bench.smollm2_page import page_url, target_note
from viz.heatmaps import attention_heatmap

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", ["bench.vs_bertviz", "bench.browser", "bench.memory", "bench.smollm2",
                                  "bench.smollm2_page"])
def test_bench_modules_import_and_have_a_main(name):
    assert callable(importlib.import_module(name).main)


@pytest.mark.parametrize("n", [16, 510])
def test_texts_of_exact_length_differ_by_variant(minilm, n):
    texts = {text_of_tokens(minilm.codec, n, variant=v) for v in range(3)}
    assert len(texts) == 3
    assert all(len(minilm.codec.encode(t).ids) == n for t in texts)


def test_our_views_send_far_fewer_bytes_than_bertviz_at_16_tokens(minilm):
    pytest.importorskip("bertviz")
    from bench.vs_bertviz import bertviz_html, load_reference, ours_bytes

    text = text_of_tokens(minilm.codec, 16)
    enc = minilm.codec.encode(text)
    html = bertviz_html(load_reference(), enc.ids, enc.tokens)
    # BertViz writes 6 x 12 x 16 x 16 weights as JSON text: at least a few bytes each
    assert len(html) > 6 * 12 * 16 * 16 * 5
    assert "[CLS]" in html
    sent = ours_bytes(minilm, text)
    assert set(sent) == {"model view", "head view"}
    # the head view carries its 16 x 16 float32 weights as base64 (~5.3 bytes a cell) plus the layout
    assert 16 * 16 * 4 < sent["head view"] < 50_000
    assert 0 < sent["model view"] < 100_000
    assert sent["model view"] + sent["head view"] < len(html) / 10


def test_process_memory_reads_this_process():
    mem = process_memory_mb(int(Path("/proc/self").resolve().name))
    assert 0 < mem["VmRSS"] <= mem["VmHWM"]


def test_memory_of_a_process_tree_counts_its_children():
    me = os.getpid()
    child = subprocess.Popen([sys.executable, "-c", "import time; b = bytearray(50_000_000); time.sleep(30)"])
    try:
        deadline = time.monotonic() + 20
        while process_memory_mb(child.pid)["VmRSS"] < 50 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert child.pid in descendants(me)
        alone, with_child = process_memory_mb(me)["VmRSS"], tree_rss_mb(me)
        assert with_child - alone >= 45  # the child's 50 MB buffer, give or take what moved meanwhile
        with PeakSampler(me, interval=0.01) as sampler:
            time.sleep(0.05)
        assert sampler.peak >= with_child - 5
    finally:
        child.kill()
        child.wait()


def test_a_chart_is_named_by_its_figure_title():
    fig = attention_heatmap([[1.0, 0.0], [0.5, 0.5]], ["a", "b"], title="layer 0 head 0")
    assert chart_title(plotly.io.to_json(fig, validate=False)) == "layer 0 head 0"
    assert chart_title('{"data": [], "layout": {}}') == "untitled"


def test_targets_are_printed_against_the_numbers():
    assert target_note("Model view", 900_000, 2.5) == "meets <= 1 MB; meets <= 3 s"
    assert target_note("Model view", 1_200_000, 4.0) == "misses <= 1 MB; misses <= 3 s"
    assert target_note("Head view", 3_000_000, None) == "misses <= 2 MB"
    assert target_note("Model view", 800_000, 14.0, 0.75) == "meets <= 1 MB; misses <= 3 s first visit, meets again"
    assert target_note("Lines", 10, 0.1) == ""
    assert page_url("http://127.0.0.1:1", "smollm2", "Step by step") == \
        "http://127.0.0.1:1/?model=smollm2&view=Step+by+step"
