"""The output layer and the training loss in one pass: p(y_i) = softmax(W_o t_i + b_o) and the
(label-smoothed) token cross-entropy, with the gradients computed in the same chunked pass.

Why: in a training step of the quick profile's rnnsearch (3,000 target positions, 4,300 units)
the plain path — logits [N, V] = W_o t + b_o, ``F.cross_entropy`` (log-softmax, then NLL) and
autograd's backward through both — spent ~600 of ~1,370 ms (torch.profiler, one thread, AVX512-BF16
CPU) on the [N, V] tensors: four of them, 51 MB each, fresh pages at every step (glibc serves
blocks over 32 MB by mmap), the log-softmax backward and a zero fill for the NLL backward. Here the
N positions run in chunks of ``chunk`` rows; per chunk the logits, softmax p and the gradient
∂L/∂z = p − q live only briefly (q = (1 − ε)·onehot(y) + ε/V: label smoothing, Szegedy et al.
2016, as ``F.cross_entropy(label_smoothing=ε)``), and ∂L/∂t = (p − q) W_o, ∂L/∂W_o = (p − q)ᵀ t,
∂L/∂b_o = Σ (p − q) are accumulated at once; backward only scales them by the incoming gradient.

Same function, same gradients as ``F.cross_entropy(F.linear(t, W, b), y, ignore_index=PAD,
label_smoothing=ε, reduction="sum")`` (tests/test_fast_paths.py). Under CPU/CUDA autocast the two
matrix products run in the autocast dtype (bf16) as autocast's ``linear`` would, and the
softmax, the loss and the accumulated gradients in fp32.
"""
from __future__ import annotations

import torch
from torch import Tensor

from nmt.vocab import PAD


def _autocast_dtype(device: torch.device) -> torch.dtype | None:
    kind = device.type if device.type in ("cpu", "cuda") else None
    if kind is None or not torch.is_autocast_enabled(kind):
        return None
    return torch.get_autocast_dtype(kind)


class _OutputCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, t: Tensor, weight: Tensor, bias: Tensor | None, target: Tensor, eps: float, chunk: int,
                low: torch.dtype | None):
        N, V = t.size(0), weight.size(0)
        mm_dtype = low or t.dtype
        w_mm = weight.to(mm_dtype)
        grad_t = torch.empty(t.shape, dtype=t.dtype, device=t.device)
        grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=t.device)
        grad_b = torch.zeros(V, dtype=torch.float32, device=t.device) if bias is not None else None
        loss = torch.zeros((), dtype=torch.float32, device=t.device)
        for s in range(0, N, chunk):
            t_c, y_c = t[s:s + chunk].to(mm_dtype), target[s:s + chunk]
            z = (t_c @ w_mm.t()).float()                                          # [n, V]
            if bias is not None:
                z += bias.float()
            logp = torch.log_softmax(z, dim=-1)
            valid = (y_c != PAD).float()
            nll = -logp.gather(1, y_c[:, None]).squeeze(1)
            per_tok = (1.0 - eps) * nll - eps * logp.mean(dim=-1) if eps else nll
            loss += (per_tok * valid).sum()
            g = logp.exp_()                                                       # p, in place
            if eps:
                g -= eps / V
            g.scatter_add_(1, y_c[:, None], torch.full((y_c.numel(), 1), -(1.0 - eps), device=t.device))
            g *= valid[:, None]                                                   # PAD rows: no loss
            if bias is not None:
                grad_b += g.sum(0)
            g_mm = g.to(mm_dtype)
            grad_t[s:s + chunk] = (g_mm @ w_mm).to(t.dtype)
            grad_w += (g_mm.t() @ t_c).float()
        ctx.save_for_backward(grad_t, grad_w, grad_b if grad_b is not None else torch.empty(0))
        ctx.has_bias, ctx.w_dtype = bias is not None, weight.dtype
        return loss

    @staticmethod
    def backward(ctx, grad_loss: Tensor):
        grad_t, grad_w, grad_b = ctx.saved_tensors
        gb = grad_b * grad_loss if ctx.has_bias else None
        return grad_t * grad_loss, (grad_w * grad_loss).to(ctx.w_dtype), gb, None, None, None, None


def output_cross_entropy(t: Tensor, weight: Tensor, bias: Tensor | None, target: Tensor,
                         label_smoothing: float = 0.0, chunk: int = 512) -> tuple[Tensor, int]:
    """Σ over non-PAD targets of the cross-entropy of softmax(W t + b), and their count.

    Args:
        t: [..., R] readout (dropout applied), weight: [V, R] (W_o, or its rows for a sampled
            softmax), bias: [V] or None, target: [...] ids in [0, V) (PAD = no loss).
        label_smoothing: ε; chunk: rows per pass (bounds the [chunk, V] temporaries).
    """
    R = t.size(-1)
    flat_t, flat_y = t.reshape(-1, R), target.reshape(-1)
    loss = _OutputCrossEntropy.apply(flat_t, weight, bias, flat_y, float(label_smoothing), chunk,
                                     _autocast_dtype(t.device))
    return loss, int((flat_y != PAD).sum())
