"""Unknown source words rewritten into known ones before decoding: compound splitting
(Koehn & Knight 2003, "Empirical methods for compound splitting", §3-4), hyphen splitting and
inflection back-off.

A phrase-based decoder can only copy a source word it has never seen. In a compounding language
many such words are new compounds of known words (German ``Ledertasche`` = ``Leder`` + ``Tasche``,
"leather bag") or known words with another inflectional ending (``gelegten`` / ``gelegt``). For
every source word **not in the training vocabulary** (known words are never touched), in this order:

1. *hyphen*: ``Plastik-Alligator`` → ``Plastik Alligator`` when every part is known or can itself
   be rewritten by 2-3;
2. *inflection*: a known word with the same stem, the stem being the word less one inflectional
   suffix of the language (``INFLECTIONS``, stems of at least ``MIN_STEM`` letters); the most
   frequent such form;
3. *compound*: Koehn & Knight's frequency-based splitting (their §3 "splitting options" with the
   filler letters ``s``/``es`` of §3.1, and §4's "geometric mean of the frequencies of the parts"):
   among all splits into at least two known parts of at least ``MIN_PART`` letters (case folded,
   since a German noun inside a compound is written in lower case) pick the split with the largest
   geometric mean of part frequencies; each part takes its most frequent casing in the training
   data. The word itself counts as an option with its own
   frequency (§4), which for an unknown word is that of its known casings, if any: a known word in
   another casing (*case*) is kept whole when more frequent than every split.

Unknown words that none of these rewrites stay as they are (the decoder copies them). Applied
only to source languages listed in ``INFLECTIONS`` (German, where it was measured by
``benchmarks/bench_unknown.py``: Multi30k de→en test2016 +0.5 BLEU, p 0.001, with each of six
tuned weight vectors; on the bible's Spanish, compound splitting changed nothing or cost 0.07
BLEU, so Spanish is not listed).

:meth:`UnknownWords.rewrite` returns the new tokens and, per new token, the position of the
source word it came from, so that word alignments of a translation can be mapped back to the
original sentence (:func:`map_links`).
"""
from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

from data.io import UserError, atomic_write, read_lines

#: inflectional suffixes per source language: the back-off (2.) strips one of them
INFLECTIONS: dict[str, tuple[str, ...]] = {
    "de": ("e", "en", "er", "es", "n", "s", "em", "ern", "ns"),
}
#: filler letters between compound parts (Koehn & Knight 2003 §3.1: "s" and "es" for German)
FILLERS: dict[str, tuple[str, ...]] = {"de": ("", "s", "es")}
MIN_PART = 3        # letters per compound part
MIN_COMPOUND = 6    # shorter unknown words are not split
MIN_STEM = 4        # letters per stem in the inflection back-off
#: version of the rules below: recorded in the stamps of the steps that rewrite, so that changed
#: rules redo MERT and decoding (raise it with any change to the rules or their constants)
VERSION = 1
#: the rewriting rules, as counted by :meth:`UnknownWords.rewrite_corpus`
RULES = ("hyphen", "inflection", "compound", "case")
#: the run-folder file holding the training source vocabulary (word TAB count, most frequent first)
VOCAB_FILE = "source-words.tsv"


def supported(lang: str) -> bool:
    """Whether unknown words of source language ``lang`` are rewritten (see the module docstring)."""
    return lang in INFLECTIONS


