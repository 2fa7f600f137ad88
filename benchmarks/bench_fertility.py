"""Word alignment by the HMM vs the HMM refined by the fertility HMM (smt/fertility.py) in the
full PBSMT system -> ``runs/bench/fertility.md``.

For each corpus, ``python -m smt train`` (the quick profile's settings, MERT included, distance-
based reordering) trains the system aligned by the HMM by agreement (``pbsmt``) and the same with
``--fertility-iterations 3`` (``pbsmt-fert3``), in ``runs/bench/fertility/`` (``--runs-dir``
elsewhere, e.g. ``runs`` to reuse the study's ``pbsmt``); a system already trained is reused. The
table gives test BLEU (cased, lowercased), the paired-bootstrap p-value of the difference
(evaluation.significance, 1,000 resamples), MERT's tuned dev BLEU, the alignment step's seconds
and its links per target word. AER on gold links is in ``runs/bench/align.md`` (bench_align.py).

Usage: ``python benchmarks/bench_fertility.py [--quick] [--corpus bible|multi30k …] [--processes P]``
(``--quick``: the bible only).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evaluation.score import sentence_stats  # noqa: E402
from evaluation.significance import paired_bootstrap  # noqa: E402
from data.io import atomic_write, read_lines  # noqa: E402
from data.prepare import prepare  # noqa: E402

RUNS = ROOT / "runs" / "bench" / "fertility"
CORPORA = {"bible": ("es", "en"), "multi30k": ("de", "en")}
ITERATIONS = 3
SYSTEMS = {"hmm": ("pbsmt", []), "fertility": (f"pbsmt-fert{ITERATIONS}", ["--fertility-iterations", str(ITERATIONS)])}


def train(runs: Path, corpus: str, src: str, tgt: str, which: str, processes: int) -> dict:
    system, extra = SYSTEMS[which]
    env = dict(os.environ, MT_RUNS_DIR=str(runs), MT_NO_PROGRESS="1")
    cmd = [sys.executable, "-m", "smt", "train", "--corpus", corpus, "--src", src, "--tgt", tgt, "--profile", "quick",
           "--system", system, "--processes", str(processes), *extra]
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    folder = runs / corpus / f"{src}-{tgt}" / system
    scores = json.loads((folder / "scores.json").read_text(encoding="utf-8"))
    stamp = json.loads((folder / "alignments" / "align.stamp.json").read_text(encoding="utf-8"))
    scores["align_seconds"], scores["align_info"] = stamp.get("seconds"), stamp.get("info", {})
    return scores


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="the bible only")
    ap.add_argument("--corpus", nargs="*", default=None, choices=sorted(CORPORA), help="corpora (default: both)")
    ap.add_argument("--processes", type=int, default=os.cpu_count() or 1, help="decoder processes")
    ap.add_argument("--runs-dir", type=Path, default=RUNS, help="where the systems are trained (default: runs/bench/fertility)")
    args = ap.parse_args()
    runs = args.runs_dir.resolve()
    corpora = args.corpus or (["bible"] if args.quick else ["bible", "multi30k"])
    t0 = time.time()
    rows = []
    for corpus in corpora:
        src, tgt = CORPORA[corpus]
        p = prepare(corpus, src, tgt, quiet=True)
        refs = read_lines(p.ref("test"))
        res = {w: train(runs, corpus, src, tgt, w, args.processes) for w in SYSTEMS}
        hyps = {w: read_lines(runs / corpus / f"{src}-{tgt}" / SYSTEMS[w][0] / "test.hyp", allow_empty_lines=True)
                for w in SYSTEMS}
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
    bench = ROOT / "runs" / "bench"
    bench.mkdir(parents=True, exist_ok=True)
    for corpus in corpora:  # rows per corpus, so that a run on one corpus keeps the other's
        with atomic_write(bench / f"fertility-{corpus}.rows") as fh:
            fh.write("\n".join(r for r in rows if r.startswith(f"| {corpus} ")) + "\n")
    all_rows = [line for c in CORPORA if (bench / f"fertility-{c}.rows").is_file()
                for line in (bench / f"fertility-{c}.rows").read_text(encoding="utf-8").splitlines() if line]
    md += [*all_rows, "", f"Benchmark took {time.time() - t0:.0f} s. Command: `.venv/bin/python benchmarks/bench_fertility.py"
           f"{' --quick' if args.quick else ''}`.\n"]
    with atomic_write(bench / "fertility.md") as fh:
        fh.write("\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
