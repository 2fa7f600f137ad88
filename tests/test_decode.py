"""Tests of the phrase-based stack decoder (smt/decode.py) on a toy model small enough to enumerate.

The toy German→English model: a handful of phrase pairs and a hand-written bigram ARPA LM. Without
pruning the decoder must return the optimum of an exhaustive search over every segmentation ×
option choice × phrase order allowed by the reordering limit, with features recomputed here
independently (the LM by KenLM's full-sentence score).
"""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import kenlm
import numpy as np
import pytest

from data.io import UserError
from smt.decode import (DEFAULT_WEIGHTS, FEATURES, UNKNOWN_LOGPROB, Decoder, format_nbest, main,
                        parse_nbest)
from smt.search import SentenceSearch

REPO = Path(__file__).resolve().parents[1]
LN10 = math.log(10)

# f ||| e ||| φ(f|e) lex(f|e) φ(e|f) lex(e|f)
TABLE = {
    ("er",): [(("he",), (0.8, 0.7, 0.6, 0.5)), (("it",), (0.2, 0.3, 0.3, 0.4))],
    ("hat",): [(("has",), (0.7, 0.6, 0.5, 0.6)), (("had",), (0.3, 0.2, 0.4, 0.3))],
    ("das",): [(("the",), (0.6, 0.5, 0.7, 0.6)), (("that",), (0.4, 0.5, 0.2, 0.3))],
    ("haus",): [(("house",), (0.9, 0.8, 0.8, 0.7)), (("home",), (0.1, 0.2, 0.15, 0.2))],
    ("das", "haus"): [(("the", "house"), (0.7, 0.4, 0.6, 0.35)), (("the", "home"), (0.3, 0.1, 0.2, 0.1))],
    ("gesehen",): [(("seen",), (0.8, 0.6, 0.7, 0.5)), (("saw",), (0.2, 0.3, 0.25, 0.3))],
    ("hat", "gesehen"): [(("has", "seen"), (0.5, 0.3, 0.4, 0.2))],
    ("er", "hat"): [(("he", "has"), (0.6, 0.4, 0.5, 0.3))],
}

ARPA = """\\data\\
ngram 1=13
ngram 2=16

\\1-grams:
-1.0\t<unk>\t0
-99\t<s>\t-0.5
-1.0\t</s>\t0
-1.2\the\t-0.3
-1.5\tit\t-0.3
-1.3\thas\t-0.2
-1.6\thad\t-0.2
-0.9\tthe\t-0.4
-1.4\tthat\t-0.3
-1.3\thouse\t-0.2
-1.7\thome\t-0.2
-1.5\tseen\t-0.3
-1.6\tsaw\t-0.3

\\2-grams:
-0.3\t<s> he
-0.8\t<s> it
-0.4\the has
-0.6\tit has
-0.5\thas seen
-1.0\thas the
-0.2\tseen the
-0.3\tthe house
-0.9\tthe home
-0.4\thouse </s>
-0.5\thome </s>
-0.3\tsaw the
-0.7\thad seen
-0.6\the saw
-1.1\tthat house
-0.5\tseen </s>

\\end\\
"""

SENTENCE = "er hat das haus gesehen".split()


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("toy")
    pt = d / "phrase-table"
    with open(pt, "w", encoding="utf-8") as fh:
        for f, opts in TABLE.items():
            for e, sc in opts:
                fh.write(f"{' '.join(f)} ||| {' '.join(e)} ||| {' '.join(map(str, sc))}\n")
    lm = d / "lm.arpa"
    lm.write_text(ARPA, encoding="utf-8")
    return pt, lm, kenlm.Model(str(lm))


