"""Phrase extraction (Koehn 2010 Fig. 5.5) and scoring (Koehn et al. 2003 §3) in smt/phrases.py."""
from __future__ import annotations

import gzip
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

from data.io import UserError, run_cli
from smt import phrases
from smt.phrases import build_phrase_table, extract_phrases, lexical_weight, read_phrase_table

from tests.helpers import SHARED

# Koehn (2010), Figures 5.5/5.6: English e, German f, and the figure's word alignment
# (michael-michael, assumes-geht/davon/aus, that-dass, he-er, will/stay-bleibt, in/the-im,
# house-haus; the comma is unaligned). Points are (f position, e position).
KOEHN_E = "michael assumes that he will stay in the house".split()
KOEHN_F = "michael geht davon aus , dass er im haus bleibt".split()
KOEHN_A = [(0, 0), (1, 1), (2, 1), (3, 1), (5, 2), (6, 3), (9, 4), (9, 5), (7, 6), (7, 7), (8, 8)]
# The textbook's list of the 24 extracted phrase pairs (e ||| f).
KOEHN_PAIRS = {
    ("michael", "michael"),
    ("michael assumes", "michael geht davon aus"),
    ("michael assumes", "michael geht davon aus ,"),
    ("michael assumes that", "michael geht davon aus , dass"),
    ("michael assumes that he", "michael geht davon aus , dass er"),
    ("michael assumes that he will stay in the house", "michael geht davon aus , dass er im haus bleibt"),
    ("assumes", "geht davon aus"),
    ("assumes", "geht davon aus ,"),
    ("assumes that", "geht davon aus , dass"),
    ("assumes that he", "geht davon aus , dass er"),
    ("assumes that he will stay in the house", "geht davon aus , dass er im haus bleibt"),
    ("that", "dass"),
    ("that", ", dass"),
    ("that he", "dass er"),
    ("that he", ", dass er"),
    ("that he will stay in the house", "dass er im haus bleibt"),
    ("that he will stay in the house", ", dass er im haus bleibt"),
    ("he", "er"),
    ("he will stay in the house", "er im haus bleibt"),
    ("will stay", "bleibt"),
    ("will stay in the house", "im haus bleibt"),
    ("in the", "im"),
    ("in the house", "im haus"),
    ("house", "haus"),
}


def _as_text(pairs, f_tokens, e_tokens):
    return [(" ".join(e_tokens[es:ee]), " ".join(f_tokens[fs:fe])) for (fs, fe), (es, ee) in pairs]


def test_koehn_textbook_phrase_pairs():
    pairs = _as_text(extract_phrases(KOEHN_F, KOEHN_E, KOEHN_A, max_len=10), KOEHN_F, KOEHN_E)
    assert len(pairs) == 24 and set(pairs) == KOEHN_PAIRS      # exactly the textbook's list, no duplicate


@pytest.mark.parametrize("max_len", [1, 2, 3, 7])
def test_max_phrase_length_cuts_the_textbook_list(max_len):
    pairs = _as_text(extract_phrases(KOEHN_F, KOEHN_E, KOEHN_A, max_len=max_len), KOEHN_F, KOEHN_E)
    expected = {(e, f) for e, f in KOEHN_PAIRS if len(e.split()) <= max_len and len(f.split()) <= max_len}
    assert sorted(pairs) == sorted(expected)
    if max_len == 7:
        assert len(pairs) == 22           # only the two whole-sentence pairs (8 and 9 English words) go


def test_unaligned_target_words_and_no_alignment():
    # e "the" unaligned at the edge: "the house" and "house" both map to f "haus"
    pairs = extract_phrases(["haus"], ["the", "house"], [(0, 1)])
    assert sorted(pairs) == [((0, 1), (0, 2)), ((0, 1), (1, 2))]
    assert extract_phrases(["a", "b"], ["x"], []) == []      # no alignment point: nothing


