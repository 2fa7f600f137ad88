"""Test–train overlap: how much of each test sentence already occurs in the training data.

**Measure.** For test sentence *i* with tokens ``t_1 … t_L`` (the *tokenised, truecased source*
side that the systems read, ``p.file("test", "src")`` against ``p.file("train", "src")``), its
coverage is the share of its word n-grams, ``n = min(6, L)``, that occur anywhere in the training
side: ``|{j : t_j … t_{j+n-1} ∈ train n-grams}| / (L − n + 1)`` (n-gram *positions*, so a repeated
6-gram counts each time). Why the source: a system can only recall a training translation through
the source it is given — the source is what a phrase table or an encoder matches. Why
``n = min(6, L)``: a verse shorter than 6 tokens has no 6-gram, and leaving it at 0 would call
"Jesus wept." novel even when it is a training verse; with ``n = L`` its coverage is 1 iff the whole
sentence occurs in a training sentence, else 0 (the number of such short sentences is reported).
An empty line has coverage 0.

**Memory.** The training n-grams are kept as one sorted ``uint64`` array of hashes per order used
(~8 bytes per training n-gram: ~6 MB for the bible's 6-grams), never as Python tuples. Token ids
come from one dictionary; an n-gram's hash is the polynomial ``h = (((id₁·M + id₂)·M + …)·M + idₙ)
mod 2⁶⁴`` with an odd 64-bit ``M``, computed for all positions at once with wrapping ``uint64``
arithmetic; membership is ``np.searchsorted``. A false "covered" needs a 64-bit collision: for
``N`` training n-grams the chance that a given test n-gram collides is ≈ ``N / 2⁶⁴`` (< 10⁻¹²).

``python -m compare overlap`` prints the measure for a prepared corpus.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from data.io import UserError, read_lines
from data.prepare import add_corpus_args, prepared_from_args
from evaluation.score import bleu_from_stats

#: n-gram order of the check (the issue's 6-gram check)
ORDER = 6
#: a test sentence "largely occurs in train" at this coverage or more
THRESHOLD = 0.8
_M = np.uint64(0x9E3779B97F4A7C15)


class _Ids:
    def __init__(self):
        self.vocab: dict[str, int] = {}

    def encode(self, sentences: Iterable[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        """All tokens as one id array (ids start at 1) and the sentence start offsets ``[len+1]``."""
        ids, offsets = [], [0]
        v = self.vocab
        for toks in sentences:
            for t in toks:
                ids.append(v.setdefault(t, len(v) + 1))
            offsets.append(len(ids))
        return np.asarray(ids, dtype=np.uint64), np.asarray(offsets, dtype=np.int64)


def _hashes(ids: np.ndarray, offsets: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of every n-gram lying inside one sentence, and its start position: ``[K]``, ``[K]``."""
    if len(ids) < n:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    k = len(ids) - n + 1
    h = np.zeros(k, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            h = h * _M + ids[j:j + k]
    ends = np.repeat(offsets[1:], np.diff(offsets))[:k]      # end offset of the sentence of each start
    ok = np.arange(k) + n <= ends
    return h[ok], np.flatnonzero(ok)


@dataclass
class Overlap:
    coverage: np.ndarray   # [n_test] share of the sentence's n-grams found in train
    lengths: np.ndarray    # [n_test] tokens
    order: int
    threshold: float

    @property
    def overlapping(self) -> np.ndarray:
        """Indices of the test sentences with coverage ≥ threshold."""
        return np.flatnonzero(self.coverage >= self.threshold)

    @property
    def mean_coverage(self) -> float:
        return float(self.coverage.mean()) if len(self.coverage) else float("nan")

    @property
    def n_short(self) -> int:
        """Non-empty test sentences shorter than the order (checked with n = their length)."""
        return int(np.sum((self.lengths > 0) & (self.lengths < self.order)))

    def keep_mask(self) -> np.ndarray:
        """True for the test sentences kept when the overlapping ones are left out."""
        return self.coverage < self.threshold


def coverage(test: Sequence[Sequence[str]], train: Iterable[Sequence[str]], order: int = ORDER,
             threshold: float = THRESHOLD) -> Overlap:
    """Coverage of every test sentence (token lists) by the training n-grams (module docstring)."""
    if order < 1:
        raise UserError(f"n-gram order must be >= 1, got {order}")
    enc = _Ids()
    train_ids, train_off = enc.encode(train)
    test = [list(t) for t in test]
    lengths = np.array([len(t) for t in test], dtype=np.int64)
    test_ids, test_off = enc.encode(test)
    cov = np.zeros(len(test))
    for n in sorted({int(min(order, L)) for L in lengths if L > 0}):
        table = np.unique(_hashes(train_ids, train_off, n)[0])
        h, start = _hashes(test_ids, test_off, n)
        sent = np.searchsorted(test_off, start, side="right") - 1      # sentence of each n-gram
        use = np.minimum(order, lengths[sent]) == n                    # sentences checked at this n
        h, sent = h[use], sent[use]
        pos = np.searchsorted(table, h)
        found = (pos < len(table)) & (table[np.minimum(pos, len(table) - 1)] == h) if len(table) else np.zeros(len(h), bool)
        hit = np.bincount(sent, weights=found.astype(float), minlength=len(test))
        tot = np.bincount(sent, minlength=len(test)).astype(float)
        m = tot > 0
        cov[m] = hit[m] / tot[m]
    return Overlap(cov, lengths, order, threshold)


def bleu_without(stats, keep: np.ndarray) -> float:
    """Corpus BLEU (mean over runs for ``[S, n, 10]``) on the sentences with ``keep`` True."""
    s = np.asarray(stats, dtype=np.float64)
    if s.ndim == 2:
        s = s[None]
    keep = np.asarray(keep, dtype=bool)
    if s.shape[1] != len(keep):
        raise UserError(f"{s.shape[1]} statistics rows but {len(keep)} test sentences in the overlap mask")
    return float(bleu_from_stats(s[:, keep].sum(1)).mean())


def bleu_table(o: Overlap, stats_by_system) -> dict[str, tuple[float, float]]:
    """System → (BLEU on all test sentences, BLEU without the overlapping ones); statistics
    ``[n, 10]`` or ``[S, n, 10]`` (mean over runs). The input of :func:`compare.claims.overlap_sentence`."""
    keep = o.keep_mask()
    return {name: (bleu_without(st, np.ones_like(keep)), bleu_without(st, keep)) for name, st in stats_by_system.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m compare overlap",
                                 description="Share of each test sentence's n-grams found in the training side "
                                             "of a prepared corpus (prepares it if needed).")
    add_corpus_args(ap)
    ap.add_argument("--side", choices=("src", "tgt"), default="src", help="side to check (default: src)")
    ap.add_argument("--order", type=int, default=ORDER, help=f"n-gram order (default: {ORDER})")
    ap.add_argument("--threshold", type=float, default=THRESHOLD,
                    help=f"coverage at which a test sentence counts as largely in train (default: {THRESHOLD})")
    args = ap.parse_args(argv)
    p = prepared_from_args(args)
    train = (line.split() for line in read_lines(p.file("train", args.side)))
    test = [line.split() for line in read_lines(p.file("test", args.side))]
    o = coverage(test, train, args.order, args.threshold)
    print(f"{p.name} {p.lang(args.side)}: {len(o.overlapping)} of {len(test)} test sentences have >= {args.threshold:.0%} "
          f"of their {args.order}-grams in train; mean coverage {o.mean_coverage:.1%}; "
          f"{o.n_short} shorter than {args.order} tokens (checked whole)")
    return 0
