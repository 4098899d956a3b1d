"""Llama-family checkpoints in our Transformer: a Hugging Face ``LlamaConfig`` dict -> our config,
and its parameter names -> our module paths.

SmolLM2 (``model.smollm2``) is read this way, and the parity tests map a ``transformers``
``LlamaForCausalLM`` onto ours with the same two functions.
"""

from __future__ import annotations

import torch

from i18n import _
from model.errors import ModelLoadError
from model.files import renamed
from model.transformer import TransformerConfig


def llama_config(hf: dict, max_positions: int | None = None) -> TransformerConfig:
    """Our config for a Llama ``config.json``: RoPE, grouped-query attention, RMSNorm, SwiGLU, no biases."""
    try:
        if hf.get("rope_scaling") or (hf.get("rope_parameters") or {}).get("rope_type", "default") != "default":
            raise ValueError(_("only plain RoPE is supported, not a scaled variant"))
        theta = hf.get("rope_theta") or (hf.get("rope_parameters") or {}).get("rope_theta") or 10000.0
        if hf.get("attention_bias") or hf.get("mlp_bias"):
            raise ValueError(_("Llama projections with biases are not supported"))
        if hf.get("hidden_act", "silu") != "silu":
            raise ValueError(_("hidden_act {name} is not silu").format(name=repr(hf.get("hidden_act"))))
        return TransformerConfig(
            vocab_size=int(hf["vocab_size"]),
            d_model=int(hf["hidden_size"]),
            n_heads=int(hf["num_attention_heads"]),
            n_kv_heads=int(hf.get("num_key_value_heads") or hf["num_attention_heads"]),
            n_layers=int(hf["num_hidden_layers"]),
            d_ff=int(hf["intermediate_size"]),
            max_positions=int(max_positions or hf["max_position_embeddings"]),
            positional="rope",
            rope_theta=float(theta),
            arch="decoder",
            norm_first=True,
            norm="rms",
            activation="swiglu",
            layer_norm_eps=float(hf.get("rms_norm_eps", 1e-6)),
            bias=False,
            tie_embeddings=bool(hf.get("tie_word_embeddings", False)),
            pad_id=int(hf.get("pad_token_id") or 0),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(_("config.json does not describe a Llama decoder: {reason}").format(reason=exc)) from exc


# Hugging Face Llama parameter names -> ours (regex, replacement).
LLAMA_NAMES = [
    (r"^model\.embed_tokens\.", "embeddings.tokens."),
    (r"^model\.layers\.(\d+)\.self_attn\.q_proj\.", r"decoder.layers.\1.self_attn.query."),
    (r"^model\.layers\.(\d+)\.self_attn\.k_proj\.", r"decoder.layers.\1.self_attn.key."),
    (r"^model\.layers\.(\d+)\.self_attn\.v_proj\.", r"decoder.layers.\1.self_attn.value."),
    (r"^model\.layers\.(\d+)\.self_attn\.o_proj\.", r"decoder.layers.\1.self_attn.out."),
    (r"^model\.layers\.(\d+)\.input_layernorm\.", r"decoder.layers.\1.attn_block.norm."),
    (r"^model\.layers\.(\d+)\.post_attention_layernorm\.", r"decoder.layers.\1.ffn_block.norm."),
    (r"^model\.layers\.(\d+)\.mlp\.gate_proj\.", r"decoder.layers.\1.ffn.gate."),
    (r"^model\.layers\.(\d+)\.mlp\.up_proj\.", r"decoder.layers.\1.ffn.up."),
    (r"^model\.layers\.(\d+)\.mlp\.down_proj\.", r"decoder.layers.\1.ffn.down."),
    (r"^model\.norm\.", "decoder.final_norm."),
    (r"^lm_head\.", "lm_head."),
]


def llama_state_dict(hf_state: dict[str, torch.Tensor], cfg: TransformerConfig) -> dict[str, torch.Tensor]:
    """Rename a Hugging Face Llama state dict to our module paths (RoPE's inverse frequencies are
    recomputed, not read). A tied LM head is the token embedding itself."""
    ours = renamed(hf_state, LLAMA_NAMES)
    if cfg.tie_embeddings and "embeddings.tokens.weight" in ours:
        ours["lm_head.weight"] = ours["embeddings.tokens.weight"]
    return ours
