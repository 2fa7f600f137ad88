"""The suite's one scorer: sacreBLEU BLEU and chrF, cased and lowercased, always with signatures.

Used by ``smt`` (scores.json, dev BLEU), ``nmt`` (dev BLEU for early stopping, scores.json) and
``compare`` (the report). Hypotheses and references are detokenised, cased text, one per line —
the standard sacreBLEU setting (13a tokenisation inside BLEU).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Sequence
import numpy as np

import sacrebleu
from sacrebleu.metrics import BLEU, CHRF

from data.io import UNK_WORD, UserError, check_line_counts, read_lines, write_json

UNK = UNK_WORD


def bleu(hyps: Sequence[str], refs: Sequence[str], *, lowercase: bool = False):
    """Corpus BLEU (sacreBLEU defaults: 13a, exp smoothing); returns the BLEUScore object."""
    _check(hyps, refs)
    return BLEU(lowercase=lowercase).corpus_score(list(hyps), [list(refs)])


def score(hyps: Sequence[str], refs: Sequence[str]) -> dict:
    """BLEU and chrF, cased and lowercased, each with its sacreBLEU signature.

    Returns ``{"bleu": float, "bleu_signature": str, "bleu_lc": …, "chrf": …, "chrf_lc": …,
    "bleu_detail": str, "n": int, "unk_rate": float}``.
    """
    _check(hyps, refs)
    hyps, refs = list(hyps), [list(refs)]
    out: dict = {"n": len(hyps)}
    for suffix, lc in (("", False), ("_lc", True)):
        b = BLEU(lowercase=lc)
        bs = b.corpus_score(hyps, refs)
        out[f"bleu{suffix}"] = round(bs.score, 2)
        out[f"bleu{suffix}_signature"] = str(b.get_signature())
        out[f"bleu{suffix}_detail"] = str(bs)
        c = CHRF(lowercase=lc)
        cs = c.corpus_score(hyps, refs)
        out[f"chrf{suffix}"] = round(cs.score, 2)
        out[f"chrf{suffix}_signature"] = str(c.get_signature())
    out["unk_rate"] = unk_rate(hyps)
    return out


def unk_rate(lines: Sequence[str]) -> float:
    """Fraction of whitespace tokens that are the unknown-word symbol ``<unk>``."""
    tokens = [t for line in lines for t in line.split()]
    return round(sum(t == UNK for t in tokens) / max(1, len(tokens)), 5)


def score_files(hyp_path: str | Path, ref_path: str | Path) -> dict:
    """:func:`score` on two files (validated by :func:`data.io.read_lines`)."""
    hyps = read_lines(hyp_path, allow_empty_file=True)
    refs = read_lines(ref_path)
    check_line_counts(hyp_path, hyps, f"the reference {ref_path}", refs, "")
    return score(hyps, refs)


def write_scores(system_dir: str | Path, ref_path: str | Path, **meta) -> dict:
    """Score ``system_dir/test.hyp`` against ``ref_path`` and write ``system_dir/scores.json``.

    ``meta`` (corpus, corpus hash, settings, seed, times, …) is stored beside the scores together
    with the sacreBLEU version.
    """
    system_dir = Path(system_dir)
    result = score_files(system_dir / "test.hyp", ref_path)
    result.update(meta)
    result["sacrebleu_version"] = sacrebleu.__version__
    result["scored_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    write_json(system_dir / "scores.json", result)
    return result


def _check(hyps: Sequence[str], refs: Sequence[str]) -> None:
    if len(hyps) != len(refs):
        raise UserError(f"{len(hyps):,} hypotheses but {len(refs):,} references")


# --- per-sentence sufficient statistics (used by evaluation/buckets.py and evaluation/significance.py) ---

#: Columns of a sentence-statistics row, as sacreBLEU's BLEU computes them.
STAT_COLUMNS = ("hyp_len", "ref_len", "correct1", "correct2", "correct3", "correct4",
                "total1", "total2", "total3", "total4")


def sentence_stats(hyps: Sequence[str], refs: Sequence[str], *, lowercase: bool = False):
    """BLEU sufficient statistics of every sentence: an int64 array ``[n, 10]`` (:data:`STAT_COLUMNS`).

    Papineni et al. (2002) corpus BLEU is a function of the *sums* of these rows (clipped n-gram
    matches, n-gram totals, hypothesis length and closest reference length), so BLEU of any subset
    of sentences (a length bucket, a bootstrap resample) is :func:`bleu_from_stats` of the sum of
    its rows — exactly ``BLEU().corpus_score`` on that subset. Uses sacreBLEU's own extractor (13a
    tokenisation, same preprocessing) so the numbers are sacreBLEU's.
    """
    _check(hyps, refs)
    if not hyps:
        return np.zeros((0, len(STAT_COLUMNS)), dtype=np.int64)
    metric = BLEU(lowercase=lowercase)
    rows = metric._extract_corpus_statistics(list(hyps), [list(refs)])
    return np.asarray(rows, dtype=np.int64).reshape(len(hyps), len(STAT_COLUMNS))


def bleu_from_stats(stats):
    """Corpus BLEU (0–100) from summed statistics ``[..., 10]``; vectorised over leading axes.

    Re-implements ``sacrebleu.BLEU.compute_bleu`` with its defaults (4-grams, ``exp`` smoothing
    = NIST mteval-v13a, no effective order): BLEU = BP · exp(¼ Σₙ log pₙ) with
    BP = exp(1 − r/c) if c < r (Papineni et al. 2002, §2.3); an order with no match gets
    pₙ = 1 / (2ᵏ · totalₙ), k counting the zero-match orders so far; no match at all gives 0.
    """
    s = np.asarray(stats, dtype=np.float64)
    sys_len, ref_len = s[..., 0], s[..., 1]
    correct, total = s[..., 2:6], s[..., 6:10]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        bp = np.where(sys_len < ref_len, np.exp(1.0 - ref_len / sys_len), 1.0)
        bp = np.where((sys_len < ref_len) & (sys_len <= 0), 0.0, bp)
        zero = correct == 0
        k = np.cumsum(zero, axis=-1)
        prec = np.where(zero, 100.0 / (np.power(2.0, k) * total), 100.0 * correct / total)
        logp = np.where(total > 0, np.log(np.where(total > 0, prec, 1.0)), -9999999999.0)
        score = bp * np.exp(logp.mean(axis=-1))
    score = np.where(correct.sum(axis=-1) > 0, score, 0.0)
    return score if score.ndim else float(score)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m compare score --hyp F --ref F``: print the scores JSON of a detokenised hypothesis file."""

    ap = argparse.ArgumentParser(prog="python -m compare score",
                                 description="Score a detokenised hypothesis file against a raw reference "
                                             "(sacreBLEU BLEU and chrF, cased and lowercased, with signatures).")
    ap.add_argument("--hyp", required=True, help="hypotheses, one detokenised sentence a line")
    ap.add_argument("--ref", required=True, help="reference, one raw sentence a line (same line count)")
    args = ap.parse_args(argv)
    print(json.dumps(score_files(args.hyp, args.ref), indent=2, sort_keys=True, ensure_ascii=False))
    return 0
