"""The Moses table formats — read here, for every layer that needs them: the decoder and the PBSMT
pipeline (smt/), NMT's dictionary-based UNK replacement (``nmt translate --lex-table``).

* Phrase table (written by :mod:`smt.phrases`)::

      f ||| e ||| φ(f|e) lex(f|e) φ(e|f) lex(e|f) [||| alignment [||| counts]]

* Lexicalised reordering table, msd-bidirectional-fe (written by :mod:`smt.phrases`, model in
  :mod:`smt.reordering`)::

      f ||| e ||| p_prev(m) p_prev(s) p_prev(d) p_next(m) p_next(s) p_next(d)

Both may be gzipped; both can be filtered to the n-grams of the sentences about to be decoded.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple, Sequence

import numpy as np

from data import pharaoh
from data.io import READ_ERRORS, UserError, open_binary, read_error

#: Index of φ(e|f) in a phrase-table line's scores (options are ranked by it).
PHI_EF = 2


class PhraseOption(NamedTuple):
    """One translation option of a source phrase, as read from a phrase table."""
    e: tuple[str, ...]            #: target phrase
    scores: np.ndarray            #: float64[4]: φ(f|e), lex(f|e), φ(e|f), lex(e|f) (probabilities)
    alignment: tuple[tuple[int, int], ...]  #: within-phrase (source, target) word links


def source_ngrams(sentences: Iterable[Sequence[str]], max_n: int = 20) -> set[tuple[str, ...]]:
    """Every n-gram (n <= max_n) of the sentences: the source phrases worth loading for them."""
    grams: set[tuple[str, ...]] = set()
    for toks in sentences:
        toks = tuple(toks)
        for s in range(len(toks)):
            for t in range(s + 1, min(len(toks), s + max_n) + 1):
                grams.add(toks[s:t])
    return grams


def read_phrase_table(path, table_limit: int | None = None,
                      sources: Iterable[Sequence[str]] | None = None) -> dict[tuple[str, ...], list[PhraseOption]]:
    """Read a Moses text phrase table (``.gz`` ok) into ``{f: [PhraseOption(e, scores, alignment), …]}``.

    Each source phrase's options are sorted by φ(e|f) (best first; ties keep file order) and,
    with ``table_limit``, cut to the best ``table_limit``. ``sources`` (token lists, e.g. the
    sentences about to be decoded) keeps only source phrases that occur in them, like Moses'
    ``filter-model-given-input.pl`` — much less memory and time for a big table (source phrases
    are matched as written, tokens separated by single spaces, as this module writes them). Lines need at least the
    three fields ``f ||| e ||| 4 scores``; the alignment and counts fields are optional.
    Raises :class:`UserError` naming ``file:line`` on a malformed line (wrong field count,
    not 4 scores, a score outside (0, 1], a bad or out-of-phrase alignment point, bad UTF-8).
    """
    path = Path(path)
    if table_limit is not None and table_limit < 0:
        raise UserError(f"table limit must be >= 0 (got {table_limit})")
    table: dict[tuple[str, ...], list[PhraseOption]] = defaultdict(list)
    for n, fields in _table_lines(path, sources, "phrase table"):
        if not 3 <= len(fields) <= 5:
            raise UserError(f"{path}:{n}: expected 'f ||| e ||| scores [||| alignment [||| counts]]', "
                            f"found {len(fields)} field(s)")
        f = tuple(fields[0].split())
        e = tuple(fields[1].split())
        if not f or not e:
            raise UserError(f"{path}:{n}: empty {'source' if not f else 'target'} phrase")
        try:
            scores = np.array([float(x) for x in fields[2].split()], dtype=np.float64)
        except ValueError:
            raise UserError(f"{path}:{n}: scores must be numbers, got {fields[2]!r}") from None
        if scores.shape != (4,):
            raise UserError(f"{path}:{n}: expected 4 scores (φ(f|e) lex(f|e) φ(e|f) lex(e|f)), got {scores.size}")
        if not np.all((scores > 0) & (scores <= 1 + 1e-6)):
            raise UserError(f"{path}:{n}: scores must be probabilities in (0, 1], got {fields[2]!r}")
        alignment: tuple[tuple[int, int], ...] = ()
        if len(fields) >= 4 and fields[3].strip():
            alignment = _parse_points(fields[3], len(f), len(e), path, n, "in the phrase pair")
        table[f].append(PhraseOption(e, scores, alignment))
    for f, options in table.items():
        options.sort(key=lambda o: -o.scores[PHI_EF])
        if table_limit:
            del options[table_limit:]
    return dict(table)


def read_reordering_table(path, sources: Iterable[Sequence[str]] | None = None) -> dict[tuple, np.ndarray]:
    """Read a Moses lexicalised reordering table (``f ||| e ||| 6 probabilities``, msd-bidirectional-fe,
    :mod:`smt.reordering`) into ``{(f, e): float64[6]}``; ``sources`` filters as in
    :func:`read_phrase_table`. :class:`UserError` naming ``file:line`` on a malformed line."""
    path = Path(path)
    table: dict[tuple, np.ndarray] = {}
    for n, fields in _table_lines(path, sources, "reordering table"):
        if len(fields) != 3:
            raise UserError(f"{path}:{n}: expected 'f ||| e ||| 6 probabilities', found {len(fields)} field(s)")
        try:
            p = np.array([float(x) for x in fields[2].split()], dtype=np.float64)
        except ValueError:
            raise UserError(f"{path}:{n}: scores must be numbers, got {fields[2]!r}") from None
        if p.shape != (6,) or not np.all((p > 0) & (p <= 1 + 1e-6)):
            raise UserError(f"{path}:{n}: expected 6 probabilities in (0, 1] (msd-bidirectional-fe), got {fields[2]!r}")
        table[(tuple(fields[0].split()), tuple(fields[1].split()))] = p
    return table


def _table_lines(path: Path, sources: Iterable[Sequence[str]] | None, what: str) -> Iterator[tuple[int, list[str]]]:
    """``(line number, ' ||| '-separated fields)`` of a Moses table (``.gz`` ok) — with ``sources``, only
    the lines whose source phrase is an n-gram of them (tested on the raw bytes, before any decoding:
    most lines, when filtering). :class:`UserError` naming ``file:line`` for bad UTF-8 or an empty
    line, and for a file with no line at all ("empty <what>")."""
    keep = {" ".join(g).encode("utf-8") for g in source_ngrams(sources)} if sources is not None else None
    n = 0
    try:
        with open_binary(path) as fh:
            for n, raw in enumerate(fh, 1):
                cut = raw.find(b" ||| ")
                if cut < 0 and not raw.strip():
                    raise UserError(f"{path}:{n}: empty line")
                if cut < 0:   # every line, kept or not: an LM, a JSON file or '|||' without spaces is no table
                    raise UserError(f"{path}:{n}: no ' ||| ' separator: not a Moses {what} "
                                    f"(fields are separated by ' ||| ', with spaces)")
                if b"|||" in raw[:cut]:
                    raise UserError(f"{path}:{n}: '|||' without spaces around it in the source phrase: "
                                    f"fields are separated by ' ||| '")
                if keep is not None and raw[:cut] not in keep:
                    continue
                try:
                    line = raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError as exc:
                    raise UserError(f"{path}:{n}: invalid UTF-8 (byte {exc.start})") from None
                if not line.strip():
                    raise UserError(f"{path}:{n}: empty line")
                yield n, line.split(" ||| ")
    except READ_ERRORS as exc:
        raise read_error(path, exc) from None
    if n == 0:
        raise UserError(f"{path}: empty {what}")


def _parse_points(text: str, n_f: int, n_e: int, path, line_no: int, what: str) -> tuple[tuple[int, int], ...]:
    """Parse ``"0-0 1-2"`` into ((0, 0), (1, 2)), checking 0 <= i < n_f and 0 <= j < n_e (:mod:`data.pharaoh`)."""
    return tuple(pharaoh.parse(text, f"{path}:{line_no}", n_f, n_e, what))
