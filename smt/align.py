"""Word alignment: IBM Models 1 and 2 and the HMM model, trained by EM, both directions, symmetrised.

Models (one *direction* each; the generated side is called ``f``, the conditioning side ``e`` with
the empty word ``e_0 = NULL`` in front, as in Brown et al. 1993):

* **IBM Model 1** (Brown et al. 1993, §4.1, eqs. 4-6 and the EM counts of eqs. 12-17):
  ``P(f, a | e) ∝ Π_j t(f_j | e_{a_j})`` with all ``l + 1`` positions equally likely.  EM is exact:
  ``t(f|e) = c(f|e) / Σ_f' c(f'|e)``, so every row of the table sums to 1 (unlike NLTK, issue #1939).
* **IBM Model 2** (Brown et al. 1993, §4.2, eqs. 21-27) with the alignment distribution tied by
  *relative position* (the "diagonal" parametrisation also used by Vogel et al. 1996 and fast_align):
  ``a(i | j, l, m) = (1 - p0) · s(i - ⌊(j + ½) l / m⌋) / Σ_i' s(…)`` for ``i ≥ 1`` and ``a(0 | …) = p0``.
* **HMM** (Vogel et al. 1996, eqs. 1-4) with the empty word as in Och & Ney 2003, §3.1.1 / eq. 13:
  ``2I`` states, state ``i + I`` is "NULL, remembering position i"; jumps depend only on the
  width ``i - i'``: ``p(i | i', I) = (1 - p0) · c(i - i') / Σ_i'' c(i'' - i')``,
  ``p(i + I | i', I) = p0 · δ(i, i')``.  Forward-backward gives the posteriors (Baum-Welch).
  IBM2 and HMM smooth their alignment distribution with a uniform one, ``(1 - α) p + α / I``
  (Och & Ney 2003, §3.1.1).

Schedule (GIZA++-like): ``ibm1_iterations`` of Model 1 initialise ``t``; Model 2 / the HMM then run
``iterations`` more EM iterations from it.  By default the two directions are trained jointly by
*agreement* (Liang, Taskar & Klein 2006): after each pair of E-steps, every link's expected count
is the product of the two directions' posteriors (``agreement=False`` / ``--independent``: two
plain EM runs, as GIZA++ and fast_align).  Viterbi alignments are taken in both directions and
symmetrised with Moses' ``symal`` algorithm (Koehn et al. 2003; Och & Ney 2003, §4.1):
intersect, union, grow(-diag)(-final)(-and), or one direction only.

Directions (named as Moses' symal names them): ``src2tgt`` links each *source* word to at most one
target word (the model P(source | target)); ``tgt2src`` links each target word to at most one source
word (P(target | source)).  Alignments are Pharaoh ``i-j`` pairs, ``i`` source and ``j`` target
position, 0-based.

Vectorisation: the corpus is integer-encoded and cut into batches of sentence pairs with the same
``l`` and similar ``m``; every (sentence, j, i) cell holds the index of its (e, f) pair in a flat
translation table over the co-occurring pairs only, so an E-step is a gather, a few array
operations per batch and one ``np.bincount`` for the expected counts.
"""
from __future__ import annotations

import argparse
import bisect
import contextlib
import math
import pickle
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from data import pharaoh
from data.io import add_alias, MAX_TOKENS as IO_MAX_TOKENS, UserError, atomic_write, check_tokens, progress, read_parallel, write_lines
from smt import fertility, gibbs
from smt.cluster import Engine
from smt.corpus import Encoded, encode

MODELS = ("ibm1", "ibm2", "hmm")
#: Aligners of :func:`align_corpus`: the EM models, and the Gibbs sampler of smt/gibbs.py.
ALIGNERS = MODELS + ("gibbs",)
SYMMETRIZE = ("intersect", "union", "grow", "grow-diag", "grow-final", "grow-diag-final",
              "grow-diag-final-and", "src2tgt", "tgt2src")
#: Also for the sampler: the mean of its two directions' link marginals > 0.5 (smt.gibbs.posterior_links).
POSTERIOR = "posterior"
#: Longest sentence (tokens) accepted: longer lines are almost surely not sentences.
MAX_TOKENS = IO_MAX_TOKENS  # the one length policy (data.io.MAX_TOKENS)
#: Defaults. p0: probability of the empty word in IBM2/HMM (fixed, not trained, as in fast_align
#: and GIZA++'s HMM); alpha: weight of the uniform distribution smoothed into a(i|…) / p(i|i').
P0 = 0.2
ALPHA = 0.1
#: Cap on the cells (sentences × m × (l+1)) of one batch: bounds the memory of an HMM batch.
BATCH_CELLS = 1 << 20


@contextlib.contextmanager
def blas_threads(n: int = 1):
    """Run the block with the BLAS thread pool limited to ``n`` threads (threadpoolctl).

    The HMM's forward-backward does thousands of small matrix products; with several BLAS
    threads on a busy 2-core machine each is ~25x slower than on one.
    """
    with threadpool_limits(n, user_api="blas"):
        yield


class _Batch:
    """Sentence pairs with the same ``l`` (e length) and similar ``m`` (f length), padded to ``M``."""

    __slots__ = ("ids", "l", "M", "m", "mask", "lo", "hi")

    def __init__(self, ids: np.ndarray, l: int, m: np.ndarray, lo: int):
        self.ids, self.l, self.m = ids, l, m
        self.M = int(m.max())
        self.mask = np.arange(self.M)[None, :] < m[:, None]          # (B, M) real f positions
        self.lo, self.hi = lo, lo + len(ids) * self.M * (l + 1)       # slice of the flat cell arrays


