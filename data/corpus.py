"""The corpus contract: a directory of ``{train,dev,test}.{lang}`` files (UTF-8, one sentence a line,
optionally ``.gz``), selected by ``CORPUS=<name or directory> SRC=<lang> TGT=<lang>``.

Built-in corpora:

* ``bible`` (default, es→en): embedded in ``data/corpora/bible`` (see its README and
  ``data/bible_extract.py``), needs no network.
* ``multi30k`` (de/en/fr): Multi30k Task 1 (Elliott et al. 2016), raw files from the dataset's
  official repository; ``val`` is our ``dev`` and ``test_2016_flickr`` our ``test``. Read from a
  local mirror directory when one is configured (``MT_MIRROR=/dir`` holding ``multi30k/``; by
  default ``../shared/data`` beside the project when it exists), otherwise downloaded once into
  ``~/.cache/mt-suite/multi30k``.

Anything else must be an existing directory following the contract.
"""
from __future__ import annotations

import hashlib
import os
import re
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from data.io import UserError, atomic_write, sha256_file

ROOT = Path(__file__).resolve().parents[1]
SPLITS = ("train", "dev", "test")
BUILTIN_DIRS = {"bible": ROOT / "data" / "corpora" / "bible"}
DEFAULT_PAIRS = {"bible": ("es", "en"), "multi30k": ("de", "en")}

MULTI30K_URL = "https://github.com/multi30k/dataset/raw/master/data/task1/raw/{name}.{lang}.gz"
MULTI30K_FILES = {"train": "train", "dev": "val", "test": "test_2016_flickr"}
MULTI30K_LANGS = ("de", "en", "fr")
#: optional extra test sets: name in the study -> file stem (test_2017_mscoco: COCO captions, out of domain)
MULTI30K_EXTRA = {"mscoco": "test_2017_mscoco"}


@dataclass(frozen=True)
class Corpus:
    """A resolved corpus: its name and, per split, the (source, target) raw files."""

    name: str
    src: str
    tgt: str
    files: dict  # split -> (Path, Path)
    #: optional extra test sets (e.g. out of domain): name -> (Path, Path), from ``test-<name>.{src,tgt}``;
    #: not part of :meth:`hash` (they do not change what is trained), hashed by :meth:`extras_hash`
    extra_tests: dict = field(default_factory=dict)

    def hash(self) -> str:
        """SHA-256 over the SHA-256 of every raw file, in split order (the corpus identity)."""
        h = hashlib.sha256()
        for split in SPLITS:
            for path in self.files[split]:
                h.update(f"{split}:{path.name}:{sha256_file(path)}\n".encode())
        return h.hexdigest()

    def extras_hash(self) -> str:
        h = hashlib.sha256()
        for name in sorted(self.extra_tests):
            for path in self.extra_tests[name]:
                h.update(f"{name}:{path.name}:{sha256_file(path)}\n".encode())
        return h.hexdigest()


def _extra_tests(directory: Path, src: str, tgt: str) -> dict:
    """``test-<name>.{src,tgt}[.gz]`` pairs of a corpus directory (both sides needed)."""
    out, ignored = {}, {}
    for path in sorted(directory.glob("test-*")):
        m = re.fullmatch(rf"test-(.+)\.({re.escape(src)}|{re.escape(tgt)})(\.gz)?", path.name)
        if m is None:
            continue
        name = m[1]
        if not re.fullmatch(r"[A-Za-z0-9_]+", name):
            ignored[path.name] = "its name may hold only letters, digits and _"
            continue
        if name in out:
            continue
        s, t = _find(directory, f"test-{name}.{src}"), _find(directory, f"test-{name}.{tgt}")
        if s is not None and t is not None:
            out[name] = (s, t)
        else:
            ignored[path.name] = f"no {tgt if s is not None else src} side beside it"
    key = (str(directory), src, tgt)
    if ignored and key not in _NOTED:
        _NOTED.add(key)
        print(f"note: {directory}: {len(ignored)} extra test file(s) ignored: " +
              "; ".join(f"{n} ({why})" for n, why in ignored.items()), file=sys.stderr)
    return out


