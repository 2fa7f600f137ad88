"""MERT (smt/tune.py): BLEU sufficient statistics, the exact line search, and the optimiser.

The line-search case is worked by hand below (two sentences, three candidates each, two
features); its envelopes, breakpoints and the BLEU of every interval are spelled out.
"""
import math

import numpy as np
import pytest
from sacrebleu.metrics import BLEU

from smt.tune import (bleu_from_stats, corpus_bleu_tokens, feasible_steps, line_search, mert, normalize, optimize,
                      sufficient_stats, upper_envelopes)

# ---------------------------------------------------------------- hand-worked line search
# Sentence 1, reference "the cat sat on the mat" (r = 6)
#   k0 "the cat sat on the mat"  h = (0, 0)   m = 6 5 4 3   t = 6 5 4 3
#   k1 "the cat sat"             h = (-1, 1)  m = 3 2 1 0   t = 3 2 1 0
#   k2 "a dog sat on the mat"    h = (-4, 2)  m = 4 3 2 1   t = 6 5 4 3
# Sentence 2, reference "a man rides a horse" (r = 5)
#   k0 "a man rides a horse"     h = (0, 1)   m = 5 4 3 2   t = 5 4 3 2
#   k1 "a man"                   h = (-2, 0)  m = 2 1 0 0   t = 2 1 0 0
#   k2 "man a horse rides a"     h = (-10, -1) m = 5 2 0 0  t = 5 4 3 2
# Along weights (1, 0) + γ (0, 1) the score of a candidate is the line h1 + γ h2:
#   sentence 1: k0 = 0, k1 = -1 + γ, k2 = -4 + 2γ  -> envelope k0 | γ=1 | k1 | γ=3 | k2
#   sentence 2: k2 = -10 - γ, k1 = -2, k0 = γ      -> envelope k2 | γ=-8 | k1 | γ=-2 | k0
# Corpus statistics per interval (r = 11 throughout):
#   (-inf,-8): s1k0+s2k2  m = 11 7 4 3, t = 11 9 7 5, c = 11 -> BLEU = 100 (4/15)^(1/4)
#   (-8,-2):   s1k0+s2k1  m = t = 8 6 4 3, c = 8         -> BLEU = 100 exp(1 - 11/8)
#   (-2, 1):   s1k0+s2k0  all n-grams match, c = 11      -> BLEU = 100
#   (1, 3):    s1k1+s2k0  m = t = 8 6 4 2, c = 8         -> BLEU = 100 exp(1 - 11/8)
#   (3, inf):  s1k2+s2k0  m = 9 7 5 3, t = 11 9 7 5      -> BLEU = 100 (3/11)^(1/4)
REFS = [["the", "cat", "sat", "on", "the", "mat"], ["a", "man", "rides", "a", "horse"]]
HYPS = [[["the", "cat", "sat", "on", "the", "mat"], ["the", "cat", "sat"], ["a", "dog", "sat", "on", "the", "mat"]],
        [["a", "man", "rides", "a", "horse"], ["a", "man"], ["man", "a", "horse", "rides", "a"]]]
FEATS = np.array([[[0, 0], [-1, 1], [-4, 2]], [[0, 1], [-2, 0], [-10, -1]]], dtype=float)
STATS = np.array([[sufficient_stats(h, REFS[s]) for h in HYPS[s]] for s in range(2)])
INTERVAL_BLEU = [100 * (4 / 15) ** 0.25, 100 * math.exp(1 - 11 / 8), 100.0,
                 100 * math.exp(1 - 11 / 8), 100 * (3 / 11) ** 0.25]


def test_sufficient_stats_by_hand():
    assert STATS[0, 2].tolist() == [4, 3, 2, 1, 6, 5, 4, 3, 6, 6]
    assert STATS[1, 1].tolist() == [2, 1, 0, 0, 2, 1, 0, 0, 2, 5]
    assert STATS[1, 2].tolist() == [5, 2, 0, 0, 5, 4, 3, 2, 5, 5]


def test_upper_envelopes_by_hand():
    start, (sent, gamma, old, new) = upper_envelopes(FEATS[..., 0], FEATS[..., 1])
    assert start.tolist() == [0, 2]
    got = sorted(zip(sent.tolist(), gamma.tolist(), old.tolist(), new.tolist()))
    assert got == [(0, 1.0, 0, 1), (0, 3.0, 1, 2), (1, -8.0, 2, 1), (1, -2.0, 1, 0)]


