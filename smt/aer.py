"""Alignment error rate (Och & Ney 2003, §5, eq. 31) of Pharaoh alignments against gold links.

With A the hypothesis links, S the sure and P the possible gold links (P ⊇ S; sure links missing
from the possible file are added to it), summed over the corpus:

    precision = |A ∩ P| / |A|      recall = |A ∩ S| / |S|
    AER       = 1 − (|A ∩ S| + |A ∩ P|) / (|A| + |S|)

Pairs are compared exactly as written (``i-j``): the Hansards gold ``trial.en-fr.*.pharaoh`` has
``i`` English and ``j`` French, so align with ``python -m smt align --src trial.en --tgt trial.fr``
(English as the source) to match it.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Sequence

from data import pharaoh
from data.io import UserError

Links = set[tuple[int, int]]


def parse_pharaoh(line: str, where: str = "input") -> Links:
    """``"0-0 1-2"`` -> {(0, 0), (1, 2)} (:func:`data.pharaoh.parse` as a set)."""
    return set(pharaoh.parse(line, where))


def read_pharaoh(path: str | Path) -> list[Links]:
    """One set of links per line of a Pharaoh file (empty lines are empty alignments)."""
    return [set(links) for links in pharaoh.read(path)]


def aer(sure: Sequence[Links], possible: Sequence[Links], hyp: Sequence[Links]) -> dict:
    """Corpus-level AER, precision and recall, plus the counts they come from."""
    if not len(sure) == len(possible) == len(hyp):
        raise UserError(f"line counts differ: sure {len(sure):,}, possible {len(possible):,}, hypothesis {len(hyp):,}")
    n_a = n_s = a_and_s = a_and_p = 0
    for s, p, a in zip(sure, possible, hyp):
        p = p | s
        n_a += len(a)
        n_s += len(s)
        a_and_s += len(a & s)
        a_and_p += len(a & p)
    if n_a + n_s == 0:
        raise UserError("no links at all in the gold sure set and the hypothesis: AER is undefined")
    return {
        "aer": 1.0 - (a_and_s + a_and_p) / (n_a + n_s),
        "precision": a_and_p / n_a if n_a else 0.0,
        "recall": a_and_s / n_s if n_s else 0.0,
        "hyp_links": n_a, "sure_links": n_s, "hyp_and_sure": a_and_s, "hyp_and_possible": a_and_p,
        "sentences": len(hyp),
    }


def aer_files(sure: str | Path, possible: str | Path, hyp: str | Path) -> dict:
    s, p, a = read_pharaoh(sure), read_pharaoh(possible), read_pharaoh(hyp)
    if not len(s) == len(p) == len(a):
        raise UserError(f"line counts differ: {sure} has {len(s):,}, {possible} has {len(p):,}, {hyp} has {len(a):,}")
    return aer(s, p, a)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m smt aer",
        description="Alignment error rate, precision and recall (Och & Ney 2003) of a Pharaoh "
                    "alignment file against gold sure/possible links, compared as written (i-j). "
                    "For the Hansards gold (i English, j French) align with --src en --tgt fr.")
    parser.add_argument("--sure", required=True, help="gold sure links, Pharaoh format, one line per pair")
    parser.add_argument("--possible", required=True, help="gold possible links (sure links are added to them)")
    parser.add_argument("--hyp", required=True, help="hypothesis alignment, e.g. from `python -m smt align`")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    r = aer_files(args.sure, args.possible, args.hyp)
    if args.json:
        print(json.dumps(r, indent=2, sort_keys=True))
    else:
        print(f"AER\t{r['aer']:.4f}\nprecision\t{r['precision']:.4f}\nrecall\t{r['recall']:.4f}")
    return 0
