"""Sampled softmax for large target vocabularies (Jean et al. 2015, "On Using Very Large Target
Vocabulary for Neural Machine Translation", §3).

The cost of the output layer grows with the vocabulary |V|: every training step computes
W_o t for all |V| words to normalise p(y_i | y_<i, x) = exp(w_{y_i}·t + b_{y_i}) / Z.  Jean et al.
approximate the gradient of log Z by importance sampling from a proposal Q over a small subset
V' ⊂ V (Eq. 6–10).  With Q uniform over V' — their choice — the correction terms log Q(y_k) are
all equal and cancel, so training uses the plain softmax *restricted to V'*:

    p'(y_i) = exp(w_{y_i}·t + b_{y_i}) / Σ_{k ∈ V'} exp(w_k·t + b_k).

Jean et al. build V' per *partition* of the training corpus (the target words of consecutive
sentences until τ distinct words are reached).  We use the per-batch form of the same idea:
V' = every target word of the batch (so each y_i is in V') plus words drawn uniformly at random
from the rest of the vocabulary until |V'| = K.  The 4 special symbols come first, so PAD keeps
id 0 and is still ignored by the loss.  Decoding always uses the full softmax (Jean et al.'s
candidate lists for fast decoding are not implemented).

The sampling uses torch's RNG of the batch's device, which the trainer's checkpoints record, so a resumed run
draws the same subsets.
"""
from __future__ import annotations

import torch
from torch import Tensor

from nmt.vocab import SPECIALS


def batch_vocabulary(tgt_out: Tensor, vocab_size: int, k: int) -> tuple[Tensor, Tensor]:
    """The output subset V' of one batch and the targets re-indexed into it.

    Args:
        tgt_out: [B, T] target ids (PAD = 0 after each sentence's end).
        vocab_size: |V|.
        k: |V'| wanted; raised to the number of distinct batch targets (+ specials) when smaller.
    Returns:
        ids [K'] (long, on tgt_out's device): the specials, then the batch's target words (sorted),
        then uniform negatives; and targets [B, T] with ``ids[targets] == tgt_out`` everywhere
        (PAD stays 0).
    """
    device = tgt_out.device                                            # built on the batch's device
    n_spec = len(SPECIALS)
    present = torch.zeros(vocab_size, dtype=torch.bool, device=device)
    present[tgt_out.reshape(-1)] = True
    present[:n_spec] = False
    positives = present.nonzero().squeeze(1)                            # sorted
    candidates = (~present).nonzero().squeeze(1)
    candidates = candidates[candidates >= n_spec]
    n_neg = min(max(0, k - n_spec - positives.numel()), candidates.numel())
    negatives = candidates[torch.randperm(candidates.numel(), device=device)[:n_neg]]
    ids = torch.cat([torch.arange(n_spec, device=device), positives, negatives])
    remap = torch.full((vocab_size,), -1, dtype=torch.long, device=device)
    remap[ids] = torch.arange(ids.numel(), device=device)
    return ids, remap[tgt_out]