# A 3-sentence corpus worked by hand (f = source, e = target; points i-j, i in f):
#   das haus       / the house .    0-0 1-1        ('.' unaligned)
#   die bücher ja  / the books !    0-0 1-1        ('ja', '!' unaligned)
#   doch das buch  / the small book 1-0 2-1 2-2    ('doch' unaligned; buch -> small, book)
# Word links: das-the 2, die-the 1, haus-house 1, bücher-books 1, buch-small 1, buch-book 1,
# ja-NULL 1, doch-NULL 1, NULL-. 1, NULL-! 1. Hence w(das|the) = 2/3, w(die|the) = 1/3,
# w(ja|NULL) = w(doch|NULL) = 1/2 (two unaligned f tokens), w(small|buch) = w(book|buch) = 1/2,
# w(.|NULL) = w(!|NULL) = 1/2, all other w = 1.
# 19 extracted pairs; count(e = "the") = 4 (das x2, die, doch das).
HAND_F = ["das haus", "die bücher ja", "doch das buch"]
HAND_E = ["the house .", "the books !", "the small book"]
HAND_A = ["0-0 1-1", "0-0 1-1", "1-0 2-1 2-2"]
# f ||| e: (φ(f|e), lex(f|e), φ(e|f), lex(e|f)), alignment, (count_e, count_f, count_fe)
HAND_EXPECTED = {
    ("das", "the"): ((2 / 4, 2 / 3, 2 / 2, 1.0), "0-0", (4, 2, 2)),
    ("die", "the"): ((1 / 4, 1 / 3, 1.0, 1.0), "0-0", (4, 1, 1)),
    # doch unaligned: lex(f|e) = w(doch|NULL) w(das|the) = 1/2 * 2/3
    ("doch das", "the"): ((1 / 4, 1 / 3, 1.0, 1.0), "1-0", (4, 1, 1)),
    # w(die|the) w(bücher|books) w(ja|NULL) = 1/3 * 1 * 1/2 ; w(the|die) w(books|bücher) w(!|NULL) = 1/2
    ("die bücher ja", "the books !"): ((1 / 2, 1 / 6, 1 / 2, 1 / 2), "0-0 1-1", (2, 2, 1)),
    # buch linked to two words: lex(f|e) = (w(buch|small) + w(buch|book)) / 2 = 1; lex(e|f) = 1/2 * 1/2
    ("buch", "small book"): ((1.0, 1.0, 1.0, 1 / 4), "0-0 0-1", (1, 1, 1)),
    ("doch das buch", "the small book"): ((1 / 2, 1 / 3, 1.0, 1 / 4), "1-0 2-1 2-2", (2, 1, 1)),
    ("haus", "house ."): ((1.0, 1.0, 1 / 2, 1 / 2), "0-0", (1, 2, 1)),
    ("das haus", "the house"): ((1.0, 2 / 3, 1 / 2, 1.0), "0-0 1-1", (1, 2, 1)),
}


def _write(d: Path, f, e, a) -> tuple[Path, Path, Path]:
    d.mkdir(parents=True, exist_ok=True)
    paths = d / "src", d / "tgt", d / "align"
    for p, lines in zip(paths, (f, e, a)):
        p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return paths


def _parse_lines(path: Path) -> dict:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    out = {}
    for line in lines:
        f, e, s, a, c = line.split(" ||| ")
        assert (f, e) not in out
        out[f, e] = (tuple(map(float, s.split())), a, tuple(map(int, c.split())))
    return out, lines


def test_hand_worked_scores(tmp_path, monkeypatch):
    monkeypatch.setenv("MT_NO_PROGRESS", "1")
    src, tgt, ali = _write(tmp_path, HAND_F, HAND_E, HAND_A)
    info = build_phrase_table(src, tgt, ali, tmp_path / "pt.gz", table_limit=0)
    assert info["instances"] == 19 and info["written_pairs"] == 18 and info["source_phrases"] == 12
    table, lines = _parse_lines(tmp_path / "pt.gz")
    assert len(table) == 18
    for key, (scores, align, counts) in HAND_EXPECTED.items():
        got_scores, got_align, got_counts = table[key]
        assert got_scores == pytest.approx(scores, rel=1e-6), key
        assert (got_align, got_counts) == (align, counts), key
    # the file is sorted by source phrase; within one, by φ(e|f) descending
    sources = [line.split(" ||| ")[0] for line in lines]
    assert sources == sorted(sources)


