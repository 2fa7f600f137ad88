"""Word alignment (smt/align.py) and AER (smt/aer.py): hand-worked numbers, real Hansards data, CLI."""
from __future__ import annotations

import itertools
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from data.io import UserError
from smt.aer import aer, aer_files, parse_pharaoh
from smt.align import AlignmentModel, blas_threads, symmetrize, symmetrize_corpus, train_directions
from tests.helpers import HANSARDS, hansards

ROOT = Path(__file__).resolve().parents[1]
ENV = {"MT_NO_PROGRESS": "1", "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("MT_NO_PROGRESS", "1")


# ---------------------------------------------------------------------------------------- IBM 1
def test_ibm1_em_by_hand():
    """Model P(German | English) on Koehn's three-sentence corpus, with the empty word NULL.

    Start: t uniform, so in the first E-step every German word is aligned to NULL, the first and
    the second English word with posterior 1/3 each.  Expected counts and M-step (rows sum to 1):
      NULL : das 2/3 (s1, s2), Buch 2/3 (s2, s3), Haus 1/3, ein 1/3   / 2   -> 1/3, 1/3, 1/6, 1/6
      the  : das 2/3, Haus 1/3, Buch 1/3                              / 4/3 -> 1/2, 1/4, 1/4
      house: das 1/3, Haus 1/3 -> 1/2, 1/2      a: ein, Buch -> 1/2, 1/2
      book : Buch 2/3, das 1/3, ein 1/3                               / 4/3 -> 1/2, 1/4, 1/4
    Second E-step on "das Haus | the house":
      das : t = 1/3 (NULL), 1/2 (the), 1/2 (house), sum 4/3  -> posterior of house 3/8
      Haus: t = 1/6, 1/4, 1/2, sum 11/12                      -> posterior of house 6/11
    "house" occurs only there, so t(Haus|house) = (6/11) / (6/11 + 3/8) = 48/81 = 16/27.
    """
    german = [["das", "Haus"], ["das", "Buch"], ["ein", "Buch"]]
    english = [["the", "house"], ["the", "book"], ["a", "book"]]
    m = AlignmentModel(german, english)
    m.em_iteration("ibm1")
    expect = {("das", None): Fraction(1, 3), ("Buch", None): Fraction(1, 3), ("Haus", None): Fraction(1, 6),
              ("ein", None): Fraction(1, 6), ("das", "the"): Fraction(1, 2), ("Haus", "the"): Fraction(1, 4),
              ("Buch", "the"): Fraction(1, 4), ("das", "house"): Fraction(1, 2), ("Haus", "house"): Fraction(1, 2),
              ("ein", "a"): Fraction(1, 2), ("Buch", "a"): Fraction(1, 2), ("Buch", "book"): Fraction(1, 2),
              ("das", "book"): Fraction(1, 4), ("ein", "book"): Fraction(1, 4)}
    for (f, e), p in expect.items():
        assert m.t_prob(f, e) == pytest.approx(float(p), abs=1e-12), (f, e)
    assert m.t_prob("ein", "the") == 0.0                       # never co-occur: not in the table
    m.em_iteration("ibm1")
    assert m.t_prob("Haus", "house") == pytest.approx(16 / 27, abs=1e-12)
    assert m.t_prob("das", "house") == pytest.approx(11 / 27, abs=1e-12)


@pytest.mark.parametrize("model", ["ibm1", "ibm2", "hmm"])
@pytest.mark.parametrize("agreement", [False, True])
def test_t_rows_sum_to_one_on_real_data(model, agreement):
    en, fr = hansards(400)
    for m in train_directions(en, fr, model, iterations=2, ibm1_iterations=3, agreement=agreement):
        sums = m.t_row_sums()
        assert len(sums) == len(m.e_vocab) > 1000
        np.testing.assert_allclose(sums, 1.0, rtol=0, atol=1e-9)   # NLTK's IBMModel1 fails this (#1939)


# ---------------------------------------------------------------------------------------- IBM 2 / HMM
def _random_model(seed=0):
    f = [["a", "b", "c"], ["b", "d"], ["c", "a", "d", "b"]]
    e = [["x", "y", "z"], ["y", "w"], ["w", "x"]]
    m = AlignmentModel(f, e, p0=0.3, alpha=0.1)
    rng = np.random.default_rng(seed)
    m.t = rng.random(m.n_pairs)                                 # arbitrary positive parameters
    m.s = rng.random(len(m.s)) + 0.1
    m.c = rng.random(len(m.c)) + 0.1
    return m, f, e


def _t(m, fw, ew):
    return m.t_prob(fw, ew)


def test_hmm_posteriors_equal_brute_force_enumeration():
    """Forward-backward == summing P(f, a | e) over all (2I)^m state sequences (Och & Ney's 2I states)."""
    m, f, e = _random_model()
    for k in range(len(f)):
        I, M = len(e[k]), len(f[k])
        J, _ = m._jump_matrix(I)
        post, Z = np.zeros((M, I + 1)), 0.0
        for path in itertools.product(range(2 * I), repeat=M):
            p, prev = 1.0, None
            for j, s in enumerate(path):
                pos, null = s % I, s >= I
                if prev is None:
                    trans = m.p0 / I if null else J[0, pos]
                else:
                    trans = (m.p0 if pos == prev % I else 0.0) if null else J[1 + prev % I, pos]
                p *= trans * _t(m, f[k][j], None if null else e[k][pos])
                prev = s
            Z += p
            for j, s in enumerate(path):
                post[j, 0 if s >= I else 1 + s % I] += p
        got = m.posteriors(k, "hmm")
        np.testing.assert_allclose(got, post / Z, atol=1e-12)
        np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-12)  # each f position: a distribution


