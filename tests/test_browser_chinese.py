"""The interface in Chinese in a real Chromium: on every view, what labels the page (widgets, headings,
captions, buttons, figure titles and axis titles) is Chinese; only names, tokens and numbers stay Latin."""

from __future__ import annotations

import re
import urllib.parse

import pytest

from tests.conftest import screenshot
from ui.compare_view import PAIR
from ui.sidebar import EXAMPLES

pytestmark = [pytest.mark.browser, pytest.mark.slow]
# Names that stay as they are in any language: models, tokens, formats, libraries, notation.
NAMES = {"minilm", "smollm2", "smollm", "translator", "rope", "softmax", "cls", "sep", "png", "svg", "pdf",
         "html", "csv", "npz", "json", "zip", "llama", "gpt", "bert", "roberta", "distilbert", "qwen", "mistral",
         "blues", "viridis", "magma", "greys", "ylorrd", "iso", "english", "minilm-l6-v2", "instruct",
         "pytorch", "plotly", "bertviz", "kaleido", "chromium", "mean", "std", "max", "top", "nats", "gqa",
         "eos", "bos", "unk", "pad", "python", "safetensors", "config", "tokenizer", "model", "corpus", "run",
         "out", "dir", "spearman", "hugging", "face", "xiao", "kobayashi", "voita", "vaswani", "abnar", "zuidema",
         "all", "dims", "dim", "sin", "cos", "theta", "exp", "log", "transformer", "cosine"}
BILINGUAL = {"Language / 语言"}  # the language picker reads in both, so either reader finds it
ICON = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")  # a Material icon's name, drawn as the icon
# Not labels: quoted examples (“tired”), an English term glossed after its Chinese name (（Rollout）),
# code and file names (export.data.load_npz, float32)
# and a cited paper's title after its year (Xiao 等，2023，Efficient Streaming ...)
QUOTED = re.compile(r"\S*\d{4}[，,][^。]*|“[^”]*”|\"[^\"]*\"|‘[^’]*’|（[^）]*）|`[^`]*`|\S*[._/]\S*|\S*\d\S*")
WORD = re.compile(r"[A-Za-z][A-Za-z\-]{2,}")
# What labels the page: widget labels, buttons, headings, captions, alerts, tabs, figure titles and axis titles
LABELS_JS = """() => {
  const pick = sel => [...document.querySelectorAll(sel)].map(e => e.innerText || e.textContent);
  return [
    ...pick('[data-testid="stWidgetLabel"]'), ...pick('[data-testid="stMarkdownContainer"] p'),
    ...pick('[data-testid="stCaptionContainer"]'), ...pick('button p'), ...pick('h1, h2, h3'),
    ...pick('[data-testid="stExpander"] summary'), ...pick('[data-testid="stAlertContentInfo"]'),
    ...pick('.js-plotly-plot .gtitle'), ...pick('.js-plotly-plot .xtitle'), ...pick('.js-plotly-plot .ytitle'),
    ...pick('.js-plotly-plot .cbtitle'), ...pick('.js-plotly-plot .legendtitletext'),
  ].filter(t => t && t.trim());
}"""
# no spinner of Streamlit's or ours ("Running...", 正在运行, 正在加载) left on the page
BUSY_JS = ("() => !['Running', '正在运行', '正在加载', '正在计算'].some(t => document.body.innerText.includes(t))")
VIEWS = [("Head view", {}), ("Lines", {}), ("Model view", {}), ("Step by step", {}),
         ("Generation", {"model": "smollm2", "text": "The capital of France is", "new_tokens": "5"}),
         ("Positions", {}), ("Positions", {"model": "smollm2", "text": "The capital of France is", "generate": "0"}),
         ("Compare", {}), ("Interventions", {}), ("Statistics", {}), ("Export", {}),
         ("Translation", {"model": "translator", "text": "the third of march 1998"})]


def english_words(text: str, tokens: set[str]) -> list[str]:
    """Latin words of ``text`` that are neither a name nor one of the page's tokens."""
    if text in BILINGUAL:
        return []
    words = WORD.findall(QUOTED.sub(" ", ICON.sub("", text)))
    return [w for w in words if w.lower() not in NAMES and w.lower() not in tokens]


@pytest.mark.parametrize(("view", "params"), VIEWS, ids=[f"{v} {p.get('model', 'minilm')}" for v, p in VIEWS])
def test_every_label_of_the_view_is_chinese(browser, dashboard_url, view, params):
    context = browser.new_context(viewport={"width": 1400, "height": 1800})
    pg = context.new_page()
    try:
        query = urllib.parse.urlencode({"lang": "zh", "view": view, **params})
        pg.goto(f"{dashboard_url}/?{query}")
        pg.locator("h1").filter(has_text="注意力仪表盘").wait_for(timeout=60_000)
        pg.locator(".js-plotly-plot, [data-testid='stAlert'], [data-testid='stDownloadButton']").first.wait_for(
            timeout=240_000)
        pg.wait_for_function(BUSY_JS, timeout=240_000)
        pg.wait_for_timeout(1500)
        assert pg.locator("[data-testid='stException']").count() == 0
        text = " ".join(pg.locator("textarea, input[type=text]").evaluate_all("els => els.map(e => e.value)"))
        ticks = " ".join(pg.locator(".js-plotly-plot .xtick text, .js-plotly-plot .ytick text").all_text_contents())
        # the words of the page's own text (every input box, the example sentences the explanations quote)
        # and of its token axes stay as they are
        tokens = {w.lower() for w in WORD.findall(" ".join([text, ticks, *EXAMPLES, *PAIR]))}
        left = {label: words for label in pg.evaluate(LABELS_JS) if (words := english_words(label, tokens))}
        screenshot(pg, f"zh_{view.replace(' ', '_').lower()}_{params.get('model', 'minilm')}")
        assert not left, f"{view}: English left in {left}"
    finally:
        context.close()
