"""The corpus job (python -m corpus): rows equal the dashboard's per-sentence statistics, every input
format reads alike, bad lines are reported and never stop it, a rerun resumes and gives the same
files, and refusals exit 2 with one line. The Ray engine is compared with the in-process one."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from streamlit.testing.v1 import AppTest

from bench.corpus import sentences
from corpus.__main__ import main
from corpus.browse import ResultError, open_result
from corpus.engines import InProcessEngine, RayEngine, pythonpath_first
from corpus.job import JobSettings, run_job
from corpus.reading import CorpusFile
from corpus.results import TOP
from corpus.shards import part_path
from model import capture
from model.corpus import capture_statistics
from model.statistics import STAT_COLUMNS, head_statistics

SENTENCES = ["The cat sat on the mat.", "Dogs bark at night.", "She went to the bank to deposit money.",
             "The animal didn't cross the street because it was too tired.", "Birds sing.",
             "A quick brown fox jumps over the lazy dog, twice!", "Rain again today.", "It works."]
FILES = ["statistics", "summary.parquet", "top.parquet", "skipped.parquet"]


def write_text(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def job(model, path, out, shard_size=3, engine=None, **kw):
    settings = JobSettings(model="minilm", shard_size=shard_size, batch_size=kw.pop("batch_size", 4))
    return run_job(CorpusFile(path), out, settings, model, engine or InProcessEngine(model), progress=False, **kw)


def tables(out):
    return {name: pq.read_table(out / name).to_pandas() for name in FILES}


def assert_same_result(a, b, atol=0.0):
    for name in FILES:
        x, y = tables(a)[name], tables(b)[name]
        numeric = [c for c in x.columns if x[c].dtype == np.float64]
        pd.testing.assert_frame_equal(x.drop(columns=numeric), y.drop(columns=numeric), check_dtype=False)
        np.testing.assert_allclose(x[numeric].to_numpy(), y[numeric].to_numpy(), atol=atol, rtol=0)


def test_first_token_share():
    w = np.random.default_rng(0).dirichlet(np.ones(5), size=(2, 3, 5)).astype(np.float32)  # (L, H, Q, K)
    frame = head_statistics(w, list("abcde"))
    np.testing.assert_allclose(frame["first"], w[..., 0].mean(-1).ravel(), atol=1e-6)


def test_rows_summary_and_top_equal_single_sentence_statistics(minilm, tmp_path):
    result = job(minilm, write_text(tmp_path / "c.txt", SENTENCES), tmp_path / "out")
    assert (result.sentences, result.shards, result.skipped) == (8, 3, 0)
    rows = tables(tmp_path / "out")["statistics"]
    assert len(rows) == 8 * 6 * 12 and rows["sentence_id"].is_monotonic_increasing
    one = rows[rows["sentence_id"] == 2].reset_index(drop=True)
    alone = capture_statistics(capture(minilm, SENTENCES[2]))
    np.testing.assert_allclose(one[STAT_COLUMNS].to_numpy(), alone[STAT_COLUMNS].to_numpy(), atol=1e-5)
    assert (one["text"] == SENTENCES[2]).all() and (one["tokens"] == len(capture(minilm, SENTENCES[2]).tokens)).all()

    summary = tables(tmp_path / "out")["summary.parquet"]
    assert len(summary) == 72 * len(STAT_COLUMNS)
    grouped = rows.groupby(["layer", "head"])["entropy"]
    got = summary[summary["statistic"] == "entropy"].set_index(["layer", "head"])
    np.testing.assert_allclose(got["mean"], grouped.mean(), atol=1e-12)
    np.testing.assert_allclose(got["std"], grouped.std(), atol=1e-12)
    assert (got["count"] == 8).all()

    top = tables(tmp_path / "out")["top.parquet"]
    head = top[(top["layer"] == 3) & (top["head"] == 5) & (top["statistic"] == "previous")]
    expect = rows[(rows["layer"] == 3) & (rows["head"] == 5)].sort_values("previous", ascending=False)
    assert list(head["rank"]) == list(range(1, 9)) and TOP >= 8
    assert list(head["sentence_id"]) == list(expect["sentence_id"])
    assert head["value"].is_monotonic_decreasing


def test_text_jsonl_and_parquet_read_alike(minilm, tmp_path):
    write_text(tmp_path / "c.txt", SENTENCES)
    (tmp_path / "c.jsonl").write_text("\n".join(json.dumps({"text": s, "n": i}) for i, s in enumerate(SENTENCES)))
    pq.write_table(pa.table({"text": SENTENCES}), tmp_path / "c.parquet")
    for name in ("c.txt", "c.jsonl", "c.parquet"):
        job(minilm, tmp_path / name, tmp_path / f"out-{name}")
    assert_same_result(tmp_path / "out-c.txt", tmp_path / "out-c.jsonl")
    assert_same_result(tmp_path / "out-c.txt", tmp_path / "out-c.parquet")


def test_bad_lines_are_counted_reported_or_truncated(minilm, tmp_path):
    long = " ".join(["word"] * 700)
    raw = (b"The cat sat.\n\n   \n" + b"bad \xff\xfe bytes\n" + b"[SEP]\n"
           + f"{long}\nDogs bark.\n".encode())
    (tmp_path / "c.txt").write_bytes(raw)
    result = job(minilm, tmp_path / "c.txt", tmp_path / "out", shard_size=2)
    assert (result.sentences, result.empty, result.skipped, result.truncated) == (3, 2, 2, 1)
    skipped = tables(tmp_path / "out")["skipped.parquet"]
    assert list(skipped["sentence_id"]) == [3, 4]
    assert "not valid Unicode" in skipped["reason"][0] and "no readable tokens" in skipped["reason"][1]
    rows = tables(tmp_path / "out")["statistics"]
    cut = rows[rows["sentence_id"] == 5]
    assert cut["truncated"].all() and (cut["tokens"] == minilm.max_tokens).all()
    assert not rows[rows["sentence_id"] != 5]["truncated"].any()

    (tmp_path / "c.jsonl").write_text('{"text": "Fine."}\nnot json\n{"txt": "no"}\n\n{"text": ""}\n')
    result = job(minilm, tmp_path / "c.jsonl", tmp_path / "out-jsonl")
    assert (result.sentences, result.skipped, result.empty) == (1, 2, 2)
    reasons = list(tables(tmp_path / "out-jsonl")["skipped.parquet"]["reason"])
    assert reasons[0].startswith("not valid JSON") and "'text' string" in reasons[1]


class Interrupting(InProcessEngine):
    """Ctrl-C after ``after`` batches, as a person pressing it mid-run would."""

    def __init__(self, model, after):
        super().__init__(model)
        self.left = after

    def run(self, work):
        for done in super().run(work):
            if self.left == 0:
                raise KeyboardInterrupt
            self.left -= 1
            yield done


def test_resume_after_interrupt_and_corrupt_shard_equal_uninterrupted(minilm, tmp_path):
    path = write_text(tmp_path / "c.txt", SENTENCES)
    job(minilm, path, tmp_path / "whole", shard_size=2, batch_size=1)
    with pytest.raises(KeyboardInterrupt):
        job(minilm, path, tmp_path / "resumed", shard_size=2, batch_size=1, engine=Interrupting(minilm, 5))
    assert not (tmp_path / "resumed" / "summary.parquet").exists()
    resumed = job(minilm, path, tmp_path / "resumed", shard_size=2, batch_size=1)
    assert (resumed.shards, resumed.computed) == (4, 2)  # 5 batches of 1 sentence: 2 shards were finished
    assert_same_result(tmp_path / "whole", tmp_path / "resumed")

    part = part_path(tmp_path / "resumed", 1)
    part.write_bytes(part.read_bytes()[:100])  # a shard cut short, as a full disk would leave it
    again = job(minilm, path, tmp_path / "resumed", shard_size=2, batch_size=1)
    assert again.computed == 1
    assert_same_result(tmp_path / "whole", tmp_path / "resumed")
    assert job(minilm, path, tmp_path / "resumed", shard_size=2, batch_size=1).computed == 0


class LastFirst(InProcessEngine):
    """Hands the batches back last first, as a pool of workers may: later shards finish before earlier ones."""

    wave_sentences = 10**6

    def run(self, work):
        yield from reversed(list(super().run(work)))


def test_shards_finished_out_of_order_are_summed_up_in_shard_order(minilm, tmp_path):
    path = write_text(tmp_path / "c.txt", SENTENCES)
    job(minilm, path, tmp_path / "in-order", shard_size=2, batch_size=1)
    with pytest.raises(KeyboardInterrupt):  # shards 0 and 1 on disk, then the rest last first
        job(minilm, path, tmp_path / "mixed", shard_size=2, batch_size=1, engine=Interrupting(minilm, 4))
    result = job(minilm, path, tmp_path / "mixed", shard_size=2, batch_size=1, engine=LastFirst(minilm))
    assert (result.shards, result.computed, result.sentences) == (4, 2, 8)
    assert_same_result(tmp_path / "in-order", tmp_path / "mixed")  # exactly: the same sums in the same order


def test_limit_then_whole_corpus_reuses_shards(minilm, tmp_path):
    path = write_text(tmp_path / "c.txt", SENTENCES)
    assert job(minilm, path, tmp_path / "out", limit=4).sentences == 4
    whole = job(minilm, path, tmp_path / "out")
    assert (whole.sentences, whole.computed) == (8, 2)  # shard 0 kept; shard 1 grew from 1 line to 3
    job(minilm, path, tmp_path / "fresh")
    assert_same_result(tmp_path / "out", tmp_path / "fresh")
    assert job(minilm, path, tmp_path / "out", limit=2).shards == 1
    assert sorted(p.name for p in (tmp_path / "out" / "statistics").iterdir()) == ["part-000000.parquet"]


def run_cli(capsys, *args):
    rc = main(["run", *map(str, args), "--no-progress"])
    return rc, capsys.readouterr().err.strip().splitlines()


def test_cli_refusals_exit_2_with_one_line(capsys, tmp_path, monkeypatch):
    good = write_text(tmp_path / "c.txt", SENTENCES[:2])
    (tmp_path / "bin.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (tmp_path / "afile").write_text("x")
    (tmp_path / "blank.txt").write_text("\n  \n\n")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    pq.write_table(pa.table({"sentence": ["a"]}), tmp_path / "nocol.parquet")
    cases = [((tmp_path / "missing.txt", "--out", tmp_path / "o1"), "no such file"),
             ((tmp_path / "bin.txt", "--out", tmp_path / "o2"), "binary"),
             ((tmp_path / "bad.parquet", "--out", tmp_path / "o3"), "not a readable Parquet"),
             ((tmp_path / "nocol.parquet", "--out", tmp_path / "o4"), "no 'text' column"),
             ((good, "--out", tmp_path / "afile"), "is a file"),
             ((tmp_path / "blank.txt", "--out", tmp_path / "o7"), "holds no sentence (3 blank lines)"),
             ((good, "--out", tmp_path, "--model", "no-such-model"), "no model called"),
             ((good, "--out", tmp_path / "o5", "--engine", "ray", "--address", "127.0.0.1:9"), "no Ray cluster")]
    for args, words in cases:
        rc, err = run_cli(capsys, *args)
        assert rc == 2 and len(err) == 1 and words in err[0], (args, err)

    rc, err = run_cli(capsys, good, "--out", tmp_path)  # not empty, and no corpus result in it
    assert rc == 2 and "not empty" in err[0]
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    rc, err = run_cli(capsys, good, "--out", tmp_path / "o6", "--engine", "ray")
    assert rc == 2 and len(err) == 1 and "pip install" in err[0]


def test_cli_runs_resumes_and_refuses_other_settings(capsys, tmp_path, monkeypatch):
    good = write_text(tmp_path / "c.txt", SENTENCES[:3])
    rc, err = run_cli(capsys, good, "--out", tmp_path / "out", "--shard-size", "2")
    assert rc == 0 and "3 sentences in 2 shards" in err[-1]
    assert re.search(r"first batch after [\d.]+ s, then [\d.]+ sentences/s\)", err[-1])
    rc, err = run_cli(capsys, good, "--out", tmp_path / "out", "--shard-size", "2")
    assert rc == 0 and "0 computed now" in err[-1] and "first batch" not in err[-1]
    rc, err = run_cli(capsys, good, "--out", tmp_path / "out", "--shard-size", "3")
    assert rc == 2 and "shard_size" in err[0]
    monkeypatch.setattr("corpus.__main__.run_job", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    rc, err = run_cli(capsys, good, "--out", tmp_path / "out", "--shard-size", "2")
    assert rc == 130 and "run the same command again" in err[-1]


@pytest.mark.slow
def test_ctrl_c_then_rerun_gives_the_uninterrupted_result(minilm, tmp_path):
    # enough small shards and batches that the interrupt lands mid-job: a shard takes well under a second
    path = write_text(tmp_path / "c.txt", sentences(1500))
    n_shards = 100
    cmd = [sys.executable, "-m", "corpus", "run", str(path), "--out", str(tmp_path / "cut"), "--shard-size", "15",
           "--no-progress", "--batch-size", "4"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # the uninterrupted run the same way, with the same torch threads: the result must be the same bytes
    whole = [*cmd[:6], str(tmp_path / "whole"), *cmd[7:]]
    assert subprocess.run(whole, capture_output=True, text=True, env=env, timeout=300).returncode == 0
    # Ctrl-C as a terminal sends it, even where this test process ignores SIGINT (a child inherits that)
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    manifest = tmp_path / "cut" / "manifest.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if manifest.exists() and json.loads(manifest.read_text())["shards"]:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "run the same command again" in err
    finished = len(json.loads(manifest.read_text())["shards"])
    assert 1 <= finished < n_shards
    rerun = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert rerun.returncode == 0 and f"({n_shards - finished} computed now" in rerun.stderr
    assert_same_result(tmp_path / "whole", tmp_path / "cut")


@pytest.mark.slow
def test_ray_engine_writes_what_in_process_writes(minilm, tmp_path):
    pytest.importorskip("ray")

    words = "the quick brown fox jumps over a lazy dog while small birds sing near old trees".split()
    rng = np.random.default_rng(0)
    lines = [" ".join(rng.choice(words, size=rng.integers(3, 25))) + "." for _ in range(40)]
    path = write_text(tmp_path / "c.txt", lines)
    # one torch thread here as in each worker: a thread count changes float32 sums in the 7th digit
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        job(minilm, path, tmp_path / "here", shard_size=16, batch_size=8)
    finally:
        torch.set_num_threads(threads)
    before = os.environ.get("PYTHONPATH")
    with RayEngine("minilm", workers=2, threads=1) as engine:
        assert os.environ.get("PYTHONPATH") == before  # the workers got the checkout; this process is as it was
        engine.wave_sentences = 16  # a Ray dataset, and its actors, per shard: waves one after another
        result = job(minilm, path, tmp_path / "ray", shard_size=16, batch_size=8, engine=engine)
    assert_same_result(tmp_path / "here", tmp_path / "ray", atol=1e-6)
    assert result.sentences == 40 and result.first_wait > 0 and result.steady_rate > 0


def test_pythonpath_first_is_put_back_as_it_was(monkeypatch, tmp_path):
    monkeypatch.delenv("PYTHONPATH", raising=False)
    with pythonpath_first(tmp_path):
        assert os.environ["PYTHONPATH"] == str(tmp_path)
    assert "PYTHONPATH" not in os.environ
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    with pytest.raises(RuntimeError), pythonpath_first(tmp_path):
        assert os.environ["PYTHONPATH"] == os.pathsep.join([str(tmp_path), "/elsewhere"])
        raise RuntimeError
    assert os.environ["PYTHONPATH"] == "/elsewhere"


def test_bench_sentences_are_seeded_and_10_to_40_words():
    made = sentences(300)
    assert made == sentences(300) and len(set(made)) == 300
    assert {len(s.split()) for s in made} <= set(range(10, 41))



def test_result_folder_reads_back_only_inside_the_allowed_roots(minilm, tmp_path):
    job(minilm, write_text(tmp_path / "c.txt", SENTENCES), tmp_path / "out")
    result = open_result(str(tmp_path / "out"), [tmp_path / "out"])
    rows = tables(tmp_path / "out")["statistics"]
    head = rows[(rows["layer"] == 2) & (rows["head"] == 7)]
    np.testing.assert_allclose(result.values("encoder", 2, 7, "entropy"), head["entropy"])
    wide = result.wide("encoder")
    assert len(wide) == 72 and (wide["sentences"] == 8).all()
    np.testing.assert_allclose(wide.loc[(wide["layer"] == 2) & (wide["head"] == 7), "entropy_mean"],
                               head["entropy"].mean())
    assert list(result.strongest("encoder", 2, 7, "entropy")["rank"]) == list(range(1, 9))
    for text, roots in [(str(tmp_path), [tmp_path / "out"]), (str(tmp_path / "out" / "statistics"), [tmp_path]),
                        ("../" * 20 + "etc", [tmp_path])]:
        with pytest.raises(ResultError, match="No finished corpus result"):
            open_result(text, roots)
    (tmp_path / "out" / "manifest.json").write_text(
        json.dumps({k: v for k, v in json.loads((tmp_path / "out" / "manifest.json").read_text()).items()
                    if k != "result"}))
    with pytest.raises(ResultError, match="not finished"):
        open_result(str(tmp_path / "out"), [tmp_path])


def result_page():
    # AppTest runs this function's source as a script, so it imports what it uses itself
    import streamlit as st

    from ui.corpus_view import render_result
    from ui.settings import Settings

    render_result(Settings(model_name="minilm", text="x"), st.session_state.get("capture_kind", "encoder"))


def test_result_folder_opens_in_the_page_and_a_sentence_opens_in_the_head_view(minilm, tmp_path, monkeypatch):
    job(minilm, write_text(tmp_path / "c.txt", SENTENCES), tmp_path / "out")
    monkeypatch.setenv("ATTENTION_DASHBOARD_MODEL_ROOTS", str(tmp_path / "out"))
    at = AppTest.from_function(result_page, default_timeout=60)
    at.session_state["corpus_result_path"] = str(tmp_path)  # outside the allowed root
    at.run()
    assert not at.exception and "No finished corpus result" in at.error[0].value
    at.session_state["corpus_result_path"] = str(tmp_path / "out")
    at.session_state["corpus_result_stat"] = "previous"
    at.session_state["corpus_result_layer"] = 3
    at.session_state["corpus_result_head"] = 5
    at.run()
    assert not at.exception and not at.error
    assert "8 sentences" in at.caption[0].value
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert len(spec["data"][0]["x"]) == 72  # every head's mean
    assert "L3 H5" in at.markdown[0].value and "8 sentences" in at.markdown[0].value
    top = tables(tmp_path / "out")["top.parquet"]
    best = top[(top["layer"] == 3) & (top["head"] == 5) & (top["statistic"] == "previous")].iloc[0]
    at.button(key="corpus_result_open").click().run()
    ss = at.session_state
    assert (ss["view"], ss["text"], ss["layer"], ss["head"], ss["model"]) == ("Head view", best["text"], 3, 5,
                                                                            "minilm")
