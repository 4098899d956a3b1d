"""Local Hugging Face checkpoints: tiny random models built offline, loaded by path, checked against transformers.

Each checkpoint is a random ``Config(...)`` model saved with ``save_pretrained`` and
a word-level tokenizer built with ``tokenizers``; nothing is downloaded.
"""

from __future__ import annotations

import json
import pickle
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers
from tokenizers import Tokenizer, models, pre_tokenizers, processors

from model import ModelLoadError, capture, load_model
from model.folders import ROOTS_ENV
from ui.sidebar import DEFAULT_NEW_TOKENS
from viz.grid import thumbnails
from viz.labels import escape
from viz.steps import compute_step

WORDS = "the cat sat on mat a dog saw and bird it was tired street".split()
TEXT = "the cat sat on the mat"


def word_tokenizer(specials: list[str], template: str, folder: Path) -> None:
    """A word-level tokenizer: ``specials`` take the first ids, then WORDS; saved as transformers saves one."""
    vocab = {t: i for i, t in enumerate(specials + WORDS)}
    unk = next(s for s in specials if "unk" in s.lower())
    tok = Tokenizer(models.WordLevel(vocab, unk_token=unk))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.add_special_tokens(specials)
    if template:
        tok.post_processor = processors.TemplateProcessing(
            single=template, special_tokens=[(s, vocab[s]) for s in specials if s in template])
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token=unk)
    fast.save_pretrained(str(folder))


def n_vocab() -> int:
    return 5 + len(WORDS)


