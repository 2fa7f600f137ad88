"""compare/: per-sentence BLEU statistics, length buckets, bootstrap CIs, paired tests, the report.

The report is tested on fake run folders (test.hyp, scores.json, vocab files, attention.npz,
test.align, test.tok.hyp) made from a small real Multi30k corpus in a temp dir.
"""
from __future__ import annotations

import base64
import csv
import json
import os
import random
import sys
from html.parser import HTMLParser

import numpy as np
import pytest
from sacrebleu.metrics import BLEU
from sacrebleu.significance import PairedTest

from evaluation import buckets as bk
from compare import experiments, report
from evaluation.score import bleu_from_stats, sentence_stats, write_scores
from evaluation.significance import bootstrap_ci, paired_bootstrap, resample_weights
from data.io import UserError, read_lines, write_lines
from tests.helpers import make_tiny_corpus

# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def corrupt(lines, p, seed):
    """Drop each word with probability ``p`` (deterministic): a worse 'system' than the reference."""
    rng = random.Random(seed)
    return [" ".join(w for w in line.split() if rng.random() >= p) for line in lines]


@pytest.fixture(scope="module")
def real_refs():
    from tests.helpers import SHARED, head_gz
    return head_gz(SHARED / "multi30k" / "test_2016_flickr.en.gz", 300)


# --------------------------------------------------------------------------------------------
# sufficient statistics
# --------------------------------------------------------------------------------------------


def test_subset_bleu_from_stats_equals_sacrebleu_corpus_score(real_refs):
    hyps = corrupt(real_refs, 0.3, seed=1)
    stats = sentence_stats(hyps, real_refs)
    assert stats.shape == (300, 10)
    for subset in (range(300), range(0, 300, 7), [5], [3, 4]):
        sub = list(subset)
        expected = BLEU().corpus_score([hyps[i] for i in sub], [[real_refs[i] for i in sub]]).score
        assert bleu_from_stats(stats[sub].sum(0)) == pytest.approx(expected, abs=1e-9)
    lc = sentence_stats([h.upper() for h in hyps], real_refs, lowercase=True)
    assert bleu_from_stats(lc.sum(0)) == pytest.approx(BLEU(lowercase=True).corpus_score(
        [h.upper() for h in hyps], [real_refs]).score, abs=1e-9)


def test_bleu_from_stats_hand_worked():
    # hyp "a b c d" vs ref "a b c e": p1=3/4, p2=2/3, p3=1/2, p4: no match of 1 -> exp smoothing 1/(2*1)
    # BLEU = (3/4 * 2/3 * 1/2 * 1/2)^(1/4) * 100 = (1/8)^(1/4) * 100
    stats = sentence_stats(["a b c d"], ["a b c e"])
    assert stats.tolist() == [[4, 4, 3, 2, 1, 0, 4, 3, 2, 1]]
    assert bleu_from_stats(stats[0]) == pytest.approx(100 * (1 / 8) ** 0.25)
    # hypothesis of 2 words vs a 4-word reference: BP = exp(1 - 4/2); no 3/4-grams -> 0 (sacreBLEU)
    assert bleu_from_stats(sentence_stats(["a b"], ["a b c d"])[0]) == 0.0
    assert bleu_from_stats(np.zeros(10)) == 0.0


# --------------------------------------------------------------------------------------------
# buckets
# --------------------------------------------------------------------------------------------


def test_length_buckets_hand_worked():
    lengths = [1, 5, 10, 11, 12, 25, 40, 41, 60]
    b = bk.length_buckets(lengths, width=10, min_count=2)
    assert [x.label for x in b] == ["1-10", "11-20", "21-40", "41+"]
    assert [x.indices.tolist() for x in b] == [[0, 1, 2], [3, 4], [5, 6], [7, 8]]
    # a short remainder at the long end joins the last bucket
    b = bk.length_buckets([1, 2, 3, 11, 12, 13, 25], width=10, min_count=3)
    assert [(x.label, x.n) for x in b] == [("1-10", 3), ("11+", 4)]
    b = bk.length_buckets([1, 2, 3, 4, 15, 23], width=10, min_count=3)
    assert [(x.label, x.n) for x in b] == [("1+", 6)]
    # fewer sentences than min_count: one bucket
    assert [(x.label, x.n) for x in bk.length_buckets([3, 30], min_count=30)] == [("1+", 2)]
    assert bk.length_buckets([], min_count=3) == []


