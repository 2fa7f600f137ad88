"""Decoders: ``rnnenc`` (Cho et al. 2014) and ``rnnsearch`` (Bahdanau et al. 2015; Luong et al. 2015).

Every decoder offers the same three calls, used by :class:`nmt.model.Seq2Seq`:

* ``init_state(annotations, final, mask) -> EncoderState`` — what decoding starts from;
* ``forward(state, tgt_in, return_attention=False) -> logits [B, T, V]`` — teacher forcing, the
  whole target at once;
* ``step(state, prev) -> (logits [B, V], new_state, attention [B, S] | None)`` — one word, for search.

``forward`` and ``step`` run the same arithmetic, so a sentence's teacher-forced scores equal the
scores search assigns it.  Speed (CPU and GPU) comes from doing everything that does not depend on
the previous step outside the time loop:

* :class:`ConditionalDecoder` (rnnenc): the decoder input [E y_{t−1}; c] never depends on the
  decoder's own output, so the whole target runs as ONE ``nn.GRU``/``nn.LSTM`` call (cuDNN on GPU).
* :class:`BahdanauDecoder`: the attention makes step i depend on s_{i−1}, so a loop is needed, but
  U_a h_j (keys) and the y_{i−1} part of the GRU input projection are computed for all positions
  before the loop, and the deep-output readout and the big output projection run once for all
  steps after it.
* :class:`LuongDecoder`: Luong's global attention reads the *current* state h_t, so the RNN runs as
  one call and the attention for all T steps is one batched matrix product.

The readout ("deep output", Pascanu et al. 2014) is t = tanh(W [inputs]) of size ``readout`` by
default, or a maxout layer with pool size 2 (Bahdanau A.2.2, Cho A.1.2) when ``maxout=True``;
the output layer is p(y) = softmax(W_o t + b_o), with W_o optionally tied to the target
embeddings (Press & Wolf 2017) when ``readout == emb``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nmt.attention import BahdanauAttention, LuongAttention
from nmt.encoders import RNN_CELLS, WordDropout
from nmt.runtime import run_rnn
from nmt.vocab import PAD


@dataclass
class EncoderState:
    """The source side as the decoder sees it, plus the decoder's recurrent state.

    Batch is dim 0 of every tensor except ``hidden``/``cell`` (dim 1, PyTorch's RNN layout).

    Attributes:
        mask: BoolTensor [B, S], True at real source words.
        hidden: [L, B, H] decoder state (s_{i−1} before step i).
        cell: [L, B, H] LSTM memory cell, ``None`` for GRU.
        memory: [B, S, D] annotations h_j (attention decoders; ``None`` for rnnenc).
        keys: [B, S, A] precomputed attention keys (U_a h_j or W_a h̄_s).
        summary: [B, C] the fixed-length summary c (rnnenc only).
    """

    mask: Tensor
    hidden: Tensor
    cell: Tensor | None = None
    memory: Tensor | None = None
    keys: Tensor | None = None
    summary: Tensor | None = None

    def select(self, indices: Tensor) -> "EncoderState":
        """Rows ``indices`` of the batch (reorder / repeat / drop), e.g. for beam search."""
        pick0 = lambda t: None if t is None else t.index_select(0, indices)  # noqa: E731
        pick1 = lambda t: None if t is None else t.index_select(1, indices)  # noqa: E731
        return EncoderState(mask=pick0(self.mask), hidden=pick1(self.hidden), cell=pick1(self.cell),
                            memory=pick0(self.memory), keys=pick0(self.keys), summary=pick0(self.summary))

    def reorder(self, indices: Tensor) -> "EncoderState":
        """Like :meth:`select` for ``indices`` that stay within blocks of rows sharing one source
        sentence (beam search reordering its K beams): only the decoder state is gathered, the
        source side is identical across the block and is kept as is (no copy)."""
        pick1 = lambda t: None if t is None else t.index_select(1, indices)  # noqa: E731
        return dataclasses.replace(self, hidden=pick1(self.hidden), cell=pick1(self.cell))

    def with_hidden(self, hidden: Tensor, cell: Tensor | None) -> "EncoderState":
        """The same source side with a new decoder state (nothing is copied)."""
        return dataclasses.replace(self, hidden=hidden, cell=cell)

    @property
    def batch_size(self) -> int:
        return self.mask.size(0)


class Readout(nn.Module):
    """Deep output t = tanh(W [x_1; …; x_k] + b), or maxout: t_j = max(t̃_{2j−1}, t̃_{2j}).

    Bahdanau et al. (2015) A.2.2: t̃_i = U_o s_{i−1} + V_o E y_{i−1} + C_o c_i, maxout, then
    p(y_i) ∝ exp(y_iᵀ W_o t_i); Cho et al. (2014) A.1.2 likewise with the summary c; Luong et al.
    (2015) Eq. (5): h̃_t = tanh(W_c [c_t; h_t]).  One linear layer on the concatenated inputs is the
    same as the sum of one matrix per input.
    """

    def __init__(self, in_size: int, size: int, maxout: bool = False):
        super().__init__()
        self.size, self.maxout = size, maxout
        self.linear = nn.Linear(in_size, 2 * size if maxout else size)

    def forward(self, *parts: Tensor) -> Tensor:
        t = self.linear(torch.cat(parts, dim=-1))
        if self.maxout:
            return t.view(*t.shape[:-1], self.size, 2).amax(dim=-1)
        return torch.tanh(t)


def _cell_step(cell: str, gi: Tensor, h: Tensor, c: Tensor | None, w_hh: Tensor, b_hh: Tensor) -> tuple[Tensor, Tensor | None]:
    """One GRU/LSTM step from a precomputed input projection gi = W_ih x + b_ih ([B, G·H]).

    Exactly ``nn.GRUCell``/``nn.LSTMCell`` (same gate order r,z,n / i,f,g,o), written out so the
    input projection can be split into a part computed before the time loop and a part inside it.
    GRU (Cho et al. 2014 §2.3; PyTorch applies r after U h): r = σ(W_r x + U_r h),
    z = σ(W_z x + U_z h), h̃ = tanh(W x + r ⊙ (U h)), h' = z ⊙ h + (1 − z) ⊙ h̃.
    """
    gh = F.linear(h, w_hh, b_hh)
    if gh.dtype in (torch.bfloat16, torch.float16):   # under autocast: products low, gates fp32
        gi, gh = gi.float(), gh.float()
    if cell == "gru":
        i_r, i_z, i_n = gi.chunk(3, dim=-1)
        h_r, h_z, h_n = gh.chunk(3, dim=-1)
        r = torch.sigmoid(i_r + h_r)
        z = torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)
        return n + z * (h - n), None
    i, f, g, o = (gi + gh).chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


class RecurrentDecoder(nn.Module):
    """What all decoders share: target embeddings E, dropout, readout and output layer W_o."""

    def __init__(self, vocab_size: int, emb: int, hidden: int, layers: int, cell: str, dropout: float,
                 readout_in: int, readout: int, maxout: bool, tie_embeddings: bool, word_dropout: float = 0.0):
        super().__init__()
        self.hidden, self.layers, self.cell = hidden, layers, cell
        self.embedding = nn.Embedding(vocab_size, emb, padding_idx=PAD)
        self.dropout = nn.Dropout(dropout)
        self.word_dropout = WordDropout(word_dropout)
        self.readout = Readout(readout_in, readout, maxout)
        self.output = nn.Linear(readout, vocab_size)
        if tie_embeddings:
            if readout != emb:
                raise ValueError(f"tie_embeddings needs readout == emb, got {readout} and {emb}")
            self.output.weight = self.embedding.weight

    def embed(self, ids: Tensor) -> Tensor:
        """E y: target embeddings of ``ids`` ([B, T] or [B]) after word dropout and dropout."""
        return self.dropout(self.word_dropout(self.embedding(ids), ids))

    def _zeros_cell(self, hidden: Tensor) -> Tensor | None:
        return torch.zeros_like(hidden) if self.cell == "lstm" else None

    def logits(self, *readout_inputs: Tensor, output_ids: Tensor | None = None, features: bool = False) -> Tensor:
        """W_o · dropout(readout(inputs)) + b_o for any leading shape: [..., V].

        With ``output_ids`` ([K] target-vocabulary ids) only those K rows of W_o, b_o are used:
        logits [..., K] over that subset (sampled softmax, :mod:`nmt.sampled_softmax`).
        ``features=True``: dropout(t) [..., readout] itself, before W_o (for the fused output
        layer and loss of :func:`nmt.loss.output_cross_entropy`).
        """
        t = self.dropout(self.readout(*readout_inputs))
        if features:
            return t
        if output_ids is None:
            return self.output(t)
        bias = self.output.bias[output_ids] if self.output.bias is not None else None
        return F.linear(t, self.output.weight[output_ids], bias)


class ConditionalDecoder(RecurrentDecoder):
    """rnnenc: the RNN Encoder–Decoder of Cho et al. (2014), §2 and Appendix A.1.

    The summary c = tanh(V h_{T_x}) (A.1.1; h_{T_x} = the top layer's last state, both directions
    concatenated when bidirectional) initialises the decoder, h'_0 = tanh(V' c) (A.1.2), and is an
    input of EVERY step — h'_t = f(h'_{t−1}, y_{t−1}, c), realised as an RNN over [E y_{t−1}; c] —
    and of the deep output, t = readout(h'_t, E y_{t−1}, c).  There is no attention: the decoder
    sees the source only through c.
    """

    def __init__(self, vocab_size: int, emb: int, hidden: int, encoder_final_size: int, layers: int = 1,
                 cell: str = "gru", dropout: float = 0.0, readout: int | None = None, maxout: bool = False,
                 tie_embeddings: bool = False, word_dropout: float = 0.0):
        readout = readout or emb
        super().__init__(vocab_size, emb, hidden, layers, cell, dropout,
                         readout_in=hidden + emb + hidden, readout=readout, maxout=maxout,
                         tie_embeddings=tie_embeddings, word_dropout=word_dropout)
        self.summary = nn.Linear(encoder_final_size, hidden)                  # V  (c = tanh(V h_T))
        self.bridge = nn.Linear(hidden, layers * hidden)                      # V' (h'_0 = tanh(V' c))
        self.rnn = RNN_CELLS[cell](emb + hidden, hidden, num_layers=layers, batch_first=True,
                                   dropout=dropout if layers > 1 else 0.0)

    def init_state(self, annotations: Tensor, final: Tensor, mask: Tensor) -> EncoderState:
        """final [L, dirs, B, H] -> c [B, H] and h'_0 [L, B, H]."""
        B = final.size(2)
        h_T = final[-1].transpose(0, 1).reshape(B, -1)                         # [B, dirs*H]
        c = torch.tanh(self.summary(h_T))
        h0 = torch.tanh(self.bridge(c)).view(B, self.layers, self.hidden).transpose(0, 1).contiguous()
        return EncoderState(mask=mask, hidden=h0, cell=self._zeros_cell(h0), summary=c)

    def _run(self, state: EncoderState, tgt_in: Tensor, output_ids: Tensor | None = None, features: bool = False):
        y = self.embed(tgt_in)                               # [B, T, E]
        c = state.summary[:, None, :].expand(-1, y.size(1), -1)                # [B, T, C]
        hx = (state.hidden, state.cell) if self.cell == "lstm" else state.hidden
        out, hx = run_rnn(self.rnn, torch.cat([y, c], dim=-1), hx)                      # ONE call, all steps
        h, cell = hx if self.cell == "lstm" else (hx, None)
        return self.logits(out, y, c, output_ids=output_ids, features=features), state.with_hidden(h, cell)

    def forward(self, state: EncoderState, tgt_in: Tensor, return_attention: bool = False,
                output_ids: Tensor | None = None, features: bool = False):
        """Teacher forcing: tgt_in [B, T] (BOS first) -> logits [B, T, V] (and ``None``);
        [B, T, K] over ``output_ids`` when given; the readout [B, T, R] with ``features``."""
        logits, _ = self._run(state, tgt_in, output_ids, features)
        return (logits, None) if return_attention else logits

    def step(self, state: EncoderState, prev: Tensor):
        """prev [B] -> logits [B, V], new state, ``None`` (no attention)."""
        logits, state = self._run(state, prev[:, None])
        return logits[:, 0], state, None


class BahdanauDecoder(RecurrentDecoder):
    """rnnsearch: the decoder of Bahdanau et al. (2015), §3.1 and Appendix A.1.2.

    s_0 = tanh(W_s h←_1) (the backward encoder state at the first word; the last forward state when
    the encoder is unidirectional; one W_s shared by all layers).  At step i:
      α_i = softmax_j(v_aᵀ tanh(W_a s_{i−1} + U_a h_j)),  c_i = Σ_j α_ij h_j   (Eq. 5–6),
      s_i = f(s_{i−1}, y_{i−1}, c_i)                                            (Eq. 4),
      p(y_i | y_{<i}, x) = softmax(W_o readout(s_i, E y_{i−1}, c_i))           (Eq. 4 / A.2.2).
    The gated unit f is written with the paper's three matrices per gate (A.1.2):
    r_i = σ(W_r E y_{i−1} + U_r s_{i−1} + C_r c_i), z_i likewise, and
    s̃_i = tanh(W E y_{i−1} + r_i ⊙ (U s_{i−1}) + C c_i) (PyTorch's GRU convention: r applied after
    U), s_i = (1 − z_i) ⊙ s̃_i + z_i ⊙ s_{i−1}; modules ``W``, ``U``, ``C`` hold the stacked
    [r; z; n] (GRU) or [i; f; g; o] (LSTM) matrices.  W E y_{i−1} does not depend on the attention,
    so it is computed for all i before the loop.  The readout reads s_i as in Eq. (4) (Appendix A.2.2
    writes s_{i−1}).  With several layers, the attention is queried with the top layer, c_i enters
    the bottom layer, and the upper layers are plain ``nn.GRUCell``/``nn.LSTMCell``.
    """

    def __init__(self, vocab_size: int, emb: int, hidden: int, memory_size: int, encoder_hidden: int,
                 layers: int = 1, cell: str = "gru", dropout: float = 0.0, attention_size: int | None = None,
                 readout: int | None = None, maxout: bool = False, tie_embeddings: bool = False,
                 word_dropout: float = 0.0):
        readout = readout or emb
        super().__init__(vocab_size, emb, hidden, layers, cell, dropout,
                         readout_in=hidden + emb + memory_size, readout=readout, maxout=maxout,
                         tie_embeddings=tie_embeddings, word_dropout=word_dropout)
        self.bridge = nn.Linear(encoder_hidden, hidden)                       # W_s
        self.attention = BahdanauAttention(hidden, memory_size, attention_size or hidden)
        gates = 3 if cell == "gru" else 4
        self.W = nn.Linear(emb, gates * hidden)                               # W E y_{i−1} + b
        self.U = nn.Linear(hidden, gates * hidden)                            # U s_{i−1} (+ b)
        self.C = nn.Linear(memory_size, gates * hidden, bias=False)           # C c_i
        cell_cls = nn.GRUCell if cell == "gru" else nn.LSTMCell
        self.upper = nn.ModuleList([cell_cls(hidden, hidden) for _ in range(layers - 1)])

    def init_state(self, annotations: Tensor, final: Tensor, mask: Tensor) -> EncoderState:
        """s_0 = tanh(W_s h←_1) per layer; U_a h_j precomputed once."""
        s0 = torch.tanh(self.bridge(final[:, -1]))                             # [L, B, H]
        return EncoderState(mask=mask, hidden=s0, cell=self._zeros_cell(s0), memory=annotations,
                            keys=self.attention.project_keys(annotations))

    def _advance(self, state: EncoderState, w_y: Tensor, h: list, c: list) -> tuple[Tensor, Tensor]:
        """One step i given w_y = W E y_{i−1} + b ([B, G·H]).

        Updates ``h``/``c`` (per-layer lists) in place; returns c_i [B, D] and α_i [B, S].
        """
        ctx, alpha = self.attention(h[-1][:, None, :], state.keys, state.memory, state.mask)
        ctx, alpha = ctx[:, 0], alpha[:, 0]
        h[0], c[0] = _cell_step(self.cell, w_y + self.C(ctx), h[0], c[0], self.U.weight, self.U.bias)
        for l, cl in enumerate(self.upper, start=1):
            gi = F.linear(self.dropout(h[l - 1]), cl.weight_ih, cl.bias_ih)
            h[l], c[l] = _cell_step(self.cell, gi, h[l], c[l], cl.weight_hh, cl.bias_hh)
        return ctx, alpha

    def _unpack(self, state: EncoderState):
        h = list(state.hidden.unbind(0))
        c = list(state.cell.unbind(0)) if state.cell is not None else [None] * self.layers
        return h, c

    def _pack(self, state: EncoderState, h: list, c: list) -> EncoderState:
        return state.with_hidden(torch.stack(h), torch.stack(c) if self.cell == "lstm" else None)

    def forward(self, state: EncoderState, tgt_in: Tensor, return_attention: bool = False,
                output_ids: Tensor | None = None, features: bool = False):
        """Teacher forcing: tgt_in [B, T] -> logits [B, T, V] (and α [B, T, S]);
        [B, T, K] over ``output_ids`` when given; the readout [B, T, R] with ``features``."""
        y = self.embed(tgt_in)                               # [B, T, E]
        w_y = self.W(y).unbind(1)                                              # all steps at once
        h, c = self._unpack(state)
        s_all, ctx_all, alpha_all = [], [], []
        for i in range(tgt_in.size(1)):
            ctx, alpha = self._advance(state, w_y[i], h, c)
            s_all.append(h[-1])
            ctx_all.append(ctx)
            alpha_all.append(alpha)
        logits = self.logits(torch.stack(s_all, 1), y, torch.stack(ctx_all, 1),  # once, all steps
                             output_ids=output_ids, features=features)
        return (logits, torch.stack(alpha_all, 1)) if return_attention else logits

    def step(self, state: EncoderState, prev: Tensor):
        """prev [B] -> logits [B, V], new state, α [B, S]."""
        y = self.embed(prev)                                 # [B, E]
        h, c = self._unpack(state)
        ctx, alpha = self._advance(state, self.W(y), h, c)
        return self.logits(h[-1], y, ctx), self._pack(state, h, c), alpha


class LuongDecoder(RecurrentDecoder):
    """rnnsearch with Luong et al. (2015) global attention (§3.1), "dot" or "general" score.

    h_t = RNN(h_{t−1}, E y_{t−1});  a_t = softmax(score(h_t, h̄_s)) (Eq. 7–8);  c_t = Σ_s a_ts h̄_s;
    h̃_t = tanh(W_c [c_t; h_t]) (Eq. 5);  p(y_t) = softmax(W_s h̃_t) (Eq. 6).
    The decoder starts from tanh(W_s h←_1) like :class:`BahdanauDecoder`.  Input feeding (§3.3) is
    not used, which keeps the recurrence free of attention: one RNN call and one batched attention
    for the whole target.
    """

    def __init__(self, vocab_size: int, emb: int, hidden: int, memory_size: int, encoder_hidden: int,
                 layers: int = 1, cell: str = "gru", dropout: float = 0.0, score: str = "general",
                 readout: int | None = None, maxout: bool = False, tie_embeddings: bool = False,
                 word_dropout: float = 0.0):
        readout = readout or emb
        super().__init__(vocab_size, emb, hidden, layers, cell, dropout,
                         readout_in=memory_size + hidden, readout=readout, maxout=maxout,
                         tie_embeddings=tie_embeddings, word_dropout=word_dropout)
        self.bridge = nn.Linear(encoder_hidden, hidden)
        self.attention = LuongAttention(hidden, memory_size, score)
        self.rnn = RNN_CELLS[cell](emb, hidden, num_layers=layers, batch_first=True,
                                   dropout=dropout if layers > 1 else 0.0)

    def init_state(self, annotations: Tensor, final: Tensor, mask: Tensor) -> EncoderState:
        h0 = torch.tanh(self.bridge(final[:, -1]))                             # [L, B, H]
        return EncoderState(mask=mask, hidden=h0, cell=self._zeros_cell(h0), memory=annotations,
                            keys=self.attention.project_keys(annotations))

    def _run(self, state: EncoderState, tgt_in: Tensor, output_ids: Tensor | None = None, features: bool = False):
        y = self.embed(tgt_in)                               # [B, T, E]
        hx = (state.hidden, state.cell) if self.cell == "lstm" else state.hidden
        out, hx = run_rnn(self.rnn, y, hx)                                              # [B, T, H], one call
        ctx, alpha = self.attention(out, state.keys, state.memory, state.mask)  # all T at once
        h, cell = hx if self.cell == "lstm" else (hx, None)
        return self.logits(ctx, out, output_ids=output_ids, features=features), alpha, state.with_hidden(h, cell)

    def forward(self, state: EncoderState, tgt_in: Tensor, return_attention: bool = False,
                output_ids: Tensor | None = None, features: bool = False):
        """Teacher forcing: tgt_in [B, T] -> logits [B, T, V] (and a [B, T, S]);
        [B, T, K] over ``output_ids`` when given; the readout [B, T, R] with ``features``."""
        logits, alpha, _ = self._run(state, tgt_in, output_ids, features)
        return (logits, alpha) if return_attention else logits

    def step(self, state: EncoderState, prev: Tensor):
        """prev [B] -> logits [B, V], new state, a [B, S]."""
        logits, alpha, state = self._run(state, prev[:, None])
        return logits[:, 0], state, alpha[:, 0]
