"""Matrix operations behind the views: hiding tokens, combining heads, filtering, pooling, 8-bit values."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from model.types import THUMB_CELLS, pool_thumbnails
from viz.matrix_ops import (
    combine_heads,
    downsample,
    hide_and_renormalise,
    hide_tokens,
    keep_indices,
    quantise_u8,
    top_k_rows,
    top_p_rows,
    view_matrix,
)

TOKENS = ["[CLS]", "the", "cat", "sat", "[SEP]"]
SPECIAL = frozenset({"[CLS]", "[SEP]", "[PAD]"})


def softmax_rows(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture
def layer() -> np.ndarray:
    return softmax_rows(np.random.default_rng(0).normal(size=(4, 5, 5)) * 2)  # (heads, q, k)


def test_keep_indices_drops_specials_but_never_everything():
    assert keep_indices(TOKENS, SPECIAL).tolist() == [1, 2, 3]
    assert keep_indices(["[CLS]", "[SEP]"], SPECIAL).tolist() == [0, 1]


def test_hide_and_renormalise_rows_sum_to_one(layer):
    out = hide_and_renormalise(layer, np.array([1, 2, 3]), np.array([1, 2, 3]))
    assert out.shape == (4, 3, 3)
    np.testing.assert_allclose(out.sum(-1), 1.0, atol=1e-6)
    # the ratios between the weights kept are unchanged
    np.testing.assert_allclose(out[0, 0, 0] / out[0, 0, 1], layer[0, 1, 1] / layer[0, 1, 2], rtol=1e-5)


def test_hide_and_renormalise_zero_row_stays_zero():
    w = np.array([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5]], dtype=np.float32)
    out = hide_and_renormalise(w, np.array([0, 1]), np.array([1, 2]))
    assert out[0].tolist() == [0.0, 0.0]
    np.testing.assert_allclose(out[1], [0.375, 0.625])


def test_hide_tokens_returns_the_tokens_left(layer):
    w, q, k = hide_tokens(layer, TOKENS, TOKENS, SPECIAL)
    assert q == k == ["the", "cat", "sat"]
    assert w.shape == (4, 3, 3)
    w2, q2, _ = hide_tokens(layer, TOKENS, TOKENS, ())
    assert q2 == TOKENS and w2.shape == layer.shape


def test_combine_heads(layer):
    np.testing.assert_array_equal(combine_heads(layer, "head", 2), layer[2])
    np.testing.assert_allclose(combine_heads(layer, "mean"), layer.mean(0))
    np.testing.assert_allclose(combine_heads(layer, "mean").sum(-1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(combine_heads(layer, "max"), layer.max(0))
    with pytest.raises(ValueError, match="out of range"):
        combine_heads(layer, "head", 4)
    with pytest.raises(ValueError, match="combine heads"):
        combine_heads(layer, "median")


def test_view_matrix_hides_before_combining(layer):
    w, q, _ = view_matrix(layer, TOKENS, TOKENS, combine="mean", hide=SPECIAL)
    assert q == ["the", "cat", "sat"]
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-6)


def test_top_k_rows():
    w = np.array([[0.1, 0.5, 0.15, 0.25], [0.7, 0.1, 0.1, 0.1]], dtype=np.float32)
    out = top_k_rows(w, 2)
    assert out[0].tolist() == pytest.approx([0.0, 0.5, 0.0, 0.25])
    assert out[1, 0] == pytest.approx(0.7)
    assert top_k_rows(w, 10).tolist() == w.tolist()
    with pytest.raises(ValueError):
        top_k_rows(w, 0)


def test_top_p_rows_keeps_smallest_set_reaching_share():
    w = np.array([[0.2, 0.5, 0.3], [0.9, 0.05, 0.05], [0.5, 0.5, 0.0]], dtype=np.float32)
    out = top_p_rows(w, 0.7)
    assert out[0].tolist() == pytest.approx([0.0, 0.5, 0.3])
    assert out[1].tolist() == pytest.approx([0.9, 0.0, 0.0])
    assert np.count_nonzero(out[2]) == 2
    # exactly the share: 0.5 alone holds 50%
    assert np.count_nonzero(top_p_rows(np.array([[0.5, 0.3, 0.2]], dtype=np.float32), 0.5)) == 1
    with pytest.raises(ValueError):
        top_p_rows(w, 0.0)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.integers(1, 12), st.floats(0.05, 1.0), st.integers(0, 10_000))
def test_top_p_is_minimal_and_sufficient(n_rows, n_keys, p, seed):
    w = softmax_rows(np.random.default_rng(seed).normal(size=(n_rows, n_keys)) * 3)
    out = top_p_rows(w, p)
    kept = out.sum(-1)
    assert np.all(kept >= p - 1e-5)
    # dropping the smallest kept weight would fall under the share
    smallest = np.where(out > 0, out, np.inf).min(-1)
    assert np.all(kept - smallest < p + 1e-5)


def test_downsample_max_and_mean():
    w = np.zeros((100, 100), dtype=np.float32)
    w[37, 81] = 0.9
    pooled = downsample(w, max_cells=48, how="max")
    assert pooled.shape == (34, 34)  # 3 positions a cell
    assert pooled.max() == pytest.approx(0.9)
    assert pooled[37 // 3, 81 // 3] == pytest.approx(0.9)
    ones = np.ones((100, 100), dtype=np.float32)
    np.testing.assert_allclose(downsample(ones, 48, "mean"), 1.0)  # the padded edge is not darkened
    small = np.random.default_rng(1).random((2, 3, 10, 7)).astype(np.float32)
    np.testing.assert_array_equal(downsample(small, 48), small)


def test_downsample_non_square_and_leading_axes():
    w = np.random.default_rng(2).random((6, 12, 510, 20)).astype(np.float32)
    out = downsample(w, 48)
    assert out.shape == (6, 12, 47, 20)
    np.testing.assert_allclose(out.max(axis=(-2, -1)), w.max(axis=(-2, -1)))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 300), st.integers(1, 300), st.integers(1, 3), st.integers(0, 10_000))
def test_pass_thumbnails_equal_the_views_pooling(n_q, n_k, n_heads, seed):
    """The thumbnails pooled in torch during a long forward pass are the views' block-max, cell for cell."""
    w = softmax_rows(np.random.default_rng(seed).normal(size=(n_heads, n_q, n_k)) * 4)
    expected = quantise_u8(downsample(w, THUMB_CELLS))
    got = pool_thumbnails(torch.from_numpy(w))
    assert got.dtype == np.uint8 and got.shape[:-2] == (n_heads,) and max(got.shape[-2:]) <= THUMB_CELLS
    np.testing.assert_array_equal(got, expected)


def test_quantise_u8():
    q = quantise_u8(np.array([0.0, 0.5, 1.0, 1.2, -0.1]))
    assert q.dtype == np.uint8
    assert q.tolist() == [0, 128, 255, 255, 0]
    w = np.random.default_rng(3).random(1000).astype(np.float32)
    assert np.abs(quantise_u8(w) / 255.0 - w).max() <= 0.5 / 255 + 1e-7
