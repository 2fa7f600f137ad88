"""Training variance: mean ± sd over seed runs, significance over sentences *and* seeds, Holm.

Shapes: one system's seed runs are per-sentence BLEU sufficient statistics
``[S, n, 10]`` (S runs, n test sentences, :data:`evaluation.score.STAT_COLUMNS`); a single run
``[n, 10]`` is taken as ``S = 1``. Corpus BLEU of a run is :func:`evaluation.score.bleu_from_stats`
of the sum of its rows.

* :func:`seed_summary` — mean ± sample sd (ddof = 1) over the S runs, n stated; Clark et al.
  (2011, §3) call the sd over optimizer replicas s_opt and recommend reporting it beside the mean.
* :func:`stratified_ar` — approximate randomisation (Noreen 1989; Riezler & Maxwell 2005, §3:
  shuffle the two systems' outputs sentence by sentence, R times, count how often the shuffled
  |difference| is ≥ the observed one, ``p = (c + 1) / (R + 1)``) extended to optimizer replicas as
  in Clark et al. (2011, §4) and their MultEval (``StratifiedApproximateRandomizationTest``):
  the shuffle is *stratified by sentence* — only outputs for the same test sentence are exchanged
  — and under H0 all 2S outputs for sentence i (S of A, S of B) are exchangeable, so a shuffle
  deals them, for every sentence independently, by a uniform random permutation into S pseudo-runs
  of "X" and S of "Y". This exchanges outputs between systems *and* between seed runs, as MultEval
  does (it swaps A/B per (sentence, run) and permutes like hypotheses across runs). With S = 1 it
  is the plain per-sentence swap. Statistic: ``statistic="mean"`` (default) the difference of the
  mean over runs of corpus BLEU — what the headline table reports — or ``"pooled"``, MultEval's:
  BLEU of the concatenation of all S runs. Two-sided. Deviation from MultEval: we count ≥
  (Riezler & Maxwell), not MultEval's strict >, so two identical systems get p = 1, not 1/(R+1).
* :func:`exact_randomization` — the exact permutation test (all 2ⁿ swap patterns, S = 1, small n),
  ``p = #{|δ*| ≥ |δ|} / 2ⁿ``; for checking :func:`stratified_ar` by hand.
* :func:`seed_bootstrap` — paired bootstrap (Koehn 2004, §4) of the mean-over-seeds difference:
  one resample of the test sentences is applied to every seed pair (A run k vs B run k), so the CI
  reflects sentence sampling around the S-run mean; seed-to-seed variance enters through the
  averaging and is tested by :func:`stratified_ar`.
* :func:`holm` — Holm (1979) step-down adjustment over a family of p-values.
* :func:`gap_growth` — "the gap between A and B grows with length", tested as worded: a stratified,
  paired bootstrap of (gap in the longest bucket) − (gap in the shortest bucket).
"""
from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from data.io import UserError
from data.profiles import SEED
from evaluation.score import bleu_from_stats
from evaluation.significance import ALPHA, SignificanceResult, _ci_bounds, resample_weights

#: floating-point slack for "≥ the observed difference" (BLEU is a float of integer statistics)
_TIE = 1e-9


def as_runs(stats) -> np.ndarray:
    """``[S, n, 10]`` float64 from ``[n, 10]`` (S = 1) or ``[S, n, 10]``."""
    a = np.asarray(stats, dtype=np.float64)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[0] < 1:
        raise UserError(f"seed runs need statistics of shape [S, n, 10] or [n, 10], got {a.shape}")
    return a


def _pair(stats_a, stats_b) -> tuple[np.ndarray, np.ndarray]:
    a, b = as_runs(stats_a), as_runs(stats_b)
    if a.shape != b.shape:
        raise UserError(f"the two systems need the same seed count and sentences: statistics {a.shape} vs {b.shape}")
    return a, b


def run_bleus(stats) -> np.ndarray:
    """Corpus BLEU of each run: ``[S]``."""
    return bleu_from_stats(as_runs(stats).sum(1))