def build(family: str, folder: Path) -> Path:
    """Save a tiny random checkpoint of ``family`` into ``folder``."""
    torch.manual_seed(0)
    small = dict(vocab_size=n_vocab())
    if family == "bert":
        cfg = transformers.BertConfig(**small, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                                      intermediate_size=32, max_position_embeddings=32)
        net = transformers.BertForMaskedLM(cfg)
        word_tokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], "[CLS] $A [SEP]", folder)
    elif family == "roberta":
        cfg = transformers.RobertaConfig(**small, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                                         intermediate_size=32, max_position_embeddings=34, pad_token_id=1,
                                         bos_token_id=0, eos_token_id=2)
        net = transformers.RobertaModel(cfg)
        word_tokenizer(["<s>", "<pad>", "</s>", "<unk>", "<mask>"], "<s> $A </s>", folder)
    elif family == "distilbert":
        cfg = transformers.DistilBertConfig(**small, dim=16, n_layers=2, n_heads=4, hidden_dim=32,
                                            max_position_embeddings=32)
        net = transformers.DistilBertModel(cfg)
        word_tokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], "[CLS] $A [SEP]", folder)
    elif family == "gpt2":
        cfg = transformers.GPT2Config(**small, n_embd=16, n_layer=2, n_head=4, n_positions=32,
                                      bos_token_id=0, eos_token_id=0)
        net = transformers.GPT2LMHeadModel(cfg)
        word_tokenizer(["<|endoftext|>", "<unk>", "<pad>", "<x1>", "<x2>"], "", folder)
    elif family == "t5":
        cfg = transformers.T5Config(**small, d_model=16, d_kv=4, d_ff=32, num_layers=2, num_decoder_layers=3,
                                    num_heads=4, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
        net = transformers.T5ForConditionalGeneration(cfg)
        word_tokenizer(["<pad>", "</s>", "<unk>", "<x1>", "<x2>"], "$A </s>", folder)
    else:
        raise AssertionError(family)
    net.save_pretrained(str(folder))
    return folder


FAMILIES = ["bert", "roberta", "distilbert", "gpt2", "t5"]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf")
    return {f: build(f, root / f) for f in FAMILIES}


def reference(m, cap) -> dict[str, list[np.ndarray]]:
    """What transformers itself returns with ``output_attentions=True`` for the captured ids."""
    ids = torch.tensor([[m.codec.full.token_to_id(t) for t in cap.tokens]])
    with torch.inference_mode():
        if cap.target_tokens is None:
            out = m.net(input_ids=ids, output_attentions=True)
            kind = "decoder" if m.arch == "decoder" else "encoder"
            return {kind: [a[0].numpy() for a in out.attentions]}
        tgt = torch.tensor([[m.codec.full.token_to_id(t) for t in cap.target_tokens]])
        out = m.net(input_ids=ids, decoder_input_ids=tgt, output_attentions=True, use_cache=False)
        return {"encoder": [a[0].numpy() for a in out.encoder_attentions],
                "decoder": [a[0].numpy() for a in out.decoder_attentions],
                "cross": [a[0].numpy() for a in out.cross_attentions]}


@pytest.mark.parametrize("family", FAMILIES)
def test_hooked_attention_equals_output_attentions(checkpoints, family):
    m = load_model(str(checkpoints[family]))
    cap = capture(m, TEXT)
    ref = reference(m, cap)
    assert sorted(cap.attentions) == sorted(ref)
    for kind, layers in ref.items():
        got = cap.attentions[kind]
        assert got.dtype == np.float32
        assert got.shape == (len(layers), *layers[0].shape)
        np.testing.assert_allclose(got, np.stack(layers), atol=1e-5, rtol=0)
        np.testing.assert_allclose(got.sum(-1), 1.0, atol=1e-5)
        np.testing.assert_allclose(cap.thumbnails(kind), thumbnails(np.stack(layers)), atol=1)


def test_tokens_and_kinds_per_family(checkpoints):
    words = TEXT.split()
    assert capture(load_model(str(checkpoints["bert"])), TEXT).tokens == ["[CLS]", *words, "[SEP]"]
    assert capture(load_model(str(checkpoints["roberta"])), TEXT).tokens == ["<s>", *words, "</s>"]
    gpt = capture(load_model(str(checkpoints["gpt2"])), TEXT)
    assert gpt.tokens == words and list(gpt.attentions) == ["decoder"]
    t5 = capture(load_model(str(checkpoints["t5"])), TEXT)
    assert t5.tokens == [*words, "</s>"]
    assert t5.attentions["encoder"].shape == (2, 4, 7, 7)
    assert t5.attentions["decoder"].shape[:2] == (3, 4)
    assert t5.target_tokens[0] == "<pad>"  # T5 starts decoding from its pad token
    assert t5.attentions["cross"].shape[2:] == (len(t5.target_tokens), 7)


def test_causal_attention_is_zero_above_the_diagonal(checkpoints):
    for family, kind in [("gpt2", "decoder"), ("t5", "decoder")]:
        att = capture(load_model(str(checkpoints[family])), TEXT).attentions[kind]
        upper = np.triu(np.ones(att.shape[-2:], dtype=bool), k=1)
        assert upper.any()
        assert np.all(att[..., upper] == 0.0), family


def test_t5_teacher_forced_target(checkpoints):
    m = load_model(str(checkpoints["t5"]))
    cap = capture(m, TEXT, target="a dog saw it")
    assert cap.target_tokens == ["<pad>", "a", "dog", "saw", "it", "</s>"]
    assert cap.attentions["cross"].shape == (3, 4, 6, 7)
    assert isinstance(cap.output_text, str)
    # cross-attention: queries from the 6 target tokens, keys and values from the 7 source tokens
    assert cap.q["cross"].shape == (3, 4, 6, 4)
    assert cap.k["cross"].shape == cap.v["cross"].shape == (3, 4, 7, 4)
    assert cap.q["encoder"].shape == (2, 4, 7, 4)


@pytest.mark.parametrize("family, module, offset", [
    ("bert", "embeddings.position_embeddings", 0),
    ("roberta", "embeddings.position_embeddings", 2),  # RoBERTa counts positions from padding_idx + 1
    ("distilbert", "embeddings.position_embeddings", 0),
    ("gpt2", "wpe", 0),
])
def test_positions_are_the_position_embedding_rows(checkpoints, family, module, offset):
    m = load_model(str(checkpoints[family]))
    cap = capture(m, TEXT)
    table = dict(m.net.named_modules())[module].weight.detach().numpy()
    n = len(cap.tokens)
    assert cap.positions.shape == (n, table.shape[1])
    np.testing.assert_array_equal(cap.positions, table[offset:offset + n])
    assert cap.positions_note is None


def test_t5_has_no_positions_and_says_why(checkpoints):
    cap = capture(load_model(str(checkpoints["t5"])), TEXT)
    assert cap.positions is None
    assert "relative" in cap.positions_note


@pytest.mark.parametrize("family", ["bert", "gpt2"])
def test_queries_and_keys_rebuild_the_weights(checkpoints, family):
    """softmax(q k^T / sqrt(d)) from the captured projections gives the captured weights."""
    cap = capture(load_model(str(checkpoints[family])), TEXT)
    kind = cap.kinds[0]
    q, k = cap.q[kind], cap.k[kind]  # (L, H, T, d)
    assert q.shape == (2, 4, len(cap.tokens), 4)
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])  # (L, H, T, T)
    if kind == "decoder":
        scores = np.where(np.triu(np.ones(scores.shape[-2:], dtype=bool), k=1), -np.inf, scores)
    w = np.exp(scores - scores.max(-1, keepdims=True))
    np.testing.assert_allclose(w / w.sum(-1, keepdims=True), cap.attentions[kind], atol=1e-5)


