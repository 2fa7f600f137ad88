"""Unknown source words copied vs rewritten into known ones (smt/unknown.py) in the PBSMT system
-> ``runs/bench/unknown.md``.

Multi30k de→en only (the rewriting has rules for German alone). ``python -m smt train`` (quick
profile, msd-bidirectional-fe reordering) trains the system that copies unknown words
(``--unknown-words none``, ``pbsmt-msd``) and the one that rewrites them in dev and test
(``--unknown-words split``, ``pbsmt-msd-uw``: MERT re-tuned on the rewritten dev), in
``runs/bench/unknown/`` (``--runs-dir`` elsewhere); trained systems are reused.

Two comparisons, each with the paired-bootstrap p-value (1,000 resamples):

* *at fixed weights*: each system's tuned weights decode test once with and once without the
  rewriting — the rewriting's own effect, free of MERT's noise;
* *end to end*: the two systems as trained (the rewriting plus its re-tuning), with
  ``--mert-seeds`` replications (the helpers of ``bench_reordering.py``) and mean ± sd.

Usage: ``python benchmarks/bench_unknown.py [--processes P] [--mert-seeds S …] [--runs-dir D]``
(``--quick``, as ``make bench --quick`` passes it: skipped, there is no bible version).
"""
from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_reordering import parse_args, publish, seed_list, spread_row, spread_table, train  # noqa: E402
from compare.beam import pbsmt_decoder  # noqa: E402
from data.io import read_lines, read_tokenized  # noqa: E402
from data.prepare import prepare  # noqa: E402
from data.profiles import get  # noqa: E402
from evaluation.score import score, sentence_stats  # noqa: E402
from evaluation.significance import paired_bootstrap  # noqa: E402
from smt.unknown import UnknownWords  # noqa: E402

RUNS = ROOT / "runs" / "bench" / "unknown"
CORPUS, SRC, TGT = "multi30k", "de", "en"
MSD = ["--reordering", "msd-bidirectional-fe"]
SYSTEMS = {"copied": ("pbsmt-msd", [*MSD, "--unknown-words", "none"]),
           "rewritten": ("pbsmt-msd-uw", [*MSD, "--unknown-words", "split"])}


def decode(folder: Path, src: list[list[str]], p, processes: int) -> list[str]:
    nb = pbsmt_decoder(folder, get("quick", "smt"), src).translate_corpus(src, nbest=1, processes=processes,
                                                                           desc=f"{folder.name} test")
    return p.postprocess([" ".join(t[0].tokens) if t else "" for t in nb])


def main() -> int:
    args, runs, seeds, _ = parse_args(__doc__, RUNS, corpora=False)
    if args.quick:                     # make bench --quick: the bible only, and this bench has no bible
        print("bench_unknown: Multi30k only, skipped under --quick")
        return 0
    t0 = time.time()
    p = prepare(CORPUS, SRC, TGT, quiet=True)
    refs = read_lines(p.ref("test"))
    src = read_tokenized(p.file("test", "src"))
    fixed, end, per_seed, info = [], [], [], None
    for seed in seed_list(seeds):
        res = {w: train(runs, CORPUS, SRC, TGT, *SYSTEMS[w], args.processes, seed=seed) for w in SYSTEMS}
        words = UnknownWords.load(res["rewritten"]["folder"] / "source-words.tsv")
        rewritten, _, info = words.rewrite_corpus(src)
        hyps = {w: read_lines(res[w]["folder"] / "test.hyp", allow_empty_lines=True) for w in SYSTEMS}
        # the other input at each system's own weights
        other = {"copied": decode(res["copied"]["folder"], rewritten, p, args.processes),
                 "rewritten": decode(res["rewritten"]["folder"], src, p, args.processes)}
        for w in SYSTEMS:
            with_rw, without = (other[w], hyps[w]) if w == "copied" else (hyps[w], other[w])
            for lc in (False, True):
                t = paired_bootstrap(sentence_stats(with_rw, refs, lowercase=lc), sentence_stats(without, refs, lowercase=lc))
                fixed.append(f"| {CORPUS} | {seed} | {SYSTEMS[w][0]} | {'lc' if lc else 'cased'} | {t.bleu_b:.2f} | "
                             f"{t.bleu_a:.2f} | {t.delta:+.2f} | {t.p_value:.4f} |")
        for lc in (False, True):
            t = paired_bootstrap(sentence_stats(hyps["rewritten"], refs, lowercase=lc),
                                 sentence_stats(hyps["copied"], refs, lowercase=lc))
            end.append(f"| {CORPUS} | {seed} | {'lc' if lc else 'cased'} | {t.bleu_b:.2f} | {t.bleu_a:.2f} | "
                       f"{t.delta:+.2f} | {t.p_value:.4f} | {res['copied']['bleu_dev_tuned']['bleu']:.2f} / "
                       f"{res['rewritten']['bleu_dev_tuned']['bleu']:.2f} |")
        per_seed.append({w: score(hyps[w], refs) for w in SYSTEMS})
    spread = [spread_row(CORPUS, SYSTEMS[w][0], [s[w]["bleu"] for s in per_seed], [s[w]["bleu_lc"] for s in per_seed])
              for w in (SYSTEMS if len(per_seed) > 1 else ())]
    cpu = platform.processor() or platform.machine()
    header = ["## Unknown source words: copied vs rewritten (smt/unknown.py)\n",
              f"Multi30k de→en test2016, quick profile with msd-bidirectional-fe reordering, {args.processes} decoder "
              f"process(es), {os.cpu_count()} cores ({cpu}). Test source: {info['tokens']:,} tokens, rewritten "
              f"{info['hyphen']:,} hyphenated / {info['inflection']:,} inflected / {info['compound']:,} compounds / {info['case']:,} recased in "
              f"{info['sentences_changed']:,} sentences; {info['unknown_left']:,} unknown tokens left.\n",
              "### At fixed weights (each system's tuned weights, test with and without the rewriting)\n",
              "| corpus | MERT seed | weights of | case | copied | rewritten | Δ | p |", "|---|---:|---|---|---:|---:|---:|---:|"]
    footer = ["### End to end (each system as trained and tuned)\n",
              "| corpus | MERT seed | case | copied | rewritten | Δ | p | dev (copied / rewritten) |",
              "|---|---:|---|---:|---:|---:|---:|---|", *end, "",
              *spread_table(seed_list(seeds), spread, "system"), "",
              f"{time.time() - t0:.0f} s in all (systems reused when trained)."]
    publish("unknown", [CORPUS], fixed, header, footer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
