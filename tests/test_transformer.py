"""Our Transformer on small random configs: shapes, masks, row sums, hook names."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from model.transformer import Transformer, TransformerConfig, sinusoidal_table


def small(arch: str, positional: str = "sinusoidal", norm_first: bool = False) -> Transformer:
    torch.manual_seed(0)
    cfg = TransformerConfig(vocab_size=50, d_model=16, n_heads=4, n_layers=2, n_decoder_layers=2, d_ff=32,
                            max_positions=32, positional=positional, arch=arch, norm_first=norm_first,
                            target_vocab_size=40 if arch == "encoder-decoder" else 0)
    return Transformer(cfg).eval()


def patterns(net: Transformer, *args) -> dict[str, torch.Tensor]:
    seen = {}
    handles = [m.register_forward_hook(lambda mod, a, out, n=n: seen.__setitem__(n, out))
               for n, m in net.hook_points().items() if n.endswith("hook_pattern")]
    try:
        with torch.inference_mode():
            net(*args)
    finally:
        for h in handles:
            h.remove()
    return seen


@pytest.mark.parametrize("arch", ["encoder", "decoder", "encoder-decoder"])
@pytest.mark.parametrize("norm_first", [False, True])
def test_rows_sum_to_one(arch, norm_first):
    net = small(arch, norm_first=norm_first)
    ids = torch.randint(1, 40, (2, 7))
    args = (ids, torch.randint(1, 40, (2, 5))) if arch == "encoder-decoder" else (ids,)
    seen = patterns(net, *args)
    assert seen, "no pattern hook fired"
    for name, p in seen.items():
        assert torch.allclose(p.sum(-1), torch.ones(p.shape[:-1]), atol=1e-5), name
        assert (p >= 0).all()


@pytest.mark.parametrize("arch", ["decoder", "encoder-decoder"])
def test_decoder_self_attention_is_causal(arch):
    net = small(arch)
    ids = torch.randint(1, 40, (1, 9))
    args = (ids, torch.randint(1, 40, (1, 6))) if arch == "encoder-decoder" else (ids,)
    seen = patterns(net, *args)
    decoder_self = [p for n, p in seen.items() if n.startswith("decoder") and ".self_attn." in n]
    assert len(decoder_self) == 2
    for p in decoder_self:
        T = p.shape[-1]
        above = p[..., torch.ones(T, T, dtype=torch.bool).triu(1)]
        assert torch.all(above == 0)
        assert torch.all(p[..., 0, 0] == 1)  # the first query can only see itself


def test_cross_attention_shape():
    net = small("encoder-decoder")
    seen = patterns(net, torch.randint(1, 40, (1, 9)), torch.randint(1, 40, (1, 4)))
    cross = seen["decoder.layers.1.cross_attn.hook_pattern"]
    assert cross.shape == (1, 4, 4, 9)  # (B, nh, target, source)


def test_hook_names_are_pinned():
    enc_dec = small("encoder-decoder")
    names = set(enc_dec.hook_points())
    attn = ["hook_q", "hook_k", "hook_v", "hook_scores", "hook_pattern"]
    expected = {"embeddings.hook_positions", "target_embeddings.hook_positions"}
    for i in range(2):
        expected |= {f"encoder.layers.{i}.self_attn.{h}" for h in attn}
        expected |= {f"decoder.layers.{i}.self_attn.{h}" for h in attn}
        expected |= {f"decoder.layers.{i}.cross_attn.{h}" for h in attn}
    assert names == expected


def test_padding_keys_get_no_attention():
    net = small("encoder")
    ids = torch.tensor([[5, 6, 7, 0, 0]])
    for p in patterns(net, ids).values():
        assert torch.all(p[..., 3:] == 0)


def test_sinusoidal_table_matches_formula():
    table = sinusoidal_table(50, 16).numpy()
    pos, i = 37, 3
    assert table[pos, 2 * i] == pytest.approx(math.sin(pos / 10000 ** (2 * i / 16)), abs=1e-5)
    assert table[pos, 2 * i + 1] == pytest.approx(math.cos(pos / 10000 ** (2 * i / 16)), abs=1e-5)
    assert np.allclose(table[0, 0::2], 0) and np.allclose(table[0, 1::2], 1)


def test_sinusoidal_is_a_buffer_not_a_parameter():
    net = small("encoder")
    assert "embeddings.sinusoid" in dict(net.named_buffers())
    assert not any("sinusoid" in n for n, _ in net.named_parameters())


def test_too_many_positions_is_refused():
    with pytest.raises(ValueError, match="exceed"):
        small("encoder")(torch.ones(1, 33, dtype=torch.long))
