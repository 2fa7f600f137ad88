"""Test-train overlap (compare/overlap.py) on a constructed corpus with hand-counted coverages."""
from __future__ import annotations

import numpy as np
import pytest

from compare import claims
from compare.overlap import bleu_table, bleu_without, coverage
from data.io import UserError
from evaluation.score import bleu_from_stats, sentence_stats

TRAIN = ["a b c d e f g h", "x y z", "p q r s t u"]
TEST = [
    "a b c d e f g h",      # 3 6-grams, all in train -> 1
    "a b c d e f z z",      # abcdef yes, bcdefz no, cdefzz no -> 1/3
    "q r s t u v w",        # qrstuv no (u ends the train line), rstuvw no -> 0
    "x y z",                # short: the whole 3-gram occurs -> 1
    "y z",                  # short: a 2-gram inside a train line -> 1
    "z p",                  # short: spans two train lines, not a train 2-gram -> 0
    "p q r s t u p q r s t u",  # 7 6-grams: pqrstu (twice) in train, the 5 across the repeat not -> 2/7
    "",
]


def test_coverage_hand_counted():
    o = coverage([t.split() for t in TEST], (t.split() for t in TRAIN))
    assert o.coverage == pytest.approx([1, 1 / 3, 0, 1, 1, 0, 2 / 7, 0])
    assert o.overlapping.tolist() == [0, 3, 4] and o.n_short == 3
    assert o.mean_coverage == pytest.approx((1 + 1 / 3 + 1 + 1 + 2 / 7) / 8)
    assert o.keep_mask().tolist() == [False, True, True, False, False, True, True, True]
    # order 2 on the same data: "z p" still 0, "q r s t u v w": qr rs st tu yes, uv vw no -> 4/6
    o2 = coverage([t.split() for t in TEST], [t.split() for t in TRAIN], order=2)
    assert o2.coverage[2] == pytest.approx(4 / 6) and o2.coverage[5] == 0


def test_bleu_without_is_bleu_of_the_rest():
    refs = ["the cat sat on the mat", "a dog runs in the park today", "two men play chess", "x"]
    hyps = ["the cat sat on a mat", "a dog runs in a park", "two men play chess", "y"]
    st = sentence_stats(hyps, refs)
    keep = np.array([True, False, True, True])
    assert bleu_without(st, keep) == pytest.approx(float(bleu_from_stats(st[keep].sum(0))))
    assert bleu_without(np.stack([st, st]), keep) == pytest.approx(bleu_without(st, keep))
    with pytest.raises(UserError, match="overlap mask"):
        bleu_without(st, keep[:3])
    o = coverage([h.split() for h in hyps], [r.split() for r in refs])
    table = bleu_table(o, {"sys": st})
    assert table["sys"] == (pytest.approx(float(bleu_from_stats(st.sum(0)))), pytest.approx(bleu_without(st, o.keep_mask())))
    text = claims.overlap_sentence(o, {"pbsmt": (40.0, 38.5)})
    assert text.startswith("1 of 4 test sentences (25.0%) have ≥ 80% of their source 6-grams")
    assert "pbsmt 40.0 → 38.5" in text
