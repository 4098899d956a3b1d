"""The benchmarks import and measure sane things on a short text (no timings asserted)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from bench.common import process_memory_mb, text_of_tokens

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", ["bench.vs_bertviz", "bench.browser", "bench.memory"])
def test_bench_modules_import_and_have_a_main(name):
    assert callable(importlib.import_module(name).main)


def test_texts_of_exact_length_differ_by_variant(minilm):
    texts = {text_of_tokens(minilm.codec, 16, variant=v) for v in range(3)}
    assert len(texts) == 3
    assert all(len(minilm.codec.encode(t).ids) == 16 for t in texts)


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
