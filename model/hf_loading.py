"""Local Hugging Face checkpoints: BERT, RoBERTa, DistilBERT, GPT-2, T5 and the Llama family
(Llama, Qwen2, Mistral), loaded by folder.

The network is the ``transformers`` model itself, loaded with eager attention (its
weights computed explicitly, as the reference parity tests compare against). Its
family's adapter (``model.adapters``) says what a capture hooks.

Weights load from safetensors only: a folder whose weights are only in a pickle
file (``pytorch_model.bin``, ``.pt``, ``.pkl``) is refused, never unpickled, and
no code from the folder runs (``trust_remote_code=False``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from i18n import _
from model.adapters import HF_FAMILIES, llama_positions
from model.codec import TextCodec
from model.errors import ModelLoadError
from model.files import read_json
from model.types import LoadedModel

if TYPE_CHECKING:
    from transformers import PretrainedConfig


PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
MAX_PARAM_BYTES_ENV = "ATTENTION_DASHBOARD_MAX_PARAM_BYTES"
DEFAULT_MAX_PARAM_BYTES = 4 * 2**30  # float32 parameters: about 1 billion
PROBE_TEXT = "Hello, world! 123 <b>é</b> 中文 \n\t 🙂"
MAX_TARGET_TOKENS = 64  # greedy decoding stops here if the model never writes </s>
LLAMA_TYPES = ("llama", "qwen2", "mistral")  # decoders with RoPE, grouped-query attention, a gated MLP


def check_shard_index(folder: Path) -> None:
    """Every shard named in ``model.safetensors.index.json`` is a safetensors file inside ``folder``.

    ``transformers`` would otherwise follow the index to any file it names, including a pickle
    (``weights.bin``, read with ``torch.load``) or a path outside the folder.
    """
    index = read_json(folder / "model.safetensors.index.json")
    weight_map = index.get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
        raise ModelLoadError(_("model.safetensors.index.json in {folder} has no weight_map").format(folder=folder))
    real_folder = Path(os.path.realpath(folder))
    for shard in sorted({str(v) for v in weight_map.values()}):
        if not shard.endswith(".safetensors"):
            raise ModelLoadError(_(
                "model.safetensors.index.json in {folder} maps weights to a file that is not safetensors "
                "(a pickle can run arbitrary code, so it is not read). Save the model as safetensors."
            ).format(folder=folder))
        real = Path(os.path.realpath(folder / shard))
        if Path(shard).is_absolute() or real.parent != real_folder:
            raise ModelLoadError(_(
                "model.safetensors.index.json in {folder} names a shard outside the folder; "
                "shards must be files in the checkpoint folder itself."
            ).format(folder=folder))
        if not real.is_file():
            raise ModelLoadError(_("a shard named in model.safetensors.index.json is missing from {folder}").format(
                folder=folder))


def check_weights(folder: Path) -> None:
    """Refuse a folder without safetensors weights, naming the pickle files it has instead."""
    if (folder / "model.safetensors.index.json").is_file():
        check_shard_index(folder)
        return
    if (folder / "model.safetensors").is_file():
        return
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise ModelLoadError(_(
            "{folder} has its weights only in pickle files ({files}); unpickling can run "
            "arbitrary code, so they are not read. Save the model as safetensors "
            "(`model.save_pretrained(folder, safe_serialization=True)`) and try again."
        ).format(folder=folder, files=", ".join(pickles)))
    raise ModelLoadError(_("{name} is missing from {folder}").format(name="model.safetensors", folder=folder))


def config_int(config: dict, *names: str, default: int | None = None) -> int:
    """The first of ``names`` that ``config`` sets, as a positive whole number."""
    for name in names:
        if name in config and config[name] is not None:
            value = config[name]
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ModelLoadError(_("config.json: {name} should be a positive whole number, not {value}").format(
                    name=name, value=f"{value!r:.40}"))
            return value
    if default is None:
        raise ModelLoadError(_("config.json sets none of {names}").format(names=", ".join(names)))
    return default


def estimated_parameters(model_type: str, config: dict) -> int:
    """About how many parameters the model in ``config`` has, read before anything is allocated.

    Embeddings plus, per layer, the four attention projections and the two feed-forward matrices;
    T5's decoder layers add cross-attention. The Llama family has no position table, fewer key and
    value heads than query heads, three feed-forward matrices, and its own output matrix unless tied.
    Norms and biases are too small to matter here.
    """
    d = config_int(config, "hidden_size", "n_embd", "d_model", "dim")
    layers = config_int(config, "num_hidden_layers", "n_layer", "num_layers", "n_layers")
    ff = config_int(config, "intermediate_size", "n_inner", "d_ff", "hidden_dim", default=4 * d)
    vocab = config_int(config, "vocab_size")
    if model_type in LLAMA_TYPES:
        heads = config_int(config, "num_attention_heads")
        kv_heads = config_int(config, "num_key_value_heads", default=heads)
        d_head = config_int(config, "head_dim", default=max(d // heads, 1))
        attention = 2 * d * heads * d_head + 2 * d * kv_heads * d_head  # q and o; k and v
        embeddings = vocab * d * (1 if config.get("tie_word_embeddings") else 2)
        return embeddings + layers * (attention + 3 * d * ff)
    positions = config_int(config, "max_position_embeddings", "n_positions", default=1)
    total = vocab * d + positions * d + layers * (4 * d * d + 2 * d * ff)
    if model_type == "t5":
        decoder_layers = config_int(config, "num_decoder_layers", default=layers)
        total += decoder_layers * (8 * d * d + 2 * d * ff) + vocab * d
    return total


def max_parameter_bytes() -> int:
    """The server's limit on a checkpoint's float32 parameters, from ``ATTENTION_DASHBOARD_MAX_PARAM_BYTES``."""
    raw = os.environ.get(MAX_PARAM_BYTES_ENV, "")
    return int(raw) if raw.strip().isdigit() else DEFAULT_MAX_PARAM_BYTES


def check_size(folder: Path, model_type: str, config: dict) -> None:
    """Refuse, before allocating, a model whose float32 parameters would pass the server's limit."""
    needed = 4 * estimated_parameters(model_type, config)
    limit = max_parameter_bytes()
    if needed > limit:
        raise ModelLoadError(_(
            "the model in {folder} would need about {needed} GiB for its parameters; this server "
            "loads at most {limit} GiB ({env})."
        ).format(folder=folder, needed=f"{needed / 2**30:,.1f}", limit=f"{limit / 2**30:,.1f}",
                 env=MAX_PARAM_BYTES_ENV))


