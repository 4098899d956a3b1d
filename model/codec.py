"""Text <-> token ids, with truncation that is reported instead of silent."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer

# Characters of a text read at most: the rest is cut before the tokenizer sees it, so a huge
# paste costs a bounded time and memory (10 MB of text took 20 s and 3 GB to tokenise).
MAX_TEXT_CHARS = 100_000


@dataclass(frozen=True)
class Encoded:
    """One tokenised text: ids and token strings in order, special tokens included."""

    ids: list[int]
    tokens: list[str]
    n_total: int  # tokens before truncation (of the characters read)
    n_chars: int = 0  # characters of the text given; only the first MAX_TEXT_CHARS are read
    unknown: tuple[str, ...] = ()  # distinct pieces of the text read as the unknown token

    @property
    def cut(self) -> bool:
        return self.n_chars > MAX_TEXT_CHARS

    @property
    def truncated(self) -> bool:
        return self.n_total > len(self.ids)


class TextCodec:
    """Wraps a ``tokenizers.Tokenizer`` loaded from a ``tokenizer.json``.

    Two instances of the tokenizer are kept, configured once: one that never
    truncates (to count what the user typed) and one that truncates to the
    model's length. Reconfiguring a shared tokenizer per call would race between
    browser sessions.
    """

    def __init__(self, tokenizer_file: str | Path, max_tokens: int) -> None:
        self.max_tokens = max_tokens
        self.full = Tokenizer.from_file(str(tokenizer_file))
        self.full.no_padding()
        self.full.no_truncation()
        self.truncating = Tokenizer.from_file(str(tokenizer_file))
        self.truncating.no_padding()
        self.truncating.enable_truncation(max_length=max_tokens)
        self.special_tokens = frozenset(
            t.content for t in self.full.get_added_tokens_decoder().values() if t.special
        )
        self.unk_token = getattr(self.full.model, "unk_token", None)
        # byte-level BPE spells tokens as bytes (model.readable shows them as text)
        self.byte_level = "ByteLevel" in (type(self.full.decoder).__name__, type(self.full.pre_tokenizer).__name__)

    @property
    def vocab_size(self) -> int:
        return self.full.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str) -> Encoded:
        """The tokens of ``text``'s first ``MAX_TEXT_CHARS`` characters, at most ``max_tokens`` of them."""
        n_chars = len(text)
        text = text[:MAX_TEXT_CHARS]
        full = self.full.encode(text)
        unknown: tuple[str, ...] = ()
        if self.unk_token and self.unk_token in full.tokens:
            unknown = tuple(dict.fromkeys(text[a:b] for (a, b), t in zip(full.offsets, full.tokens, strict=True)
                                          if t == self.unk_token))
        enc = self.truncating.encode(text) if len(full.ids) > self.max_tokens else full
        return Encoded(ids=list(enc.ids), tokens=list(enc.tokens), n_total=len(full.ids), n_chars=n_chars,
                       unknown=unknown)

    def decode(self, ids: list[int]) -> str:
        return self.full.decode(ids)
