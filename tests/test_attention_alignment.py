"""compare/alignment.py on hand-made attention and alignments."""
from __future__ import annotations

import numpy as np
import pytest

from compare.alignment import agreement, summarise, unit_words, word_attention, words_of


def test_bpe_units_become_words():
    assert unit_words(["ha@@", "us", "ist", "kl@@", "e@@", "in"]) == [0, 0, 1, 2, 2, 2]
    assert words_of(["ha@@", "us", "ist", "kl@@", "e@@", "in"]) == ["haus", "ist", "klein"]
    att = np.array([[0.5, 0.3, 0.2],     # output unit "the@@"? no: rows = output units
                    [0.1, 0.1, 0.8]])
    w = word_attention(att, ["ha@@", "us", "ist"], ["ho@@", "use"])
    assert w.shape == (1, 2)
    assert w[0].tolist() == pytest.approx([(0.8 + 0.2) / 2, (0.2 + 0.8) / 2])   # mean of the units' rows


def test_match_mass_and_aer_by_hand():
    # 3 output words, 3 source words; the aligner links (source, output): (0,0), (1,2), (2,2); output 1 unaligned
    att = np.array([[0.7, 0.2, 0.1],
                    [0.3, 0.3, 0.4],
                    [0.5, 0.1, 0.4]])
    c = agreement(att, {(0, 0), (1, 2), (2, 2)})
    assert c["words"] == 2                                      # outputs 0 and 2 are aligned
    assert c["match"] == 1                                      # output 0: argmax 0 aligned; output 2: argmax 0 not
    assert c["mass"] == pytest.approx(0.7 + (0.1 + 0.4))
    # argmax links {(0,0), (2,1), (0,2)} vs S = the 3 links: one in common -> AER = 1 - 2/6
    assert (c["a"], c["s"], c["a_and_s"]) == (3, 3, 1)
    s = summarise([c, c])
    assert s["match"] == 0.5 and s["probability mass"] == pytest.approx(1.2 / 2) and s["AER"] == pytest.approx(1 - 2 / 6, abs=1e-4)
