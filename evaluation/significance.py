"""Bootstrap confidence intervals and paired bootstrap significance tests for BLEU.

Koehn (2004), "Statistical Significance Tests for Machine Translation Evaluation": draw ``B``
test sets of the original size from the test set, with replacement, and recompute corpus BLEU
on each.

* **Confidence interval** (Koehn 2004, §3): the 95% interval is spanned by the resampled scores
  after dropping the lowest and highest 2.5% — we use sacreBLEU's convention for which sorted
  samples bound it (index ``B // 40`` and ``B - B // 40 - 1``).
* **Paired test** (Koehn 2004, §4; "paired bootstrap resampling"): both systems are scored on the
  *same* resampled sentence sets. We report

  - ``p_value``: sacreBLEU 2.6's ``--paired-bs`` p-value, reproduced exactly (same RNG draws when
    given the same seed): the differences of the resampled scores are shifted to mean zero
    (the null hypothesis) and ``p = (#{|δ*| − mean|δ*| > |δ|} + 1) / (B + 1)``, δ being the
    observed BLEU difference. One deliberate deviation: when the observed difference is exactly
    zero (e.g. identical outputs) sacreBLEU's strict ``>`` gives ``p = 1/(B+1)``, which would
    call two identical systems "significantly different"; we return ``p = 1``.
  - ``win_a`` / ``win_b``: Koehn's original statistic, the fraction of resamples in which each
    system has the strictly higher BLEU; "A is better with 95% confidence" iff ``win_a >= 0.95``.

A difference is called significant in the report iff ``p_value < 0.05``.

Everything runs on per-sentence sufficient statistics (:func:`evaluation.score.sentence_stats`):
a resample is a vector of multiplicities ``w`` (how often each sentence was drawn), and its BLEU
is :func:`evaluation.score.bleu_from_stats` of ``w @ stats`` — one matrix product for all ``B``
resamples instead of re-tokenising ``B`` corpora.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from evaluation.score import bleu_from_stats
from data.io import UserError
from data.profiles import SEED

ALPHA = 0.05


def resample_weights(n: int, n_samples: int, seed: int = SEED) -> np.ndarray:
    """``[n_samples, n]`` multiplicities of ``n_samples`` bootstrap draws of ``n`` sentences.

    The draws are ``numpy.random.default_rng(seed).choice(n, size=(n_samples, n))`` — exactly
    the indices sacreBLEU's paired bootstrap draws for the same seed.
    """
    if n_samples < 1:
        raise UserError(f"bootstrap needs at least 1 resample, got {n_samples}")
    if n == 0:
        return np.zeros((n_samples, 0), dtype=np.float64)
    rng = np.random.default_rng(seed)
    idx = rng.choice(n, size=(n_samples, n), replace=True)
    flat = (idx + (np.arange(n_samples) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=n_samples * n).reshape(n_samples, n).astype(np.float64)


def _ci_bounds(scores: np.ndarray) -> tuple[float, float]:
    s = np.sort(scores)
    lo = len(s) // 40
    return float(s[lo]), float(s[len(s) - lo - 1])


@dataclass(frozen=True)
class Interval:
    bleu: float      # corpus BLEU of the (sub)set itself
    ci_low: float    # 95% bootstrap percentile interval
    ci_high: float
    n: int           # sentences

    def as_dict(self) -> dict:
        return asdict(self)


def bootstrap_ci(stats: np.ndarray, n_samples: int = 1000, seed: int = SEED,
                 weights: np.ndarray | None = None) -> Interval:
    """Corpus BLEU of ``stats`` (``[n, 10]``) with a 95% bootstrap confidence interval (Koehn 2004, §3)."""
    stats = np.asarray(stats, dtype=np.float64)
    n = len(stats)
    if n == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0)
    bleu = float(bleu_from_stats(stats.sum(0)))
    w = resample_weights(n, n_samples, seed) if weights is None else weights
    lo, hi = _ci_bounds(bleu_from_stats(w @ stats))
    return Interval(bleu, lo, hi, n)


class SignificanceResult:
    """What every test result of the page shares (a dataclass with ``p_value``): significant at
    ``ALPHA``, and its fields as a dict with that verdict."""

    @property
    def significant(self) -> bool:
        return self.p_value < ALPHA

    def as_dict(self) -> dict:
        d = asdict(self)
        d["significant"] = self.significant
        return d


@dataclass(frozen=True)
class PairedResult(SignificanceResult):
    bleu_a: float
    bleu_b: float
    delta: float      # bleu_a - bleu_b
    p_value: float    # sacreBLEU paired-bs p-value (two-sided, shifted null), see module doc
    win_a: float      # fraction of resamples where A > B (Koehn 2004)
    win_b: float
    n: int
    n_samples: int



def paired_bootstrap(stats_a: np.ndarray, stats_b: np.ndarray, n_samples: int = 1000,
                     seed: int = SEED, weights: np.ndarray | None = None) -> PairedResult:
    """Paired bootstrap resampling test between systems A and B on the same sentences (Koehn 2004, §4)."""
    a = np.asarray(stats_a, dtype=np.float64)
    b = np.asarray(stats_b, dtype=np.float64)
    if a.shape != b.shape:
        raise UserError(f"paired test needs the same sentences: {len(a)} vs {len(b)} statistics rows")
    n = len(a)
    if n == 0:
        nan = float("nan")
        return PairedResult(nan, nan, nan, 1.0, 0.0, 0.0, 0, n_samples)
    bleu_a, bleu_b = float(bleu_from_stats(a.sum(0))), float(bleu_from_stats(b.sum(0)))
    w = resample_weights(n, n_samples, seed) if weights is None else weights
    sa, sb = bleu_from_stats(w @ a), bleu_from_stats(w @ b)
    diff = abs(bleu_a - bleu_b)
    if diff == 0.0:
        p = 1.0
    else:
        sample = np.abs(sa - sb)
        p = (int(np.sum(sample - sample.mean() > diff)) + 1) / (len(sample) + 1)
    return PairedResult(bleu_a, bleu_b, bleu_a - bleu_b, float(p),
                        float(np.mean(sa > sb)), float(np.mean(sb > sa)), n, len(w))