def test_most_frequent_alignment_and_max_lexical_weight(tmp_path, monkeypatch):
    """Pair (a b, x y) is seen twice crossed and once straight; w favours the straight one.

    Links: a-x 3, b-y 3, a-y 2, b-x 2, so w(a|x) = w(b|y) = 3/5 and w(a|y) = w(b|x) = 2/5:
    lex = 9/25 for the straight alignment and 4/25 for the crossed one. Koehn et al. (2003) take
    the max (9/25); the written alignment is the most frequent one (crossed).
    """
    monkeypatch.setenv("MT_NO_PROGRESS", "1")
    f = ["a b", "a b", "a b", "a", "a", "b", "b"]
    e = ["x y"] * 3 + ["x", "x", "y", "y"]
    a = ["0-1 1-0", "0-1 1-0", "0-0 1-1", "0-0", "0-0", "0-0", "0-0"]
    src, tgt, ali = _write(tmp_path, f, e, a)
    build_phrase_table(src, tgt, ali, tmp_path / "pt", table_limit=0)
    table, _ = _parse_lines(tmp_path / "pt")
    assert table["a b", "x y"] == (pytest.approx((1.0, 9 / 25, 1.0, 9 / 25)), "0-1 1-0", (3, 3, 3))
    assert table["a", "x"] == (pytest.approx((3 / 5, 3 / 5, 3 / 5, 3 / 5)), "0-0", (5, 5, 3))
    assert table["a", "y"] == (pytest.approx((2 / 5, 2 / 5, 2 / 5, 2 / 5)), "0-0", (5, 5, 2))
    # table limit 1: only the best option by φ(e|f) per source phrase; counts are pre-pruning
    build_phrase_table(src, tgt, ali, tmp_path / "pt1", table_limit=1)
    table1, _ = _parse_lines(tmp_path / "pt1")
    assert set(table1) == {("a", "x"), ("b", "y"), ("a b", "x y")}
    assert table1["a", "x"][2] == (5, 5, 3)


def _reference_table(f_sents, e_sents, aligns, max_len):
    """The whole scoring, written the slow and obvious way (dicts of strings), for cross-checking."""
    links: Counter = Counter()
    pair_align: dict = defaultdict(Counter)
    for f, e, a in zip(f_sents, e_sents, aligns):
        f_aligned = {i for i, _ in a}
        e_aligned = {j for _, j in a}
        for i, j in a:
            links[f[i], e[j]] += 1
        links.update((f[i], None) for i in range(len(f)) if i not in f_aligned)
        links.update((None, e[j]) for j in range(len(e)) if j not in e_aligned)
        for (fs, fe), (es, ee) in extract_phrases(f, e, a, max_len):
            inner = tuple(sorted((i - fs, j - es) for i, j in a if fs <= i < fe))
            pair_align[" ".join(f[fs:fe]), " ".join(e[es:ee])][inner] += 1
    tot_e, tot_f = Counter(), Counter()
    for (fw, ew), c in links.items():
        tot_e[ew] += c
        tot_f[fw] += c
    w_fe = {k: c / tot_e[k[1]] for k, c in links.items()}
    w_ef = {(ew, fw): c / tot_f[fw] for (fw, ew), c in links.items()}
    c_f, c_e = Counter(), Counter()
    for (fp, ep), al in pair_align.items():
        c_f[fp] += sum(al.values())
        c_e[ep] += sum(al.values())
    out = {}
    for (fp, ep), al in pair_align.items():
        c = sum(al.values())
        fw, ew = fp.split(), ep.split()
        lex_fe = max(lexical_weight(fw, ew, a, w_fe) for a in al)
        lex_ef = max(lexical_weight(ew, fw, [(j, i) for i, j in a], w_ef) for a in al)
        best = min(al, key=lambda a: (-al[a], a))
        out[fp, ep] = ((c / c_e[ep], lex_fe, c / c_f[fp], lex_ef), al, (c_e[ep], c_f[fp], c))
    return out


