"""Batching for NMT training: length-bucketed batches with a *token* budget, padding, masks.

Sentences of similar length are batched together so that little computation is spent on
padding (the "bucketing" used since Sutskever et al. 2014 / Bahdanau et al. 2015 §4.2, who sort
minibatches of 20 by length). The recipe, per epoch:

1. shuffle all training pairs with a generator seeded by ``(seed, epoch)``;
2. cut the shuffled list into *pools* of ``pool_size`` pairs and sort each pool by length;
3. cut each sorted pool into batches whose *padded* size ``n_sentences * max_len`` stays within
   ``batch_tokens`` (``max_len`` = the longer of the source and the target-plus-EOS of the batch);
4. shuffle the order of the batches (same generator).

The order is therefore a pure function of (lengths, seed, epoch): training resumed mid-epoch
recomputes it and skips the first ``batch_in_epoch`` batches. For data-parallel training each
rank takes every ``world_size``-th batch (``shard``), like ``DistributedSampler``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from nmt.vocab import BOS, EOS, PAD, Vocab


@dataclass
class Batch:
    """A padded batch. ``tgt_in`` = ``<s> y_1 … y_n``, ``tgt_out`` = ``y_1 … y_n </s>`` (teacher forcing)."""
    src: torch.Tensor        # [B, S] long, PAD-padded
    src_len: torch.Tensor    # [B] long (on CPU for pack_padded_sequence)
    tgt_in: torch.Tensor     # [B, T] long
    tgt_out: torch.Tensor    # [B, T] long
    indices: list[int]       # positions of the pairs in the corpus

    @property
    def src_mask(self) -> torch.Tensor:
        """[B, S] bool, True at real source tokens."""
        return self.src != PAD

    @property
    def tgt_mask(self) -> torch.Tensor:
        """[B, T] bool, True at real target positions (the loss positions)."""
        return self.tgt_out != PAD

    @property
    def n_tgt_tokens(self) -> int:
        """Target tokens that carry loss (words + EOS, no padding)."""
        return int((self.tgt_out != PAD).sum())

    def to(self, device) -> "Batch":
        nb = device is not None and torch.device(device).type == "cuda"
        return Batch(self.src.to(device, non_blocking=nb), self.src_len,
                     self.tgt_in.to(device, non_blocking=nb), self.tgt_out.to(device, non_blocking=nb),
                     self.indices)


class ParallelData:
    """Token-id arrays for a parallel corpus (no BOS/EOS stored; added when batching)."""

    def __init__(self, src: list[np.ndarray], tgt: list[np.ndarray] | None):
        self.src = src
        self.tgt = tgt
        self.src_lens = np.array([len(s) for s in src], dtype=np.int64)
        self.tgt_lens = np.array([len(t) for t in tgt], dtype=np.int64) if tgt is not None else None

    def __len__(self) -> int:
        return len(self.src)

    @classmethod
    def from_tokens(cls, src_sents: Sequence[Sequence[str]], tgt_sents: Sequence[Sequence[str]] | None,
                    src_vocab: Vocab, tgt_vocab: Vocab | None = None) -> "ParallelData":
        src = [np.array(src_vocab.encode(s), dtype=np.int64) for s in src_sents]
        tgt = None
        if tgt_sents is not None:
            tgt = [np.array(tgt_vocab.encode(t), dtype=np.int64) for t in tgt_sents]
        return cls(src, tgt)

    def collate(self, indices: Sequence[int]) -> Batch:
        """Pad the pairs ``indices`` into a :class:`Batch` (targets optional: then tgt_* are empty)."""
        B = len(indices)
        src_len = self.src_lens[indices]
        S = max(1, int(src_len.max()))
        src = np.full((B, S), PAD, dtype=np.int64)
        for b, i in enumerate(indices):
            src[b, :len(self.src[i])] = self.src[i]
        if self.tgt is not None:
            T = int(self.tgt_lens[indices].max()) + 1
            tgt_in = np.full((B, T), PAD, dtype=np.int64)
            tgt_out = np.full((B, T), PAD, dtype=np.int64)
            for b, i in enumerate(indices):
                y = self.tgt[i]
                tgt_in[b, 0] = BOS
                tgt_in[b, 1:len(y) + 1] = y
                tgt_out[b, :len(y)] = y
                tgt_out[b, len(y)] = EOS
        else:
            tgt_in = tgt_out = np.zeros((B, 0), dtype=np.int64)
        # empty sources still need one position for the encoder: length 1 over a PAD token
        return Batch(torch.from_numpy(src), torch.from_numpy(np.maximum(src_len, 1)),
                     torch.from_numpy(tgt_in), torch.from_numpy(tgt_out), list(map(int, indices)))


def padded_size(src_lens: np.ndarray, tgt_lens: np.ndarray | None) -> np.ndarray:
    """Per-pair cost in padded positions: max(source length, target length + EOS)."""
    if tgt_lens is None:
        return np.maximum(src_lens, 1)
    return np.maximum(np.maximum(src_lens, 1), tgt_lens + 1)


def _cut(order: np.ndarray, cost: np.ndarray, batch_tokens: int | None, batch_sents: int | None) -> list[list[int]]:
    """Cut an (already sorted) index list into consecutive batches within the budgets.

    A batch grows while ``len(batch) * max(cost) <= batch_tokens`` and ``len(batch) <= batch_sents``;
    a single pair longer than ``batch_tokens`` forms a batch of its own.
    """
    batches, cur, cur_max = [], [], 0
    for i in order:
        c = int(cost[i])
        new_max = max(cur_max, c)
        too_many = batch_sents is not None and len(cur) + 1 > batch_sents
        too_big = batch_tokens is not None and (len(cur) + 1) * new_max > batch_tokens
        if cur and (too_many or too_big):
            batches.append(cur)
            cur, new_max = [], c
        cur.append(int(i))
        cur_max = new_max
    if cur:
        batches.append(cur)
    return batches


def make_batches(src_lens: np.ndarray, tgt_lens: np.ndarray | None, *, batch_tokens: int | None = None,
                 batch_sents: int | None = None, seed: int = 0, epoch: int = 0, shuffle: bool = True,
                 pool_size: int = 100_000) -> list[list[int]]:
    """Batches of pair indices for one epoch (see the module docstring); each pair exactly once.

    ``shuffle=False`` (evaluation/decoding): one pool sorted by length, batches in that order.
    ``pool_size`` pairs are sorted together (the default covers ~2-3k batches: most padding goes
    away while the batch order stays random).
    """
    if batch_tokens is None and batch_sents is None:
        raise ValueError("need batch_tokens or batch_sents")
    n = len(src_lens)
    cost = padded_size(np.asarray(src_lens), None if tgt_lens is None else np.asarray(tgt_lens))
    if not shuffle:
        order = np.argsort(-cost, kind="stable")  # longest first: memory errors show up at once
        return _cut(order, cost, batch_tokens, batch_sents)
    rng = np.random.default_rng([seed, epoch])
    perm = rng.permutation(n)
    batches: list[list[int]] = []
    for start in range(0, n, pool_size):
        pool = perm[start:start + pool_size]
        pool = pool[np.argsort(cost[pool], kind="stable")]
        batches.extend(_cut(pool, cost, batch_tokens, batch_sents))
    order = rng.permutation(len(batches))
    return [batches[i] for i in order]


def shard(batches: list[list[int]], rank: int, world_size: int) -> list[list[int]]:
    """This rank's batches for data-parallel training: every ``world_size``-th one, equal counts
    on every rank (the tail that does not divide evenly is dropped, as ``DistributedSampler`` pads)."""
    if world_size <= 1:
        return batches
    n = len(batches) // world_size * world_size
    return batches[rank:n:world_size]
