"""A first visit opens at a head with a clear pattern, chosen from the capture; a link's head or the user's wins."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from model import capture, load_model
from model.statistics import SINK_SHARE, clear_head, head_statistics
from tests.test_dashboard import as_array
from ui.landing import landing_statistics
from ui.sidebar import examples_for

EXAMPLE = "The animal didn't cross the street because it was too tired."  # the sidebar's first example
TIMEOUT = 180


def statistics(cap):
    return head_statistics(np.stack(list(cap.layers("encoder"))), cap.tokens)


def resting(row) -> bool:
    return max(row["first"], row["cls"] + row["sep"]) >= SINK_SHARE


def test_minilm_opens_at_its_previous_token_head_not_the_diffuse_first_one(minilm):
    stats = statistics(capture(minilm, EXAMPLE)).set_index(["layer", "head"])
    chosen = clear_head(stats.reset_index())
    best = stats.loc[chosen]
    # every token but [CLS] sends all its weight to the token before it: one dark cell a row
    assert best["confidence"] > 0.99 and best["previous"] > 0.99 and not resting(best)
    assert stats["confidence"].max() == best["confidence"]
    assert stats.loc[(0, 0), "confidence"] < 0.5  # layer 0, head 0: the grey blur a first visit used to get


def test_a_head_that_rests_on_cls_is_passed_over_however_confident(minilm):
    later = statistics(capture(minilm, EXAMPLE))
    later = later[later["layer"] > 0]  # without layer 0's previous-token head
    top = later.loc[later["confidence"].idxmax()]
    assert resting(top) and top["cls"] > 0.8  # the most confident of these parks on [CLS]
    layer, head = clear_head(later)
    best = later[(later["layer"] == layer) & (later["head"] == head)].iloc[0]
    assert not resting(best)
    others = later[[not resting(r) for _i, r in later.iterrows()]]
    assert best["confidence"] == others["confidence"].max()


def test_when_every_head_rests_the_most_confident_is_taken(minilm):
    stats = statistics(capture(minilm, "Hello"))  # [CLS] hello [SEP]: every head rests on the special tokens
    assert all(resting(r) for _i, r in stats.iterrows())
    layer, head = clear_head(stats)
    assert stats.loc[(stats["layer"] == layer) & (stats["head"] == head), "confidence"].iloc[0] == \
        stats["confidence"].max()


def test_clear_head_says_what_it_lacks():
    with pytest.raises(ValueError, match="confidence"):
        clear_head(pd.DataFrame({"layer": [0], "head": [0], "first": [0.1], "cls": [0.0], "sep": [0.0]}))


def test_the_sampled_measures_equal_head_statistics_and_choose_alike(minilm):
    cap = capture(minilm, EXAMPLE)
    full = statistics(cap)
    sampled = landing_statistics(cap, "encoder")  # 16 tokens: every row is read
    for column in ("confidence", "first", "cls", "sep"):
        np.testing.assert_allclose(sampled[column], full[column], atol=1e-5)
    long = capture(minilm, " ".join([EXAMPLE] * 30))  # 420 tokens: 128 rows of each head are read
    assert clear_head(landing_statistics(long, "encoder")) == clear_head(statistics(long))


def drawn(at: AppTest) -> tuple[np.ndarray, str]:
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    return as_array(spec["data"][0]["z"]), spec["layout"]["title"]["text"]


def landing_caption(at: AppTest) -> list[str]:
    return [c.value for c in at.caption if c.value.startswith("Opened at a head with a clear pattern")]


def test_a_first_visit_lands_on_the_clear_head_and_says_so(minilm):
    at = AppTest.from_file("../dashboard.py", default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    cap = capture(minilm, EXAMPLE)
    layer, head = clear_head(statistics(cap))
    assert (at.slider(key="layer").value, at.slider(key="head").value) == (layer, head)
    z, title = drawn(at)
    assert title == f"minilm encoder layer {layer} head {head}"
    np.testing.assert_allclose(z.reshape(16, 16), cap.head("encoder", layer, head), atol=1e-6)
    (caption,) = landing_caption(at)
    assert f"{z.reshape(16, 16).max(-1).mean():.0%}" in caption and "not at layer 0, head 0" in caption
    # a new sentence keeps the head in view
    at.text_area(key="text").set_value("the cat saw the dog and the bird").run()
    assert (at.slider(key="layer").value, at.slider(key="head").value) == (layer, head)
    # the user's head is theirs: no caption, and it stays through a change of sentence
    at.slider(key="head").set_value(0).run()
    at.slider(key="layer").set_value(0).run()
    assert not landing_caption(at)
    at.text_area(key="text").set_value(EXAMPLE).run()
    assert (at.slider(key="layer").value, at.slider(key="head").value) == (0, 0)
    assert drawn(at)[1] == "minilm encoder layer 0 head 0"


def test_a_link_to_layer_0_head_0_opens_there(minilm):
    at = AppTest.from_file("../dashboard.py", default_timeout=TIMEOUT)
    at.query_params["layer"] = "0"
    at.query_params["head"] = "0"
    at.run()
    assert not at.exception
    assert (at.slider(key="layer").value, at.slider(key="head").value) == (0, 0)
    z, title = drawn(at)
    assert title == "minilm encoder layer 0 head 0"
    np.testing.assert_allclose(z.reshape(16, 16), capture(minilm, EXAMPLE).head("encoder", 0, 0), atol=1e-6)
    assert not landing_caption(at)


def test_the_translator_opens_at_a_clear_head_of_its_encoder():
    at = AppTest.from_file("../dashboard.py", default_timeout=TIMEOUT)
    at.query_params["model"] = "translator"
    at.run()
    assert not at.exception
    assert at.radio(key="kind").value == "encoder"
    cap = capture(load_model("translator"), examples_for("translator")[0])
    stats = head_statistics(np.stack(list(cap.layers("encoder"))), cap.tokens)
    layer, head = clear_head(stats)
    assert (at.slider(key="layer").value, at.slider(key="head").value) == (layer, head)
    z, title = drawn(at)
    assert title == f"translator encoder layer {layer} head {head}"
    n = len(cap.tokens)
    np.testing.assert_allclose(z.reshape(n, n), cap.head("encoder", layer, head), atol=1e-6)
    calm = stats[[not resting(r) for _i, r in stats.iterrows()]]
    assert z.reshape(n, n).max(-1).mean() == pytest.approx(calm["confidence"].max(), abs=1e-5)
    assert landing_caption(at)