def check_tokenizer(folder: Path, codec: TextCodec, n_embeddings: int) -> None:
    """The tokenizer's ids fit the model's embedding table, and it can tokenise a probe text at all."""
    largest = max(codec.full.get_vocab(with_added_tokens=True).values(), default=0)
    if largest >= n_embeddings:
        raise ModelLoadError(_(
            "{path} has token id {largest}, but the model has only {n_embeddings} "
            "token embeddings: the tokenizer does not belong to these weights."
        ).format(path=folder / "tokenizer.json", largest=largest, n_embeddings=n_embeddings))
    try:
        codec.full.encode(PROBE_TEXT)
    except BaseException as exc:  # noqa: BLE001 - a panic inside tokenizers is a BaseException
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        raise ModelLoadError(_("{path} fails on ordinary text: {reason}").format(
            path=folder / "tokenizer.json", reason=type(exc).__name__)) from None


def eos_of(config: PretrainedConfig) -> int | None:
    """The token where generation stops; the first, where a config lists several (Llama 3)."""
    eos = getattr(config, "eos_token_id", None)
    if isinstance(eos, list | tuple):
        eos = eos[0] if eos else None
    return None if eos is None else int(eos)


def check_pad_id(folder: Path, config: dict) -> None:
    """The id that fills a padded batch names a row of the embedding table (``vocab_size`` rows)."""
    pad, vocab = config.get("pad_token_id"), config_int(config, "vocab_size")
    if pad is not None and (isinstance(pad, bool) or not isinstance(pad, int) or not 0 <= pad < vocab):
        raise ModelLoadError(_(
            "config.json in {folder} sets pad_token_id {pad}, but the model has only {vocab} "
            "token embeddings (vocab_size): the config does not belong to these weights."
        ).format(folder=folder, pad=f"{pad!r:.40}", vocab=vocab))