def test_ibm2_posteriors_sum_to_one_and_match_closed_form():
    m, f, e = _random_model(1)
    for k in range(len(f)):
        got = m.posteriors(k, "ibm2")
        np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-12)
        l, mm = len(e[k]), len(f[k])
        for j in range(mm):
            centre = int(np.floor((j + 0.5) * l / mm))
            s = np.array([m.s[i - centre + m.max_l] for i in range(l)])
            a = (1 - m.alpha) * s / s.sum() + m.alpha / l
            joint = np.array([m.p0 * _t(m, f[k][j], None)]
                             + [(1 - m.p0) * a[i] * _t(m, f[k][j], e[k][i]) for i in range(l)])
            np.testing.assert_allclose(got[j], joint / joint.sum(), atol=1e-12)


def test_hmm_viterbi_equals_brute_force():
    m, f, e = _random_model(2)
    with blas_threads(1):
        best = m.viterbi("hmm")
    for k in range(len(f)):
        I, M = len(e[k]), len(f[k])
        J, _ = m._jump_matrix(I)
        top, arg = -1.0, None
        for path in itertools.product(range(2 * I), repeat=M):
            p, prev = 1.0, None
            for j, s in enumerate(path):
                pos, null = s % I, s >= I
                trans = ((m.p0 / I if null else J[0, pos]) if prev is None else
                         (m.p0 if pos == prev % I else 0.0) if null else J[1 + prev % I, pos])
                p *= trans * _t(m, f[k][j], None if null else e[k][pos])
                prev = s
            if p > top:
                top, arg = p, [-1 if s >= I else s % I for s in path]
        assert best[k].tolist() == arg


