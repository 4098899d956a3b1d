"""Text <-> token ids, with truncation that is reported instead of silent."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer

# Characters of a text read at most: the rest is cut before the tokenizer sees it, so a huge
# paste costs a bounded time and memory (10 MB of text took 20 s and 3 GB to tokenise).
MAX_TEXT_CHARS = 100_000


def cap_text(text: str) -> str:
    """``text`` cut to its first ``MAX_TEXT_CHARS`` characters."""
    return text[:MAX_TEXT_CHARS]


@dataclass(frozen=True)
class Encoded:
    """One tokenised text: ids and token strings in order, special tokens included."""

    ids: list[int]
    tokens: list[str]
    n_total: int  # tokens before truncation

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

    @property
    def vocab_size(self) -> int:
        return self.full.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str) -> Encoded:
        enc = self.full.encode(text)
        n_total = len(enc.ids)
        if n_total > self.max_tokens:
            enc = self.truncating.encode(text)
        return Encoded(ids=list(enc.ids), tokens=list(enc.tokens), n_total=n_total)

    def decode(self, ids: list[int]) -> str:
        return self.full.decode(ids)
