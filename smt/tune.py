"""Minimum error rate training (MERT) of the log-linear weights, after Och (2003).

F. J. Och. 2003. *Minimum Error Rate Training in Statistical Machine Translation.* ACL.

The decoder picks ``ê(f; λ) = argmax_e Σ_m λ_m h_m(e, f)`` (eq. 2 of the paper) among its
candidates; MERT chooses λ to maximise corpus BLEU of those argmaxes on a development set.

Outer loop (Och 2003 §5, as in Moses' ``mert-moses.pl``)
    1. decode the dev set with the current λ, keeping an n-best list per sentence;
    2. merge it into the n-best lists of all previous iterations (duplicates dropped);
    3. stop when the merged lists no longer grow (the decoder finds nothing new), or λ stops
       changing, or after ``iterations`` rounds;
    4. optimise λ on the merged lists (below) and go to 1.
    The returned λ is the decoded point with the best real dev BLEU (Moses ``--return-best-dev``);
    the final optimised λ is decoded once more to measure it.

Inner optimisation (§6 "Efficient Optimization of Unsmoothed Error Count")
    Coordinate ascent from the current point and from ``restarts`` random points (seeded): along a
    direction d, each candidate's score is a line in the step γ,
    ``s_k(γ) = λ·h_k + γ (d·h_k)``, so each sentence's argmax is piecewise constant in γ: it is
    the *upper envelope* of its lines. :func:`upper_envelopes` walks every envelope from γ = −∞
    rightwards, one intersection at a time (the sweep Och describes), vectorised over sentences.
    Each envelope breakpoint changes that sentence's BLEU sufficient statistics by a known delta;
    sorting the breakpoints of all sentences and accumulating the deltas gives the corpus BLEU
    of *every* γ interval exactly (:func:`line_search`). The best interval's midpoint is the step.
    Each round takes the best step over all directions (the coordinate axes, plus optional random
    directions) until BLEU stops improving, as Moses' ``mert`` does. Weights are finally
    normalised to L1 norm 1 (scaling λ does not change any argmax).
    Optionally (the pipeline always, :data:`smt.weights.NONNEGATIVE`) the weights of the
    log-probability features and of the distortion cost stay >= 0: random restarts are drawn
    from [0, 1] for them and every line search is cut to the steps that keep them there
    (:func:`feasible_steps`); a negative weight on a log-probability prefers improbable
    translations, which a thin n-best pool cannot refute (README "MERT with non-negative model
    weights").

BLEU inside MERT
    Computed on the *tokenised* text (the decoder's tokens against the tokenised, truecased
    reference; one reference) from sufficient statistics per candidate: clipped n-gram matches
    m_n and totals t_n for n = 1..4, hypothesis length c and reference length r (Papineni et al.
    2002). Corpus BLEU = BP · exp(¼ Σ log p_n), BP = min(1, exp(1 − r/c)), with sacreBLEU's default
    "exp" smoothing for orders without a match (identical to unsmoothed BLEU whenever every order
    has at least one match, i.e. on any real dev set). Exactly sacreBLEU with ``tokenize='none'``.
    The BLEU the project reports is computed later by :mod:`evaluation.score` on detokenised text.
"""
from __future__ import annotations

import argparse
import time
from collections import Counter
from typing import Callable, Sequence

import numpy as np

from data.io import add_alias, HelpFormatter, UserError, check_line_counts, progress, read_tokenized, write_json
from smt.unknown import UnknownWords
from evaluation.score import bleu_from_stats as sacrebleu_from_stats
from smt.weights import (DEFAULT_WEIGHTS, FEATURES, as_weights, default_weights, feature_names,  # noqa: F401 (re-exported)
                         nonnegative_mask, read_weights, write_weights)

MAX_ORDER = 4
#: Columns of a sufficient-statistics row: m_1..m_4, t_1..t_4, c (hyp length), r (ref length).
N_STATS = 2 * MAX_ORDER + 2
#: this module's columns (m1..m4, t1..t4, c, r) in evaluation.score's order (c, r, m1..m4, t1..t4)
_TO_SACREBLEU = [2 * MAX_ORDER, 2 * MAX_ORDER + 1, *range(2 * MAX_ORDER)]

