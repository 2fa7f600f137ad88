"""Prepared data: the corpus preprocessed once, cached under ``build/<corpus>/<src>-<tgt>/``.

Layout of a prepared directory (all UTF-8, one sentence a line)::

    train.<src> train.<tgt>      tokenised + truecased + cleaned (clean-corpus-n) training pairs
    dev.<l>  test.<l>            tokenised + truecased, not cleaned (every line is kept)
    dev.ref.<tgt> test.ref.<tgt> raw references (NFC): what BLEU is computed against
    dev.raw.<l> test.raw.<l>     raw NFC text of both sides
    select.*                     dev's *select* part (Prepared.dev_split; made on demand): what
                                 settings are chosen on; the rest of dev (*tune*) is what MERT and
                                 NMT early stopping fit on; test is never used to choose
    truecase.<l>                 truecasing models (trained on the training side only)
    train-n<N>.<l>               deterministic subsets for learning curves (made on demand)
    manifest.json                corpus hash, raw file hashes, settings, counts, drops, statistics

The directory is rebuilt when the corpus hash or the settings change, and is written into a
temporary directory that is renamed into place when complete.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from data import corpus as corpus_mod
from data import runfolder
from data import preprocess as pp
from data.io import HelpFormatter, add_alias, UserError, atomic_write, check_folder, check_line_counts, check_tokens, no_progress, read_json, read_lines, umask, write_json, write_lines
from data.profiles import DEV_SELECT_FRACTION, DEV_SPLIT, PROFILES, SEED

#: Bump when preprocessing changes so that cached builds are redone.
PREPARE_VERSION = 1
SETTINGS = {"normalize": "NFC", "tokenizer": "sacremoses", "escape": True, "truecase": True,
            "clean_max_tokens": pp.CLEAN_MAX_TOKENS, "clean_max_ratio": pp.CLEAN_MAX_RATIO,
            "version": PREPARE_VERSION}


def build_root() -> Path:
    return check_folder(os.environ.get("MT_BUILD_DIR", corpus_mod.ROOT / "build"), "MT_BUILD_DIR")


def runs_root() -> Path:
    return check_folder(os.environ.get("MT_RUNS_DIR", corpus_mod.ROOT / "runs"), "MT_RUNS_DIR")


#: A language code: letters first, then letters, digits, '-' or '_' (es, en, pt-BR, zh_Hant); no path
LANG_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,15}")


def check_lang(code: str, flag: str) -> str:
    """:class:`UserError` unless ``code`` is a language code (it names files and folders: no '/' or '..')."""
    if not LANG_CODE.fullmatch(code):
        raise UserError(f"{flag} {code!r}: not a language code (letters, then letters, digits, '-' or '_'; e.g. es, pt-BR)")
    return code


@dataclass
class Prepared:
    """A prepared corpus (see the module docstring for the files)."""

    name: str
    src: str
    tgt: str
    dir: Path
    manifest: dict = field(repr=False)

    def lang(self, side: str) -> str:
        if side not in ("src", "tgt"):
            raise ValueError(side)
        return self.src if side == "src" else self.tgt

    def file(self, split: str, side: str) -> Path:
        """Tokenised, truecased text of ``split`` (train/dev/test), ``side`` (src/tgt)."""
        return self.dir / f"{split}.{self.lang(side)}"

    def ref(self, split: str) -> Path:
        """Raw NFC target-side reference of dev or test (what BLEU is computed against)."""
        return self.dir / f"{split}.ref.{self.tgt}"

    def raw(self, split: str, side: str) -> Path:
        return self.dir / f"{split}.raw.{self.lang(side)}"

    @property
    def hash(self) -> str:
        return self.manifest["hash"]

    def train_files(self, n: int | None = None) -> tuple[Path, Path]:
        """Training files, or a deterministic subset of ``n`` pairs (seeded sample, corpus order)."""
        total = self.manifest["counts"]["train"]
        if n is not None and n > total:
            print(f"note: --train-size {n:,} is more than the {total:,} training pairs: using all of them", file=sys.stderr)
        if n is None or n >= total:
            return self.file("train", "src"), self.file("train", "tgt")
        if n <= 0:
            raise UserError(f"--train-size must be positive (got {n})")
        out = (self.dir / f"train-n{n}.{self.src}", self.dir / f"train-n{n}.{self.tgt}")
        if not all(p.is_file() for p in out):
            keep = sorted(random.Random(SEED).sample(range(total), n))
            for side, path in zip(("src", "tgt"), out):
                lines = read_lines(self.file("train", side))
                write_lines(path, (lines[i] for i in keep))
        return out

    def dev_split(self) -> tuple[list[int], list[int]]:
        """Dev split once, with a seed, into a *tune* part and a *select* part (ascending indices).

        ``tune`` is what a trainer fits inside its own run (MERT's weights, NMT's early stopping and
        checkpoint choice); ``select`` is what people and benches choose between runs on (profile
        settings, recipes, "keep this option"); test is decoded once per finished system and never
        consulted to choose (``../shared/DESIGN.md``, "Evidence"). The split is a seeded permutation
        of all of dev (never its first lines: the bible's dev runs from Genesis to Revelation):
        ``floor(DEV_SELECT_FRACTION * n)`` sentences to select, the rest (at least one) to tune."""
        return split_indices(self.manifest["counts"]["dev"])

    def dev_sample(self, n: int | None) -> list[int]:
        """Indices (into dev, ascending) of a seeded random sample of ``n`` sentences of dev's *tune*
        part (:meth:`dev_split`; all of it when ``n`` is ``None`` or too large): what MERT tunes on and
        what NMT early-stops on. Never the select part, never the first ``n`` lines."""
        tune = self.dev_split()[0]
        return [tune[i] for i in sample_indices(len(tune), n)]

    def select_files(self) -> None:
        """Write ``select.<src>``, ``select.<tgt>``, ``select.ref.<tgt>``, ``select.raw.<l>`` (dev's select
        part, :meth:`dev_split`) beside dev once, so that ``"select"`` is a split like ``"test"`` for
        every reader (``file``, ``ref``, ``raw``)."""
        idx = self.dev_split()[1]
        want = {self.file("select", "src"): self.file("dev", "src"), self.file("select", "tgt"): self.file("dev", "tgt"),
                self.ref("select"): self.ref("dev"), self.raw("select", "src"): self.raw("dev", "src"),
                self.raw("select", "tgt"): self.raw("dev", "tgt")}
        for out, src in want.items():
            if not out.is_file() and src.is_file():
                lines = read_lines(src)
                write_lines(out, (lines[i] for i in idx))

    def split_info(self) -> dict:
        """What ``scores.json`` records of the dev split."""
        tune, select = self.dev_split()
        return {"tune": len(tune), "select": len(select), **DEV_SPLIT}

    def postprocess(self, lines) -> list[str]:
        """Target-side tokenised, truecased lines → detokenised, recased text (for test.hyp)."""
        return pp.Postprocessor(self.tgt)(lines)

    def copy_truecasers(self, run_dir: Path) -> None:
        """Copy both truecasing models into a system's run folder (``truecase.<lang>``,
        data/runfolder.py), so that the folder preprocesses raw text by itself."""
        for lang in (self.src, self.tgt):
            model, dest = self.dir / f"truecase.{lang}", Path(run_dir) / runfolder.TRUECASER.format(lang=lang)
            data = model.read_bytes()
            if not dest.is_file() or dest.read_bytes() != data:
                with atomic_write(dest, "wb") as fh:
                    fh.write(data)

    def runs_base(self, runs_dir: str | os.PathLike | None = None) -> Path:
        """``<runs>/<corpus>/<src>-<tgt>/``: where this corpus' system folders are (``runs_dir``
        default: :func:`runs_root`). The one place the layout is spelled (ARCHITECTURE.md)."""
        return Path(runs_dir if runs_dir is not None else runs_root()) / self.name / f"{self.src}-{self.tgt}"

    def run_dir(self, system: str) -> Path:
        """A system's run folder (created)."""
        d = self.runs_base() / system
        d.mkdir(parents=True, exist_ok=True)
        return d


