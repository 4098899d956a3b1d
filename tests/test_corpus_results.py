"""The corpus summary and strongest sentences, shard by shard, against a plain pandas reading of all rows;
the labels of the page's histogram of one head over the corpus."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from corpus.batches import KIND_ORDER
from corpus.results import TOP, Summary, strongest_first
from model.statistics import STAT_COLUMNS
from ui.corpus_view import bin_centres

POSITIONAL = ["distance", "previous", "same", "next"]


def rows_of(n_sentences: int, seed: int = 0) -> pd.DataFrame:
    """Rows as the job writes them, for heads of all three kinds; values on a coarse grid, so many tie."""
    rng = np.random.default_rng(seed)
    heads = [(kind, layer, head) for kind in ("encoder", "decoder", "cross") for layer in range(2) for head in range(3)]
    frames = []
    for sid in range(n_sentences):
        values = rng.integers(0, 8, size=(len(heads), len(STAT_COLUMNS))) / 8
        frame = pd.DataFrame(values, columns=STAT_COLUMNS)
        frame.insert(0, "sentence_id", 100 + 3 * sid)
        frame.insert(1, "kind", [h[0] for h in heads])
        frame.insert(2, "layer", [h[1] for h in heads])
        frame.insert(3, "head", [h[2] for h in heads])
        frame["tokens"] = 1 + sid % 7
        frame["text"] = f"sentence {sid} <b>&amp;</b> 句子"
        frame.loc[frame["kind"] == "cross", POSITIONAL] = np.nan  # cross-attention has no positions
        if frame["tokens"].iloc[0] == 1:
            frame[["previous", "next"]] = np.nan  # one token has no neighbours
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def reference(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    long = rows.melt(id_vars=["sentence_id", "kind", "layer", "head", "tokens", "text"], value_vars=STAT_COLUMNS,
                     var_name="statistic", value_name="value").dropna(subset=["value"])
    long["_kind"] = long["kind"].map(KIND_ORDER)
    long["_stat"] = long["statistic"].map(STAT_COLUMNS.index)
    keys = ["_kind", "layer", "head", "_stat"]
    grouped = long.groupby(keys)["value"]
    summary = pd.DataFrame({"mean": grouped.mean(), "std": grouped.std(), "count": grouped.count()}).reset_index()
    top = long.sort_values([*keys, "value", "sentence_id"], ascending=[True] * 4 + [False, True])
    top = top.groupby(keys).head(TOP).copy()
    top["rank"] = top.groupby(keys).cumcount() + 1
    return summary, top


@pytest.mark.parametrize("n_sentences", [1, 5, 47])
def test_shard_by_shard_equals_all_rows_at_once(n_sentences):
    rows = rows_of(n_sentences)
    summary = Summary()
    for shard in np.array_split(rows["sentence_id"].unique(), 3):
        summary.add(rows[rows["sentence_id"].isin(shard)])
    summary.add(rows.iloc[:0])  # a shard whose every line was skipped
    want, want_top = reference(rows)

    got = summary.summary()
    assert list(got.columns) == ["kind", "layer", "head", "statistic", "mean", "std", "count"]
    assert len(got) == len(want)  # no row for a measure a head has not
    assert list(got["kind"].map(KIND_ORDER)) == list(want["_kind"])
    assert list(got["statistic"]) == [STAT_COLUMNS[i] for i in want["_stat"]]
    assert list(got["layer"]) == list(want["layer"]) and list(got["head"]) == list(want["head"])
    np.testing.assert_allclose(got["mean"], want["mean"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(got["std"], want["std"], rtol=0, atol=1e-12)  # NaN for one sentence
    assert list(got["count"]) == list(want["count"])

    top = summary.strongest()
    assert list(top.columns) == ["kind", "layer", "head", "statistic", "rank", "sentence_id", "value", "tokens",
                                 "text"]
    assert len(top) == len(want_top)
    for column in ("rank", "sentence_id", "value", "tokens", "text", "layer", "head"):
        assert list(top[column]) == list(want_top[column]), column


@pytest.mark.parametrize("seed", range(5))
def test_strongest_first_is_a_full_sort_cut_to_the_top(seed):
    rng = np.random.default_rng(seed)
    for candidates in (1, TOP - 1, TOP, TOP + 1, 3 * TOP, 500):
        values = rng.integers(0, 4, size=(candidates, 6, 5)) / 4  # few distinct values: most tie
        values[rng.random(values.shape) < 0.3] = np.nan
        values[:, 0, 0] = np.nan  # a cell with no values at all
        ids = rng.permutation(10 * values.size)[:values.size].reshape(values.shape)
        order = np.lexsort((ids, -values), axis=0)[:TOP]  # every candidate sorted: NaN last, then by id
        want_values, want_ids = np.take_along_axis(values, order, 0), np.take_along_axis(ids, order, 0)
        got_values, got_ids = strongest_first(values, ids, TOP)
        assert got_values.shape == got_ids.shape == (min(candidates, TOP), 6, 5)
        np.testing.assert_array_equal(got_values, want_values)  # NaN where the other has NaN
        held = ~np.isnan(want_values)
        assert held.sum() > 0 and (got_ids[held] == want_ids[held]).all()


def test_ties_go_to_the_earlier_sentence_in_any_shard_order():
    rows = rows_of(60, seed=3)
    rows[STAT_COLUMNS] = 0.5  # every sentence ties on every value
    split = np.array_split(rows["sentence_id"].unique(), 4)
    for shards in (split, split[::-1]):
        summary = Summary()
        for shard in shards:
            summary.add(rows[rows["sentence_id"].isin(shard)])
        top = summary.strongest()
        one = top[(top["kind"] == "decoder") & (top["layer"] == 1) & (top["head"] == 2) & (top["statistic"] == "same")]
        assert list(one["sentence_id"]) == [100 + 3 * i for i in range(TOP)]
        assert set(summary.sentences) == set(top["sentence_id"])  # only the texts the top still names are kept


def test_histogram_bins_are_labelled_as_finely_as_they_differ():
    edges = np.linspace(2.0472, 3.5403, 41)  # 40 bins 0.037 wide
    labels = bin_centres(edges)
    assert labels[:3].tolist() == [2.066, 2.103, 2.141]
    assert len(set(labels.tolist())) == 40  # neighbours never print alike
    assert bin_centres(np.linspace(0, 400, 41))[:2].tolist() == [5.0, 15.0]
