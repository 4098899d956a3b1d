"""The network and what is read out of it. Knows nothing of Streamlit or Plotly."""

from model.capture_result import Capture
from model.checkpoints import LoadedModel, ModelLoadError, load_model
from model.hooks import capture

__all__ = ["Capture", "LoadedModel", "ModelLoadError", "capture", "load_model"]
