"""Word alignment (Koehn & Knowles 2017, challenge 5): how far does RNNsearch's attention agree
with the statistical word aligner?

For the test sentences whose attention the trainer saved (``attention.npz``, ~20 spread over
source lengths), the pair (source, RNNsearch output) is aligned by the PBSMT system's trained
aligner — forced alignment with its saved parameters, both directions, symmetrised as in training
(:func:`smt.align.forced_align`) — and the attention is compared with that alignment, on words
(BPE units are merged: a word's attention is the mean over its output units of the sum over its
source units). Over the output words that the aligner links to at least one source word:

* match — the share whose most-attended source word is one of its aligned source words;
* probability mass — the mean attention mass on its aligned source words;
* AER (Och & Ney 2003) of the attention-argmax links against the aligner's links (taken as sure).

Koehn & Knowles report match 44–64% and mass 34–50% on their systems (their Table 4).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np


def unit_words(units: Sequence[str]) -> list[int]:
    """Word index of every BPE unit (a unit ending in ``@@`` continues into the next)."""
    out, w = [], 0
    for u in units:
        out.append(w)
        if not u.endswith("@@"):
            w += 1
    return out


def words_of(units: Sequence[str]) -> list[str]:
    words, cur = [], ""
    for u in units:
        if u.endswith("@@"):
            cur += u[:-2]
        else:
            words.append(cur + u)
            cur = ""
    if cur:
        words.append(cur)
    return words


def word_attention(att: np.ndarray, src_units: Sequence[str], hyp_units: Sequence[str]) -> np.ndarray:
    """[T_units, S_units] attention → [T_words, S_words]: summed over a source word's units,
    averaged over an output word's units."""
    sw, tw = unit_words(src_units), unit_words(hyp_units)
    S, T = (sw[-1] + 1 if sw else 0), (tw[-1] + 1 if tw else 0)
    a = np.zeros((att.shape[0], S))
    for j, w in enumerate(sw[:att.shape[1]]):
        a[:, w] += att[:, j]
    out = np.zeros((T, S))
    n = np.zeros(T)
    for i, w in enumerate(tw[:att.shape[0]]):
        out[w] += a[i]
        n[w] += 1
    return out / np.maximum(n, 1)[:, None]


def agreement(att: np.ndarray, links: set[tuple[int, int]]) -> dict:
    """Match, probability mass and the AER of argmax links, for one sentence's word attention
    ``att`` [T, S] against aligner ``links`` {(source j, target i)}. Counts, so sentences can be summed."""
    aligned: dict[int, set[int]] = {}
    for j, i in links:
        aligned.setdefault(i, set()).add(j)
    words = [i for i in range(att.shape[0]) if i in aligned]
    match = sum(int(np.argmax(att[i])) in aligned[i] for i in words)
    mass = sum(float(att[i, sorted(aligned[i])].sum()) for i in words)
    argmax = {(int(np.argmax(att[i])), i) for i in range(att.shape[0]) if att.shape[1]}
    return {"words": len(words), "match": match, "mass": mass, "a": len(argmax), "s": len(links),
            "a_and_s": len(argmax & set(links))}


def summarise(counts: Sequence[dict]) -> dict:
    w = sum(c["words"] for c in counts)
    a, s, both = (sum(c[k] for c in counts) for k in ("a", "s", "a_and_s"))
    return {"sentences": len(counts), "output words": w,
            "match": round(sum(c["match"] for c in counts) / w, 4) if w else None,
            "probability mass": round(sum(c["mass"] for c in counts) / w, 4) if w else None,
            "AER": round(1 - 2 * both / (a + s), 4) if a + s else None}


def attention_vs_aligner(nmt_dir: Path, smt_dir: Path, entries: list) -> dict | None:
    """The summary for one RNNsearch run folder against the PBSMT aligner in ``smt_dir`` (``None``
    when either is missing). ``entries``: :func:`compare.report.read_attention`'s list."""
    from smt.align import AlignmentModel, forced_align  # the SMT side's aligner does the aligning

    models = smt_dir / "alignments" / "src2tgt.npz", smt_dir / "alignments" / "tgt2src.npz"
    if not entries or not all(m.is_file() for m in models):
        return None
    p1, p2 = AlignmentModel.load_params(models[0]), AlignmentModel.load_params(models[1])
    sents, atts = [], []
    for _line, att, src_units, hyp_units in entries:
        src_units = [u for u in src_units if u != "</s>"]
        hyp_units = [u for u in hyp_units if u != "</s>"]
        a = word_attention(np.asarray(att)[:len(hyp_units), :len(src_units)], src_units, hyp_units)
        src, hyp = words_of(src_units), words_of(hyp_units)
        if src and hyp:
            sents.append(([w.lower() for w in src], [w.lower() for w in hyp]))
            atts.append(a)
    if not sents:
        return None
    links = forced_align(p1, p2, [s for s, _ in sents], [h for _, h in sents])
    return summarise([agreement(a, set(map(tuple, lk))) for a, lk in zip(atts, links)])
