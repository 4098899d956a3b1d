"""Export view: the whole Capture as NPZ, CSV or JSON, and every head of a kind as one ZIP of images."""

from __future__ import annotations

import streamlit as st

from export import data as data_export
from export.images import IMAGE_FORMATS, chromium_problem
from export.names import file_name
from model import Capture
from ui.downloads import data_button, failure_reason, size_inputs, size_problem
from ui.settings import Settings

LARGE_CSV_ROWS = 1_000_000
ZIP_KEY = "_export_zip"  # (what the ZIP was made from, its bytes): kept so a rerun does not render it again


def render(cap: Capture, settings: Settings) -> None:
    st.subheader("The data")
    st.caption("Every weight of every head of this sentence. NPZ is exact (float32, with tokens, positional "
               "vectors and per-head q, k, v; `export.data.load_npz` reads it back); CSV has one row per weight.")
    model = cap.model_name or "model"
    npz_name, csv_name, json_name = (file_name(model, "capture") + ".npz", file_name(model, "attention") + ".csv",
                                     file_name(model, "capture") + ".json")
    rows = data_export.csv_rows(cap)
    c1, c2, c3 = st.columns(3)
    with c1:
        data_button("NPZ (exact)", lambda: data_export.npz_bytes(cap), npz_name,
                    "application/octet-stream", "export_npz")
    with c2:
        data_button(f"CSV ({rows:,} rows)", lambda: data_export.csv_bytes(cap), csv_name,
                    "text/csv", "export_csv",
                    help="kind, layer, head, query, query_token, key, key_token, weight")
    with c3:
        data_button("JSON", lambda: data_export.json_bytes(cap), json_name, "application/json",
                    "export_json")

    if rows > LARGE_CSV_ROWS:
        st.caption(f"The CSV has {rows:,} rows (roughly {rows * 45 / 1e6:,.0f} MB) and takes a while to write; "
                   "the NPZ holds the same weights exactly in far fewer bytes.")

    st.subheader("Every head as an image")
    n_heads_total = {k: cap.n_layers(k) * cap.n_heads(k) for k in cap.kinds}
    k1, k2 = st.columns(2)
    kind = k1.selectbox("Attention", cap.kinds, key="export_kind",
                        format_func=lambda k: f"{k} ({n_heads_total[k]} heads)")
    fmt = k2.selectbox("Format", IMAGE_FORMATS, key="export_format", format_func=str.upper)
    width, height, scale = size_inputs("export_zip", 900, 800)
    if problem := chromium_problem():
        st.warning(problem)
        return
    if too_big := size_problem(width, height, scale, fmt):
        st.error(too_big)
        return
    n_layers, n_heads = cap.n_layers(kind), cap.n_heads(kind)
    wanted = (model, tuple(cap.tokens), kind, fmt, width, height, scale, settings.colorscale)
    if st.button(f"Prepare ZIP of {n_layers} layers x {n_heads} heads", key="export_zip_prepare"):
        bar = st.progress(0.0, text="Rendering...")
        try:
            data = data_export.all_heads_zip(
                cap, kind, fmt=fmt, width=width, height=height, scale=scale, colorscale=settings.colorscale,
                progress=lambda done, total: bar.progress(done / total, text=f"Rendered {done} of {total}"),
            )
        except Exception as exc:  # noqa: BLE001 - the page says what failed instead of a traceback
            bar.empty()
            st.error(f"The images could not be rendered: {failure_reason(exc)}")
            return
        bar.empty()
        st.session_state[ZIP_KEY] = (wanted, data)
    made = st.session_state.get(ZIP_KEY)
    if made and made[0] == wanted:
        st.download_button(f"Download ZIP ({len(made[1]) / 1e6:.1f} MB)", made[1],
                           file_name=file_name(model, "all_heads", kind, fmt) + ".zip", mime="application/zip",
                           key="export_zip_download", on_click="ignore", icon=":material/download:")
