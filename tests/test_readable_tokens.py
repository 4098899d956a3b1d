"""Byte-level tokens shown as the text they stand for (model.readable), on SmolLM2's and GPT-2's alphabet."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from model import capture, load_model
from model.readable import GENERATED_MARK, byte_alphabet, character_names, marked, readable_tokens, token_bytes


@pytest.fixture(scope="module")
def smol():
    return load_model("smollm2")


def test_the_alphabet_spells_every_byte_once():
    alphabet = byte_alphabet()
    assert sorted(alphabet.values()) == list(range(256))
    assert alphabet["Ġ"] == ord(" ") and alphabet["Ċ"] == ord("\n") and alphabet["A"] == ord("A")
    assert token_bytes("ĠParis") == b" Paris" and token_bytes("<|im_end|>") == b"<|im_end|>"
    assert token_bytes("中") is None  # not a byte-level spelling


def test_whitespace_is_marked_and_specials_kept():
    tokens = ["The", "Ġcapital", "ĊĠĠĠ", "Ġreturn", "ĉ", "<|im_end|>"]
    assert readable_tokens(tokens, {"<|im_end|>"}) == ["The", "␣capital", "↵␣␣␣", "␣return", "⇥", "<|im_end|>"]
    assert readable_tokens(["[CLS]", "##ing"], byte_level=False) == ["[CLS]", "##ing"]


@pytest.mark.slow
@pytest.mark.parametrize(("text", "expected"), [
    ("中文 🙂 def f(x):\n    return x",
     ["中", "文", "␣🙂", "␣def", "␣f", "(", "x", "):", "↵␣␣␣", "␣return", "␣x"]),
    # rare characters the vocabulary splits across tokens: the bytes of each part, the character
    # on the token that completes it
    ("龘", ["⟨e9⟩", "⟨be⟩", "龘"]),
    ("a🫠b", ["a", "⟨f0 9f⟩", "⟨ab⟩", "🫠", "b"]),
])
def test_smollm2_tokens_read_as_text(smol, text, expected):
    enc = smol.codec.encode(text)
    labels = readable_tokens(enc.tokens, smol.special_tokens, byte_level=smol.codec.byte_level)
    assert labels == expected
    # the labels spell the text: marks read back as whitespace, byte parts left out (the completing token has them)
    spelled = "".join(lab for lab in labels if not lab.startswith("⟨")).replace("␣", " ").replace("↵", "\n")
    assert spelled == text


@pytest.mark.slow
def test_capture_labels_mark_what_the_model_wrote(smol):
    cap = capture(smol, "The capital of France is", max_new_tokens=3)
    assert cap.tokens[:5] == ["The", "Ġcapital", "Ġof", "ĠFrance", "Ġis"]  # the raw tokens stay as they are
    assert cap.labels[:5] == ["The", "␣capital", "␣of", "␣France", "␣is"]
    labels = cap.query_labels("decoder")
    assert labels[:5] == cap.labels[:5] and labels == cap.key_labels("decoder")
    assert [lab.endswith(GENERATED_MARK) for lab in labels] == [False] * 5 + [True] * cap.n_generated
    assert labels[5] == "␣Paris" + GENERATED_MARK
    assert cap.kv_heads == {"decoder": 3}
    assert [cap.kv_head("decoder", h) for h in range(9)] == [0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_minilm_labels_are_its_tokens():
    cap = capture(load_model("minilm"), "Hello world")
    assert cap.labels == cap.tokens == ["[CLS]", "hello", "world", "[SEP]"]
    assert cap.query_labels("encoder") == cap.tokens


def test_character_names():
    assert character_names("␣中") == "␣ U+0020 SPACE; 中 U+4E2D CJK UNIFIED IDEOGRAPH-4E2D"
    assert character_names("⟨e9⟩") == "⟨e9⟩ part of a character's UTF-8 bytes"
    assert character_names("↵" + GENERATED_MARK) == "↵ U+000A LINE FEED"
    assert marked(["a", "b"], 1) == ["a", "b" + GENERATED_MARK] and marked(["a"], 0) == ["a"]


@pytest.mark.slow
def test_the_head_view_lists_every_token_with_its_characters_named():
    at = AppTest.from_file("../dashboard.py", default_timeout=180)
    at.session_state["model"] = "smollm2"
    at.session_state["text"] = "中文 🙂"
    at.session_state["new_tokens"] = 3
    at.run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["shown as"][:3]) == ["中", "文", "␣🙂"] and list(table["token"][:3]) == ["ä¸Ń", "æĸĩ", "ĠðŁĻĤ"]
    assert table["characters"][2] == "␣ U+0020 SPACE; 🙂 U+1F642 SLIGHTLY SMILING FACE"
    assert len(table) == 3 + 3 and table["shown as"].iloc[-1].endswith(GENERATED_MARK)
    assert GENERATED_MARK not in table["characters"].iloc[-1]


def test_minilm_on_chinese_says_the_unknown_tokens_blur_and_names_a_model_that_reads_it():
    text = "注意力机制让模型在处理每个词时关注句子中的其他词。"
    cap = capture(load_model("minilm"), text)
    n_unknown = cap.tokens.count("[UNK]")
    assert n_unknown > len(cap.tokens) / 2
    assert f"{n_unknown} of the {len(cap.tokens)} tokens are [UNK]" in cap.notice and "SmolLM2" in cap.notice
    assert "SmolLM2" not in (capture(load_model("minilm"), "The cat sat, 猫.").notice or "")  # one unknown: no advice
