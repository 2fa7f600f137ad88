"""compare/wins.py on hand-built outputs: the sentences each system wins, and n-gram differences by hand."""
from __future__ import annotations

import numpy as np

from compare.wins import biggest_wins, ngram_differences, sentence_chrf


def test_biggest_wins_each_way():
    a = np.array([50.0, 10.0, 70.0, 30.0, 30.0])
    b = np.array([40.0, 60.0, 20.0, 30.0, 35.0])
    assert biggest_wins(a, b, k=2) == ([2, 0], [1, 4])
    assert biggest_wins(a, a, k=2) == ([], [])          # no sentence is won on a tie


def test_sentence_chrf_of_a_perfect_and_an_empty_output():
    s = sentence_chrf(["the cat sat", ""], ["the cat sat", "the cat sat"])
    assert s[0] == 100.0 and s[1] == 0.0


def test_ngram_differences_by_hand():
    refs = [["the", "red", "car"], ["a", "dog"]]
    a = [["the", "red", "car"], ["the", "dog"]]
    b = [["a", "red", "auto"], ["a", "dog"]]
    a_better, b_better = ngram_differences(a, b, refs, max_n=2, top=5)
    # a matches: the, red, car, dog, "the red", "red car"; b matches: red, a, dog, "a dog"
    assert a_better == [("car", 1), ("red car", 1), ("the", 1), ("the red", 1)]
    assert b_better == [("a", 1), ("a dog", 1)]