class UnknownWords:
    """The rewriting rules of the module docstring over one training vocabulary ``counts``."""

    def __init__(self, counts: Counter | dict, lang: str):
        if not supported(lang):
            raise UserError(f"unknown-word rewriting knows no rules for source language {lang!r} "
                            f"(known: {', '.join(sorted(INFLECTIONS))})")
        self.counts, self.lang = counts, lang
        self.suffixes, self.fillers = INFLECTIONS[lang], FILLERS[lang]
        self.folded: Counter = Counter()          # case-folded word -> count
        self.casing: dict[str, str] = {}          # case-folded word -> its most frequent spelling
        self.forms: dict[str, str] = {}           # stem -> the most frequent known word with that stem
        for w, c in counts.items():
            k = w.lower()
            self.folded[k] += c
            if c > counts.get(self.casing.get(k, ""), 0):
                self.casing[k] = w
            for stem in self._stems(w):
                if c > counts.get(self.forms.get(stem, ""), 0):
                    self.forms[stem] = w
        self.cache: dict[str, tuple[list[str], str | None]] = {}

    # --- building blocks ----------------------------------------------------------------------
    def _stems(self, w: str) -> Iterable[str]:
        """``w`` itself and ``w`` less each suffix of the language, all of at least MIN_STEM letters."""
        if len(w) >= MIN_STEM:
            yield w
        for s in self.suffixes:
            if w.endswith(s) and len(w) - len(s) >= MIN_STEM:
                yield w[:-len(s)]

    def back_off(self, w: str) -> str | None:
        """A known word sharing a stem with ``w`` (the first stem of :meth:`_stems` that has one)."""
        for stem in self._stems(w):
            form = self.forms.get(stem)
            if form is not None:
                return form
        return None

    def _splits(self, w: str) -> Iterable[list[str]]:
        """Every split of the case-folded ``w`` into known parts of >= MIN_PART letters, fillers
        between them (the unsplit word is the one-part split when known)."""
        if len(w) >= MIN_PART and self.folded.get(w):
            yield [w]
        for i in range(MIN_PART, len(w) - MIN_PART + 1):
            head, rest = w[:i], w[i:]
            if not self.folded.get(head):
                continue
            for f in self.fillers:
                if rest.startswith(f) and len(rest) - len(f) >= MIN_PART:
                    for tail in self._splits(rest[len(f):]):
                        yield [head, *tail]

    def split_compound(self, w: str) -> list[str] | None:
        """Koehn & Knight's best option for the unknown ``w``: a split into >= 2 known parts, or the
        word itself in a known casing (``spielplatz`` for a known ``Spielplatz``) when that is more
        frequent than the geometric mean of every split's parts (their §4); None if there is neither."""
        if len(w) < MIN_COMPOUND or not w.isalpha():
            return None
        best, best_score = None, -1.0
        for parts in self._splits(w.lower()):
            score = math.exp(sum(math.log(self.folded[x]) for x in parts) / len(parts))
            if score > best_score:                 # ties: the first split found (shortest head)
                best, best_score = parts, score
        if best is None:
            return None
        return [self.casing[x] for x in best]

    def word(self, w: str) -> tuple[list[str], str | None]:
        """(replacement tokens, rule) for one token; rule None: left as it is."""
        hit = self.cache.get(w)
        if hit is not None:
            return hit
        out: tuple[list[str], str | None] = ([w], None)
        if w not in self.counts:
            parts = [x for x in w.split("-") if x] if "-" in w.strip("-") else []
            if len(parts) > 1:
                pieces = [y for x in parts for y in self.word(x)[0]]
                if all(y in self.counts for y in pieces):
                    out = (pieces, "hyphen")
            if out[1] is None:
                form = self.back_off(w)
                if form is not None:
                    out = ([form], "inflection")
                else:
                    split = self.split_compound(w)
                    if split is not None:
                        out = (split, "compound" if len(split) > 1 else "case")
        self.cache[w] = out
        return out

    # --- sentences ----------------------------------------------------------------------------
    def rewrite(self, tokens: Sequence[str]) -> tuple[list[str], list[int]]:
        """(new tokens, origin): ``origin[k]`` is the position in ``tokens`` new token k came from."""
        new, origins, _ = self.rewrite_corpus([tokens])
        return new[0], origins[0]

    def rewrite_corpus(self, sentences: Sequence[Sequence[str]]) -> tuple[list[list[str]], list[list[int]], dict]:
        """:meth:`rewrite` for every sentence, with counts: rewritten tokens by rule, unknown left."""
        stats = Counter()
        new, origins = [], []
        for s in sentences:
            t: list[str] = []
            o: list[int] = []
            for i, w in enumerate(s):
                rep, rule = self.word(w)
                stats[rule or ("unknown" if w not in self.counts else "known")] += 1
                t.extend(rep)
                o.extend([i] * len(rep))
            new.append(t)
            origins.append(o)
        info = {"tokens": sum(stats.values()), "rewritten": sum(stats[rule] for rule in RULES), "unknown_left": stats["unknown"],
                **{rule: stats[rule] for rule in RULES},
                "sentences_changed": sum(len(a) != len(b) or list(a) != b for a, b in zip(sentences, new))}
        return new, origins, info

    # --- the run-folder file ------------------------------------------------------------------
    @classmethod
    def from_corpus(cls, path: Path, lang: str) -> "UnknownWords":
        return cls(Counter(w for line in read_lines(path) for w in line.split()), lang)

    def save(self, path: Path) -> None:
        """Write the vocabulary (``word TAB count``, most frequent first, then by word) atomically."""
        with atomic_write(path) as fh:
            fh.write(f"# lang\t{self.lang}\n")
            for w, c in sorted(self.counts.items(), key=lambda x: (-x[1], x[0])):
                fh.write(f"{w}\t{c}\n")

    @classmethod
    def load(cls, path: Path) -> "UnknownWords":
        counts: Counter = Counter()
        lang = None
        for n, line in enumerate(read_lines(path), 1):
            w, tab, c = line.partition("\t")
            if n == 1 and w == "# lang":
                lang = c
                continue
            if not tab or not c.isdigit():
                raise UserError(f"{path}:{n}: expected 'word<TAB>count', got {line[:60]!r}")
            counts[w] = int(c)
        if lang is None:
            raise UserError(f"{path}:1: expected the header '# lang<TAB><language>'")
        return cls(counts, lang)


def for_run(run_dir: Path) -> UnknownWords | None:
    """The rewriting a trained system was tuned with (its ``source-words.tsv``), else None."""
    path = Path(run_dir) / VOCAB_FILE
    return UnknownWords.load(path) if path.is_file() else None


def map_links(links: Iterable[tuple[int, int]], origin: Sequence[int]) -> list[tuple[int, int]]:
    """Word links (i over rewritten source positions, j) mapped back to the original positions."""
    return sorted({(origin[i], j) for i, j in links})