def split_indices(total: int, fraction: float = DEV_SELECT_FRACTION, seed: int = SEED) -> tuple[list[int], list[int]]:
    """``range(total)`` split by a seeded permutation into (tune, select), each ascending;
    ``floor(fraction * total)`` go to select, the rest (at least one when ``total`` >= 1) to tune."""
    order = list(range(total))
    random.Random(seed).shuffle(order)
    k = min(int(fraction * total), max(total - 1, 0))
    return sorted(order[k:]), sorted(order[:k])


def sample_indices(total: int, n: int | None, seed: int = SEED) -> list[int]:
    """``n`` of ``range(total)`` drawn with a generator seeded by ``seed``, ascending (all if ``n`` is
    ``None`` or ``n >= total``)."""
    if n is None or n >= total:
        return list(range(total))
    if n <= 0:
        raise UserError(f"a sample needs a positive size (got {n})")
    return sorted(random.Random(seed).sample(range(total), n))


def _stats(lines: list[str]) -> dict:
    lengths = np.array([len(line.split()) for line in lines]) if lines else np.zeros(1, int)
    vocab = {tok for line in lines for tok in line.split()}
    p10, p50, p90 = (int(x) for x in np.percentile(lengths, [10, 50, 90]))
    return {"tokens": int(lengths.sum()), "vocab": len(vocab), "p10": p10, "p50": p50, "p90": p90,
            "max": int(lengths.max())}


