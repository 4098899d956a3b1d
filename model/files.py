"""Reading checkpoint files: JSON configs and safetensors weights, each failure a ``ModelLoadError``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from i18n import _
from model.errors import ModelLoadError

MAX_JSON_BYTES = 50_000_000  # a config or shard index; tokenizer.json files are read by tokenizers


def read_json(path: Path) -> dict:
    if not path.is_file():
        raise ModelLoadError(_("{name} is missing from {folder}").format(name=path.name, folder=path.parent))
    if path.stat().st_size > MAX_JSON_BYTES:
        raise ModelLoadError(_("{path} is larger than a config file can be ({limit} bytes at most)").format(
            path=path, limit=f"{MAX_JSON_BYTES:,}"))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ModelLoadError(_("{path} is not valid JSON: {reason}").format(path=path, reason=exc)) from exc
    if not isinstance(data, dict):
        raise ModelLoadError(_("{path} should hold a JSON object").format(path=path))
    return data


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise ModelLoadError(_("{name} is missing from {folder}").format(name=path.name, folder=path.parent))
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelLoadError(_("{path} is not a readable safetensors file: {reason}").format(
            path=path, reason=exc)) from exc


def load_weights(net: nn.Module, state: dict[str, torch.Tensor], source: Path) -> None:
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0:3]
        raise ModelLoadError(_("the weights in {source} do not fit the model: {reason}").format(
            source=source, reason=" ".join(first))) from exc


def renamed(state: dict[str, torch.Tensor], names: list[tuple[str, str]]) -> dict[str, torch.Tensor]:
    """``state`` under our module paths: each name through the first (regex, replacement) of ``names``
    that matches it; names none matches are dropped (what our model does not use)."""
    ours = {}
    for name, tensor in state.items():
        for pattern, repl in names:
            new, n = re.subn(pattern, repl, name)
            if n:
                ours[new] = tensor
                break
    return ours
