"""Streamlit pieces of the dashboard: one module per view, each a ``render`` function."""