def prepare(corpus: str = "bible", src: str | None = None, tgt: str | None = None, *, quiet: bool = False) -> Prepared:
    """Prepare (or load from cache) ``corpus`` for ``src``→``tgt``."""
    default = corpus_mod.DEFAULT_PAIRS.get(corpus, (None, None))
    src, tgt = src or default[0], tgt or default[1]
    if corpus not in corpus_mod.DEFAULT_PAIRS and corpus not in corpus_mod.BUILTIN_DIRS and not Path(corpus).is_dir():
        raise UserError(f"corpus {corpus!r}: not a built-in corpus ({', '.join(corpus_mod.DEFAULT_PAIRS)}) "
                        f"nor an existing directory")
    if not src or not tgt:
        raise UserError(f"corpus {corpus}: give --src and --tgt languages (SRC= and TGT= for make)")
    check_lang(src, "--src")
    check_lang(tgt, "--tgt")
    c = corpus_mod.resolve(corpus, src, tgt)
    corpus_hash = c.hash()
    out = build_root() / c.name / f"{src}-{tgt}"
    manifest_path = out / "manifest.json"
    if manifest_path.is_file():
        manifest = read_json(manifest_path)
        if manifest.get("hash") == corpus_hash and manifest.get("settings") == SETTINGS:
            return Prepared(c.name, src, tgt, out, _prepare_extras(c, out, manifest))
        _refuse_name_collision(corpus, c, manifest, out)
    created = [d for d in (out.parent.parent, out.parent) if not d.exists()]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        with no_progress() if quiet else contextlib.nullcontext():
            manifest = _build(c, tmp, corpus_hash)
        tmp.chmod(0o777 & ~umask())  # mkdtemp makes it 0700: give it the mode any new folder gets
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for d in reversed(created):  # a failed first preparation leaves no empty build/<name>/
            with contextlib.suppress(OSError):
                d.rmdir()
        raise
    return Prepared(c.name, src, tgt, out, _prepare_extras(c, out, manifest))


