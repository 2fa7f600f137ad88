"""A fertility HMM on top of the HMM aligner (Zhao & Gildea 2010), trained on neighbourhoods.

The HMM (:mod:`smt.align`) lets one ``e`` word generate any number of ``f`` words: a rare word
then "collects garbage" (Moore 2004, "Improving IBM word-alignment Model 1"), and nothing stops
a word from staying unaligned either.  IBM Models 3 and 4 fix this with a fertility ``n(φ | e)`` — how
many ``f`` words ``e`` generates.  The *fertility HMM* of Zhao & Gildea (2010, §3) keeps the HMM's
first-order jumps (which beat Model 3's absolute distortion) and adds the fertilities: for an
alignment ``a`` (``a_j = 0`` is NULL, ``1..l`` a position of ``e``)

    P(f, a | e) = Π_{i=1..l} n(φ_i | e_i)
                · Π_{j: a_j > 0} (1 - p0) · p(a_j | a_prev(j), l) · t(f_j | e_{a_j})
                · Π_{j: a_j = 0} p0 · t(f_j | NULL)

with ``φ_i = |{j : a_j = i}|``, ``a_prev(j)`` the position of the last non-NULL word before ``j``
(0, a virtual start, if none: the HMM's NULL states "remember" the last position, Och & Ney 2003,
§3.1.1), and ``p(i | i', l)`` the HMM's jump distribution (its counts ``c(i - i')`` smoothed with a
uniform ``α / l``).  Like Models 3 and 4 the model is deficient (the fertilities and the jumps
both spend probability on ``a``); the NULL word keeps the HMM's fixed ``p0`` and no fertility.

No closed-form E-step exists, so training follows GIZA++'s Model 3/4 recipe (Brown et al. 1993,
§5, "neighbouring alignments"; Och & Ney 2003, §3.3): per sentence pair, hill-climb from the
current alignment (initially the HMM's Viterbi alignment) to a local optimum under the current
parameters, taking the best *move* (change one ``a_j``) while one improves ``P(f, a | e)``; then
collect expected counts over that alignment and all its moves, each weighted by its probability
normalised over this neighbourhood.  Both are vectorised per sentence: the gain of every move
``a_j → i`` is one ``(m, l+1)`` array (:meth:`FertilityHMM.move_gains`), because a move changes only
``t`` at ``j``, the jumps into ``j`` and out of it to the next non-NULL word, and two fertilities.
(Swaps, the other GIZA++ neighbours, never change a fertility and are left out, as in Zhao &
Gildea's sampler, which also resamples one ``a_j`` at a time.)

The M-step re-estimates ``t`` and the jump counts as the HMM does and ``n(φ | e)`` from the
expected fertility counts, smoothed towards the corpus-wide fertility distribution ``g(φ)`` with
``beta`` pseudo-occurrences per word: ``n(φ | e) = (C(φ, e) + β g(φ)) / (C(e) + β)`` — a rare word
seen once cannot make its own fertility of 4 probable.  Fertilities above ``MAX_FERTILITY`` share
its bucket (GIZA++ caps them at 9 too).  With ``agreement=True`` the two directions exchange their
link posteriors for the ``t`` counts after each E-step, as the HMM does (Liang et al. 2006).

Measured (``benchmarks/bench_align.py``, Hansards trial gold): 3 iterations after the HMM by
agreement lower AER from 0.145 to 0.142 (grow-diag-final-and) and 0.142 to 0.136 (intersection);
``benchmarks/bench_fertility.py``: no BLEU gain beyond MERT's variance in the PBSMT system.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from data.io import progress

# The HMMs refined here are smt.align.AlignmentModel objects; smt.align imports this module, so it
# is not imported back (annotations name it as a string).

#: Fertilities above this share its bucket (GIZA++'s MAX_FERTILITY is 10: φ = 0..9).
MAX_FERTILITY = 9
#: Pseudo-occurrences of the corpus-wide fertility distribution in each word's n(φ | e).
BETA = 4.0
#: Fertility iterations after the HMM (GIZA++ runs 3 of Model 3 and 3 of Model 4).
ITERATIONS = 3
#: Floor on probabilities before logs (t of unseen pairs, jumps the smoothing left at 0).
_FLOOR = 1e-300


class FertilityHMM:
    """The fertility HMM of one direction, P(f | e), initialised from a trained :class:`AlignmentModel`.

    It shares the HMM's corpus layout, ``t`` table, jump counts ``c``, ``p0`` and ``α`` (it
    updates ``hmm.t`` and ``hmm.c`` in place when trained) and adds ``n``: an
    ``(len(e_vocab), MAX_FERTILITY + 1)`` table of ``n(φ | e)``.  ``self.a[k]`` is the current
    alignment of pair ``k``: int array of length ``m``, ``0`` = NULL, ``i`` = 1-based ``e`` position.
    """

    def __init__(self, hmm: "smt.align.AlignmentModel", beta: float = BETA, desc: str = ""):
        if beta <= 0:
            raise ValueError(f"beta must be > 0, got {beta}")
        self.hmm, self.beta, self.desc = hmm, beta, desc
        self._cache = None                                # log t and jump tables of the current t and c
        self.a: list[np.ndarray] = [np.asarray(x) + 1 for x in hmm.viterbi("hmm")]
        self._rows = {}                                   # pair k -> (batch, row in batch)
        for b in hmm.batches:
            for r, k in enumerate(b.ids):
                self._rows[int(k)] = (b, r)
        self._e_ids = []                                  # per pair: e vocabulary ids, 0 = NULL first
        off, ids = hmm._e.offsets, hmm._e.ids + 1
        for k in range(len(hmm.l)):
            self._e_ids.append(np.concatenate([[0], ids[off[k]:off[k] + hmm.l[k]]]).astype(np.int64))
        counts = np.zeros((len(hmm.e_vocab), MAX_FERTILITY + 1))
        for k, a in enumerate(self.a):
            if k in self._rows:
                phi = np.minimum(np.bincount(a, minlength=hmm.l[k] + 1)[1:], MAX_FERTILITY)
                np.add.at(counts, (self._e_ids[k][1:], phi), 1.0)
        self.set_fertility_counts(counts)

    # ---------------------------------------------------------------- parameters
    def set_fertility_counts(self, counts: np.ndarray) -> None:
        """n(φ | e) = (C(φ, e) + β g(φ)) / (C(e) + β), g the corpus-wide fertility distribution."""
        g = counts.sum(0)
        g = g / max(g.sum(), _FLOOR)
        self.g = g
        self.n = (counts + self.beta * g) / (counts.sum(1, keepdims=True) + self.beta)

    def _tables(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Log tables of pair ``k``: lE (m, l+1) = log t(f_j | e_i), col 0 NULL; lJ (l+1, l+1) =
        log[(1 - p0) p(i | i', l)] for i' = 0 (start) .. l and i = 1 .. l (col 0 unused); lN (l+1,
        MAX_FERTILITY + 1) = log n(φ | e_i) per position (row 0 unused)."""
        hmm = self.hmm
        b, r = self._rows[k]
        m, l = int(hmm.m[k]), b.l
        if self._cache is None:                           # per parameter set: t with padding's 1, jumps per l
            self._cache = (np.log(np.maximum(np.append(hmm.t, 1.0), _FLOOR)), {})
        log_t, jumps = self._cache
        lE = log_t[hmm._cells(b, hmm.pair)[r, :m]]
        lJ = jumps.get(l)
        if lJ is None:
            J, _ = hmm._jump_matrix(l)
            lJ = jumps[l] = np.zeros((l + 1, l + 1))
            lJ[:, 1:] = np.log(np.maximum(J, _FLOOR))
        return lE, lJ, np.log(np.maximum(self.n[self._e_ids[k]], _FLOOR))

    # ---------------------------------------------------------------- the model
    def log_prob(self, k: int, a: Sequence[int]) -> float:
        """log P(f, a | e) of pair ``k`` (natural log), the formula of the module docstring, term by term."""
        lE, lJ, lN = self._tables(k)
        a = np.asarray(a, dtype=np.int64)
        lp0 = math.log(self.hmm.p0)
        total, prev = 0.0, 0
        for j, i in enumerate(a.tolist()):
            if i == 0:
                total += lp0 + lE[j, 0]
            else:
                total += lJ[prev, i] + lE[j, i]
                prev = i
        phi = np.minimum(np.bincount(a, minlength=lN.shape[0])[1:], MAX_FERTILITY)
        return total + float(lN[np.arange(1, lN.shape[0]), phi].sum())

    @staticmethod
    def _context(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For every j: the position of the last non-NULL word before j (0 if none), whether a
        non-NULL word follows j, and that next word's position (0 if none)."""
        m = len(a)
        idx = np.where(a > 0, np.arange(m), -1)
        before = np.concatenate([[-1], np.maximum.accumulate(idx)[:-1]])
        prev = np.where(before >= 0, a[np.maximum(before, 0)], 0)
        idx2 = np.where(a > 0, np.arange(m), m)
        after = np.concatenate([np.minimum.accumulate(idx2[::-1])[::-1][1:], [m]])
        has_next = after < m
        nxt = np.where(has_next, a[np.minimum(after, m - 1)], 0)
        return prev, has_next, nxt

    def move_gains(self, k: int, a: np.ndarray, tables=None) -> np.ndarray:
        """``G[j, i] = log P(f, a' | e) - log P(f, a | e)`` for every move ``a' = a`` with ``a_j := i``
        (``i = 0`` NULL), shape (m, l+1); ``G[j, a_j] = 0``."""
        lE, lJ, lN = tables if tables is not None else self._tables(k)
        m, L = lE.shape
        lp0 = math.log(self.hmm.p0)
        prev, has_next, nxt = self._context(a)
        rows = np.arange(m)
        nx = has_next.astype(np.float64)
        # what j contributes now: its own emission and jump, and the jump of the next real word
        real = a > 0
        own = np.where(real, lJ[prev, a] + lE[rows, a], lp0 + lE[:, 0])
        out_now = nx * np.where(real, lJ[a, nxt], lJ[prev, nxt])
        # the same with a_j := i, every i
        new = np.empty((m, L))
        new[:, 0] = lp0 + lE[:, 0] + nx * lJ[prev, nxt]
        new[:, 1:] = lJ[prev, 1:] + lE[:, 1:] + nx[:, None] * lJ[1:, nxt].T
        gain = new - (own + out_now)[:, None]
        # fertilities: i gains one word, a_j loses one (buckets above MAX_FERTILITY are one)
        phi = np.bincount(a, minlength=L)
        cap = MAX_FERTILITY
        pos = np.arange(1, L)
        enter = np.zeros(L)
        enter[1:] = lN[pos, np.minimum(phi[1:] + 1, cap)] - lN[pos, np.minimum(phi[1:], cap)]
        leave = np.where(real, lN[a, np.minimum(phi[a] - 1, cap)] - lN[a, np.minimum(phi[a], cap)], 0.0)
        gain += enter[None, :] + leave[:, None]
        gain[rows, a] = 0.0
        return gain

    def hill_climb(self, k: int, a: np.ndarray, tables=None, max_moves: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Best-move hill-climbing from ``a`` to a local optimum; returns it and its move gains."""
        tables = tables if tables is not None else self._tables(k)
        a = a.copy()
        for _ in range(max_moves if max_moves is not None else 4 * len(a) + 4):
            gain = self.move_gains(k, a, tables)
            j, i = np.unravel_index(int(gain.argmax()), gain.shape)
            if gain[j, i] <= 1e-9:
                return a, gain
            a[j] = i
        return a, self.move_gains(k, a, tables)

    # ---------------------------------------------------------------- training
    def neighbourhood_counts(self, k: int, a: np.ndarray, gain: np.ndarray):
        """Expected counts over ``a`` and its moves, each weighted by ``exp(gain)`` / their sum:
        link posteriors (m, l+1), jump-width counts (bins of ``hmm.c``) and fertility counts
        (l+1, MAX_FERTILITY + 1) per position (row 0 unused)."""
        hmm = self.hmm
        m, L = gain.shape
        rows = np.arange(m)
        w = np.exp(np.minimum(gain, 50.0))
        w[rows, a] = 0.0
        W = 1.0 + w.sum()
        S = w.sum(1)                                       # weight of the moves that change j
        post = w.copy()
        post[rows, a] = W - S
        post /= W
        # jumps: every neighbour has a's jumps, minus those it changes, plus its new ones
        prev, has_next, nxt = self._context(a)
        width = lambda frm, to: to - frm + hmm.max_l       # noqa: E731 - the HMM's jump bins
        bins, wts = [], []
        real = a > 0
        bins.append(width(prev[real], a[real]))
        wts.append(np.full(int(real.sum()), W) - S[real])
        out_real = real & has_next
        bins.append(width(a[out_real], nxt[out_real]))
        wts.append(-S[out_real])
        out_null = ~real & has_next
        bins.append(width(prev[out_null], nxt[out_null]))
        wts.append(-S[out_null])
        jj, ii = np.nonzero(w[:, 1:] > 0)
        ii = ii + 1
        bins.append(width(prev[jj], ii))
        wts.append(w[jj, ii])
        hn = has_next[jj]
        bins.append(width(ii[hn], nxt[jj][hn]))
        wts.append(w[jj, ii][hn])
        j0 = np.flatnonzero((w[:, 0] > 0) & has_next)
        bins.append(width(prev[j0], nxt[j0]))
        wts.append(w[j0, 0])
        jumps = np.bincount(np.concatenate(bins), weights=np.concatenate(wts) / W, minlength=len(hmm.c))
        # fertilities: a move from i to i' changes φ_i by -1 and φ_i' by +1
        phi = np.bincount(a, minlength=L)
        enter = w.sum(0)                                   # moves into i (w[a_j, j] = 0)
        leave = np.bincount(a, weights=S, minlength=L)     # moves out of i
        fert = np.zeros((L, MAX_FERTILITY + 1))
        pos = np.arange(1, L)
        cap = MAX_FERTILITY
        np.add.at(fert, (pos, np.minimum(phi[1:], cap)), (W - enter[1:] - leave[1:]) / W)
        np.add.at(fert, (pos, np.minimum(phi[1:] + 1, cap)), enter[1:] / W)
        np.add.at(fert, (pos, np.clip(phi[1:] - 1, 0, cap)), leave[1:] / W)
        return post, jumps, fert

    def e_step(self) -> dict:
        """Hill-climb every pair and collect its neighbourhood counts; returns the counts and
        ``post[k]`` (link posteriors) for the M-step (and for agreement)."""
        hmm = self.hmm
        fert = np.zeros((len(hmm.e_vocab), MAX_FERTILITY + 1))
        jumps = np.zeros(len(hmm.c))
        post: dict[int, np.ndarray] = {}
        score, words = 0.0, 0
        with progress(total=len(self._rows), unit="sent", desc=f"{self.desc}fertility") as bar:
            for k in self._rows:
                tables = self._tables(k)
                a, gain = self.hill_climb(k, self.a[k], tables)
                self.a[k] = a
                p, jmp, f = self.neighbourhood_counts(k, a, gain)
                post[k] = p
                jumps += jmp
                np.add.at(fert, self._e_ids[k][1:], f[1:])
                score += self.log_prob_fast(a, tables)
                words += len(a)
                bar.update(1)
            bar.set_postfix(logp_per_word=f"{score / max(words, 1):.3f}")  # of the climbed alignments
        return {"post": post, "jumps": jumps, "fert": fert, "log_prob": score}

    def log_prob_fast(self, a: np.ndarray, tables) -> float:
        """:meth:`log_prob` from precomputed tables, vectorised."""
        lE, lJ, lN = tables
        prev, _, _ = self._context(a)
        real = a > 0
        rows = np.arange(len(a))
        s = np.where(real, lJ[prev, a] + lE[rows, a], math.log(self.hmm.p0) + lE[:, 0]).sum()
        phi = np.minimum(np.bincount(a, minlength=lN.shape[0])[1:], MAX_FERTILITY)
        return float(s + lN[np.arange(1, lN.shape[0]), phi].sum())

    def m_step(self, counts: dict) -> None:
        """t(f|e) from the (possibly agreement-replaced) link posteriors, the jump counts c as the
        HMM's M-step, n(φ|e) smoothed towards the corpus-wide distribution."""
        hmm = self.hmm
        cells, weights = [], []
        for k, p in counts["post"].items():
            b, r = self._rows[k]
            cells.append(hmm._cells(b, hmm.pair)[r, :p.shape[0]].ravel())
            weights.append(p.ravel())
        t_counts = np.bincount(np.concatenate(cells), weights=np.concatenate(weights), minlength=hmm.n_pairs + 1)
        hmm._m_step_t(t_counts[:hmm.n_pairs])
        hmm.m_step_jumps(np.maximum(counts["jumps"], 0.0))   # >= 0: the subtracted counts may round below
        self._cache = None
        self.set_fertility_counts(counts["fert"])

    def viterbi(self) -> list[np.ndarray]:
        """Hill-climbed alignments under the current parameters, as :meth:`AlignmentModel.viterbi`
        returns them: a_j in 0..l-1, -1 for NULL."""
        out = []
        for k, a in enumerate(self.a):
            if k in self._rows:
                a, _ = self.hill_climb(k, a)
                self.a[k] = a
            out.append(a - 1)
        return out


def _agree(p1: dict, p2: dict) -> None:
    """Replace both directions' link posteriors by their product (Liang et al. 2006), in place.
    ``p1[k]`` is (m_src, l_tgt + 1) of the src2tgt model, ``p2[k]`` (m_tgt, l_src + 1)."""
    for k, a in p1.items():
        b = p2.get(k)
        if b is None:
            continue
        q = a[:, 1:] * b[:, 1:].T
        a[:, 1:] = q
        b[:, 1:] = q.T


def refine(s2t: "smt.align.AlignmentModel", t2s: "smt.align.AlignmentModel", iterations: int = ITERATIONS, beta: float = BETA,
           agreement: bool = True) -> tuple[FertilityHMM, FertilityHMM]:
    """Both directions of a trained HMM (:func:`smt.align.train_directions`) refined by
    ``iterations`` of the fertility HMM, jointly by agreement unless ``agreement=False``; the
    HMMs' ``t`` and ``c`` are updated in place.  ``.viterbi()`` of each gives its alignments."""
    if iterations < 0:
        raise ValueError(f"fertility iterations must be >= 0, got {iterations}")
    one, two = FertilityHMM(s2t, beta, "src2tgt "), FertilityHMM(t2s, beta, "tgt2src ")
    with threadpool_limits(1, user_api="blas"):
        for _ in range(iterations):
            c1, c2 = one.e_step(), two.e_step()
            if agreement:
                _agree(c1["post"], c2["post"])
            one.m_step(c1)
            two.m_step(c2)
    return one, two
