"""Interventions: knocked-out heads against the same ablation done by hand on transformers' models."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers import BertModel

from model import capture, load_model
from model.interventions import (
    agreement,
    attribution,
    head_importance,
    intervene,
    intervening,
    plan_of,
)
from model.loading import minilm_dir
from tests.test_hf_models import build

TEXT = "The cat sat on the mat because it was tired."


@pytest.fixture(scope="module")
def reference():
    return BertModel.from_pretrained(str(minilm_dir()), attn_implementation="eager").eval()


@pytest.fixture(scope="module")
def importance(minilm):
    return head_importance(minilm, TEXT)


def by_hand(reference, ids: torch.Tensor, layer: int, head: int) -> float:
    """Zero the head's 32 columns at the input of attention.output.dense; 1 - cosine of mean embeddings."""
    dense = reference.encoder.layer[layer].attention.output.dense

    def zero(module, args):
        z = args[0].clone()
        z[..., head * 32:(head + 1) * 32] = 0.0
        return (z,)

    with torch.inference_mode():
        clean = reference(ids).last_hidden_state.mean(1)
        handle = dense.register_forward_pre_hook(zero)
        try:
            changed = reference(ids).last_hidden_state.mean(1)
        finally:
            handle.remove()
    return float(1 - F.cosine_similarity(clean, changed)[0])


def test_every_minilm_head_equals_the_ablation_by_hand(minilm, reference, importance):
    ids = torch.tensor([minilm.codec.encode(TEXT).ids])
    assert len(importance) == 72
    assert list(importance.columns) == ["kind", "layer", "head", "effect"]
    for row in importance.itertuples():
        assert row.effect == pytest.approx(by_hand(reference, ids, row.layer, row.head), abs=1e-4)
    assert importance["effect"].max() > 1e-3  # some head matters: the measure is not all zeros


def test_one_intervention_equals_its_row_of_the_importance(minilm, importance):
    top = importance.sort_values("effect").iloc[-1]
    out = intervene(minilm, TEXT, [("encoder", int(top["layer"]), int(top["head"]))])
    assert out.effect == pytest.approx(float(top.effect), abs=1e-5)
    assert "cosine" in out.measure and "cosine" in out.after


def test_attribution_is_a_first_look_at_the_exact_effects(minilm, importance):
    estimate = attribution(minilm, TEXT)
    assert len(estimate) == 72 and estimate["estimate"].abs().max() > 0
    assert 0.0 < agreement(importance, estimate) <= 1.0  # 0.25 measured: 1 - cosine is flat at the start
    tr = load_model("translator")
    text = "december 31st, 1999"
    # a log-probability is first-order in each head's output: the estimate ranks heads better (0.55)
    assert agreement(head_importance(tr, text), attribution(tr, text)) > 0.4


def test_mean_ablation_and_patching(minilm):
    clean = "The Eiffel Tower is in Paris"
    corrupted = "The Colosseum Tower is in Rome"
    mean = intervene(minilm, clean, [("encoder", 0, 0)], mode="mean")
    assert 0 <= mean.effect < 1
    patched = intervene(minilm, clean, [("encoder", l, h) for l in range(6) for h in range(12)],
                        mode="patch", corrupted=corrupted)
    itself = intervene(minilm, clean, [("encoder", 3, 4)], mode="patch", corrupted=clean)
    assert itself.effect == pytest.approx(0.0, abs=1e-6)  # patching a sentence into itself changes nothing
    assert patched.effect > 1e-3
    with pytest.raises(ValueError, match="same number of tokens"):
        intervene(minilm, clean, [("encoder", 0, 0)], mode="patch", corrupted="Rome")


