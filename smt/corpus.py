"""A side of a parallel corpus as integer ids: what the aligners (smt.align's EM, smt.gibbs's sampler) train on.

:class:`Encoded` holds the flat token ids, each sentence's offset and length, and the vocabulary
(word -> id, in order of first occurrence). :func:`encode` builds it from token lists;
:func:`encode_lines` reads a file line by line straight into ids, so that a large corpus is never
held as Python strings (~60 bytes a token) but as 8-byte ids.
"""
from __future__ import annotations

from array import array
from typing import Sequence

import numpy as np

from data.io import MAX_TOKENS, UserError, iter_lines


def encode(sents: Sequence[Sequence[str]], vocab: dict[str, int] | None = None) -> "Encoded":
    """Integer-encode a side of the corpus: (flat token ids, sentence offsets, lengths, vocab)."""
    vocab = {} if vocab is None else vocab
    lengths = np.fromiter((len(s) for s in sents), dtype=np.int64, count=len(sents))
    ids = np.fromiter((vocab.setdefault(w, len(vocab)) for s in sents for w in s), dtype=np.int64,
                      count=int(lengths.sum()))
    offsets = np.zeros(len(sents), dtype=np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    return Encoded(ids, offsets, lengths, vocab)


def encode_lines(path, lowercase: bool = True) -> "Encoded":
    """A tokenised file read line by line straight into integer ids (lowercased, as the pipeline
    aligns): the corpus's tokens are never all Python strings at once (~60 bytes each), only ids
    (8 bytes). :class:`UserError` ``path:line`` for a sentence over ``MAX_TOKENS``, or an empty file."""
    vocab: dict[str, int] = {}
    ids, lengths = array("q"), array("q")
    for n, line in enumerate(iter_lines(path), 1):
        toks = line.lower().split() if lowercase else line.split()
        if len(toks) > MAX_TOKENS:
            raise UserError(f"{path}:{n}: sentence of {len(toks):,} tokens (limit {MAX_TOKENS:,}; split it)")
        ids.extend([vocab.setdefault(w, len(vocab)) for w in toks])
        lengths.append(len(toks))
    if not lengths:
        raise UserError(f"{path}: empty file")
    lengths_np = np.frombuffer(lengths, dtype=np.int64).copy()
    offsets = np.zeros(len(lengths_np), dtype=np.int64)
    np.cumsum(lengths_np[:-1], out=offsets[1:])
    return Encoded(np.frombuffer(ids, dtype=np.int64).copy(), offsets, lengths_np, vocab)


class Encoded:
    __slots__ = ("ids", "offsets", "lengths", "vocab")

    def __init__(self, ids, offsets, lengths, vocab):
        self.ids, self.offsets, self.lengths, self.vocab = ids, offsets, lengths, vocab

    def __len__(self) -> int:
        return len(self.lengths)
