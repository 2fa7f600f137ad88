"""Unknown source words (smt/unknown.py): compound splitting (Koehn & Knight 2003), hyphens and
inflection back-off on a hand-built German vocabulary, and in the pipeline on real Multi30k pairs."""
import json
from collections import Counter

import pytest

from data.io import UserError, read_lines
from data import pharaoh
from compare.beam import pbsmt_source
from data.profiles import get
from smt import pipeline
from smt.decode import main as decode_main
from smt.unknown import UnknownWords, map_links, supported
from tests.test_smt_pipeline import _study_env, tiny_run  # noqa: F401 (the shared fixture)

VOCAB = Counter({"Leder": 5, "Tasche": 10, "Taschen": 2, "gelegt": 3, "Plastik": 4, "Alligator": 1,
                 "Wasser": 8, "Spiel": 6, "Platz": 9, "Spielplatz": 2, "Arbeit": 7, "eine": 50, ".": 60,
                 "Eis": 3, "ei": 1})


@pytest.fixture
def words():
    return UnknownWords(VOCAB, "de")


def test_known_words_are_never_touched(words):
    # "Spielplatz" could be split into two known words, but it is known itself
    assert words.rewrite(["eine", "Spielplatz", "."]) == (["eine", "Spielplatz", "."], [0, 1, 2])


def test_compound_split_takes_the_training_casing_and_filler(words):
    assert words.word("Ledertasche") == (["Leder", "Tasche"], "compound")
    assert words.word("Arbeitsplatz") == (["Arbeit", "Platz"], "compound")       # filler "s" (§3.1)
    # too short (< 6 letters) or not alphabetic: left alone
    assert words.word("Eisei") == (["Eisei"], None)
    assert words.word("Leder3tasche") == (["Leder3tasche"], None)


def test_compound_split_maximises_the_geometric_mean(words):
    # wasser|spielplatz: sqrt(8 * 2) = 4; wasser|spiel|platz: (8 * 6 * 9) ** (1/3) = 7.56 -> three parts
    assert words.word("Wasserspielplatz") == (["Wasser", "Spiel", "Platz"], "compound")
    heavy = UnknownWords(Counter({**VOCAB, "Spielplatz": 500}), "de")
    # now wasser|spielplatz: sqrt(8 * 500) = 63.2 > 7.56
    assert heavy.word("Wasserspielplatz") == (["Wasser", "Spielplatz"], "compound")
    # the whole word in a known casing is an option too (K&K §4): kept whole when more frequent
    assert words.word("spielplatz") == (["Spiel", "Platz"], "compound")           # 2 < sqrt(6 * 9) = 7.3
    assert heavy.word("spielplatz") == (["Spielplatz"], "case")                   # 500 > 7.3


def test_inflection_back_off_and_its_order_before_splitting(words):
    assert words.word("gelegten") == (["gelegt"], "inflection")                 # gelegt + en
    assert words.word("Tasches") == (["Tasche"], "inflection")                  # Tasche + s
    # no known word shares a stem with "Ledertaschen": split, the last part as seen in training
    assert words.word("Ledertaschen") == (["Leder", "Taschen"], "compound")
    assert words.back_off("Zebra") is None


def test_hyphenated_words_split_only_when_every_part_becomes_known(words):
    assert words.word("Plastik-Alligator") == (["Plastik", "Alligator"], "hyphen")
    assert words.word("Plastik-Ledertasche") == (["Plastik", "Leder", "Tasche"], "hyphen")
    assert words.word("Plastik-Zebra") == (["Plastik-Zebra"], None)


def test_rewrite_origins_and_links_back(words):
    new, origin = words.rewrite(["eine", "Ledertasche", "gelegten", "."])
    assert new == ["eine", "Leder", "Tasche", "gelegt", "."]
    assert origin == [0, 1, 1, 2, 3]
    # "leather bag" aligned to the two parts maps back onto the one compound
    assert map_links([(0, 0), (1, 1), (2, 2), (3, 3), (4, 4)], origin) == [(0, 0), (1, 1), (1, 2), (2, 3), (3, 4)]
    sents, origins, info = words.rewrite_corpus([["eine", "Ledertasche", "."], ["Zebra", "gelegten"], ["."]])
    assert sents == [["eine", "Leder", "Tasche", "."], ["Zebra", "gelegt"], ["."]]
    assert info == {"tokens": 6, "rewritten": 2, "unknown_left": 1, "hyphen": 0, "inflection": 1, "compound": 1,
                    "case": 0, "sentences_changed": 2}


