"""Phrase-table smoothing (smt/phrases.py): relative frequencies vs Good-Turing vs Kneser-Ney
discounting of φ (Foster, Kuhn & Johnson 2006) in the PBSMT system -> ``runs/bench/smoothing.md``.

For each corpus, ``python -m smt train`` (the quick profile; Multi30k with msd-bidirectional-fe
reordering, as its best system) trains the unsmoothed system and the same system with
``--phrase-smoothing good-turing`` / ``kneser-ney`` in ``runs/bench/smoothing/`` (``--runs-dir``
elsewhere); trained systems are reused, and the smoothed ones reuse the unsmoothed system's
alignment and LM. Two comparisons, each with the paired-bootstrap p-value (1,000 resamples):

* *at fixed weights*: the unsmoothed system's tuned weights decode test with each smoothed
  table (``smt train --weights-from``) — the smoothing's own effect, free of MERT's noise (the
  weights were tuned for unsmoothed scores, so this understates a smoothing that MERT re-weights);
* *end to end*: each system tuned by its own MERT, with ``--mert-seeds`` replications (the
  helpers of ``bench_reordering.py``) and mean ± sd.

Usage: ``python benchmarks/bench_smoothing.py [--quick] [--corpus bible|multi30k …] [--processes P]
[--mert-seeds S …] [--runs-dir D]`` (``--quick``: the bible only).
"""
from __future__ import annotations

import os
import platform
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_reordering import CORPORA, parse_args, publish, seed_list, spread_row, spread_table, train  # noqa: E402
from data.io import read_lines  # noqa: E402
from data.prepare import prepare  # noqa: E402
from evaluation.score import score, sentence_stats  # noqa: E402
from evaluation.significance import paired_bootstrap  # noqa: E402

RUNS = ROOT / "runs" / "bench" / "smoothing"
SMOOTHINGS = ("none", "good-turing", "kneser-ney")
#: each corpus's base options: Multi30k's best system has the lexicalised reordering model
BASE = {"bible": [], "multi30k": ["--reordering", "msd-bidirectional-fe"]}
#: what a smoothed system reuses of the unsmoothed one (their stamps match: same inputs and settings)
SHARED_FILES = ("alignments", "lm.binary", "lm.binary.json", "lm.stamp.json", "source-words.tsv",
                "source-words.stamp.json")


def system_name(smoothing: str, fixed: bool = False) -> str:
    return "pbsmt" if smoothing == "none" else f"pbsmt-{smoothing}" + ("-fixed" if fixed else "")


def seed_copy(runs: Path, corpus: str, base: str, system: str) -> None:
    """Give ``system`` the unsmoothed system's alignment and LM (nothing is overwritten)."""
    src, tgt = CORPORA[corpus]
    pair = runs / corpus / f"{src}-{tgt}"
    (pair / system).mkdir(parents=True, exist_ok=True)
    for name in SHARED_FILES:
        if (pair / base / name).exists() and not (pair / system / name).exists():
            (shutil.copytree if (pair / base / name).is_dir() else shutil.copy2)(pair / base / name, pair / system / name)


def main() -> int:
    args, runs, seeds, corpora = parse_args(__doc__, RUNS)
    t0 = time.time()
    fixed, end, spread = [], [], []
    for corpus in corpora:
        src, tgt = CORPORA[corpus]
        p = prepare(corpus, src, tgt, quiet=True)
        refs = read_lines(p.ref("test"))
        res = {"none": train(runs, corpus, src, tgt, "pbsmt", BASE[corpus], args.processes)}
        for sm in SMOOTHINGS[1:]:
            for fx in (True, False):
                seed_copy(runs, corpus, "pbsmt", system_name(sm, fx))
            res[f"{sm} fixed"] = train(runs, corpus, src, tgt, system_name(sm, True),
                                       [*BASE[corpus], "--phrase-smoothing", sm, "--weights-from", "pbsmt"], args.processes)
            res[sm] = train(runs, corpus, src, tgt, system_name(sm),
                            [*BASE[corpus], "--phrase-smoothing", sm], args.processes)
        hyps = {k: read_lines(r["folder"] / "test.hyp", allow_empty_lines=True) for k, r in res.items()}
        for lc in (False, True):
            stats = {k: sentence_stats(h, refs, lowercase=lc) for k, h in hyps.items()}
            case = "lc" if lc else "cased"
            for sm in SMOOTHINGS[1:]:
                for table, key in ((fixed, f"{sm} fixed"), (end, sm)):
                    t = paired_bootstrap(stats[key], stats["none"])
                    dev = ("" if table is fixed else
                           f" {res['none']['bleu_dev_tuned']['bleu']:.2f} / {res[sm]['bleu_dev_tuned']['bleu']:.2f} |")
                    table.append(f"| {corpus} {src}→{tgt} | {sm} | {case} | {t.bleu_b:.2f} | {t.bleu_a:.2f} | "
                                 f"{t.delta:+.2f} | {t.p_value:.4f} |{dev}")
        if len(seeds) > 1:
            for sm in SMOOTHINGS:
                runs_ = [res[sm], *(train(runs, corpus, src, tgt, system_name(sm),
                                          [*BASE[corpus], *(["--phrase-smoothing", sm] if sm != "none" else [])],
                                          args.processes, seed) for seed in seeds[1:])]
                per = [score(read_lines(r["folder"] / "test.hyp", allow_empty_lines=True), refs) for r in runs_]
                spread.append(spread_row(f"{corpus} {src}→{tgt}", sm, [x["bleu"] for x in per], [x["bleu_lc"] for x in per]))
    cpu = platform.processor() or platform.machine()
    header = ["## Phrase-table smoothing: relative frequency vs Good-Turing vs Kneser-Ney (Foster et al. 2006)\n",
              f"Quick profile (Multi30k with msd-bidirectional-fe reordering), {args.processes} decoder process(es), "
              f"{os.cpu_count()} cores ({cpu}). Test BLEU by sacreBLEU; Δ and p: paired bootstrap (1,000 resamples) "
              "of the smoothed system over the unsmoothed one.\n",
              "### At fixed weights (the unsmoothed system's tuned weights)\n",
              "| corpus | smoothing | case | none | smoothed | Δ | p |", "|---|---|---|---:|---:|---:|---:|"]
    footer = ["### End to end (each system tuned by its own MERT, seed 1234)\n",
              "| corpus | smoothing | case | none | smoothed | Δ | p | dev (none / smoothed) |",
              "|---|---|---|---:|---:|---:|---:|---|", *end, "",
              *spread_table(seeds, spread, "smoothing"),
              f"Command: `.venv/bin/python benchmarks/bench_smoothing.py{' --quick' if args.quick else ''}"
              f"{' --mert-seeds ' + ' '.join(map(str, seeds)) if len(seeds) > 1 else ''}`; "
              f"{time.time() - t0:.0f} s (systems reused when trained).\n"]
    publish("smoothing", corpora, fixed, header, footer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
