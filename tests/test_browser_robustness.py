"""The served dashboard under many users and bad input, in a real Chromium.

Two browser sessions at once each see their own sentence; fifty sentences one
after another leave the server's memory flat; empty, huge, punctuation-only,
HTML-like, right-to-left and zero-width text and an oversized upload each get a
message or a drawing, never a traceback, and no token is ever read as HTML.
"""

from __future__ import annotations

import base64
import random
from pathlib import Path

import numpy as np
import pytest
import transformers
from tokenizers import Tokenizer, models, pre_tokenizers, processors

from model import capture
from tests.conftest import screenshot
from tests.page_actions import set_sentence
from viz.labels import position_labels

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TIMEOUT = 120_000  # ms; the first run loads the model, and the machine is shared
EXCEPTION = "[data-testid='stException']"
PLOT = ".js-plotly-plot"


def wait_for_labels(pg, labels: list[str]) -> None:
    """Until the first heatmap's columns are exactly ``labels`` (the position labels of a sentence's tokens)."""
    pg.wait_for_function(
        "(want) => { const gd = document.querySelector('.js-plotly-plot');"
        " return !!(gd && gd.data && JSON.stringify(gd.data[0].x) === JSON.stringify(want)); }",
        arg=labels, timeout=TIMEOUT,
    )


def labels_of(model, text: str) -> list[str]:
    return position_labels(model.codec.encode(text).tokens)


def heatmap_z(pg) -> np.ndarray:
    """The first heatmap's z as the browser holds it (a base64 typed array, or nested lists)."""
    z = pg.evaluate("() => { const z = document.querySelector('.js-plotly-plot').data[0].z;"
                    " return z.bdata ? {dtype: z.dtype, bdata: z.bdata, shape: String(z.shape)} : z; }")
    if isinstance(z, dict):
        shape = tuple(int(s) for s in z["shape"].split(","))
        return np.frombuffer(base64.b64decode(z["bdata"]), dtype=np.dtype(z["dtype"])).reshape(shape)
    return np.asarray(z, dtype=np.float64)


def is_head_of(z: np.ndarray, att: np.ndarray) -> bool:
    """Whether ``z`` is one head ``att[layer, head]`` (8-bit quantised weights allowed)."""
    tol = 1 / 255 + 1e-6 if z.dtype.kind in "iu" else 1e-6
    values = z / 255.0 if z.dtype.kind in "iu" else z
    return z.shape == att.shape[2:] and any(
        np.allclose(values, att[layer, head], atol=tol) for layer in range(att.shape[0]) for head in range(att.shape[1])
    )


def tick_texts(pg) -> list[str]:
    return pg.locator(PLOT).first.locator(".xtick text").all_text_contents()


def no_html_from_tokens(pg) -> None:
    """Nothing the user typed became markup: no <b>/<script>/<img> in the page, no bold tick, no dialog."""
    assert pg.locator("[data-testid='stMain'] b").count() == 0
    assert pg.locator("[data-testid='stMain'] img").count() == 0
    assert pg.locator("script:has-text('alert(')").count() == 0
    assert pg.locator(f"{PLOT} .xtick tspan[style*='bold']").count() == 0


@pytest.fixture
def dialogs(page) -> list[str]:
    """Messages of any alert/confirm dialog the page opens (an injected script would open one)."""
    seen: list[str] = []
    page.on("dialog", lambda d: (seen.append(d.message), d.dismiss()))
    return seen


# --- Many users -------------------------------------------------------------------------------------


def test_two_sessions_typing_at_once_each_see_their_own_sentence(browser, dashboard_url, minilm):
    # Same token count, so only the tokens and the weights can tell the two apart.
    texts = ["the cat sat on the warm mat", "a dog ran to the old house"]
    assert len(minilm.codec.encode(texts[0]).ids) == len(minilm.codec.encode(texts[1]).ids)
    atts = {t: capture(minilm, t).attentions["encoder"] for t in texts}
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in texts]
    try:
        pages = [c.new_page() for c in contexts]
        for pg in pages:
            pg.goto(dashboard_url)
            pg.wait_for_selector(PLOT, timeout=TIMEOUT)
        for round_ in range(3):
            order = texts if round_ % 2 == 0 else texts[::-1]
            for pg, text in zip(pages, order, strict=True):
                pg.get_by_label("Sentence", exact=True).fill(text)
            for pg in pages:  # both reruns start together on the one server
                pg.get_by_label("Sentence", exact=True).press("Control+Enter")
            for pg, text in zip(pages, order, strict=True):
                wait_for_labels(pg, labels_of(minilm, text))
            for pg, text, other in zip(pages, order, order[::-1], strict=True):
                assert tick_texts(pg) == minilm.codec.encode(text).tokens
                z = heatmap_z(pg)
                assert is_head_of(z, atts[text])
                assert not is_head_of(z, atts[other])
                assert pg.locator(EXCEPTION).count() == 0
        screenshot(pages[0], "two_sessions_a")
        screenshot(pages[1], "two_sessions_b")
    finally:
        for c in contexts:
            c.close()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for process {pid}")


WORDS = ("the cat dog bird sat ran on under mat street because it was tired and a small big house river "
         "bank money went to saw").split()