NBest = Sequence[Sequence[tuple[Sequence[str], np.ndarray]]]


# --------------------------------------------------------------------------------------------
# BLEU from sufficient statistics
# --------------------------------------------------------------------------------------------

def ngram_counts(tokens: Sequence[str], max_order: int = MAX_ORDER) -> Counter:
    """All n-grams of ``tokens`` (1 <= n <= max_order) with their counts."""
    c: Counter = Counter()
    for n in range(1, max_order + 1):
        for i in range(len(tokens) - n + 1):
            c[tuple(tokens[i:i + n])] += 1
    return c


def sufficient_stats(hyp: Sequence[str], ref: Sequence[str] | Counter, ref_len: int | None = None) -> np.ndarray:
    """BLEU sufficient statistics of one hypothesis against one reference (Papineni et al. 2002).

    Returns ``[m_1..m_4, t_1..t_4, c, r]``: clipped n-gram matches, hypothesis n-gram totals,
    hypothesis length and reference length. ``ref`` may be a pre-computed :func:`ngram_counts`
    (then ``ref_len`` is required).
    """
    if isinstance(ref, Counter):
        ref_counts, r = ref, ref_len
    else:
        ref_counts, r = ngram_counts(ref), len(ref)
    out = np.zeros(N_STATS)
    for gram, k in ngram_counts(hyp).items():
        n = len(gram)
        out[n - 1] += min(k, ref_counts.get(gram, 0))
    for n in range(1, MAX_ORDER + 1):
        out[MAX_ORDER + n - 1] = max(0, len(hyp) - n + 1)
    out[2 * MAX_ORDER] = len(hyp)
    out[2 * MAX_ORDER + 1] = r
    return out


def bleu_from_stats(stats: np.ndarray) -> np.ndarray | float:
    """Corpus BLEU (0–100) from summed sufficient statistics in this module's column order; vectorised
    over leading axes. The one BLEU formula is :func:`evaluation.score.bleu_from_stats` (sacreBLEU's
    ``corpus_score`` with its default exp smoothing); this reorders the columns for it."""
    return sacrebleu_from_stats(np.asarray(stats, dtype=np.float64)[..., _TO_SACREBLEU])


def corpus_bleu_tokens(hyps: Sequence[Sequence[str]], refs: Sequence[Sequence[str]]) -> float:
    """Corpus BLEU of tokenised hypotheses against tokenised references (one each)."""
    if len(hyps) != len(refs):
        raise UserError(f"{len(hyps):,} hypotheses but {len(refs):,} references")
    total = np.zeros(N_STATS)
    for h, r in zip(hyps, refs):
        total += sufficient_stats(h, r)
    return bleu_from_stats(total)


# --------------------------------------------------------------------------------------------
# Exact line search (Och 2003, §6)
# --------------------------------------------------------------------------------------------

