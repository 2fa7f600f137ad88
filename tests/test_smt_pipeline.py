"""End-to-end PBSMT (`python -m smt train`) on a tiny real corpus, and its make-like steps."""
import contextlib
import json
import re

import numpy as np
import pytest

from evaluation.score import bleu
from data.io import UserError, read_lines
from smt import pipeline
from smt.pipeline import Log, Step, word_alignment
from smt.tune import main as tune_main, read_weights
from tests.helpers import make_tiny_corpus


def _files(run_dir):
    return {p: p.stat().st_mtime_ns for p in sorted(run_dir.rglob("*")) if p.is_file() and p.name != "train.log"}


@contextlib.contextmanager
def _study_env(root):
    """Build dir, runs dir and no progress bars under ``root`` (the environment every run here uses)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MT_BUILD_DIR", str(root / "build"))
        mp.setenv("MT_RUNS_DIR", str(root / "runs"))
        mp.setenv("MT_NO_PROGRESS", "1")
        yield


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One pipeline run on 200/30/30 Multi30k pairs (profile tiny), shared by the tests below."""
    root = tmp_path_factory.mktemp("smt")
    corpus = make_tiny_corpus(root / "tiny")
    argv = ["--corpus", str(corpus), "--src", "de", "--tgt", "en", "--profile", "tiny", "--processes", "1",
            "--restarts", "5"]
    with _study_env(root):
        assert pipeline.main(argv) == 0
        yield root, corpus, argv, root / "runs" / "tiny" / "de-en" / "pbsmt"


def test_pipeline_tiny_end_to_end_and_incremental(tiny_run, capsys):
    isolated, tiny_corpus, argv, run_dir = tiny_run
    for name in ("test.hyp", "scores.json", "phrase-table.gz", "lm.binary", "weights.json",
                 "alignments/train.gdfa", "test.align", "train.log"):
        assert (run_dir / name).is_file(), name

    hyps = read_lines(run_dir / "test.hyp")
    refs = read_lines(tiny_corpus / "test.en")
    srcs = read_lines(tiny_corpus / "test.de")
    assert len(hyps) == 30 and all(h.strip() for h in hyps)
    scores = json.loads((run_dir / "scores.json").read_text())
    assert scores["bleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a")
    assert scores["bleu"] == pytest.approx(bleu(hyps, refs).score, abs=0.01)
    # dev (30 sentences) is split by a seed into a tune part (MERT) and a select part (choices)
    assert scores["dev_split"]["tune"] == 15 and scores["dev_split"]["select"] == 15
    for key, n in (("bleu_dev_default", 15), ("bleu_dev_tuned", 15), ("bleu_select_tuned", 15),
                   ("bleu_test_default", 30), ("bleu_test_tuned", 30)):
        assert "tok:13a" in scores[key]["bleu_signature"] and scores[key]["n"] == n, key
    select_hyps = read_lines(run_dir / "select.tuned.hyp")
    select_refs = read_lines(isolated / "build" / "tiny" / "de-en" / "select.ref.en")
    assert scores["bleu_select_tuned"]["bleu"] == pytest.approx(bleu(select_hyps, select_refs).score, abs=0.01)
    assert scores["bleu_test_tuned"]["bleu"] == scores["bleu"]
    assert scores["corpus"] == "tiny" and scores["seed"] == 1234 and scores["train_size"] > 150
    assert len(scores["corpus_hash"]) == 64 and scores["profile"] == "tiny"
    assert scores["decode_sents_per_s"] > 0 and set(scores["step_seconds"]) >= {"align", "phrases", "lm", "tune"}
    # Copying the German source through scores 0.46 BLEU here (measured); 200 training pairs
    # give the real system about 16 (measured 16.6), so 8 is a safe but meaningful floor.
    copy_bleu = bleu(srcs, refs).score
    assert copy_bleu < 1.0
    assert scores["bleu"] > 8.0

    weights = json.loads((run_dir / "weights.json").read_text())
    assert weights["features"][4] == "lm" and len(weights["weights"]) == 8
    assert sum(abs(w) for w in weights["weights"]) == pytest.approx(1.0)

    # Pharaoh alignments: train has one line per training pair; test.align links lie inside
    # the source sentence and the tokenised hypothesis
    assert len(read_lines(run_dir / "alignments" / "train.gdfa")) == scores["train_size"]
    src_tok = read_lines(isolated / "build" / "tiny" / "de-en" / "test.de")
    hyp_tok = read_lines(run_dir / "test.tok.hyp")
    aligns = read_lines(run_dir / "test.align")
    assert len(aligns) == 30
    covered = total = 0
    for a, f, e in zip(aligns, src_tok, hyp_tok):
        pts = [tuple(map(int, x.split("-"))) for x in a.split()]
        assert pts and all(0 <= i < len(f.split()) and 0 <= j < len(e.split()) for i, j in pts)
        covered += len({j for _, j in pts})
        total += len(e.split())
    # phrase-internal alignments leave some output words (e.g. articles) unaligned, but few
    assert covered / total > 0.8

    # second run: nothing is redone, nothing rewritten
    before = _files(run_dir)
    capsys.readouterr()
    assert pipeline.main(argv) == 0
    out = capsys.readouterr().out
    assert _files(run_dir) == before
    assert "running" not in out
    for step in ("align", "phrases", "lm", "tune", "decode-test-tuned", "scores"):
        assert re.search(rf"{step}: up to date", out), step


