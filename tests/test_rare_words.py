"""compare/rare_words.py on hand-built data: buckets partition the words, counts add up, P/R/F by hand."""
from __future__ import annotations

from collections import Counter

import pytest

from compare.rare_words import FREQ_BUCKETS, bucket_of, length_ratio, train_counts, word_accuracy


def test_buckets_partition_the_counts():
    labels = [bucket_of(c) for c in (0, 1, 2, 4, 5, 9, 10, 99, 100, 999, 1000, 10 ** 6)]
    assert labels == ["unseen", "1", "2-4", "2-4", "5-9", "5-9", "10-99", "10-99", "100-999", "100-999", "1000+", "1000+"]
    assert {bucket_of(c) for c in range(3000)} == {b for _, _, b in FREQ_BUCKETS}


def test_word_accuracy_by_hand():
    counts = train_counts([["the"] * 3 + ["cat"], ["the", "dog", "sat"]])  # the:4 cat:1 dog:1 sat:1
    refs = [["the", "cat", "sat", "the"], ["a", "dog"]]
    hyps = [["the", "the", "the", "dog"], ["a", "cat"]]
    acc = {b.bucket: b for b in word_accuracy(hyps, refs, counts)}
    # reference words: the×2 (2-4), cat, sat (1), a (unseen), dog (1): every one counted once
    assert sum(b.ref_words for b in acc.values()) == 6 and sum(b.hyp_words for b in acc.values()) == 6
    assert (acc["2-4"].ref_words, acc["2-4"].hyp_words, acc["2-4"].matched_ref) == (2, 3, 2)
    assert acc["2-4"].recall == 1.0 and acc["2-4"].precision == pytest.approx(2 / 3)
    assert acc["2-4"].f1 == pytest.approx(2 * (2 / 3) / (2 / 3 + 1))
    # bucket "1": ref cat, sat, dog; output dog (sentence 1, not in its ref), cat (sentence 2, not in its ref)
    assert (acc["1"].ref_words, acc["1"].hyp_words, acc["1"].matched_ref, acc["1"].matched_hyp) == (3, 2, 0, 0)
    assert acc["1"].f1 == 0.0
    assert (acc["unseen"].ref_words, acc["unseen"].matched_ref, acc["unseen"].precision) == (1, 1, 1.0)
    assert acc["1000+"].ref_words == 0 and acc["1000+"].f1 == 0.0


def test_length_ratio():
    assert length_ratio([["a", "b"], ["c"]], [["a", "b", "c"], ["d"]]) == 0.75
    with pytest.raises(ValueError):
        word_accuracy([["a"]], [], Counter())
