"""The Positions, Compare and Statistics views driven by Streamlit's AppTest."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from model import capture, load_model
from model.folders import ROOTS_ENV

TIMEOUT = 300
SENTENCE = "the cat saw the dog and the bird"
TOKENS = ["[CLS]", "the", "cat", "saw", "the", "dog", "and", "the", "bird", "[SEP]"]
LONG = " ".join(["word"] * 600)  # truncated to MiniLM's 512 positions


def decode(value) -> np.ndarray:
    """An array Plotly sent as a list or as a base64 typed array (``shape`` only when 2-D or more)."""
    if isinstance(value, dict):
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        return flat.reshape([int(s) for s in str(value["shape"]).split(",")]) if "shape" in value else flat
    return np.asarray(value, dtype=float)


def z_array(trace: dict) -> np.ndarray:
    return decode(trace["z"])


def charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def open_view(view: str, text: str = SENTENCE) -> AppTest:
    at = AppTest.from_file("../dashboard.py", default_timeout=TIMEOUT)
    at.run()
    at.text_area(key="text").set_value(text).run()
    at.segmented_control(key="view").set_value(view).run()
    assert not at.exception
    return at


def section(at: AppTest, key: str, name: str) -> list[dict]:
    at.segmented_control(key=key).set_value(name).run()
    assert not at.exception, at.exception
    return charts(at)


def test_positions_view_sections():
    at = open_view("Positions")
    vectors = section(at, "pos_section", "Vectors")
    assert z_array(vectors[0]["data"][0]).shape == (10, 384)
    assert vectors[0]["layout"]["yaxis"]["ticktext"] == TOKENS
    assert [t["name"] for t in vectors[1]["data"]] == ["dim 0", "dim 1", "dim 96", "dim 192"]

    sim = z_array(section(at, "pos_section", "Similarity")[0]["data"][0])
    assert sim.shape == (10, 10)
    np.testing.assert_allclose(np.diag(sim), 1.0, atol=1e-5)
    at.radio(key="pos_source").set_value("table").run()
    assert z_array(charts(at)[0]["data"][0]).shape == (512, 512)
    at.radio(key="pos_source").set_value("sinusoidal").run()
    assert z_array(charts(at)[0]["data"][0]).shape == (512, 512)

    offsets = section(at, "pos_section", "Offsets")[0]["data"][0]
    assert z_array(offsets).shape == (72, 15)  # offsets -7..7 between the 8 words
    assert offsets["y"][:2] == ["L0 H0", "L0 H1"]
    at.checkbox(key="pos_offset_specials").uncheck().run()
    assert z_array(charts(at)[0]["data"][0]).shape == (72, 19)  # -9..9 over all 10 tokens

    ablation = section(at, "pos_section", "Ablation")
    assert any("cannot tell word order apart" in i.value for i in at.info)
    assert [z_array(t).shape for t in ablation[0]["data"]] == [(10, 10)] * 4
    assert [t["coloraxis"] for t in ablation[0]["data"]] == ["coloraxis"] * 3 + ["coloraxis2"]
    assert ablation[0]["layout"]["coloraxis2"]["cmid"] == 0
    a, b, _, diff = (z_array(t) for t in ablation[0]["data"])
    np.testing.assert_allclose(diff, b - a, atol=1e-6)
    gap = next(c.value for c in at.caption if "differs from the unshuffled one" in c.value)
    assert float(gap.split("at most ")[1].split()[0]) < 1e-4


def test_compare_view_modes(minilm):
    at = open_view("Compare")
    at.radio(key="cmp_mode").set_value("Two heads").run()
    traces = charts(at)[0]["data"]
    a, b, diff = (z_array(t) for t in traces)
    assert a.shape == b.shape == diff.shape == (10, 10)
    np.testing.assert_allclose(diff, b - a, atol=1e-6)
    assert len(at.dataframe[0].value) == 10

    at.radio(key="cmp_mode").set_value("Two sentences").run()
    assert not at.exception
    traces = charts(at)[0]["data"]
    assert [z_array(t).shape for t in traces] == [(16, 16)] * 3  # tired / wide: one token apart, aligned
    changes = at.dataframe[0].value
    assert set(changes["key token"]) | set(changes["query token"]) <= {
        "[CLS]", "the", "animal", "didn", "'", "t", "cross", "street", "because", "it", "was", "too",
        "tired", "wide", ".", "[SEP]"}

    at.radio(key="cmp_mode").set_value("Two models").run()
    at.selectbox(key="cmp_model_b").set_value("translator").run()
    assert not at.exception
    assert not at.warning and not at.info
    # MiniLM's 10 tokens and the translator's 8: two panels side by side, no difference panel
    (fig,) = charts(at)
    a, b = (z_array(t) for t in fig["data"])
    shown = at.slider(key="layer").value, at.slider(key="head").value  # one head of each model, the same indices
    np.testing.assert_allclose(a, capture(minilm, SENTENCE).head("encoder", *shown), atol=1e-6)
    np.testing.assert_allclose(b, capture(load_model("translator"), SENTENCE).head("encoder", *shown), atol=1e-6)
    assert any("shown side by side" in c.value for c in at.caption)
    assert fig["layout"]["title"]["text"] == "one sentence, two models"

    at.radio(key="cmp_mode").set_value("With / without positions").run()
    traces = charts(at)[0]["data"]
    assert [t["coloraxis"] for t in traces] == ["coloraxis", "coloraxis", "coloraxis2"]
    assert np.abs(z_array(traces[2])).max() > 0.01  # zeroing positions changes the pattern


def test_statistics_view_sections():
    at = open_view("Statistics")
    section(at, "stats_section", "This sentence")
    table = at.dataframe[0].value
    assert len(table) == 72 and table["entropy (nats)"].between(0, np.log(10) + 1e-5).all()
    scatter = charts(at)[0]["data"]
    assert len(decode(scatter[0]["x"])) == 72
    at.selectbox(key="stats_head").set_value(2).run()  # L0 H2
    at.button(key="stats_open").click().run()
    assert not at.exception
    assert at.session_state["view"] == "Head view"
    assert (at.session_state["layer"], at.session_state["head"]) == (0, 2)

    at.segmented_control(key="view").set_value("Statistics").run()
    alike = section(at, "stats_section", "Heads like this one")
    assert z_array(alike[0]["data"][0]).shape == (6, 12)
    assert z_array(alike[1]["data"][0]).shape == (72, 72)
    assert len(at.dataframe[0].value) == 8

    rollout = z_array(section(at, "stats_section", "Rollout")[0]["data"][0])
    assert rollout.shape == (10, 10)
    np.testing.assert_allclose(rollout.sum(1), 1.0, atol=1e-4)

    section(at, "stats_section", "Corpus")
    assert any("No file uploaded" in c.value and "pasted above" in c.value for c in at.caption)
    at.text_area(key="stats_corpus_text").set_value("The cat sat.\nA dog barked.\n\nIt rained.").run()
    at.button(key="stats_run").click().run()
    assert not at.exception
    bars = charts(at)[0]["data"][0]
    assert len(bars["x"]) == 72 and len(decode(bars["y"])) == 72
    corpus = at.dataframe[0].value
    assert (corpus["sentences"] == 3).all() and len(corpus) == 72

    at.text_area(key="stats_corpus_text").set_value("s\n" * 201).run()
    at.button(key="stats_run").click().run()
    assert not at.exception
    assert any("at most 200" in e.value for e in at.error)


VIEW_SECTIONS = [
    ("Positions", "pos_section", ["Vectors", "Similarity", "Offsets", "Ablation"]),
    ("Statistics", "stats_section", ["This sentence", "Heads like this one", "Rollout"]),
]


def z_shapes(figs: list[dict]) -> list[list[tuple[int, ...] | None]]:
    """Per figure, the shape of each trace's z (None for a trace without z: a scatter)."""
    return [[z_array(t).shape if "z" in t else None for t in f["data"]] for f in figs]