def upper_envelopes(a: np.ndarray, b: np.ndarray, valid: np.ndarray | None = None):
    """Upper envelopes of the lines ``a[s, k] + γ b[s, k]`` of every sentence s.

    Walks each envelope from γ = −∞: start on the line that is highest at −∞ (smallest slope,
    largest intercept among equal slopes); from line k, the next envelope line is the steeper
    line j (b_j > b_k) whose intersection γ_j = (a_k − a_j) / (b_j − b_k) comes first (the
    steepest among lines crossing there). All sentences advance together, NumPy-vectorised.

    Returns ``(start, points)``: ``start[s]`` is the index of sentence s's line at γ → −∞, and
    ``points`` is a tuple of arrays ``(sent, gamma, old, new)``: at ``gamma`` sentence ``sent``'s
    argmax changes from candidate ``old`` to ``new`` (in increasing γ per sentence).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    S, N = a.shape
    if valid is None:
        valid = np.ones((S, N), dtype=bool)
    b_masked = np.where(valid, b, np.inf)
    b_min = b_masked.min(axis=1)
    on_min = valid & (b == b_min[:, None])
    start = np.where(on_min, a, -np.inf).argmax(axis=1)

    rows = np.arange(S)
    cur = start.copy()
    x = np.full(S, -np.inf)
    out_s, out_g, out_o, out_n = [], [], [], []
    while rows.size:
        aa, bb, vv = a[rows], b[rows], valid[rows]
        ak = aa[np.arange(rows.size), cur][:, None]
        bk = bb[np.arange(rows.size), cur][:, None]
        steeper = vv & (bb > bk)
        with np.errstate(divide="ignore", invalid="ignore"):
            g = np.where(steeper, (ak - aa) / (bb - bk), np.inf)
        g_min = g.min(axis=1)
        alive = np.isfinite(g_min)
        if not alive.any():
            break
        g, bb, g_min = g[alive], bb[alive], g_min[alive]
        rows, cur, x = rows[alive], cur[alive], x[alive]
        nxt = np.where(g == g_min[:, None], bb, -np.inf).argmax(axis=1)  # steepest of ties
        g_min = np.maximum(g_min, x)  # rounding can put a crossing a hair left of the last
        out_s.append(rows)
        out_g.append(g_min)
        out_o.append(cur)
        out_n.append(nxt)
        cur, x = nxt, g_min
    if out_s:
        points = tuple(np.concatenate(v) for v in (out_s, out_g, out_o, out_n))
    else:
        points = (np.zeros(0, int), np.zeros(0), np.zeros(0, int), np.zeros(0, int))
    return start, points


def line_search(features: np.ndarray, stats: np.ndarray, weights: np.ndarray, direction: np.ndarray,
                valid: np.ndarray | None = None, *, eps: float = 1e-9,
                bounds: tuple[float, float] = (-np.inf, np.inf)) -> dict:
    """Exact corpus-BLEU line search along ``weights + γ · direction`` (Och 2003, §6).

    ``features``: (S, N, D) feature vectors of N candidates for each of S sentences (padded;
    ``valid`` (S, N) marks real ones); ``stats``: (S, N, 10) their BLEU sufficient statistics.

    Returns a dict: ``gamma`` (the chosen step), ``bleu`` (corpus BLEU there), ``interval``
    ``(lo, hi)`` (the maximal γ interval with that BLEU containing ``gamma``), ``breakpoints``
    (sorted, merged γ values where the corpus argmax changes) and ``bleus`` (BLEU of each of the
    ``len(breakpoints) + 1`` intervals, left to right).

    Step choice: the midpoint of the best interval; for a half-infinite interval, 0 (stay) if
    it reaches 1 beyond 0, else 1 beyond its finite end. Ties between intervals go to the step
    closest to 0, so a flat direction never moves the point. Breakpoints closer than ``eps``
    (relative) are merged so rounding cannot create a zero-width interval. ``bounds = (lo, hi)``
    (containing 0) restricts γ: the intervals are cut to it and those outside it dropped
    (:func:`feasible_steps` gives the bounds that keep weights non-negative).
    """
    features = np.asarray(features, dtype=np.float64)
    S, N, _ = features.shape
    if valid is None:
        valid = np.ones((S, N), dtype=bool)
    a = np.where(valid, features @ weights, -np.inf)
    b = np.where(valid, features @ direction, 0.0)
    start, (sent, gamma, old, new) = upper_envelopes(a, b, valid)

    total = stats[np.arange(S), start].sum(axis=0)
    order = np.argsort(gamma, kind="stable")
    gamma = gamma[order]
    delta = stats[sent[order], new[order]] - stats[sent[order], old[order]]
    if gamma.size:
        # merge breakpoints that coincide (within eps): one interval boundary, summed deltas
        gap = np.diff(gamma) > eps * np.maximum(1.0, np.abs(gamma[1:]))
        first = np.concatenate(([0], np.nonzero(gap)[0] + 1))
        points = gamma[first]
        delta = np.add.reduceat(delta, first, axis=0)
    else:
        points = gamma
    interval_stats = np.vstack([total[None], total[None] + np.cumsum(delta, axis=0)])
    bleus = bleu_from_stats(interval_stats)

    lo = np.maximum(np.concatenate(([-np.inf], points)), bounds[0])
    hi = np.minimum(np.concatenate((points, [np.inf])), bounds[1])
    bleus = np.where(lo < hi, bleus, -np.inf)          # intervals outside the bounds
    with np.errstate(invalid="ignore"):
        steps = np.where(np.isfinite(lo) & np.isfinite(hi), (lo + hi) / 2,
                         np.where(np.isfinite(hi), np.minimum(0.0, hi - 1.0),
                                  np.where(np.isfinite(lo), np.maximum(0.0, lo + 1.0), 0.0)))
    best = bleus.max()
    ties = np.nonzero(bleus >= best - 1e-9)[0]
    i = ties[np.argmin(np.abs(steps[ties]))]
    return {"gamma": float(steps[i]), "bleu": float(bleus[i]), "interval": (float(lo[i]), float(hi[i])),
            "breakpoints": points, "bleus": bleus}


# --------------------------------------------------------------------------------------------
# Optimiser on fixed n-best lists
# --------------------------------------------------------------------------------------------

def normalize(weights: np.ndarray) -> np.ndarray:
    """Scale to L1 norm 1 (as Moses' mert does); the argmax of λ·h is scale-invariant."""
    weights = np.asarray(weights, dtype=np.float64)
    norm = np.abs(weights).sum()
    return weights / norm if norm > 0 else weights


def score_at(features: np.ndarray, stats: np.ndarray, valid: np.ndarray, weights: np.ndarray) -> float:
    """Corpus BLEU of the argmax candidates under ``weights`` (first candidate wins ties)."""
    s = np.where(valid, features @ weights, -np.inf)
    best = s.argmax(axis=1)
    return bleu_from_stats(stats[np.arange(len(best)), best].sum(axis=0))


def feasible_steps(weights: np.ndarray, direction: np.ndarray, nonnegative: np.ndarray | None) -> tuple[float, float]:
    """The γ interval keeping ``weights + γ · direction`` >= 0 on the ``nonnegative`` features
    (``weights`` must already be feasible there); unbounded without constraints."""
    lo, hi = -np.inf, np.inf
    if nonnegative is not None:
        w, d = np.maximum(weights[nonnegative], 0.0), direction[nonnegative]
        if (d > 0).any():
            lo = float((-w[d > 0] / d[d > 0]).max())
        if (d < 0).any():
            hi = float((-w[d < 0] / d[d < 0]).min())
    return lo, hi


def optimize(features: np.ndarray, stats: np.ndarray, valid: np.ndarray, start: np.ndarray,
             directions: np.ndarray, *, min_gain: float = 1e-6, max_steps: int = 100,
             nonnegative: np.ndarray | None = None):
    """Greedy coordinate ascent (Moses' "SimpleOptimizer"): line-search every direction from the
    current point, take the best step, repeat until corpus BLEU gains less than ``min_gain``;
    the ``nonnegative`` features (a mask) stay >= 0 (``start`` is projected there first)."""
    w = np.asarray(start, dtype=np.float64).copy()
    if nonnegative is not None:
        w[nonnegative] = np.maximum(w[nonnegative], 0.0)
    bleu = score_at(features, stats, valid, w)
    for _ in range(max_steps):
        best = None
        for d in directions:
            r = line_search(features, stats, w, d, valid, bounds=feasible_steps(w, d, nonnegative))
            if best is None or r["bleu"] > best[0]:
                best = (r["bleu"], r["gamma"], d)
        if best is None or best[0] < bleu + min_gain or best[1] == 0.0:
            break
        w = w + best[1] * best[2]
        if nonnegative is not None:                 # rounding at a bound
            w[nonnegative] = np.maximum(w[nonnegative], 0.0)
        bleu = score_at(features, stats, valid, w)
    return w, bleu


class NBestPool:
    """Per-sentence n-best lists merged across MERT iterations (duplicates dropped, Moses-style)."""

    def __init__(self, refs: Sequence[Sequence[str]], dim: int):
        self.refs = [(ngram_counts(r), len(r)) for r in refs]
        self.dim = dim
        self.seen: list[set] = [set() for _ in refs]
        self.feats: list[list[np.ndarray]] = [[] for _ in refs]
        self.stats: list[list[np.ndarray]] = [[] for _ in refs]

    def add(self, nbest: NBest) -> int:
        """Merge one decoder run's n-best lists; returns how many candidates were new."""
        if len(nbest) != len(self.refs):
            raise UserError(f"decoder returned {len(nbest):,} n-best lists for {len(self.refs):,} dev sentences")
        added = 0
        for s, cands in enumerate(nbest):
            ref_counts, ref_len = self.refs[s]
            for tokens, feats in cands:
                feats = np.asarray(feats, dtype=np.float64)
                if feats.shape != (self.dim,):
                    raise UserError(f"n-best candidate with {feats.shape} features, expected {self.dim}")
                key = (tuple(tokens), tuple(np.round(feats, 6)))
                if key in self.seen[s]:
                    continue
                self.seen[s].add(key)
                self.feats[s].append(feats)
                self.stats[s].append(sufficient_stats(tokens, ref_counts, ref_len))
                added += 1
        return added

    @property
    def size(self) -> int:
        return sum(len(f) for f in self.feats)

    def arrays(self):
        """Padded ``(features (S,N,D), stats (S,N,10), valid (S,N))``."""
        S = len(self.refs)
        N = max(1, max(len(f) for f in self.feats))
        F = np.zeros((S, N, self.dim))
        T = np.zeros((S, N, N_STATS))
        V = np.zeros((S, N), dtype=bool)
        for s in range(S):
            n = len(self.feats[s])
            if n:
                F[s, :n] = self.feats[s]
                T[s, :n] = self.stats[s]
                V[s, :n] = True
            else:  # a sentence the decoder could not translate: one empty candidate
                V[s, 0] = True
                T[s, 0, 2 * MAX_ORDER + 1] = self.refs[s][1]
        return F, T, V


def _one_best_bleu(nbest: NBest, refs: Sequence[Sequence[str]]) -> float:
    return corpus_bleu_tokens([list(c[0][0]) if c else [] for c in nbest], refs)


def mert(decode_nbest: Callable[[np.ndarray], NBest], refs: Sequence[Sequence[str]],
         init_weights: Sequence[float], iterations: int = 5, restarts: int = 20, seed: int = 1234,
         random_directions: int = 0, log: Callable[[str], None] | None = None,
         nonnegative: Sequence[bool] | None = None):
    """Tune log-linear weights by MERT (Och 2003); see the module docstring for the algorithm.

    ``decode_nbest(weights)`` decodes the dev set and returns, per sentence, its n-best list of
    ``(tokens, features)`` (best first); ``refs`` are the tokenised references. ``nonnegative``:
    a mask of features whose weights stay >= 0 (random restarts drawn from [0, 1] for them,
    [-1, 1] for the others; line searches cut at 0) — :func:`smt.weights.nonnegative_mask`.
    Returns ``(weights, log)``: L1-normalised weights (np.ndarray) and a dict with the seed, the
    per-iteration records (dev BLEU of the 1-best at the decoded point, merged n-best size, BLEU
    on the merged lists after optimisation, weights) and why it stopped.
    """
    say = log or (lambda msg: None)
    rng = np.random.default_rng(seed)
    w = normalize(np.asarray(init_weights, dtype=np.float64))
    D = w.size
    mask = None if nonnegative is None else np.asarray(nonnegative, dtype=bool)
    if mask is not None:
        if mask.shape != (D,):
            raise UserError(f"nonnegative mask of {mask.shape} for {D} weights")
        if (w[mask] < 0).any():
            raise UserError(f"initial weights {w.tolist()} are negative on a feature MERT keeps non-negative")
    low = np.where(mask, 0.0, -1.0) if mask is not None else -1.0
    pool = NBestPool(refs, D)
    directions = np.eye(D)
    history: list[dict] = []
    decoded: list[tuple[float, np.ndarray]] = []  # (real 1-best dev BLEU, weights)
    stop = "max-iterations"
    for it in range(1, iterations + 1):
        t0 = time.time()
        nbest = decode_nbest(w)
        dev_bleu = _one_best_bleu(nbest, refs)
        decoded.append((dev_bleu, w.copy()))
        added = pool.add(nbest)
        rec = {"iteration": it, "weights": w.tolist(), "dev_bleu_1best": round(dev_bleu, 4),
               "new_candidates": added, "pool_size": pool.size, "decode_seconds": round(time.time() - t0, 2)}
        if added == 0:
            stop = "converged: n-best lists did not grow"
            history.append(rec)
            say(f"MERT iteration {it}: dev BLEU {dev_bleu:.2f} (tokenised); no new candidates -> stop")
            break
        t1 = time.time()
        F, T, V = pool.arrays()
        dirs = directions
        if random_directions:
            rd = rng.normal(size=(random_directions, D))
            dirs = np.vstack([directions, rd / np.linalg.norm(rd, axis=1, keepdims=True)])
        starts = [w] + [rng.uniform(low, 1.0, size=D) for _ in range(restarts)]
        best_w, best_bleu = None, -1.0
        for k, s in enumerate(progress(starts, desc=f"MERT {it} restarts", unit="start", leave=False)):
            cand, b = optimize(F, T, V, s, dirs, nonnegative=mask)
            if b > best_bleu + 1e-9:  # strict: the current point wins ties
                best_w, best_bleu = cand, b
        new_w = normalize(best_w)
        rec.update({"pool_bleu": round(best_bleu, 4), "optimize_seconds": round(time.time() - t1, 2),
                    "new_weights": new_w.tolist()})
        history.append(rec)
        say(f"MERT iteration {it}: dev BLEU {dev_bleu:.2f} at current weights (tokenised), "
            f"{added:,} new candidates (pool {pool.size:,}), optimised BLEU on pool {best_bleu:.2f}")
        if np.allclose(new_w, w, atol=1e-6):
            stop = "converged: weights unchanged"
            break
        w = new_w
    else:
        # the last optimised point has not been decoded yet: measure it for real
        nbest = decode_nbest(w)
        dev_bleu = _one_best_bleu(nbest, refs)
        decoded.append((dev_bleu, w.copy()))
        history.append({"iteration": iterations + 1, "weights": w.tolist(),
                        "dev_bleu_1best": round(dev_bleu, 4), "final_check": True})
        say(f"MERT final check: dev BLEU {dev_bleu:.2f} at the last optimised weights")
    best_i = max(range(len(decoded)), key=lambda i: (decoded[i][0], i))
    best_bleu, best_w = decoded[best_i]
    info = {"algorithm": "MERT (Och 2003), coordinate ascent with exact line search",
            "seed": seed, "restarts": restarts, "random_directions": random_directions,
            "nonnegative": None if mask is None else np.flatnonzero(mask).tolist(),
            "iterations_run": len(history), "stop": stop, "history": history,
            "best_dev_bleu_tokenised": round(best_bleu, 4), "best_decoded_index": best_i,
            "bleu": "tokenised BLEU from sufficient statistics (sacreBLEU tokenize=none, exp smoothing)"}
    return normalize(best_w), info


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------

def decoder_nbest_fn(decoder, sentences: list[list[str]], nbest: int, processes: int):
    """Wrap a :class:`smt.decode.Decoder` as the ``decode_nbest`` callable :func:`mert` expects."""
    def decode_nbest(weights: np.ndarray):
        out = decoder.translate_corpus(sentences, weights=np.asarray(weights), nbest=nbest, processes=processes,
                                       desc=f"MERT decode {nbest}-best")
        return [[(list(h.tokens), np.asarray(h.features, dtype=np.float64)) for h in hyps] for hyps in out]
    return decode_nbest


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m smt tune", description=__doc__.split("\n\n")[0] + " Writes a weights JSON file.",
                                formatter_class=HelpFormatter)
    p.add_argument("--phrase-table", required=True, help="Moses phrase table (text, .gz ok)")
    p.add_argument("--lm", required=True, help="KenLM model (binary or ARPA)")
    p.add_argument("--reordering-table", help="msd-bidirectional-fe lexicalised reordering table (smt/reordering.py): "
                                              "tunes its six weights too (default: distance-based reordering only)")
    p.add_argument("--src", required=True, help="tokenised dev source, one sentence a line")
    p.add_argument("--ref", required=True, help="tokenised dev reference, line-aligned with --src")
    p.add_argument("--out", required=True, help="weights JSON to write")
    p.add_argument("--init-weights", help="weights JSON to start from (default: the decoder's DEFAULT_WEIGHTS)")
    p.add_argument("--iterations", type=int, default=5, help="maximum decoder runs / MERT rounds")
    p.add_argument("--nbest", type=int, default=100, help="n-best list size per decoder run")
    p.add_argument("--restarts", type=int, default=20, help="random starting points per round (plus the current one)")
    p.add_argument("--random-directions", type=int, default=0, help="random directions besides the coordinate axes")
    p.add_argument("--seed", type=int, default=1234, help="seed of the random restarts/directions")
    p.add_argument("--unconstrained", action="store_true",
                   help="let every weight take either sign (default: the log-probability and distortion weights "
                        "stay >= 0, smt/weights.py NONNEGATIVE)")
    p.add_argument("--stack-size", type=int, default=100, help="decoder stack size (hypotheses kept per stack)")
    p.add_argument("--distortion-limit", type=int, default=6, help="the decoder's distortion limit (source words a phrase may jump)")
    p.add_argument("--pop-limit", type=int, default=None, metavar="N",
                   help="decode by cube pruning with at most N pops per stack (smt/search.py; default: the stack search)")
    p.add_argument("--jobs", type=int, default=2, help="decoder worker processes")
    add_alias(p, "--processes", "jobs", type=int)
    p.add_argument("--log", help="also write the MERT log (JSON) here")
    p.add_argument("--source-words", metavar="TSV",
                   help="rewrite unknown dev source words into known ones first (smt/unknown.py), with this training "
                        "vocabulary: a system's source-words.tsv (default: unknown words are copied)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("iterations", "nbest", "jobs", "stack_size"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be >= 1")
    if args.restarts < 0 or args.random_directions < 0:
        raise UserError("--restarts and --random-directions must be >= 0")
    if args.pop_limit is not None and args.pop_limit < 1:
        raise UserError("--pop-limit must be >= 1")
    from smt.decode import Decoder  # the decoder is imported where MERT drives it (CLI), not for MERT itself
    src = read_tokenized(args.src, allow_empty_lines=False)
    refs = read_tokenized(args.ref)
    check_line_counts(args.src, src, args.ref, refs)
    if args.source_words:
        src = UnknownWords.load(args.source_words).rewrite_corpus(src)[0]
    lexicalised = args.reordering_table is not None
    init = read_weights(args.init_weights) if args.init_weights else default_weights(lexicalised)
    init = as_weights(init, lexicalised)
    decoder = Decoder(args.phrase_table, args.lm, weights=init, stack_size=args.stack_size,
                      distortion_limit=args.distortion_limit, reordering_table=args.reordering_table,
                      pop_limit=args.pop_limit)
    t0 = time.time()
    weights, info = mert(decoder_nbest_fn(decoder, src, args.nbest, args.jobs), refs, init,
                         iterations=args.iterations, restarts=args.restarts, seed=args.seed,
                         random_directions=args.random_directions, log=lambda m: print(m, flush=True),
                         nonnegative=None if args.unconstrained else nonnegative_mask(feature_names(lexicalised)))
    info["seconds"] = round(time.time() - t0, 2)
    info["settings"] = {k: v for k, v in vars(args).items() if k not in ("out", "log")}
    write_weights(args.out, weights, tuning=info if not args.log else {"log": args.log, "seed": args.seed})
    if args.log:
        write_json(args.log, info)
    print(f"tuned weights -> {args.out} (best dev BLEU {info['best_dev_bleu_tokenised']:.2f}, tokenised)")
    return 0


if __name__ == "__main__":
    from data.io import run_cli
    run_cli(main)