def test_tune_cli_on_the_pipeline_models(tiny_run, tmp_path, capsys):
    root, _, _, run_dir = tiny_run
    dev = root / "build" / "tiny" / "de-en"
    src, ref = tmp_path / "dev.de", tmp_path / "dev.en"
    src.write_text("\n".join(read_lines(dev / "dev.de")[:10]) + "\n")
    ref.write_text("\n".join(read_lines(dev / "dev.en")[:10]) + "\n")
    out = tmp_path / "w.json"
    common = ["--phrase-table", str(run_dir / "phrase-table.gz"), "--lm", str(run_dir / "lm.binary"),
              "--src", str(src), "--out", str(out), "--iterations", "1", "--nbest", "5", "--restarts", "2",
              "--processes", "1", "--stack-size", "10"]
    assert tune_main(common + ["--ref", str(ref)]) == 0
    w = read_weights(out)
    assert w.shape == (8,) and np.abs(w).sum() == pytest.approx(1.0)
    assert "tuned weights" in capsys.readouterr().out
    # a reference with a different number of lines: one clear error, nothing written
    short = tmp_path / "short.en"
    short.write_text("a man .\n")
    out.unlink()
    with pytest.raises(UserError, match=r"dev\.de has 10 lines but \S*short\.en has 1"):
        tune_main(common + ["--ref", str(short)])
    assert not out.exists()
    bad = tmp_path / "bad.json"
    bad.write_text('{"weights": [1, 2]}')
    with pytest.raises(UserError, match="list of 8 numbers"):
        read_weights(bad)