_NOTED: set = set()   # corpus folders whose ignored extra test files were already noted (once a process)


def mirror_dir() -> Path | None:
    """The configured local mirror of downloadable corpora, or None."""
    env = os.environ.get("MT_MIRROR")
    if env:
        return Path(env)
    default = ROOT.parent / "shared" / "data"
    return default if default.is_dir() else None


def _find(directory: Path, stem: str) -> Path | None:
    """``stem`` or ``stem.gz`` in ``directory``; both present is ambiguous (:class:`UserError`), and a
    directory of that name is not a file."""
    found = [c for c in (directory / stem, directory / f"{stem}.gz") if c.exists()]
    if len(found) == 2:
        raise UserError(f"{directory}: both {stem} and {stem}.gz exist; keep one (which one is meant is ambiguous)")
    if found and found[0].is_dir():
        raise UserError(f"{found[0]}: is a directory, not a corpus file")
    return found[0] if found else None


def _multi30k(src: str, tgt: str) -> Corpus:
    for lang in (src, tgt):
        if lang not in MULTI30K_LANGS:
            raise UserError(f"multi30k has no language {lang!r} (it has {', '.join(MULTI30K_LANGS)})")
    mirror = mirror_dir()
    if mirror is not None and (mirror / "multi30k").is_dir():
        base = mirror / "multi30k"
    else:
        base = Path(os.environ.get("MT_CACHE", Path.home() / ".cache" / "mt-suite")) / "multi30k"
    files = {}
    for split, name in MULTI30K_FILES.items():
        pair = []
        for lang in (src, tgt):
            path = base / f"{name}.{lang}.gz"
            if not path.is_file():
                _download(MULTI30K_URL.format(name=name, lang=lang), path)
            pair.append(path)
        files[split] = tuple(pair)
    extra = {}
    for name, stem in MULTI30K_EXTRA.items():  # optional: the official out-of-domain test set
        pair = [base / f"{stem}.{lang}.gz" for lang in (src, tgt)]
        try:
            for path, lang in zip(pair, (src, tgt)):
                if not path.is_file():
                    _download(MULTI30K_URL.format(name=stem, lang=lang), path)
            extra[name] = tuple(pair)
        except UserError as exc:
            print(f"note: multi30k {stem} not available ({exc}); no out-of-domain test set", file=sys.stderr)
    return Corpus("multi30k", src, tgt, files, extra)


def _download(url: str, path: Path) -> None:
    print(f"downloading {url} -> {path}", flush=True)
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, atomic_write(path, "wb") as out:
            out.write(resp.read())
    except OSError as exc:
        raise UserError(f"cannot download {url} ({exc}); set MT_MIRROR to a directory holding multi30k/") from None


def resolve(corpus: str, src: str, tgt: str) -> Corpus:
    """Resolve a corpus name or directory to its raw files (:class:`UserError` if impossible)."""
    if src == tgt:
        raise UserError(f"source and target language are both {src!r}")
    if corpus == "multi30k":
        return _multi30k(src, tgt)
    if corpus in BUILTIN_DIRS:
        directory, name = BUILTIN_DIRS[corpus], corpus
    else:
        directory = Path(corpus)
        if not directory.is_dir():
            raise UserError(f"corpus {corpus!r}: not a built-in corpus ({', '.join([*BUILTIN_DIRS, 'multi30k'])}) "
                            f"nor an existing directory")
        name = directory.resolve().name
    files = {}
    for split in SPLITS:
        pair = []
        for lang in (src, tgt):
            path = _find(directory, f"{split}.{lang}")
            if path is None:
                raise UserError(f"{directory}/{split}.{lang}: no such file (a corpus needs "
                                f"{{train,dev,test}}.{{{src},{tgt}}}[.gz])")
            pair.append(path)
        files[split] = tuple(pair)
    return Corpus(name, src, tgt, files, _extra_tests(directory, src, tgt))
