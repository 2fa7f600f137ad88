"""Where and how NMT runs: device choice, CPU threads, mixed precision, distributed set-up, RNG state.

One home for what training and translation both need, so neither imports the other.

* Device: ``auto`` = CUDA when available, else Apple's MPS, else the CPU. On MPS, ops PyTorch has
  not written for it fall back to the CPU (``PYTORCH_ENABLE_MPS_FALLBACK=1``, said once).
* Threads: all cores by default; ``OMP_WAIT_POLICY=PASSIVE`` (set by ``python -m nmt`` before torch
  starts, unless the user set it) keeps idle OpenMP threads from spinning, which is what made a
  2-thread job fall from ~2,300 to ~150 tokens/s when another process shared the 2 cores.
* Mixed precision (:func:`resolve_amp`): bf16 autocast for training only; parameters, gradients
  and Adam's moments stay fp32. oneDNN has no bf16 LSTM primitive on CPUs without native bf16
  (AVX2 only: "could not create a primitive descriptor for the LSTM forward propagation
  primitive"), so :func:`run_rnn` runs the whole-sequence ``nn.LSTM`` in fp32 on the CPU — on
  every CPU, so that a model trains to the same numbers on AVX2 and AVX-512 machines.
"""
from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from data.io import UserError


def cpu_has_fast_bf16() -> bool:
    """True when the CPU has bf16 matrix instructions (AVX512-BF16 or AMX-BF16), per /proc/cpuinfo."""
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_amp(setting: str, dev: torch.device) -> torch.dtype | None:
    """The autocast dtype for training (``None`` = plain fp32).

    ``bf16`` always; ``auto`` = bf16 on a CUDA GPU that supports it or on a CPU with AVX512-BF16/
    AMX (measured here: a full-size RNNsearch step 1.3 s fp32 → 0.6–0.75 s bf16 on 2 cores), else
    fp32. Only the forward/backward of training runs under autocast: parameters, gradients and
    Adam's moments stay fp32, the recurrent gates, attention softmax and the loss are computed in
    fp32 (see ``nmt.decoders._cell_step``, ``nmt.attention``), and all decoding is fp32.
    """
    if setting == "off":
        return None
    if setting == "bf16":
        return torch.bfloat16
    if dev.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    if dev.type == "mps":
        return None
    return torch.bfloat16 if cpu_has_fast_bf16() else None


def run_rnn(rnn: nn.RNNBase, x, hx=None):
    """``rnn(x, hx)`` for a whole-sequence ``nn.GRU``/``nn.LSTM``; an LSTM on the CPU runs in fp32 even
    under autocast (oneDNN has no bf16 LSTM on AVX2-only CPUs; see the module docstring)."""
    if isinstance(rnn, nn.LSTM) and torch.is_autocast_enabled("cpu"):
        dev = (x.data if isinstance(x, PackedSequence) else x).device
        if dev.type == "cpu":
            with torch.autocast("cpu", enabled=False):
                if isinstance(x, PackedSequence):
                    x = x._replace(data=x.data.float())
                else:
                    x = x.float()
                if hx is not None:
                    hx = tuple(h.float() for h in hx)
                return rnn(x, hx)
    return rnn(x, hx)


_MPS_NOTE_SHOWN = False


def pick_device(name: str) -> torch.device:
    """``auto`` → cuda, else mps, else cpu; an explicit name is checked (one clear line if unusable)."""
    global _MPS_NOTE_SHOWN
    mps_ok = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        dev = torch.device("cuda" if torch.cuda.is_available() else "mps" if mps_ok else "cpu")
    else:
        try:
            dev = torch.device(name)
        except RuntimeError:
            raise UserError(f"--device {name!r}: not a device (auto, cpu, cuda, cuda:N, mps)") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise UserError(f"--device {name}: CUDA is not available on this machine")
        if dev.type == "mps" and not mps_ok:
            raise UserError(f"--device {name}: Apple MPS is not available on this machine")
        if dev.type not in ("cpu", "cuda", "mps"):
            raise UserError(f"--device {name!r}: only cpu, cuda and mps are supported")
    if dev.type == "mps" and not _MPS_NOTE_SHOWN:
        os.environ.setdefault("PYTORCH_ENABLE_MPS_FALLBACK", "1")
        print("note: on Apple MPS; ops without an MPS kernel run on the CPU (PYTORCH_ENABLE_MPS_FALLBACK=1)",
              file=sys.stderr)
        _MPS_NOTE_SHOWN = True
    return dev


def set_threads(dev: torch.device, threads: int | None) -> int:
    """Torch's intra-op threads on the CPU (all cores when ``threads`` is ``None``); the number used."""
    n = threads or os.cpu_count() or 1
    if dev.type == "cpu":
        torch.set_num_threads(n)
    return n


# ----------------------------------------------------------------------------------------------
# distributed (torchrun) helpers — import-safe without a process group

def dist_info() -> tuple[int, int, int]:
    """(rank, world_size, local_rank) from the torchrun environment (0, 1, 0 otherwise)."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def all_or(flag: bool, world: int, device) -> bool:
    """True on every rank if it is True on any (e.g. "stop now")."""
    if world <= 1:
        return flag
    import torch.distributed as dist  # only under torchrun
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


# ----------------------------------------------------------------------------------------------
# RNG state (exact resume)

def rng_states() -> dict:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def set_rng_states(s: dict) -> None:
    random.setstate(s["python"])
    np.random.set_state(s["numpy"])
    torch.set_rng_state(s["torch"])
    if s.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])
