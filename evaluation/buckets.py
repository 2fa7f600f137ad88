"""Source-length buckets: BLEU as a function of sentence length.

Bahdanau et al. (2015, Fig. 2) and Cho et al. (2014, Fig. 4) plot BLEU against the length of the
source sentence to show that the fixed-length encoder–decoder (RNNenc) degrades on long
sentences while the attention model (RNNsearch) does not. We reproduce the plot on the test set.

**Bucketing rule** (documented in the report): the length of a sentence is the number of tokens
of its *tokenised* source (``p.file("test", "src")``, whitespace split). Start from bins of
``width`` tokens — 1–10, 11–20, 21–30, … (an empty line has length 0 and goes in the first bin) —
then walk them from the shortest: a bin with fewer than ``min_count`` sentences is merged with
the next one; a short remainder at the long end is merged into the last closed bucket, which
becomes open-ended ("41+"). So every bucket but possibly one (when the whole test set has fewer
than ``min_count`` sentences) holds at least ``min_count`` sentences, every sentence falls in
exactly one bucket, and the bucket counts sum to the test size.

BLEU of a bucket is corpus BLEU over the bucket's sentences (sums of sacreBLEU's sufficient
statistics, :func:`evaluation.score.sentence_stats`), never an average of sentence BLEUs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from data.io import read_lines

from data.io import UserError


@dataclass(frozen=True)
class Bucket:
    """Sentences whose source length ``L`` satisfies ``lo <= L <= hi`` (``hi=None``: no upper bound)."""

    lo: int
    hi: int | None
    indices: np.ndarray  # test-line numbers (0-based), sorted

    @property
    def label(self) -> str:
        return f"{self.lo}+" if self.hi is None else f"{self.lo}-{self.hi}"

    @property
    def n(self) -> int:
        return int(len(self.indices))

    def contains(self, length: int) -> bool:
        return length >= self.lo and (self.hi is None or length <= self.hi)


def source_lengths(tokenised_lines: Sequence[str]) -> np.ndarray:
    """Number of whitespace tokens of each tokenised source line."""
    return np.array([len(line.split()) for line in tokenised_lines], dtype=np.int64)


def length_buckets(lengths: Sequence[int], *, width: int = 10, min_count: int = 30) -> list[Bucket]:
    """Split sentences into source-length buckets by the rule in the module docstring."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if width < 1 or min_count < 1:
        raise UserError(f"bucket width ({width}) and minimum count ({min_count}) must be >= 1")
    if len(lengths) == 0:
        return []
    # bin b holds lengths (b*width, (b+1)*width]; length 0 joins bin 0
    bins = np.maximum(lengths - 1, 0) // width
    counts = np.bincount(bins)
    ranges: list[list[int]] = []  # [first_bin, last_bin] of each closed bucket
    start, acc = 0, 0
    for b, c in enumerate(counts):
        acc += int(c)
        if acc >= min_count:
            ranges.append([start, b])
            start, acc = b + 1, 0
    if acc > 0 or not ranges:  # remainder at the long end
        if ranges:
            ranges[-1][1] = len(counts) - 1
        else:
            ranges.append([0, len(counts) - 1])
    buckets = []
    for i, (b0, b1) in enumerate(ranges):
        lo = 0 if b0 == 0 and lengths.min() == 0 else b0 * width + 1
        last = i == len(ranges) - 1
        hi = None if last and len(ranges) > 1 else (b1 + 1) * width
        if last and len(ranges) == 1:
            hi = None
        member = (bins >= b0) & (bins <= b1)
        buckets.append(Bucket(lo=lo, hi=hi, indices=np.flatnonzero(member)))
    return buckets


def assign(lengths: Sequence[int], buckets: Sequence[Bucket]) -> np.ndarray:
    """Index of the bucket of each sentence (−1 if none: cannot happen for buckets from :func:`length_buckets`)."""
    out = np.full(len(lengths), -1, dtype=np.int64)
    for k, b in enumerate(buckets):
        out[b.indices] = k
    return out


def unk_free(token_lines: Sequence[Sequence[str]], vocab: set[str]) -> np.ndarray:
    """Boolean mask: lines all of whose tokens are in ``vocab`` (no word would become UNK)."""
    return np.array([all(t in vocab for t in toks) for toks in token_lines], dtype=bool)


def read_vocab(path) -> set[str]:
    """The words of a vocabulary file: the first whitespace field of each non-empty line."""
    return {line.split()[0] for line in read_lines(path) if line.strip()}