def test_every_test_sentence_in_exactly_one_bucket(real_refs):
    lengths = bk.source_lengths(real_refs)
    buckets = bk.length_buckets(lengths, width=10, min_count=30)
    counts = np.zeros(len(lengths), dtype=int)
    for b in buckets:
        counts[b.indices] += 1
        assert b.n >= 30
        assert all(b.contains(int(lengths[i])) for i in b.indices)
    assert (counts == 1).all()
    assert sum(b.n for b in buckets) == len(real_refs)
    assert (bk.assign(lengths, buckets) >= 0).all()
    assert buckets[-1].hi is None and buckets[0].lo == 1


# --------------------------------------------------------------------------------------------
# bootstrap
# --------------------------------------------------------------------------------------------


def test_resample_weights_are_multiplicities():
    w = resample_weights(50, 200, seed=7)
    assert w.shape == (200, 50) and (w.sum(1) == 50).all()
    idx = np.random.default_rng(7).choice(50, size=(200, 50), replace=True)
    assert (w[3] == np.bincount(idx[3], minlength=50)).all()


def test_bootstrap_ci_contains_corpus_bleu(real_refs):
    stats = sentence_stats(corrupt(real_refs, 0.3, seed=2), real_refs)
    iv = bootstrap_ci(stats, n_samples=300, seed=1234)
    expected = BLEU().corpus_score(corrupt(real_refs, 0.3, seed=2), [real_refs]).score
    assert iv.bleu == pytest.approx(expected)
    assert iv.ci_low < iv.bleu < iv.ci_high
    assert iv.n == 300
    assert 0.5 < iv.ci_high - iv.ci_low < 20  # not degenerate, not absurd
    assert bootstrap_ci(stats, 300, 1234) == iv  # seeded


def test_paired_bootstrap_identical_and_clearly_better(real_refs):
    good = corrupt(real_refs, 0.1, seed=3)
    bad = corrupt(good, 0.5, seed=4)
    sg, sb = sentence_stats(good, real_refs), sentence_stats(bad, real_refs)
    same = paired_bootstrap(sg, sg.copy(), n_samples=300)
    assert same.p_value == 1.0 and same.delta == 0.0 and not same.significant
    r = paired_bootstrap(sg, sb, n_samples=300)
    assert r.delta > 10 and r.significant and r.p_value == pytest.approx(1 / 301)
    assert r.win_a == 1.0 and r.win_b == 0.0


def test_paired_bootstrap_matches_sacrebleu_paired_bs(real_refs):
    a = corrupt(real_refs, 0.30, seed=5)
    b = corrupt(real_refs, 0.32, seed=6)
    _, scores = PairedTest([("a", a), ("b", b)], {"BLEU": BLEU()}, [real_refs], test_type="bs", n_samples=200)()
    ours = paired_bootstrap(sentence_stats(b, real_refs), sentence_stats(a, real_refs), n_samples=200, seed=12345)
    assert ours.p_value == pytest.approx(scores["BLEU"][1].p_value)
    assert ours.bleu_a == pytest.approx(scores["BLEU"][1].score)


# --------------------------------------------------------------------------------------------
# experiments
# --------------------------------------------------------------------------------------------


def test_plan_names_and_commands():
    jobs = experiments.plan("multi30k", "de", "en", "tiny", 200)
    # PBSMT first (its weights serve the learning curve), NMT longest budget first, the short SMT points last
    assert [j.system for j in jobs] == ["pbsmt", "rnnsearch", "rnnenc", "rnnsearch-v50", "rnnsearch-v100",
                                        "rnnsearch-n100", "pbsmt-n100"]
    quick = [j.system for j in experiments.plan("bible", "es", "en", "quick", 28000)]
    assert quick[:3] == ["pbsmt", "rnnenc", "rnnsearch"] and quick[-2:] == ["pbsmt-n3500", "pbsmt-n14000"]
    j = {x.system: x for x in jobs}
    assert j["rnnsearch-v50"].command()[1:] == ["-m", "nmt", "train", "--corpus", "multi30k", "--src", "de", "--tgt", "en",
                                                "--profile", "tiny", "--arch", "rnnsearch", "--vocab-size", "50",
                                                "--system", "rnnsearch-v50"]
    assert j["pbsmt-n100"].command()[1:4] == ["-m", "smt", "train"] and "--train-size" in j["pbsmt-n100"].args
    assert j["pbsmt-n100"].after == ("pbsmt",) and j["rnnsearch"].max_steps == 40
    assert j["rnnenc"].command(1)[-2:] == ["--threads", "1"] and j["pbsmt"].command(2)[-2:] == ["--jobs", "2"]
    assert experiments.resolve_jobs("3", 1) == 3 and experiments.resolve_jobs("auto", 1) == (os.cpu_count() or 1)
    with pytest.raises(UserError, match="--jobs"):
        experiments.resolve_jobs("many", 1)
    assert experiments.train_sizes(1000, [0.125, 0.25, 0.5, 1.0]) == [125, 250, 500]