def expected_shapes(name: str, n: int, offsets: int) -> list[list[tuple[int, ...] | None]]:
    """What each section of MiniLM's views draws for ``n`` tokens and ``offsets`` columns of the offset profile."""
    return {
        "Vectors": [[(n, 384)], [None] * 4],  # the vectors, and four dimensions as curves
        "Similarity": [[(n, n)]],
        "Offsets": [[(72, offsets)]],
        "Ablation": [[(n, n)] * 4],  # original, shuffled, put back in order, difference
        "This sentence": [[None, None]],  # every head as a scatter
        "Heads like this one": [[(6, 12)], [(72, 72)]],
        "Rollout": [[(n, n)]],
    }[name]


@pytest.mark.slow
@pytest.mark.parametrize(("text", "n", "offsets"), [("a", 3, 1), (LONG, 512, 21)], ids=["one-token", "512-tokens"])
def test_views_on_shortest_and_longest_input(text, n, offsets):
    """``offsets``: one word has only offset 0 between words; 510 words show the default ±10."""
    at = open_view("Positions", text)
    for view, key, names in VIEW_SECTIONS:
        at.segmented_control(key="view").set_value(view).run()
        for name in names:
            assert z_shapes(section(at, key, name)) == expected_shapes(name, n, offsets), (view, name)
            assert not at.error, (view, name)
            if name == "Ablation":
                assert any("cannot tell word order apart" in i.value for i in at.info)
            if name in ("This sentence", "Heads like this one"):
                assert len(at.dataframe[0].value) == {"This sentence": 72, "Heads like this one": 8}[name]
    at.segmented_control(key="view").set_value("Compare").run()
    for mode in ("Two heads", "With / without positions"):
        at.radio(key="cmp_mode").set_value(mode).run()
        assert not at.exception
        assert [z_array(t).shape for t in charts(at)[0]["data"]] == [(n, n)] * 3
    notices = [w.value for w in at.warning]
    assert (notices == [] if n < 512 else any("reads at most 512" in w for w in notices)), notices


