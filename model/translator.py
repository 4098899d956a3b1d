"""The in-repo translator: spelled-out English dates into ISO dates.

"the third of march nineteen ninety eight" -> "1998-03-03". The output puts the
year first, so the decoder's cross-attention has to jump back to the end of the
source: the alignment is not a plain diagonal.

This module holds the task's vocabularies (word-level ``tokenizers`` models,
saved as ``tokenizer.json`` files that ``TextCodec`` reads) and the loader behind
``load_model("translator")``. ``model.train`` makes the corpus and the weights.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import WordLevel

from i18n import _
from model.adapters import TransformerAdapter
from model.codec import TextCodec
from model.errors import ModelLoadError
from model.files import load_weights, read_json, read_safetensors
from model.transformer import Transformer, TransformerConfig
from model.types import LoadedModel

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "translator"
SOURCE_FILE = "source_tokenizer.json"
TARGET_FILE = "target_tokenizer.json"
PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"

ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
        "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
ORDINALS = ["", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
            "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth", "eighteenth",
            "nineteenth", "twentieth"]
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december"]
# Words the date phrases are made of, beyond the number words and month names.
GLUE = ["the", "of", "and", "oh", "hundred", "thousand", "thirtieth", "st", "nd", "rd", "th", ",", "-"]
DIGITS = [str(d) for d in range(10)]

EXAMPLES = [
    "the third of march nineteen ninety eight",
    "march the third nineteen ninety eight",
    "the twenty-first of june two thousand and nine",
    "december 31st, 1999",
    "4th july twenty twenty six",
]


def source_words() -> list[str]:
    """Every word a source phrase can hold, in a fixed order (the ids follow it)."""
    words = ONES + TENS[2:] + ORDINALS[1:] + MONTHS + GLUE + DIGITS
    return list(dict.fromkeys(words))


def target_symbols() -> list[str]:
    return DIGITS + ["-"]


def source_tokenizer() -> Tokenizer:
    """Lower-cased words; digits one by one ("1998" -> 1 9 9 8, "3rd" -> 3 rd); punctuation on its own.

    ``<pad>`` and ``<unk>`` are ordinary entries, not added tokens: typing "<pad>" reads as
    ``< pad >``, three unknown words, instead of a padding id the encoder would hide.
    """
    vocab = {w: i for i, w in enumerate([PAD, UNK] + source_words())}
    tok = Tokenizer(WordLevel(vocab, unk_token=UNK))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace(),
                                                 pre_tokenizers.Digits(individual_digits=True)])
    return tok


def target_tokenizer() -> Tokenizer:
    """One token per character of "1998-03-03", between ``<s>`` and ``</s>``; decodes without spaces."""
    vocab = {w: i for i, w in enumerate([PAD, UNK, BOS, EOS] + target_symbols())}
    tok = Tokenizer(WordLevel(vocab, unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                 pre_tokenizers.Split(Regex("."), "isolated")])
    tok.add_special_tokens([PAD, UNK, BOS, EOS])
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A {EOS}", special_tokens=[(BOS, vocab[BOS]), (EOS, vocab[EOS])],
    )
    tok.decoder = decoders.Fuse()
    return tok


def save_tokenizers(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    source_tokenizer().save(str(folder / SOURCE_FILE))
    target_tokenizer().save(str(folder / TARGET_FILE))


def config_from_json(data: dict) -> TransformerConfig:
    fields = {f.name for f in dataclasses.fields(TransformerConfig)}
    try:
        cfg = TransformerConfig(**{k: v for k, v in data.items() if k in fields})
    except (TypeError, ValueError) as exc:
        raise ModelLoadError(_("the translator's config.json is not a model config: {reason}").format(
            reason=exc)) from exc
    if cfg.arch != "encoder-decoder":
        raise ModelLoadError(_("the translator's config.json describes an {arch} model, not an "
                               "encoder-decoder").format(arch=cfg.arch))
    return cfg


def load_translator(folder: Path = ASSETS) -> LoadedModel:
    """The trained translator from ``folder`` (``assets/translator`` by default)."""
    if not folder.is_dir():
        raise ModelLoadError(_("the translator's folder {folder} is missing: run `{command}`").format(
            folder=folder, command="python -m model.train"))
    data = read_json(folder / "config.json")
    cfg = config_from_json(data)
    state = read_safetensors(folder / "model.safetensors")
    for name in (SOURCE_FILE, TARGET_FILE):
        if not (folder / name).is_file():
            raise ModelLoadError(_("{name} is missing from {folder}: run `{command}`").format(
                name=name, folder=folder, command="python -m model.train"))
    net = Transformer(cfg)
    load_weights(net, state, folder / "model.safetensors")
    net.eval()
    training = data.get("training", {})
    accuracy = training.get("heldout_exact_match")
    description = (f"Translator trained here: spelled-out English dates -> ISO dates, "
                   f"{cfg.n_layers}+{cfg.n_decoder_layers} layers x {cfg.n_heads} heads, d_model {cfg.d_model}, "
                   "sinusoidal positions")
    if accuracy is not None:
        description += f"; {accuracy:.1%} exact match on held-out dates"
    target_codec = TextCodec(folder / TARGET_FILE, max_tokens=cfg.max_positions)
    return LoadedModel(
        name="translator", net=net, adapter=TransformerAdapter(net),
        codec=TextCodec(folder / SOURCE_FILE, max_tokens=cfg.max_positions),
        target_codec=target_codec, description=description,
        decoder_start_id=target_codec.full.token_to_id(BOS), eos_id=target_codec.full.token_to_id(EOS),
        max_target_tokens=cfg.max_positions,
    )