# ------------------------------------------------------------------------------------------
# mean ± sd
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedSummary:
    mean: float
    sd: float          # sample sd (ddof = 1); nan for a single run
    n: int             # number of runs
    values: tuple[float, ...]

    def as_dict(self) -> dict:
        return asdict(self)


def seed_summary(scores: Sequence[float]) -> SeedSummary:
    """Mean ± sample standard deviation (ddof = 1) of one system's scores over its seed runs."""
    v = np.asarray(list(scores), dtype=np.float64)
    if v.size == 0:
        raise UserError("mean ± sd needs at least one run")
    if not np.all(np.isfinite(v)):
        raise UserError(f"seed scores must be finite numbers, got {v.tolist()}")
    sd = float(np.std(v, ddof=1)) if v.size > 1 else float("nan")
    return SeedSummary(float(v.mean()), sd, int(v.size), tuple(float(x) for x in v))


# ------------------------------------------------------------------------------------------
# stratified approximate randomisation
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RandomizationResult(SignificanceResult):
    bleu_a: float      # mean over runs (statistic="mean") or pooled BLEU
    bleu_b: float
    delta: float       # bleu_a - bleu_b
    p_value: float     # two-sided
    n: int             # sentences
    n_runs: int        # S
    n_shuffles: int    # R (2ⁿ for the exact test)
    statistic: str



def _score(sums: np.ndarray, statistic: str) -> np.ndarray:
    """``sums [..., S, 10]`` → score ``[...]`` (mean of run BLEUs, or BLEU of the pooled runs)."""
    if statistic == "mean":
        return bleu_from_stats(sums).mean(-1)
    if statistic == "pooled":
        return bleu_from_stats(sums.sum(-2))
    raise UserError(f"unknown statistic {statistic!r} (mean, pooled)")


