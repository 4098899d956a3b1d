"""The in-repo translator: its corpus, its vocabularies, its trained weights, its captures and its view."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from model import capture, load_model
from model.train import make_corpus, random_pair, train
from model.translator import ASSETS, source_tokenizer, target_tokenizer
from viz.alignment import alignment_grid, alignment_heatmap, alignment_rows, head_mean, step_bars, written_tokens

SOURCE = "the third of march nineteen ninety eight"


@pytest.fixture(scope="module")
def translator():
    return load_model("translator")


@pytest.fixture(scope="module")
def cap(translator):
    return capture(translator, SOURCE)


# --- Corpus and vocabularies ----------------------------------------------------------------

def test_corpus_is_seeded_and_heldout_is_disjoint():
    train_a, held_a = make_corpus(3000, seed=7)
    train_b, held_b = make_corpus(3000, seed=7)
    assert train_a == train_b and held_a == held_b
    assert len(held_a) == 1000 and len({s for s, _ in held_a}) == 1000
    assert not {s for s, _ in train_a} & {s for s, _ in held_a}
    assert make_corpus(10, seed=8)[1] != held_a


def test_every_generated_source_word_is_in_the_vocabulary():
    tok = source_tokenizer()
    rng = random.Random(3)
    for _ in range(2000):
        src, tgt = random_pair(rng)
        assert "<unk>" not in tok.encode(src).tokens, src
        assert len(tgt) == 10 and tgt[4] == "-" and tgt[7] == "-"


def test_target_tokens_are_characters_between_start_and_end():
    enc = target_tokenizer().encode("1998-03-03")
    assert enc.tokens == ["<s>", "1", "9", "9", "8", "-", "0", "3", "-", "0", "3", "</s>"]
    assert target_tokenizer().decode(enc.ids) == "1998-03-03"


def test_source_reads_digits_one_by_one_and_lowercases():
    assert source_tokenizer().encode("The 3rd of March, 1998").tokens == [
        "the", "3", "rd", "of", "march", ",", "1", "9", "9", "8"]


# --- Training ---------------------------------------------------------------------------------

def test_training_is_deterministic():
    a = train(20, seed=0, n_train=1000, batch_size=32, warmup=5)
    b = train(20, seed=0, n_train=1000, batch_size=32, warmup=5)
    assert a.losses == b.losses
    sa, sb = a.net.state_dict(), b.net.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a.losses[-1] < a.losses[0]  # it learns something in 20 steps
    c = train(20, seed=1, n_train=1000, batch_size=32, warmup=5)
    assert c.losses != a.losses


def test_shipped_weights_are_small_and_report_their_accuracy():
    assert (ASSETS / "model.safetensors").stat().st_size <= 5 * 1024 * 1024
    training = json.loads((ASSETS / "config.json").read_text())["training"]
    assert training["heldout_exact_match"] >= 0.98
    assert training["heldout_pairs"] == 1000


# --- The trained model through capture() -------------------------------------------------------

def test_translates_the_example(cap):
    assert cap.output_text == "1998-03-03"
    assert cap.target_tokens == ["<s>", "1", "9", "9", "8", "-", "0", "3", "-", "0", "3", "</s>"]
    assert cap.tokens == SOURCE.split()


def test_accuracy_on_a_fixed_heldout_sample(translator):
    _, heldout = make_corpus(0, seed=0)
    sample = heldout[::20]  # 50 pairs never seen in training, decoded one at a time as the dashboard does
    right = sum(capture(translator, s).output_text == t for s, t in sample)
    assert right / len(sample) >= 0.95


def test_attention_kinds_and_shapes(cap, translator):
    cfg = translator.net.cfg
    S, U = len(cap.tokens), len(cap.target_tokens)
    assert cap.attentions["encoder"].shape == (cfg.n_layers, cfg.n_heads, S, S)
    assert cap.attentions["decoder"].shape == (cfg.n_decoder_layers, cfg.n_heads, U, U)
    assert cap.attentions["cross"].shape == (cfg.n_decoder_layers, cfg.n_heads, U, S)
    for att in cap.attentions.values():
        np.testing.assert_allclose(att.sum(-1), 1.0, atol=1e-5)
    assert cap.positions.shape == (S, cfg.d_model)


def test_decoder_self_attention_is_causal(cap):
    dec = cap.attentions["decoder"]
    upper = np.triu(np.ones(dec.shape[-2:], dtype=bool), k=1)
    assert np.all(dec[..., upper] == 0.0)
    assert np.all(dec[..., 0, 0] == 1.0)  # the first step sees only <s>


def test_positions_are_the_sinusoidal_table(cap):
    pos = cap.positions
    assert np.allclose(pos[:, 0], np.sin(np.arange(len(pos))), atol=1e-6)
    assert np.allclose(pos[:, 1], np.cos(np.arange(len(pos))), atol=1e-6)


def test_teacher_forced_capture_keeps_the_given_target(translator, cap):
    forced = capture(translator, SOURCE, target="1998-03-03")
    assert forced.target_tokens == cap.target_tokens
    np.testing.assert_allclose(forced.attentions["cross"], cap.attentions["cross"], atol=1e-5)
    wrong = capture(translator, SOURCE, target="2001-12-25")
    assert wrong.target_tokens[1:5] == ["2", "0", "0", "1"]
    assert wrong.attentions["cross"].shape[2] == 12


def test_the_year_digits_look_at_the_year_words(cap):
    # The claim the view makes: the output is reordered, so the year (written first) looks at the end.
    rows = head_mean(alignment_rows(cap.attentions["cross"], cap.target_tokens)[0])  # (steps, S)
    year_words = [i for i, t in enumerate(cap.tokens) if t in ("nineteen", "ninety", "eight")]
    assert rows[:4, year_words].sum(-1).min() > 0.8  # writing 1, 9, 9, 8
    assert rows[5:7, cap.tokens.index("march")].min() > 0.5  # writing 0, 3


# --- Input outside the task --------------------------------------------------------------------

def test_unknown_words_are_shown_as_unk_with_a_notice(translator):
    c = capture(translator, "the third of smarch nineteen ninety eight")
    assert c.tokens[3] == "<unk>"
    assert "'smarch'" in c.notice and "<unk>" in c.notice
    assert c.output_text is not None


def test_empty_and_too_long_input(translator):
    with pytest.raises(ValueError, match="empty"):
        capture(translator, "   ")
    c = capture(translator, " ".join([SOURCE] * 10))
    assert c.truncated and "left out" in c.notice
    assert len(c.tokens) == translator.max_tokens


# --- Figures ---------------------------------------------------------------------------------------

def test_alignment_figures_hold_the_rows_labelled_by_the_written_token(cap):
    out = written_tokens(cap.target_tokens)
    assert out == ["1", "9", "9", "8", "-", "0", "3", "-", "0", "3", "</s>"]
    rows = alignment_rows(cap.attentions["cross"], cap.target_tokens)  # (L, H, steps, S)
    mean = head_mean(rows[1])
    fig = alignment_heatmap(mean, cap.tokens, out, highlight=2)
    np.testing.assert_allclose(np.asarray(fig.data[0].z), mean)
    assert list(fig.layout.yaxis.ticktext) == ["1", "9", "9", "8", "-", "0", "3", "-", "0", "3", "&lt;/s&gt;"]
    assert list(fig.layout.xaxis.ticktext) == SOURCE.split()
    assert fig.layout.shapes[0].y0 == 1.5 and fig.layout.shapes[0].y1 == 2.5
    grid = alignment_grid(rows[1], cap.tokens, out)
    assert len(grid.data) == rows.shape[1]
    np.testing.assert_allclose(np.asarray(grid.data[3].z), rows[1, 3])
    bars = step_bars(mean[0], cap.tokens, out[0], 1)
    np.testing.assert_allclose(np.asarray(bars.data[0].y), mean[0])
    assert bars.data[0].marker.color[int(mean[0].argmax())] == "crimson"


def test_alignment_figures_refuse_mismatched_shapes(cap):
    with pytest.raises(ValueError):
        alignment_heatmap(np.ones((3, 4)), ["a", "b"], ["x", "y", "z"])
    with pytest.raises(ValueError):
        alignment_rows(cap.attentions["cross"], cap.target_tokens[:-1])


# --- The dashboard ----------------------------------------------------------------------------------

def test_dashboard_translation_view():
    at = AppTest.from_file("../dashboard.py", default_timeout=180)
    at.run()
    at.selectbox(key="model").set_value("translator").run()
    assert not at.exception
    assert at.text_area(key="text").value == "the third of march nineteen ninety eight"
    at.segmented_control(key="view").set_value("Translation").run()
    assert not at.exception
    assert at.code[0].value == "1998-03-03"
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    heat = specs[0]
    assert heat["data"][0]["type"] == "heatmap"
    assert heat["layout"]["xaxis"]["ticktext"] == SOURCE.split()
    assert heat["layout"]["yaxis"]["ticktext"][:4] == ["1", "9", "9", "8"]
    assert specs[1]["data"][0]["type"] == "bar"
    assert len(specs[2]["data"]) == 4  # one heatmap per head

    at.slider(key="translation_step").set_value(6).run()
    assert not at.exception
    assert any("writes **`0`**" in m.value for m in at.markdown)
    heat = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert heat["layout"]["shapes"][0]["y0"] == 4.5

    at.text_area(key="text").set_value("hello world").run()
    assert not at.exception
    assert any("'hello'" in w.value for w in at.warning)


def _view_on_one_step_target():
    from model import capture, load_model
    from ui import translation_view
    from ui.settings import Settings

    cap = capture(load_model("translator"), "the third of march nineteen ninety eight", target="")
    translation_view.render(cap, Settings(model_name="translator", text=""))


def _view_on_minilm():
    from model import capture, load_model
    from ui import translation_view
    from ui.settings import Settings

    translation_view.render(capture(load_model("minilm"), "the cat sat"), Settings(model_name="minilm", text=""))


def test_view_with_a_single_output_step_and_without_a_decoder():
    at = AppTest.from_function(_view_on_one_step_target, default_timeout=120).run()
    assert not at.exception
    assert not at.slider  # one step: nothing to slide
    heat = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert heat["layout"]["yaxis"]["ticktext"] == ["&lt;/s&gt;"]
    at = AppTest.from_function(_view_on_minilm, default_timeout=120).run()
    assert not at.exception
    assert "encoder-decoder" in at.info[0].value and not at.get("plotly_chart")
