"""Byte-pair encoding of words into subword units (Sennrich, Haddow & Birch 2016, "Neural Machine
Translation of Rare Words with Subword Units", §3.2 and Algorithm 1).

Learning: every word of the training text starts as its sequence of characters, the last one
marked as word-final (``</w>``).  Repeatedly, the most frequent pair of adjacent symbols
(counted over word frequencies) is merged into one new symbol, until ``num_merges`` merges are
learned or no pair occurs ``min_frequency`` times.  Merges never cross word boundaries.
Applying: a word is split into characters and the learned merges are applied in the order they
were learned (lowest rank first), as in subword-nmt's ``apply_bpe``.

Output format (subword-nmt's): every unit but the last of a word carries the continuation marker
``@@``, so ``merge_subwords`` restores the words exactly:  ``Fahrradfahrer`` →
``Fahr@@ rad@@ fahrer``.

Learning is incremental like subword-nmt's ``learn_bpe``: the pair statistics are updated only
for the words that contain the merged pair, and a max-heap with lazy invalidation finds the next
best pair, so 10k merges on Multi30k take seconds.  Ties are broken by the pair itself (the
smaller string pair first), which makes learning deterministic.
"""
from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterable, Sequence

from data.io import UserError, atomic_write, read_lines

EOW = "</w>"
MARK = "@@"
HEADER = "#version: nmt-bpe 1 (Sennrich et al. 2016; one merge 'left right' a line)"


def _pairs(symbols: Sequence[str]) -> Iterable[tuple[str, str]]:
    return zip(symbols, symbols[1:])


def _merge(symbols: tuple[str, ...], pair: tuple[str, str]) -> tuple[str, ...]:
    """Replace every non-overlapping occurrence of ``pair`` (left to right) by the joined symbol."""
    out, i, a, b = [], 0, pair[0], pair[1]
    while i < len(symbols):
        if i + 1 < len(symbols) and symbols[i] == a and symbols[i + 1] == b:
            out.append(a + b)
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return tuple(out)


class BPE:
    """A learned list of merges; segments tokenised sentences into subword units."""

    def __init__(self, merges: Sequence[tuple[str, str]]):
        self.merges = [tuple(m) for m in merges]
        self.ranks = {m: r for r, m in enumerate(self.merges)}
        self._cache: dict[str, tuple[str, ...]] = {}

    def fingerprint(self) -> str:
        """SHA-256 of the merges in order (recorded in the checkpoint of a BPE model)."""
        import hashlib  # only here
        return hashlib.sha256("\n".join(f"{a} {b}" for a, b in self.merges).encode("utf-8")).hexdigest()

    def __len__(self) -> int:
        return len(self.merges)

    # -- learning (Algorithm 1) -------------------------------------------------------------------
    @classmethod
    def learn(cls, sentences: Iterable[Sequence[str]], num_merges: int, min_frequency: int = 2) -> "BPE":
        """Learn up to ``num_merges`` merges from tokenised ``sentences``."""
        freq = Counter(w for s in sentences for w in s)
        types = sorted(freq)
        words = [tuple(w[:-1]) + (w[-1] + EOW,) for w in types]
        counts = [freq[w] for w in types]
        stats: Counter = Counter()                        # pair -> frequency over the corpus
        where: dict = defaultdict(set)                    # pair -> indices of words containing it
        for i, (w, c) in enumerate(zip(words, counts)):
            for p in _pairs(w):
                stats[p] += c
                where[p].add(i)
        heap = [(-c, p) for p, c in stats.items()]
        heapq.heapify(heap)
        merges: list[tuple[str, str]] = []
        while len(merges) < num_merges and heap:
            neg, pair = heapq.heappop(heap)
            if stats.get(pair, 0) != -neg:                # stale entry: its count changed since
                continue
            if -neg < min_frequency:
                break
            merges.append(pair)
            changed = set()
            for i in sorted(where.pop(pair, ())):
                old, c = words[i], counts[i]
                new = _merge(old, pair)
                if new == old:
                    continue
                for p in _pairs(old):
                    stats[p] -= c
                    changed.add(p)
                for p in _pairs(new):
                    stats[p] += c
                    where[p].add(i)
                    changed.add(p)
                words[i] = new
            stats.pop(pair, None)
            for p in changed:
                if stats.get(p, 0) > 0:
                    heapq.heappush(heap, (-stats[p], p))
                else:
                    stats.pop(p, None)
        return cls(merges)

    # -- applying ---------------------------------------------------------------------------------
    def segment_word(self, word: str) -> tuple[str, ...]:
        """The units of one word, continuation-marked: ``("Fahr@@", "rad@@", "fahrer")``."""
        units = self._cache.get(word)
        if units is not None:
            return units
        symbols = tuple(word[:-1]) + (word[-1] + EOW,)
        while len(symbols) > 1:
            pair = min(_pairs(symbols), key=lambda p: self.ranks.get(p, float("inf")))
            if pair not in self.ranks:
                break
            symbols = _merge(symbols, pair)
        units = tuple(s + MARK for s in symbols[:-1]) + (symbols[-1][: -len(EOW)],)
        self._cache[word] = units
        return units

    def segment(self, tokens: Sequence[str]) -> list[str]:
        """A tokenised sentence → its subword units."""
        return [u for w in tokens for u in self.segment_word(w)]

    # -- files ------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        with atomic_write(path) as fh:
            fh.write(HEADER + "\n")
            for a, b in self.merges:
                fh.write(f"{a} {b}\n")

    @classmethod
    def load(cls, path: str | Path) -> "BPE":
        lines = read_lines(path, allow_empty_lines=True)
        merges = []
        for n, line in enumerate(lines, start=1):
            if n == 1 and line.startswith("#version"):
                continue
            parts = line.split(" ")
            if len(parts) != 2 or not all(parts):
                raise UserError(f"{path}:{n}: not a BPE merge 'left right': {line[:60]!r}")
            merges.append((parts[0], parts[1]))
        return cls(merges)


def merge_subwords(units: Sequence[str]) -> list[str]:
    """Undo :meth:`BPE.segment`: join every unit ending in ``@@`` with the next one."""
    words, cur = [], ""
    for u in units:
        if u.endswith(MARK):
            cur += u[: -len(MARK)]
        else:
            words.append(cur + u)
            cur = ""
    if cur:  # a hypothesis may stop inside a word
        words.append(cur)
    return words
