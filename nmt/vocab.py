"""Word-level vocabularies with a size cap (the "shortlist" of Bahdanau et al. 2015 §4.1 / Cho et al. 2014).

Both papers train on the K most frequent words of each language (K = 30,000 there) and map every
other word to a single ``<unk>`` token; the vocabulary is built from the *training* data only.
The unknown-word rate (fraction of running tokens outside the vocabulary) is what such a cap costs,
so :func:`unk_rate` is recorded per split and side in every run's ``vocab.json``.

Special ids are fixed for the whole suite (imported by the model and the search)::

    PAD=0 <pad>   UNK=1 <unk>   BOS=2 <s>   EOS=3 </s>
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

from data.io import UNK_WORD, UserError, read_lines, write_lines

PAD, UNK, BOS, EOS = 0, 1, 2, 3
PAD_TOKEN, UNK_TOKEN, BOS_TOKEN, EOS_TOKEN = "<pad>", UNK_WORD, "<s>", "</s>"
SPECIALS = (PAD_TOKEN, UNK_TOKEN, BOS_TOKEN, EOS_TOKEN)


class Vocab:
    """A fixed list of tokens: ``itos[i]`` is the token of id ``i``; ``stoi`` the inverse map.

    The four specials always come first (ids 0-3); ``tokens`` are appended in the given order
    (duplicates and specials in ``tokens`` are ignored).
    """

    def __init__(self, tokens: Iterable[str] = ()):
        self.itos: list[str] = list(SPECIALS)
        seen = set(SPECIALS)
        for t in tokens:
            if t not in seen:
                seen.add(t)
                self.itos.append(t)
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}

    def fingerprint(self) -> str:
        """SHA-256 of the entries in order: what a checkpoint records to recognise its vocabulary."""
        import hashlib  # only here
        return hashlib.sha256("\n".join(self.itos).encode("utf-8")).hexdigest()

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocab) and self.itos == other.itos

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Token ids; out-of-vocabulary tokens become ``UNK`` (no BOS/EOS added)."""
        get = self.stoi.get
        return [get(t, UNK) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens up to (not including) the first ``EOS``; ``PAD`` and ``BOS`` are dropped."""
        out = []
        for i in ids:
            i = int(i)
            if i == EOS:
                break
            if i in (PAD, BOS):
                continue
            out.append(self.itos[i])
        return out

    def save(self, path: str | Path) -> None:
        """One token a line, in id order (specials included), written atomically."""
        write_lines(path, self.itos)

    @classmethod
    def load(cls, path: str | Path) -> "Vocab":
        itos = read_lines(path, allow_empty_lines=False)
        if tuple(itos[:len(SPECIALS)]) != SPECIALS:
            raise UserError(f"{path}:1: a vocabulary file must start with {' '.join(SPECIALS)}")
        for n, t in enumerate(itos, 1):
            if len(t.split()) != 1 or t != t.strip():
                raise UserError(f"{path}:{n}: a vocabulary entry must be one token without spaces, got {t!r}")
        if len(set(itos)) != len(itos):
            dup = next(t for t, c in Counter(itos).items() if c > 1)
            raise UserError(f"{path}: token {dup!r} appears twice")
        return cls(itos)


def build_vocab(sentences: Iterable[Sequence[str]], max_size: int | None) -> Vocab:
    """The ``max_size`` - 4 most frequent tokens of ``sentences`` (lists of tokens) plus the specials.

    ``max_size`` counts the four specials, so ``len(vocab) <= max_size`` is the model's softmax
    size; ``None`` keeps every token. Ties in frequency are broken by first occurrence in the
    data, so the result is deterministic for a given corpus.
    """
    if max_size is not None and max_size < len(SPECIALS) + 1:
        raise UserError(f"vocabulary size {max_size} is too small (at least {len(SPECIALS) + 1}: "
                        f"{len(SPECIALS)} special tokens + 1 word)")
    counts: Counter[str] = Counter()
    for sent in sentences:
        counts.update(sent)
    for s in SPECIALS:  # a literal "<unk>" in the data is the unknown word, not a vocabulary entry
        counts.pop(s, None)
    # Counter keeps insertion (= first occurrence) order; sorted() is stable -> ties keep it.
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    if max_size is not None:
        ranked = ranked[:max_size - len(SPECIALS)]
    return Vocab(t for t, _ in ranked)


def unk_rate(sentences: Iterable[Sequence[str]], vocab: Vocab) -> float:
    """Fraction of running tokens in ``sentences`` that ``vocab`` maps to ``<unk>``."""
    n = oov = 0
    stoi = vocab.stoi
    for sent in sentences:
        n += len(sent)
        oov += sum(1 for t in sent if t not in stoi or t == UNK_TOKEN)
    return oov / n if n else 0.0
