"""Distance-based vs lexicalised reordering (msd-bidirectional-fe, smt/reordering.py) in the full
PBSMT system -> ``runs/bench/reordering.md``.

For each corpus, ``python -m smt train`` (the quick profile's settings, MERT included) trains the
distance-only system (``pbsmt``) and the same system with ``--reordering msd-bidirectional-fe``
(``pbsmt-msd``, which tunes its six extra weights with the rest), in ``runs/bench/reordering/``
(``--runs-dir`` elsewhere, e.g. ``runs`` to reuse the study's ``pbsmt``); a system already trained
is reused. The table gives test BLEU (cased, and lowercased), the paired-bootstrap p-value of the
difference (evaluation.significance, 1,000 resamples), MERT's tuned dev BLEU and decoding speed.

One MERT run is noisy (±0.3–0.4 BLEU between seeds here), so ``--mert-seeds`` re-tunes each
system with more seeds (``smt train --mert-seed``; Clark et al. 2011) in folders
``<system>-s<seed>`` that reuse the first run's alignment, tables and LM; a second table gives
every system's test BLEU per seed and its mean ± sd. ``bench_fertility.py`` shares these helpers.

Usage: ``python benchmarks/bench_reordering.py [--quick] [--corpus bible|multi30k …] [--processes P]
[--mert-seeds S …]`` (``--quick``: the bible only; default: the project's seed alone).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evaluation.score import sentence_stats  # noqa: E402
from evaluation.significance import paired_bootstrap  # noqa: E402
from data.io import atomic_write, read_lines  # noqa: E402
from data.prepare import prepare  # noqa: E402
from data.profiles import SEED  # noqa: E402

RUNS = ROOT / "runs" / "bench" / "reordering"
CORPORA = {"bible": ("es", "en"), "multi30k": ("de", "en")}
SYSTEMS = {"distance": "pbsmt", "msd-bidirectional-fe": "pbsmt-msd"}


#: Files of a trained system that a re-tuning with another MERT seed reuses (their stamps match).
REUSED = ("alignments", "phrase-table.gz", "reordering-table.gz", "phrases.stamp.json", "lm.binary", "lm.binary.json",
          "lm.stamp.json")


def train(runs: Path, corpus: str, src: str, tgt: str, system: str, extra: list[str], processes: int,
          seed: int = SEED) -> dict:
    """``python -m smt train`` (quick profile) of ``system`` with the options ``extra`` in ``runs``
    (reused when already trained); its scores.json plus the seconds this call took and its folder.
    With another MERT ``seed``: re-tuned in ``<system>-s<seed>``, reusing the first run's files."""
    pair = runs / corpus / f"{src}-{tgt}"
    if seed != SEED:
        base, system = pair / system, f"{system}-s{seed}"
        (pair / system).mkdir(parents=True, exist_ok=True)
        for name in REUSED:
            if (base / name).exists() and not (pair / system / name).exists():
                (shutil.copytree if (base / name).is_dir() else shutil.copy2)(base / name, pair / system / name)
        extra = [*extra, "--seed", str(seed)]
    env = dict(os.environ, MT_RUNS_DIR=str(runs), MT_NO_PROGRESS="1")
    cmd = [sys.executable, "-m", "smt", "train", "--corpus", corpus, "--src", src, "--tgt", tgt, "--profile", "quick",
           "--system", system, "--jobs", str(processes), *extra]
    t0 = time.time()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    scores = json.loads((pair / system / "scores.json").read_text(encoding="utf-8"))
    scores["bench_seconds"], scores["folder"] = round(time.time() - t0, 1), pair / system
    return scores


def seed_list(seeds: Sequence[int]) -> list[int]:
    """The project's seed first (the run that trains everything), then the others, once each."""
    return [SEED] + [x for x in dict.fromkeys(seeds) if x != SEED]


def seed_spread(runs: Path, corpus: str, systems: dict[str, tuple[str, list[str]]], first: dict[str, dict],
                seeds: list[int], processes: int) -> list[str]:
    """Re-tune every system with the other ``seeds``; one table row per system: cased test BLEU per
    seed (``first`` holds the seed-1234 scores), mean ± sd, lowercased mean."""
    src, tgt = CORPORA[corpus]
    rows = []
    for label, (system, extra) in systems.items():
        runs_ = [first[label], *(train(runs, corpus, src, tgt, system, extra, processes, seed) for seed in seeds[1:])]
        rows.append(spread_row(f"{corpus} {src}→{tgt}", label, [r["bleu"] for r in runs_], [r["bleu_lc"] for r in runs_]))
    return rows


def spread_row(corpus: str, label: str, bleu: Sequence[float], bleu_lc: Sequence[float]) -> str:
    """One row of :func:`spread_table`: cased BLEU per seed, mean ± sd, lowercased mean."""
    return (f"| {corpus} | {label} | " + " | ".join(f"{x:.2f}" for x in bleu)
            + f" | {statistics.mean(bleu):.2f} ± {statistics.stdev(bleu):.2f} | {statistics.mean(bleu_lc):.2f} |")


def spread_table(seeds: list[int], rows: list[str], what: str) -> list[str]:
    """The markdown of :func:`seed_spread`'s rows (empty without replications)."""
    if not rows:
        return []
    return [f"Test BLEU (cased) under {len(seeds)} MERT seeds:\n",
            f"| corpus | {what} | " + " | ".join(f"seed {x}" for x in seeds) + " | mean ± sd | lc mean |",
            "|---|---|" + "---:|" * (len(seeds) + 2), *rows, ""]