def features(f, derivation, lm):
    """Independent feature vector of a derivation [(s, t, e_tuple), …] in target order."""
    h = np.zeros(8)
    prev_end, tokens = 0, []
    for s, t, e in derivation:
        src = tuple(f[s:t])
        probs = dict(TABLE.get(src, [])).get(e)
        h[0:4] += [math.log(p) for p in probs] if probs else [UNKNOWN_LOGPROB] * 4
        h[5] -= abs(s - prev_end)
        prev_end = t
        tokens += e
    h[4] = lm.score(" ".join(tokens), bos=True, eos=True) * LN10
    h[6] = -len(tokens)
    h[7] = -len(derivation)
    return tokens, h


def exhaustive(f, lm, w, d):
    """Every derivation allowed by the reordering limit d (Moses rule), scored; {tokens: best score}."""
    n = len(f)
    d = n if d < 0 else d
    spans = {}
    for s in range(n):
        for t in range(s + 1, n + 1):
            opts = [e for e, _ in TABLE.get(tuple(f[s:t]), [])]
            if t == s + 1 and not opts:
                opts = [(f[s],)]
            if opts:
                spans[(s, t)] = opts
    best: dict[tuple, float] = {}
    results = []

    def rec(covered, prev_end, derivation):
        if len(covered) == n:
            tokens, h = features(f, derivation, lm)
            results.append((float(w @ h), tuple(tokens), derivation))
            return
        g = min(set(range(n)) - covered)
        for (s, t), opts in spans.items():
            if covered & set(range(s, t)) or abs(s - prev_end) > d or (s != g and t - g > d):
                continue
            for e in opts:
                rec(covered | set(range(s, t)), t, derivation + [(s, t, e)])

    rec(frozenset(), 0, [])
    for sc, tokens, _ in results:
        best[tokens] = max(best.get(tokens, -math.inf), sc)
    return best, results


WEIGHTS = [
    DEFAULT_WEIGHTS,
    [0.1, 0.3, 0.2, 0.1, 1.0, 0.05, -1.5, 0.4],     # strong LM, weak distortion: reorders
    [0.5, 0.0, 0.3, 0.2, 0.3, 1.0, 0.5, -0.3],      # word penalty positive, phrase bonus
    [0.2, 0.2, 0.2, 0.2, 0.5, -1.0, -0.5, 0.2],     # jumps *rewarded*: tests the reordering limit
]


@pytest.mark.parametrize("w", WEIGHTS)
@pytest.mark.parametrize("d", [-1, 3, 2, 1, 0])
def test_matches_exhaustive_search(model, w, d):
    pt, lmp, lm = model
    w = np.asarray(w)
    dec = Decoder(pt, lmp, weights=w, stack_size=100000, distortion_limit=d, beam_threshold=0.0, table_limit=0)
    best, results = exhaustive(SENTENCE, lm, w, d)
    opt_score = max(best.values())
    winners = [t for t, s in best.items() if abs(s - opt_score) < 1e-5]
    (out,) = dec.translate(SENTENCE)
    assert out.score == pytest.approx(opt_score, abs=1e-5)   # KenLM stores float32
    assert tuple(out.tokens) in winners
    # the returned features are those of its own derivation, recomputed independently
    derivation = [(fs, fe, tuple(out.tokens[es:ee])) for (fs, fe), (es, ee) in out.alignment]
    spans = sorted((fs, fe) for fs, fe, _ in derivation)       # the phrases tile the sentence
    assert [fs for fs, _ in spans] == [0] + [fe for _, fe in spans[:-1]] and spans[-1][1] == len(SENTENCE)
    tokens, h = features(SENTENCE, derivation, lm)
    assert tokens == out.tokens
    np.testing.assert_allclose(out.features, h, atol=1e-5)
    assert out.score == pytest.approx(float(w @ out.features), abs=1e-12)