def _prepare_extras(c: corpus_mod.Corpus, out: Path, manifest: dict) -> dict:
    """Prepare the corpus' extra test sets (``test-<name>``) like test — NFC, tokenised, truecased
    with the models trained on train — beside the rest; the manifest lists them under
    ``extra_tests`` (name -> sentences). Redone only when their files change (``extras_hash``);
    they never change the corpus hash, so no system is retrained for them."""
    h = c.extras_hash()
    if manifest.get("extras_hash") == h:
        return manifest
    counts = {}
    for name, (s_path, t_path) in sorted(c.extra_tests.items()):
        s, t = read_lines(s_path, allow_empty_lines=False), read_lines(t_path, allow_empty_lines=False)
        check_line_counts(s_path, s, t_path, t)
        s, t = [pp.nfc(x) for x in s], [pp.nfc(x) for x in t]
        split = f"test-{name}"
        check_tokens(s_path, [x.split() for x in s])
        for lang, lines in ((c.src, s), (c.tgt, t)):
            tc = pp.load_truecaser(out / f"truecase.{lang}")
            write_lines(out / f"{split}.{lang}", pp.truecase(tc, pp.tokenize(lines, lang, split)))
            write_lines(out / f"{split}.raw.{lang}", lines)
        write_lines(out / f"{split}.ref.{c.tgt}", t)
        counts[name] = len(s)
    manifest = {**manifest, "extra_tests": counts, "extras_hash": h}
    write_json(out / "manifest.json", manifest)
    return manifest


def _refuse_name_collision(corpus: str, c, manifest: dict, out: Path) -> None:
    """Two corpus directories with the same folder name would share ``build/<name>`` and
    ``runs/<name>`` (one's results silently replacing the other's): refused with one line."""
    if corpus in corpus_mod.DEFAULT_PAIRS or not manifest.get("files"):
        return
    old = Path(manifest["files"]["train"][0]).parent
    new = Path(c.files["train"][0]).parent
    if old.resolve() != new.resolve():
        raise UserError(f"{out}: holds the corpus {c.name!r} prepared from {old}, not {new}; two corpus directories "
                        f"with the same name would share build/ and runs/ folders — rename one (or remove {out} "
                        f"and its runs to replace it)")


def _build(c: corpus_mod.Corpus, out: Path, corpus_hash: str) -> dict:
    src, tgt = c.src, c.tgt
    raw = {}
    for split in corpus_mod.SPLITS:
        s_path, t_path = c.files[split]
        # Train may contain empty lines (cleaning drops and counts them); dev/test may not.
        allow = split == "train"
        s = read_lines(s_path, allow_empty_lines=allow)
        t = read_lines(t_path, allow_empty_lines=allow)
        check_line_counts(s_path, s, t_path, t)
        raw[split] = ([pp.nfc(x) for x in s], [pp.nfc(x) for x in t])
    tok = {split: (pp.tokenize(s, src, f"{split}"), pp.tokenize(t, tgt, f"{split}")) for split, (s, t) in raw.items()}
    for split in ("dev", "test"):  # the one length policy (data.io.MAX_TOKENS); train is cleaned below
        for side, lines in zip(c.files[split], tok[split]):
            check_tokens(side, [line.split() for line in lines])
    keep, dropped = pp.clean(*tok["train"])
    tc = {lang: pp.train_truecaser([tok["train"][i][k] for k in keep], out / f"truecase.{lang}")
          for i, lang in enumerate((src, tgt))}
    stats, counts = {}, {}
    for split in corpus_mod.SPLITS:
        s, t = tok[split]
        if split == "train":
            s, t = [s[k] for k in keep], [t[k] for k in keep]
        s, t = pp.truecase(tc[src], s), pp.truecase(tc[tgt], t)
        write_lines(out / f"{split}.{src}", s)
        write_lines(out / f"{split}.{tgt}", t)
        if split != "train":
            write_lines(out / f"{split}.ref.{tgt}", raw[split][1])
            write_lines(out / f"{split}.raw.{src}", raw[split][0])
            write_lines(out / f"{split}.raw.{tgt}", raw[split][1])
        counts[split] = len(s)
        stats[split] = {"src": _stats(s), "tgt": _stats(t)}
    if counts["train"] == 0:
        raise UserError(f"{c.files['train'][0]}: no training pair survives cleaning ({dropped})")
    manifest = {
        "corpus": c.name, "src": src, "tgt": tgt, "hash": corpus_hash, "settings": SETTINGS,
        "files": {split: [str(p) for p in c.files[split]] for split in corpus_mod.SPLITS},
        "raw_counts": {split: len(raw[split][0]) for split in corpus_mod.SPLITS},
        "counts": counts, "dropped": dropped, "stats": stats,
    }
    write_json(out / "manifest.json", manifest)
    return manifest


