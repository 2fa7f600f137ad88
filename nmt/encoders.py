"""The recurrent encoder shared by ``rnnenc`` and ``rnnsearch``.

Cho et al. (2014), §2 / Appendix A.1.1: a (unidirectional) RNN reads the source
x = (x_1, …, x_{T_x}) and its last hidden state summarises the sentence.
Bahdanau et al. (2015), §3.2 / Appendix A.1.2: a *bidirectional* RNN; the annotation of word j is
h_j = [h→_j ; h←_j], the concatenation of the forward and backward states.

One module covers both: embeddings -> (word) dropout -> ``nn.GRU``/``nn.LSTM`` (1..n layers, optional
bidirectional, inter-layer dropout), run so that padding never reaches the recurrence: as a single
packed call (cuDNN on GPU; ``pack_padded_sequence(enforce_sorted=False)`` lets a batch stay in its
original, unsorted order), or — a GRU on the CPU — as fused padded calls per direction with each
sentence reversed within its length for the backward one (:meth:`RecurrentEncoder._gru_padded`).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from nmt.runtime import run_rnn
from nmt.vocab import BOS, PAD

RNN_CELLS = {"gru": nn.GRU, "lstm": nn.LSTM}


class WordDropout(nn.Module):
    """Word dropout: the whole embedding vector of a token is dropped at random (training only).

    Sennrich & Zhang (2019, "Revisiting Low-Resource Neural Machine Translation", §3.2) apply
    "dropout to full words" on the source and target side, after Gal & Ghahramani (2016, §4.2,
    "word embedding dropout"); their Nematus recipe (``--dropout_source``/``--dropout_target``)
    draws one Bernoulli per *position*: a mask of shape [time, batch, 1] multiplies the embeddings.
    This is that *per-position (token)* variant — not Gal & Ghahramani's per-*type* one, which drops
    every occurrence of a word type in the batch at once: each real token (not PAD, not BOS) is
    dropped independently with probability p, its embedding set to the zero vector, and the kept
    tokens are scaled by 1/(1 − p) (inverted dropout, so evaluation needs no rescaling). PAD and
    BOS are never dropped nor scaled.

    The draw comes from torch's global generator, like ``nn.Dropout``: seeded by the run's seed and
    restored on resume with the other RNG states (``nmt.runtime.rng_states``). At p = 0, or in eval
    mode, the module returns its input unchanged and draws nothing.

    Args:
        p: probability of dropping a token.
    Shapes: ``forward(emb [B, T, E], ids [B, T]) -> [B, T, E]``.
    """

    def __init__(self, p: float = 0.0):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"word dropout must be in [0, 1), got {p}")
        self.p = p

    def keep_mask(self, ids: Tensor) -> Tensor:
        """[B, T] float multipliers: 0 at dropped tokens, 1/(1 − p) at kept ones, 1 at PAD/BOS."""
        droppable = (ids != PAD) & (ids != BOS)
        kept = torch.rand(ids.shape, device=ids.device) >= self.p
        return torch.where(droppable, kept.float() / (1.0 - self.p), torch.ones((), device=ids.device))

    def forward(self, emb: Tensor, ids: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return emb
        return emb * self.keep_mask(ids)[..., None].to(emb.dtype)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class RecurrentEncoder(nn.Module):
    """Source embeddings + (bi)directional multi-layer GRU/LSTM over a padded batch.

    Args:
        vocab_size: source vocabulary size |V_x|.
        emb: embedding size m (Bahdanau: 620).
        hidden: hidden size n of each direction (Bahdanau: 1000).
        layers: stacked layers (the papers use 1).
        cell: ``"gru"`` (the papers' gated unit, Cho et al. 2014 §2.3) or ``"lstm"``.
        bidirectional: read the sentence in both directions (Bahdanau §3.2).
        dropout: on the embeddings and between stacked layers.
        word_dropout: probability of dropping a whole source token (:class:`WordDropout`).
    """

    #: a GRU on the CPU runs as fused padded calls (:meth:`_gru_padded`); False: the packed call
    #: everywhere (``benchmarks/bench_throughput.py`` measures both)
    padded_cpu_gru = True

    def __init__(self, vocab_size: int, emb: int, hidden: int, layers: int = 1, cell: str = "gru",
                 bidirectional: bool = True, dropout: float = 0.0, word_dropout: float = 0.0):
        super().__init__()
        self.hidden, self.layers, self.cell = hidden, layers, cell
        self.directions = 2 if bidirectional else 1
        self.embedding = nn.Embedding(vocab_size, emb, padding_idx=PAD)
        self.dropout = nn.Dropout(dropout)
        self.word_dropout = WordDropout(word_dropout)
        self.rnn = RNN_CELLS[cell](emb, hidden, num_layers=layers, batch_first=True,
                                   bidirectional=bidirectional, dropout=dropout if layers > 1 else 0.0)

    @property
    def output_size(self) -> int:
        """Size of one annotation h_j: ``directions * hidden``."""
        return self.directions * self.hidden

    def forward(self, src: Tensor, src_len: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Encode a padded batch.

        Args:
            src: LongTensor [B, S], padded with PAD; any order of lengths.
            src_len: LongTensor [B], each >= 1.
        Returns:
            annotations: [B, S, directions*H] — h_j for each position (exact zeros at padding).
            final: [layers, directions, B, H] — each layer's last state per direction: the
                forward state after the last real word (h→_{T_x}) and the backward state after
                reading back to the first word (h←_1, which Bahdanau A.1.2 uses to start the decoder).
            mask: BoolTensor [B, S], True at real (non-padding) positions.
        """
        S = src.size(1)
        if bool((src_len < 1).any()):
            raise ValueError("every source sentence needs at least one token (src_len >= 1)")
        x = self.dropout(self.word_dropout(self.embedding(src), src))          # [B, S, E]
        mask = torch.arange(S, device=src.device)[None, :] < src_len.to(src.device)[:, None]
        if self.cell == "gru" and src.device.type == "cpu" and self.padded_cpu_gru:
            annotations, final = self._gru_padded(x, src_len.to(src.device), mask)
            return annotations, final, mask
        annotations, final = self._rnn_packed(x, src_len)
        return annotations, final, mask

    def _rnn_packed(self, x: Tensor, src_len: Tensor) -> tuple[Tensor, Tensor]:
        """One packed ``nn.GRU``/``nn.LSTM`` call (cuDNN on a GPU): x [B, S, E] -> annotations, final."""
        packed = pack_padded_sequence(x, src_len.cpu(), batch_first=True, enforce_sorted=False)
        out, h_n = run_rnn(self.rnn, packed)
        if self.cell == "lstm":
            h_n = h_n[0]                                                       # hidden, not cell
        annotations, _ = pad_packed_sequence(out, batch_first=True, total_length=x.size(1))
        return annotations, h_n.view(self.layers, self.directions, x.size(0), self.hidden)

    def _gru_padded(self, x: Tensor, src_len: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """The same GRU as the packed call, on the padded batch, one fused call per layer and direction.

        On the CPU a packed ``nn.GRU`` runs a step-by-step loop whose backward slices the whole
        input projection at every step; the padded call runs oneDNN's fused RNN (measured on an
        AVX512-BF16 CPU, one thread, B = 100, S = 30, emb = hidden = 256, bidirectional, forward +
        backward: 0.260 → 0.185 s fp32, 0.163 → 0.116 s bf16). Padding never reaches a real state:
        the forward direction reads the real words first (its states after the end are discarded),
        and the backward direction reads each sentence reversed *within its length*
        (x_{n−1}, …, x_0, then the padding), so both see exactly what the packed call sees. Same
        parameters (``self.rnn``'s), same state_dict; the inter-layer dropout is ``nn.GRU``'s.
        x [B, S, E], src_len [B], mask [B, S] -> annotations [B, S, dirs·H] (zeros at padding),
        final [layers, dirs, B, H].
        """
        B, S = mask.shape
        t = torch.arange(S, device=x.device)[None, :]
        rev = torch.where(mask, src_len[:, None] - 1 - t, t)                  # an involution per row
        last = (src_len - 1)[:, None, None].expand(B, 1, self.hidden)
        h0 = x.new_zeros(1, B, self.hidden)
        weights, per_dir = self.rnn._flat_weights, 4                          # w_ih, w_hh, b_ih, b_hh
        finals = []
        for layer in range(self.layers):
            outs = []
            for d in range(self.directions):
                w = weights[(layer * self.directions + d) * per_dir:][:per_dir]
                inp = x if d == 0 else x.gather(1, rev[..., None].expand_as(x))
                out, _ = torch._VF.gru(inp, h0.to(inp.dtype), w, True, 1, 0.0, self.training, False, True)
                finals.append(out.gather(1, last.to(out.device)).squeeze(1))  # after the last real word
                outs.append(out if d == 0 else out.gather(1, rev[..., None].expand_as(out)))
            x = torch.cat(outs, dim=-1) if self.directions == 2 else outs[0]
            if layer < self.layers - 1 and self.rnn.dropout > 0:
                x = nn.functional.dropout(x, self.rnn.dropout, self.training)
        annotations = x.masked_fill(~mask[..., None], 0.0)
        final = torch.stack(finals).view(self.layers, self.directions, B, self.hidden)
        return annotations, final