# ---------------------------------------------------------------------------------------- symmetrisation
def test_grow_diag_final_and_worked_example():
    """Rows: source words s0..s4, columns: target words t0..t4.

            t0 t1 t2 t3 t4       # = in both directions (intersection)
        s0   #  .  .  .  .       f = only in src2tgt (f2e: every source word <= 1 link)
        s1   .  f  .  .  .       e = only in tgt2src (e2f: every target word <= 1 link)
        s2   .  .  #  .  .
        s3   .  .  .  .  e
        s4   .  .  .  .  f

    grow-diag: (1,1) touches (0,0) diagonally and links two unaligned words -> added; (3,4) and
    (4,4) touch no alignment point.  final-and (symal: tgt2src points first): (3,4) links s3 and
    t4, both unaligned -> added; then (4,4): t4 is now aligned -> not added by final-and, added by
    final (s4 is unaligned).  grow (no diagonal) adds nothing: no union point is a 4-neighbour.
    """
    f2e = [(0, 0), (1, 1), (2, 2), (4, 4)]
    e2f = [(0, 0), (2, 2), (3, 4)]
    sym = lambda method: symmetrize(f2e, e2f, method, 5, 5)  # noqa: E731
    assert sym("intersect") == [(0, 0), (2, 2)]
    assert sym("union") == [(0, 0), (1, 1), (2, 2), (3, 4), (4, 4)]
    assert sym("grow") == [(0, 0), (2, 2)]
    assert sym("grow-diag") == [(0, 0), (1, 1), (2, 2)]
    assert sym("grow-diag-final-and") == [(0, 0), (1, 1), (2, 2), (3, 4)]
    assert sym("grow-diag-final") == [(0, 0), (1, 1), (2, 2), (3, 4), (4, 4)]
    assert sym("src2tgt") == sorted(f2e) and sym("tgt2src") == sorted(e2f)


def test_grow_visits_points_added_in_the_same_pass():
    """A chain along the diagonal: each grown point lets the next one in (symal's set iteration)."""
    f2e = [(0, 0), (1, 1), (2, 2), (3, 3)]
    e2f = [(0, 0)]
    assert symmetrize(f2e, e2f, "grow-diag", 4, 4) == [(0, 0), (1, 1), (2, 2), (3, 3)]


# ---------------------------------------------------------------------------------------- AER
def test_aer_by_hand():
    """Pair 1: S={0-0,1-1}, P=S+{1-2}, A={0-0,1-2,2-2}; pair 2: S=P={0-1}, A={}.
    |A|=3, |S|=3, |A∩S|=1 (0-0), |A∩P|=2 (0-0, 1-2): AER = 1 - 3/6 = 1/2, P = 2/3, R = 1/3."""
    sure = [parse_pharaoh("0-0 1-1"), parse_pharaoh("0-1")]
    possible = [parse_pharaoh("1-2"), parse_pharaoh("")]        # sure links are added to P
    hyp = [parse_pharaoh("0-0 1-2 2-2"), set()]
    r = aer(sure, possible, hyp)
    assert r["aer"] == pytest.approx(1 / 2)
    assert r["precision"] == pytest.approx(2 / 3)
    assert r["recall"] == pytest.approx(1 / 3)


@pytest.fixture(scope="module")
def hansards_alignments():
    en, fr = hansards()
    with blas_threads(1):
        hmm = train_directions(en, fr, "hmm", 5, 5)                     # by agreement (default)
        ibm1 = train_directions(en, fr, "ibm1", 5, 5, agreement=False)  # two plain IBM1 EM runs
        v_hmm = [m.viterbi() for m in hmm]
        v_ibm1 = [m.viterbi() for m in ibm1]
    k = len(en) - 37
    return {"hmm-gdfa": symmetrize_corpus(v_hmm[0][k:], v_hmm[1][k:], "grow-diag-final-and"),
            "ibm1-intersect": symmetrize_corpus(v_ibm1[0][k:], v_ibm1[1][k:], "intersect")}


def _gold_aer(links, tmp_path):
    hyp = tmp_path / "hyp.pharaoh"
    hyp.write_text("".join(" ".join(f"{i}-{j}" for i, j in x) + "\n" for x in links), encoding="utf-8")
    return aer_files(HANSARDS / "trial.en-fr.sure.pharaoh", HANSARDS / "trial.en-fr.possible.pharaoh", hyp)["aer"]


def test_hansards_aer(hansards_alignments, tmp_path):
    """Trained on the 2,383 + 37 lowercased pairs: measured HMM (agreement) + gdfa 0.145,
    independent IBM1 + intersection 0.327 (benchmarks/bench_align.py; eflomal, stochastic: 0.12-0.14)."""
    hmm = _gold_aer(hansards_alignments["hmm-gdfa"], tmp_path)
    ibm1 = _gold_aer(hansards_alignments["ibm1-intersect"], tmp_path)
    assert hmm < 0.145 + 0.03
    assert hmm < ibm1 - 0.1


