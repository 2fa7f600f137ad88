"""Stack search vs cube pruning (smt/search.py) on the bible test set -> ``runs/bench/search.{md,png}``.

The system: the quick profile's PBSMT on the bible es→en (``python -m smt train``, MERT included;
trained in ``runs/bench/search/`` unless ``--runs-dir`` points at a study's runs, e.g. ``runs``, whose
``pbsmt`` is then reused). Its tuned weights, phrase table and LM are loaded once; then the whole
test set is decoded with the quick profile's search (the stack search, stack 50: "today's" decoder)
and with cube pruning at each ``--pop-limits`` value (same stack size, distortion limit and table
limit). Per setting: sentences/s of decoding proper (wall) and CPU seconds per sentence, test BLEU
(sacreBLEU, detokenised, cased), its difference from the stack search with the paired-bootstrap
p-value (1,000 resamples), and the model score against the stack search's (search errors in both
directions: sentences where one finds a better-scoring translation than the other).

Usage: ``python benchmarks/bench_search.py [--quick] [--pop-limits 50 100 …] [--processes P] [--runs-dir D]``
(``--quick``: the first 300 test sentences).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from data.io import atomic_write, read_lines, read_tokenized  # noqa: E402
from data.prepare import prepare  # noqa: E402
from data.profiles import get as get_profile  # noqa: E402
from evaluation.score import score, sentence_stats  # noqa: E402
from evaluation.significance import paired_bootstrap  # noqa: E402
from smt.decode import Decoder  # noqa: E402
from smt.weights import read_weights  # noqa: E402

RUNS = ROOT / "runs" / "bench" / "search"
POP_LIMITS = [50, 75, 100, 150, 200, 300]


def cpu_seconds() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def trained_system(runs: Path, processes: int) -> Path:
    """The quick profile's bible PBSMT (trained here unless ``runs`` already holds it)."""
    d = runs / "bible" / "es-en" / "pbsmt"
    if not (d / "scores.json").is_file():
        env = dict(os.environ, MT_RUNS_DIR=str(runs), MT_NO_PROGRESS="1")
        subprocess.run([sys.executable, "-m", "smt", "train", "--corpus", "bible", "--profile", "quick",
                        "--jobs", str(processes)], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return d


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="the first 300 test sentences only")
    ap.add_argument("--pop-limits", type=int, nargs="+", default=POP_LIMITS, help="cube-pruning pop limits to try")
    ap.add_argument("--processes", type=int, default=os.cpu_count() or 1, help="decoder processes")
    ap.add_argument("--runs-dir", type=Path, default=RUNS, help="where the system is (trained if missing)")
    args = ap.parse_args()
    os.environ.setdefault("MT_NO_PROGRESS", "1")
    d = trained_system(args.runs_dir.resolve(), args.processes)
    cfg = get_profile("quick", "smt")
    p = prepare("bible", quiet=True)
    src = read_tokenized(p.file("test", "src"))
    refs = read_lines(p.ref("test"))
    if args.quick:
        src, refs = src[:300], refs[:300]
    t0 = time.time()
    dec = Decoder(d / "phrase-table.gz", d / "lm.binary", weights=read_weights(d / "weights.json"),
                  stack_size=cfg["stack_size"], distortion_limit=cfg["distortion_limit"],
                  table_limit=cfg["table_limit"], sentences=src)
    load_s = time.time() - t0
    results = []
    for pop in [None, *args.pop_limits]:
        dec.pop_limit = pop
        c0, t0 = cpu_seconds(), time.time()
        out = dec.translate_corpus(src, processes=args.processes, desc=f"pop {pop}")
        wall, cpu = time.time() - t0, cpu_seconds() - c0
        hyps = p.postprocess([" ".join(o[0].tokens) for o in out])
        results.append({"pop_limit": pop, "wall_s": wall, "cpu_s": cpu, "hyps": hyps,
                        "model": [o[0].score for o in out], "bleu": score(hyps, refs)["bleu"]})
        print(f"pop limit {pop}: {len(src) / wall:.1f} sent/s, BLEU {results[-1]['bleu']:.2f}", flush=True)
    base = results[0]
    base_stats = sentence_stats(base["hyps"], refs)
    rows = []
    for r in results:
        t = paired_bootstrap(sentence_stats(r["hyps"], refs), base_stats)
        better = sum(a > b + 1e-9 for a, b in zip(r["model"], base["model"]))
        worse = sum(a < b - 1e-9 for a, b in zip(r["model"], base["model"]))
        rows.append({"search": "stack" if r["pop_limit"] is None else f"cube, pop limit {r['pop_limit']}",
                     "pop_limit": r["pop_limit"], "sent_per_s": len(src) / r["wall_s"],
                     "cpu_ms_per_sent": 1000 * r["cpu_s"] / len(src), "speed_up": base["wall_s"] / r["wall_s"],
                     "bleu": r["bleu"], "delta": t.delta, "p": t.p_value, "better": better, "worse": worse,
                     "model_score_sum": sum(r["model"])})
    cpu = platform.processor() or platform.machine()
    md = ["## Stack search vs cube pruning (bible es→en test)\n",
          f"Quick-profile PBSMT (tuned weights; stack 50, distortion limit 6, table limit 20), {len(src)} test "
          f"sentences, {args.processes} decoder process(es), {os.cpu_count()} cores ({cpu}); model loading "
          f"{load_s:.1f} s (once, not in the speeds). BLEU: sacreBLEU, cased; Δ and p: paired bootstrap "
          "(1,000 resamples) against the stack search; better / worse: sentences whose 1-best has a higher / "
          "lower model score than the stack search's (search errors of either).\n",
          "| search | sent/s | CPU ms/sent | speed-up | BLEU | Δ | p | better / worse | Σ model score |",
          "|---|---:|---:|---:|---:|---:|---:|---|---:|"]
    for r in rows:
        md.append(f"| {r['search']} | {r['sent_per_s']:.1f} | {r['cpu_ms_per_sent']:.1f} | {r['speed_up']:.2f}× | "
                  f"{r['bleu']:.2f} | {r['delta']:+.2f} | {r['p']:.3f} | {r['better']} / {r['worse']} | "
                  f"{r['model_score_sum']:.1f} |")
    bench = ROOT / "runs" / "bench"
    bench.mkdir(parents=True, exist_ok=True)
    with atomic_write(bench / "search.md") as fh:
        fh.write("\n".join(md) + "\n")
    with atomic_write(bench / "search.json") as fh:
        json.dump({"rows": rows, "sentences": len(src), "processes": args.processes, "cpu": cpu,
                   "load_seconds": load_s}, fh, indent=1)
    plot(rows, bench / "search.png")
    print("\n".join(md))
    return 0


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib  # optional for the suite, always in .venv: only the plot needs it
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    cube = [r for r in rows if r["pop_limit"] is not None]
    ax.plot([r["sent_per_s"] for r in cube], [r["bleu"] for r in cube], "o-", label="cube pruning")
    for r in cube:
        ax.annotate(str(r["pop_limit"]), (r["sent_per_s"], r["bleu"]), textcoords="offset points", xytext=(4, 4), fontsize=8)
    stack = rows[0]
    ax.plot([stack["sent_per_s"]], [stack["bleu"]], "s", color="C3", label="stack search (stack 50)")
    ax.axhspan(stack["bleu"] - 0.1, stack["bleu"] + 0.1, color="C3", alpha=0.12, label="stack search ± 0.1 BLEU")
    ax.set_xlabel("sentences/s (decoding)")
    ax.set_ylabel("test BLEU")
    ax.set_title("PBSMT search on the bible test: speed vs BLEU (labels: pop limit)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
