"""The network and what is read out of it. Knows nothing of Streamlit or Plotly."""

from model.capture import capture, capture_batch
from model.errors import ModelLoadError
from model.loading import load_model
from model.types import Capture, LoadedModel

__all__ = ["Capture", "LoadedModel", "ModelLoadError", "capture", "capture_batch", "load_model"]
