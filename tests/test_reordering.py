"""Lexicalised reordering (smt/reordering.py, msd-bidirectional-fe): orientations on a hand-built
alignment, the smoothed table of a tiny corpus worked by hand, and the decoder with the six
features against an exhaustive search whose features are recomputed here independently."""
from __future__ import annotations

import math

import numpy as np
import pytest

from smt.decode import Decoder
from smt.phrases import PhraseCounts, read_reordering_table, score_phrases, write_table
from smt.reordering import DISC, MONO, SWAP, decoder_orientation, smoothed_probabilities, word_orientations
from tests.test_decode import SENTENCE, TABLE, exhaustive, features


def test_word_orientations_on_a_hand_built_alignment():
    # source a b c d, target A C B D with links a-A, b-B, c-C, d-D: "b c" is swapped in the target
    points = {(0, 0), (1, 2), (2, 1), (3, 3)}
    o = lambda fs, fe, es, ee: word_orientations(points, 4, 4, fs, fe, es, ee)  # noqa: E731
    assert o(0, 1, 0, 1) == (MONO, DISC)     # a/A: starts the sentence; next target word C comes from c, not b
    assert o(2, 3, 1, 2) == (DISC, SWAP)     # c/C: after A (a is not c-1 = b); B (from b = c-1) follows: swap
    assert o(1, 2, 2, 3) == (SWAP, DISC)     # b/B: the previous target word C is aligned to c = b+1: swap
    assert o(3, 4, 3, 4) == (DISC, MONO)     # d/D: after B (b is not d-1 = c); ends the sentence: monotone
    assert o(1, 3, 1, 3) == (MONO, MONO)     # "b c"/"C B" as one block: monotone on both sides
    assert o(0, 4, 0, 4) == (MONO, MONO)     # the whole sentence
    # the decoder's orientation of a source span after the previous phrase
    assert decoder_orientation(0, 2, 2, 4) == MONO
    assert decoder_orientation(2, 4, 0, 2) == SWAP
    assert decoder_orientation(0, 1, 3, 4) == DISC and decoder_orientation(2, 4, 0, 1) == DISC


def test_reordering_table_of_a_tiny_corpus_by_hand(tmp_path):
    """Two sentence pairs: "a b" → "B A" (crossed links) and "a b" → "A B" (straight)."""
    c = PhraseCounts(3)
    c.add("a b".split(), "B A".split(), [(0, 1), (1, 0)])
    c.add("a b".split(), "A B".split(), [(0, 0), (1, 1)])
    # occurrences (prev, next): b/B (disc, swap), ab/BA (mono, mono), a/A (swap, disc); then a/A,
    # ab/AB, b/B all (mono, mono). Prior over the 6: prev m 4 s 1 d 1; next m 4 s 1 d 1.
    assert list(c.inst_o) == [3 * DISC + SWAP, 0, 3 * SWAP + DISC, 0, 0, 0]
    table = score_phrases(c, None)
    out = tmp_path / "reordering-table"
    write_table(table, out, reordering=True)
    rt = read_reordering_table(out)
    s = 0.5
    # a/A: prev counts m 1 s 1 d 0, next m 1 s 0 d 1, out of 2; p = (σ·prior + count) / (σ + 2)
    expect_a = [(s * 4 / 6 + 1) / (s + 2), (s * 1 / 6 + 1) / (s + 2), (s * 1 / 6) / (s + 2),
                (s * 4 / 6 + 1) / (s + 2), (s * 1 / 6) / (s + 2), (s * 1 / 6 + 1) / (s + 2)]
    np.testing.assert_allclose(rt[(("a",), ("A",))], expect_a, rtol=1e-6)
    # b/B: prev m 1 d 1, next m 1 s 1
    expect_b = [(s * 4 / 6 + 1) / (s + 2), (s * 1 / 6) / (s + 2), (s * 1 / 6 + 1) / (s + 2),
                (s * 4 / 6 + 1) / (s + 2), (s * 1 / 6 + 1) / (s + 2), (s * 1 / 6) / (s + 2)]
    np.testing.assert_allclose(rt[(("b",), ("B",))], expect_b, rtol=1e-6)
    # "a b"/"B A" once, monotone both ways
    np.testing.assert_allclose(rt[(("a", "b"), ("B", "A"))], [(s * 4 / 6 + 1) / (s + 1), (s / 6) / (s + 1), (s / 6) / (s + 1)] * 2,
                               rtol=1e-6)
    for p in rt.values():  # each direction is a distribution
        assert p[:3].sum() == pytest.approx(1) and p[3:].sum() == pytest.approx(1)
    assert len(rt) == len(table)
    np.testing.assert_allclose(smoothed_probabilities([[0, 0, 0, 0, 0, 0]], prior_counts=[[2, 1, 1, 1, 1, 2]]),
                               [[0.5, 0.25, 0.25, 0.25, 0.25, 0.5]])