def test_reordering_and_limit(model):
    """The LM-driven reordering 'hat … gesehen' → 'has seen' needs a jump of 2; d=1 forbids it."""
    pt, lmp, _ = model
    w = WEIGHTS[1]
    free = Decoder(pt, lmp, weights=w, distortion_limit=-1).translate(SENTENCE)[0]
    assert free.tokens == ["he", "has", "seen", "the", "house"]
    assert free.features[5] == -5.0          # jumps |0-0| + |4-2| + |2-5|
    assert [a[0] for a in free.alignment] == [(0, 2), (4, 5), (2, 4)]   # "er hat" "gesehen" "das haus"
    mono = Decoder(pt, lmp, weights=w, distortion_limit=0).translate(SENTENCE)[0]
    assert [a[0] for a in mono.alignment] == sorted(a[0] for a in mono.alignment)
    assert mono.features[5] == 0.0
    assert mono.tokens != free.tokens


def test_hand_worked_single_word(model):
    pt, lmp, _ = model
    (out,) = Decoder(pt, lmp).translate(["er"])
    # LM: log10 p(he|<s>) + backoff(he) + log10 p(</s>) = -0.3 - 0.3 - 1.0 = -1.6
    expected = [math.log(0.8), math.log(0.7), math.log(0.6), math.log(0.5), -1.6 * LN10, 0, -1, -1]
    assert out.tokens == ["he"]
    np.testing.assert_allclose(out.features, expected, atol=1e-6)
    assert out.score == pytest.approx(float(np.dot(DEFAULT_WEIGHTS, expected)), abs=1e-6)  # float32 LM
    assert out.alignment == [((0, 1), (0, 1))]


def test_nbest_sorted_distinct_and_exact(model):
    pt, lmp, lm = model
    w = np.asarray(DEFAULT_WEIGHTS)
    dec = Decoder(pt, lmp, weights=w, stack_size=100000, distortion_limit=-1, beam_threshold=0.0, table_limit=0)
    nb = dec.translate(SENTENCE, nbest=8)
    assert len(nb) == 8
    strings = [tuple(t.tokens) for t in nb]
    assert len(set(strings)) == 8
    scores = [t.score for t in nb]
    assert scores == sorted(scores, reverse=True)
    for t in nb:
        assert t.score == pytest.approx(float(w @ t.features), abs=1e-12)
    # the n-best are exactly the 8 best distinct strings of the exhaustive search
    best, _ = exhaustive(SENTENCE, lm, w, -1)
    top = sorted(best.values(), reverse=True)[:8]
    np.testing.assert_allclose(scores, top, atol=1e-5)
    for t in nb:
        assert best[tuple(t.tokens)] == pytest.approx(t.score, abs=1e-5)


def test_unknown_word_copied(model):
    pt, lmp, lm = model
    sent = "er hat das xyzzy gesehen".split()
    (out,) = Decoder(pt, lmp, distortion_limit=-1).translate(sent)
    assert "xyzzy" in out.tokens
    ((fspan, espan),) = [a for a in out.alignment if a[0] == (3, 4)]
    assert out.tokens[espan[0]:espan[1]] == ["xyzzy"]
    derivation = [(fs, fe, tuple(out.tokens[es:ee])) for (fs, fe), (es, ee) in out.alignment]
    _, h = features(sent, derivation, lm)
    np.testing.assert_allclose(out.features, h, atol=1e-5)
    assert out.features[0] <= UNKNOWN_LOGPROB     # the copy option's −100 on each TM feature


def test_recombination_keeps_the_1best(model):
    pt, lmp, _ = model
    for w in WEIGHTS:
        kw = dict(weights=w, stack_size=100000, distortion_limit=-1, beam_threshold=0.0, table_limit=0)
        a = Decoder(pt, lmp, **kw).translate(SENTENCE)[0]
        b = Decoder(pt, lmp, recombine=False, **kw).translate(SENTENCE)[0]
        assert a.tokens == b.tokens
        assert a.score == pytest.approx(b.score, abs=1e-9)


