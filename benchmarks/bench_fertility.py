"""Word alignment by the HMM vs the HMM refined by the fertility HMM (smt/fertility.py) in the
full PBSMT system -> ``runs/bench/fertility.md``.

For each corpus, ``python -m smt train`` (the quick profile's settings, MERT included, distance-
based reordering) trains the system aligned by the HMM by agreement (``pbsmt``) and the same with
``--fertility-iterations 3`` (``pbsmt-fert3``), in ``runs/bench/fertility/`` (``--runs-dir``
elsewhere, e.g. ``runs`` to reuse the study's ``pbsmt``); a system already trained is reused. The
table gives test BLEU (cased, lowercased), the paired-bootstrap p-value of the difference
(evaluation.significance, 1,000 resamples), MERT's tuned dev BLEU, the alignment step's seconds
and its links per target word. AER on gold links is in ``runs/bench/align.md`` (bench_align.py).

One MERT run is noisy (±0.3–0.4 BLEU here between seeds), so ``--mert-seeds`` re-tunes each
system with more seeds (``smt train --mert-seed``; Clark et al. 2011; the helpers of
``bench_reordering.py``), and a second table gives each system's BLEU per seed and mean ± sd.

Usage: ``python benchmarks/bench_fertility.py [--quick] [--corpus bible|multi30k …] [--processes P]
[--mert-seeds S …]`` (``--quick``: the bible only; default seeds: 1234, the project's, alone).
"""
from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_reordering import CORPORA, parse_args, publish, seed_spread, spread_table, train as train_system  # noqa: E402
from evaluation.score import sentence_stats  # noqa: E402
from evaluation.significance import paired_bootstrap  # noqa: E402
from data.io import read_lines  # noqa: E402
from data.prepare import prepare  # noqa: E402

RUNS = ROOT / "runs" / "bench" / "fertility"
ITERATIONS = 3
#: Both on the EM HMM (the quick profile's default aligner is the Gibbs sampler, which has its own fertilities).
EM = ["--align-model", "hmm", "--symmetrize", "grow-diag-final-and"]
SYSTEMS = {"hmm": ("pbsmt-hmm", EM), "fertility": (f"pbsmt-fert{ITERATIONS}", EM + ["--fertility-iterations", str(ITERATIONS)])}


def train(runs: Path, corpus: str, src: str, tgt: str, which: str, processes: int) -> dict:
    """Train (or reuse) one system; its scores plus the alignment step's seconds and statistics."""
    scores = train_system(runs, corpus, src, tgt, *SYSTEMS[which], processes)
    stamp = json.loads((scores["folder"] / "alignments" / "align.stamp.json").read_text(encoding="utf-8"))
    scores["align_seconds"], scores["align_info"] = stamp.get("seconds"), stamp.get("info", {})
    return scores


def main() -> int:
    args, runs, seeds, corpora = parse_args(__doc__, RUNS)
    t0 = time.time()
    rows, spread = [], []
    for corpus in corpora:
        src, tgt = CORPORA[corpus]
        p = prepare(corpus, src, tgt, quiet=True)
        refs = read_lines(p.ref("test"))
        res = {w: train(runs, corpus, src, tgt, w, args.processes) for w in SYSTEMS}
        hyps = {w: read_lines(res[w]["folder"] / "test.hyp", allow_empty_lines=True) for w in SYSTEMS}
        if len(seeds) > 1:
            spread += seed_spread(runs, corpus, SYSTEMS, res, seeds, args.processes)
        for lc in (False, True):
            stats = {w: sentence_stats(hyps[w], refs, lowercase=lc) for w in SYSTEMS}
            t = paired_bootstrap(stats["fertility"], stats["hmm"])
            key = "bleu_lc" if lc else "bleu"
            h, f = res["hmm"], res["fertility"]
            rows.append(f"| {corpus} {src}→{tgt} | {'lc' if lc else 'cased'} | {h[key]:.2f} | {f[key]:.2f} | "
                        f"{t.delta:+.2f} | {t.p_value:.4f} | {h['bleu_dev_tuned']['bleu']:.2f} / "
                        f"{f['bleu_dev_tuned']['bleu']:.2f} | {h['align_seconds']:.0f} / {f['align_seconds']:.0f} | "
                        f"{h['align_info'].get('links_per_target_word', float('nan')):.3f} / "
                        f"{f['align_info'].get('links_per_target_word', float('nan')):.3f} |")
    cpu = platform.processor() or platform.machine()
    md = ["## Word alignment: HMM vs HMM + fertility HMM in the PBSMT system\n",
          f"Quick profile (MERT on a seeded dev sample, stack 50, distortion limit 6, distance-based "
          f"reordering), {args.processes} decoder process(es), {os.cpu_count()} cores ({cpu}). Test BLEU by "
          f"sacreBLEU; Δ and p: paired bootstrap (1,000 resamples) of the fertility system over the HMM one. "
          f"Dev: MERT's tuned dev BLEU; align s: the alignment step (both directions); links: per target word.\n",
          f"| corpus | case | HMM | + {ITERATIONS} fertility it | Δ | p | dev (HMM / fert) | align s | links |",
          "|---|---|---:|---:|---:|---:|---|---|---|"]
    publish("fertility", corpora, rows, md, [*spread_table(seeds, spread, "aligner"), f"Benchmark took {time.time() - t0:.0f} s. Command: `.venv/bin/python "
                                             f"benchmarks/bench_fertility.py{' --quick' if args.quick else ''}"
                                             f"{' --mert-seeds ' + ' '.join(map(str, seeds)) if len(seeds) > 1 else ''}`.\n"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