def test_run_jobs_skips_done_and_reports_failures(tmp_path, capsys):
    done = tmp_path / "pbsmt"
    done.mkdir()
    (done / "test.hyp").write_text("x\n")
    from data.profiles import section_hash
    (done / "scores.json").write_text(json.dumps({"corpus_hash": "H", "bleu": 1.0, "profile": "tiny",
                                                  "profile_section_sha256": section_hash("tiny", "smt")}))

    class Failing(experiments.Job):
        def command(self, threads=None):
            return [sys.executable, "-c", "import sys; sys.exit(3)"]

    jobs = [experiments.Job("pbsmt", "smt"), Failing("rnnenc", "nmt")]
    failed = experiments.run_jobs(jobs, lambda s: tmp_path / s, "H", "tiny", runs_dir=tmp_path)
    out = capsys.readouterr().out
    assert failed == ["rnnenc"]
    assert "[1/2] pbsmt: up to date" in out and "[2/2] training rnnenc" in out and "FAILED (exit 3)" in out
    assert not experiments.is_done(done, "other-hash", "tiny")
    assert not experiments.is_done(done, "H", "tiny", "nmt")      # trained with another profile section


def test_run_jobs_in_parallel_respects_dependencies(tmp_path, capsys):
    """Two at a time: a job waits for the system it needs; one that needs a failed system is skipped."""
    log = tmp_path / "order.txt"

    class Writes(experiments.Job):
        def command(self, threads=None):
            code = (f"import time, sys; time.sleep({0.6 if self.system == 'a' else 0.1}); "
                    f"open({str(log)!r}, 'a').write('{self.system}\\n'); sys.exit({3 if self.system == 'c' else 0})")
            return [sys.executable, "-c", code]

    jobs = [Writes("a", "smt"), Writes("b", "nmt"), Writes("a2", "smt", after=("a",)), Writes("c", "nmt"),
            Writes("c2", "smt", after=("c",))]
    failed = experiments.run_jobs(jobs, lambda s: tmp_path / s, "H", "tiny", runs_dir=tmp_path, n_jobs=2, status_every=0.2)
    order = log.read_text().split()
    assert sorted(failed) == ["c", "c2"] and sorted(order) == ["a", "a2", "b", "c"]
    assert order.index("a2") > order.index("a") and order.index("b") < order.index("a")  # b ran beside a
    out = capsys.readouterr().out
    assert "c2: skipped (c failed)" in out and (tmp_path / "b" / "job.log").is_file()


# --------------------------------------------------------------------------------------------
# the report on fake run folders
# --------------------------------------------------------------------------------------------


def _fake_system(p, runs, name, hyp_tok, seed, vocab=None, train_size=200):
    d = runs / p.name / f"{p.src}-{p.tgt}" / name
    d.mkdir(parents=True, exist_ok=True)
    write_lines(d / "test.hyp", p.postprocess(hyp_tok))
    write_scores(d, p.ref("test"), corpus=p.name, corpus_hash=p.manifest["hash"], settings={"fake": True},
                 seed=seed, train_seconds=1.0, decode_seconds=0.5, decode_sents_per_s=240.0, train_size=train_size)
    if vocab is not None:
        write_lines(d / "vocab.src.txt", ["<pad>", "<unk>", "<s>", "</s>", *vocab[0]])
        write_lines(d / "vocab.tgt.txt", ["<pad>", "<unk>", "<s>", "</s>", *vocab[1]])
    return d


def _top(lines, k):
    from collections import Counter
    return [w for w, _ in Counter(t for line in lines for t in line.split()).most_common(k)]