def table(p: Prepared) -> str:
    """The `make data` table: pairs, tokens, vocabulary, length percentiles, drops."""
    m = p.manifest
    head = f"{'split':6s} {'pairs':>8s} {'side':4s} {'tokens':>10s} {'vocab':>8s} {'p10':>4s} {'p50':>4s} {'p90':>4s} {'max':>4s}"
    rows = [f"corpus {p.name} {p.src}-{p.tgt}  hash {m['hash'][:12]}  prepared in {p.dir}", head, "-" * len(head)]
    for split in corpus_mod.SPLITS:
        for side in ("src", "tgt"):
            st = m["stats"][split][side]
            rows.append(f"{split if side == 'src' else '':6s} {m['counts'][split] if side == 'src' else '':>8} "
                        f"{p.lang(side):4s} {st['tokens']:>10,} {st['vocab']:>8,} {st['p10']:>4} {st['p50']:>4} {st['p90']:>4} {st['max']:>4}")
    d = m["dropped"]
    rows.append(f"cleaning (train, clean-corpus-n max {SETTINGS['clean_max_tokens']} tokens, ratio {SETTINGS['clean_max_ratio']:g}): "
                f"{m['raw_counts']['train']:,} pairs → {m['counts']['train']:,}; dropped {sum(d.values()):,} "
                f"(empty {d['empty']}, too long {d['too_long']}, ratio {d['ratio']})")
    return "\n".join(rows)


def profile_of(argv: Sequence[str] | None) -> str:
    """The ``--profile`` of a command line, read before the full parser is built, so that --help
    prints the defaults that come from that profile as values."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--profile", default="quick")
    got = pre.parse_known_args(list(sys.argv[1:] if argv is None else argv))[0].profile
    return got if got in PROFILES else "quick"


def add_corpus_args(parser: argparse.ArgumentParser, profile: bool = True) -> None:
    """The corpus selection every command shares: --corpus --src --tgt (and --profile, except for
    ``data prepare``: the preparation is the same for every profile)."""
    parser.add_argument("--corpus", default=os.environ.get("CORPUS") or "bible",
                        help="built-in corpus (bible, multi30k) or a directory of {train,dev,test}.{lang}[.gz] (default: bible)")
    parser.add_argument("--src", default=None, help="source language (default: es for bible, de for multi30k)")
    parser.add_argument("--tgt", default=None, help="target language (default: en)")
    if profile:
        parser.add_argument("--profile", default="quick", choices=sorted(PROFILES),
                            help="sizes and settings, see data/profiles.py (default: quick)")


def prepared_from_args(args: argparse.Namespace) -> Prepared:
    return prepare(args.corpus, args.src, args.tgt)


def main(argv=None) -> int:
    """``python -m data prepare``: prepare a corpus (NFC, Moses tokenisation + truecasing, cleaning) and
    print its table. The preparation is the same for every profile."""
    parser = argparse.ArgumentParser(prog="python -m data prepare", description=" ".join(main.__doc__.split("``:")[1].split()),
                                     formatter_class=HelpFormatter)
    add_corpus_args(parser, profile=False)
    add_alias(parser, "--profile", "profile")   # accepted and ignored: the same for every profile
    args = parser.parse_args(argv)
    print(table(prepare(args.corpus, args.src, args.tgt)))
    return 0
