"""Train the in-repo translator: spelled-out English dates -> ISO dates, on a CPU, seeded.

    python -m model.train            # writes assets/translator/, prints held-out accuracy and time

A rerun that reproduces the weights already there rewrites nothing (see ``save``).

The corpus is generated here from a seed: a date drawn uniformly from 1900-2099,
written in one of several English forms ("the third of march nineteen ninety
eight", "march 3rd, 1998", "3 march twenty twenty six" ...), paired with its ISO
form. 1,000 pairs whose source text never occurs in training are held out and
decoded greedily to measure exact-match accuracy. The same seed, thread count
and torch build give the same weights.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import random
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save as save_safetensors

from model.decoding import greedy
from model.transformer import Transformer, TransformerConfig
from model.translator import (
    ASSETS,
    BOS,
    EOS,
    MONTHS,
    ONES,
    ORDINALS,
    TENS,
    config_from_json,
    save_tokenizers,
    source_tokenizer,
    target_tokenizer,
)

FIRST_DAY = dt.date(1900, 1, 1).toordinal()
LAST_DAY = dt.date(2099, 12, 31).toordinal()
N_HELDOUT = 1000


# --- The corpus -----------------------------------------------------------------------------

def cardinal(n: int, rng: random.Random) -> str:
    """1..99 in words; compounds sometimes hyphenated ("ninety-eight")."""
    if n < 20:
        return ONES[n]
    tens, ones = divmod(n, 10)
    if ones == 0:
        return TENS[tens]
    return f"{TENS[tens]}{'-' if rng.random() < 0.25 else ' '}{ONES[ones]}"


def ordinal(day: int, rng: random.Random) -> str:
    """1..31 as an ordinal word ("third", "twenty first", "thirtieth")."""
    if day <= 20:
        return ORDINALS[day]
    if day == 30:
        return "thirtieth"
    tens, ones = divmod(day, 10)
    return f"{TENS[tens]}{'-' if rng.random() < 0.25 else ' '}{ORDINALS[ones]}"


def ordinal_digits(day: int) -> str:
    suffix = "th" if 11 <= day <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def year_phrase(year: int, rng: random.Random) -> str:
    if rng.random() < 0.15:
        return str(year)
    century, rest = divmod(year, 100)
    if century == 19:
        if rest == 0:
            return "nineteen hundred"
        if rest < 10:
            return rng.choice([f"nineteen oh {ONES[rest]}", f"nineteen hundred and {ONES[rest]}"])
        return f"nineteen {cardinal(rest, rng)}"
    if rest == 0:
        return "two thousand"
    short = f"twenty {cardinal(rest, rng)}" if rest >= 10 else f"twenty oh {ONES[rest]}"
    return rng.choice([f"two thousand and {cardinal(rest, rng)}", f"two thousand {cardinal(rest, rng)}", short])


def date_phrase(date: dt.date, rng: random.Random) -> str:
    """One English way of saying ``date``."""
    month, year = MONTHS[date.month - 1], year_phrase(date.year, rng)
    r = rng.random()
    day = ordinal(date.day, rng) if r < 0.6 else ordinal_digits(date.day) if r < 0.85 else str(date.day)
    if r < 0.85:
        form = rng.choice(["the {d} of {m}", "{d} of {m}", "{d} {m}", "{m} the {d}", "{m} {d}"])
    else:
        form = rng.choice(["{d} {m}", "{m} {d}"])  # "3 march", "march 3": a bare number takes no "the"
    comma = "," if rng.random() < 0.3 else ""
    return f"{form.format(d=day, m=month)}{comma} {year}"


def random_pair(rng: random.Random) -> tuple[str, str]:
    date = dt.date.fromordinal(rng.randint(FIRST_DAY, LAST_DAY))
    return date_phrase(date, rng), date.isoformat()


def make_corpus(n_train: int, seed: int = 0, n_heldout: int = N_HELDOUT) -> tuple[list, list]:
    """``(train, heldout)`` lists of (source, target) pairs; no held-out source text is in train."""
    rng = random.Random(seed)
    heldout, seen = [], set()
    while len(heldout) < n_heldout:
        src, tgt = random_pair(rng)
        if src not in seen:
            seen.add(src)
            heldout.append((src, tgt))
    train = []
    while len(train) < n_train:
        src, tgt = random_pair(rng)
        if src not in seen:
            train.append((src, tgt))
    return train, heldout


# --- Tensors --------------------------------------------------------------------------------

def encode_batch(tokenizer, texts: list[str], pad_id: int = 0) -> torch.Tensor:
    """(N, T) ids, right-padded with ``pad_id``."""
    ids = [e.ids for e in tokenizer.encode_batch(texts)]
    width = max(len(i) for i in ids)
    return torch.tensor([i + [pad_id] * (width - len(i)) for i in ids])  # (N, T)


def model_config(src_vocab: int, tgt_vocab: int) -> TransformerConfig:
    return TransformerConfig(
        vocab_size=src_vocab, target_vocab_size=tgt_vocab, d_model=64, n_heads=4, n_layers=2,
        n_decoder_layers=2, d_ff=256, max_positions=32, positional="sinusoidal", arch="encoder-decoder",
        norm_first=True, activation="relu", layer_norm_eps=1e-5, pad_id=0,
    )


@dataclass
class TrainResult:
    net: Transformer
    losses: list[float]
    seconds: float


def train(steps: int = 1200, *, seed: int = 0, n_train: int = 40_000, batch_size: int = 128, lr: float = 2e-3,
          warmup: int = 100, log_every: int = 0, threads: int | None = 1) -> TrainResult:
    """Train from scratch; the data order and initial weights come from ``seed`` alone.

    ``threads`` sets torch's CPU threads for the run (None leaves them): the weights depend on
    it, and on a shared 2-core machine one thread is also the fastest (no threads waiting on each other).
    """
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _train(steps, seed, n_train, batch_size, lr, warmup, log_every)
    finally:
        torch.set_num_threads(previous)


def _train(steps: int, seed: int, n_train: int, batch_size: int, lr: float, warmup: int,
           log_every: int) -> TrainResult:
    torch.manual_seed(seed)
    src_tok, tgt_tok = source_tokenizer(), target_tokenizer()
    pairs, _ = make_corpus(n_train, seed)
    src = encode_batch(src_tok, [s for s, _ in pairs])  # (N, S)
    tgt = encode_batch(tgt_tok, [t for _, t in pairs])  # (N, U)
    net = Transformer(model_config(src_tok.get_vocab_size(), tgt_tok.get_vocab_size()))
    net.train()
    opt = torch.optim.AdamW(net.parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=0.01)

    def schedule(step: int) -> float:
        # Linear warm-up, then cosine decay to zero: stable at a high rate, then converge.
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    order = torch.Generator().manual_seed(seed)
    perm, cursor = torch.randperm(len(pairs), generator=order), 0
    losses = []
    start = time.perf_counter()
    for step in range(steps):
        if cursor + batch_size > len(perm):
            perm, cursor = torch.randperm(len(pairs), generator=order), 0
        idx = perm[cursor: cursor + batch_size]
        cursor += batch_size
        s, t = src[idx], tgt[idx]
        s = s[:, : int((s != 0).sum(1).max())]  # (B, S'): drop columns that are padding in every row
        t = t[:, : int((t != 0).sum(1).max())]  # (B, U')
        logits = net(s, t[:, :-1])  # (B, U'-1, V): each position predicts the next target token
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), t[:, 1:].reshape(-1), ignore_index=0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if log_every and (step + 1) % log_every == 0:
            print(f"step {step + 1:5d}  loss {sum(losses[-log_every:]) / log_every:.4f}", flush=True)
    net.eval()
    return TrainResult(net=net, losses=losses, seconds=time.perf_counter() - start)


# --- Evaluation -----------------------------------------------------------------------------

@torch.inference_mode()
def translate(net: Transformer, sources: list[str], batch_size: int = 250) -> list[str]:
    """Greedy decoding of many sources at once, the same loop the dashboard's captures decode with."""
    src_tok, tgt_tok = source_tokenizer(), target_tokenizer()
    bos, eos = (tgt_tok.token_to_id(t) for t in (BOS, EOS))
    out_texts = []
    for i in range(0, len(sources), batch_size):
        src = encode_batch(src_tok, sources[i: i + batch_size])  # (B, S)
        memory = net.encode(src)  # (B, S, d)
        rows = greedy(lambda tgt, memory=memory, src=src: net.decode(tgt, memory, src), src.shape[0], bos, eos,
                      net.cfg.max_positions)
        out_texts += [tgt_tok.decode(row) for row in rows]
    return out_texts


