"""Seed variance, stratified approximate randomisation, Holm, gap growth (evaluation/variance.py)."""
from __future__ import annotations

import random

import numpy as np
import pytest
from sacrebleu.metrics import BLEU

from data.io import UserError
from evaluation import variance as V
from evaluation.score import sentence_stats


def corrupt(lines, p, seed):
    rng = random.Random(seed)
    return [" ".join(w for w in line.split() if rng.random() >= p) for line in lines]


@pytest.fixture(scope="module")
def real_refs():
    from tests.helpers import SHARED, head_gz
    return head_gz(SHARED / "multi30k" / "test_2016_flickr.en.gz", 300)


def _flat(total, correct):
    """A sentence whose every n-gram order has ``correct`` of ``total`` matches, hyp = ref length."""
    return [total, total] + [correct] * 4 + [total] * 4


# sentence totals 10, 20, 30; A matches 10, 16, 20; B 2, 12, 22 — BLEU = 100 · Σcorrect / Σtotal
HAND_A = np.array([_flat(10, 10), _flat(20, 16), _flat(30, 20)])
HAND_B = np.array([_flat(10, 2), _flat(20, 12), _flat(30, 22)])


def test_exact_randomization_hand_worked():
    # per-sentence differences d = 8, 4, -2 (of 60); swapping the set T gives 10 - 2·Σ_T d:
    # {}:10 {1}:-6 {2}:2 {3}:14 {1,2}:-14 {1,3}:-2 {2,3}:6 {1,2,3}:-10 -> |.| >= 10 in 4 of 8
    r = V.exact_randomization(HAND_A, HAND_B)
    assert r.bleu_a == pytest.approx(100 * 46 / 60) and r.bleu_b == pytest.approx(100 * 36 / 60)
    assert r.delta == pytest.approx(100 * 10 / 60)
    assert r.p_value == 0.5 and r.n_shuffles == 8
    # Monte Carlo AR converges to it: p = (c+1)/(R+1) with c ~ Binomial(R, 0.5)
    mc = V.stratified_ar(HAND_A, HAND_B, n_shuffles=4000, seed=3)
    assert mc.p_value == pytest.approx(0.5, abs=0.03)
    # a better-separated case: B worse on every sentence -> only {} and {1,2,3} reach |10+...|
    r2 = V.exact_randomization(HAND_A, np.array([_flat(10, 2), _flat(20, 12), _flat(30, 14)]))
    assert r2.p_value == 2 / 8


def test_identical_systems_p_is_one(real_refs):
    runs = np.stack([sentence_stats(corrupt(real_refs, 0.2, seed=s), real_refs) for s in (1, 2)])
    r = V.stratified_ar(runs, runs, n_shuffles=200)
    assert r.delta == 0 and r.p_value == 1.0
    assert V.stratified_ar(runs[0], runs[0], n_shuffles=50).p_value == 1.0


def test_clearly_better_system_over_seeds(real_refs):
    good = np.stack([sentence_stats(corrupt(real_refs, 0.10, seed=s), real_refs) for s in (1, 2, 3)])
    bad = np.stack([sentence_stats(corrupt(real_refs, 0.35, seed=10 + s), real_refs) for s in (1, 2, 3)])
    r = V.stratified_ar(good, bad, n_shuffles=500)
    expected = np.mean([BLEU().corpus_score(corrupt(real_refs, 0.10, seed=s), [real_refs]).score for s in (1, 2, 3)])
    assert r.bleu_a == pytest.approx(expected, abs=1e-9) and r.n_runs == 3
    assert r.delta > 10 and r.p_value == 1 / 501
    pooled = V.stratified_ar(good, bad, n_shuffles=200, statistic="pooled")
    assert pooled.p_value == 1 / 201
    ci = V.seed_bootstrap(good, bad, n_samples=300)
    assert ci.delta == pytest.approx(r.delta) and ci.ci_low < ci.delta < ci.ci_high and ci.ci_low > 5
    # the same recipe with other seeds: no significant difference
    same = np.stack([sentence_stats(corrupt(real_refs, 0.10, seed=20 + s), real_refs) for s in (1, 2, 3)])
    r0 = V.stratified_ar(good, same, n_shuffles=500)
    assert abs(r0.delta) < 2 and r0.p_value > 0.05
    ci0 = V.seed_bootstrap(good, same, n_samples=300)
    assert ci0.ci_low < 0 < ci0.ci_high


def test_shape_mismatch_is_refused():
    with pytest.raises(UserError, match="same seed count"):
        V.stratified_ar(np.zeros((2, 5, 10)), np.zeros((3, 5, 10)))


def test_seed_summary_known_numbers():
    s = V.seed_summary([1.0, 2.0, 3.0, 4.0])
    # mean 2.5; squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5, / (n - 1) = 5/3
    assert s.mean == 2.5 and s.n == 4 and s.sd == pytest.approx(np.sqrt(5 / 3))
    assert V.seed_summary([21.06, 22.18, 19.26]).sd == pytest.approx(1.473137, abs=1e-6)
    one = V.seed_summary([36.87])
    assert one.mean == 36.87 and np.isnan(one.sd) and one.n == 1
    with pytest.raises(UserError):
        V.seed_summary([])


