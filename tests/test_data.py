"""The corpus layer: preparation, cleaning, the inverse pipeline, and clean failures on bad input."""
from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pytest

from data import preprocess as pp
from data.io import UserError, read_lines, write_lines
from data.prepare import prepare
from tests.helpers import ROOT, SHARED, head_gz, make_tiny_corpus


def run_prepare(corpus, tmp_path, src="de", tgt="en"):
    env = dict(os.environ, MT_BUILD_DIR=str(tmp_path / "build"), MT_NO_PROGRESS="1")
    return subprocess.run([sys.executable, "-m", "data", "prepare", "--corpus", str(corpus), "--src", src, "--tgt", tgt],
                          cwd=ROOT, env=env, capture_output=True, text=True)


def test_prepare_tiny_corpus(isolated, tiny_corpus):
    # add pairs that cleaning must drop: one empty side, one too long, one with ratio > 9
    for lang, extra in (("de", ["", "a " * 81, "x"]), ("en", ["Hallo", "b " * 3, "y " * 10])):
        path = tiny_corpus / f"train.{lang}"
        path.write_text(path.read_text(encoding="utf-8") + "\n".join(extra) + "\n", encoding="utf-8")
    p = prepare(str(tiny_corpus), "de", "en")
    assert p.manifest["raw_counts"] == {"train": 203, "dev": 30, "test": 30}
    assert p.manifest["dropped"] == {"empty": 1, "too_long": 1, "ratio": 1}
    assert p.manifest["counts"]["train"] == 200
    train_en = read_lines(p.file("train", "tgt"))
    assert len(train_en) == 200 and train_en[0] == "two young , white males are outside near many bushes ."
    assert read_lines(p.ref("test"))[0] == "A man in an orange hat starring at something."
    # cached: a second call does not rebuild (same directory inode, same manifest)
    mtime = (p.dir / "manifest.json").stat().st_mtime_ns
    assert prepare(str(tiny_corpus), "de", "en").manifest == p.manifest
    assert (p.dir / "manifest.json").stat().st_mtime_ns == mtime
    # deterministic subsets, in corpus order, drawn from train
    a, b = p.train_files(50)
    sub_src, sub_tgt = read_lines(a), read_lines(b)
    full = list(zip(read_lines(p.file("train", "src")), read_lines(p.file("train", "tgt"))))
    assert len(sub_src) == 50 and all(pair in full for pair in zip(sub_src, sub_tgt))
    assert [full.index(pair) for pair in zip(sub_src, sub_tgt)] == sorted(full.index(pair) for pair in zip(sub_src, sub_tgt))


def test_postprocess_inverts_preprocess():
    """Detruecase + detokenise restores >= 95% of real Multi30k test references exactly."""
    refs = [pp.nfc(x) for x in head_gz(SHARED / "multi30k" / "test_2016_flickr.en.gz", 1000)]
    tok = pp.tokenize(refs, "en")
    assert tok[0] == "A man in an orange hat starring at something ."
    back = pp.Postprocessor("en")(tok)
    same = sum(a == b for a, b in zip(back, refs))
    assert same / len(refs) >= 0.95, same


def test_clean_reasons():
    keep, dropped = pp.clean(["a b", "", "a " * 81, "a", "x y z"], ["c", "d", "e", "b " * 10, "u v"])
    assert keep == [0, 4] and dropped == {"empty": 1, "too_long": 1, "ratio": 1}


