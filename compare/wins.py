"""Where each system wins — the analyses a reader acts on, as compare-mt (Neubig et al. 2019) has them:

* the sentences where one system beats the other most, by sentence chrF (Popović 2015; smoother
  than sentence BLEU), a few each way for every pair of main systems;
* the n-grams (n = 1..4) one system gets right and the other wrong most often: per sentence, an
  n-gram of the reference is matched ``min(count_hyp, count_ref)`` times by each system (clipped,
  as in BLEU); summed over the test set, ``matched_a − matched_b`` ranks the n-grams.

Both work on the tokenised outputs and references (as the systems write them before
post-processing), so that n-grams are words, not characters of detokenised text.
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np


def sentence_chrf(hyps: Sequence[str], refs: Sequence[str]) -> np.ndarray:
    """chrF of every sentence (sacreBLEU's CHRF, default settings)."""
    from sacrebleu.metrics import CHRF  # the scorer package; only this analysis needs sentence chrF

    metric = CHRF()
    return np.array([metric.sentence_score(h, [r]).score for h, r in zip(hyps, refs)])


def biggest_wins(chrf_a: np.ndarray, chrf_b: np.ndarray, k: int = 3) -> tuple[list[int], list[int]]:
    """Indices of the ``k`` sentences where a beats b most, and where b beats a most (ties: lower index first)."""
    d = chrf_a - chrf_b
    order = np.lexsort((np.arange(len(d)), -d))       # descending difference, stable
    a_wins = [int(i) for i in order if d[i] > 0][:k]
    order_b = np.lexsort((np.arange(len(d)), d))
    b_wins = [int(i) for i in order_b if d[i] < 0][:k]
    return a_wins, b_wins


def _ngrams(tokens: Sequence[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def ngram_differences(hyps_a: Sequence[Sequence[str]], hyps_b: Sequence[Sequence[str]], refs: Sequence[Sequence[str]],
                      max_n: int = 4, top: int = 10) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """The reference n-grams a matches more often than b (top ``top``, with the count difference), and
    those b matches more often than a. Ties are broken by the n-gram text, so the lists are stable."""
    diff: Counter = Counter()
    for a, b, r in zip(hyps_a, hyps_b, refs):
        for n in range(1, max_n + 1):
            cr = _ngrams(r, n)
            ca, cb = _ngrams(a, n), _ngrams(b, n)
            for g, c in cr.items():
                delta = min(ca.get(g, 0), c) - min(cb.get(g, 0), c)
                if delta:
                    diff[g] += delta
    items = sorted(((" ".join(g), v) for g, v in diff.items()), key=lambda t: (-t[1], t[0]))
    a_better = [t for t in items if t[1] > 0][:top]
    b_better = sorted([t for t in items if t[1] < 0], key=lambda t: (t[1], t[0]))[:top]
    return a_better, [(g, -v) for g, v in b_better]
