"""Export view: the whole Capture as NPZ, CSV or JSON, and every head of a kind as one ZIP of images."""

from __future__ import annotations

import streamlit as st

from export import data as data_export
from export.images import IMAGE_FORMATS, chromium_problem
from export.names import file_name
from i18n import _
from model import Capture
from ui.controls import kind_word
from ui.downloads import data_button, failure_reason, size_inputs, size_problem
from ui.settings import Settings

LARGE_CSV_ROWS = 1_000_000
ZIP_KEY = "_export_zip"  # (what the ZIP was made from, its bytes): kept so a rerun does not render it again


def render(cap: Capture, settings: Settings) -> None:
    st.subheader(_("The data"))
    st.caption(_("Every weight of every head of this sentence. NPZ is exact (float32, with tokens, positional "
                 "vectors and per-head q, k, v; `export.data.load_npz` reads it back); CSV has one row per weight."))
    model = cap.model_name or "model"
    npz_name, csv_name, json_name = (file_name(model, "capture") + ".npz", file_name(model, "attention") + ".csv",
                                     file_name(model, "capture") + ".json")
    rows = data_export.csv_rows(cap)
    c1, c2, c3 = st.columns(3)
    with c1:
        data_button(_("NPZ (exact)"), lambda: data_export.npz_bytes(cap), npz_name,
                    "application/octet-stream", "export_npz")
    with c2:
        data_button(_("CSV ({rows} rows)").format(rows=f"{rows:,}"), lambda: data_export.csv_bytes(cap), csv_name,
                    "text/csv", "export_csv",
                    help="kind, layer, head, query, query_token, key, key_token, weight")
    with c3:
        data_button("JSON", lambda: data_export.json_bytes(cap), json_name, "application/json",
                    "export_json")

    if rows > LARGE_CSV_ROWS:
        st.caption(_("The CSV has {rows} rows (roughly {mb} MB) and takes a while to write; the NPZ holds the same "
                     "weights exactly in far fewer bytes.").format(rows=f"{rows:,}", mb=f"{rows * 45 / 1e6:,.0f}"))

    st.subheader(_("Every head as an image"))
    n_heads_total = {k: cap.n_layers(k) * cap.n_heads(k) for k in cap.kinds}
    k1, k2 = st.columns(2)
    kind = k1.selectbox(_("Attention"), cap.kinds, key="export_kind",
                        format_func=lambda k: _("{kind} ({n} heads)").format(kind=kind_word(k),
                                                                             n=n_heads_total[k]))
    fmt = k2.selectbox(_("Format"), IMAGE_FORMATS, key="export_format", format_func=str.upper)
    width, height, scale = size_inputs("export_zip", 900, 800)
    if problem := chromium_problem():
        st.warning(problem)
        return
    if too_big := size_problem(width, height, scale, fmt):
        st.error(too_big)
        return
    n_layers, n_heads = cap.n_layers(kind), cap.n_heads(kind)
    wanted = (model, tuple(cap.tokens), kind, fmt, width, height, scale, settings.colorscale)
    if st.button(_("Prepare ZIP of {layers} layers x {heads} heads").format(layers=n_layers, heads=n_heads),
                 key="export_zip_prepare"):
        bar = st.progress(0.0, text=_("Rendering..."))
        try:
            data = data_export.all_heads_zip(
                cap, kind, fmt=fmt, width=width, height=height, scale=scale, colorscale=settings.colorscale,
                progress=lambda done, total: bar.progress(done / total, text=_("Rendered {done} of {total}").format(
                    done=done, total=total)),
            )
        except Exception as exc:  # noqa: BLE001 - the page says what failed instead of a traceback
            bar.empty()
            st.error(_("The images could not be rendered: {reason}").format(reason=failure_reason(exc)))
            return
        bar.empty()
        st.session_state[ZIP_KEY] = (wanted, data)
    made = st.session_state.get(ZIP_KEY)
    if made and made[0] == wanted:
        st.download_button(_("Download ZIP ({mb} MB)").format(mb=f"{len(made[1]) / 1e6:.1f}"), made[1],
                           file_name=file_name(model, "all_heads", kind, fmt) + ".zip", mime="application/zip",
                           key="export_zip_download", on_click="ignore", icon=":material/download:")
