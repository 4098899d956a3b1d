"""Showing a figure in the page: every view goes through ``show`` so all charts behave alike."""

from __future__ import annotations

from collections.abc import Callable

import plotly.graph_objects as go
import streamlit as st

from ui.downloads import figure_downloads


def plotly_config(name: str) -> dict:
    """The Plotly toolbar's camera button saves a 2x PNG named after what it holds."""
    return {
        "displaylogo": False,
        "toImageButtonOptions": {"format": "png", "filename": name, "scale": 2},
    }


def show(fig: go.Figure, name: str, key: str | None = None, *, downloads: bool = True,
         select: bool | Callable[[], None] = False):
    """Draw ``fig``; ``name`` is the file name (no extension) its exports get, e.g. ``minilm_L2_H5_encoder``.

    Under the chart a "Download" popover offers PNG, SVG, PDF and offline HTML, each made only when clicked.
    With ``select``, clicking a point reruns the page and the selection event is returned; a callable
    ``select`` runs first, before the rerun (as a button's ``on_click``), and may change any widget's state.
    """
    key = key or f"chart_{name}"
    extra = {"on_select": select if callable(select) else "rerun", "selection_mode": "points"} if select else {}
    event = st.plotly_chart(fig, width="stretch", key=key, config=plotly_config(name), **extra)
    if downloads:
        figure_downloads(fig, name, key)
    return event if select else None
