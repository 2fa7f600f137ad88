"""How fast this machine trains a model: a short probe on a synthetic batch, the model's FLOPs per
target token, and the machine's matrix-multiply peak — for the study's time estimate
(``compare.experiments``) and the throughput / FLOP-utilisation table of ``make bench``.

* :func:`flops_per_token` counts the FLOPs of one training step (forward + backward) with
  ``torch.utils.flop_counter.FlopCounterMode`` (matmuls; the GRU/LSTM gates are matmuls too) and
  divides by the target tokens of the batch: ~13 MFLOP for rnnenc and ~18 MFLOP for rnnsearch at
  emb = hidden = 256 with 4,000 target units (mostly the output layer and the recurrences).
* :func:`matmul_peak` is the best FLOP/s of square matrix products (fp32, or bf16 where the CPU
  has it natively): the roof the model FLOP utilisation (MFU) is measured against.
* :func:`probe` times a few Adam updates (the median of them) on a batch shaped like the profile's (``batch_tokens``
  padded tokens, sentences of ``length`` tokens), after one warm-up update.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from nmt.model import ModelConfig, build_model


@dataclass
class Probe:
    seconds_per_update: float
    tokens_per_update: int       # target tokens (the loss positions)
    flops_per_token: float

    @property
    def tokens_per_s(self) -> float:
        return self.tokens_per_update / self.seconds_per_update

    @property
    def flops_per_s(self) -> float:
        return self.tokens_per_s * self.flops_per_token


def _batch(cfg: ModelConfig, batch_tokens: int, length: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    B = max(1, batch_tokens // length)
    src = torch.randint(4, cfg.src_vocab, (B, length), generator=g)
    tgt = torch.randint(4, cfg.tgt_vocab, (B, length), generator=g)
    return src, torch.full((B,), length, dtype=torch.long), tgt


def flops_per_token(cfg: ModelConfig, length: int = 30, batch: int = 16) -> float:
    """FLOPs of one training step (forward + backward) per target token."""
    model = build_model(cfg)
    src, src_len, tgt = _batch(cfg, batch * length, length)
    with FlopCounterMode(display=False) as fc:
        model(src, src_len, tgt).float().sum().backward()
    return fc.get_total_flops() / tgt.numel()


def matmul_peak(dtype: torch.dtype = torch.float32, n: int = 1024, seconds: float = 1.0) -> float:
    """Best FLOP/s of an n×n by n×n product over ~``seconds`` (uses torch's current thread count)."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    torch.mm(a, b)  # warm-up
    best, t_end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = max(best, 2 * n ** 3 / (time.perf_counter() - t0))
    return best


def probe(cfg: ModelConfig, batch_tokens: int, length: int = 30, updates: int = 3,
          amp: torch.dtype | None = None, plain: bool = False) -> Probe:
    """Seconds per Adam update on a synthetic batch of ``batch_tokens`` padded tokens (CPU).

    ``plain=True``: the formulation before the fast paths, for a before/after — the packed encoder
    call and ``F.cross_entropy`` on the full logits instead of the padded fused GRU calls
    (:meth:`nmt.encoders.RecurrentEncoder._gru_padded`) and the fused loss (:mod:`nmt.loss`)."""
    torch.manual_seed(0)
    model = build_model(cfg)
    model.train()
    model.encoder.padded_cpu_gru = not plain
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    src, src_len, tgt = _batch(cfg, batch_tokens, length)

    def update() -> None:
        with torch.autocast("cpu", dtype=amp or torch.bfloat16, enabled=amp is not None):
            if plain:
                logits = model(src, src_len, tgt)
            else:
                loss_sum, ntok = model.loss(src, src_len, tgt, tgt)   # the trainer's path (nmt.loss)
        if plain:
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), tgt.reshape(-1))
        else:
            loss = loss_sum / ntok
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    update()  # warm-up (allocations, oneDNN primitive creation)
    times = []
    for _ in range(updates):
        t0 = time.perf_counter()
        update()
        times.append(time.perf_counter() - t0)
    secs = statistics.median(times)  # robust to another job briefly sharing the core
    return Probe(secs, tgt.numel(), flops_per_token(cfg, length))