def _factorize(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, uniques) with ``uniques[codes] == keys`` (pandas' hash table: no sort, unlike np.unique)."""
    codes, uniq = pd.factorize(keys, sort=False)
    return codes, np.asarray(uniq)


class AlignmentModel:
    """One direction of alignment, P(f | e): each f word is generated by one e word or by NULL.

    ``f_sents`` and ``e_sents`` are lists of token lists (same length).  Pairs with an empty side
    are kept (they get an empty / all-NULL alignment) but take no part in training.
    """

    def __init__(self, f_sents: Sequence[Sequence[str]] | Encoded, e_sents: Sequence[Sequence[str]] | Encoded, *,
                 p0: float = P0, alpha: float = ALPHA, desc: str = "", max_l: int | None = None):
        f = f_sents if isinstance(f_sents, Encoded) else encode(f_sents)
        e = e_sents if isinstance(e_sents, Encoded) else encode(e_sents)
        if len(f.lengths) != len(e.lengths):
            raise ValueError(f"{len(f.lengths)} f sentences but {len(e.lengths)} e sentences")
        if not 0.0 < p0 < 1.0 or not 0.0 <= alpha <= 1.0:
            raise UserError(f"need 0 < p0 < 1 and 0 <= alpha <= 1 (got p0={p0}, alpha={alpha})")
        self.p0, self.alpha, self.desc = p0, alpha, desc
        self.f_vocab = f.vocab
        self.e_vocab: dict[str | None, int] = {None: 0, **{w: k + 1 for w, k in e.vocab.items()}}  # None = NULL
        self._f, self._e = f, e                                  # e ids are shifted by 1 below: 0 = NULL
        self.m, self.l = f.lengths, e.lengths
        self._cell_buffer: np.ndarray | None = None
        self._build_batches()
        self.model = "ibm1"
        self.iterations_done: list[tuple[str, float]] = []
        # Brown et al.'s start: t(f|e) uniform, so the first E-step gives every position 1/(l+1).
        self.t = np.full(self.n_pairs, 1.0 / max(len(self.f_vocab), 1))
        # max_l: a shard of a corpus (ShardedEM) takes the corpus's, so every shard shares the jump buckets.
        self.max_l = max_l if max_l is not None else int(self.l.max()) if len(self.l) else 1
        # Relative-position (IBM2) and jump-width (HMM) counts, index offset max_l; start uniform.
        self.s = np.ones(2 * self.max_l + 1)
        self.c = np.ones(2 * self.max_l + 1)

    # ---------------------------------------------------------------- corpus layout
    def _build_batches(self) -> None:
        """Sort pairs by (l, m), cut into batches, and index every cell's (e, f) pair."""
        live = np.flatnonzero((self.m > 0) & (self.l > 0))
        order = live[np.lexsort((self.m[live], self.l[live]))]
        self.batches: list[_Batch] = []
        start, lo = 0, 0
        while start < len(order):
            l, m0 = self.l[order[start]], self.m[order[start]]
            end = start + 1
            while (end < len(order) and self.l[order[end]] == l
                   and self.m[order[end]] <= m0 + max(2, m0 // 4)
                   and (end + 1 - start) * self.m[order[end]] * (l + 1) <= BATCH_CELLS):
                end += 1
            ids = order[start:end]
            b = _Batch(ids, int(l), self.m[ids], lo)
            self.batches.append(b)
            lo, start = b.hi, end
        n_f = max(len(self.f_vocab), 1)
        pad_key = -1
        f_flat, f_off = np.append(self._f.ids, 0), self._f.offsets
        e_flat, e_off = self._e.ids + 1, self._e.offsets
        keys = np.empty(lo, dtype=np.int64)
        for b in self.batches:
            f = f_flat[np.minimum(f_off[b.ids, None] + np.arange(b.M), len(f_flat) - 1)]     # (B, M)
            e = np.zeros((len(b.ids), b.l + 1), dtype=np.int64)                            # e_0 = NULL
            e[:, 1:] = e_flat[e_off[b.ids, None] + np.arange(b.l)]
            cell = e[:, None, :] * n_f + f[:, :, None]
            cell[~b.mask] = pad_key
            keys[b.lo:b.hi] = cell.ravel()
        # Index the co-occurring (e, f) pairs: a hash factorisation (O(n)) instead of sorting ~10^7 keys.
        codes, uniq = _factorize(keys)
        real = uniq != pad_key
        self.n_pairs = int(real.sum())
        remap = np.full(len(uniq), self.n_pairs, dtype=np.int32)  # padding cells -> index n_pairs
        remap[real] = np.arange(self.n_pairs, dtype=np.int32)
        self.pair = remap[codes]                                  # flat cell -> (e, f) pair index
        self.pair_e = uniq[real] // n_f
        self.pair_f = uniq[real] % n_f

    def cell_starts(self) -> np.ndarray:
        """Where each sentence pair's (M, l+1) block of cells starts in the flat layout (-1: untrained)."""
        start = np.full(len(self.m), -1, dtype=np.int64)
        for b in self.batches:
            start[b.ids] = b.lo + np.arange(len(b.ids)) * b.M * (b.l + 1)
        return start

    def _cells(self, b: _Batch, flat: np.ndarray) -> np.ndarray:
        return flat[b.lo:b.hi].reshape(len(b.ids), b.M, b.l + 1)

    # ---------------------------------------------------------------- parameters
    def t_prob(self, f: str, e: str | None) -> float:
        """t(f | e); ``e=None`` is the empty word.  0 for pairs that never co-occur."""
        fi, ei = self.f_vocab.get(f), self.e_vocab.get(e)
        if fi is None or ei is None:
            return 0.0
        k = np.flatnonzero((self.pair_e == ei) & (self.pair_f == fi))
        return float(self.t[k[0]]) if len(k) else 0.0

    def t_row_sums(self) -> np.ndarray:
        """Σ_f t(f | e) for every e (index 0 = NULL); all 1 after an M-step."""
        return np.bincount(self.pair_e, weights=self.t, minlength=len(self.e_vocab))

    def _m_step_t(self, counts: np.ndarray) -> None:
        """t(f|e) = c(f|e) / Σ_f' c(f'|e) (Brown et al. 1993, eq. 16 / 27)."""
        total = np.bincount(self.pair_e, weights=counts, minlength=len(self.e_vocab))
        self.t = counts / np.maximum(total, 1e-300)[self.pair_e]

    def _align_probs(self, b: _Batch) -> tuple[np.ndarray, np.ndarray]:
        """IBM2's a(i | j, l, m) for a batch, shape (B, M, l+1), column 0 = NULL; and the s-bucket
        (relative position + max_l) of every real cell, (B, M, l)."""
        l = b.l
        j = np.arange(b.M)[None, :]
        centre = np.floor((j + 0.5) * l / b.m[:, None]).astype(np.int64)          # (B, M)
        delta = np.arange(l)[None, None, :] - centre[:, :, None] + self.max_l       # (B, M, l)
        s = self.s[delta]
        s = (1 - self.alpha) * s / s.sum(-1, keepdims=True) + self.alpha / l
        a = np.empty((len(b.ids), b.M, l + 1))
        a[..., 0] = self.p0
        a[..., 1:] = (1 - self.p0) * s
        return a, delta

    def _jump_matrix(self, I: int) -> tuple[np.ndarray, np.ndarray]:
        """HMM transitions to real states: rows i' = 0 (start) .. I, columns i = 1 .. I; and the
        jump-width bucket (i - i' + max_l) of every entry.

        ``(1 - p0) · [(1 - α) c(i - i') / Σ_i'' c(i'' - i') + α / I]`` (Vogel et al. 1996, eq. 4;
        Och & Ney 2003, §3.1.1).  Transitions to NULL states are ``p0 · δ(i, i')``.  The first word
        jumps from the virtual position i' = 0 (so monotone starts are learnt with the other jumps)
        or goes to one of the NULL states with p0 / I each.
        """
        d = np.arange(1, I + 1)[None, :] - np.arange(0, I + 1)[:, None] + self.max_l
        raw = self.c[d]
        raw = raw / raw.sum(1, keepdims=True)
        return (1 - self.p0) * ((1 - self.alpha) * raw + self.alpha / I), d

    # ---------------------------------------------------------------- E-steps
    def _posteriors(self, b: _Batch, E: np.ndarray, model: str, stats: dict | None = None):
        """Posterior P(a_j = i | f, e) for a batch: (B, M, l+1), column 0 = NULL; padding = 0.

        Also returns log P(f | e) summed over the batch; accumulates the IBM2/HMM distortion
        counts into ``stats`` when given.
        """
        mask = b.mask
        if model == "ibm1":
            z = E.sum(-1, keepdims=True)
            post = E / z
            loglik = np.log(z[..., 0][mask]).sum() - mask.sum() * math.log(b.l + 1)
        elif model == "ibm2":
            a, delta = self._align_probs(b)
            joint = E * a
            z = joint.sum(-1, keepdims=True)
            post = joint / z
            loglik = np.log(z[..., 0][mask]).sum()
            if stats is not None:
                stats["s"] += np.bincount(delta[mask].ravel(), weights=post[..., 1:][mask].ravel(),
                                          minlength=len(self.s))
        else:
            post, loglik = self._forward_backward(b, E, stats)
        post *= mask[..., None]
        return post, loglik

    def _forward_backward(self, b: _Batch, E: np.ndarray, stats: dict | None):
        """Scaled Baum-Welch for the 2I-state HMM (Vogel et al. 1996; Och & Ney 2003, eq. 13).

        Real and NULL states at the same position have the same outgoing transitions, so the
        backward variables are shared: beta has I entries per position.  Padding positions
        (beyond a sentence's m) are identity steps with scale 1.  Arrays are time-major
        (M, B, I) so that every step works on contiguous memory.
        """
        B, M, I, p0 = len(b.ids), b.M, b.l, self.p0
        J, d_index = self._jump_matrix(I)
        Jn = np.ascontiguousarray(J[1:])                       # from position i' = 1..I
        JnT = np.ascontiguousarray(Jn.T)
        Et = np.ascontiguousarray(E.transpose(1, 0, 2))        # (M, B, I+1)
        Er, En = Et[..., 1:], Et[..., :1]
        valid = np.ascontiguousarray(b.mask.T)[..., None]       # (M, B, 1)
        ar, an = np.empty((M, B, I)), np.empty((M, B, I))
        scale = np.ones((M, B, 1))
        x_r, x_n = Er[0] * J[0], En[0] * (p0 / I)
        z = x_r.sum(1, keepdims=True) + x_n.sum(1, keepdims=True)
        ar[0], an[0], scale[0] = x_r / z, x_n / z, z
        for j in range(1, M):
            u = ar[j - 1] + an[j - 1]                          # mass at position i' (real or NULL)
            x_r = (u @ Jn) * Er[j]
            x_n = u * (p0 * En[j])
            z = x_r.sum(1, keepdims=True) + x_n.sum(1, keepdims=True)
            if valid[j].all():
                ar[j], an[j], scale[j] = x_r / z, x_n / z, z
            else:
                z = np.where(valid[j], z, 1.0)
                ar[j] = np.where(valid[j], x_r / z, ar[j - 1])
                an[j] = np.where(valid[j], x_n / z, an[j - 1])
                scale[j] = z
        beta = np.ones((M, B, I))
        for j in range(M - 1, 0, -1):
            nb = ((Er[j] * beta[j]) @ JnT + p0 * En[j] * beta[j]) / scale[j]
            beta[j - 1] = nb if valid[j].all() else np.where(valid[j], nb, beta[j])
        post = np.empty((M, B, I + 1))
        post[..., 1:] = ar * beta
        post[..., 0] = (an * beta).sum(-1)
        if stats is not None:
            xi = np.empty((I + 1, I))
            xi[0] = (ar[0] * beta[0]).sum(0)                   # start -> i
            if M > 1:
                U = (ar[:-1] + an[:-1]).reshape(-1, I)
                W = (Er[1:] * beta[1:] * (valid[1:] / scale[1:])).reshape(-1, I)
                xi[1:] = (U.T @ W) * Jn
            else:
                xi[1:] = 0.0
            stats["c"] += np.bincount(d_index.ravel(), weights=xi.ravel(), minlength=len(self.c))
        return post.transpose(1, 0, 2), np.log(scale).sum()

    def em_iteration(self, model: str) -> float:
        """One EM iteration of ``model``; returns the corpus log-likelihood log P(f | e) (nats)."""
        loglik = self.e_step(model)
        self.m_step()
        return loglik

    def e_step(self, model: str, bar=None) -> float:
        """Posteriors of every cell into ``self.cell_post`` (and distortion counts); returns log P(f|e).

        ``bar``: a progress bar to advance (ShardedEM's, over all shards) instead of one of its own."""
        if model not in MODELS:
            raise UserError(f"unknown model {model!r} (choose from {', '.join(MODELS)})")
        if self._cell_buffer is None:                          # reused: no page faults per iteration
            self._cell_buffer = np.empty(len(self.pair))
        T = self._cell_buffer
        np.take(np.append(self.t, 1.0), self.pair, out=T, mode="clip")  # t(f_j|e_i) per cell; padding reads 1
        stats = {"s": np.zeros_like(self.s), "c": np.zeros_like(self.c)}
        loglik, n = 0.0, 1 + sum(step == model for step, _ in self.iterations_done)
        own = bar is None
        if own:
            bar = progress(total=int(sum(len(b.ids) for b in self.batches)), unit="sent",
                           desc=f"{self.desc}{model} it {n}")
        with bar if own else contextlib.nullcontext():
            for b in self.batches:
                E = self._cells(b, T)                          # view: posteriors overwrite t in place
                if model == "ibm1":                            # padding cells sum to l+1: harmless
                    z = E.sum(-1, keepdims=True)
                    E /= z
                    loglik += np.log(z[..., 0][b.mask]).sum() - b.mask.sum() * math.log(b.l + 1)
                else:
                    E[...], ll = self._posteriors(b, E, model, stats)
                    loglik += ll
                bar.update(len(b.ids))
            if own:
                bar.set_postfix(ppl=f"{math.exp(-loglik / max(self.n_words, 1)):.1f}")
        self._stats, self.model = stats, model
        self.iterations_done.append((model, loglik))
        return loglik

    @property
    def cell_post(self) -> np.ndarray:
        """Flat per-cell posteriors of the last E-step (layout of ``self.pair``)."""
        return self._cell_buffer

    @property
    def n_words(self) -> int:
        """f words taking part in training (the perplexity's denominator)."""
        return int(sum(int(b.mask.sum()) for b in self.batches))

    def expected_counts(self) -> np.ndarray:
        """c(f|e) of the last E-step, per co-occurring pair: the sum of the posteriors of the cells
        holding (e, f) (Brown et al. 1993, eq. 12); padding cells go to a last bin, dropped."""
        return np.bincount(self.pair, weights=self._cell_buffer, minlength=self.n_pairs + 1)[:self.n_pairs]

    def m_step(self, counts: np.ndarray | None = None, stats: dict | None = None) -> None:
        """Re-estimate t (and IBM2's s / the HMM's c) from the counts of the last E-step, or from
        ``counts`` and ``stats`` summed over shards (ShardedEM)."""
        self._m_step_t(self.expected_counts() if counts is None else counts)
        stats = self._stats if stats is None else stats
        if self.model == "ibm2":
            self.s = stats["s"] / max(stats["s"].sum(), 1e-300) + 1e-12
        elif self.model == "hmm":
            self.m_step_jumps(stats["c"])

    def m_step_jumps(self, counts: np.ndarray) -> None:
        """The HMM's jump-width counts c(i - i') from expected counts (normalised; a tiny floor
        keeps every width possible). Also the fertility HMM's M-step (smt/fertility.py)."""
        self.c = counts / max(counts.sum(), 1e-300) + 1e-12

    def train(self, model: str = "hmm", iterations: int = 5, ibm1_iterations: int = 5) -> "AlignmentModel":
        """GIZA++-like schedule: Model 1 first (unless ``model == "ibm1"``), then ``model``."""
        with blas_threads(1):
            for step in schedule(model, iterations, ibm1_iterations):
                self.em_iteration(step)
        return self

    def posteriors(self, k: int, model: str | None = None) -> np.ndarray:
        """P(a_j = i | f, e) of sentence pair ``k`` under the current parameters: (m, l+1), col 0 NULL."""
        for b in self.batches:
            if k in b.ids:
                r = int(np.flatnonzero(b.ids == k)[0])
                break
        else:
            return np.zeros((int(self.m[k]), int(self.l[k]) + 1))
        E = np.append(self.t, 1.0)[self._cells(b, self.pair)]
        post, _ = self._posteriors(b, E, model or self.model)
        return post[r, :b.m[r]]

    # ---------------------------------------------------------------- saving, forced alignment
    def params(self, keep_f: set[str] | None = None, keep_e: set[str] | None = None) -> dict:
        """The trained parameters — t(f|e) as word pairs, IBM2/HMM position and jump counts, p0, α
        and the model — enough to align new pairs (:meth:`forced`). ``keep_f``/``keep_e`` keep only
        the t entries of those f / e words (NULL is always kept), e.g. the words of a test set."""
        inv_f = np.empty(len(self.f_vocab), dtype=object)
        for w, i in self.f_vocab.items():
            inv_f[i] = w
        inv_e = np.empty(len(self.e_vocab), dtype=object)
        for w, i in self.e_vocab.items():
            inv_e[i] = "" if w is None else w            # "" = NULL (no real token is empty)
        fw, ew = inv_f[self.pair_f], inv_e[self.pair_e]
        keep = np.ones(len(fw), dtype=bool)
        if keep_f is not None:
            keep &= np.fromiter((w in keep_f for w in fw), bool, len(fw))
        if keep_e is not None:
            keep &= np.fromiter((w == "" or w in keep_e for w in ew), bool, len(ew))
        return {"f": fw[keep].astype(str), "e": ew[keep].astype(str), "t": self.t[keep], "s": self.s, "c": self.c,
                "max_l": self.max_l, "p0": self.p0, "alpha": self.alpha, "model": self.model}

    @staticmethod
    def save_params(path, params: dict) -> None:
        with atomic_write(path, "wb") as fh:
            np.savez_compressed(fh, **{k: np.asarray(v) for k, v in params.items()})

    @staticmethod
    def load_params(path) -> dict:
        try:
            with np.load(path, allow_pickle=False) as z:
                d = {k: z[k] for k in z.files}
        except (OSError, ValueError, KeyError) as exc:
            raise UserError(f"{path}: not a saved alignment model ({exc})") from None
        return {**d, "max_l": int(d["max_l"]), "p0": float(d["p0"]), "alpha": float(d["alpha"]), "model": str(d["model"])}

    @classmethod
    def forced(cls, params: dict, f_sents: Sequence[Sequence[str]], e_sents: Sequence[Sequence[str]],
               floor: float = 1e-7) -> "AlignmentModel":
        """A model over new pairs with the trained parameters, fixed (no EM): :meth:`viterbi` then
        aligns them as training would have. Pairs never seen in training get t = ``floor``."""
        m = cls(f_sents, e_sents, p0=params["p0"], alpha=params["alpha"])
        lookup = dict(zip(zip(params["e"].tolist(), params["f"].tolist()), params["t"].tolist()))
        inv_f = {i: w for w, i in m.f_vocab.items()}
        inv_e = {i: ("" if w is None else w) for w, i in m.e_vocab.items()}
        m.t = np.array([lookup.get((inv_e[e], inv_f[f]), floor) for e, f in zip(m.pair_e.tolist(), m.pair_f.tolist())])
        old, new = int(params["max_l"]), m.max_l
        for name in ("s", "c"):  # position / jump counts, re-centred on the new max_l
            arr = np.asarray(params[name], dtype=np.float64)
            out = np.full(2 * new + 1, max(float(arr.min()), 1e-12))
            k = min(old, new)
            out[new - k:new + k + 1] = arr[old - k:old + k + 1]
            setattr(m, name, out)
        m.model = params["model"]
        return m

    @classmethod
    def table(cls, f_vocab: dict, e_vocab: dict, keys: np.ndarray, max_l: int, p0: float, alpha: float) -> "AlignmentModel":
        """A model without a corpus: the corpus-wide parameters of :class:`ShardedEM` over the
        co-occurring pairs ``keys`` (``e · |V_f| + f``, e shifted by 1 for NULL), t uniform as at
        the start of EM; its M-step takes counts summed over shards; :meth:`params` saves it."""
        m = cls([], [], p0=p0, alpha=alpha, max_l=max_l)
        m.f_vocab = f_vocab
        m.e_vocab = {None: 0, **{w: k + 1 for w, k in e_vocab.items()}}
        n_f = max(len(f_vocab), 1)
        small = np.int32 if max(n_f, len(m.e_vocab)) < 2**31 else np.int64     # 8 bytes a pair, not 16
        m.pair_e, m.pair_f, m.n_pairs = (keys // n_f).astype(small), (keys % n_f).astype(small), len(keys)
        m.t = np.full(m.n_pairs, 1.0 / n_f)
        return m

    # ---------------------------------------------------------------- Viterbi
    def viterbi(self, model: str | None = None) -> list[np.ndarray]:
        """The most probable alignment of every pair: array of length m, a_j in 0..l-1 or -1 (NULL)."""
        with blas_threads(1):
            return self._viterbi_all(model or self.model)

    def _viterbi_all(self, model: str) -> list[np.ndarray]:
        out = [np.full(int(m), -1, dtype=np.int64) for m in self.m]
        tt = np.append(self.t, 1.0)
        for b in self.batches:
            E = tt[self._cells(b, self.pair)]
            if model == "hmm":
                best = self._viterbi_hmm(b, E)
            else:
                score = E * self._align_probs(b)[0] if model == "ibm2" else E
                best = score.argmax(-1) - 1                     # ties go to NULL / the left
            for r, k in enumerate(b.ids):
                out[k] = best[r, :b.m[r]]
        return out

    def _viterbi_hmm(self, b: _Batch, E: np.ndarray) -> np.ndarray:
        """Viterbi path through the 2I states (log domain), batched; returns a_j (0-based, -1 NULL)."""
        B, M, I = len(b.ids), b.M, b.l
        J, _ = self._jump_matrix(I)
        with np.errstate(divide="ignore"):                     # float32: half the memory traffic
            lJ = np.log(J).astype(np.float32)
            lEr = np.log(E[..., 1:]).astype(np.float32).transpose(1, 0, 2).copy()   # (M, B, I)
            lEn = np.log(E[..., 0]).astype(np.float32).T.copy()                     # (M, B)
        lp0 = np.float32(math.log(self.p0))
        dr, dn = lEr[0] + lJ[0], np.repeat(lEn[0, :, None] + np.float32(math.log(self.p0 / I)), I, axis=1)
        back = np.zeros((M, B, I), dtype=np.int64)             # best previous position of real i
        null_better = np.zeros((M, B, I), dtype=bool)          # at (j, i'): NULL state beats real
        rows = np.arange(B)
        for j in range(1, M):
            nb = dn > dr
            v = np.where(nb, dn, dr)
            cand = v[:, :, None] + lJ[None, 1:, :]             # (B, i', i)
            bp = cand.argmax(1)
            new_r = np.take_along_axis(cand, bp[:, None, :], 1)[:, 0] + lEr[j]
            new_n = v + lp0 + lEn[j, :, None]
            ok = b.mask[:, j, None]
            null_better[j - 1] = nb
            back[j] = bp
            dr, dn = np.where(ok, new_r, dr), np.where(ok, new_n, dn)
        last = np.concatenate([dr, dn], axis=1).argmax(1)
        pos, is_null = last % I, last >= I
        a = np.full((B, M), -1, dtype=np.int64)
        for j in range(M - 1, -1, -1):
            ok = b.mask[:, j]
            a[:, j] = np.where(ok & ~is_null, pos, -1)
            if j == 0:
                break
            prev = np.where(is_null, pos, back[j, rows, pos])
            prev_null = null_better[j - 1, rows, prev]
            pos, is_null = np.where(ok, prev, pos), np.where(ok, prev_null, is_null)
        return a


# -------------------------------------------------------------------- symmetrisation
_NEIGHBOURS = ((-1, 0), (0, -1), (1, 0), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1))


def symmetrize(f2e: Iterable[tuple[int, int]], e2f: Iterable[tuple[int, int]], method: str,
               src_len: int, tgt_len: int) -> list[tuple[int, int]]:
    """Combine two directional alignments (Och & Ney 2003, §4.1; Koehn et al. 2003, §3).

    Both inputs are (source i, target j) pairs: ``f2e`` from the source-to-target direction (every
    source word has at most one link), ``e2f`` from target-to-source.  The grow family follows
    Moses' ``symal`` exactly: start from the intersection; repeatedly visit the current points in
    (target, source) order, adding every neighbour (4 or, with ``diag``, 8) that is in the union
    and links at least one unaligned word -- points added during a pass are visited in the same
    pass when they come later in that order; then ``final`` adds the remaining union points of
    e2f, then of f2e, whose source or (``-and``) source and target word are still unaligned.
    Returns sorted (i, j) pairs.
    """
    a, b = set(map(tuple, f2e)), set(map(tuple, e2f))
    if method not in SYMMETRIZE:
        raise UserError(f"unknown symmetrisation {method!r} (choose from {', '.join(SYMMETRIZE)})")
    if method == "src2tgt":
        return sorted(a)
    if method == "tgt2src":
        return sorted(b)
    if method == "intersect":
        return sorted(a & b)
    if method == "union":
        return sorted(a | b)
    union = {(j, i) for i, j in a | b}                         # symal's (target, source) points
    cur = sorted((j, i) for i, j in a & b)
    done = set(cur)
    tgt_cov, src_cov = [False] * tgt_len, [False] * src_len
    for j, i in cur:
        tgt_cov[j] = src_cov[i] = True
    neighbours = _NEIGHBOURS if "diag" in method else _NEIGHBOURS[:4]
    added = True
    while added:
        added = False
        k = 0
        while k < len(cur):
            p = cur[k]
            for dj, di in neighbours:
                q = (p[0] + dj, p[1] + di)
                if q in union and not (tgt_cov[q[0]] and src_cov[q[1]]):
                    bisect.insort(cur, q)
                    done.add(q)
                    tgt_cov[q[0]] = src_cov[q[1]] = True
                    added = True
            k = bisect.bisect_right(cur, p)                     # std::set iterator ++
    if "final" in method:
        both = method.endswith("-and")
        for only in (b - a, a - b):                             # symal: inverse first, then direct
            for j, i in sorted((j, i) for i, j in only):
                if (j, i) in done:
                    continue
                free = (not tgt_cov[j] and not src_cov[i]) if both else not (tgt_cov[j] and src_cov[i])
                if free:
                    done.add((j, i))
                    tgt_cov[j] = src_cov[i] = True
    return sorted((i, j) for j, i in done)


# -------------------------------------------------------------------- corpus API
def check_lengths(sents: Sequence[Sequence[str]], name: str = "input") -> None:
    check_tokens(name, sents, MAX_TOKENS)


def _link_cells(s2t: AlignmentModel, t2s: AlignmentModel) -> tuple[np.ndarray, np.ndarray]:
    """Flat cell indices of every real link (source i, target j) in both models' layouts."""
    start1, start2 = s2t.cell_starts(), t2s.cell_starts()
    c1, c2 = [], []
    for b in s2t.batches:                                      # f = source (j = i_src), e = target
        M, l = b.M, b.l
        i_src = np.arange(M)[None, :, None]
        j_tgt = np.arange(l)[None, None, :]
        ok = np.broadcast_to(b.mask[:, :, None], (len(b.ids), M, l))
        a = start1[b.ids][:, None, None] + i_src * (l + 1) + j_tgt + 1
        bb = start2[b.ids][:, None, None] + j_tgt * (b.m[:, None, None] + 1) + i_src + 1
        c1.append(a[ok])
        c2.append(bb[ok])
    dtype = np.int32 if max(len(s2t.pair), len(t2s.pair)) < 2**31 else np.int64
    return (np.concatenate(c1).astype(dtype) if c1 else np.zeros(0, dtype),
            np.concatenate(c2).astype(dtype) if c2 else np.zeros(0, dtype))


def schedule(model: str, iterations: int, ibm1_iterations: int) -> list[str]:
    """GIZA++-like: ``ibm1_iterations`` of Model 1, then ``iterations`` of ``model`` (just IBM1 for ibm1)."""
    if model not in MODELS:
        raise UserError(f"unknown model {model!r} (choose from {', '.join(MODELS)})")
    if iterations < 0 or ibm1_iterations < 0:
        raise UserError("iteration counts must be >= 0")
    return [model] * iterations if model == "ibm1" else ["ibm1"] * ibm1_iterations + [model] * iterations


def train_directions(src_sents, tgt_sents, model: str = "hmm", iterations: int = 5, ibm1_iterations: int = 5,
                     p0: float = P0, alpha: float = ALPHA, agreement: bool = True) -> tuple[AlignmentModel, AlignmentModel]:
    """Train both directions: (src2tgt = P(src | tgt), tgt2src = P(tgt | src)).

    ``agreement=False``: two independent EM runs (GIZA++ / fast_align style).  ``agreement=True``
    (default): the two are trained jointly by agreement (Liang, Taskar & Klein 2006, §2-3): both
    E-steps run as usual, then in both models' expected counts the posterior of every link
    (i, j) is replaced by the product p_src2tgt(a_i = j) · p_tgt2src(b_j = i), so that each model
    learns only from links the other also believes in; NULL posteriors stay each model's own.
    On the Hansards trial set this cuts the HMM's AER by about a quarter (benchmarks/bench_align.py).
    """
    steps = schedule(model, iterations, ibm1_iterations)
    src = src_sents if isinstance(src_sents, Encoded) else encode(src_sents)
    tgt = tgt_sents if isinstance(tgt_sents, Encoded) else encode(tgt_sents)
    s2t = AlignmentModel(src, tgt, p0=p0, alpha=alpha, desc="src2tgt ")
    t2s = AlignmentModel(tgt, src, p0=p0, alpha=alpha, desc="tgt2src ")
    if not agreement:
        return s2t.train(model, iterations, ibm1_iterations), t2s.train(model, iterations, ibm1_iterations)
    c1, c2 = _link_cells(s2t, t2s)
    with blas_threads(1):
        for step in steps:
            s2t.e_step(step)
            t2s.e_step(step)
            q = s2t.cell_post[c1] * t2s.cell_post[c2]
            s2t.cell_post[c1] = q
            t2s.cell_post[c2] = q
            s2t.m_step()
            t2s.m_step()
    return s2t, t2s


def _rows(enc: Encoded, idx: np.ndarray) -> Encoded:
    """Sentences ``idx`` of an encoded side, with the whole corpus's vocabulary (so that the
    (e, f) pair keys ``e · |V_f| + f`` of every shard are corpus-wide keys)."""
    lengths = enc.lengths[idx]
    offsets = np.zeros(len(idx), dtype=np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    gather = np.repeat(enc.offsets[idx] - offsets, lengths) + np.arange(int(lengths.sum()))
    return Encoded(enc.ids[gather], offsets, lengths, enc.vocab)


class ShardedEM:
    """:func:`train_directions` as a map over ``shards`` slices of the corpus kept on disk and a
    reduction of their expected counts — the same model and EM, with memory ∝ corpus / shards.

    What an in-memory :class:`AlignmentModel` keeps for every cell (sentence × m × (l+1): ~32 bytes
    per cell for the two directions and the agreement's link index; 2.0 GB on the bible, ~66 GB at
    1M pairs of its length, README "The alignment step in shards") is built once per shard and pickled to ``workdir``; each E-step loads
    one shard at a time (both directions), sets its t-table from the corpus-wide one, computes the
    posteriors (the agreement product included: it is local to a sentence pair) and adds the shard's
    expected counts c(f|e) and jump / position counts into corpus-wide arrays; the M-step then
    normalises them once (Brown et al. 1993, eq. 16).  The corpus-wide part is the encoded corpus
    (8 bytes a token) and, per distinct co-occurring (e, f) pair, its e and f ids (int32), t and its
    expected count (float64): 24 bytes a pair and direction.

    The result equals the in-memory training's up to the order of floating-point sums (t-tables
    within 1e-9 relative, the same Viterbi links on the Hansards data: tests/test_align.py).  This is
    the map/reduce that the README's plan runs on Dask or Spark when one machine is outgrown.
    """

    def __init__(self, src_sents, tgt_sents, shards: int, p0: float = P0, alpha: float = ALPHA,
                 agreement: bool = True, workdir=None, jobs: int = 1, scheduler: str | None = None):
        if shards < 1 or jobs < 1:
            raise UserError(f"alignment shards and jobs must be >= 1 (got {shards} shards, {jobs} jobs)")
        self.jobs = jobs
        self.engine = Engine(jobs, scheduler)   # where the E-steps run (smt.cluster): the same result anywhere
        src = src_sents if isinstance(src_sents, Encoded) else encode(src_sents)
        tgt = tgt_sents if isinstance(tgt_sents, Encoded) else encode(tgt_sents)
        n = len(src.lengths)
        self.n_pairs_corpus = n
        # Shards of pairs with similar lengths (sorted by m + l, then l): a batch (same l, similar m)
        # then gathers as many pairs in a shard as in the whole corpus, so sharding costs few extra batches.
        order = np.lexsort((tgt.lengths, src.lengths + tgt.lengths))
        self.parts = np.array_split(order, min(shards, max(n, 1)))
        self._tmp = tempfile.TemporaryDirectory(prefix="align-shards-", dir=workdir)
        self._paths: list[str] = []
        max_ls = (int(tgt.lengths.max(initial=1)), int(src.lengths.max(initial=1)))
        keys: tuple[list, list] = ([], [])
        self.n_words, self.n_live = [0, 0], 0     # f words per direction; pairs that take part in training
        for k, part in enumerate(self.parts):
            pair = (AlignmentModel(_rows(src, part), _rows(tgt, part), p0=p0, alpha=alpha, max_l=max_ls[0]),
                    AlignmentModel(_rows(tgt, part), _rows(src, part), p0=p0, alpha=alpha, max_l=max_ls[1]))
            links = _link_cells(*pair) if agreement else None
            self.n_live += sum(len(b.ids) for b in pair[0].batches)
            for d, m in enumerate(pair):
                keys[d].append(m.pair_e * len(m.f_vocab) + m.pair_f)
                self.n_words[d] += m.n_words
                m.f_vocab = m.e_vocab = m._f = m._e = None     # the vocabularies stay here, once
            path = f"{self._tmp.name}/shard-{k}.pkl"
            with open(path, "wb") as fh:
                pickle.dump((pair, links), fh, protocol=pickle.HIGHEST_PROTOCOL)
            self._paths.append(path)
            del pair, links
        # The corpus-wide tables: one AlignmentModel without cells per direction, over the union of
        # the shards' co-occurring pairs (a hash factorisation, no sort); each shard's pairs' indices
        # in it are saved beside the shard.
        self.tables = []
        for d, (ks, (f, e)) in enumerate(zip(keys, ((src, tgt), (tgt, src)))):
            codes, uniq = _factorize(np.concatenate(ks) if ks else np.zeros(0, np.int64))
            for k, g in enumerate(np.split(codes.astype(np.int32 if len(uniq) < 2**31 else np.int64),
                                           np.cumsum([len(x) for x in ks])[:-1])):
                np.save(f"{self._tmp.name}/index-{k}-{d}.npy", g)
            del codes
            self.tables.append(AlignmentModel.table(f.vocab, e.vocab, uniq.astype(np.int64), max_ls[d], p0, alpha))
        del keys

    def _shared(self, step: str | None) -> dict:
        """What every shard task needs besides its index: the shard folder and the corpus-wide
        parameters (t, s, c, model) of both directions — sent once per iteration (smt.cluster)."""
        return {"dir": self._tmp.name, "step": step,
                "params": [(t.t, t.s, t.c, t.model) for t in self.tables]}

    def _load(self, k: int):
        return _load_shard(k, self._shared(None))

    def e_shard(self, k: int, step: str) -> tuple[list, list, list, list, int]:
        """The E-step of both directions on shard ``k``: per direction the corpus-wide indices of its
        pairs, their expected counts, the jump / position counts and the log-likelihood; and its
        sentences that take part. Agreement (Liang et al. 2006) multiplies the link posteriors first."""
        return _e_task(k, self._shared(step))

    def em_iteration(self, step: str) -> tuple[float, float]:
        """One EM iteration of both directions over all shards (``jobs`` at a time in forked worker
        processes; their counts are added in shard order, so the result does not depend on ``jobs``);
        returns the two log-likelihoods."""
        counts = [np.zeros(t.n_pairs) for t in self.tables]
        stats = [{"s": np.zeros_like(t.s), "c": np.zeros_like(t.c)} for t in self.tables]
        loglik = [0.0, 0.0]
        n = 1 + sum(s == step for s, _ in self.tables[0].iterations_done)
        with progress(total=self.n_live, unit="sent", desc=f"both directions {step} it {n}") as bar:
            for index, cs, st, ll, live in self.engine.map(_e_task, len(self.parts), self._shared(step)):
                for d in (0, 1):
                    counts[d][index[d]] += cs[d]           # a shard's pairs are distinct: no add.at
                    for key in ("s", "c"):
                        stats[d][key] += st[d][key]
                    loglik[d] += ll[d]
                bar.update(live)
            bar.set_postfix(ppl="/".join(f"{math.exp(-ll / max(w, 1)):.1f}" for ll, w in zip(loglik, self.n_words)))
        for d, table in enumerate(self.tables):
            table.model = step
            table.m_step(counts[d], stats[d])
            table.iterations_done.append((step, loglik[d]))
        return loglik[0], loglik[1]

    def train(self, steps: Sequence[str]) -> "ShardedEM":
        with blas_threads(1):
            for step in steps:
                self.em_iteration(step)
        return self

    def viterbi(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Both directions' Viterbi alignments of every pair, as :meth:`AlignmentModel.viterbi`."""
        out: tuple[list, list] = ([None] * self.n_pairs_corpus, [None] * self.n_pairs_corpus)
        with blas_threads(1):
            for part, best in zip(self.parts, self.engine.map(_viterbi_task, len(self.parts), self._shared(None))):
                for d in (0, 1):
                    for k, a in zip(part.tolist(), best[d]):
                        out[d][k] = a
        return out

    def viterbi_shard(self, k: int) -> list[list[np.ndarray]]:
        """Both directions' Viterbi alignments of shard ``k``'s pairs, in the shard's order."""
        return [m._viterbi_all(m.model) for m in self._load(k)[0]]

    def close(self) -> None:
        self.engine.close()
        self._tmp.cleanup()


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass


def _load_shard(k: int, shared: dict):
    """Shard ``k``'s two models (corpus-wide parameters set), the agreement's link cells, and the
    shard pairs' indices in the corpus-wide tables (``shared``: :meth:`ShardedEM._shared`)."""
    with open(f"{shared['dir']}/shard-{k}.pkl", "rb") as fh:
        pair, links = pickle.load(fh)
    index = []
    for d, m in enumerate(pair):
        t, s, c, model = shared["params"][d]
        g = np.load(f"{shared['dir']}/index-{k}-{d}.npy")
        m.t, m.s, m.c, m.model = t[g], s, c, model
        index.append(g)
    return pair, links, index


def _e_task(k: int, shared: dict):
    """One shard's E-step (a task of smt.cluster.Engine.map: in process, forked or on Dask)."""
    with blas_threads(1):
        pair, links, index = _load_shard(k, shared)
        quiet = _NoBar()
        loglik = [m.e_step(shared["step"], bar=quiet) for m in pair]
        if links is not None:
            q = pair[0].cell_post[links[0]] * pair[1].cell_post[links[1]]
            pair[0].cell_post[links[0]] = q
            pair[1].cell_post[links[1]] = q
        counts = [m.expected_counts() for m in pair]
        return index, counts, [m._stats for m in pair], loglik, sum(len(b.ids) for b in pair[0].batches)


def _viterbi_task(k: int, shared: dict) -> list[list[np.ndarray]]:
    """Both directions' Viterbi alignments of shard ``k``'s pairs, in the shard's order."""
    with blas_threads(1):
        return [m._viterbi_all(m.model) for m in _load_shard(k, shared)[0]]


def align_corpus(src_sents: Sequence[Sequence[str]], tgt_sents: Sequence[Sequence[str]], model: str = "hmm",
                 iterations: int = 5, ibm1_iterations: int = 5, symmetrize: str = "grow-diag-final-and",
                 p0: float = P0, alpha: float = ALPHA, agreement: bool = True, models_out=None,
                 keep_src_words: set[str] | None = None, fertility_iterations: int = 0,
                 beta: float = fertility.BETA, seed: int = gibbs.SEED, shards: int = 1,
                 workdir=None, jobs: int = 1, scheduler: str | None = None) -> list[list[tuple[int, int]]]:
    """Word-align a tokenised corpus; returns per pair the sorted (source i, target j) links, 0-based.

    Both directions are trained (jointly by agreement unless ``agreement=False``, see
    :func:`train_directions`), Viterbi-aligned and symmetrised with ``symmetrize``. With
    ``fertility_iterations > 0`` (HMM only) the HMMs are refined by that many iterations of the
    fertility HMM (:mod:`smt.fertility`, smoothing ``beta``) and its hill-climbed alignments are
    symmetrised instead. With ``models_out = (src2tgt.npz, tgt2src.npz)`` both trained models are
    saved for :func:`forced_align` (HMM parameters: forced alignment has no fertilities), their
    t-tables cut to the source words ``keep_src_words`` if given.

    ``model="gibbs"``: the collapsed Gibbs sampler of :mod:`smt.gibbs` (HMM + fertility, its own
    schedule, chains seeded from ``seed``) aligns instead, symmetrised by ``posterior`` or by any
    method above on its most probable links; ``models_out`` then still holds EM HMMs (trained with
    the EM settings given), as the sampler keeps no parameters to align new pairs with.

    ``shards > 1`` (EM models only): train in that many slices of the corpus kept on disk, in a
    temporary folder under ``workdir`` (:class:`ShardedEM`: the same model, memory ∝ corpus / shards),
    ``jobs`` shards at a time in worker processes (the same result for any ``jobs``).
    """
    if len(src_sents) != len(tgt_sents):
        raise UserError(f"{len(src_sents):,} source but {len(tgt_sents):,} target sentences")
    if model not in ALIGNERS:
        raise UserError(f"unknown alignment model {model!r} (choose from {', '.join(ALIGNERS)})")
    if symmetrize == POSTERIOR and model != "gibbs":
        raise UserError(f"symmetrisation {POSTERIOR!r} needs the link marginals of the sampler: use model gibbs")
    if symmetrize not in SYMMETRIZE + (POSTERIOR,):
        raise UserError(f"unknown symmetrisation {symmetrize!r} (choose from {', '.join(SYMMETRIZE + (POSTERIOR,))})")
    for sents, name in ((src_sents, "source"), (tgt_sents, "target")):
        if not isinstance(sents, Encoded):                     # encode_lines checked its file as it read
            check_lengths(sents, name)
    if fertility_iterations < 0:
        raise UserError(f"fertility iterations must be >= 0 (got {fertility_iterations})")
    if fertility_iterations and model != "hmm":
        raise UserError(f"the fertility HMM refines the HMM: use model hmm, not {model!r}, with fertility iterations")
    if beta <= 0:
        raise UserError(f"the fertility smoothing beta must be > 0 (got {beta})")
    if shards < 1:
        raise UserError(f"alignment shards must be >= 1 (got {shards})")
    if scheduler is not None and shards == 1:
        raise UserError("a Dask scheduler runs the sharded E-steps: give more than 1 alignment shard")
    if shards > 1 and (model == "gibbs" or fertility_iterations):
        raise UserError("alignment shards are for the EM aligners (ibm1, ibm2, hmm) without fertility iterations: "
                        "the sampler and the fertility HMM keep the whole corpus in memory")
    if model == "gibbs":
        if fertility_iterations:
            raise UserError("the Gibbs sampler has its own fertility stage: leave out fertility iterations")
        if models_out is not None:
            _save_models(models_out, train_directions(src_sents, tgt_sents, "hmm", iterations, ibm1_iterations,
                                                      p0, alpha, agreement), keep_src_words)
        lay_s2t, m_s2t, lay_t2s, m_t2s = gibbs.align_directions(src_sents, tgt_sents, seed=seed)
        if symmetrize == POSTERIOR:
            return gibbs.posterior_links(lay_s2t, m_s2t, lay_t2s, m_t2s)
        return symmetrize_corpus(gibbs.links(lay_s2t, m_s2t), gibbs.links(lay_t2s, m_t2s), symmetrize)
    if shards > 1:
        em = ShardedEM(src_sents, tgt_sents, shards, p0, alpha, agreement, workdir, jobs, scheduler)
        try:
            a_s2t, a_t2s = em.train(schedule(model, iterations, ibm1_iterations)).viterbi()
        finally:
            em.close()
        if models_out is not None:
            _save_models(models_out, em.tables, keep_src_words)
        return symmetrize_corpus(a_s2t, a_t2s, symmetrize)
    s2t, t2s = train_directions(src_sents, tgt_sents, model, iterations, ibm1_iterations, p0, alpha, agreement)
    if fertility_iterations:
        f_s2t, f_t2s = fertility.refine(s2t, t2s, fertility_iterations, beta, agreement)
        a_s2t, a_t2s = f_s2t.viterbi(), f_t2s.viterbi()
    else:
        a_s2t, a_t2s = s2t.viterbi(), t2s.viterbi()
    if models_out is not None:
        _save_models(models_out, (s2t, t2s), keep_src_words)
    return symmetrize_corpus(a_s2t, a_t2s, symmetrize)


def _save_models(paths, models, keep_src_words: set[str] | None) -> None:
    """Both directions' parameters for forced alignment, t cut to the source words ``keep_src_words``
    (the f side of src2tgt, the e side of tgt2src)."""
    AlignmentModel.save_params(paths[0], models[0].params(keep_f=keep_src_words))
    AlignmentModel.save_params(paths[1], models[1].params(keep_e=keep_src_words))


def symmetrize_corpus(a_s2t: list[np.ndarray], a_t2s: list[np.ndarray], method: str) -> list[list[tuple[int, int]]]:
    """Symmetrise per-sentence Viterbi arrays (a_s2t[k][i] = target of source i, a_t2s[k][j] = source of j)."""
    out = []
    for a, b in zip(a_s2t, a_t2s):
        f2e = [(i, int(j)) for i, j in enumerate(a) if j >= 0]
        e2f = [(int(i), j) for j, i in enumerate(b) if i >= 0]
        out.append(symmetrize(f2e, e2f, method, len(a), len(b)))
    return out


def forced_align(params_s2t: dict, params_t2s: dict, src_sents: Sequence[Sequence[str]],
                 tgt_sents: Sequence[Sequence[str]], symmetrize: str = "grow-diag-final-and") -> list[list[tuple[int, int]]]:
    """Align new pairs with saved models of both directions (no training), symmetrised as in training."""
    s2t = AlignmentModel.forced(params_s2t, src_sents, tgt_sents)
    t2s = AlignmentModel.forced(params_t2s, tgt_sents, src_sents)
    return symmetrize_corpus(s2t.viterbi(), t2s.viterbi(), symmetrize)


def to_pharaoh(links: Iterable[tuple[int, int]]) -> str:
    return pharaoh.format(links)


# -------------------------------------------------------------------- CLI
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m smt align",
        description="Word-align two whitespace-tokenised, line-aligned files with IBM Model 1/2 or the "
                    "HMM model (EM in both directions, Viterbi, symmetrisation) and print one Pharaoh "
                    "line (i-j, 0-based, i = source position) per sentence pair.")
    parser.add_argument("--src", required=True, help="source side, one tokenised sentence a line (.gz ok)")
    parser.add_argument("--tgt", required=True, help="target side, line-aligned with --src")
    parser.add_argument("--align-model", choices=ALIGNERS, default="hmm",
                        help="alignment model: EM (ibm1, ibm2, hmm) or gibbs, the collapsed Gibbs sampler over "
                             "HMM + fertility with Dirichlet priors (smt/gibbs.py, eflomal-style); default: hmm")
    add_alias(parser, "--model", "align_model", choices=ALIGNERS)
    parser.add_argument("--iterations", type=int, default=5, help="EM iterations of --align-model (default: 5)")
    parser.add_argument("--ibm1-iterations", type=int, default=5,
                        help="IBM Model 1 iterations that initialise ibm2/hmm (default: 5)")
    parser.add_argument("--symmetrize", choices=SYMMETRIZE + (POSTERIOR,), default="grow-diag-final-and",
                        help="how to combine the two directions; posterior (gibbs only): link where the mean of "
                             "the two directions' link marginals exceeds 0.5 (default: grow-diag-final-and)")
    parser.add_argument("--seed", type=int, default=gibbs.SEED, help="seed of the gibbs sampler's chains (default: %(default)s)")
    parser.add_argument("--p0", type=float, default=P0, help=f"empty-word probability for ibm2/hmm (default: {P0})")
    parser.add_argument("--alpha", type=float, default=ALPHA,
                        help=f"uniform smoothing of the alignment distribution (default: {ALPHA})")
    parser.add_argument("--independent", action="store_true",
                        help="train the two directions separately (plain EM, as GIZA++/fast_align) instead of "
                             "jointly by agreement (Liang et al. 2006, the default)")
    parser.add_argument("--fertility-iterations", type=int, default=0, metavar="N",
                        help="refine the HMM with N iterations of the fertility HMM (Zhao & Gildea 2010; "
                             "smt/fertility.py), GIZA++-style hill-climbing and neighbourhood counts; "
                             "0 = the HMM alone (default: 0)")
    parser.add_argument("--beta", type=float, default=fertility.BETA,
                        help="pseudo-occurrences of the corpus-wide fertility distribution in each "
                             f"word's n(phi | e) (default: {fertility.BETA})")
    parser.add_argument("--shards", type=int, default=1, metavar="K",
                        help="EM models: train over K slices of the corpus kept on disk, one in memory at a time "
                             "(the same model; memory ~ corpus / K; for corpora past ~100k pairs); default: 1")
    parser.add_argument("--jobs", type=int, default=1, metavar="J",
                        help="with --shards: E-steps of J shards at once in worker processes (the same result; "
                             "memory ~ J shards); default: 1")
    parser.add_argument("--scheduler", metavar="ADDRESS|local[:N]", default=None,
                        help="with --shards: run the E-steps as Dask tasks, on a LocalCluster of N worker processes "
                             "or a running dask scheduler at ADDRESS (shards go beside --out: a folder every worker "
                             "must see); the same result (default: no scheduler: the forked --jobs workers)")
    parser.add_argument("--out", help="write the alignment here (atomically) instead of stdout")
    args = parser.parse_args(argv)
    src_lines, tgt_lines = read_parallel(args.src, args.tgt)
    src, tgt = [line.split() for line in src_lines], [line.split() for line in tgt_lines]
    check_lengths(src, args.src)
    check_lengths(tgt, args.tgt)
    t0 = time.time()
    links = align_corpus(src, tgt, args.align_model, args.iterations, args.ibm1_iterations, args.symmetrize,
                         args.p0, args.alpha, agreement=not args.independent,
                         fertility_iterations=args.fertility_iterations, beta=args.beta, seed=args.seed,
                         shards=args.shards, workdir=Path(args.out).resolve().parent if args.out else None,
                         jobs=args.jobs, scheduler=args.scheduler)
    lines = [to_pharaoh(x) for x in links]
    if args.out:
        write_lines(args.out, lines)
        print(f"aligned {len(lines):,} sentence pairs in {time.time() - t0:.1f} s -> {args.out}",
              file=sys.stderr)
    else:
        print("\n".join(lines))
    return 0
