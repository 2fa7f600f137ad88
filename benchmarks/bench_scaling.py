"""How the cost of each PBSMT stage grows with the corpus -> ``runs/bench/scaling.md``, ``scaling.png``.

For 1/8, 1/4, 1/2 and all of the training pairs of each corpus (the deterministic subsets
``smt train --train-size`` uses), every stage runs in a child process of its own, so that its wall
time and its *peak resident memory* (``ru_maxrss`` of the child, from ``os.wait4``) are its alone:

* ``align``   — the pipeline's align step with the quick profile's aligner (the Gibbs sampler of
  smt/gibbs.py + posterior symmetrisation);
* ``align-em`` — IBM1 → HMM both ways by agreement + grow-diag-final-and, in memory;
* ``align-em-sharded`` — the same EM over shards kept on disk (``smt.align.ShardedEM``), their number
  grown with the corpus (⌈n / ``ALIGN_SHARD_PAIRS``⌉, so a shard's memory stays put and the curve is
  the corpus-wide part's); checked: the same links as ``align-em``;
* ``phrases`` — extraction + scoring + writing the phrase table (and the msd reordering table);
* ``phrases-sharded`` — the same tables built in ``SHARDS`` streaming shards, one job
  (``build_phrase_table(shards=K)``; checked byte-identical to ``phrases``' tables);
* ``lm``      — KenLM ``lmplz`` + ``build_binary``, 5-gram;
* ``decode``  — loading the filtered table + LM and decoding 200 test sentences (stack 50, one process).

MERT is left out: its cost follows the dev sample and the decoder, not the training size. For each
stage the growth exponent b of time ≈ a·n^b (and of memory) is fitted by least squares on the
log–log points, and the time and memory at 1M and 10M pairs are extrapolated from the fit —
rough by nature (a bigger corpus also has longer-tailed vocabularies), stated as such.

Usage: ``python benchmarks/bench_scaling.py [--quick] [--corpus bible multi30k]`` (``--quick``: the
bible only). Internally ``--stage NAME --n N --corpus C`` runs one stage (the child).
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

CORPORA = {"bible": ("es", "en"), "multi30k": ("de", "en")}
STAGES = ("align", "align-em", "align-em-sharded", "phrases", "phrases-sharded", "lm", "decode")
SHARDS = 8
ALIGN_SHARD_PAIRS = 2000
FRACTIONS = (0.125, 0.25, 0.5, 1.0)
WORK = ROOT / "runs" / "bench" / "scaling"


def run_stage(stage: str, corpus: str, n: int) -> None:
    """The child: one stage on the first-n subset; prints {"seconds": …}."""
    from data.io import read_tokenized
    from data.prepare import prepare
    from data.profiles import get
    from smt.pipeline import align_step

    src, tgt = CORPORA[corpus]
    p = prepare(corpus, src, tgt, quiet=True)
    cfg = get("quick", "smt")
    d = WORK / corpus / str(n)
    d.mkdir(parents=True, exist_ok=True)
    train_src, train_tgt = p.train_files(n if n < p.manifest["counts"]["train"] else None)
    t0 = time.perf_counter()
    if stage == "align":
        align_step(train_src, train_tgt, d / "train.gdfa", cfg)
    elif stage in ("align-em", "align-em-sharded"):
        em = {**cfg, "align_model": "hmm", "symmetrize": "grow-diag-final-and",
              **({"align_shards": max(2, -(-n // ALIGN_SHARD_PAIRS))} if stage == "align-em-sharded" else {})}
        align_step(train_src, train_tgt, d / f"train.{stage}", em)
        other = d / ("train.align-em" if stage == "align-em-sharded" else "train.align-em-sharded")
        if other.is_file() and other.read_bytes() != (d / f"train.{stage}").read_bytes():
            raise SystemExit(f"{d}: the sharded EM alignment differs from the in-memory one")
    elif stage == "phrases":
        from smt.phrases import build_phrase_table
        build_phrase_table(train_src, train_tgt, d / "train.gdfa", d / "phrase-table.gz", max_len=cfg["max_phrase_length"],
                           table_limit=cfg["table_limit"], reordering_path=d / "reordering-table.gz")
    elif stage == "phrases-sharded":
        from smt.phrases import build_phrase_table
        build_phrase_table(train_src, train_tgt, d / "train.gdfa", d / "phrase-table-sharded.gz",
                           max_len=cfg["max_phrase_length"], table_limit=cfg["table_limit"],
                           reordering_path=d / "reordering-table-sharded.gz", shards=SHARDS)
        for name in ("phrase-table", "reordering-table"):
            if (d / f"{name}.gz").is_file() and (d / f"{name}.gz").read_bytes() != (d / f"{name}-sharded.gz").read_bytes():
                raise SystemExit(f"{d}: the sharded {name} differs from the in-memory one")
    elif stage == "lm":
        from smt.lm import build_lm
        build_lm(train_tgt, d / "lm.binary", order=cfg["lm_order"])
    else:
        from smt.decode import Decoder
        sents = read_tokenized(p.file("test", "src"))[:200]
        dec = Decoder(d / "phrase-table.gz", d / "lm.binary", stack_size=cfg["stack_size"],
                      distortion_limit=cfg["distortion_limit"], table_limit=cfg["table_limit"], sentences=sents)
        dec.translate_corpus(sents, processes=1, desc="decode")
    print(json.dumps({"seconds": round(time.perf_counter() - t0, 3)}))


def measure(stage: str, corpus: str, n: int) -> dict:
    env = dict(os.environ, MT_NO_PROGRESS="1", OMP_NUM_THREADS="1")
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--stage", stage, "--corpus", corpus, "--n", str(n)], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"stage {stage} at n={n} failed")
    inner = json.loads(out.strip().splitlines()[-1])["seconds"]
    return {"seconds": inner, "wall": round(time.perf_counter() - t0, 2), "peak_mb": round(usage.ru_maxrss / 1024, 1)}


def fit(ns, ys) -> tuple[float, float]:
    import numpy as np
    b, log_a = np.polyfit(np.log(ns), np.log(np.maximum(ys, 1e-6)), 1)
    return float(np.exp(log_a)), float(b)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="the bible only")
    ap.add_argument("--corpus", nargs="*", default=None, choices=sorted(CORPORA))
    ap.add_argument("--stages", nargs="*", choices=STAGES, default=list(STAGES),
                    help="the stages to measure (default: all; decode needs phrases and lm, phrases needs align)")
    ap.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stage:
        run_stage(args.stage, args.corpus[0], args.n)
        return 0
    from data.io import atomic_write
    from data.prepare import prepare
    corpora = args.corpus or (["bible"] if args.quick else ["bible", "multi30k"])
    rows, fits, points = [], [], {}
    for corpus in corpora:
        src, tgt = CORPORA[corpus]
        total = prepare(corpus, src, tgt, quiet=True).manifest["counts"]["train"]
        sizes = sorted({max(1, round(f * total)) for f in FRACTIONS})
        for n in sizes:
            for stage in args.stages:
                m = measure(stage, corpus, n)
                points.setdefault((corpus, stage), []).append((n, m["seconds"], m["peak_mb"]))
                rows.append(f"| {corpus} | {n:,} | {stage} | {m['seconds']:.1f} | {m['peak_mb']:,.0f} |")
                print(rows[-1], flush=True)
        for stage in args.stages:
            pts = points[(corpus, stage)]
            ns = [x[0] for x in pts]
            a_t, b_t = fit(ns, [x[1] for x in pts])
            a_m, b_m = fit(ns, [x[2] for x in pts])
            # the power law is flattered by the interpreter's fixed ~250 MB: also the last doubling's
            # MB per 1k pairs and the straight line through it to 1M pairs
            (n0, _, m0), (n1, _, m1) = pts[-2] if len(pts) > 1 else pts[-1], pts[-1]
            slope = (m1 - m0) / max(n1 - n0, 1) * 1000
            fits.append(f"| {corpus} | {stage} | {b_t:.2f} | {b_m:.2f} | {a_t * 1e6 ** b_t / 60:,.0f} min / "
                        f"{a_m * 1e6 ** b_m / 1024:,.1f} GB | {a_t * 1e7 ** b_t / 3600:,.1f} h / {a_m * 1e7 ** b_m / 1024:,.0f} GB "
                        f"| {slope:,.1f} | {(m1 + slope * (1e6 - n1) / 1000) / 1024:,.1f} GB |")
    md = ["## PBSMT cost as the corpus grows\n",
          f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}), one process per stage, "
          f"one decoder process, {SHARDS} shards for phrases-sharded, one per {ALIGN_SHARD_PAIRS:,} pairs for "
          "align-em-sharded; time = the stage's own "
          "seconds, memory = the "
          "child's peak RSS.\n",
          "| corpus | pairs | stage | seconds | peak MB |", "|---|---:|---|---:|---:|", *rows, "",
          "Fitted growth (time ∝ n^b, memory ∝ n^b, least squares on log–log) and the extrapolation to 1M and "
          "10M pairs (rough: the fit is over 1/8–1 of a small corpus):\n",
          "| corpus | stage | b (time) | b (memory) | 1M pairs | 10M pairs | MB / 1k pairs (last doubling) "
          "| 1M pairs, memory on that line |", "|---|---|---:|---:|---|---|---:|---:|", *fits, ""]
    out = ROOT / "runs" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "scaling.md") as fh:
        fh.write("\n".join(md))
    _plot(points, out / "scaling.png")
    print("\n".join(md))
    return 0


def _plot(points: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for (corpus, stage), pts in sorted(points.items()):
        ns = [x[0] for x in pts]
        axes[0].loglog(ns, [x[1] for x in pts], marker="o", label=f"{corpus} {stage}")
        axes[1].loglog(ns, [x[2] for x in pts], marker="o", label=f"{corpus} {stage}")
    axes[0].set(xlabel="training pairs", ylabel="seconds", title="time per stage")
    axes[1].set(xlabel="training pairs", ylabel="peak MB", title="peak memory per stage")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    sys.exit(main())