def test_vectorised_scoring_matches_reference_on_hansards(tmp_path, monkeypatch):
    """Real data: the 37 Hansards trial pairs with the gold sure links (French = source)."""
    monkeypatch.setenv("MT_NO_PROGRESS", "1")
    d = SHARED / "hansards-trial"
    fr = [line.lower() for line in (d / "trial.fr").read_text(encoding="utf-8").splitlines()]
    en = [line.lower() for line in (d / "trial.en").read_text(encoding="utf-8").splitlines()]
    gold = (d / "trial.en-fr.sure.pharaoh").read_text(encoding="utf-8").splitlines()
    # gold i-j has i English, j French: swap to source (French) - target (English)
    ali = [" ".join(f"{p.split('-')[1]}-{p.split('-')[0]}" for p in line.split()) for line in gold]
    src, tgt, ali_path = _write(tmp_path, fr, en, ali)
    info = build_phrase_table(src, tgt, ali_path, tmp_path / "pt.gz", max_len=5, table_limit=0)
    table, _ = _parse_lines(tmp_path / "pt.gz")
    f_sents = [s.split() for s in fr]
    e_sents = [s.split() for s in en]
    aligns = [[(int(p.split("-")[0]), int(p.split("-")[1])) for p in line.split()] for line in ali]
    ref = _reference_table(f_sents, e_sents, aligns, 5)
    assert set(table) == set(ref) and len(table) > 1000
    assert info["instances"] == sum(sum(al.values()) for _, al, _ in ref.values())
    several = 0
    for key, (scores, align, counts) in table.items():
        r_scores, r_al, r_counts = ref[key]
        assert scores == pytest.approx(r_scores, rel=2e-6), key
        assert counts == r_counts, key
        top = max(r_al.values())
        assert tuple(tuple(map(int, p.split("-"))) for p in align.split()) in {a for a, n in r_al.items() if n == top}
        several += len(r_al) > 1
    assert 0 < several                   # some pairs do come with several alignments


def test_round_trip_and_reader(tmp_path, monkeypatch):
    monkeypatch.setenv("MT_NO_PROGRESS", "1")
    src, tgt, ali = _write(tmp_path, HAND_F, HAND_E, HAND_A)
    build_phrase_table(src, tgt, ali, tmp_path / "pt.gz", table_limit=0)
    written, _ = _parse_lines(tmp_path / "pt.gz")
    table = read_phrase_table(tmp_path / "pt.gz")
    assert sum(len(v) for v in table.values()) == len(written) == 18
    for f, options in table.items():
        phi_ef = [o.scores[2] for o in options]
        assert phi_ef == sorted(phi_ef, reverse=True)
        for o in options:
            scores, align, _ = written[" ".join(f), " ".join(o.e)]
            np.testing.assert_allclose(o.scores, scores)
            assert o.alignment == tuple(tuple(map(int, p.split("-"))) for p in align.split())
    assert table["buch",][0].alignment == ((0, 0), (0, 1))
    # table_limit at read time, and filtering by the sentences to translate
    assert [len(v) for v in read_phrase_table(tmp_path / "pt.gz", table_limit=1).values()] == [1] * 12
    sub = read_phrase_table(tmp_path / "pt.gz", sources=[["das", "buch"]])
    assert set(sub) == {("das",), ("buch",), ("das", "buch")}


@pytest.mark.parametrize("line, problem", [
    ("das ||| the ||| 0.5 1 1", "expected 4 scores"),
    ("das ||| the", "found 2 field(s)"),
    ("das ||| the ||| 0.5 x 1 1", "scores must be numbers"),
    ("das ||| the ||| 0.5 0 1 1", "in (0, 1]"),
    ("das ||| the ||| 0.5 1 1 1 ||| 0-1", "target position 1 out of range"),
    ("das ||| the ||| 0.5 1 1 1 ||| 0_0", "bad alignment link"),
    (" ||| the ||| 0.5 1 1 1", "empty source phrase"),
])
def test_malformed_phrase_table_line(tmp_path, line, problem):
    pt = tmp_path / "pt"
    pt.write_text("haus ||| house ||| 1 1 1 1 ||| 0-0 ||| 1 1 1\n" + line + "\n", encoding="utf-8")
    with pytest.raises(UserError, match=rf"^{pt}:2: .*{problem.replace('(', '.').replace(')', '.').replace('[', '.').replace(']', '.')}"):
        read_phrase_table(pt)


