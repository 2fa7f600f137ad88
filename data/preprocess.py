"""Preprocessing, one implementation for SMT and NMT, and its inverse.

The Moses pipeline (Koehn et al. 2007) with sacremoses: Unicode NFC normalisation, Moses
tokenisation (special characters escaped as Moses does, e.g. ``&apos;``, so ``|`` never clashes with
phrase-table separators), truecasing with a model trained on the training side only; and for
outputs the inverse: detruecasing and detokenisation. Training data is cleaned like Moses'
``clean-corpus-n.perl``: pairs with an empty side, a side longer than ``max_tokens`` or a length
ratio above ``max_ratio`` are dropped, and every drop is counted by reason.
"""
from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path
from typing import Iterable, Sequence

from sacremoses import MosesDetokenizer, MosesDetruecaser, MosesTokenizer, MosesTruecaser

from data.io import progress, umask

CLEAN_MAX_TOKENS = 80
CLEAN_MAX_RATIO = 9.0


#: C0/C1 control characters (NUL, ESC, …; not tab/newline, which are whitespace anyway): Moses'
#: tokeniser deletes them, which would merge the words around them (``perro\0come`` → ``perrocome``);
#: here they separate words instead.
CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")


def nfc(line: str) -> str:
    """NFC-normalise, turn control characters into spaces (:data:`CONTROL_RE`), collapse whitespace."""
    return " ".join(CONTROL_RE.sub(" ", unicodedata.normalize("NFC", line)).split())


def tokenize(lines: Sequence[str], lang: str, desc: str = "tokenise") -> list[str]:
    """Moses-tokenise NFC-normalised lines (escaped); returns space-joined token strings."""
    tok = MosesTokenizer(lang=lang)
    return [tok.tokenize(nfc(line), escape=True, return_str=True)
            for line in progress(lines, desc=f"{desc} {lang}", total=len(lines))]


def train_truecaser(tokenized: Sequence[str], model_path: Path) -> MosesTruecaser:
    """Train a Moses truecaser on tokenised training sentences; save it in Moses' format."""
    tc = MosesTruecaser()
    tc.train([line.split() for line in tokenized], possibly_use_first_token=False, save_to=str(model_path))
    os.chmod(model_path, 0o666 & ~umask())   # sacremoses writes it 0600; the usual mode, like every artifact
    return tc


def load_truecaser(model_path: Path) -> MosesTruecaser:
    return MosesTruecaser(load_from=str(model_path))


def truecase(tc: MosesTruecaser, tokenized: Iterable[str]) -> list[str]:
    return [tc.truecase(line, return_str=True) for line in tokenized]


def clean(src: Sequence[str], tgt: Sequence[str], max_tokens: int = CLEAN_MAX_TOKENS,
          max_ratio: float = CLEAN_MAX_RATIO) -> tuple[list[int], dict[str, int]]:
    """Moses ``clean-corpus-n``: indices of the pairs to keep and the count dropped per reason."""
    keep, dropped = [], {"empty": 0, "too_long": 0, "ratio": 0}
    for i, (s, t) in enumerate(zip(src, tgt)):
        ls, lt = len(s.split()), len(t.split())
        if ls == 0 or lt == 0:
            dropped["empty"] += 1
        elif ls > max_tokens or lt > max_tokens:
            dropped["too_long"] += 1
        elif ls / lt > max_ratio or lt / ls > max_ratio:
            dropped["ratio"] += 1
        else:
            keep.append(i)
    return keep, dropped


class Preprocessor:
    """Raw source text → the tokens a system reads, exactly as :func:`data.prepare._build` made the
    prepared test set: NFC (:func:`nfc`), Moses tokenisation (escaped), truecasing with the model
    trained on the training side (``truecase.<lang>``). One sentence a line; the forward twin of
    :class:`Postprocessor` (used by ``compare translate`` / ``compare serve``)."""

    def __init__(self, lang: str, truecaser_path: Path):
        self.tok = MosesTokenizer(lang=lang)
        self.tc = load_truecaser(truecaser_path)

    def __call__(self, lines: Iterable[str]) -> list[str]:
        return [self.tc.truecase(self.tok.tokenize(nfc(line), escape=True, return_str=True), return_str=True)
                for line in lines]


class Postprocessor:
    """The inverse of preprocessing for one language: detruecase, then Moses-detokenise (unescape)."""

    def __init__(self, lang: str):
        self.detok = MosesDetokenizer(lang=lang)
        self.detrue = MosesDetruecaser()

    def __call__(self, lines: Iterable[str]) -> list[str]:
        return [self.detok.detokenize(self.detrue.detruecase(line), unescape=True) if line.strip() else ""
                for line in lines]