def test_holm_hand_worked():
    # m = 4; sorted 0.01 (x4 = 0.04), 0.02 (x3 = 0.06), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04 -> 0.06 by monotonicity)
    fam = [("c", 0.03), ("a", 0.01), ("d", 0.04), ("b", 0.02)]
    out = {h.name: h for h in V.holm(fam)}
    assert out["a"].p_adjusted == pytest.approx(0.04) and out["a"].reject and out["a"].rank == 1
    assert out["b"].p_adjusted == pytest.approx(0.06) and not out["b"].reject
    assert out["c"].p_adjusted == pytest.approx(0.06) and not out["c"].reject
    assert out["d"].p_adjusted == pytest.approx(0.06) and not out["d"].reject  # step-down stopped at b
    assert [h.name for h in V.holm(fam)] == ["c", "a", "d", "b"]  # input order kept
    # caps at 1, and all reject when all tiny
    big = V.holm([("x", 0.6), ("y", 0.7)])
    assert [h.p_adjusted for h in big] == [1.0, 1.0]
    assert all(h.reject for h in V.holm([("x", 0.001), ("y", 0.002), ("z", 0.01)]))
    assert V.holm([]) == []
    with pytest.raises(UserError, match="p-values in"):
        V.holm([("x", 1.5)])


def _split(real_refs):
    lengths = np.array([len(r.split()) for r in real_refs])
    order = np.argsort(lengths, kind="stable")
    return order[:80], order[-80:]


def test_gap_growth_growing_and_constant(real_refs):
    short, long_ = _split(real_refs)
    is_long = np.zeros(len(real_refs), bool)
    is_long[long_] = True
    good = corrupt(real_refs, 0.05, seed=1)
    # B: as good as A on short sentences, much worse on long ones
    worse = corrupt(real_refs, 0.45, seed=2)
    b_grow = [w if is_long[i] else g for i, (g, w) in enumerate(zip(good, corrupt(real_refs, 0.05, seed=3)))]
    b_grow = [worse[i] if is_long[i] else b_grow[i] for i in range(len(real_refs))]
    sa, sb = sentence_stats(good, real_refs), sentence_stats(b_grow, real_refs)
    g = V.gap_growth(sa, sb, short, long_, n_samples=500)
    exp_long = (BLEU().corpus_score([good[i] for i in long_], [[real_refs[i] for i in long_]]).score
                - BLEU().corpus_score([b_grow[i] for i in long_], [[real_refs[i] for i in long_]]).score)
    assert g.gap_long == pytest.approx(exp_long, abs=1e-9)
    assert g.difference > 15 and g.p_value < 0.01 and g.ci_low > 0 and g.n_short == g.n_long == 80
    # constant: B drops words at the same rate everywhere
    sc = sentence_stats(corrupt(real_refs, 0.25, seed=4), real_refs)
    c = V.gap_growth(sa, sc, short, long_, n_samples=500)
    assert c.p_value > 0.05 and c.ci_low < 0 < c.ci_high
    # seed runs: three runs each, the same verdicts
    runs_a = np.stack([sentence_stats(corrupt(real_refs, 0.05, seed=s), real_refs) for s in (1, 5, 6)])
    runs_b = np.stack([sb, sb, sb])
    gs = V.gap_growth(runs_a, runs_b, short, long_, n_samples=300)
    assert gs.n_runs == 3 and gs.difference > 15 and gs.p_value < 0.01
    with pytest.raises(UserError, match="share sentences"):
        V.gap_growth(sa, sb, short, short)


def test_claim_wording_says_what_was_tested(real_refs):
    from compare import claims
    short, long_ = _split(real_refs)
    g = V.GapGrowth(2.1, 9.8, 7.7, 4.1, 11.2, 0.002, 80, 80, 1, 1000)
    text = claims.gap_growth_sentence("rnnsearch", "rnnenc", g, "1-10", "41+", p_holm=0.01)
    assert text.startswith("rnnsearch − rnnenc gap grows: 2.1 (1-10 tokens, 80 sentences) to 9.8 (41+ tokens, 80)")
    assert "difference 7.7 BLEU, 95% CI [4.1, 11.2], one-sided bootstrap" in text and "p = 0.002 (Holm-adjusted 0.01)" in text
    assert "does not grow significantly" in claims.gap_growth_sentence("a", "b", g, "1-10", "41+", p_holm=0.2)
    ar = V.RandomizationResult(21.0, 9.0, 12.0, 1 / 1001, 300, 3, 1000, "mean")
    t = claims.seed_difference_sentence("rnnsearch", "rnnenc", ar, V.SeedBootstrap(12.0, 11.3, 13.1, 300, 3, 1000), 0.004)
    assert "mean of 3 seeds each" in t and "over sentences and seeds" in t and "≤ 0.001" in t
    assert "[11.30, 13.10]" in t and t.endswith(": significant.")
    assert claims.mean_sd(V.seed_summary([1.0, 2.0, 3.0, 4.0])) == "2.50 ± 1.29 (n = 4 seeds)"
    assert claims.mean_sd(V.seed_summary([36.87])) == "36.87 (1 run, no seed variance measured)"