def test_pruned_search_still_translates(model):
    pt, lmp, lm = model
    out = Decoder(pt, lmp, stack_size=1, distortion_limit=2).translate(SENTENCE)[0]
    assert sorted(a[0] for a in out.alignment)[0][0] == 0
    assert sum(fe - fs for (fs, fe), _ in out.alignment) == len(SENTENCE)
    best, _ = exhaustive(SENTENCE, lm, np.asarray(DEFAULT_WEIGHTS), 2)
    assert out.score <= max(best.values()) + 1e-5


def test_parallel_equals_serial_and_empty_lines(model):
    pt, lmp, lm = model
    sents = [SENTENCE, [], ["er", "hat"], "das haus".split(), "er hat das xyzzy gesehen".split(),
             ["gesehen", "er"], ["haus"]]
    dec = Decoder(pt, lmp)
    one = dec.translate_corpus(sents, nbest=3, processes=1)
    two = dec.translate_corpus(sents, nbest=3, processes=2)
    assert [[t.tokens for t in hs] for hs in one] == [[t.tokens for t in hs] for hs in two]
    assert [[t.score for t in hs] for hs in one] == [[t.score for t in hs] for hs in two]
    empty = one[1][0]
    assert empty.tokens == [] and empty.features[4] == pytest.approx(lm.score("", bos=True, eos=True) * LN10)


def test_nbest_format_roundtrip(model):
    pt, lmp, _ = model
    t = Decoder(pt, lmp).translate(SENTENCE)[0]
    line = format_nbest(7, t)
    assert line.startswith("7 ||| " + " ".join(t.tokens) + " ||| tm_fe= ")
    i, toks, h, score = parse_nbest(line)
    assert (i, toks) == (7, t.tokens)
    np.testing.assert_allclose(h, t.features, rtol=1e-9)
    assert score == pytest.approx(t.score, rel=1e-9)