def test_bad_input_names_file_and_line(tmp_path, monkeypatch):
    monkeypatch.setenv("MT_NO_PROGRESS", "1")
    src, tgt, ali = _write(tmp_path, HAND_F, HAND_E, HAND_A)
    out = tmp_path / "pt.gz"
    with pytest.raises(UserError, match="no such file"):
        build_phrase_table(tmp_path / "missing", tgt, ali, out)
    ali.write_text("0-0 1-1\n0-0 1-1\n", encoding="utf-8")
    with pytest.raises(UserError, match=rf"{ali} has 2.*line-aligned"):
        build_phrase_table(src, tgt, ali, out)
    ali.write_text("0-0 1-1\n0-0 3-1\n1-0 2-1 2-2\n", encoding="utf-8")
    with pytest.raises(UserError, match=rf"^{ali}:2: alignment point 3-1: source position 3 out of range"):
        build_phrase_table(src, tgt, ali, out)
    ali.write_text("0-0 1-1\n0-0 1-1\n1-0 2-1 2-x\n", encoding="utf-8")
    with pytest.raises(UserError, match=rf"^{ali}:3: bad alignment link '2-x'"):
        build_phrase_table(src, tgt, ali, out)
    # through the CLI: one line on stderr, exit status 2, nothing written
    with pytest.raises(SystemExit) as exc:
        run_cli(phrases.main, ["--src", str(src), "--tgt", str(tgt), "--align", str(ali), "--out", str(out)])
    assert exc.value.code == 2
    assert not out.exists() and not list(tmp_path.glob(".pt.gz*"))