def stratified_ar(stats_a, stats_b, n_shuffles: int = 1000, seed: int = SEED,
                  statistic: str = "mean", chunk_bytes: int = 64 << 20) -> RandomizationResult:
    """Stratified approximate randomisation over sentences and seed runs (module docstring).

    ``stats_a``, ``stats_b``: ``[S, n, 10]`` (or ``[n, 10]``). Each shuffle draws, per sentence, a
    uniform permutation of its ``2S`` outputs (``rng.random((R, n, 2S)).argsort(-1)``); the first S
    form X's runs, the rest Y's; memory is bounded by processing shuffles in chunks of
    ``[r, n, 2S, 10]``.
    """
    a, b = _pair(stats_a, stats_b)
    if n_shuffles < 1:
        raise UserError(f"approximate randomisation needs at least 1 shuffle, got {n_shuffles}")
    S, n, k = a.shape
    score_a, score_b = float(_score(a.sum(1), statistic)), float(_score(b.sum(1), statistic))
    delta = score_a - score_b
    if n == 0:
        return RandomizationResult(score_a, score_b, delta, 1.0, 0, S, n_shuffles, statistic)
    outputs = np.concatenate([a, b], axis=0).transpose(1, 0, 2)  # [n, 2S, 10]
    rng = np.random.default_rng(seed)
    chunk = max(1, int(chunk_bytes // (n * 2 * S * k * 8)))
    count = 0
    for start in range(0, n_shuffles, chunk):
        r = min(chunk, n_shuffles - start)
        perm = rng.random((r, n, 2 * S)).argsort(-1)                       # [r, n, 2S]
        dealt = outputs[np.arange(n)[None, :, None], perm]                  # [r, n, 2S, 10]
        sums = dealt.sum(1)                                                 # [r, 2S, 10]
        d = _score(sums[:, :S], statistic) - _score(sums[:, S:], statistic)  # [r]
        count += int(np.sum(np.abs(d) >= abs(delta) - _TIE))
    p = (count + 1) / (n_shuffles + 1)
    return RandomizationResult(score_a, score_b, delta, float(min(1.0, p)), n, S, n_shuffles, statistic)


def exact_randomization(stats_a, stats_b, max_sentences: int = 16) -> RandomizationResult:
    """Exact paired permutation test for one run each: all ``2ⁿ`` per-sentence swap patterns.

    ``p = #{patterns with |δ*| ≥ |δ|} / 2ⁿ`` (the identity pattern included) — the value
    :func:`stratified_ar` with ``S = 1`` approximates (Riezler & Maxwell 2005, §3).
    """
    a, b = _pair(stats_a, stats_b)
    if a.shape[0] != 1:
        raise UserError("the exact test enumerates single runs only (S = 1)")
    a, b = a[0], b[0]
    n = len(a)
    if n > max_sentences:
        raise UserError(f"the exact test enumerates 2^n patterns: n = {n} > {max_sentences}")
    delta = float(bleu_from_stats(a.sum(0)) - bleu_from_stats(b.sum(0)))
    masks = np.array(list(itertools.product((0.0, 1.0), repeat=n)))      # [2ⁿ, n]: 1 = swapped
    x = (1 - masks) @ a + masks @ b
    y = masks @ a + (1 - masks) @ b
    d = bleu_from_stats(x) - bleu_from_stats(y)
    p = float(np.mean(np.abs(d) >= abs(delta) - _TIE))
    return RandomizationResult(float(bleu_from_stats(a.sum(0))), float(bleu_from_stats(b.sum(0))), delta, p,
                               n, 1, len(masks), "mean")


# ------------------------------------------------------------------------------------------
# bootstrap CI of the mean difference over seed pairs
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedBootstrap:
    delta: float       # mean over seed pairs of BLEU(A_k) - BLEU(B_k)
    ci_low: float      # 95% percentile interval (sacreBLEU's bounds, as evaluation.significance)
    ci_high: float
    n: int
    n_runs: int
    n_samples: int

    def as_dict(self) -> dict:
        return asdict(self)


def seed_bootstrap(stats_a, stats_b, n_samples: int = 1000, seed: int = SEED) -> SeedBootstrap:
    """95% bootstrap CI of the mean-over-seeds BLEU difference (Koehn 2004, §3–4).

    ``w [R, n]`` resample multiplicities (:func:`evaluation.significance.resample_weights`), the
    same for every seed pair; resampled run statistics ``einsum('rn,snk->rsk')``.
    """
    a, b = _pair(stats_a, stats_b)
    S, n, _ = a.shape
    delta = float(np.mean(bleu_from_stats(a.sum(1)) - bleu_from_stats(b.sum(1))))
    if n == 0:
        nan = float("nan")
        return SeedBootstrap(nan, nan, nan, 0, S, n_samples)
    w = resample_weights(n, n_samples, seed)
    d = (bleu_from_stats(np.einsum("rn,snk->rsk", w, a)) - bleu_from_stats(np.einsum("rn,snk->rsk", w, b))).mean(-1)
    lo, hi = _ci_bounds(d)
    return SeedBootstrap(delta, lo, hi, n, S, n_samples)


# ------------------------------------------------------------------------------------------
# Holm–Bonferroni
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HolmResult:
    name: str
    p_value: float
    p_adjusted: float
    reject: bool
    rank: int          # 1 = smallest p

    def as_dict(self) -> dict:
        return asdict(self)


def holm(family: Sequence[tuple[str, float]], alpha: float = ALPHA) -> list[HolmResult]:
    """Holm (1979) step-down correction of a family of ``m`` tests, in the input order.

    Sort ascending ``p_(1) ≤ … ≤ p_(m)``; adjusted ``p̃_(j) = max_{i ≤ j} min(1, (m − i + 1) p_(i))``
    (the max enforces monotonicity, so the step-down stops at the first non-rejection); reject
    ``H_(j)`` iff ``p̃_(j) < alpha`` — strict, as every other test on the page (Holm's ``≤`` differs
    only at an exact tie with ``alpha``). Ties keep the input order.
    """
    names = [str(n) for n, _ in family]
    p = np.asarray([float(v) for _, v in family], dtype=np.float64)
    if p.size and (not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1):
        bad = [f"{n}={v}" for n, v in zip(names, p) if not (0 <= v <= 1)]
        raise UserError(f"Holm needs p-values in [0, 1]: {', '.join(bad)}")
    m = p.size
    order = np.argsort(p, kind="stable")
    adj_sorted = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
    adj = np.empty(m)
    adj[order] = adj_sorted
    rank = np.empty(m, dtype=np.int64)
    rank[order] = np.arange(1, m + 1)
    return [HolmResult(names[i], float(p[i]), float(adj[i]), bool(adj[i] < alpha), int(rank[i])) for i in range(m)]


# ------------------------------------------------------------------------------------------
# does the gap grow with length?
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GapGrowth(SignificanceResult):
    gap_short: float   # mean-over-runs BLEU(A) - BLEU(B) in the short bucket
    gap_long: float
    difference: float  # gap_long - gap_short
    ci_low: float      # 95% percentile interval of the difference
    ci_high: float
    p_value: float     # one-sided, H1: difference > 0
    n_short: int
    n_long: int
    n_runs: int
    n_samples: int



def _stratum_weights(n_total: int, idx: np.ndarray, n_samples: int, seed: int) -> np.ndarray:
    """``[R, n_total]`` multiplicities: ``len(idx)`` draws with replacement among ``idx`` only."""
    w = np.zeros((n_samples, n_total))
    if len(idx):
        w[:, idx] = resample_weights(len(idx), n_samples, seed)
    return w


def gap_growth(stats_a, stats_b, short_idx, long_idx, n_samples: int = 1000, seed: int = SEED) -> GapGrowth:
    """Bootstrap test that the A − B gap is larger on long sentences than on short ones.

    ``gap(bucket) = mean_s BLEU(A_s | bucket) − mean_s BLEU(B_s | bucket)`` (corpus BLEU of the
    bucket's sentences, per run, averaged over runs); statistic ``D = gap(long) − gap(short)``.
    Each resample draws the short bucket's sentences with replacement among the short bucket and
    the long bucket's among the long bucket (stratified: bucket sizes fixed), and applies the same
    draw to A and B and to every run (paired; Koehn 2004, §4). 95% CI: percentile interval of
    ``D*``; one-sided p (H0: D ≤ 0): the resampled ``D*`` shifted to mean 0, as the paired test of
    :mod:`evaluation.significance`: ``p = (#{D* − mean D* ≥ D} + 1) / (R + 1)``.
    """
    a, b = _pair(stats_a, stats_b)
    S, n, _ = a.shape
    short_idx, long_idx = np.asarray(short_idx, dtype=np.int64), np.asarray(long_idx, dtype=np.int64)
    if len(short_idx) == 0 or len(long_idx) == 0:
        raise UserError(f"gap growth needs sentences in both buckets: {len(short_idx)} short, {len(long_idx)} long")
    if np.intersect1d(short_idx, long_idx).size:
        raise UserError("the short and the long bucket share sentences")

    def gap(w):  # w [R, n] -> [R]
        return (bleu_from_stats(np.einsum("rn,snk->rsk", w, a)) - bleu_from_stats(np.einsum("rn,snk->rsk", w, b))).mean(-1)

    ind_s, ind_l = np.zeros((1, n)), np.zeros((1, n))
    ind_s[0, short_idx], ind_l[0, long_idx] = 1, 1
    g_s, g_l = float(gap(ind_s)[0]), float(gap(ind_l)[0])
    obs = g_l - g_s
    d = gap(_stratum_weights(n, long_idx, n_samples, seed + 1)) - gap(_stratum_weights(n, short_idx, n_samples, seed))
    lo, hi = _ci_bounds(d)
    p = (int(np.sum(d - d.mean() >= obs - _TIE)) + 1) / (n_samples + 1)
    return GapGrowth(g_s, g_l, obs, lo, hi, float(min(1.0, p)), len(short_idx), len(long_idx), S, n_samples)