@pytest.mark.parametrize("family", ["bert", "gpt2", "t5"])
def test_step_by_step_softmax_is_the_reference_row(checkpoints, family):
    """The scores step by step shows (T5: no 1/sqrt(d), its position bias a term of its own) give,
    through the softmax, the row transformers itself returns."""
    cap = capture(load_model(str(checkpoints[family])), TEXT)
    for kind, layers in reference(load_model(str(checkpoints[family])), cap).items():
        for layer, ref in enumerate(layers):
            for head in range(ref.shape[0]):
                terms = cap.score_terms(kind, layer, head)
                assert ("bias" in terms) == (family == "t5" and kind != "cross")
                for query in range(ref.shape[1]):
                    row = {name: t[min(query, t.shape[0] - 1)] for name, t in terms.items()}
                    step = compute_step(row, cap.v[kind][layer, head])
                    np.testing.assert_allclose(step.weights, ref[head, query], atol=1e-5)
    if family == "t5":
        assert cap.score_forms["encoder"].scale == 1.0
        assert np.abs(cap.score_terms("encoder", 0, 0)["bias"]).max() > 1e-3  # a real term, not zeros


def test_zero_positions_ablates_through_the_hook(checkpoints):
    m = load_model(str(checkpoints["bert"]))
    plain, ablated = capture(m, TEXT), capture(m, TEXT, zero_positions=True)
    assert not ablated.positions.any()
    assert np.abs(plain.attentions["encoder"] - ablated.attentions["encoder"]).max() > 1e-4
    assert not any(mod._forward_hooks for mod in m.net.modules())


def test_two_threads_each_get_their_own_attention(checkpoints):
    m = load_model(str(checkpoints["gpt2"]))
    texts = ["the cat sat on the mat", "a dog saw it and the bird was tired"]
    expected = [capture(m, t).attentions["decoder"] for t in texts]
    results: dict[int, list] = {0: [], 1: []}
    barrier = threading.Barrier(2)

    def work(i: int) -> None:
        barrier.wait()
        for _ in range(10):
            results[i].append(capture(m, texts[i]).attentions["decoder"])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(2):
        assert len(results[i]) == 10
        for got in results[i]:
            np.testing.assert_array_equal(got, expected[i])
    assert not any(mod._forward_hooks for mod in m.net.modules())


# --- Folders that are not loadable checkpoints --------------------------------------------------------


def test_missing_folder(tmp_path):
    with pytest.raises(ModelLoadError, match="no folder"):
        load_model(str(tmp_path / "not-here"))


def test_unsupported_architecture(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "mamba", "hidden_size": 16}))
    with pytest.raises(ModelLoadError, match=r"'mamba'.*supported architectures: bert, distilbert, gpt2, llama"):
        load_model(str(tmp_path))