# ---------------------------------------------------------------------------------------- CLI
def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "smt", *map(str, args)], capture_output=True, text=True,
                          env=ENV, cwd=cwd or ROOT)


def test_cli_align_and_aer(tmp_path):
    src, tgt, out = tmp_path / "s.txt", tmp_path / "t.txt", tmp_path / "out" / "a.pharaoh"
    src.write_text("das haus\ndas buch\n\nein buch\n", encoding="utf-8")
    tgt.write_text("the house\nthe book\nempty source\na book\n", encoding="utf-8")
    r = _cli("align", "--src", src, "--tgt", tgt, "--model", "ibm1", "--iterations", "5",
             "--symmetrize", "intersect")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[1].split() == ["0-0", "1-1"] and lines[2] == ""   # das-the buch-book; empty pair
    r = _cli("align", "--src", src, "--tgt", tgt, "--out", out)
    assert r.returncode == 0 and out.read_text(encoding="utf-8").count("\n") == 4
    r = _cli("aer", "--sure", out, "--possible", out, "--hyp", out)
    assert r.returncode == 0 and r.stdout.startswith("AER\t0.0000")


@pytest.mark.parametrize("case", ["mismatch", "utf8", "empty", "missing", "long"])
def test_cli_align_bad_input(tmp_path, case):
    src, tgt, out = tmp_path / "s.txt", tmp_path / "t.txt", tmp_path / "a.pharaoh"
    src.write_text("a b\nc d\n", encoding="utf-8")
    tgt.write_text("x y\nz w\n", encoding="utf-8")
    if case == "mismatch":
        tgt.write_text("x y\n", encoding="utf-8")
    elif case == "utf8":
        tgt.write_bytes(b"x y\nz \xff\n")
    elif case == "empty":
        tgt.write_text("", encoding="utf-8")
    elif case == "missing":
        tgt = tmp_path / "nope.txt"
    elif case == "long":
        tgt.write_text("x y\n" + "z " * 1001 + "\n", encoding="utf-8")
    r = _cli("align", "--src", src, "--tgt", tgt, "--out", out)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and str(tgt) in err[0]
    assert not out.exists() and not list(tmp_path.glob(".a.pharaoh*"))


def test_cli_aer_bad_link(tmp_path):
    gold, hyp = tmp_path / "g", tmp_path / "h"
    gold.write_text("0-0\n1-1\n", encoding="utf-8")
    hyp.write_text("0-0\n1_1\n", encoding="utf-8")
    r = _cli("aer", "--sure", gold, "--possible", gold, "--hyp", hyp)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert r.stderr.strip() == f"error: {hyp}:2: bad alignment link '1_1' (expected i-j with 0-based integers)"


def test_agreement_links_the_same_cells_in_both_directions():
    """_link_cells pairs model src2tgt's cell (i -> j) with model tgt2src's cell (j -> i)."""
    from smt.align import _link_cells, encode
    src = [["a", "b", "c"], ["b"], ["c", "a", "d", "b"], ["a", "c"]]
    tgt = [["x", "y"], ["y", "w", "x"], ["w", "x", "z"], ["z"]]
    s, t = encode(src), encode(tgt)
    s2t, t2s = AlignmentModel(s, t), AlignmentModel(t, s)
    rng = np.random.default_rng(3)
    s2t.t, t2s.t = rng.random(s2t.n_pairs), rng.random(t2s.n_pairs)
    s2t.e_step("ibm1")
    t2s.e_step("ibm1")
    c1, c2 = _link_cells(s2t, t2s)
    p1, p2 = [], []
    for b in s2t.batches:                                       # the order _link_cells promises
        for k in b.ids:
            P, Q = s2t.posteriors(k, "ibm1"), t2s.posteriors(k, "ibm1")
            p1 += [P[i, j + 1] for i in range(len(src[k])) for j in range(len(tgt[k]))]
            p2 += [Q[j, i + 1] for i in range(len(src[k])) for j in range(len(tgt[k]))]
    np.testing.assert_allclose(s2t.cell_post[c1], p1, atol=1e-12)
    np.testing.assert_allclose(t2s.cell_post[c2], p2, atol=1e-12)
    assert len(c1) == sum(len(a) * len(b) for a, b in zip(src, tgt))