def test_cli(model, tmp_path):
    pt, lmp, _ = model
    inp = tmp_path / "in.txt"
    inp.write_text("er hat das haus gesehen\n\ner\n", encoding="utf-8")
    weights = tmp_path / "w.json"
    weights.write_text('{"features": %s, "weights": %s}' % (str(FEATURES).replace("'", '"'), WEIGHTS[1]))
    out, nbest = tmp_path / "out.txt", tmp_path / "nbest.txt"
    assert main(["--phrase-table", str(pt), "--lm", str(lmp), "--input", str(inp), "--output", str(out),
                 "--weights", str(weights), "--nbest", "3", "--nbest-out", str(nbest),
                 "--distortion-limit", "-1", "--processes", "1"]) == 0
    assert out.read_text().splitlines() == ["he has seen the house", "", "he"]
    lines = nbest.read_text().splitlines()
    ids = [parse_nbest(x)[0] for x in lines]
    assert ids[:3] == [0, 0, 0] and ids.count(1) == 1 and ids.count(2) == 2   # "er": he / it only

    bad_pt = tmp_path / "bad.pt"
    bad_pt.write_text("er ||| he ||| 0.5 0.5 0.5\n")
    with pytest.raises(UserError, match=r"bad\.pt:1: expected 4 scores"):
        main(["--phrase-table", str(bad_pt), "--lm", str(lmp), "--input", str(inp), "--output", str(tmp_path / "o2")])
    assert not (tmp_path / "o2").exists()
    bad_w = tmp_path / "bad.json"
    bad_w.write_text('{"weights": [1, 2]}')
    with pytest.raises(UserError, match="bad.json"):
        main(["--phrase-table", str(pt), "--lm", str(lmp), "--input", str(inp), "--output", str(tmp_path / "o3"),
              "--weights", str(bad_w)])
    with pytest.raises(UserError, match="not a KenLM model"):
        main(["--phrase-table", str(pt), "--lm", str(inp), "--input", str(inp), "--output", str(tmp_path / "o4")])
    # through `python -m smt`: one clean line, exit status 2, no traceback
    r = subprocess.run([sys.executable, "-m", "smt", "decode", "--phrase-table", str(tmp_path / "nope"),
                        "--lm", str(lmp), "--input", str(inp), "--output", str(tmp_path / "o5")],
                       cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip() == f"error: {tmp_path / 'nope'}: no such file"


def test_table_filtering_reloads_for_new_phrases(model):
    pt, lmp, _ = model
    dec = Decoder(pt, lmp, distortion_limit=-1, sentences=[["er"]])
    assert set(dec._table) == {("er",)}                # filtered to the given sentences
    a = dec.translate(SENTENCE)[0]                    # new phrases: the table is re-read for the union
    assert ("das", "haus") in dec._table and ("er",) in dec._table
    b = Decoder(pt, lmp, distortion_limit=-1, filter_table=False).translate(SENTENCE)[0]
    assert a.tokens == b.tokens == ["he", "has", "seen", "the", "house"]
    assert a.score == b.score


# -- cube pruning (smt/search.py) ----------------------------------------------------------------

EXHAUSTIVE = dict(stack_size=100000, beam_threshold=0.0, table_limit=0)


@pytest.mark.parametrize("w", WEIGHTS)
@pytest.mark.parametrize("d", [-1, 2, 0])
def test_cube_pruning_unlimited_equals_the_stack_search(model, w, d):
    """With no pop limit every cell of every cube is popped: the same search space as the (here
    unpruned) stack search, so the same optimum, features and n-best list — and the exhaustive optimum."""
    pt, lmp, lm = model
    w = np.asarray(w)
    stack = Decoder(pt, lmp, weights=w, distortion_limit=d, **EXHAUSTIVE)
    cube = Decoder(pt, lmp, weights=w, distortion_limit=d, pop_limit=None, **EXHAUSTIVE)
    cube.pop_limit = 10 ** 9       # "unlimited" through the cube search itself (None selects the stack search)
    for sent in (SENTENCE, ["gesehen", "er", "hat"], "er hat das xyzzy gesehen".split()):
        a, b = stack.translate(sent, nbest=6), cube.translate(sent, nbest=6)
        assert [t.tokens for t in a] == [t.tokens for t in b]
        assert [t.score for t in a] == pytest.approx([t.score for t in b], abs=1e-12)
        np.testing.assert_allclose(a[0].features, b[0].features, atol=1e-12)
    best, _ = exhaustive(SENTENCE, lm, w, d)
    assert cube.translate(SENTENCE)[0].score == pytest.approx(max(best.values()), abs=1e-5)


def test_cube_pruning_pops_at_most_the_limit(model):
    """Each stack receives at most pop_limit hypotheses, and a limited search still returns a complete,
    self-consistent translation (its score is w·h of its own derivation) no better than the optimum."""
    pt, lmp, lm = model
    w = np.asarray(DEFAULT_WEIGHTS)
    dec = Decoder(pt, lmp, weights=w, distortion_limit=-1, pop_limit=2, sentences=[SENTENCE], **EXHAUSTIVE)
    search = SentenceSearch(dec._span_options(SENTENCE, w), dec.lm, dec._State, w, stack_size=100000,
                            distortion_limit=-1, beam_threshold=0.0, max_len=dec._max_len)
    finals = search.cube_search(pop_limit=2)
    assert finals and all(len(st) <= 2 for st in search.stacks[1:])
    full = Decoder(pt, lmp, weights=w, distortion_limit=-1, **EXHAUSTIVE)
    (out,) = dec.translate(SENTENCE)
    assert sum(fe - fs for (fs, fe), _ in out.alignment) == len(SENTENCE)
    derivation = [(fs, fe, tuple(out.tokens[es:ee])) for (fs, fe), (es, ee) in out.alignment]
    _, h = features(SENTENCE, derivation, lm)
    np.testing.assert_allclose(out.features, h, atol=1e-5)
    assert out.score <= full.translate(SENTENCE)[0].score + 1e-9


def test_pop_limit_checked(model):
    pt, lmp, _ = model
    with pytest.raises(UserError, match="pop limit must be >= 1"):
        Decoder(pt, lmp, pop_limit=0)