class Payload:
    """Unpickling this creates a file: proof that a loader ran code from the checkpoint."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("weights", ["pytorch_model.bin", "model.pt", "weights.pkl"])
def test_pickle_only_weights_are_refused_unread(tmp_path, weights):
    folder = tmp_path / "ckpt"
    build("bert", folder)
    (folder / "model.safetensors").unlink()
    marker = tmp_path / "code-ran"
    (folder / weights).write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(ModelLoadError, match=rf"only in pickle files \({weights}\).*safetensors"):
        load_model(str(folder))
    assert not marker.exists()


def test_missing_tokenizer(tmp_path):
    folder = build("bert", tmp_path / "ckpt")
    (folder / "tokenizer.json").unlink()
    with pytest.raises(ModelLoadError, match="tokenizer.json is missing"):
        load_model(str(folder))


def test_weights_that_do_not_fit_the_config(tmp_path):
    folder = build("bert", tmp_path / "ckpt")
    cfg = json.loads((folder / "config.json").read_text())
    cfg["num_hidden_layers"] = 3
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelLoadError, match="do not fit"):
        load_model(str(folder))


def test_corrupt_safetensors(tmp_path):
    folder = build("gpt2", tmp_path / "ckpt")
    (folder / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ModelLoadError, match="could not be loaded as gpt2"):
        load_model(str(folder))


# --- The dashboard's model picker -------------------------------------------------------------------


def dashboard(folder: str, monkeypatch, root: Path | None = None):
    """The dashboard with ``folder`` typed as a local checkpoint; the server allows folders under ``root``."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv(ROOTS_ENV, str(root if root is not None else Path(folder).parent))
    at = AppTest.from_file("../dashboard.py", default_timeout=120)
    at.run()
    at.selectbox(key="model").set_value("local").run()
    at.text_input(key="checkpoint_folder").set_value(folder).run()
    at.text_area(key="text").set_value(TEXT).run()
    return at


@pytest.mark.parametrize("family", ["distilbert", "gpt2"])
def test_dashboard_draws_a_local_checkpoint(checkpoints, family, monkeypatch):
    at = dashboard(str(checkpoints[family]), monkeypatch)
    assert not at.exception
    assert not at.error
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    expected = TEXT.split() if family == "gpt2" else ["[CLS]", *TEXT.split(), "[SEP]"]
    if family == "gpt2":  # a decoder: the page continues the text, the tokens it wrote marked
        continued = capture(load_model(str(checkpoints[family])), TEXT, max_new_tokens=DEFAULT_NEW_TOKENS)
        assert continued.n_generated > 0 and continued.tokens[:len(expected)] == expected
        expected = [escape(t) for t in continued.query_labels("decoder")]
    assert spec["layout"]["xaxis"]["ticktext"] == expected


def test_dashboard_shows_a_load_error_as_a_message(checkpoints, monkeypatch):
    at = dashboard(str(checkpoints["gpt2"].parent / "no-such-checkpoint"), monkeypatch)
    assert not at.exception
    assert any("No checkpoint folder by that name" in e.value for e in at.error)
    assert not at.get("plotly_chart")


def test_dashboard_asks_for_a_folder_before_one_is_typed(checkpoints, monkeypatch):
    at = dashboard("", monkeypatch, root=checkpoints["gpt2"].parent)
    assert not at.exception
    assert not at.error
    assert any("Type the path of a checkpoint folder" in i.value for i in at.info)
    assert not at.get("plotly_chart")


@pytest.mark.slow
@pytest.mark.parametrize("family", ["bert", "gpt2", "t5"])
def test_every_view_draws_a_local_checkpoint(checkpoints, family, monkeypatch):
    """Encoder, decoder-only and encoder-decoder checkpoints through every view and statistics section."""
    at = dashboard(str(checkpoints[family]), monkeypatch)
    assert len(at.segmented_control(key="view").options) > 1
    assert_every_view_draws(at)


def assert_every_view_draws(at) -> None:
    """Every view of the page, and every section of Statistics (its corpus computed), without an exception."""
    for view in at.segmented_control(key="view").options:
        at.segmented_control(key="view").set_value(view).run()
        assert not at.exception, (view, at.exception[0].value)
        if view == "Statistics":
            for section in at.segmented_control(key="stats_section").options:
                at.segmented_control(key="stats_section").set_value(section).run()
                if section == "Corpus":
                    at.button(key="stats_run").click().run()
                assert not at.exception, (view, section, at.exception[0].value)


def test_a_bookmarked_local_folder_reopens_it(checkpoints, monkeypatch):
    from streamlit.testing.v1 import AppTest

    folder = str(checkpoints["gpt2"])
    monkeypatch.setenv(ROOTS_ENV, str(checkpoints["gpt2"].parent))
    at = AppTest.from_file("../dashboard.py", default_timeout=120)
    at.query_params.update({"model": "local", "folder": folder, "text": TEXT})
    at.run()
    assert not at.exception and not at.error
    assert at.session_state["model"] == "local"
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["xaxis"]["ticktext"][:len(TEXT.split())] == TEXT.split()
    assert dict(at.query_params)["folder"] in (folder, [folder])
