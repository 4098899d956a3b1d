"""CSV cells that a spreadsheet would run as formulas are written inert; tokens with line breaks keep rows whole."""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest

from export import data as data_export
from export.data import safe_cell
from model import Capture
from model.types import ScoreForm

TOKENS = ["=1+1", "+SUM(A1)", "-2", "@cmd", "\tx", "ok", "ok2", "'=a"]


@pytest.mark.parametrize(("value", "want"), [
    ("=1+1", "'=1+1"), ("+x", "'+x"), ("-x", "'-x"), ("@x", "'@x"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("cat", "cat"), ("", ""), ("a=b", "a=b")])
def test_safe_cell(value, want):
    assert safe_cell(value) == want


def make_cap(tokens: list[str]) -> Capture:
    """One layer, one head, every query attending to every key alike (zero queries and keys)."""
    n = len(tokens)
    zeros = np.zeros((1, 1, n, 4), dtype=np.float32)
    return Capture(model_name="m", tokens=list(tokens), q={"encoder": zeros}, k={"encoder": zeros.copy()},
                   v={"encoder": zeros.copy()}, score_forms={"encoder": ScoreForm(scale=0.5)},
                   positions=np.zeros((n, 2), dtype=np.float32))


def read_back(raw: bytes) -> pd.DataFrame:
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
    assert all(len(r) == len(rows[0]) for r in rows), "every row has every column"
    df = pd.DataFrame(rows[1:], columns=rows[0])
    for col in ("layer", "head", "query", "key"):
        df[col] = df[col].astype(np.int64)
    df["weight"] = df["weight"].astype(np.float64)
    return df


def test_csv_tokens_are_inert_and_numbers_untouched():
    cap = make_cap(TOKENS)
    df = read_back(data_export.csv_bytes(cap))
    assert len(df) == len(TOKENS) ** 2
    for col in ("query_token", "key_token"):
        assert not any(str(v).startswith(("=", "+", "-", "@", "\t", "\r")) for v in df[col])
    first = df[(df["query"] == 0) & (df["key"] == 5)].iloc[0]
    assert first.query_token == "'=1+1" and first.key_token == "ok"
    assert set(df[df["query"] == 7]["query_token"]) == {"'=a"}
    np.testing.assert_allclose(df["weight"], 1 / len(TOKENS))
    assert df["layer"].dtype == np.int64


@pytest.mark.parametrize("breaks", [["a\rb"], ["a\nb"], ["a\r\nb"], ["\n", "\r", "\r\n", "x\n\ry"],
                                    ["end\r", "end\n", "\r\rx", "\n\nx"]])
def test_tokens_with_line_breaks_keep_every_row_whole(breaks):
    tokens = ["the", *breaks, "cat"]
    cap = make_cap(tokens)
    raw = data_export.csv_bytes(cap)
    df = read_back(raw)
    assert len(df) == len(tokens) ** 2 == data_export.csv_rows(cap)
    want = [safe_cell(t) for t in tokens]
    got = df.drop_duplicates("query").sort_values("query")["query_token"].tolist()
    assert got == want
    assert df.drop_duplicates("key").sort_values("key")["key_token"].tolist() == want
    assert pd.read_csv(io.BytesIO(raw), keep_default_na=False).shape == (len(tokens) ** 2, 8)