def test_cli_writes_table(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MT_NO_PROGRESS", "1")
    src, tgt, ali = _write(tmp_path, HAND_F, HAND_E, HAND_A)
    assert phrases.main(["--src", str(src), "--tgt", str(tgt), "--align", str(ali), "--out", str(tmp_path / "t.gz"),
                         "--max-phrase-length", "2", "--table-limit", "1"]) == 0
    table, _ = _parse_lines(tmp_path / "t.gz")
    assert all(len(f.split()) <= 2 and len(e.split()) <= 2 for f, e in table)
    assert len(table) == len({f for f, _ in table})          # one option per source phrase
    assert "phrase pairs" in capsys.readouterr().err


def test_sharded_build_writes_the_same_bytes_with_less_memory(tmp_path, monkeypatch):
    """Real data: 2,420 Hansards pairs (French = source) aligned by IBM Model 1 + gdfa. The sharded,
    streaming build (3 and 5 shards, 1 and 2 jobs) writes exactly the in-memory build's phrase and
    reordering tables: ties broken the same (first-seen target phrases and alignments), count(e),
    w(f|e) and p(o) corpus-wide. A small FLUSH makes the corpus-wide pass reduce many times."""
    from smt.align import align_corpus
    from tests.helpers import hansards
    monkeypatch.setenv("MT_NO_PROGRESS", "1")
    monkeypatch.setattr(phrases.CorpusTotals, "FLUSH", 5_000)
    en, fr = hansards()
    links = align_corpus(fr, en, model="ibm1", iterations=3, agreement=False)
    src, tgt, ali = _write(tmp_path, [" ".join(s) for s in fr], [" ".join(s) for s in en],
                           [" ".join(f"{i}-{j}" for i, j in a) for a in links])
    base = build_phrase_table(src, tgt, ali, tmp_path / "pt.gz", max_len=5, table_limit=4,
                              reordering_path=tmp_path / "rt.gz")
    assert base["written_pairs"] > 10_000
    for shards, jobs in ((3, 1), (5, 2)):
        info = build_phrase_table(src, tgt, ali, tmp_path / f"pt{shards}.gz", max_len=5, table_limit=4,
                                  reordering_path=tmp_path / f"rt{shards}.gz", shards=shards, jobs=jobs)
        assert (tmp_path / f"pt{shards}.gz").read_bytes() == (tmp_path / "pt.gz").read_bytes()
        assert (tmp_path / f"rt{shards}.gz").read_bytes() == (tmp_path / "rt.gz").read_bytes()
        assert {k: info[k] for k in ("sentences", "instances", "source_phrases", "target_phrases", "written_pairs")} == \
            {k: base[k] for k in ("sentences", "instances", "source_phrases", "target_phrases", "written_pairs")}
        assert info["shards"] == shards
    assert not list(tmp_path.glob(".pt*.shards-*"))             # the temporary shard files are gone
    # ties at the table limit do occur here (the 4th and 5th option of a source phrase have the same
    # count(f, e)), so the first-seen order of target phrases decides what is kept
    build_phrase_table(src, tgt, ali, tmp_path / "all.gz", max_len=5, table_limit=0)
    table, _ = _parse_lines(tmp_path / "all.gz")
    by_f = defaultdict(list)
    for (f, _), (_, _, counts) in table.items():
        by_f[f].append(counts[2])
    assert sum(1 for c in by_f.values() if len(c) > 4 and sorted(c, reverse=True)[3] == sorted(c, reverse=True)[4]) > 10


def test_good_turing_discounts_by_hand():
    """n_1 = 10, n_2 = 4, n_3 = 2, n_4 = 0: d_1 = 2/1 · 4.1/10.1; d_2 = 3/2 · 2.1/4.1 < d_1 and
    d_3 = 4/3 · 0.1/2.1 are raised to d_1 (non-decreasing); d_4 = 5/4 · 0.1/0.1 > 1 is capped."""
    d = phrases.good_turing_discounts([0, 10, 4, 2, 0, 0, 0, 0, 0, 0, 0])
    d1 = 2 * 4.1 / 10.1
    assert d.tolist() == pytest.approx([0.01, d1, d1, d1, 1, 1, 1, 1, 1, 1])
    assert phrases.count_of_counts(np.array([1, 1, 2, 5, 11, 30])).tolist() == [0, 2, 1, 0, 0, 1, 0, 0, 0, 0, 0]
    assert phrases.discounted(np.array([1, 2, 10, 12]), d).tolist() == pytest.approx([d1, 2 * d1, 10, 12])
    # modified Kneser-Ney (Chen & Goodman): n_4 = 1, Y = 10 / 18, D_r = r - (r + 1) Y n_{r+1} / n_r
    Y = 10 / 18
    assert phrases.kneser_ney_discounts([0, 10, 4, 2, 1, 0, 0, 0, 0, 0, 0]).tolist() == pytest.approx(
        [1 - 2 * Y * 4 / 10, 2 - 3 * Y * 2 / 4, 3 - 4 * Y * 1 / 2])


def test_good_turing_table_by_hand(tmp_path, monkeypatch):
    """One-word pairs (a, x) ×2, (a, z), (b, y), (c, w), (d, v): n_1 = 4, n_2 = 1, so d_1 =
    2 · 1.1/4.1 and d_2 = max(d_1, 3/2 · 0.1/1.1) = d_1; both φ use count(f, e) · d over the unchanged
    marginals count(a) = 3, count(x) = 2. The lexical weights and the counts field are not smoothed."""
    monkeypatch.setenv("MT_NO_PROGRESS", "1")
    src, tgt, ali = _write(tmp_path, ["a", "a", "a", "b", "c", "d"], ["x", "x", "z", "y", "w", "v"], ["0-0"] * 6)
    build_phrase_table(src, tgt, ali, tmp_path / "ml.gz", table_limit=0)
    info = build_phrase_table(src, tgt, ali, tmp_path / "gt.gz", table_limit=0, smoothing="good-turing")
    assert info["smoothing"] == "good-turing"
    ml, _ = _parse_lines(tmp_path / "ml.gz")
    gt, _ = _parse_lines(tmp_path / "gt.gz")
    d = 2 * 1.1 / 4.1
    expected = {("a", "x"): (2 * d / 2, 2 * d / 3), ("a", "z"): (d / 1, d / 3), ("b", "y"): (d, d)}
    for key, (phi_fe, phi_ef) in expected.items():
        scores, align, counts = gt[key]
        assert scores == pytest.approx((phi_fe, ml[key][0][1], phi_ef, ml[key][0][3]), rel=1e-6), key
        assert (align, counts) == ml[key][1:]
    # Kneser-Ney: n_3 = 0 leaves the discounts to their fallback D = 0.5 / 1 / 1.5; N1+(a •) = 2,
    # N1+(• x) = 1, 5 distinct pairs: (a, x) 2 - 1 + 1·2·1/5 = 1.4, (a, z) 1 - .5 + .5·2·1/5 = 0.7,
    # (b, y) 1 - .5 + .5·1·1/5 = 0.6, each over count(e) for φ(f|e) and over count(f) for φ(e|f)
    build_phrase_table(src, tgt, ali, tmp_path / "kn.gz", table_limit=0, smoothing="kneser-ney")
    kn, _ = _parse_lines(tmp_path / "kn.gz")
    for key, (phi_fe, phi_ef) in {("a", "x"): (1.4 / 2, 1.4 / 3), ("a", "z"): (0.7, 0.7 / 3), ("b", "y"): (0.6, 0.6)}.items():
        assert kn[key][0] == pytest.approx((phi_fe, ml[key][0][1], phi_ef, ml[key][0][3]), rel=1e-6), key
    with pytest.raises(UserError, match="smoothing"):
        build_phrase_table(src, tgt, ali, tmp_path / "x.gz", smoothing="witten-bell")
    assert not (tmp_path / "x.gz").exists()


def test_sharded_smoothing_uses_corpus_wide_statistics(tmp_path, monkeypatch):
    """Sharded, the discounts come from all shards' counts of counts (and Kneser-Ney's N1+(• e) from
    all shards' pairs): the same bytes as in memory."""
    from smt.align import align_corpus
    from tests.helpers import hansards
    monkeypatch.setenv("MT_NO_PROGRESS", "1")
    en, fr = hansards()
    en, fr = en[:600], fr[:600]
    links = align_corpus(fr, en, model="ibm1", iterations=2, agreement=False)
    src, tgt, ali = _write(tmp_path, [" ".join(s) for s in fr], [" ".join(s) for s in en],
                           [" ".join(f"{i}-{j}" for i, j in a) for a in links])
    build_phrase_table(src, tgt, ali, tmp_path / "ml.gz", max_len=4, table_limit=5)
    for how in ("good-turing", "kneser-ney"):
        build_phrase_table(src, tgt, ali, tmp_path / "pt.gz", max_len=4, table_limit=5, smoothing=how)
        assert (tmp_path / "pt.gz").read_bytes() != (tmp_path / "ml.gz").read_bytes()
        build_phrase_table(src, tgt, ali, tmp_path / "pt3.gz", max_len=4, table_limit=5, smoothing=how,
                           shards=3, jobs=2)
        assert (tmp_path / "pt3.gz").read_bytes() == (tmp_path / "pt.gz").read_bytes(), how


def test_sharded_build_refuses_bad_input_before_writing(tmp_path, monkeypatch):
    monkeypatch.setenv("MT_NO_PROGRESS", "1")
    src, tgt, ali = _write(tmp_path, HAND_F, HAND_E, HAND_A)
    out = tmp_path / "pt.gz"
    ali.write_text("0-0 1-1\n0-0 1-1\n", encoding="utf-8")
    with pytest.raises(UserError, match=rf"line counts differ: {ali} ends after 2 lines"):
        build_phrase_table(src, tgt, ali, out, shards=2)
    ali.write_text("0-0 1-1\n0-0 3-1\n1-0 2-1 2-2\n", encoding="utf-8")
    with pytest.raises(UserError, match=rf"^{ali}:2: alignment point 3-1: source position 3 out of range"):
        build_phrase_table(src, tgt, ali, out, shards=2)
    with pytest.raises(UserError, match="shards and jobs must be >= 1"):
        build_phrase_table(src, tgt, ali, out, shards=0)
    ali.write_text("\n\n\n", encoding="utf-8")                   # no alignment point at all
    with pytest.raises(UserError, match="no phrase pair could be extracted"):
        build_phrase_table(src, tgt, ali, out, shards=2)
    assert not out.exists() and not list(tmp_path.glob(".pt.gz*"))