def test_fifty_sentences_leave_server_memory_flat(page, dashboard_server, minilm):
    """Each ~120-token sentence adds ~7 MB of Capture to the cache: 25 more add ~180 MB if it is unbounded."""
    rng = random.Random(0)
    sentences = [f"{i} " + " ".join(rng.choice(WORDS) for _ in range(118)) for i in range(50)]
    rss = []
    for text in sentences:
        set_sentence(page, text)
        wait_for_labels(page, labels_of(minilm, text))
        assert page.locator(EXCEPTION).count() == 0
        rss.append(rss_mb(dashboard_server.pid))
    print("server RSS (MB) after each sentence:", [round(r) for r in rss])
    # By sentence 15 the bounded caches are full; after that only allocator noise may move the RSS
    # (spikes of ~60 MB that fall back were seen), so compare typical levels, not single readings.
    # An unbounded cache measured here: +186 MB from sentence 25 to 50.
    settled, last = float(np.median(rss[15:25])), float(np.median(rss[-10:]))
    assert last - settled < 60, rss


# --- Bad input --------------------------------------------------------------------------------------

LONG = " ".join(["word"] * 5000)


def alert_texts(pg) -> str:
    return " ".join(pg.locator("[data-testid='stAlert']").all_inner_texts())


@pytest.mark.parametrize("name, text", [
    ("punctuation", "!!! ??? ... ;;; --- ((( ))) ,,, :: \u2026 \u00bf\u00a1"),
    ("html", "<script>alert(1)</script> and <b>bold</b> <img src=x onerror=alert(2)> &amp; <br>"),
    ("rtl", "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd \u0645\u0631\u062d\u0628\u0627 \u202eevil\u202c done"),
    ("zero_width", "the\u200bcat sat\u200c on\u200d the\ufeff mat\u2060"),
])
def test_odd_text_is_drawn_literally(page, dialogs, minilm, name, text):
    set_sentence(page, text)
    wait_for_labels(page, labels_of(minilm, text))
    tokens = minilm.codec.encode(text).tokens
    assert tick_texts(page) == tokens
    assert page.locator(EXCEPTION).count() == 0
    no_html_from_tokens(page)
    assert dialogs == []
    screenshot(page, f"bad_input_{name}")


@pytest.mark.parametrize("name, text, message", [
    ("empty", "", "empty"),
    ("only_zero_width", "\u200b\u200c\u200d\ufeff", "no readable tokens"),
])
def test_text_with_nothing_to_read_gets_a_message(page, name, text, message):
    set_sentence(page, text)
    page.wait_for_function("(m) => [...document.querySelectorAll(\"[data-testid='stAlert']\")]"
                           ".some(e => e.innerText.includes(m))", arg=message, timeout=TIMEOUT)
    page.wait_for_selector(PLOT, state="detached", timeout=TIMEOUT)  # the last sentence's chart is gone
    assert page.locator(EXCEPTION).count() == 0
    screenshot(page, f"bad_input_{name}")


def test_five_thousand_words_are_truncated_with_a_notice(page, minilm):
    set_sentence(page, LONG)
    wait_for_labels(page, labels_of(minilm, LONG))
    assert len(labels_of(minilm, LONG)) == 512
    assert "reads at most 512" in alert_texts(page)
    ticks = tick_texts(page)
    assert 2 < len(ticks) <= 65 and ticks[0] == "[CLS]" and ticks[-1] == "[SEP]"  # a readable subset
    assert page.locator(EXCEPTION).count() == 0
    screenshot(page, "bad_input_5000_words")


def test_twenty_megabyte_upload_is_refused_with_a_message(page, tmp_path):
    big = tmp_path / "big.txt"
    with big.open("wb") as f:
        line = b"The cat sat on the mat.\n"
        f.write(line * (20_000_000 // len(line) + 1))
    page.wait_for_selector(PLOT, timeout=TIMEOUT)
    page.get_by_role("radio", name="Statistics").click()
    page.get_by_role("radio", name="Corpus").click()
    uploader = page.locator("[data-testid='stFileUploader']")
    uploader.locator("input[type=file]").set_input_files(str(big))
    page.wait_for_function("() => document.querySelector(\"[data-testid='stFileUploader']\")"
                           ".innerText.includes('must be 1.0MB or smaller')", timeout=TIMEOUT)
    assert page.locator(EXCEPTION).count() == 0
    screenshot(page, "bad_input_20mb_upload")


# --- A local checkpoint whose tokens are whole HTML tags ---------------------------------------------

TAGS = ["<b>", "</b>", "<script>alert(1)</script>", "<img", "src=x", "onerror=alert(2)>", "&amp;", "<br>"]


def html_token_checkpoint(folder: Path) -> Path:
    """A tiny random BERT whose whitespace tokenizer keeps each of TAGS as one token."""
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {t: i for i, t in enumerate([*specials, *TAGS, "bold"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.add_special_tokens(specials)
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                       special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]").save_pretrained(str(folder))
    cfg = transformers.BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=32, max_position_embeddings=64)
    transformers.BertModel(cfg).save_pretrained(str(folder))
    return folder


def test_whole_html_tokens_stay_text(page, dialogs, checkpoint_root):
    folder = html_token_checkpoint(checkpoint_root / "<b>ckpt<br>")  # the model name is markup too
    page.wait_for_selector(PLOT, timeout=TIMEOUT)
    page.get_by_label("Model", exact=True).click()
    page.get_by_role("option", name="Local checkpoint folder").click()
    box = page.get_by_label("Checkpoint folder", exact=True)
    box.fill(str(folder))
    box.press("Enter")
    text = " ".join([*TAGS, "bold"])
    set_sentence(page, text)
    wait_for_labels(page, position_labels(["[CLS]", *TAGS, "bold", "[SEP]"]))
    assert tick_texts(page) == ["[CLS]", *TAGS, "bold", "[SEP]"]
    assert "<b>ckpt<br> encoder" in page.locator(f"{PLOT} .gtitle").first.text_content()
    no_html_from_tokens(page)
    assert page.locator(EXCEPTION).count() == 0
    assert dialogs == []
    screenshot(page, "html_tokens_local_checkpoint")
