"""Head statistics measured inside the forward pass equal a plain numpy reading of each text's own capture."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from model import capture, load_model
from model.capture import encode_checked
from model.pass_statistics import batch_head_statistics, statistics_rows
from model.statistics import N_STATS, STAT_COLUMNS, key_flags, padded_statistics
from tests.statistics_reference import reference_measures
from tests.test_hf_models import build

# lengths from 3 to ~40 tokens in one batch, so most rows are padded; punctuation and [SEP] typed in as text
TEXTS = ["a", "The cat sat on the mat.", "Hello, world! [SEP] again, and again.",
         "Tuesday 3 March 2020", "x y z , . ! ? " * 5, "naïve café ☕ 中文"]


def per_text_reference(m, text: str) -> dict[str, np.ndarray]:
    cap = capture(m, text)
    return {kind: reference_measures(np.stack(list(cap.layers(kind))), cap.query_tokens(kind), cap.key_tokens(kind),
                                     self_attention=kind != "cross") for kind in cap.kinds}


def assert_same(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert list(got) == list(want)
    for kind, arr in got.items():
        flat = arr.reshape(-1, N_STATS)  # (L*H, N_STATS) in layer-major order, as head_statistics
        assert np.array_equal(np.isnan(flat), np.isnan(want[kind])), kind
        np.testing.assert_allclose(flat, want[kind], atol=1e-5, rtol=0, equal_nan=True)


def test_padded_batch_equals_each_capture_alone(minilm):
    got = batch_head_statistics(minilm, [encode_checked(minilm, t) for t in TEXTS])
    assert len(got) == len(TEXTS)
    for text, stats in zip(TEXTS, got, strict=True):
        assert stats["encoder"].shape == (6, 12, N_STATS)
        assert_same(stats, per_text_reference(minilm, text))


def test_encoder_decoder_measures_all_three_kinds():
    m = load_model("translator")
    texts = ["Tuesday 3 March 2020", "5/6/1999", "the first of may 2001"]
    got = batch_head_statistics(m, [encode_checked(m, t) for t in texts])
    for text, stats in zip(texts, got, strict=True):
        assert list(stats) == ["encoder", "decoder", "cross"]
        cross = stats["cross"]
        for name in ("distance", "previous", "same", "next"):  # positions of two sequences do not compare
            assert np.isnan(cross[..., STAT_COLUMNS.index(name)]).all()
        assert_same(stats, per_text_reference(m, text))


@pytest.mark.parametrize("family", ["bert", "gpt2"])
def test_family_without_pattern_hooks_is_measured_from_its_capture(tmp_path, family):
    m = load_model(str(build(family, tmp_path / family)))
    assert not m.adapter.pattern_points(m.net)
    texts = ["the cat sat on the mat", "a dog saw it", "the bird"]
    got = batch_head_statistics(m, [encode_checked(m, t) for t in texts])
    for text, stats in zip(texts, got, strict=True):
        assert_same(stats, per_text_reference(m, text))


def test_measures_of_known_weights():
    # one head, one text of 3 real tokens padded to 4: uniform rows over the real keys, and one-hot rows
    uniform = torch.zeros(1, 1, 4, 4)
    uniform[0, 0, :, :3] = 1 / 3
    onehot = torch.zeros(1, 1, 4, 4)
    onehot[0, 0, [0, 1, 2], [0, 0, 1]] = 1.0  # query 0 -> key 0, queries 1 and 2 -> their previous key
    onehot[0, 0, 3, 3] = 1.0  # a padding query: must not count
    flags = key_flags(["[CLS]", "x", ","], 4)[None]  # (1, 4, 3)
    n = torch.tensor([3])
    u = dict(zip(STAT_COLUMNS, padded_statistics(uniform, n, n, flags, True)[0, 0].tolist(), strict=True))
    assert u["entropy"] == pytest.approx(math.log(3), abs=1e-6)
    assert u["confidence"] == pytest.approx(1 / 3, abs=1e-6)
    assert u["cls"] == pytest.approx(1 / 3, abs=1e-6) and u["punct"] == pytest.approx(1 / 3, abs=1e-6)
    assert u["sep"] == 0.0
    assert u["distance"] == pytest.approx((1 + 2 + 1 + 1 + 2 + 1) / 9, abs=1e-6)
    o = dict(zip(STAT_COLUMNS, padded_statistics(onehot, n, n, flags, True)[0, 0].tolist(), strict=True))
    assert o["entropy"] == 0.0 and o["confidence"] == 1.0
    assert o["previous"] == 1.0  # queries 1 and 2 both read their previous token
    assert o["same"] == pytest.approx(1 / 3)
    assert o["next"] == 0.0
    assert o["first"] == pytest.approx(2 / 3)
    one = torch.ones(1, 1, 1, 1)  # a single token has no neighbours
    s = dict(zip(STAT_COLUMNS, padded_statistics(one, torch.tensor([1]), torch.tensor([1]),
                                                 key_flags(["x"], 1)[None], True)[0, 0].tolist(), strict=True))
    assert math.isnan(s["previous"]) and math.isnan(s["next"]) and s["same"] == 1.0


def test_rows_come_in_text_kind_layer_head_order(minilm):
    stats = batch_head_statistics(minilm, [encode_checked(minilm, t) for t in TEXTS[:2]])
    frame = statistics_rows(stats)
    assert len(frame) == 2 * 6 * 12
    assert frame["row"].tolist() == [0] * 72 + [1] * 72
    assert frame["layer"].tolist()[:14] == [0] * 12 + [1, 1]
    assert frame["head"].tolist()[:14] == [*range(12), 0, 1]
    np.testing.assert_array_equal(frame[STAT_COLUMNS].to_numpy()[72:], stats[1]["encoder"].reshape(72, N_STATS))
