"""Benchmark smt/phrases.py and smt/lm.py -> ``runs/bench/phrases.md``.

1. Phrase extraction + scoring on the default corpus's training pairs (bible es-en via
   ``data.prepare``), word-aligned once with ``smt.align`` (HMM, grow-diag-final-and; cached in
   ``runs/bench/phrases-data/``): wall/CPU seconds per stage, sentences/s, extracted
   instances, table size, peak memory.
2. Extraction against NLTK's ``nltk.translate.phrase_based.phrase_extraction`` (the same
   Koehn Fig. 5.5 algorithm) on a sample: speed and whether both give the same phrase pairs.
3. KenLM: ``build_lm`` on the training target side (order 5), the model's n-gram counts,
   dev perplexity, and State-API scoring speed (tokens/s) as the decoder uses it.

Usage: ``.venv/bin/python benchmarks/bench_phrases.py [--quick]`` (``--quick``: 5,000 pairs).
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MT_NO_PROGRESS", "1")

from data.io import read_tokenized, write_lines  # noqa: E402
from smt.lm import build_lm, load_lm, score_incremental  # noqa: E402
from smt.phrases import (PhraseCounts, _no_gc, extract_phrases, read_aligned_corpus,  # noqa: E402
                         score_phrases, write_table)

OUT = ROOT / "runs" / "bench" / "phrases.md"
CACHE = ROOT / "runs" / "bench" / "phrases-data"


class Clock:
    def __enter__(self):
        self.w, self.c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.w, time.process_time() - self.c


def data(n: int | None):
    from data.prepare import prepare
    p = prepare("bible", "es", "en")
    src, tgt = p.train_files(n)
    CACHE.mkdir(parents=True, exist_ok=True)
    ali = CACHE / f"train-{p.hash[:12]}{'' if n is None else f'-n{n}'}.gdfa"   # tied to the data version
    if not ali.exists():
        from smt.align import align_corpus
        print(f"aligning {src} (cached in {ali}) ...", file=sys.stderr)
        links = align_corpus(read_tokenized(src), read_tokenized(tgt), model="hmm")
        write_lines(ali, (" ".join(f"{i}-{j}" for i, j in sorted(a)) for a in links))
    return p, src, tgt, ali


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="5,000 training pairs instead of all")
    ap.add_argument("--nltk-sentences", type=int, default=300)
    args = ap.parse_args()
    p, src, tgt, ali = data(5000 if args.quick else None)
    f_sents, e_sents, aligns = read_aligned_corpus(src, tgt, ali)
    n_tok = sum(map(len, f_sents))
    rows = [f"# Phrase table and LM ({time.strftime('%Y-%m-%d %H:%M')})\n",
            f"Data: {p.name} {p.src}-{p.tgt} train, {len(f_sents):,} pairs, {n_tok / len(f_sents):.1f} source tokens/pair, "
            "HMM + grow-diag-final-and alignment; max phrase length 7, table limit 20. One process.\n",
            "| stage | wall s | CPU s | rate | result |", "|---|---|---|---|---|"]
    with _no_gc():
        with Clock() as c1:
            counts = PhraseCounts(7)
            for f, e, a in zip(f_sents, e_sents, aligns):
                counts.add(f, e, a)
        rows.append(f"| extract + count | {c1.wall:.1f} | {c1.cpu:.1f} | {len(f_sents) / c1.wall:,.0f} sent/s | "
                    f"{counts.instances:,} phrase-pair instances, {len(counts.f_phrases):,} source phrases |")
        with Clock() as c2:
            table = score_phrases(counts, 20)
        rows.append(f"| score + prune (vectorised) | {c2.wall:.1f} | {c2.cpu:.1f} | | {len(table):,} pairs kept |")
        out = CACHE / "phrase-table.gz"
        with Clock() as c3:
            write_table(table, out)
        rows.append(f"| write Moses table (gzip) | {c3.wall:.1f} | {c3.cpu:.1f} | {len(table) / c3.wall:,.0f} lines/s | "
                    f"{out.stat().st_size / 2**20:.1f} MiB |")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    rows.append(f"| **total** | {c1.wall + c2.wall + c3.wall:.1f} | {c1.cpu + c2.cpu + c3.cpu:.1f} | | peak RSS {peak:.2f} GiB |")

    # NLTK's phrase_extraction on a sample (it loops e-side spans too; its alignment is (e, f))
    from nltk.translate.phrase_based import phrase_extraction
    k = min(args.nltk_sentences, len(f_sents))
    with Clock() as cn:
        nltk_sets = [phrase_extraction(" ".join(e), " ".join(f), [(j, i) for i, j in a], 7)
                     for f, e, a in zip(f_sents[:k], e_sents[:k], aligns[:k])]
    with Clock() as co:
        ours = [extract_phrases(f, e, a, 7) for f, e, a in zip(f_sents[:k], e_sents[:k], aligns[:k])]
    same = ours_only = nltk_only = nltk_inconsistent = nltk_too_long = 0
    for o, s, a in zip(ours, nltk_sets, aligns):
        o = {((es, ee), (fs, fe)) for (fs, fe), (es, ee) in o}
        s = {(x[0], x[1]) for x in s}
        same += o == s
        ours_only += len(o - s)
        nltk_only += len(s - o)
        for (es, ee), (fs, fe) in s - o:
            if any((fs <= i < fe) != (es <= j < ee) for i, j in a):
                nltk_inconsistent += 1
            elif fe - fs > 7 or ee - es > 7:
                nltk_too_long += 1
    rows += ["", f"Extraction only, first {k} pairs: ours {co.wall:.2f} s ({k / co.wall:,.0f} sent/s), "
             f"NLTK phrase_extraction {cn.wall:.2f} s ({k / cn.wall:,.0f} sent/s), {cn.wall / co.wall:.0f}x; "
             f"identical phrase-pair sets on {same}/{k} pairs; {ours_only} pairs only ours, {nltk_only} only NLTK's, "
             f"of these {nltk_inconsistent} violate consistency (NLTK cuts a too-long source span to the maximum "
             f"length instead of dropping it) and {nltk_too_long} exceed 7 words (it extends over unaligned words "
             "past the limit). With no length limit the sets agree."]

    # KenLM
    with Clock() as cl:
        info = build_lm(tgt, CACHE / "lm.binary", order=5, verbose=False)
    model = load_lm(CACHE / "lm.binary")
    dev = [" ".join(s) for s in read_tokenized(p.file("dev", "tgt"))]
    words = sum(len(s.split()) + 1 for s in dev)
    ppl = 10 ** (-sum(model.score(s) for s in dev) / words)
    with Clock() as cq:
        for s in dev:
            score_incremental(model, s.split())
    counts_txt = ", ".join(f"{n}-grams {c:,}" for n, c in info["ngram_counts"].items())
    rows += ["", "| KenLM | wall s | result |", "|---|---|---|",
             f"| lmplz -o {info['order']} + build_binary | {cl.wall:.1f} | {counts_txt}; "
             f"discount fallback: {info['discount_fallback']} |",
             f"| dev perplexity ({len(dev):,} sentences, incl. </s>) | | {ppl:.1f} |",
             f"| State-API scoring (score_incremental) | {cq.wall:.2f} | {words / cq.wall:,.0f} tokens/s |"]
    text = "\n".join(rows) + "\n"
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
