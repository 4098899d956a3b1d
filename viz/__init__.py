"""Pure figure functions: arrays and labels in, ``plotly.graph_objects.Figure`` out. No Streamlit."""
