"""The Chinese interface: every message the translated parts of the app show has a translation,
placeholders survive it, each session keeps its own language, and the page switches with the choice."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from streamlit.testing.v1 import AppTest

from i18n import LANGUAGES, _, catalogue, language, set_language

ROOT = Path(__file__).resolve().parent.parent
# The parts of the app whose every message is translated (a file joins once its catalogue covers it).
TRANSLATED = ["dashboard.py", "ui/sidebar.py", "ui/state.py", "ui/url_state.py"]
TRANSLATED += ["ui/head_view.py", "ui/lines_view.py", "ui/model_view.py", "ui/step_view.py", "ui/generation_view.py",
               "ui/translation_view.py", "ui/controls.py", "ui/export_view.py", "ui/figure.py", "ui/downloads.py",
               "viz/heatmaps.py", "viz/lines.py", "viz/grid.py", "viz/steps.py", "viz/alignment.py",
               "viz/publication.py", "viz/labels.py"]
TRANSLATED += ["ui/positions_view.py", "viz/positional.py", "viz/rope.py"]
TRANSLATED += ["ui/statistics_view.py", "ui/stat_tables.py", "ui/corpus_view.py", "ui/compare_view.py",
               "ui/interventions_view.py", "viz/statistics.py", "viz/compare.py", "viz/importance.py"]
TRANSLATED += ["export/images.py"] + [f"model/{m}.py" for m in (
    "adapters", "capture", "chat", "corpus", "files", "folders", "hf_loading", "interventions", "llama_weights",
    "loading", "smollm2", "statistics", "translator", "types")]
PLACEHOLDER = re.compile(r"\{[a-z_]*\}")


def messages_of(path: Path) -> list[str]:
    return [m[2] for m in extract_from_file("python", str(path)) if isinstance(m[2], str) and m[2]]


@pytest.mark.parametrize("name", TRANSLATED)
def test_every_message_has_a_chinese_translation_with_the_same_placeholders(name):
    zh = catalogue("zh")
    missing, broken = [], []
    for message in messages_of(ROOT / name):
        translated = zh.gettext(message)
        if translated == message and re.search(r"[A-Za-z]{3}", message):
            missing.append(message)
        elif sorted(PLACEHOLDER.findall(translated)) != sorted(PLACEHOLDER.findall(message)):
            broken.append(message)
    assert not missing, f"{name}: no Chinese for {missing}"
    assert not broken, f"{name}: the translation changes the placeholders of {broken}"


def test_each_thread_keeps_its_own_language():
    seen = {}

    def session(lang: str) -> None:
        set_language(lang)
        seen[lang] = (language(), _("Model"))

    threads = [threading.Thread(target=session, args=(lang,)) for lang in LANGUAGES]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {"en": ("en", "Model"), "zh": ("zh", "模型")}
    assert language() == "en"  # this thread never chose: the default
    set_language("xx")
    assert language() == "en"


def test_the_page_switches_language_and_keeps_it_in_the_url():
    at = AppTest.from_file("../dashboard.py", default_timeout=120)
    at.run()
    assert at.title[0].value == "Attention dashboard"
    at.radio(key="lang").set_value("zh").run()
    assert not at.exception
    assert at.title[0].value == "注意力仪表盘"
    assert at.selectbox(key="model").label == "模型" and at.text_area(key="text").label == "句子"
    assert at.query_params["lang"] == "zh"
    again = AppTest.from_file("../dashboard.py", default_timeout=120)
    again.query_params = {"lang": "zh"}
    again.run()
    assert again.title[0].value == "注意力仪表盘" and again.radio(key="lang").value == "zh"
