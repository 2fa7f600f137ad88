"""A Bayesian HMM + fertility word aligner trained by collapsed Gibbs sampling (eflomal-style).

Östling & Tiedemann (2016, "Efficient word alignment with Markov Chain Monte Carlo", PBML 106;
the method of efmaral / eflomal) align with the model of :mod:`smt.fertility` — one direction
``P(f | e)``, ``a_j = 0`` NULL or ``1..l`` — but put Dirichlet priors on every distribution and
integrate the parameters out.  What is sampled is the alignment alone; each distribution is
represented by its counts over the current alignment of the whole corpus (a *Dirichlet-multinomial*),
so the conditional of one link given all the others (``⁻`` = counts without link ``j``) is

    P(a_j = i | a⁻, f, e) ∝  (c⁻(e_i, f_j) + α_t) / (c⁻(e_i) + α_t |V_f|)           lexical
                            · (1 - p0) · J(i - i') · J(i'' - i)                       jumps
                            · (n⁻(φ_i + 1 | e_i) + α_n) / (n⁻(φ_i | e_i) + α_n)       fertility
    P(a_j = 0 | …)       ∝  (c⁻(NULL, f_j) + α_t) / (c⁻(NULL) + α_t |V_f|) · p0 · J(i'' - i')

with ``i'`` (``i''``) the position of the nearest non-NULL link before (after) ``j`` — 0 (``l + 1``),
a virtual start (end), if none —, ``J(d) = (c⁻(d) + α_J) / (Σ_d' c⁻(d') + α_J D)`` the jump
distribution over the widths ``d`` (as the HMM of :mod:`smt.align`, NULL links "remember" the last
position: a NULL-aligned word skips its jump), and ``φ_i`` the fertility of ``e_i`` without ``j``
(a token's fertility counts ``n(φ | e)`` are by word type; fertilities above ``MAX_FERTILITY`` share
its bucket).  The small ``α_t`` makes the translation table sparse — most ``e`` translate to few
``f`` — which EM's maximum-likelihood table cannot express (it lets rare words "collect garbage").

Schedule (eflomal's, read off ``eflomal-align -v``: 25 / 25 / 102 sweeps for 2,383 pairs): random
initial alignments, then ``⌊n / 4⌋`` sweeps over the corpus with the lexical terms only (IBM
Model 1), as many with the jumps (HMM) and ``n`` with the fertilities (the full model), ``n =
max(2, round(5000 / √pairs))``.  Each sweep resamples every ``a_j`` in turn.  The output is not the
last sample: in the second half of the final stage every link's conditional distribution is added
up (a Rao-Blackwellised estimate of the marginals ``P(a_j = i | f, e)``), over ``samplers``
independent chains, and each ``f_j`` takes its most probable link (NULL included).  The two
directions are sampled independently; they are symmetrised either like the EM aligners' Viterbi
links (symal's methods on the most probable links) or, with ``posterior`` (:func:`posterior_links`),
by the marginals themselves: a link wherever the two directions' mean marginal exceeds 0.5.

Speed: the sampler is sequential by nature (each draw changes the counts of the next), so the
sweep is compiled with numba; the independent chains run on all cores (``prange``).  Every chain
has its own xorshift64* generator seeded from ``seed``, so results do not depend on threads.
Measured in ``benchmarks/bench_align.py`` (Hansards trial gold, against eflomal).
"""
from __future__ import annotations

import math
from typing import Sequence

import numba
import numpy as np

from data.io import progress
from smt.corpus import Encoded, encode
from smt.fertility import MAX_FERTILITY

#: Dirichlet prior of each lexical distribution t(· | e): small, so the tables stay sparse.
LEX_ALPHA = 0.001
#: Dirichlet priors of the jump distribution and of each word's fertility distribution.
JUMP_ALPHA = 0.5
FERT_ALPHA = 0.5
#: Probability of a NULL link (fixed, as the EM aligners' p0).
P0 = 0.2
#: Independent chains whose marginals are added up.
SAMPLERS = 3
SEED = 1234


def default_iterations(n_pairs: int) -> int:
    """Sweeps of the last model: ``max(2, round(5000 / √n_pairs))`` (102 for 2,420 pairs, as eflomal)."""
    return max(2, round(5000 / math.sqrt(max(n_pairs, 1))))


