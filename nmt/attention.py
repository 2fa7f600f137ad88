"""Attention: additive (Bahdanau et al. 2015) and multiplicative (Luong et al. 2015).

Both modules split the work into a part that depends only on the source, computed ONCE per batch
(:meth:`project_keys`), and a cheap part per query (:meth:`forward`):

* Bahdanau et al. (2015), §3.1 Eq. (6) and Appendix A.1.2 ("alignment model"):
  e_ij = v_aᵀ tanh(W_a s_{i−1} + U_a h_j);   U_a h_j does not depend on i, so it is precomputed.
* Luong et al. (2015), §3.1 Eq. (8): score(h_t, h̄_s) = h_tᵀ h̄_s ("dot") or h_tᵀ W_a h̄_s
  ("general"); for "general" W_a h̄_s is precomputed.

Then (Bahdanau Eq. 6/5, Luong Eq. 7) α = softmax(e) over the *real* source words — padding is
masked with −inf before the softmax, so its weight is exactly 0 — and the context vector is
c = Σ_j α_j h_j.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


def masked_softmax_context(scores: Tensor, mask: Tensor, memory: Tensor) -> tuple[Tensor, Tensor]:
    """α = softmax(scores) over mask (exact 0 at padding) and c = α·memory.

    Args:
        scores: [B, T, S] energies e (T queries per sentence).
        mask: BoolTensor [B, S], True at real source words (every row has at least one).
        memory: [B, S, D] annotations h_j.
    Returns:
        context [B, T, D], alpha [B, T, S].
    """
    scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
    alpha = torch.softmax(scores.float(), dim=-1)      # fp32 even under bf16 autocast
    return torch.bmm(alpha.to(memory.dtype), memory), alpha


class BahdanauAttention(nn.Module):
    """Additive attention e_ij = v_aᵀ tanh(W_a s_{i−1} + U_a h_j) (Bahdanau et al. 2015, A.1.2).

    Args:
        query_size: n, the decoder state size (s_{i−1}).
        key_size: 2n, the annotation size (h_j).
        attention_size: n', the hidden size of the alignment MLP (Bahdanau: n' = n = 1000).
    """

    def __init__(self, query_size: int, key_size: int, attention_size: int):
        super().__init__()
        self.W_a = nn.Linear(query_size, attention_size, bias=False)
        self.U_a = nn.Linear(key_size, attention_size, bias=True)
        self.v_a = nn.Linear(attention_size, 1, bias=False)

    def project_keys(self, memory: Tensor) -> Tensor:
        """U_a h_j for every source position, once per batch: [B, S, 2n] -> [B, S, n']."""
        return self.U_a(memory)

    def forward(self, query: Tensor, keys: Tensor, memory: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """One (or T) attention steps.

        Args:
            query: [B, T, n] decoder states s_{i−1}.
            keys: [B, S, n'] from :meth:`project_keys`.
            memory: [B, S, 2n] annotations h_j.
            mask: [B, S] True at real words.
        Returns:
            context c_i [B, T, 2n], weights α_i [B, T, S].
        """
        q = self.W_a(query)                                                    # [B, T, n']
        e = self.v_a(torch.tanh(q[:, :, None, :] + keys[:, None, :, :])).squeeze(-1)  # [B, T, S]
        return masked_softmax_context(e, mask, memory)


class LuongAttention(nn.Module):
    """Global attention with the "dot" or "general" score (Luong et al. 2015, §3.1 Eq. 8).

    Args:
        query_size: decoder state size (h_t).
        key_size: annotation size (h̄_s); must equal ``query_size`` for "dot".
        score: ``"dot"`` (score = h_tᵀ h̄_s) or ``"general"`` (score = h_tᵀ W_a h̄_s).
    """

    def __init__(self, query_size: int, key_size: int, score: str = "general"):
        super().__init__()
        if score not in ("dot", "general"):
            raise ValueError(f"unknown Luong score {score!r} (dot or general)")
        if score == "dot" and query_size != key_size:
            raise ValueError(f"dot attention needs equal sizes, got query {query_size} and keys {key_size}")
        self.score = score
        self.W_a = nn.Linear(key_size, query_size, bias=False) if score == "general" else None

    def project_keys(self, memory: Tensor) -> Tensor:
        """W_a h̄_s for "general" (once per batch), h̄_s itself for "dot": [B, S, query_size]."""
        return self.W_a(memory) if self.W_a is not None else memory

    def forward(self, query: Tensor, keys: Tensor, memory: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Attention for T queries at once (all decoder states, or T=1 while searching).

        Args:
            query: [B, T, H] decoder states h_t.
            keys: [B, S, H] from :meth:`project_keys`.
            memory: [B, S, D] annotations h̄_s.
            mask: [B, S] True at real words.
        Returns:
            context c_t [B, T, D], weights a_t [B, T, S].
        """
        e = torch.bmm(query, keys.transpose(1, 2))                             # [B, T, S]
        return masked_softmax_context(e, mask, memory)
