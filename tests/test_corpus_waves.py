"""The corpus job plans its next step in a thread while the engine runs the current one: the next
wave is planned before this wave's last batch is back, the result is that of a job planned serially,
and an error or Ctrl-C stops the planner at its next shard, leaving no thread behind."""

from __future__ import annotations

import threading
import time

import pytest

import corpus.job
from bench.corpus import sentences
from corpus.engines import InProcessEngine
from tests.test_corpus_job import assert_same_result, job, write_text

WAIT_S = 30.0  # far longer than planning one shard of two sentences takes
SLOW_S = 0.1


class Recording:
    """``plan_batches``, noting which shards (by their first sentence) were planned, and in which thread."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, slow_from: int | None = None) -> None:
        self.slow_from = slow_from  # shards from this sentence on take SLOW_S longer to plan
        self.planned: list[int] = []
        self.threads: set[str] = set()
        self.changed = threading.Condition()
        self.plan = corpus.job.plan_batches
        monkeypatch.setattr(corpus.job, "plan_batches", self)

    def __call__(self, model, lines, *args):
        result = self.plan(model, lines, *args)
        if self.slow_from is not None and lines[0].sentence_id >= self.slow_from:
            time.sleep(SLOW_S)
        with self.changed:
            self.planned.append(lines[0].sentence_id)
            self.threads.add(threading.current_thread().name)
            self.changed.notify_all()
        return result

    def wait_for(self, sentence_id: int) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: sentence_id in self.planned, timeout=WAIT_S)


class OneShardAWave(InProcessEngine):
    """Each shard its own wave; before handing back the first wave's rows it waits until the planner has
    planned the shard after it."""

    wave_sentences = 1

    def __init__(self, model, recording: Recording, next_first_id: int) -> None:
        super().__init__(model)
        self.recording, self.next_first_id = recording, next_first_id
        self.waves = 0
        self.planned_during_first: bool | None = None

    def run(self, work):
        self.waves += 1
        if self.waves == 1:
            self.planned_during_first = self.recording.wait_for(self.next_first_id)
        yield from super().run(work)


class FailingWave(InProcessEngine):
    """Waves of ten shards of two sentences; the second raises ``error`` as it starts."""

    wave_sentences = 20

    def __init__(self, model, error: type[BaseException]) -> None:
        super().__init__(model)
        self.error, self.waves = error, 0

    def run(self, work):
        self.waves += 1
        if self.waves == 2:
            raise self.error
        yield from super().run(work)


def planner_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("corpus-plan")]


def test_the_next_wave_is_planned_while_this_one_runs(minilm, tmp_path, monkeypatch):
    path = write_text(tmp_path / "c.txt", sentences(6))
    job(minilm, path, tmp_path / "serial", shard_size=2, batch_size=1)
    recording = Recording(monkeypatch)
    engine = OneShardAWave(minilm, recording, next_first_id=2)
    result = job(minilm, path, tmp_path / "ahead", shard_size=2, batch_size=1, engine=engine)
    assert engine.planned_during_first  # planned serially, shard 1 would wait for shard 0's rows
    assert engine.waves == 3 and sorted(recording.planned) == [0, 2, 4]
    assert {name.split("_")[0] for name in recording.threads} == {"corpus-plan"}
    assert (result.shards, result.computed, result.sentences) == (3, 3, 6)
    assert_same_result(tmp_path / "serial", tmp_path / "ahead")
    assert not planner_threads()


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_an_error_stops_the_planner_at_its_next_shard_and_a_rerun_finishes(minilm, tmp_path, monkeypatch, error):
    path = write_text(tmp_path / "c.txt", sentences(60))
    job(minilm, path, tmp_path / "whole", shard_size=2, batch_size=2)
    recording = Recording(monkeypatch, slow_from=40)  # the third wave's shards take 0.1 s each to plan
    with pytest.raises(error):
        job(minilm, path, tmp_path / "cut", shard_size=2, batch_size=2, engine=FailingWave(minilm, error))
    assert not planner_threads()
    # waves 1 and 2 planned; of wave 3, which was being planned when wave 2 failed, one or two shards,
    # not all ten
    assert 20 <= len(recording.planned) <= 22
    again = job(minilm, path, tmp_path / "cut", shard_size=2, batch_size=2)
    assert (again.shards, again.computed) == (30, 20)  # the first wave's ten shards were kept
    assert_same_result(tmp_path / "whole", tmp_path / "cut")
