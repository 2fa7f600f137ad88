"""Helpers the tests share (imported by test modules; fixtures are in conftest.py): the repository
root, the ``../shared/data`` folder, reading the head of a gzip file, a tiny real corpus from
Multi30k (``make_tiny_corpus``, needs ``../shared``) and one from the committed, public-domain
bible (``make_committed_corpus``, runs anywhere), and the Hansards trial set with its gold links
(``hansards``, ``hansards_gold``)."""
from __future__ import annotations

import gzip
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: ``../shared/data`` beside the repository (CI has it too): Multi30k and the Hansards trial set
SHARED = ROOT.parent / "shared" / "data"
HANSARDS = SHARED / "hansards-trial"


def hansards(n_train: int | None = None) -> tuple[list[list[str]], list[list[str]]]:
    """Lowercased English and French token lists: the first ``n_train`` training pairs (all by
    default), then the 37 trial pairs that the gold links are for (the last 37)."""
    def read(path: Path) -> list[list[str]]:
        with (gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")) as fh:
            return [line.lower().split() for line in fh]
    en, fr = read(HANSARDS / "train.en.gz")[:n_train], read(HANSARDS / "train.fr.gz")[:n_train]
    return en + read(HANSARDS / "trial.en"), fr + read(HANSARDS / "trial.fr")


def hansards_gold() -> tuple[list, list]:
    """The trial pairs' Sure and Possible links (i English, j French)."""
    from smt.aer import read_pharaoh
    return read_pharaoh(HANSARDS / "trial.en-fr.sure.pharaoh"), read_pharaoh(HANSARDS / "trial.en-fr.possible.pharaoh")


def head_gz(path: Path, n: int, skip: int = 0) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        lines = [line.rstrip("\n") for line in fh]
    return lines[skip:skip + n]


def make_tiny_corpus(directory: Path, n_train: int = 200, n_dev: int = 30, n_test: int = 30,
                     src: str = "de", tgt: str = "en", n_ood: int = 0) -> Path:
    """A small real corpus from Multi30k: {train,dev,test}.{src,tgt} in ``directory`` (and, with
    ``n_ood``, the out-of-domain COCO captions as the extra test set ``test-coco``)."""
    directory.mkdir(parents=True, exist_ok=True)
    m = SHARED / "multi30k"
    for lang in (src, tgt):
        (directory / f"train.{lang}").write_text("\n".join(head_gz(m / f"train.{lang}.gz", n_train)) + "\n", encoding="utf-8")
        (directory / f"dev.{lang}").write_text("\n".join(head_gz(m / f"val.{lang}.gz", n_dev)) + "\n", encoding="utf-8")
        (directory / f"test.{lang}").write_text("\n".join(head_gz(m / f"test_2016_flickr.{lang}.gz", n_test)) + "\n", encoding="utf-8")
        if n_ood:
            (directory / f"test-coco.{lang}").write_text("\n".join(head_gz(m / f"test_2017_mscoco.{lang}.gz", n_ood)) + "\n",
                                                         encoding="utf-8")
    return directory


#: The embedded bible es→en (public domain, committed with the project: data/corpora/bible).
BIBLE = ROOT / "data" / "corpora" / "bible"


def make_committed_corpus(directory: Path, n_train: int = 200, n_dev: int = 30, n_test: int = 30) -> Path:
    """A small es→en corpus from the committed bible — for tests that need a corpus but not
    Multi30k's content: {train,dev,test}.{es,en} in ``directory`` (the first lines of each split)."""
    directory.mkdir(parents=True, exist_ok=True)
    for lang in ("es", "en"):
        for split, n in (("train", n_train), ("dev", n_dev), ("test", n_test)):
            (directory / f"{split}.{lang}").write_text("\n".join(head_gz(BIBLE / f"{split}.{lang}.gz", n)) + "\n",
                                                       encoding="utf-8")
    return directory


def train_tiny_study(root: Path) -> tuple[Path, Path]:
    """The three main systems of a tiny study on the committed bible (es→en; ~15 s on 2 cores): PBSMT with
    msd reordering, rnnenc, and rnnsearch on BPE units (the tiny profile, 20 updates: untrained but
    deterministic). Needs MT_BUILD_DIR / MT_RUNS_DIR pointing into ``root`` (the caller's job);
    returns (corpus directory, runs/<corpus>/es-en)."""
    from nmt import train
    from smt import pipeline
    corpus = make_committed_corpus(root / "bib", n_train=300, n_dev=20, n_test=30)
    base = ["--corpus", str(corpus), "--src", "es", "--tgt", "en", "--profile", "tiny"]
    pipeline.main([*base, "--processes", "1", "--reordering", "msd-bidirectional-fe", "--restarts", "2"])
    for arch, extra in (("rnnenc", []), ("rnnsearch", ["--bpe-merges", "200"])):
        assert train.main([*base, "--threads", "1", "--arch", arch, "--max-steps", "20", *extra]) == 0
    return corpus, Path(os.environ["MT_RUNS_DIR"]) / "bib" / "es-en"