def max_tokens_of(model_type: str, config: PretrainedConfig) -> int:
    """How many tokens the model reads: its position table, less RoBERTa's offset; the Llama family's
    attention window where it has one that is shorter."""
    if model_type == "t5":
        return 512  # relative positions have no hard limit; T5 was trained on 512 tokens
    if model_type in LLAMA_TYPES:
        return llama_positions(config)
    n = int(config.max_position_embeddings)
    if model_type == "roberta":
        return n - int(config.pad_token_id) - 1  # positions start after the padding index
    return n


def load_hf_dir(folder: Path, name: str | None = None) -> LoadedModel:
    """A local ``transformers`` checkpoint: config.json, model.safetensors and tokenizer.json."""
    import transformers  # here, not at the top: importing it takes seconds that MiniLM users need not wait

    config_json = read_json(folder / "config.json")
    model_type = str(config_json.get("model_type", ""))
    if model_type not in HF_FAMILIES:
        raise ModelLoadError(_(
            "{folder} holds a '{model_type}' model; supported architectures: {supported}."
        ).format(folder=folder, model_type=model_type or "unknown", supported=", ".join(sorted(HF_FAMILIES))))
    class_name, adapter_class = HF_FAMILIES[model_type]
    check_size(folder, model_type, config_json)
    check_pad_id(folder, config_json)
    adapter_class.check_config(config_json)
    check_weights(folder)
    if not (folder / "tokenizer.json").is_file():
        raise ModelLoadError(_(
            "tokenizer.json is missing from {folder}: save the fast tokenizer there "
            "(`tokenizer.save_pretrained(folder)`)."
        ).format(folder=folder))
    cls = getattr(transformers, class_name)
    # A checkpoint folder is user input: any failure inside transformers becomes a message, not a traceback.
    try:
        net, info = cls.from_pretrained(
            str(folder), attn_implementation="eager", dtype=torch.float32, local_files_only=True,
            use_safetensors=True, trust_remote_code=False, output_loading_info=True,
        )
    except Exception as exc:  # noqa: BLE001
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
        # a validator's message opens with "...:" and says what is wrong on the next line
        first = " ".join(lines[:2]) if lines[0].endswith(":") else lines[0]
        raise ModelLoadError(_("{folder} could not be loaded as {model_type}: {reason}").format(
            folder=folder, model_type=model_type, reason=first)) from exc
    # A pooler is never read here; anything else left at random would show random attention.
    missing = sorted(k for k in info.get("missing_keys", ()) if not k.startswith("pooler."))
    if missing:
        raise ModelLoadError(_(
            "the weights in {folder} do not fit its config.json: {n_missing} missing, e.g. {first}"
        ).format(folder=folder, n_missing=len(missing), first=missing[0]))
    net.eval()
    try:
        codec = TextCodec(folder / "tokenizer.json", max_tokens=max_tokens_of(model_type, net.config))
    except BaseException as exc:  # noqa: BLE001 - tokenizers raises a bare Exception, or panics, on a bad file
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        raise ModelLoadError(_("{path} is not a readable tokenizer: {reason}").format(
            path=folder / "tokenizer.json", reason=exc)) from exc
    check_tokenizer(folder, codec, net.get_input_embeddings().num_embeddings)
    cfg = net.config
    adapter = adapter_class.for_model(net)
    kv_heads = getattr(adapter, "n_kv_heads", adapter.n_heads)
    description = (f"{model_type} checkpoint at {folder}: {cfg.num_hidden_layers} layers x "
                   f"{cfg.num_attention_heads} heads"
                   f"{f' ({kv_heads} key/value heads)' if kv_heads != adapter.n_heads else ''}, {adapter.arch}")
    return LoadedModel(
        name=name or folder.name, net=net, codec=codec, adapter=adapter,
        target_codec=codec if adapter.arch == "encoder-decoder" else None,
        description=description,
        decoder_start_id=getattr(cfg, "decoder_start_token_id", None),
        eos_id=eos_of(cfg),
        max_target_tokens=min(MAX_TARGET_TOKENS, codec.max_tokens),
    )