@pytest.fixture(scope="module")
def fake_study(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("study")
    mp = pytest.MonkeyPatch()
    mp.setenv("MT_BUILD_DIR", str(tmp / "build"))
    mp.setenv("MT_RUNS_DIR", str(tmp / "runs"))
    mp.setenv("MT_NO_PROGRESS", "1")
    from data.prepare import prepare
    corpus = make_tiny_corpus(tmp / "corpus", n_train=200, n_dev=20, n_test=120)
    p = prepare(str(corpus), "de", "en", quiet=True)
    runs = tmp / "runs"
    ref_tok = read_lines(p.file("test", "tgt"))
    src_tok = read_lines(p.file("test", "src"))
    tr_src, tr_tgt = read_lines(p.file("train", "src")), read_lines(p.file("train", "tgt"))
    n_train = len(tr_src)
    pb = _fake_system(p, runs, "pbsmt", corrupt(ref_tok, 0.25, 1), 1, train_size=n_train)
    write_lines(pb / "test.tuned.tok", corrupt(ref_tok, 0.25, 1))  # tokenised output, under the name older PBSMT runs used
    write_lines(pb / "test.align", [" ".join(f"{i}-{i}" for i in range(min(len(s.split()), len(h.split()))))
                                    for s, h in zip(src_tok, corrupt(ref_tok, 0.25, 1))])
    _fake_system(p, runs, "rnnenc", corrupt(ref_tok, 0.6, 2), 2, train_size=n_train)
    rs = _fake_system(p, runs, "rnnsearch", corrupt(ref_tok, 0.1, 3), 3,
                      vocab=(_top(tr_src + src_tok, 5000), _top(tr_tgt + ref_tok, 5000)), train_size=n_train)
    # the NMT trainer's layout: index, src/hyp (space-joined), att_k [len(hyp), len(src)]
    lines = [0, 4, 9, 17]
    hyp_tok = corrupt(ref_tok, 0.1, 3)
    arrays = {"index": np.array(lines), "src": np.array([src_tok[i] for i in lines]),
              "hyp": np.array([hyp_tok[i] for i in lines])}
    for k, line in enumerate(lines):
        a = np.random.default_rng(k).random((len(hyp_tok[line].split()), len(src_tok[line].split()))) ** 8
        arrays[f"att_{k}"] = (a / a.sum(1, keepdims=True)).astype(np.float32)
    np.savez_compressed(rs / "attention.npz", **arrays)
    for k, drop in ((50, 0.5), (100, 0.3)):
        _fake_system(p, runs, f"rnnsearch-v{k}", corrupt(ref_tok, drop, k), k,
                     vocab=(_top(tr_src + src_tok, k * 4), _top(tr_tgt + ref_tok, k * 4)), train_size=n_train)
    half = round(0.5 * n_train)
    _fake_system(p, runs, f"pbsmt-n{half}", corrupt(ref_tok, 0.4, 5), 5, train_size=half)
    _fake_system(p, runs, f"rnnsearch-n{half}", corrupt(ref_tok, 0.5, 6), 6, train_size=half)
    yield p, tmp
    mp.undo()


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.srcs, self.tags = [], 0

    def handle_starttag(self, tag, attrs):
        self.tags += 1
        if tag == "img":
            self.srcs.append(dict(attrs).get("src", ""))


def test_report_on_fake_runs(fake_study, capsys):
    p, tmp = fake_study
    from compare.__main__ import main as compare_main
    rc = compare_main(["report", "--corpus", str(tmp / "corpus"), "--src", "de", "--tgt", "en", "--profile", "tiny",
                       "--no-train", "--runs-dir", str(tmp / "runs"), "--report-dir", str(tmp / "report")])
    assert rc == 0
    out = tmp / "report" / f"{p.name}-de-en"
    page = (out / "index.html").read_text(encoding="utf-8")
    parser = _Images()
    parser.feed(page)
    parser.close()
    assert parser.tags > 50
    assert len(parser.srcs) >= 4  # length, vocab, learning curves + attention figures
    for src in parser.srcs:
        assert src.startswith("data:image/png;base64,")
        png = base64.b64decode(src.split(",", 1)[1])
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
    for name in ("bleu_vs_length", "bleu_vs_vocab", "learning_curve", "alignment-1"):
        assert (out / f"{name}.png").stat().st_size > 0 and (out / f"{name}.svg").stat().st_size > 0
    assert p.manifest["hash"] in page and "sacrebleu" in page and "26.75" in page

    with open(out / "results.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
        assert list(rows[0].keys()) == report.RESULT_COLUMNS
    # length buckets partition the 120 test sentences, for each main system
    for system in ("pbsmt", "rnnenc", "rnnsearch"):
        assert sum(int(r["n"]) for r in rows if r["experiment"] == "length" and r["system"] == system) == 120
    overall = {r["system"]: r for r in rows if r["experiment"] == "overall"}
    scores = json.loads((tmp / "runs" / p.name / "de-en" / "rnnsearch" / "scores.json").read_text())
    assert float(overall["rnnsearch"]["bleu"]) == pytest.approx(scores["bleu"], abs=0.006)
    for r in rows:
        if r["experiment"] in ("beam", "rare_words"):  # no intervals: a seeded sample / word F-measures
            continue
        if int(r["n"]) == 0:  # an empty subset has no BLEU
            assert r["bleu"] == r["ci_low"] == r["ci_high"] == ""
        else:
            assert float(r["ci_low"]) <= float(r["bleu"]) + 1e-6 <= float(r["ci_high"]) + 2e-6
    vocab = [r for r in rows if r["experiment"] == "vocab" and r["bucket"] == "no-unk" and r["system"] != "pbsmt"]
    assert sorted(int(r["vocab_size"]) for r in vocab) == [50, 100, 500]
    nounk = {int(r["vocab_size"]): int(r["n"]) for r in vocab}
    assert nounk[50] <= nounk[100] < nounk[500] == 120  # the main fake vocabulary covers the test set
    learning = sorted((r["system"], int(r["train_size"])) for r in rows if r["experiment"] == "learning")
    n_train = p.manifest["counts"]["train"]
    half = round(0.5 * n_train)
    assert learning == [("pbsmt", half), ("pbsmt", n_train), ("rnnsearch", half), ("rnnsearch", n_train)]
    # the clearly better fake system wins, significantly, and the page says so
    with open(out / "significance.csv", newline="", encoding="utf-8") as fh:
        sig = [r for r in csv.DictReader(fh) if r["experiment"] == "overall"
               and {r["system_a"], r["system_b"]} == {"rnnenc", "rnnsearch"}]
    assert len(sig) == 1 and float(sig[0]["p_value"]) < 0.05
    assert "rnnsearch is better than rnnenc" in page

    # re-running with everything present does nothing
    before = (out / "results.csv").read_bytes()
    capsys.readouterr()
    assert compare_main(["report", "--corpus", str(tmp / "corpus"), "--src", "de", "--tgt", "en", "--profile", "tiny",
                         "--no-train", "--runs-dir", str(tmp / "runs"), "--report-dir", str(tmp / "report")]) == 0
    assert (out / "results.csv").read_bytes() == before
    assert "is up to date" in capsys.readouterr().out


def test_read_attention(tmp_path):
    a = np.array([[0.9, 0.1], [0.2, 0.8]])
    np.savez(tmp_path / "new.npz", index=np.array([7, 8]), src=np.array(["ein Hund", "x"]), hyp=np.array(["a dog", "y"]),
             att_0=a, att_1=np.zeros((0, 0)))  # an empty matrix (no attention) is skipped
    [(line, att, src, hyp)] = report.read_attention(tmp_path / "new.npz")
    assert line == 7 and src == ["ein", "Hund"] and hyp == ["a", "dog"] and (att == a).all()
    np.savez(tmp_path / "old.npz", index=np.array([7]), attn_0=a)   # a layout nothing writes: one clear line
    with pytest.raises(UserError, match="old.npz: cannot read attention"):
        report.read_attention(tmp_path / "old.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(UserError, match="bad.npz: cannot read attention"):
        report.read_attention(tmp_path / "bad.npz")


def test_report_rejects_bad_run_folder(fake_study, tmp_path):
    p, tmp = fake_study
    runs = tmp_path / "runs"
    d = runs / p.name / "de-en" / "pbsmt"
    d.mkdir(parents=True)
    (d / "test.hyp").write_text("only one line\n", encoding="utf-8")
    (d / "scores.json").write_text("{}", encoding="utf-8")
    with pytest.raises(UserError, match=r"pbsmt/test\.hyp has 1 lines but the test reference has 120"):
        report.build_report(p, runs, tmp_path / "report", "tiny")
    assert not (tmp_path / "report").exists() or not any((tmp_path / "report").rglob("index.html"))
    with pytest.raises(UserError, match="no system folders"):
        report.build_report(p, tmp_path / "empty", tmp_path / "report", "tiny")
    # one good system: a report without comparisons (no significance rows, no findings)
    good = tmp / "runs" / p.name / "de-en" / "pbsmt"
    for name in ("test.hyp", "scores.json"):
        (d / name).write_bytes((good / name).read_bytes())
    page = report.build_report(p, runs, tmp_path / "report", "tiny").read_text(encoding="utf-8")
    assert "Not enough systems for a comparison" in page
    sig = (tmp_path / "report" / f"{p.name}-de-en" / "significance.csv").read_text(encoding="utf-8")
    assert sig.splitlines() == [",".join(report.SIG_COLUMNS)]


def test_score_cli_prints_json(tmp_path, capsys):
    from compare.__main__ import main as compare_main
    (tmp_path / "h").write_text("a cat sat on the mat\n", encoding="utf-8")
    (tmp_path / "r").write_text("a cat sat on the mat\n", encoding="utf-8")
    assert compare_main(["score", "--hyp", str(tmp_path / "h"), "--ref", str(tmp_path / "r")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["bleu"] == 100.0 and out["n"] == 1 and out["bleu_signature"].startswith("nrefs:1")
    (tmp_path / "r2").write_text("x\ny\n", encoding="utf-8")
    with pytest.raises(UserError, match="has 1 lines but the reference"):
        compare_main(["score", "--hyp", str(tmp_path / "h"), "--ref", str(tmp_path / "r2")])


def _sig_row(experiment, bucket, a, b, bleu_a, bleu_b, p):
    return {"experiment": experiment, "bucket": bucket, "system_a": a, "system_b": b, "bleu_a": bleu_a,
            "bleu_b": bleu_b, "delta": bleu_a - bleu_b, "p_value": p, "win_a": 0.0, "win_b": 0.0, "n": 50,
            "n_samples": 100, "significant": p < 0.05}


def test_findings_claim_attention_only_when_the_lead_grows_with_length():
    import numpy as np
    import pandas as pd

    from evaluation.buckets import Bucket
    from compare.report import SIG_COLUMNS, findings

    buckets = [Bucket(1, 20, np.arange(50)), Bucket(21, None, np.arange(50, 100))]
    rows = [_sig_row("overall", "all", "rnnenc", "rnnsearch", 15.0, 20.0, 0.001),
            _sig_row("length", "1-20", "rnnenc", "rnnsearch", 20.0, 21.0, 0.30),
            _sig_row("length", "21+", "rnnenc", "rnnsearch", 8.0, 16.0, 0.001)]
    text = " ".join(findings(pd.DataFrame(rows, columns=SIG_COLUMNS), buckets))
    assert "Attention helps most on long sentences" in text and "grows from +1.00 BLEU (1-20 tokens) to +8.00" in text
    assert "Caution" not in text
    # same lead everywhere, weak models: no claim, and a caution
    rows = [_sig_row("overall", "all", "rnnenc", "rnnsearch", 1.0, 2.0, 0.001),
            _sig_row("length", "1-20", "rnnenc", "rnnsearch", 1.0, 3.0, 0.001),
            _sig_row("length", "21+", "rnnenc", "rnnsearch", 1.0, 2.0, 0.001)]
    text = " ".join(findings(pd.DataFrame(rows, columns=SIG_COLUMNS), buckets))
    assert "Attention helps most" not in text and "does not show attention helping more" in text
    assert "Caution: rnnenc reaches only 1.0 BLEU, rnnsearch reaches only 2.0 BLEU" in text
    # a growing lead between under-trained models: said, but not claimed for attention
    rows = [_sig_row("overall", "all", "rnnenc", "rnnsearch", 1.0, 4.0, 0.001),
            _sig_row("length", "1-20", "rnnenc", "rnnsearch", 1.0, 2.0, 0.001),
            _sig_row("length", "21+", "rnnenc", "rnnsearch", 1.0, 6.0, 0.001)]
    text = " ".join(findings(pd.DataFrame(rows, columns=SIG_COLUMNS), buckets))
    assert "Attention helps most" not in text and "grows from +1.00 BLEU (1-20 tokens) to +5.00" in text
    assert "under-trained (< 5 BLEU), so no claim is made" in text


def test_plan_budgets_by_epochs_and_seed_replicas():
    """Learning-curve points get the full system's epochs, not its update count; seed replicas of the
    three main systems carry their seed on the command line."""
    from data.profiles import PROFILES
    quick = {j.system: j for j in experiments.plan("bible", "es", "en", "quick", 28000)}
    assert quick["rnnsearch"].max_steps == 1000
    assert quick["rnnsearch-n3500"].max_steps == 125 and quick["rnnsearch-n14000"].max_steps == 500
    assert quick["rnnsearch-n3500"].args[-4:-2] == ["--max-steps", "125"]
    assert not any(j.experiment == "seeds" for j in quick.values())          # quick: one seed
    full = {j.system: j for j in experiments.plan("bible", "es", "en", "full", 28000)}
    seeds = PROFILES["full"]["report"]["seeds"]
    for seed in seeds:
        assert full[f"pbsmt-s{seed}"].experiment == "seeds" and full[f"pbsmt-s{seed}"].args[-4:] == ["--mert-seed", str(seed), "--system", f"pbsmt-s{seed}"]
        for arch in ("rnnsearch", "rnnenc"):
            j = full[f"{arch}-s{seed}"]
            assert j.args[-4:] == ["--seed", str(seed), "--system", f"{arch}-s{seed}"] and j.max_steps == full[arch].max_steps
    assert full["rnnsearch-n3500"].max_steps == full["rnnsearch"].max_steps      # patience decides
    assert experiments.learning_steps(1000, 1, 28000, "epochs") == 1
    with pytest.raises(UserError, match="learning_budget"):
        experiments.learning_steps(1000, 10, 100, "updates")


def test_seed_groups_table_and_budget_notes():
    """Seed replicas (<name>-s<seed>) are grouped with their main system: mean ± sd over the runs and a
    test over sentences and seeds; NMT systems stopped by their budget while dev rose are named."""
    from compare import report
    from evaluation.score import sentence_stats
    refs = [f"the cat number {i} sat on the mat today" for i in range(40)]
    good = [f"the cat number {i} sat on the mat" for i in range(40)]
    bad = [f"a dog {i} was here" for i in range(40)]

    def sys_(name, hyps, bleu, seed, **sc):
        m = report.SYSTEM_RE.match(name)
        return report.System(name, None, hyps, {"bleu": bleu, "seed": seed, **sc}, sentence_stats(hyps, refs),
                             m["family"], m["kind"], int(m["size"]) if m["size"] else None)

    systems = {"pbsmt": sys_("pbsmt", good, 30.0, 1234), "pbsmt-s11": sys_("pbsmt-s11", good, 32.0, 11),
               "rnnsearch": sys_("rnnsearch", bad, 5.0, 1234, steps=1000, epochs=3.7, stop_reason="1000 steps",
                                 dev_still_rising=True, cpu_minutes=20.0),
               "rnnsearch-s11": sys_("rnnsearch-s11", bad, 6.0, 11),
               "rnnsearch-n100": sys_("rnnsearch-n100", bad, 1.0, 1234)}
    assert report.main_systems(systems) == ["pbsmt", "rnnsearch"]
    assert report.seed_groups(systems) == {"pbsmt": ["pbsmt", "pbsmt-s11"], "rnnsearch": ["rnnsearch", "rnnsearch-s11"]}
    table, lines = report.seed_table(systems)
    row = table.set_index("system").loc["pbsmt"]
    assert row["runs"] == 2 and row["BLEU mean"] == 31.0 and abs(row["BLEU sd"] - 2 ** 0.5) < 1e-12
    assert row["seeds"] == "1234, 11" and row["as text"] == "31.00 ± 1.41 (n = 2 seeds)"
    assert len(lines) == 1 and lines[0].startswith("pbsmt − rnnsearch") and "seeds" in lines[0]
    notes = report.budget_notes(systems)
    assert notes == ["rnnsearch: 1,000 updates, 3.7 epochs, 20 CPU-minutes, stopped by 1000 steps while dev BLEU "
                     "was still rising: not converged, and every claim about it concerns an unconverged system"]
    one = {k: v for k, v in systems.items() if "-s" not in k}
    assert "one training run" in report.seed_table(one)[1][0]
    assert report.select_bleu({"bleu_select_tuned": {"bleu": 12.5}}) == 12.5
    assert report.select_bleu({"select": {"score": {"bleu": 7.25}}}) == 7.25 and report.select_bleu({}) is None