def test_step_reruns_only_when_inputs_or_settings_change(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("a\n")
    art = tmp_path / "out.txt"
    log = Log(tmp_path / "log")
    calls = []

    def work():
        calls.append(1)
        art.write_text(src.read_text().upper())
        return {"n": len(calls)}

    assert Step(tmp_path, "s", [art], {"src": src}, {"k": 1}).run(work, log)["info"] == {"n": 1}
    assert Step(tmp_path, "s", [art], {"src": src}, {"k": 1}).run(work, log)["info"] == {"n": 1}
    assert len(calls) == 1
    Step(tmp_path, "s", [art], {"src": src}, {"k": 2}).run(work, log)  # settings changed
    assert len(calls) == 2
    src.write_text("b\n")  # input changed
    Step(tmp_path, "s", [art], {"src": src}, {"k": 2}).run(work, log)
    assert len(calls) == 3 and art.read_text() == "B\n"
    art.unlink()  # artifact missing
    Step(tmp_path, "s", [art], {"src": src}, {"k": 2}).run(work, log)
    assert len(calls) == 4
    art.write_text("B")  # artifact damaged after the step (truncated): not reused, rebuilt
    Step(tmp_path, "s", [art], {"src": src}, {"k": 2}).run(work, log)
    assert len(calls) == 5 and art.read_text() == "B\n"
    assert "changed since the step wrote it" in (tmp_path / "log").read_text()


class _T:
    def __init__(self, tokens, alignment):
        self.tokens, self.alignment = tokens, alignment


def test_word_alignment_from_phrase_alignment():
    from smt.phrases import PhraseOption
    src = ["das", "haus", "ist", "klein"]
    hyp = _T(["the", "house", "is", "small"], [((0, 2), (0, 2)), ((3, 4), (3, 4)), ((2, 3), (2, 3))])
    table = {("das", "haus"): [PhraseOption(("the", "house"), np.ones(4), ((0, 0), (1, 1)))]}
    # the table's internal links for the first pair; 1x1 boxes for the others
    assert word_alignment(src, hyp, table) == [(0, 0), (1, 1), (2, 2), (3, 3)]
    # without the table: the diagonal of each box (2x2 box -> both diagonal links)
    hyp2 = _T(["a", "b", "c"], [((0, 1), (0, 2)), ((1, 4), (2, 3))])
    assert word_alignment(src, hyp2, None) == [(0, 0), (0, 1), (1, 2), (2, 2), (3, 2)]


def test_bad_corpus_is_one_clear_error(isolated):
    with pytest.raises(UserError, match="not a built-in corpus"):
        pipeline.main(["--corpus", str(isolated / "nope"), "--src", "de", "--tgt", "en"])
    with pytest.raises(UserError, match="--system"):
        pipeline.main(["--system", "../x"])


def test_truncated_phrase_table_is_rebuilt_not_reused(tiny_run, capsys):
    """A valid gzip holding only the first lines of the phrase table is noticed and rebuilt: the
    same BLEU as before, not the damaged table's."""
    import gzip
    _root, _corpus, argv, run_dir = tiny_run
    before = json.loads((run_dir / "scores.json").read_text())["bleu"]
    table = run_dir / "phrase-table.gz"
    lines = gzip.decompress(table.read_bytes()).splitlines(keepends=True)
    table.write_bytes(gzip.compress(b"".join(lines[: len(lines) // 5])))
    assert pipeline.main(argv) == 0
    out = capsys.readouterr().out
    assert "phrases: phrase-table.gz changed since the step wrote it" in out
    assert json.loads((run_dir / "scores.json").read_text())["bleu"] == before


def test_learning_curve_point_reuses_tuned_weights(tiny_run):
    """`--train-size N --weights-from pbsmt`: a subset system with the full system's MERT weights."""
    root, corpus, argv, run_dir = tiny_run
    with _study_env(root):
        assert pipeline.main([*argv, "--train-size", "100", "--system", "pbsmt-n100", "--weights-from", "pbsmt"]) == 0
        with pytest.raises(UserError, match="no-such/weights.json: no such file"):
            pipeline.main([*argv, "--train-size", "100", "--system", "x", "--weights-from", "no-such"])
    sub = root / "runs" / "tiny" / "de-en" / "pbsmt-n100"
    np.testing.assert_allclose(read_weights(sub / "weights.json"), read_weights(run_dir / "weights.json"))
    scores = json.loads((sub / "scores.json").read_text())
    assert scores["train_size"] == 100 and "bleu_test_default" not in scores
    assert not (sub / "test.default.hyp").exists()
    assert len(read_lines(sub / "alignments" / "train.gdfa")) == 100


def test_lexicalised_reordering_system(tiny_run):
    """`--reordering msd-bidirectional-fe`: a reordering table of the phrase table's pairs, 14 MERT-tuned
    weights, and the beam sweep's decoder picks the table up from the weights."""
    from compare.beam import pbsmt_decoder
    from data.profiles import get
    from smt.phrases import read_phrase_table, read_reordering_table
    root, corpus, argv, run_dir = tiny_run
    with _study_env(root):
        assert pipeline.main([*argv, "--system", "pbsmt-msd", "--reordering", "msd-bidirectional-fe"]) == 0
    d = root / "runs" / "tiny" / "de-en" / "pbsmt-msd"
    pt, rt = read_phrase_table(d / "phrase-table.gz"), read_reordering_table(d / "reordering-table.gz")
    assert len(rt) == sum(len(o) for o in pt.values()) and all((f, o.e) in rt for f, opts in pt.items() for o in opts)
    w = json.loads((d / "weights.json").read_text())
    assert len(w["weights"]) == 14 and w["features"][8:11] == ["lr_prev_mono", "lr_prev_swap", "lr_prev_disc"]
    scores = json.loads((d / "scores.json").read_text())
    assert scores["settings"]["reordering"] == "msd-bidirectional-fe" and 0 < scores["bleu"] <= 100
    assert "reordering" not in json.loads((run_dir / "scores.json").read_text())["settings"]  # distance-only as before
    assert not (run_dir / "reordering-table.gz").exists()
    src = [line.split() for line in read_lines(corpus / "test.de")][:3]
    assert pbsmt_decoder(d, get("tiny", "smt"), src).lexicalised and not pbsmt_decoder(run_dir, get("tiny", "smt"), src).lexicalised


def test_cube_pruning_system(tiny_run):
    """`--pop-limit N`: MERT and the test set are decoded by cube pruning; the limit is recorded in the
    settings and in the decoding step's stamp, and the stack search's runs record no such key."""
    root, corpus, argv, run_dir = tiny_run
    with _study_env(root):
        assert pipeline.main([*argv, "--system", "pbsmt-cube", "--pop-limit", "20"]) == 0
        with pytest.raises(UserError, match="--pop-limit must be >= 1"):
            pipeline.main([*argv, "--system", "cube-0", "--pop-limit", "0"])
    assert not (root / "runs" / "tiny" / "de-en" / "cube-0").exists()   # refused before anything is written
    d = root / "runs" / "tiny" / "de-en" / "pbsmt-cube"
    scores = json.loads((d / "scores.json").read_text())
    assert scores["settings"]["pop_limit"] == 20 and 0 < scores["bleu"] <= 100
    stamp = json.loads((d / "decode-test-tuned.stamp.json").read_text())
    assert stamp["key"]["settings"]["pop_limit"] == 20
    assert "pop_limit" not in json.loads((run_dir / "scores.json").read_text())["settings"]
    assert "pop_limit" not in json.loads((run_dir / "decode-test-tuned.stamp.json").read_text())["key"]["settings"]
    assert len(read_lines(d / "test.hyp", allow_empty_lines=True)) == len(read_lines(corpus / "test.en"))
    # the decoding analyses decode each system with the search it was tuned with
    from compare.beam import pbsmt_decoder
    from data.profiles import get
    src = [line.split() for line in read_lines(corpus / "test.de")][:3]
    assert pbsmt_decoder(d, get("tiny", "smt"), src).pop_limit == 20
    assert pbsmt_decoder(run_dir, get("tiny", "smt"), src).pop_limit is None


def test_fertility_alignment_and_mert_seed(tiny_run):
    """`--fertility-iterations N` aligns through the fertility HMM and `--mert-seed S` seeds MERT:
    both recorded in the settings (and N in the alignment's stamp) only when given; the alignment
    differs from the HMM's; bad values are refused before anything is written."""
    root, corpus, argv, run_dir = tiny_run
    with _study_env(root):
        assert pipeline.main([*argv, "--system", "pbsmt-fert", "--fertility-iterations", "2", "--mert-seed", "7"]) == 0
        with pytest.raises(UserError, match="--fertility-iterations must be >= 0"):
            pipeline.main([*argv, "--system", "fert-neg", "--fertility-iterations", "-1"])
    assert not (root / "runs" / "tiny" / "de-en" / "fert-neg").exists()
    d = root / "runs" / "tiny" / "de-en" / "pbsmt-fert"
    settings = json.loads((d / "scores.json").read_text())["settings"]
    assert settings["fertility_iterations"] == 2 and settings["mert_seed"] == 7
    assert json.loads((d / "alignments" / "align.stamp.json").read_text())["key"]["settings"]["fertility_iterations"] == 2
    assert json.loads((d / "weights.json").read_text())["tuning"]["seed"] == 7
    base = json.loads((run_dir / "scores.json").read_text())["settings"]
    assert "fertility_iterations" not in base and "mert_seed" not in base
    assert "fertility_iterations" not in json.loads((run_dir / "alignments" / "align.stamp.json").read_text())["key"]["settings"]
    assert read_lines(d / "alignments" / "train.gdfa", allow_empty_lines=True) != \
        read_lines(run_dir / "alignments" / "train.gdfa", allow_empty_lines=True)


def test_sharded_phrase_step_gives_the_same_system(tiny_run, monkeypatch):
    """The optional profile key `smt.phrase_shards` builds the phrase table in streaming shards
    (smt/phrases.py): the same bytes as the in-memory build, so the same test output."""
    from data import profiles
    root, corpus, argv, run_dir = tiny_run
    monkeypatch.setitem(profiles.PROFILES["tiny"]["smt"], "phrase_shards", 3)
    with _study_env(root):
        assert pipeline.main([*argv, "--system", "pbsmt-shards"]) == 0
    d = root / "runs" / "tiny" / "de-en" / "pbsmt-shards"
    assert (d / "phrase-table.gz").read_bytes() == (run_dir / "phrase-table.gz").read_bytes()
    assert json.loads((d / "phrases.stamp.json").read_text())["info"]["shards"] == 3
    assert read_lines(d / "test.hyp", allow_empty_lines=True) == read_lines(run_dir / "test.hyp", allow_empty_lines=True)


def test_mert_iterations_option(tiny_run):
    """`--mert-iterations N` overrides the profile's MERT rounds (recorded in the settings and the
    tune stamp); a count below 1 is refused before anything is written."""
    root, corpus, argv, run_dir = tiny_run
    with _study_env(root):
        assert pipeline.main([*argv, "--system", "pbsmt-mi1", "--mert-iterations", "1"]) == 0
        with pytest.raises(UserError, match="--mert-iterations must be >= 1"):
            pipeline.main([*argv, "--system", "mi0", "--mert-iterations", "0"])
    assert not (root / "runs" / "tiny" / "de-en" / "mi0").exists()
    d = root / "runs" / "tiny" / "de-en" / "pbsmt-mi1"
    assert json.loads((d / "scores.json").read_text())["settings"]["mert_iterations"] == 1
    assert json.loads((d / "tune.stamp.json").read_text())["key"]["settings"]["mert_iterations"] == 1
    assert json.loads((run_dir / "scores.json").read_text())["settings"]["mert_iterations"] == 2


def test_tune_dev_size_option(tiny_run):
    """`--tune-dev-size N` tunes on a seeded sample of N dev sentences (recorded in the settings and
    the tune stamp); a negative size is refused before anything is written."""
    root, corpus, argv, run_dir = tiny_run
    with _study_env(root):
        assert pipeline.main([*argv, "--system", "pbsmt-td5", "--tune-dev-size", "5"]) == 0
        with pytest.raises(UserError, match="--tune-dev-size must be >= 0"):
            pipeline.main([*argv, "--system", "td-neg", "--tune-dev-size", "-1"])
    assert not (root / "runs" / "tiny" / "de-en" / "td-neg").exists()
    d = root / "runs" / "tiny" / "de-en" / "pbsmt-td5"
    assert json.loads((d / "scores.json").read_text())["settings"]["tune_dev_size"] == 5
    stamp = json.loads((d / "tune.stamp.json").read_text())
    assert stamp["key"]["settings"]["tune_dev_size"] == 5
    assert stamp["info"]["dev_sentences"] == 5


def test_gibbs_aligner_option(tiny_run):
    """`--align-model gibbs --symmetrize posterior` aligns with the sampler (its settings in the align
    stamp, a Pharaoh line per training pair, EM models still saved for forced alignment); posterior
    with an EM aligner is refused before anything is written."""
    root, corpus, argv, run_dir = tiny_run
    with _study_env(root):
        with pytest.raises(UserError, match="needs the sampler's marginals"):
            pipeline.main([*argv, "--system", "post-em", "--symmetrize", "posterior"])
        assert pipeline.main([*argv, "--system", "gibbs", "--align-model", "gibbs", "--symmetrize", "posterior",
                              "--no-tune"]) == 0
    assert not (root / "runs" / "tiny" / "de-en" / "post-em").exists()
    d = root / "runs" / "tiny" / "de-en" / "gibbs"
    stamp = json.loads((d / "alignments" / "align.stamp.json").read_text())
    assert stamp["key"]["settings"]["align_model"] == "gibbs"
    assert stamp["key"]["settings"]["symmetrize"] == "posterior"
    assert stamp["key"]["settings"]["samplers"] == 3
    n_train = len(read_lines(corpus / "train.de"))
    links = read_lines(d / "alignments" / "train.gdfa")          # the file keeps its name whatever the method
    assert len(links) == n_train and sum(bool(x.strip()) for x in links) > 0.9 * n_train
    assert stamp["info"]["sentences"] == n_train
    assert json.loads((d / "scores.json").read_text())["bleu"] > 0


def test_align_shards_option(tiny_run):
    """`--align-shards 3` aligns over shards on disk: the same links as the in-memory aligner of the
    base run, the setting in the align stamp, no shard folder left; with the sampler, or below 1,
    refused before anything is written."""
    root, corpus, argv, run_dir = tiny_run
    with _study_env(root):
        for extra, msg in [(["--align-shards", "2", "--align-model", "gibbs", "--symmetrize", "posterior"], "EM aligners"),
                           (["--align-shards", "0"], ">= 1")]:
            with pytest.raises(UserError, match=msg):
                pipeline.main([*argv, "--system", "bad-shards", *extra])
        assert pipeline.main([*argv, "--system", "shards", "--align-shards", "3", "--no-tune"]) == 0
    assert not (root / "runs" / "tiny" / "de-en" / "bad-shards").exists()
    d = root / "runs" / "tiny" / "de-en" / "shards"
    assert read_lines(d / "alignments" / "train.gdfa") == read_lines(run_dir / "alignments" / "train.gdfa")
    stamp = json.loads((d / "alignments" / "align.stamp.json").read_text())
    assert stamp["key"]["settings"]["align_shards"] == 3
    assert "align_shards" not in json.loads((run_dir / "alignments" / "align.stamp.json").read_text())["key"]["settings"]
    assert sorted(p.name for p in (d / "alignments").iterdir() if p.name.startswith("align-shards")) == []