# a made-up reordering table for the toy model of tests/test_decode.py: (prev m s d, next m s d)
def _lr_probs(f, e):
    h = (sum(map(ord, " ".join(f + e))) % 7) / 10          # deterministic, varied per pair
    return (0.5 + h / 2, 0.3 - h / 4, 0.2 - h / 4, 0.4 + h / 2, 0.35 - h / 4, 0.25 - h / 4)


def _lr_features(f, derivation):
    """The six features of a derivation [(s, t, e), …] in target order, from decoder_orientation."""
    lr = np.zeros(6)
    prev = (0, 0, None)
    for s, t, e in derivation:
        o = decoder_orientation(prev[0], prev[1], s, t)
        p = _lr_probs(tuple(f[s:t]), e) if tuple(f[s:t]) in TABLE else (1.0,) * 6   # unknown word: log 1
        lr[o] += math.log(p[o])
        if prev[2] is not None:
            lr[3 + o] += math.log(prev[2][3 + o])
        prev = (s, t, p)
    o_end = MONO if prev[1] == len(f) else DISC
    lr[3 + o_end] += math.log(prev[2][3 + o_end])
    return lr


@pytest.fixture(scope="module")
def lexicalised_model(tmp_path_factory):
    import kenlm

    from tests.test_decode import ARPA
    d = tmp_path_factory.mktemp("toy-lr")
    pt, rt = d / "phrase-table", d / "reordering-table"
    with open(pt, "w", encoding="utf-8") as fh, open(rt, "w", encoding="utf-8") as fr:
        for f, opts in TABLE.items():
            for e, sc in opts:
                fh.write(f"{' '.join(f)} ||| {' '.join(e)} ||| {' '.join(map(str, sc))}\n")
                fr.write(f"{' '.join(f)} ||| {' '.join(e)} ||| {' '.join(f'{x:.6f}' for x in _lr_probs(f, e))}\n")
    lm = d / "lm.arpa"
    lm.write_text(ARPA, encoding="utf-8")
    return pt, rt, lm, kenlm.Model(str(lm))


@pytest.mark.parametrize("w_lr", [[0.3] * 6, [1.0, -0.5, 0.8, 0.2, 1.5, -0.3]])
@pytest.mark.parametrize("d", [-1, 2])
@pytest.mark.parametrize("pop_limit", [None, 10 ** 9])     # the stack search; cube pruning, unlimited
def test_lexicalised_decoder_matches_exhaustive_search(lexicalised_model, w_lr, d, pop_limit):
    pt, rt, lmp, lm = lexicalised_model
    w = np.array([0.1, 0.3, 0.2, 0.1, 1.0, 0.05, -1.5, 0.4] + w_lr)
    dec = Decoder(pt, lmp, weights=w, stack_size=100000, distortion_limit=d, beam_threshold=0.0, table_limit=0,
                  reordering_table=rt, pop_limit=pop_limit)
    _, results = exhaustive(SENTENCE, lm, w[:8], d)
    scored = []
    for _, tokens, derivation in results:
        _, h = features(SENTENCE, derivation, lm)
        scored.append(float(w @ np.concatenate([h, _lr_features(SENTENCE, derivation)])))
    (out,) = dec.translate(SENTENCE)
    assert out.score == pytest.approx(max(scored), abs=1e-4)     # KenLM float32, table 6 digits
    derivation = [(fs, fe, tuple(out.tokens[es:ee])) for (fs, fe), (es, ee) in out.alignment]
    np.testing.assert_allclose(out.features[8:], _lr_features(SENTENCE, derivation), atol=1e-4)
    assert out.score == pytest.approx(float(w @ out.features), abs=1e-9)
    # n-best entries carry the 14 features of their own derivations as well
    for t in dec.translate(SENTENCE, nbest=5):
        der = [(fs, fe, tuple(t.tokens[es:ee])) for (fs, fe), (es, ee) in t.alignment]
        np.testing.assert_allclose(t.features[8:], _lr_features(SENTENCE, der), atol=1e-4)


def test_eight_weights_get_the_default_reordering_weights(lexicalised_model):
    pt, rt, lmp, _ = lexicalised_model
    dec = Decoder(pt, lmp, reordering_table=rt)
    assert dec.weights.shape == (14,) and list(dec.weights[8:]) == [0.3] * 6
    assert len(dec.features) == 14 and dec.features[8] == "lr_prev_mono"


def test_distance_only_tables_skip_the_orientations(tmp_path):
    """Without a reordering table nothing is counted for one, and the phrase table is the same."""
    pairs = [("a b c".split(), "B A C".split(), [(0, 1), (1, 0), (2, 2)]),
             ("a b".split(), "A B".split(), [(0, 0), (1, 1)])]
    tables = []
    for orientations in (True, False):
        c = PhraseCounts(3, orientations=orientations)
        for f, e, a in pairs:
            c.add(f, e, a)
        assert (len(c.inst_o) == c.instances) if orientations else not c.inst_o
        t = score_phrases(c, None)
        assert (t.reordering is not None) == orientations
        tables.append(list(t.lines()))
    assert tables[0] == tables[1] and len(tables[0]) > 0
