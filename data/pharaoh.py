"""The Pharaoh word-alignment format — the one reader and writer the aligner, the phrase extractor,
AER, the pipeline and the report share.

One sentence pair a line; a link ``i-j`` joins source position ``i`` and target position ``j``
(0-based), links separated by spaces; an empty line is an empty alignment::

    0-0 1-2 2-1
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from data.io import UserError, read_lines

Link = tuple[int, int]


def parse(line: str, where: str = "input", n_f: int | None = None, n_e: int | None = None,
          what: str = "in this sentence pair") -> list[Link]:
    """``"0-0 1-2"`` → ``[(0, 0), (1, 2)]`` (in the line's order). With ``n_f``/``n_e``, positions must
    fall inside a source/target of that many tokens (``what`` says of what, in the error).
    :class:`UserError` naming ``where`` (e.g. ``file:line``) on a bad link."""
    links: list[Link] = []
    for tok in line.split():
        i, sep, j = tok.partition("-")
        if not sep or not i.isdigit() or not j.isdigit():
            raise UserError(f"{where}: bad alignment link {tok!r} (expected i-j with 0-based integers)")
        i, j = int(i), int(j)
        if n_f is not None and i >= n_f:
            raise UserError(f"{where}: alignment point {tok}: source position {i} out of range ({n_f} source tokens {what})")
        if n_e is not None and j >= n_e:
            raise UserError(f"{where}: alignment point {tok}: target position {j} out of range ({n_e} target tokens {what})")
        links.append((i, j))
    return links


def read(path: str | Path) -> list[list[Link]]:
    """One list of links per line of a Pharaoh file (empty lines are empty alignments)."""
    lines = read_lines(path, allow_empty_lines=True, allow_empty_file=False)
    return [parse(line, f"{path}:{n}") for n, line in enumerate(lines, 1)]


def format(links: Iterable[Link]) -> str:  # noqa: A001 (the module's namespace: pharaoh.format)
    """``[(0, 0), (1, 2)]`` → ``"0-0 1-2"`` (in the given order)."""
    return " ".join(f"{i}-{j}" for i, j in links)
