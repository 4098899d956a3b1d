"""The corpus job's result in a real Chromium: a finished folder opens in the Statistics view, its chart
holds every head's mean over the corpus, and a strongest sentence opens at its head in the head view."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from corpus.engines import InProcessEngine
from corpus.job import JobSettings, run_job
from corpus.reading import CorpusFile
from tests.conftest import screenshot
from tests.page_actions import trace_values, wait_for_chosen

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SENTENCES = ["The cat sat on the mat.", "The animal didn't cross the street because it was too tired.",
             "She went to the bank to deposit money, then sat on the river bank.", "It rained all day.",
             "Dogs bark, cats meow, and birds sing in the morning.", "He said that she said that they left."]
TITLE = "share on previous: mean and standard deviation"


@pytest.fixture(scope="module")
def result(minilm, checkpoint_root):
    source = checkpoint_root / "corpus.txt"
    source.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    out = checkpoint_root / "corpus_result"
    run_job(CorpusFile(source), out, JobSettings(model="minilm", shard_size=4, batch_size=4), minilm,
            InProcessEngine(minilm), progress=False)
    return out


def test_a_finished_result_opens_and_its_strongest_sentence_opens_in_the_head_view(browser, dashboard_url, result):
    context = browser.new_context(viewport={"width": 1400, "height": 2200})
    pg = context.new_page()
    try:
        pg.goto(f"{dashboard_url}/?view=Statistics&stats_section=Corpus")
        wait_for_chosen(pg, "Statistics")
        pg.get_by_text("a finished corpus job's folder").click()
        # the rerun the choice starts must end before typing: a value entered while it redraws the box is lost
        pg.get_by_text("Give the folder a").wait_for(timeout=120_000)
        box = pg.get_by_label("Result folder on the server")
        box.fill(str(result))
        box.press("Enter")
        pg.get_by_text("6 sentences (0 skipped").wait_for(timeout=120_000)
        pg.get_by_label("Statistic").click()
        pg.get_by_role("option", name="share on previous").click()
        pg.locator(".js-plotly-plot .gtitle").filter(has_text=TITLE).wait_for(timeout=60_000)
        summary = pd.read_parquet(result / "summary.parquet")
        prev = summary[(summary["statistic"] == "previous") & (summary["kind"] == "encoder")]
        drawn = trace_values(pg, TITLE, "y")
        np.testing.assert_allclose(drawn, prev.sort_values(["layer", "head"])["mean"].to_numpy(), atol=1e-6)
        assert pg.locator("[data-testid='stException']").count() == 0
        screenshot(pg, "corpus_result")
        pg.get_by_role("button", name="Open #1 in the head view").click()
        pg.locator(".js-plotly-plot .gtitle").filter(has_text="layer 0 head 0").wait_for(timeout=120_000)
        assert pg.get_by_role("radio", name="Head view", exact=True).is_checked()
        top = pd.read_parquet(result / "top.parquet")
        best = top[(top["statistic"] == "previous") & (top["layer"] == 0) & (top["head"] == 0)
                   & (top["kind"] == "encoder")].sort_values("rank").iloc[0]
        assert pg.get_by_label("Sentence", exact=True).input_value() == best["text"]
    finally:
        context.close()