def test_forced_alignment_of_training_pairs_equals_training_viterbi(tmp_path):
    """Saved parameters, re-applied to pairs the aligner was trained on (no EM), give exactly the
    Viterbi alignment of training — in both directions, for IBM1 and the HMM."""
    from smt.align import AlignmentModel, forced_align, symmetrize_corpus, train_directions
    src = [s.split() for s in ["das haus ist klein", "das haus ist gross", "ein buch ist klein", "das buch",
                               "ein haus", "klein ist das haus"]]
    tgt = [s.split() for s in ["the house is small", "the house is big", "a book is small", "the book",
                               "a house", "small is the house"]]
    for model in ("ibm1", "hmm"):
        s2t, t2s = train_directions(src, tgt, model=model, iterations=3, ibm1_iterations=3)
        paths = tmp_path / f"{model}.s2t.npz", tmp_path / f"{model}.t2s.npz"
        AlignmentModel.save_params(paths[0], s2t.params())
        AlignmentModel.save_params(paths[1], t2s.params())
        p1, p2 = AlignmentModel.load_params(paths[0]), AlignmentModel.load_params(paths[1])
        f1 = AlignmentModel.forced(p1, src, tgt)
        assert [a.tolist() for a in f1.viterbi()] == [a.tolist() for a in s2t.viterbi()]
        assert forced_align(p1, p2, src, tgt) == symmetrize_corpus(s2t.viterbi(), t2s.viterbi(), "grow-diag-final-and")
    # an unseen pair of words gets the floor probability, not an error; kept words are filtered
    part = s2t.params(keep_f={"haus"})
    assert set(part["f"].tolist()) == {"haus"} and len(part["t"]) < len(s2t.params()["t"])
    new = AlignmentModel.forced(s2t.params(), [["das", "auto"]], [["the", "car"]])
    assert [a.tolist() for a in new.viterbi()][0][0] == 0      # "das" -> "the"


def test_cli_fertility_iterations(tmp_path):
    """``--fertility-iterations`` aligns through the fertility HMM (the same links as the API);
    a bad value or a model other than the HMM is one line, exit status ≠ 0, no output file."""
    src, tgt = tmp_path / "s", tmp_path / "t"
    src.write_text("das haus\ndas buch\nein buch\nein haus ist klein\n", encoding="utf-8")
    tgt.write_text("the house\nthe book\na book\na house is small\n", encoding="utf-8")
    out = tmp_path / "a.pharaoh"
    r = _cli("align", "--src", str(src), "--tgt", str(tgt), "--fertility-iterations", "2", "--out", str(out))
    assert r.returncode == 0, r.stderr
    from smt.align import align_corpus, to_pharaoh
    s = [x.split() for x in src.read_text().splitlines()]
    t = [x.split() for x in tgt.read_text().splitlines()]
    want = [to_pharaoh(x) for x in align_corpus(s, t, fertility_iterations=2)]
    assert out.read_text(encoding="utf-8").splitlines() == want
    for bad in (["--fertility-iterations", "-1"], ["--fertility-iterations", "1", "--model", "ibm2"], ["--beta", "0"]):
        out.unlink(missing_ok=True)
        r = _cli("align", "--src", str(src), "--tgt", str(tgt), *bad, "--out", str(out))
        assert r.returncode != 0 and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert not out.exists()