@pytest.mark.parametrize("problem, expect", [
    ("mismatch", "has 30 lines but"),
    ("utf8", "test.de:3: invalid UTF-8"),
    ("empty_file", "dev.en: empty file"),
    ("missing", "train.en: no such file"),
    ("empty_line", "dev.de:5: empty line"),
    ("absurd", "train.en:2: line of 200,000 characters"),
])
def test_bad_input_fails_cleanly(tmp_path, problem, expect):
    corpus = make_tiny_corpus(tmp_path / "bad", n_train=20)
    if problem == "mismatch":
        (corpus / "test.en").write_text("one line\n" * 31, encoding="utf-8")
    elif problem == "utf8":
        data = (corpus / "test.de").read_bytes().split(b"\n")
        data[2] = b"caf\xe9 latin-1"
        (corpus / "test.de").write_bytes(b"\n".join(data))
    elif problem == "empty_file":
        (corpus / "dev.en").write_text("", encoding="utf-8")
    elif problem == "missing":
        (corpus / "train.en").unlink()
    elif problem == "empty_line":
        lines = (corpus / "dev.de").read_text(encoding="utf-8").split("\n")
        lines[4] = "   "
        (corpus / "dev.de").write_text("\n".join(lines), encoding="utf-8")
    elif problem == "absurd":
        lines = (corpus / "train.en").read_text(encoding="utf-8").split("\n")
        lines[1] = "x" * 200_000
        (corpus / "train.en").write_text("\n".join(lines), encoding="utf-8")
    r = run_prepare(corpus, tmp_path)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    err = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and expect in err[0], r.stderr
    # nothing half-written: no prepared directory, no temp directory left behind
    built = tmp_path / "build" / "bad"
    assert not built.exists() or not any(built.rglob("*.*")), list(built.rglob("*"))


def test_unknown_corpus_fails_cleanly(tmp_path):
    r = run_prepare("no-such-corpus", tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == "error: corpus 'no-such-corpus': not a built-in corpus (bible, multi30k) nor an existing directory"


def test_multi30k_from_mirror(isolated):
    """The built-in multi30k reads the configured mirror (../shared/data beside the project)."""
    from data.corpus import resolve
    c = resolve("multi30k", "de", "en")
    assert c.files["dev"][0].name == "val.de.gz" and c.files["test"][1].name == "test_2016_flickr.en.gz"
    assert len(read_lines(c.files["dev"][0])) == 1014


def test_write_lines_atomic(tmp_path):
    target = tmp_path / "out.txt"
    write_lines(target, ["old"])

    def boom():
        yield "new"
        raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError):
        write_lines(target, boom())
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    with pytest.raises(UserError, match="no such file"):
        read_lines(tmp_path / "missing.txt")


def test_dev_sample_is_seeded_and_spread_over_dev():
    """MERT's and early stopping's dev subsets: a seeded sample over the whole of dev, never its head."""
    from data.prepare import sample_indices
    a = sample_indices(981, 150)
    assert a == sample_indices(981, 150) and a == sorted(set(a)) and len(a) == 150
    assert a != list(range(150)) and sample_indices(981, 150, seed=7) != a
    # spread: every tenth of the dev set holds some of the sample (a head sample would fill one tenth)
    assert all(any(981 * k // 10 <= i < 981 * (k + 1) // 10 for i in a) for k in range(10))
    assert sample_indices(20, None) == list(range(20)) == sample_indices(20, 50)
    with pytest.raises(UserError):
        sample_indices(20, 0)



def test_dev_split_tune_and_select_are_disjoint_seeded_and_spread():
    """Dev is split once into tune (MERT, early stopping) and select (choices): disjoint, covering,
    seeded, not the first lines; the tune samples never touch the select part."""
    from data.prepare import split_indices
    tune, select = split_indices(981)
    assert len(select) == 490 and len(tune) == 491
    assert sorted(tune + select) == list(range(981)) and not set(tune) & set(select)
    assert (tune, select) == split_indices(981) and split_indices(981, seed=7) != (tune, select)
    assert select != list(range(490)) and min(select) < 50 and max(select) > 930   # spread over dev
    assert split_indices(1) == ([0], [])
    assert len(split_indices(2)[0]) == 1 and len(split_indices(2)[1]) == 1


def test_control_characters_separate_words_instead_of_merging_them():
    from data.preprocess import nfc, tokenize
    assert nfc("perro\x00come\x1bpan") == "perro come pan"
    assert tokenize([nfc("el perro\x00come")], "es", desc="t") == ["el perro come"]


def test_extra_test_sets_that_are_ignored_are_noted_with_a_count(tmp_path, capsys):
    from data import corpus
    for name in ("test-ood.es", "test-ood.en", "test-my-ood.es", "test-my-ood.en", "test-half.es"):
        (tmp_path / name).write_text("hola\n" if name.endswith(".es") else "hello\n")
    got = corpus._extra_tests(tmp_path, "es", "en")
    assert list(got) == ["ood"]
    err = capsys.readouterr().err
    assert "3 extra test file(s) ignored" in err and "test-half.es (no en side beside it)" in err
    assert "test-my-ood.es (its name may hold only letters, digits and _)" in err