def test_line_search_exact_intervals_and_bleu():
    r = line_search(FEATS, STATS, np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    assert r["breakpoints"].tolist() == [-8.0, -2.0, 1.0, 3.0]
    assert r["bleus"] == pytest.approx(INTERVAL_BLEU, abs=1e-9)
    assert r["interval"] == (-2.0, 1.0)
    assert r["gamma"] == -0.5 and r["bleu"] == pytest.approx(100.0)


def test_line_search_moves_off_the_current_point():
    # from weights (1, 3) the same lines are shifted: h1 + 3 h2 + γ h2 -> breakpoints 3 lower
    r = line_search(FEATS, STATS, np.array([1.0, 3.0]), np.array([0.0, 1.0]))
    assert r["breakpoints"].tolist() == [-11.0, -5.0, -2.0, 0.0]
    assert r["interval"] == (-5.0, -2.0) and r["gamma"] == -3.5
    # the negative direction mirrors the axis: best interval (2, 5), midpoint 3.5
    r = line_search(FEATS, STATS, np.array([1.0, 3.0]), np.array([0.0, -1.0]))
    assert r["interval"] == (2.0, 5.0) and r["gamma"] == 3.5


def test_line_search_within_bounds():
    """The hand-worked lines with γ cut to [0, 2]: (-2, 1) becomes [0, 1), midpoint 0.5; cut to
    [-10, -3] the best interval left is (-inf, -8) (BLEU 100 (4/15)^¼ beats (-8, -2)'s 100 exp(1 - 11/8)),
    now [-10, -8] with midpoint -9."""
    r = line_search(FEATS, STATS, np.array([1.0, 0.0]), np.array([0.0, 1.0]), bounds=(0.0, 2.0))
    assert r["interval"] == (0.0, 1.0) and r["gamma"] == 0.5 and r["bleu"] == pytest.approx(100.0)
    r = line_search(FEATS, STATS, np.array([1.0, 0.0]), np.array([0.0, 1.0]), bounds=(-10.0, -3.0))
    assert r["interval"] == (-10.0, -8.0) and r["gamma"] == -9.0
    assert r["bleu"] == pytest.approx(INTERVAL_BLEU[0]) and INTERVAL_BLEU[0] > INTERVAL_BLEU[1]


def test_feasible_steps_keep_weights_nonnegative():
    w, mask = np.array([0.2, -0.5, 0.3]), np.array([True, False, True])
    assert feasible_steps(w, np.array([1.0, 0.0, 0.0]), mask) == (-0.2, np.inf)
    assert feasible_steps(w, np.array([0.0, 0.0, -1.0]), mask) == (-np.inf, 0.3)
    assert feasible_steps(w, np.array([0.0, 1.0, 0.0]), mask) == (-np.inf, np.inf)     # a free weight
    lo, hi = feasible_steps(w, np.array([0.5, 0.0, -0.5]), mask)                       # both ends bind
    assert (lo, hi) == pytest.approx((-0.4, 0.6))
    assert feasible_steps(w, np.array([0.0, 1.0, 0.0]), None) == (-np.inf, np.inf)


def test_constrained_optimiser_never_goes_negative():
    """The hand-worked lines from (1, -5): the second weight is in the interval (-8, -2) of the
    axis; kept >= 0 the start is projected to (1, 0), inside (-2, 1) at BLEU 100, and it stays
    non-negative; unconstrained, the first axis reaches BLEU 100 with the second weight still at -5."""
    dirs = np.eye(2)
    w, b = optimize(FEATS, STATS, np.ones((2, 3), bool), np.array([1.0, -5.0]), dirs,
                    nonnegative=np.array([False, True]))
    assert w[1] >= 0 and b == pytest.approx(100.0)
    w2, b2 = optimize(FEATS, STATS, np.ones((2, 3), bool), np.array([1.0, -5.0]), dirs)
    assert w2[1] == -5.0 and b2 == pytest.approx(100.0)


def test_mert_keeps_masked_weights_nonnegative():
    """The toy problem's true weights have a negative second component: with that feature kept
    non-negative MERT must not find them, every weight it decodes has w[1] >= 0, and it still
    beats the start; the log records the mask."""
    w_true, refs, cands = _toy_problem()
    seen = []

    def decode_nbest(w):
        seen.append(np.array(w))
        return [[sent[k] for k in np.argsort(-np.array([f @ w for _, f in sent]))[:4]] for sent in cands]

    start = normalize(np.array([0.2, 1.0, 1.0]))
    w, log = mert(decode_nbest, refs, start, iterations=4, restarts=5, seed=7, nonnegative=[False, True, False])
    assert all(x[1] >= 0 for x in seen) and w[1] >= 0
    assert log["nonnegative"] == [1]
    bleu = lambda x: corpus_bleu_tokens([c[0][0] for c in decode_nbest(x)], refs)  # noqa: E731
    assert bleu(w) > bleu(start)
    with pytest.raises(Exception, match="negative on a feature"):
        mert(decode_nbest, refs, [0.3, -0.3, 0.4], iterations=1, restarts=0, nonnegative=[False, True, False])


def test_line_search_flat_direction_stays():
    r = line_search(FEATS, STATS, np.array([1.0, 0.0]), np.array([0.0, 0.0]))
    assert r["breakpoints"].size == 0 and r["gamma"] == 0.0
    assert r["bleu"] == pytest.approx(100.0)


def test_line_search_ignores_padding():
    # a padded third sentence slot with an invalid, absurdly good candidate must not count
    F = np.concatenate([FEATS, np.full((2, 1, 2), 100.0)], axis=1)
    T = np.concatenate([STATS, np.zeros((2, 1, 10))], axis=1)
    V = np.array([[True, True, True, False]] * 2)
    r = line_search(F, T, np.array([1.0, 0.0]), np.array([0.0, 1.0]), V)
    assert r["breakpoints"].tolist() == [-8.0, -2.0, 1.0, 3.0] and r["gamma"] == -0.5


# ---------------------------------------------------------------- BLEU vs sacreBLEU
@pytest.mark.parametrize("hyps,refs", [
    (["the cat sat on a mat", "a man rides", "x y z w v"],
     ["the cat sat on the mat", "a man rides a horse", "x y z w v"]),
    # no 4-gram match anywhere: exercises sacreBLEU's exp smoothing; and a short hypothesis (BP)
    (["the cat on the mat", "a man rides"], ["the cat sat on the mat", "a man is riding a horse"]),
    # no match at all -> 0
    (["q r s"], ["a b c"]),
])
def test_bleu_matches_sacrebleu_tokenize_none(hyps, refs):
    ours = corpus_bleu_tokens([h.split() for h in hyps], [r.split() for r in refs])
    theirs = BLEU(tokenize="none").corpus_score(hyps, [refs]).score
    assert ours == pytest.approx(theirs, abs=1e-9)


def test_bleu_from_stats_vectorised():
    stats = np.stack([STATS[0, 0] + STATS[1, 2], STATS[0, 2] + STATS[1, 0]])
    assert bleu_from_stats(stats) == pytest.approx([INTERVAL_BLEU[0], INTERVAL_BLEU[4]], abs=1e-9)


# ---------------------------------------------------------------- the optimiser
def _toy_problem(seed=0, S=40, N=12, D=3):
    """Sentences whose candidates are the reference plus corruptions; the reference is the argmax
    of W_TRUE·h for every sentence, so W_TRUE's direction is obviously right."""
    rng = np.random.default_rng(seed)
    w_true = normalize(np.array([1.0, -0.5, 0.25]))
    vocab = [f"w{i}" for i in range(50)]
    refs, cands = [], []
    for _ in range(S):
        ref = list(rng.choice(vocab, size=8))
        feats = rng.normal(size=(N, D))
        order = np.argsort(-(feats @ w_true))
        sent = []
        for rank, k in enumerate(order):
            if rank == 0:
                toks = ref
            else:  # corrupt more for worse model scores
                toks = [t if rng.random() > 0.15 * (1 + rank % 4) else "junk" for t in ref[: 8 - rank % 3]]
            sent.append((toks, feats[k]))
        refs.append(ref)
        cands.append(sent)
    return w_true, refs, cands


def test_mert_recovers_the_right_direction():
    w_true, refs, cands = _toy_problem()
    calls = []

    def decode_nbest(w):
        calls.append(np.array(w))
        out = []
        for sent in cands:
            scores = np.array([f @ w for _, f in sent])
            out.append([sent[k] for k in np.argsort(-scores)[:4]])
        return out

    start = normalize(np.array([0.2, 1.0, 1.0]))
    w, log = mert(decode_nbest, refs, start, iterations=6, restarts=5, seed=7)
    assert decode_nbest(start) and corpus_bleu_tokens([c[0][0] for c in decode_nbest(start)], refs) < 60
    best = decode_nbest(w)
    assert corpus_bleu_tokens([c[0][0] for c in best], refs) == pytest.approx(100.0)
    assert np.abs(w).sum() == pytest.approx(1.0)
    assert float(w @ w_true) / (np.linalg.norm(w) * np.linalg.norm(w_true)) > 0.95
    assert log["seed"] == 7 and log["best_dev_bleu_tokenised"] == pytest.approx(100.0)
    assert log["history"][0]["new_candidates"] == 40 * 4
    assert log["stop"].startswith("converged")


def test_mert_is_deterministic_for_a_seed():
    w_true, refs, cands = _toy_problem(seed=1)

    def decode_nbest(w):
        return [[sent[k] for k in np.argsort(-np.array([f @ w for _, f in sent]))[:3]] for sent in cands]

    a, _ = mert(decode_nbest, refs, [0.3, 0.3, 0.4], iterations=3, restarts=3, seed=5)
    b, _ = mert(decode_nbest, refs, [0.3, 0.3, 0.4], iterations=3, restarts=3, seed=5)
    assert a.tolist() == b.tolist()


def test_envelope_skips_a_line_that_only_touches_it():
    # three lines meeting at γ = 1: the middle slope is never strictly on top
    start, (sent, gamma, old, new) = upper_envelopes(np.array([[0.0, -1.0, -2.0]]), np.array([[0.0, 1.0, 2.0]]))
    assert start.tolist() == [0]
    assert list(zip(gamma.tolist(), old.tolist(), new.tolist())) == [(1.0, 0, 2)]