def publish(stem: str, corpora: list[str], rows: list[str], header: list[str], footer: Sequence[str] = ()) -> None:
    """Write ``runs/bench/<stem>.md``: ``header``, then the table rows of every corpus (this run's
    for ``corpora``, an earlier run's for the others, kept in ``<stem>-<corpus>.rows``), ``footer``."""
    bench = ROOT / "runs" / "bench"
    bench.mkdir(parents=True, exist_ok=True)
    for corpus in corpora:
        with atomic_write(bench / f"{stem}-{corpus}.rows") as fh:
            fh.write("\n".join(r for r in rows if r.startswith(f"| {corpus} ")) + "\n")
    all_rows = [line for c in CORPORA if (bench / f"{stem}-{c}.rows").is_file()
                for line in (bench / f"{stem}-{c}.rows").read_text(encoding="utf-8").splitlines() if line]
    md = [*header, *all_rows, "", *footer]
    with atomic_write(bench / f"{stem}.md") as fh:
        fh.write("\n".join(md))
    print("\n".join(md))


def parse_args(doc: str, default_runs: Path, corpora: bool = True) -> tuple[argparse.Namespace, Path, list[int], list[str]]:
    """The command line of an A/B PBSMT bench: (args, runs folder, MERT seeds, corpora); without
    ``corpora`` no --corpus (a Multi30k-only bench, which ``--quick`` skips)."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="the bible only" if corpora else "skip (Multi30k only)")
    if corpora:
        ap.add_argument("--corpus", nargs="*", default=None, choices=sorted(CORPORA), help="corpora (default: both)")
    ap.add_argument("--processes", type=int, default=os.cpu_count() or 1, help="decoder processes")
    ap.add_argument("--runs-dir", type=Path, default=default_runs,
                    help=f"where the systems are trained (default: {default_runs.relative_to(ROOT)})")
    ap.add_argument("--mert-seeds", type=int, nargs="+", default=[SEED],
                    help=f"MERT seeds; the first run (seed {SEED}) trains everything, the others only re-tune")
    args = ap.parse_args()
    chosen = (args.corpus or (["bible"] if args.quick else ["bible", "multi30k"])) if corpora else []
    return args, args.runs_dir.resolve(), seed_list(args.mert_seeds), chosen


def main() -> int:
    args, runs, seeds, corpora = parse_args(__doc__, RUNS)
    rows, spread = [], []
    systems = {r: (SYSTEMS[r], ["--reordering", r]) for r in SYSTEMS}
    for corpus in corpora:
        src, tgt = CORPORA[corpus]
        p = prepare(corpus, src, tgt, quiet=True)
        refs = read_lines(p.ref("test"))
        res = {r: train(runs, corpus, src, tgt, *systems[r], args.processes) for r in SYSTEMS}
        hyps = {r: read_lines(res[r]["folder"] / "test.hyp", allow_empty_lines=True) for r in SYSTEMS}
        if len(seeds) > 1:
            spread += seed_spread(runs, corpus, systems, res, seeds, args.processes)
        for lc in (False, True):
            stats = {r: sentence_stats(hyps[r], refs, lowercase=lc) for r in SYSTEMS}
            t = paired_bootstrap(stats["msd-bidirectional-fe"], stats["distance"])
            key = "bleu_lc" if lc else "bleu"
            rows.append(f"| {corpus} {src}→{tgt} | {'lc' if lc else 'cased'} | {res['distance'][key]:.2f} | "
                        f"{res['msd-bidirectional-fe'][key]:.2f} | {t.delta:+.2f} | {t.p_value:.4f} | "
                        f"{res['distance']['bleu_dev_tuned']['bleu']:.2f} / {res['msd-bidirectional-fe']['bleu_dev_tuned']['bleu']:.2f} | "
                        f"{res['distance']['decode_sents_per_s']:.1f} / {res['msd-bidirectional-fe']['decode_sents_per_s']:.1f} |")
    cpu = platform.processor() or platform.machine()
    md = ["## Lexicalised reordering (msd-bidirectional-fe) vs distance-based only\n",
          f"Quick profile (MERT on a seeded dev sample, stack 50, distortion limit 6), {args.processes} decoder "
          f"process(es), {os.cpu_count()} cores ({cpu}). Test BLEU by sacreBLEU; Δ and p: paired bootstrap "
          "(1,000 resamples) of msd over distance. Dev: MERT's tuned dev BLEU (tuning sentences); speed: test "
          "decoding, sentences/s.\n",
          "| corpus | case | distance | msd | Δ | p | dev (dist / msd) | sent/s (dist / msd) |",
          "|---|---|---:|---:|---:|---:|---|---|"]
    cmd = (f"Command: `.venv/bin/python benchmarks/bench_reordering.py{' --quick' if args.quick else ''}"
           f"{' --mert-seeds ' + ' '.join(map(str, seeds)) if len(seeds) > 1 else ''}`.\n")
    publish("reordering", corpora, rows, md, [*spread_table(seeds, spread, "reordering"), cmd])
    return 0


if __name__ == "__main__":
    sys.exit(main())