def exact_match(net: Transformer, pairs: list[tuple[str, str]]) -> float:
    outputs = translate(net, [s for s, _ in pairs])
    return sum(o == t for o, (_, t) in zip(outputs, pairs, strict=True)) / len(pairs)


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write ``data`` unless ``path`` already holds exactly it; says whether it wrote."""
    if path.is_file() and path.read_bytes() == data:
        return False
    path.write_bytes(data)
    return True


def describes(config_path: Path, cfg: TransformerConfig) -> bool:
    """Whether the config file there reads back as ``cfg`` and holds a training record."""
    try:
        data = json.loads(config_path.read_text(encoding="utf-8"))
        return isinstance(data.get("training"), dict) and config_from_json(data) == cfg
    except (OSError, ValueError, AttributeError):  # ModelLoadError is a ValueError
        return False


def save(net: Transformer, folder: Path, training: dict) -> bool:
    """Write the weights, config and tokenizers to ``folder``; returns whether the weights changed.

    A file that would get the bytes it has is left alone. When the weights are the ones the folder holds
    (same seed, threads and torch build) and its config describes this model, the config stays as it is,
    with the training record of the run that made them: a rerun's time differs, its weights do not, and
    the tracked files stay as they are (also when the config gained fields with defaults since).
    """
    folder.mkdir(parents=True, exist_ok=True)
    weights = save_safetensors({k: v.contiguous() for k, v in net.state_dict().items()})
    changed = write_if_changed(folder / "model.safetensors", weights)
    config_path = folder / "config.json"
    if changed or not describes(config_path, net.cfg):
        config = {**asdict(net.cfg), "training": training}
        write_if_changed(config_path, (json.dumps(config, indent=2) + "\n").encode("utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        save_tokenizers(Path(tmp))
        for made in sorted(Path(tmp).iterdir()):
            write_if_changed(folder / made.name, made.read_bytes())
    return changed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads; the weights depend on it (one thread: the same everywhere)")
    parser.add_argument("--out", type=Path, default=ASSETS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)  # for the held-out decoding too
    result = train(args.steps, seed=args.seed, log_every=100, threads=args.threads)
    _, heldout = make_corpus(0, args.seed)
    accuracy = exact_match(result.net, heldout)
    print(f"held-out exact match: {accuracy:.2%} of {len(heldout)} pairs")
    print(f"training time: {result.seconds:.0f} s ({args.steps} steps, {args.threads} threads)")
    changed = save(result.net, args.out, {
        "seed": args.seed, "steps": args.steps, "threads": args.threads, "final_loss": result.losses[-1],
        "heldout_exact_match": accuracy, "heldout_pairs": len(heldout), "train_seconds": round(result.seconds, 1),
        "torch": torch.__version__,
    })
    print(f"wrote {args.out}" if changed else f"the weights are the ones {args.out} holds: left it as it was")


if __name__ == "__main__":
    main()