def local_shapes(cap, kind: str, name: str) -> list[list[tuple[int, ...] | None]]:
    """What a section draws for any model's Capture (Offsets: rows only); the ablation shuffles the input text."""
    layers, heads, queries, keys = cap.attentions[kind].shape
    source = cap.attentions[cap.kinds[0]].shape[-1]
    return {
        "Vectors": lambda: [[cap.positions.shape], [None] * 4],
        "Similarity": lambda: [[(len(cap.positions),) * 2]],
        "Offsets": lambda: [[(layers * heads,)]],
        "Ablation": lambda: [[(source, source)] * 4],
        "This sentence": lambda: [[None, None]],
        "Heads like this one": lambda: [[(layers, heads)], [(layers * heads,) * 2]],
        "Rollout": lambda: [[(queries, keys)]],
    }[name]()


@pytest.mark.slow
@pytest.mark.parametrize("family", ["bert", "gpt2", "t5"])
def test_views_on_local_checkpoints(tmp_path, family, monkeypatch):
    """A Hugging Face encoder, decoder and encoder-decoder (tiny, random, built offline): every section draws."""
    from tests.test_hf_models import TEXT, build

    folder = build(family, tmp_path / family)
    monkeypatch.setenv(ROOTS_ENV, str(tmp_path))
    at = AppTest.from_file("../dashboard.py", default_timeout=TIMEOUT)
    at.run()
    at.selectbox(key="model").set_value("local").run()
    at.text_input(key="checkpoint_folder").set_value(str(folder)).run()
    at.text_area(key="text").set_value(TEXT).run()
    if family == "gpt2":  # the decoder reads the text alone here, as the capture below does (no continuation)
        at.checkbox(key="generate").uncheck().run()
    cap = capture(load_model(str(folder)), TEXT)
    heads = {"bert": {"encoder": 8}, "gpt2": {"decoder": 8}, "t5": {"encoder": 8, "decoder": 12, "cross": 12}}[family]
    kinds = list(heads)
    for view, key, names in [*VIEW_SECTIONS, ("Statistics", "stats_section", ["Corpus"])]:
        at.segmented_control(key="view").set_value(view).run()
        for kind in kinds:
            at.session_state["kind"] = kind  # the shared kind selector's state; not every section draws it
            for name in names:
                section(at, key, name)
                assert not at.error, (view, name, kind, [e.value for e in at.error])
                if name == "Corpus":
                    at.button(key="stats_run").click().run()
                    assert not at.exception and len(at.dataframe[0].value) == heads[kind]
                elif name == "Rollout" and kind == "cross":
                    assert any("choose encoder or decoder" in i.value for i in at.info)
                elif family == "t5" and view == "Positions" and name in ("Vectors", "Similarity"):
                    assert any("relative-position bias" in i.value for i in at.info)
                else:
                    got = z_shapes(charts(at))
                    want = local_shapes(cap, kind, name)
                    if name == "Offsets":  # one row per head; the columns depend on the offsets shown
                        got = [[z[:1] for z in fig] for fig in got]
                    assert got == want, (view, name, kind)
    at.segmented_control(key="view").set_value("Compare").run()
    for mode in ("Two heads", "Two sentences", "Two models", "With / without positions"):
        at.radio(key="cmp_mode").set_value(mode).run()
        assert not at.exception and not at.error, (mode, at.exception, [e.value for e in at.error])


def test_views_on_the_translator():
    """The in-repo encoder-decoder: sinusoidal positions, three kinds, non-square cross-attention."""
    from model.transformer import sinusoidal_table

    at = AppTest.from_file("../dashboard.py", default_timeout=TIMEOUT)
    at.run()
    at.selectbox(key="model").set_value("translator").run()
    at.text_area(key="text").set_value("the third of march 1998").run()
    at.segmented_control(key="view").set_value("Positions").run()
    vectors = z_array(section(at, "pos_section", "Vectors")[0]["data"][0])
    np.testing.assert_allclose(vectors, sinusoidal_table(*vectors.shape).numpy(), atol=1e-5)

    at.session_state["kind"] = "cross"
    at.segmented_control(key="view").set_value("Compare").run()
    at.radio(key="cmp_mode").set_value("Two sentences").run()
    assert not at.exception
    traces = charts(at)[0]["data"]
    assert [z_array(t).shape for t in traces] == [(12, 8)] * 3  # 1998-03-03 / 1998-03-04 over 8 source tokens
    assert charts(at)[0]["layout"]["xaxis2"]["ticktext"][1] == "fourth"

    at.segmented_control(key="view").set_value("Statistics").run()
    section(at, "stats_section", "This sentence")
    table = at.dataframe[0].value
    assert len(table) == 2 * 4 and "mean distance" not in table.columns
    section(at, "stats_section", "Rollout")
    assert any("choose encoder or decoder" in i.value for i in at.info)
