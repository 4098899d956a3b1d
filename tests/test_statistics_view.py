"""The Statistics view: the sidebar's hiding of tokens, grouped-query heads, attention sinks (AppTest)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from model import capture, load_model
from model.statistics import SINK_SHARE, head_statistics, sink_heads
from ui.statistics_view import by_kv_head, kept_positions, uniform_first_share
from viz.matrix_ops import hide_and_renormalise

TIMEOUT = 300
SENTENCE = "the cat saw the dog and the bird"
PROMPT = "The cat sat on the mat because it was tired."


def statistics_view(text: str, model: str | None = None) -> AppTest:
    at = AppTest.from_file("../dashboard.py", default_timeout=TIMEOUT)
    at.session_state["generate"] = False  # a decoder only reads the prompt: the capture below is the same
    at.run()
    if model is not None:
        at.selectbox(key="model").set_value(model).run()
    at.text_area(key="text").set_value(text).run()
    at.segmented_control(key="view").set_value("Statistics").run()
    assert not at.exception, at.exception
    return at


def entropy(w: np.ndarray) -> float:
    """Mean row entropy of one head's weights, in nats (0 log 0 = 0): the reference the view is held to."""
    return float(-(w * np.log(np.where(w > 0, w, 1.0))).sum(-1).mean())


def test_hiding_special_tokens_recomputes_the_statistics(minilm):
    at = statistics_view(SENTENCE)
    full = at.dataframe[0].value
    assert "share on [CLS]" in full.columns
    at.checkbox(key="hide_special").check().run()
    assert not at.exception
    hidden = at.dataframe[0].value
    assert "share on [CLS]" not in hidden.columns and "share on [SEP]" not in hidden.columns
    assert any("computed on the weights that are left" in c.value for c in at.caption)

    cap = capture(minilm, SENTENCE)
    keep = np.arange(1, len(cap.tokens) - 1)  # [CLS] and [SEP] gone
    for layer, head in [(0, 0), (3, 7), (5, 11)]:
        w = hide_and_renormalise(cap.head("encoder", layer, head), keep, keep)
        row = hidden[(hidden["layer"] == layer) & (hidden["head"] == head)].iloc[0]
        assert row["entropy (nats)"] == pytest.approx(float(entropy(w)), abs=1e-5)
        assert row["share on first token"] == pytest.approx(float(w[:, 0].mean()), abs=1e-5)
    assert not np.allclose(hidden["entropy (nats)"], full["entropy (nats)"])
    # the sink flag reads the full rows' first token ([CLS]) whichever tokens are hidden
    assert (hidden["sink"] == "sink").tolist() == (full["share on first token"] >= SINK_SHARE).tolist()

    at.segmented_control(key="stats_section").set_value("Rollout").run()
    rollout = at.get("plotly_chart")[0]
    assert '"8 bird"' not in rollout.proto.spec and "[CLS]" not in rollout.proto.spec
    at.segmented_control(key="stats_section").set_value("Corpus").run()
    assert any("does not apply here" in c.value for c in at.caption)


def test_hiding_the_first_token_drops_its_query_and_key(minilm):
    cap = capture(minilm, SENTENCE)
    qi, ki = kept_positions(cap, "encoder", frozenset(), first=True)
    assert list(qi) == list(ki) == list(range(1, len(cap.tokens)))


def test_uniform_share_on_the_first_token():
    assert uniform_first_share(4, 4, causal=False) == 0.25
    assert uniform_first_share(3, 3, causal=True) == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)


def test_grouping_by_kv_head_is_the_mean_of_the_query_heads():
    stats = pd.DataFrame({"layer": [0] * 6, "head": range(6), "kv_head": [0, 0, 0, 1, 1, 1],
                          "entropy": [1.0, 2.0, 3.0, 0.0, 0.0, 3.0]})
    grouped = by_kv_head(stats, ["entropy"])
    assert grouped[["layer", "kv_head", "head"]].values.tolist() == [[0, 0, 0], [0, 1, 1]]
    assert grouped["entropy"].tolist() == [2.0, 1.0]


@pytest.mark.slow
def test_smollm2_heads_name_and_group_by_their_kv_head():
    model = load_model("smollm2")
    cap = capture(model, PROMPT)
    n_layers, n_heads = cap.shape("decoder")[:2]
    kv = cap.kv_heads["decoder"]
    assert (n_heads, kv) == (9, 3)
    at = statistics_view(PROMPT, "smollm2")
    table = at.dataframe[0].value
    assert len(table) == n_layers * n_heads
    assert table["kv_head"].tolist() == [h // 3 for h in table["head"]]
    assert at.selectbox(key="stats_head").format_func(5 * 9 + 4) == "L5 H4 (KV1)"

    expected = head_statistics(np.stack(list(cap.layers("decoder"))), cap.tokens)
    sinks = sink_heads(expected["first"].to_numpy())
    assert (table["sink"] == "sink").tolist() == sinks.tolist()
    assert any(f"Attention sinks: {int(sinks.sum())} of {n_layers * n_heads} heads" in m.value for m in at.markdown)
    assert any("Efficient Streaming Language Models with Attention Sinks" in c.value for c in at.caption)

    at.toggle(key="stats_by_kv").set_value(True).run()
    assert not at.exception
    grouped = at.dataframe[0].value
    assert len(grouped) == n_layers * kv and "head" not in grouped.columns
    for layer, g in [(0, 0), (5, 1), (29, 2)]:
        heads = [cap.head("decoder", layer, h) for h in range(3 * g, 3 * g + 3)]
        row = grouped[(grouped["layer"] == layer) & (grouped["kv_head"] == g)].iloc[0]
        assert row["entropy (nats)"] == pytest.approx(np.mean([entropy(w) for w in heads]), abs=1e-5)
        assert row["share on first token"] == pytest.approx(np.mean([w[:, 0].mean() for w in heads]), abs=1e-5)
    assert any(f"of {n_layers * kv} key/value heads" in m.value for m in at.markdown)
    scatter = at.get("plotly_chart")[0].proto.spec
    assert "L5 KV1 (H3-H5)" in scatter


def test_the_corpus_result_section_names_its_explanation_apart_from_the_view(minilm):
    at = statistics_view(SENTENCE)
    at.segmented_control(key="stats_section").set_value("Corpus").run()
    at.radio(key="stats_corpus_source").set_value("result").run()
    assert not at.exception
    labels = [e.label for e in at.expander]
    assert "What am I looking at?" in labels and "What does a corpus result hold?" in labels
    assert len(labels) == len(set(labels))