def test_vocabulary_file_round_trip_and_errors(words, tmp_path):
    path = tmp_path / "source-words.tsv"
    words.save(path)
    lines = read_lines(path)
    assert lines[:3] == ["# lang\tde", ".\t60", "eine\t50"]
    back = UnknownWords.load(path)
    assert back.counts == VOCAB and back.lang == "de"
    path.write_text("# lang\tde\nLeder\tfive\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"source-words.tsv:2: expected 'word<TAB>count'"):
        UnknownWords.load(path)
    with pytest.raises(UserError, match="no rules for source language 'es'"):
        UnknownWords(VOCAB, "es")
    assert supported("de") and not supported("es")


def test_pipeline_rewrites_dev_and_test_and_maps_the_alignment_back(tiny_run):
    """`smt train --unknown-words split` on 200 Multi30k pairs: the vocabulary file, the counts in the
    decode step, settings recorded only when on, and test.align in the original source positions."""
    root, corpus, argv, run_dir = tiny_run
    with _study_env(root):
        assert pipeline.main([*argv, "--system", "pbsmt-uw", "--unknown-words", "split"]) == 0
    d = root / "runs" / "tiny" / "de-en" / "pbsmt-uw"
    words = UnknownWords.load(d / "source-words.tsv")
    build = root / "build" / "tiny" / "de-en"
    train = Counter(w for line in read_lines(build / "train.de") for w in line.split())
    assert words.counts == train
    scores = json.loads((d / "scores.json").read_text())
    assert scores["settings"]["unknown_words"] == "split"
    assert "unknown_words" not in json.loads((run_dir / "scores.json").read_text())["settings"]
    assert not (run_dir / "source-words.tsv").exists()
    info = json.loads((d / "decode-test-tuned.stamp.json").read_text())["info"]["unknown_words"]
    src = [line.split() for line in read_lines(build / "test.de")]
    expected = words.rewrite_corpus(src)[2]
    assert info == expected and expected["inflection"] + expected["compound"] + expected["hyphen"] > 0
    # test.align: the decoder's links over the rewritten source, mapped back to the original words
    hyp = read_lines(d / "test.tok.hyp", allow_empty_lines=True)
    align = read_lines(d / "test.align", allow_empty_lines=True)
    new, origins, _ = words.rewrite_corpus(src)
    rewritten = [k for k in range(len(src)) if new[k] != src[k]]
    assert rewritten
    for k in rewritten:
        assert origins[k] == sorted(origins[k]) and set(origins[k]) == set(range(len(src[k])))
        links = pharaoh.parse(align[k]) if align[k] else []
        assert all(i < len(src[k]) and j < len(hyp[k].split()) for i, j in links)
    # the system's tools rewrite the same way: smt decode --source-words gives the pipeline's output,
    # and the analyses' decoder input (compare.beam.pbsmt_source) is the rewritten test set
    cfg = get("tiny", "smt")
    out = root / "uw-cli.txt"
    assert decode_main(["--phrase-table", str(d / "phrase-table.gz"), "--lm", str(d / "lm.binary"),
                        "--input", str(build / "test.de"), "--output", str(out), "--weights", str(d / "weights.json"),
                        "--stack-size", str(cfg["stack_size"]), "--distortion-limit", str(cfg["distortion_limit"]),
                        "--table-limit", str(cfg["table_limit"]), "--processes", "1",
                        "--source-words", str(d / "source-words.tsv")]) == 0
    assert read_lines(out, allow_empty_lines=True) == hyp
    assert pbsmt_source(d, src) == new and pbsmt_source(run_dir, src) == src


def test_languages_without_rules_are_untouched(tmp_path, monkeypatch):
    """A French source under the quick profile (unknown_words: split): nothing rewritten, the key out
    of the settings and of every decode stamp, so such runs keep their stamps; asking for it is an error."""
    from data.prepare import prepare
    from tests.helpers import make_tiny_corpus
    monkeypatch.setenv("MT_BUILD_DIR", str(tmp_path / "build"))
    monkeypatch.setenv("MT_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("MT_NO_PROGRESS", "1")
    p = prepare(str(make_tiny_corpus(tmp_path / "tiny", src="fr")), "fr", "en", quiet=True)
    assert get("quick", "smt")["unknown_words"] == "split"
    kw = dict(profile="quick", train_size=None, system="pbsmt", processes=1, restarts=1, tune=True, force=False,
              weights_from=None, reordering=None)
    t = pipeline.SMTTraining(p, **kw)
    assert not t.split_unknown and "unknown_words" not in t.settings and "unknown_words" not in t.decode_cfg
    t.source_words()
    assert t.unknown is None and not (t.out / "source-words.tsv").exists()
    sents = [["un", "chien"]]
    assert t.source(sents, "test") == (sents, None, None)
    with pytest.raises(UserError, match="no rules for the source language 'fr'"):
        pipeline.SMTTraining(p, **kw, unknown_words="split")