def test_translator_knockout_changes_its_output_probability():
    tr = load_model("translator")
    text = "december 31st, 1999"
    frame = head_importance(tr, text)
    assert set(frame["kind"]) == {"encoder", "decoder", "cross"} and len(frame) == 3 * 2 * 4
    assert frame["effect"].max() > 0.01  # 0.037 measured: one head alone barely matters to this model
    worst = frame.sort_values("effect").iloc[-1]
    out = intervene(tr, text, [(worst["kind"], int(worst["layer"]), int(worst["head"]))])
    assert out.before == "1999-12-31"
    assert out.effect == pytest.approx(float(worst["effect"]), abs=1e-4)
    every_cross = intervene(tr, text, [("cross", layer, head) for layer in range(2) for head in range(4)])
    assert every_cross.effect > 1.0 and every_cross.after != every_cross.before  # blind to the source


def test_capture_inside_an_intervention_sees_it_and_no_hook_is_left(minilm):
    plain = capture(minilm, TEXT)
    with intervening(minilm, plan_of([("encoder", 0, h) for h in range(12)])):
        knocked = capture(minilm, TEXT)
    assert np.allclose(plain.head("encoder", 0, 0), knocked.head("encoder", 0, 0), atol=1e-6)  # layer 0 reads
    assert not np.allclose(plain.head("encoder", 1, 0), knocked.head("encoder", 1, 0), atol=1e-3)
    assert not any(m._forward_pre_hooks or m._forward_hooks for m in minilm.net.modules())


def test_an_intervention_in_one_thread_leaves_another_alone(minilm):
    plain = capture(minilm, TEXT).head("encoder", 2, 3)
    seen = []

    def other():
        seen.append(capture(minilm, TEXT).head("encoder", 2, 3))

    with intervening(minilm, plan_of([("encoder", l, h) for l in range(2) for h in range(12)])):
        t = threading.Thread(target=other)
        t.start()
        t.join()
    np.testing.assert_allclose(seen[0], plain, atol=1e-6)


@pytest.mark.parametrize("family", ["bert", "gpt2", "t5"])
def test_local_checkpoints_knock_heads_out_through_their_adapter(tmp_path, family):
    m = load_model(str(build(family, tmp_path / family)))
    text = "the cat sat on the mat"
    frame = head_importance(m, text)
    n_layers = {"bert": {"encoder": 2}, "gpt2": {"decoder": 2}, "t5": {"encoder": 2, "decoder": 3, "cross": 3}}
    assert len(frame) == 4 * sum(n_layers[family].values())
    assert frame["effect"].abs().max() > 0
    row = frame.iloc[len(frame) // 2]
    one = intervene(m, text, [(row["kind"], int(row["layer"]), int(row["head"]))])
    assert one.effect == pytest.approx(float(row["effect"]), abs=1e-4)
    assert not any(mod._forward_pre_hooks for mod in m.net.modules())


def test_knocking_out_nothing_changes_nothing_and_everything_is_allowed(minilm):
    assert intervene(minilm, TEXT, []).effect == pytest.approx(0.0, abs=1e-6)
    every = intervene(minilm, TEXT, [("encoder", layer, h) for layer in range(6) for h in range(12)])
    assert 0.0 < every.effect <= 2.0 and "cosine" in every.after


def test_bad_input_is_a_message(minilm, tmp_path):
    with pytest.raises(ValueError, match="empty"):
        head_importance(minilm, "   ")
    with pytest.raises(ValueError, match="one of"):
        intervene(minilm, TEXT, [("encoder", 0, 0)], mode="scramble")
    with pytest.raises(ValueError, match="second sentence"):
        intervene(minilm, TEXT, [("encoder", 0, 0)], mode="patch")
    gpt = load_model(str(build("gpt2", tmp_path / "gpt2")))
    with pytest.raises(ValueError, match="not valid Unicode"):
        intervene(gpt, "the cat", [("decoder", 0, 0)], continuation="\ud800")
    scored = intervene(gpt, "the cat", [("decoder", 0, 0)], continuation="sat on the mat")
    assert "continuation" in scored.measure