@pytest.mark.parametrize("model, agreement", [("hmm", True), ("ibm2", False)])
def test_sharded_em_equals_in_memory(model, agreement, tmp_path):
    """EM over 3 shards on disk (ShardedEM) is the in-memory EM: on 800 Hansards pairs the corpus-wide
    t-tables, jump / position counts and log-likelihoods agree to rounding (+ the 37 trial pairs), the Viterbi links and the
    saved parameters are the same; nothing is left in the work folder."""
    from smt.align import ShardedEM, schedule
    en, fr = hansards(800)
    s2t, t2s = train_directions(en, fr, model, 3, 3, agreement=agreement)
    em = ShardedEM(en, fr, 3, agreement=agreement, workdir=tmp_path)
    assert len(em.parts) == 3 and sorted(np.concatenate(em.parts).tolist()) == list(range(len(en)))
    assert len(list(tmp_path.iterdir())) == 1                          # the shards' folder
    em.train(schedule(model, 3, 3))
    vit = em.viterbi()
    for d, m in enumerate((s2t, t2s)):
        table = em.tables[d]
        keys = m.pair_e * len(m.f_vocab) + m.pair_f
        theirs = table.pair_e.astype(np.int64) * len(table.f_vocab) + table.pair_f
        order, mine = np.argsort(keys), np.argsort(theirs)
        np.testing.assert_array_equal(keys[order], theirs[mine])       # the same co-occurring pairs
        np.testing.assert_allclose(table.t[mine], m.t[order], rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose(table.s, m.s, rtol=1e-9)
        np.testing.assert_allclose(table.c, m.c, rtol=1e-9)
        np.testing.assert_allclose([ll for _, ll in table.iterations_done], [ll for _, ll in m.iterations_done],
                                   rtol=1e-10)
        assert [a.tolist() for a in vit[d]] == [a.tolist() for a in m.viterbi()]
        p1, p2 = table.params(), m.params()
        assert sorted(zip(p1["e"].tolist(), p1["f"].tolist())) == sorted(zip(p2["e"].tolist(), p2["f"].tolist()))
    jobs = ShardedEM(en, fr, 3, agreement=agreement, workdir=tmp_path, jobs=2).train(schedule(model, 3, 3))
    for d in (0, 1):                                                   # shard counts added in order: exact
        np.testing.assert_array_equal(jobs.tables[d].t, em.tables[d].t)
    em.close()
    jobs.close()
    assert list(tmp_path.iterdir()) == []


def test_align_corpus_shards(tmp_path):
    """align_corpus(shards=K) gives the in-memory links (and saves models that align new pairs the
    same); shards with the sampler or the fertility HMM, or below 1, are refused."""
    from smt.align import align_corpus, forced_align
    en, fr = hansards(300)
    paths = [tmp_path / "a.s2t.npz", tmp_path / "a.t2s.npz"], [tmp_path / "b.s2t.npz", tmp_path / "b.t2s.npz"]
    one = align_corpus(en, fr, "hmm", 2, 2, models_out=paths[0])
    four = align_corpus(en, fr, "hmm", 2, 2, models_out=paths[1], shards=4, workdir=tmp_path, jobs=2)
    assert one == four and sum(map(len, one)) > 0                     # 2 worker processes
    saved = [[AlignmentModel.load_params(p) for p in ps] for ps in paths]
    assert forced_align(*saved[0], en[:20], fr[:20]) == forced_align(*saved[1], en[:20], fr[:20]) == one[:20]
    for kw, msg in [({"model": "gibbs", "symmetrize": "posterior"}, "EM aligners"),
                    ({"fertility_iterations": 2}, "EM aligners"), ({"shards": 0}, ">= 1")]:
        with pytest.raises(UserError, match=msg):
            align_corpus(en[:5], fr[:5], **{"shards": 2, **kw})


def test_encode_lines(tmp_path):
    """encode_lines reads a file into the ids encode() gives its lowercased token lists; a sentence
    over the token limit or an empty file is one error naming the file (and the line)."""
    from smt.corpus import MAX_TOKENS, encode, encode_lines
    path = tmp_path / "f.txt"
    path.write_text("Das Haus\n\nein Haus ist KLEIN\n", encoding="utf-8")
    got, want = encode_lines(path), encode([["das", "haus"], [], ["ein", "haus", "ist", "klein"]])
    assert got.vocab == want.vocab and len(got) == 3
    for name in ("ids", "offsets", "lengths"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
    path.write_text("a b\n" + "x " * (MAX_TOKENS + 1) + "\n", encoding="utf-8")
    with pytest.raises(UserError, match=rf"f.txt:2: sentence of {MAX_TOKENS + 1:,} tokens"):
        encode_lines(path)
    path.write_text("", encoding="utf-8")
    with pytest.raises(UserError, match="empty file"):
        encode_lines(path)
