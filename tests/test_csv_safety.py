"""CSV cells that a spreadsheet would run as formulas are written inert; compare's notices are escaped."""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest

from model import Capture
from viz import data_export
from viz.data_export import safe_cell

TOKENS = ["=1+1", "+SUM(A1)", "-2", "@cmd", "\tx", "ok", "ok2", "'=a"]


@pytest.mark.parametrize(("value", "want"), [
    ("=1+1", "'=1+1"), ("+x", "'+x"), ("-x", "'-x"), ("@x", "'@x"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("cat", "cat"), ("", ""), ("a=b", "a=b")])
def test_safe_cell(value, want):
    assert safe_cell(value) == want


def make_cap() -> Capture:
    n = len(TOKENS)
    att = np.full((1, 1, n, n), -0.5, dtype=np.float32)  # negative numbers must stay numbers
    return Capture(model_name="m", tokens=list(TOKENS), attentions={"encoder": att},
                   positions=np.zeros((n, 2), dtype=np.float32))


def test_csv_tokens_are_inert_and_numbers_untouched():
    cap = make_cap()
    raw = data_export.csv_bytes(cap)
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
    df = pd.DataFrame(rows[1:], columns=rows[0])
    for col in ("layer", "head", "query", "key"):
        df[col] = df[col].astype(np.int64)
    df["weight"] = df["weight"].astype(np.float64)
    assert len(df) == len(TOKENS) ** 2
    for col in ("query_token", "key_token"):
        assert not any(str(v).startswith(("=", "+", "-", "@", "\t", "\r")) for v in df[col])
    first = df[(df["query"] == 0) & (df["key"] == 5)].iloc[0]
    assert first.query_token == "'=1+1" and first.key_token == "ok"
    assert set(df[df["query"] == 7]["query_token"]) == {"'=a"}
    assert df["weight"].dtype == np.float64 and (df["weight"] == -0.5).all()
    assert df["layer"].dtype == np.int64
