"""The sequence-to-sequence model: configuration, construction, checkpoint loading.

Two architectures, as compared by Bahdanau et al. (2015), §4:

* ``rnnenc`` — the RNN Encoder–Decoder of Cho et al. (2014): the source is squeezed into one
  fixed-length vector c that conditions every decoder step (:class:`nmt.decoders.ConditionalDecoder`).
* ``rnnsearch`` — a bidirectional encoder and a decoder that (soft-)searches the annotations for
  each target word: additive attention (Bahdanau et al. 2015, :class:`nmt.decoders.BahdanauDecoder`)
  or Luong et al. (2015)'s dot/general global attention (:class:`nmt.decoders.LuongDecoder`).

Usage::

    cfg = ModelConfig("rnnsearch", src_vocab=8000, tgt_vocab=8000)
    model = build_model(cfg)
    logits = model(src, src_len, tgt_in)             # [B, T, V], teacher forcing
    state = model.encode(src, src_len)               # for search (nmt/search.py)
    log_probs, state, attn = model.decode_step(state, prev_tokens)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from data.io import UserError
from nmt.decoders import BahdanauDecoder, ConditionalDecoder, EncoderState, LuongDecoder
from nmt.encoders import RecurrentEncoder
from nmt.loss import output_cross_entropy

__all__ = ["ModelConfig", "Seq2Seq", "EncoderState", "build_model", "load_checkpoint"]

ARCHS = ("rnnenc", "rnnsearch")
CELLS = ("gru", "lstm")
ATTENTIONS = ("bahdanau", "luong-dot", "luong-general")


@dataclass
class ModelConfig:
    """All sizes and choices of a model; ``dataclasses.asdict(cfg)`` round-trips via ``ModelConfig(**d)``.

    Attributes:
        arch: ``"rnnenc"`` (Cho et al. 2014) or ``"rnnsearch"`` (Bahdanau et al. 2015).
        src_vocab, tgt_vocab: vocabulary sizes, special symbols included.
        emb: word embedding size m (both sides).
        hidden: recurrent state size n (encoder per direction and decoder).
        layers: stacked recurrent layers in encoder and decoder.
        cell: ``"gru"`` or ``"lstm"``.
        bidirectional: encoder reads both ways; ``None`` = the paper's choice (True for
            rnnsearch, False for rnnenc), resolved on construction.
        attention: rnnsearch only: ``"bahdanau"`` (additive), ``"luong-dot"`` (needs the
            annotation size = hidden, i.e. a unidirectional encoder) or ``"luong-general"``.
        attention_size: n', hidden size of the additive alignment model (``None`` = hidden).
        dropout: on embeddings, between stacked layers and before the output layer.
        tie_embeddings: share the target embedding matrix with the output layer (needs
            ``readout == emb``, which is the default).
        readout: size of the deep-output layer t_i (``None`` = emb; Bahdanau use l = 500).
        maxout: maxout (pool 2) readout as in Bahdanau A.2.2 instead of tanh.
        word_dropout_src, word_dropout_tgt: probability of dropping a whole source / target-input
            token's embedding in training (Sennrich & Zhang 2019 §3.2; :class:`nmt.encoders.WordDropout`).
    """

    arch: str
    src_vocab: int
    tgt_vocab: int
    emb: int = 256
    hidden: int = 512
    layers: int = 1
    cell: str = "gru"
    bidirectional: bool | None = None
    attention: str = "bahdanau"
    attention_size: int | None = None
    dropout: float = 0.2
    tie_embeddings: bool = False
    readout: int | None = None
    maxout: bool = False
    word_dropout_src: float = 0.0
    word_dropout_tgt: float = 0.0

    def __post_init__(self):
        if self.bidirectional is None:
            self.bidirectional = self.arch == "rnnsearch"
        if self.readout is None:
            self.readout = self.emb
        self.validate()

    def validate(self) -> None:
        """:class:`UserError` (one line) for any impossible setting."""
        def bad(msg):
            raise UserError(f"model config: {msg}")
        if self.arch not in ARCHS:
            bad(f"unknown arch {self.arch!r} (choose from {', '.join(ARCHS)})")
        if self.cell not in CELLS:
            bad(f"unknown cell {self.cell!r} (choose from {', '.join(CELLS)})")
        if self.attention not in ATTENTIONS:
            bad(f"unknown attention {self.attention!r} (choose from {', '.join(ATTENTIONS)})")
        for name in ("src_vocab", "tgt_vocab"):
            if int(getattr(self, name)) < 5:
                bad(f"{name} = {getattr(self, name)}: a vocabulary needs the 4 special symbols and at least one word")
        for name in ("emb", "hidden", "layers", "readout"):
            if int(getattr(self, name)) < 1:
                bad(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.attention_size is not None and self.attention_size < 1:
            bad(f"attention_size must be >= 1, got {self.attention_size}")
        for name in ("dropout", "word_dropout_src", "word_dropout_tgt"):
            if not 0.0 <= getattr(self, name) < 1.0:
                bad(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.tie_embeddings and self.readout != self.emb:
            bad(f"tie_embeddings needs readout == emb, got readout {self.readout} and emb {self.emb}")
        if self.arch == "rnnsearch" and self.attention == "luong-dot" and self.bidirectional:
            bad("luong-dot attention needs annotation size == hidden: use bidirectional=False "
                "or attention=luong-general")

    @property
    def annotation_size(self) -> int:
        return self.hidden * (2 if self.bidirectional else 1)


class Seq2Seq(nn.Module):
    """Encoder + decoder.  All inputs are padded with PAD (0); batches need not be sorted."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = RecurrentEncoder(cfg.src_vocab, cfg.emb, cfg.hidden, cfg.layers, cfg.cell,
                                        cfg.bidirectional, cfg.dropout, cfg.word_dropout_src)
        common = dict(layers=cfg.layers, cell=cfg.cell, dropout=cfg.dropout, readout=cfg.readout,
                      maxout=cfg.maxout, tie_embeddings=cfg.tie_embeddings, word_dropout=cfg.word_dropout_tgt)
        if cfg.arch == "rnnenc":
            self.decoder = ConditionalDecoder(cfg.tgt_vocab, cfg.emb, cfg.hidden,
                                              encoder_final_size=cfg.annotation_size, **common)
        elif cfg.attention == "bahdanau":
            self.decoder = BahdanauDecoder(cfg.tgt_vocab, cfg.emb, cfg.hidden, cfg.annotation_size,
                                           cfg.hidden, attention_size=cfg.attention_size, **common)
        else:
            self.decoder = LuongDecoder(cfg.tgt_vocab, cfg.emb, cfg.hidden, cfg.annotation_size,
                                        cfg.hidden, score=cfg.attention.split("-")[1], **common)

    def encode(self, src: Tensor, src_len: Tensor) -> EncoderState:
        """src [B, S], src_len [B] -> the state decoding starts from (see :class:`EncoderState`)."""
        annotations, final, mask = self.encoder(src, src_len)
        return self.decoder.init_state(annotations, final, mask)

    def forward(self, src: Tensor, src_len: Tensor, tgt_in: Tensor, return_attention: bool = False,
                output_ids: Tensor | None = None):
        """Teacher forcing.

        Args:
            src: [B, S] source ids, src_len: [B] lengths (>= 1).
            tgt_in: [B, T] target ids shifted right (BOS first), PAD after the end.
        Returns:
            logits [B, T, V] (unnormalised; positions after a sentence's end are meaningless and
            must be ignored by the loss), plus the attention [B, T, S] (``None`` for rnnenc)
            when ``return_attention``.  With ``output_ids`` ([K] target ids, training with a sampled
            softmax, :mod:`nmt.sampled_softmax`) the logits are [B, T, K] over those words only.
        """
        return self.decoder(self.encode(src, src_len), tgt_in, return_attention=return_attention,
                            output_ids=output_ids)

    def loss(self, src: Tensor, src_len: Tensor, tgt_in: Tensor, tgt_out: Tensor, label_smoothing: float = 0.0,
             output_ids: Tensor | None = None) -> tuple[Tensor, int]:
        """Training loss: Σ token cross-entropy over the non-PAD ``tgt_out`` [B, T] and their count —
        the output layer and the loss fused in one chunked pass (:mod:`nmt.loss`; the same value and
        gradients as ``F.cross_entropy`` on :meth:`forward`'s logits). ``output_ids``: a sampled
        softmax's K words (``tgt_out`` then indexes them)."""
        t = self.decoder(self.encode(src, src_len), tgt_in, features=True)      # [B, T, R]
        out = self.decoder.output
        weight, bias = out.weight, out.bias
        if output_ids is not None:
            weight, bias = weight[output_ids], (bias[output_ids] if bias is not None else None)
        return output_cross_entropy(t, weight, bias, tgt_out, label_smoothing)

    def decode_step(self, state: EncoderState, prev_tokens: Tensor) -> tuple[Tensor, EncoderState, Tensor | None]:
        """One decoder step for search: prev_tokens [B] -> (log p(y | …) [B, V], new state, α [B, S] or None)."""
        logits, state, alpha = self.decoder.step(state, prev_tokens)
        return torch.log_softmax(logits.float(), dim=-1), state, alpha

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def build_model(cfg: ModelConfig) -> Seq2Seq:
    """The model for ``cfg`` (parameters on CPU; move with ``.to(device)``)."""
    return Seq2Seq(cfg)


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[Seq2Seq, dict]:
    """Load a trainer checkpoint -> (model in eval mode on ``device``, the checkpoint dict).

    The checkpoint is the trainer's dict (``model_config`` as ``dataclasses.asdict``,
    ``model_state``, …).  A missing, unreadable or foreign file is a :class:`UserError`.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such checkpoint")
    try:
        # our own files: they hold RNG states (numpy arrays), so not weights_only
        ckpt = torch.load(path, map_location=device, weights_only=False)
    except Exception as exc:  # noqa: BLE001 — any unpickling error means "not a checkpoint"
        raise UserError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(ckpt, dict) or "model_config" not in ckpt or "model_state" not in ckpt:
        raise UserError(f"{path}: not an nmt checkpoint (no model_config/model_state)")
    try:
        cfg = ModelConfig(**ckpt["model_config"])
    except TypeError as exc:
        raise UserError(f"{path}: bad model_config ({exc})") from None
    model = build_model(cfg)
    try:
        model.load_state_dict(ckpt["model_state"])
    except RuntimeError as exc:
        raise UserError(f"{path}: model_state does not fit its model_config ({str(exc).splitlines()[0]})") from None
    return model.to(device).eval(), ckpt
