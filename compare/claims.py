"""The wording of a finding: each sentence says what was measured and which test decided it.

Small pure functions over the results of :mod:`evaluation.variance` and :mod:`compare.overlap`,
for the report page. A claim is called significant on its Holm-adjusted p-value when one is given
(Holm 1979, over the page's family of tests), else on its own p; the sentence says which.
"""
from __future__ import annotations

import math
from typing import Mapping

from evaluation.significance import ALPHA
from evaluation.variance import GapGrowth, RandomizationResult, SeedBootstrap, SeedSummary


def fmt_p(p: float, n_samples: int | None = None) -> str:
    """``0.002``; ``< 0.001``; at the smallest value R resamples can give, ``≤ 1/(R+1)`` is what it means."""
    if n_samples and p <= 1 / (n_samples + 1) + 1e-12:
        return f"≤ {1 / (n_samples + 1):.2g} (the smallest {n_samples:,} resamples can give)"
    if p < 0.001:
        return "< 0.001"
    return f"= {p:.3f}" if p < 0.1 else f"= {p:.2f}"


def _p_clause(kind: str, p: float, n_samples: int | None, p_holm: float | None) -> str:
    text = f"{kind} p {fmt_p(p, n_samples)}"
    if p_holm is not None:
        text += f" (Holm-adjusted {p_holm:.3g})"
    return text


def _decisive(p: float, p_holm: float | None) -> bool:
    return (p_holm if p_holm is not None else p) < ALPHA


def mean_sd(s: SeedSummary, digits: int = 2) -> str:
    """``21.06 ± 0.41 (n = 3 seeds)``; one run: ``36.87 (1 run, no seed variance measured)``."""
    if s.n < 2 or math.isnan(s.sd):
        return f"{s.mean:.{digits}f} (1 run, no seed variance measured)"
    return f"{s.mean:.{digits}f} ± {s.sd:.{digits}f} (n = {s.n} seeds)"


def seed_difference_sentence(a: str, b: str, ar: RandomizationResult, ci: SeedBootstrap | None = None,
                             p_holm: float | None = None) -> str:
    """E.g. ``rnnsearch − rnnenc: +12.19 BLEU (mean of 3 seeds each); stratified approximate
    randomisation over sentences and seeds, p ≤ 0.001 (Holm-adjusted 0.004); 95% bootstrap CI
    [11.30, 13.10]: significant.``"""
    runs = f"mean of {ar.n_runs} seeds each" if ar.n_runs > 1 else "one run each: says nothing about training variance"
    text = (f"{a} − {b}: {ar.delta:+.2f} BLEU ({runs}); "
            + _p_clause("stratified approximate randomisation over sentences and seeds," if ar.n_runs > 1
                        else "approximate randomisation over sentences,", ar.p_value, ar.n_shuffles, p_holm))
    if ci is not None:
        text += f"; 95% bootstrap CI of the difference [{ci.ci_low:.2f}, {ci.ci_high:.2f}]"
    return text + (": significant." if _decisive(ar.p_value, p_holm) else ": not significant.")


def gap_growth_sentence(a: str, b: str, g: GapGrowth, short_label: str, long_label: str,
                        p_holm: float | None = None, unit: str = "tokens") -> str:
    """E.g. ``rnnsearch − rnnenc gap grows from 2.1 (1-10 tokens) to 9.8 (41+ tokens): difference
    7.7 BLEU, 95% CI [4.1, 11.2], one-sided bootstrap p = 0.002 (Holm-adjusted 0.01)`` — or says
    that the growth is not shown."""
    runs = f", mean of {g.n_runs} seeds" if g.n_runs > 1 else ""
    grows = _decisive(g.p_value, p_holm) and g.difference > 0
    verb = "grows" if grows else "does not grow significantly"
    return (f"{a} − {b} gap {verb}: {g.gap_short:.1f} ({short_label} {unit}, {g.n_short} sentences) to "
            f"{g.gap_long:.1f} ({long_label} {unit}, {g.n_long}){runs}: difference {g.difference:.1f} BLEU, "
            f"95% CI [{g.ci_low:.1f}, {g.ci_high:.1f}], "
            + _p_clause("one-sided bootstrap (sentences resampled within each bucket)", g.p_value, g.n_samples, p_holm)
            + ".")


def overlap_sentence(o, bleus: Mapping[str, tuple[float, float]], side: str = "source") -> str:
    """``12 of 970 test sentences (1.2%) have ≥ 80% of their source 6-grams in the training side;
    mean coverage 9.4%. BLEU on all → without them: pbsmt 36.9 → 36.7, …`` (``bleus``: system →
    (BLEU on all, BLEU without the overlapping sentences))."""
    k, n = len(o.overlapping), len(o.coverage)
    text = (f"{k} of {n} test sentences ({k / max(1, n):.1%}) have ≥ {o.threshold:.0%} of their {side} "
            f"{o.order}-grams in the training side; mean coverage {o.mean_coverage:.1%}")
    if o.n_short:
        text += f" ({o.n_short} shorter than {o.order} tokens checked as a whole)"
    text += "."
    if bleus:
        text += " BLEU on all → without them: " + ", ".join(f"{s} {x:.1f} → {y:.1f}" for s, (x, y) in bleus.items()) + "."
    return text