# ---------------------------------------------------------------- compiled kernel (numba)
# The chains' state travels as two tuples: ``lay = (e_tok, e_off, f_off, cell, cell_off)`` (the
# corpus, :class:`Layout`) and ``st = (a, phi, c_pair, c_e, c_jump, c_jsum, c_fert, rng)`` with one row
# per chain: ``a[s, f_off[k] + j]`` the link of f_j (0 NULL, 1..l), ``phi[s, e_off[k] + i - 1]`` the
# fertility of e_i, then the counts: pairs (e, f) by cell index, words e (0 = NULL), jump buckets,
# their sum, fertility buckets per e; ``rng[s]`` the chain's generator state.

@numba.njit(cache=True)
def _uniform(rng, s):
    """Next float in [0, 1) of chain ``s``'s xorshift64* generator (Vigna 2016)."""
    x = rng[s]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    rng[s] = x
    return float((x * np.uint64(2685821657736338717)) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@numba.njit(cache=True)
def _bucket(d, jmax):
    """Index of the jump width ``d`` (clipped to ±jmax) in the jump counts."""
    return min(max(d, -jmax), jmax) + jmax


@numba.njit(cache=True)
def _neighbours(a, s, fo, m, l, j):
    """(i', i''): the links of the nearest non-NULL words before and after f_j (0 / l + 1 if none)."""
    prev = 0
    for jj in range(j - 1, -1, -1):
        if a[s, fo + jj] > 0:
            prev = a[s, fo + jj]
            break
    nxt = l + 1
    for jj in range(j + 1, m):
        if a[s, fo + jj] > 0:
            nxt = a[s, fo + jj]
            break
    return prev, nxt


@numba.njit(cache=True)
def _move(lay, st, s, k, j, i, sign, jmax, prev, nxt):
    """Add (``sign = 1``) or remove (``-1``) the link ``a_j = i`` of pair ``k`` to chain ``s``'s counts;
    on removal ``a_j`` becomes 0, on addition ``i``.  ``prev``, ``nxt``: :func:`_neighbours` of j."""
    e_tok, e_off, f_off, cell, cell_off = lay
    a, phi, c_pair, c_e, c_jump, c_jsum, c_fert, rng = st
    fo, eo = f_off[k], e_off[k]
    l = e_off[k + 1] - eo
    ei = 0 if i == 0 else e_tok[eo + i - 1]
    c_pair[s, cell[cell_off[k] + j * (l + 1) + i]] += sign
    c_e[s, ei] += sign
    a[s, fo + j] = i if sign > 0 else 0
    if i == 0:
        return
    c_jump[s, _bucket(i - prev, jmax)] += sign               # linked: prev -> i -> nxt
    c_jump[s, _bucket(nxt - i, jmax)] += sign
    c_jump[s, _bucket(nxt - prev, jmax)] -= sign             # unlinked (NULL): prev -> nxt
    c_jsum[s] += sign
    t = eo + i - 1
    old = phi[s, t]
    phi[s, t] = old + sign
    c_fert[s, ei, min(old, MAX_FERTILITY)] -= 1
    c_fert[s, ei, min(old + sign, MAX_FERTILITY)] += 1


@numba.njit(cache=True)
def _weights(lay, st, par, s, k, j, model, w, prev, nxt):
    """Unnormalised ``P(a_j = i | a⁻)`` for i = 0..l into ``w`` (link j removed; ``prev``, ``nxt``:
    :func:`_neighbours` of j); returns their sum."""
    e_tok, e_off, f_off, cell, cell_off = lay
    a, phi, c_pair, c_e, c_jump, c_jsum, c_fert, rng = st
    p0, lex_alpha, jump_alpha, fert_alpha, n_f, jmax = par
    eo = e_off[k]
    l = e_off[k + 1] - eo
    jtot = c_jsum[s] + jump_alpha * (2 * jmax + 1)
    row = cell_off[k] + j * (l + 1)
    total = 0.0
    for i in range(l + 1):
        ei = 0 if i == 0 else e_tok[eo + i - 1]
        p = (c_pair[s, cell[row + i]] + lex_alpha) / (c_e[s, ei] + lex_alpha * n_f)
        if i == 0:
            p *= p0
            if model >= 2:
                p *= (c_jump[s, _bucket(nxt - prev, jmax)] + jump_alpha) / jtot
        else:
            p *= (1.0 - p0) / l if model == 1 else 1.0 - p0
            if model >= 2:
                p *= ((c_jump[s, _bucket(i - prev, jmax)] + jump_alpha) / jtot
                      * (c_jump[s, _bucket(nxt - i, jmax)] + jump_alpha) / jtot)
            if model >= 3:
                f = phi[s, eo + i - 1]
                if f < MAX_FERTILITY:
                    p *= (c_fert[s, ei, f + 1] + fert_alpha) / (c_fert[s, ei, f] - 1 + fert_alpha)
        w[i] = p
        total += p
    return total


@numba.njit(cache=True)
def _init_chains(lay, st, jmax, start):
    """Link every f_j to ``start[f_off[k] + j]`` (0..l), or uniformly at random where it is -1, one by
    one from sentences with nothing linked (all counts zero on entry)."""
    e_tok, e_off, f_off, cell, cell_off = lay
    a, phi, c_pair, c_e, c_jump, c_jsum, c_fert, rng = st
    for s in range(a.shape[0]):           # not prange: numba 0.68's parfor loses the c_jsum updates here
        for k in range(len(f_off) - 1):
            fo, eo = f_off[k], e_off[k]
            m, l = f_off[k + 1] - fo, e_off[k + 1] - eo
            for i in range(l):
                c_fert[s, e_tok[eo + i], 0] += 1
            c_jump[s, _bucket(l + 1, jmax)] += 1             # start -> end
            c_jsum[s] += 1
            for j in range(m):
                i = start[fo + j] if start[fo + j] >= 0 else min(int(_uniform(rng, s) * (l + 1)), l)
                prev, nxt = _neighbours(a, s, fo, m, l, j)
                _move(lay, st, s, k, j, i, 1, jmax, prev, nxt)


@numba.njit(cache=True, parallel=True)
def _sweep(lay, st, par, model, acc):
    """One Gibbs sweep of every chain over the corpus (chains in parallel); with ``acc`` of more than
    0 columns, add each link's conditional distribution to ``acc[s, cell]``."""
    e_tok, e_off, f_off, cell, cell_off = lay
    a, phi, c_pair, c_e, c_jump, c_jsum, c_fert, rng = st
    jmax = par[5]
    max_l = 0
    for k in range(len(e_off) - 1):
        max_l = max(max_l, e_off[k + 1] - e_off[k])
    for s in numba.prange(a.shape[0]):
        w = np.empty(max_l + 1)
        for k in range(len(f_off) - 1):
            fo, l = f_off[k], e_off[k + 1] - e_off[k]
            m = f_off[k + 1] - fo
            for j in range(m):
                prev, nxt = _neighbours(a, s, fo, m, l, j)      # the same without j and with it back
                _move(lay, st, s, k, j, a[s, fo + j], -1, jmax, prev, nxt)
                total = _weights(lay, st, par, s, k, j, model, w, prev, nxt)
                u = _uniform(rng, s) * total
                new, run = l, 0.0
                for i in range(l + 1):
                    run += w[i]
                    if u < run:
                        new = i
                        break
                if acc.shape[1] > 0:
                    row = cell_off[k] + j * (l + 1)
                    for i in range(l + 1):
                        acc[s, row + i] += w[i] / total
                _move(lay, st, s, k, j, new, 1, jmax, prev, nxt)


@numba.njit(cache=True)
def _conditional(lay, st, par, s, k, j, model):
    """``P(a_j = i | a⁻)`` for i = 0..l, normalised; the state is left as it was."""
    e_off, f_off, a = lay[1], lay[2], st[0]
    l, m = e_off[k + 1] - e_off[k], f_off[k + 1] - f_off[k]
    old = a[s, f_off[k] + j]
    w = np.empty(l + 1)
    prev, nxt = _neighbours(a, s, f_off[k], m, l, j)
    _move(lay, st, s, k, j, old, -1, par[5], prev, nxt)
    total = _weights(lay, st, par, s, k, j, model, w, prev, nxt)
    _move(lay, st, s, k, j, old, 1, par[5], prev, nxt)
    return w / total


# ---------------------------------------------------------------- Python side
class Layout:
    """One direction's corpus as flat arrays: ``f`` generated from ``e`` (``e`` id 0 = NULL).

    ``cell[cell_off[k] + j (l + 1) + i]`` is the index of the pair ``(e_i, f_j)`` (``i = 0`` NULL)
    among the corpus's co-occurring pairs, so the lexical counts are one flat array. The sides are
    encoded as the EM aligners' (:func:`smt.corpus.encode`: ids in order of first occurrence).
    """

    def __init__(self, f_sents: Sequence[Sequence[str]] | Encoded, e_sents: Sequence[Sequence[str]] | Encoded):
        f = f_sents if isinstance(f_sents, Encoded) else encode(f_sents)
        e = e_sents if isinstance(e_sents, Encoded) else encode(e_sents)
        if len(f) != len(e):
            raise ValueError(f"{len(f):,} f but {len(e):,} e sentences")
        self.f_vocab = f.vocab
        self.e_vocab = {w: k + 1 for w, k in e.vocab.items()}           # e ids from 1: 0 is NULL
        self.n_f, self.n_e = len(f.vocab), len(e.vocab) + 1
        self.m, self.l = f.lengths, e.lengths
        self.f_off = np.concatenate([[0], np.cumsum(self.m)])
        self.e_off = np.concatenate([[0], np.cumsum(self.l)])
        self.cell_off = np.concatenate([[0], np.cumsum(self.m * (self.l + 1))])
        self.e_tok = (e.ids + 1).astype(np.int32)
        keys = _cell_keys(f.ids, self.f_off, self.e_tok, self.e_off, self.cell_off, self.n_f)
        uniq, cell = np.unique(keys, return_inverse=True)
        self.n_pairs = len(uniq)
        self.cell = cell.astype(np.int32)


@numba.njit(cache=True)
def _cell_keys(f_ids, f_off, e_tok, e_off, cell_off, n_f):
    """``e_i · n_f + f_j`` of every cell, in :class:`Layout`'s order (per pair, j-major, i = 0 NULL)."""
    keys = np.empty(cell_off[-1], np.int64)
    for k in range(len(f_off) - 1):
        p = cell_off[k]
        for j in range(f_off[k], f_off[k + 1]):
            keys[p] = f_ids[j]                                          # NULL: 0 · n_f + f_j
            p += 1
            for i in range(e_off[k], e_off[k + 1]):
                keys[p] = np.int64(e_tok[i]) * n_f + f_ids[j]
                p += 1
    return keys


class GibbsAligner:
    """``samplers`` chains of the sampler for one direction ``P(f | e)``, randomly initialised.

    ``a``: ``(samplers, Σm)`` links (0 NULL, ``i`` 1-based), ``phi``: ``(samplers, Σl)`` fertilities,
    and the counts ``c_pair`` ``(samplers, n_pairs)``, ``c_e`` ``(samplers, n_e)``, ``c_jump``
    ``(samplers, 2 jmax + 1)`` (width ``d`` at ``d + jmax``), ``c_jsum``, ``c_fert``
    ``(samplers, n_e, MAX_FERTILITY + 1)``; every count is over the chain's current alignment.
    """

    def __init__(self, f_sents: Sequence[Sequence[str]], e_sents: Sequence[Sequence[str]], samplers: int = SAMPLERS,
                 seed: int = SEED, p0: float = P0, lex_alpha: float = LEX_ALPHA, jump_alpha: float = JUMP_ALPHA,
                 fert_alpha: float = FERT_ALPHA, desc: str = ""):
        if samplers < 1:
            raise ValueError(f"samplers must be >= 1, got {samplers}")
        if not 0 < p0 < 1 or min(lex_alpha, jump_alpha, fert_alpha) <= 0:
            raise ValueError("p0 must be in (0, 1) and the Dirichlet priors > 0")
        self.lay, self.desc = Layout(f_sents, e_sents), desc
        lay, S = self.lay, samplers
        self.jmax = int(lay.l.max(initial=0)) + 1                # every width -(l)..l+1 has its own bucket
        # xorshift64* needs a non-zero state
        self.rng = np.random.SeedSequence(seed).generate_state(S, np.uint64) | np.uint64(1)
        self.par = (float(p0), float(lex_alpha), float(jump_alpha), float(fert_alpha), float(lay.n_f), self.jmax)
        self.assign(None)

    def assign(self, alignments: Sequence[Sequence[int]] | None) -> None:
        """Set every chain to ``alignments`` (per pair, ``a_j`` in 0 NULL..l) and recount; ``None``:
        each chain's own uniformly random alignment."""
        lay, S = self.lay, len(self.rng)
        self.a = np.zeros((S, int(lay.f_off[-1])), np.int32)
        self.phi = np.zeros((S, int(lay.e_off[-1])), np.int32)
        self.c_pair = np.zeros((S, lay.n_pairs), np.int32)
        self.c_e = np.zeros((S, lay.n_e), np.int32)
        self.c_jump = np.zeros((S, 2 * self.jmax + 1), np.int32)
        self.c_jsum = np.zeros(S, np.int64)
        self.c_fert = np.zeros((S, lay.n_e, MAX_FERTILITY + 1), np.int32)
        if alignments is None:
            start = np.full(int(lay.f_off[-1]), -1, np.int32)
        else:
            start = np.concatenate([np.asarray(x, np.int32) for x in alignments] + [np.zeros(0, np.int32)])
            if len(start) != lay.f_off[-1] or (start < 0).any() or (start > np.repeat(lay.l, lay.m)).any():
                raise ValueError("alignments must give every f_j a link in 0..l")
        _init_chains(self._lay(), self._st(), self.jmax, start)

    def _lay(self):
        lay = self.lay
        return lay.e_tok, lay.e_off, lay.f_off, lay.cell, lay.cell_off

    def _st(self):
        return self.a, self.phi, self.c_pair, self.c_e, self.c_jump, self.c_jsum, self.c_fert, self.rng

    def conditional(self, s: int, k: int, j: int, model: int = 3) -> np.ndarray:
        """Chain ``s``'s ``P(a_j = i | all other links)`` for ``f_j`` of pair ``k``, i = 0 (NULL)..l."""
        return _conditional(self._lay(), self._st(), self.par, s, k, j, model)

    def run(self, iterations: int | None = None, model: int = 3) -> np.ndarray:
        """The schedule: ``n = iterations`` sweeps (default :func:`default_iterations`) of ``model``
        (1 IBM1, 2 HMM, 3 HMM + fertility), after ``max(1, n // 4)`` of each simpler model; returns
        the link marginals ``(n_cells,)`` averaged over the chains and the last model's second half."""
        if model not in (1, 2, 3):
            raise ValueError(f"model must be 1 (IBM1), 2 (HMM) or 3 (HMM + fertility), got {model}")
        n = default_iterations(len(self.lay.m)) if iterations is None else iterations
        if n < 1:
            raise ValueError(f"iterations must be >= 1, got {n}")
        S, none = self.a.shape[0], np.zeros((self.a.shape[0], 0), np.float32)
        acc = np.zeros((S, len(self.lay.cell)), np.float32)
        collected = n - n // 2
        sweeps = [max(1, n // 4)] * (model - 1) + [n]
        words = int(self.lay.f_off[-1]) * S
        with progress(total=sum(sweeps) * words, desc=f"{self.desc}Gibbs sweeps", unit="word") as bar:
            for stage, its in enumerate(sweeps, 1):
                for it in range(its):
                    last = stage == model and it >= n - collected
                    _sweep(self._lay(), self._st(), self.par, stage, acc if last else none)
                    bar.update(words)
        return acc.sum(0, dtype=np.float64) / (S * collected)


def links(lay: Layout, marg: np.ndarray) -> list[np.ndarray]:
    """Each ``f_j``'s most probable link under the marginals: array of length m, ``a_j`` 0-based, -1 NULL."""
    return [marg[lay.cell_off[k]:lay.cell_off[k + 1]].reshape(int(lay.m[k]), int(lay.l[k]) + 1).argmax(1) - 1
            for k in range(len(lay.m))]


def posterior_links(lay_s2t: Layout, marg_s2t: np.ndarray, lay_t2s: Layout, marg_t2s: np.ndarray,
                    threshold: float = 0.5) -> list[list[tuple[int, int]]]:
    """Symmetrise by the marginals: link source i and target j where the mean of the two directions'
    ``P(a_i = j)`` and ``P(b_j = i)`` exceeds ``threshold`` (0.5: the link is more likely than not;
    posterior decoding as in Liang et al. 2006, §4, with the mean for their product).  Sorted (i, j)."""
    out = []
    for k in range(len(lay_s2t.m)):
        m, l = int(lay_s2t.m[k]), int(lay_s2t.l[k])
        p = marg_s2t[lay_s2t.cell_off[k]:lay_s2t.cell_off[k + 1]].reshape(m, l + 1)[:, 1:]      # (src, tgt)
        q = marg_t2s[lay_t2s.cell_off[k]:lay_t2s.cell_off[k + 1]].reshape(l, m + 1)[:, 1:].T    # (src, tgt)
        i, j = np.nonzero((p + q) / 2 > threshold)
        out.append(list(zip(i.tolist(), j.tolist())))
    return out


def align_directions(src_sents: Sequence[Sequence[str]], tgt_sents: Sequence[Sequence[str]],
                     iterations: int | None = None, samplers: int = SAMPLERS, seed: int = SEED, model: int = 3
                     ) -> tuple[Layout, np.ndarray, Layout, np.ndarray]:
    """Both directions' link marginals (independent chains, seeds ``seed`` and ``seed + 1``):
    ``(layout, marginals)`` of src2tgt (each source word's target), then of tgt2src.  Symmetrise
    with :func:`posterior_links`, or :func:`links` and :func:`smt.align.symmetrize_corpus`."""
    s2t = GibbsAligner(src_sents, tgt_sents, samplers, seed, desc="src2tgt ")
    m_s2t = s2t.run(iterations, model)
    t2s = GibbsAligner(tgt_sents, src_sents, samplers, seed + 1, desc="tgt2src ")
    return s2t.lay, m_s2t, t2s.lay, t2s.run(iterations, model)
