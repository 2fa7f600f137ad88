"""Benchmark smt/align.py: speed against NLTK and eflomal, AER on the Hansards trial set.

1. Speed, on the default corpus's training pairs (the bible es-en via ``data.prepare``; Multi30k
   de-en if that fails), lowercased: one IBM Model 1 EM iteration of ours vs
   ``nltk.translate.IBMModel1.train`` (same direction, same data), and a full alignment (both
   directions, 5 IBM1 + 5 HMM iterations, Viterbi, grow-diag-final-and; independent and by
   agreement; the Gibbs sampler) vs ``eflomal-align``
   with its defaults (fast_align itself is not installable here).
2. AER (Och & Ney 2003) on the 37 Hansards trial pairs, every system trained on the 2,383
   training + 37 trial pairs, lowercased, English as the source side (the gold is i=en, j=fr):
   ours (IBM1, IBM2, HMM; independent and by agreement × directions/intersection/gdfa; the
   fertility HMM of smt/fertility.py after 3 and 5 iterations; the Gibbs sampler of smt/gibbs.py,
   five seeds, with its posterior symmetrisation too), NLTK IBMModel1/IBMModel2 (both
   directions, symmetrised with our ``symmetrize``) and eflomal in four configurations, five runs
   each (its sampler is not seeded: the median and the range are shown).

eflomal is installed into ``.venv-peers`` (created with ``python3.11 -m venv`` when missing),
never into ``.venv``.  Writes ``runs/bench/align.md`` and prints it.
Usage: ``.venv/bin/python benchmarks/bench_align.py [--quick]`` (``--quick``: 5,000 speed pairs,
3 NLTK iterations instead of 5).  Times are wall-clock and CPU seconds on this machine.
"""
from __future__ import annotations

import argparse
import gzip
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MT_NO_PROGRESS", "1")

from smt.aer import aer  # noqa: E402
from smt.align import AlignmentModel, blas_threads, symmetrize_corpus, train_directions  # noqa: E402
from smt import gibbs  # noqa: E402
from smt.fertility import refine  # noqa: E402

HANSARDS = ROOT.parent / "shared" / "data" / "hansards-trial"
PEERS = ROOT / ".venv-peers"
OUT = ROOT / "runs" / "bench" / "align.md"
#: eflomal configurations compared (its defaults: model 3 = IBM1 + HMM + fertility, length 1, its
#: default number of samplers); each runs EFLOMAL_RUNS times, as eflomal's sampler is not seeded.
EFLOMAL_CONFIGS = (("defaults", ()), ("-l 2 (twice the iterations)", ("-l", "2")),
                   ("--n-samplers 5", ("--n-samplers", "5")), ("-m 2 (no fertility)", ("-m", "2")))
EFLOMAL_RUNS = 5
#: Seeds of our sampler's runs (both directions: seed, seed + 1).
GIBBS_SEEDS = (1234, 11, 22, 33, 44)


def ensure_eflomal() -> Path | None:
    """``.venv-peers/bin/eflomal-align``, creating the venv and installing eflomal when missing."""
    exe = PEERS / "bin" / "eflomal-align"
    if exe.exists():
        return exe
    python = shutil.which("python3.11") or sys.executable
    try:
        if not (PEERS / "bin" / "python").exists():
            subprocess.run([python, "-m", "venv", str(PEERS)], check=True)
        subprocess.run([str(PEERS / "bin" / "python"), "-m", "pip", "install", "-q", "eflomal"], check=True)
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"warning: could not install eflomal into {PEERS}: {exc}", file=sys.stderr)
        return None
    return exe if exe.exists() else None


class Clock:
    """Wall and CPU seconds of a block (CPU of this process, or of finished child processes)."""

    def __init__(self, children: bool = False):
        self.children = children

    def _cpu(self) -> float:
        if self.children:
            r = resource.getrusage(resource.RUSAGE_CHILDREN)
            return r.ru_utime + r.ru_stime
        return time.process_time()

    def __enter__(self):
        self.w0, self.c0 = time.perf_counter(), self._cpu()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.w0, self._cpu() - self.c0


def run_eflomal(eflomal: Path, src, tgt, tmp: str, extra: Sequence[str] = ()) -> "Clock":
    """Write the two tokenised sides to ``tmp``, run eflomal-align (fwd/rev links in ``tmp``) with
    the options ``extra``, time it."""
    s, t = Path(tmp) / "src", Path(tmp) / "tgt"
    s.write_text("".join(" ".join(x) + "\n" for x in src), encoding="utf-8")
    t.write_text("".join(" ".join(x) + "\n" for x in tgt), encoding="utf-8")
    with Clock(children=True) as clock:
        subprocess.run([str(eflomal), "-s", str(s), "-t", str(t), "-f", f"{tmp}/fwd", "-r", f"{tmp}/rev",
                        "--overwrite", *extra], check=True, capture_output=True)
    return clock


def read_tok(path: Path, n: int | None = None) -> list[list[str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        lines = [line.lower().split() for line in fh]
    return lines[:n] if n else lines


def speed_corpus(n: int | None) -> tuple[str, list[list[str]], list[list[str]]]:
    try:
        from data.prepare import prepare
        p = prepare("bible", "es", "en", quiet=True)
        name = f"bible {p.src}-{p.tgt} train"
    except Exception as exc:  # noqa: BLE001 - any failure: fall back to the shared Multi30k
        print(f"note: bible corpus unavailable ({exc}); using Multi30k de-en", file=sys.stderr)
        from data.prepare import prepare
        p = prepare("multi30k", "de", "en", quiet=True)
        name = f"multi30k {p.src}-{p.tgt} train"
    src, tgt = read_tok(p.file("train", "src"), n), read_tok(p.file("train", "tgt"), n)
    return f"{name} ({len(src):,} pairs, lowercased)", src, tgt


def nltk_bitext(words, mots):
    from nltk.translate import AlignedSent
    return [AlignedSent(w, m) for w, m in zip(words, mots)]


def bench_speed(n: int | None, eflomal: Path | None) -> list[str]:
    from nltk.translate import IBMModel1
    name, src, tgt = speed_corpus(n)
    rows = [f"### Speed on {name}\n", "| system | what | wall s | CPU s | ratio |", "|---|---|---:|---:|---:|"]
    # One IBM1 iteration, direction P(en | es): f = target words, e = source words (+ NULL).
    with blas_threads(1):
        with Clock() as build:
            model = AlignmentModel(tgt, src)
        its = []
        for _ in range(5):
            with Clock() as c:
                model.em_iteration("ibm1")
            its.append(c)
    ours_wall = statistics.median(c.wall for c in its)
    ours_cpu = statistics.median(c.cpu for c in its)
    bitext = nltk_bitext(tgt, src)
    nl = IBMModel1(bitext, 0)
    with Clock() as nl_it:
        nl.train(bitext)
    rows.append(f"| ours | IBM1 EM iteration (median of 5) | {ours_wall:.2f} | {ours_cpu:.2f} | 1 |")
    rows.append(f"| NLTK IBMModel1 | IBM1 EM iteration | {nl_it.wall:.1f} | {nl_it.cpu:.1f} | "
                f"{nl_it.cpu / ours_cpu:.0f}× slower (CPU) |")
    rows.append(f"| ours | corpus indexing before EM (once) | {build.wall:.1f} | {build.cpu:.1f} | |")
    del nl, bitext, model
    # Full alignment, both directions.
    from smt.align import align_corpus
    for agree in (False, True):
        with Clock() as full:
            align_corpus(src, tgt, "hmm", 5, 5, "grow-diag-final-and", agreement=agree)
        how = "by agreement (default)" if agree else "independent"
        rows.append(f"| ours | full: 5 IBM1 + 5 HMM, both directions {how}, Viterbi, gdfa | "
                    f"{full.wall:.1f} | {full.cpu:.1f} | 1 |")
    with Clock() as gb:
        gibbs.posterior_links(*gibbs.align_directions(src, tgt))
    n = gibbs.default_iterations(len(src))
    rows.append(f"| ours Gibbs sampler | full: both directions, {gibbs.SAMPLERS} chains × {max(1, n // 4)} + "
                f"{max(1, n // 4)} + {n} sweeps (eflomal's schedule), posterior | "
                f"{gb.wall:.1f} | {gb.cpu:.1f} | {gb.wall / full.wall:.2f}× the EM aligner's wall time |")
    if eflomal is not None:
        with tempfile.TemporaryDirectory() as tmp:
            ef = run_eflomal(eflomal, src, tgt, tmp)
        rows.append(f"| eflomal (defaults) | full: both directions (its own schedule) | {ef.wall:.1f} | {ef.cpu:.1f} | "
                    f"ours {full.wall / ef.wall:.2f}× its wall time |")
    return rows


def hansards() -> tuple[list[list[str]], list[list[str]], list, list]:
    en = read_tok(HANSARDS / "train.en.gz") + read_tok(HANSARDS / "trial.en")
    fr = read_tok(HANSARDS / "train.fr.gz") + read_tok(HANSARDS / "trial.fr")
    def gold(name):
        return [{tuple(map(int, x.split("-"))) for x in line.split()}
                for line in (HANSARDS / f"trial.en-fr.{name}.pharaoh").read_text(encoding="utf-8").splitlines()]
    return en, fr, gold("sure"), gold("possible")


def bench_aer(nltk_iterations: int, eflomal: Path | None) -> list[str]:
    from nltk.translate import IBMModel1, IBMModel2
    en, fr, sure, possible = hansards()
    k = len(en) - 37
    rows = ["### AER on the Hansards trial set (37 pairs; trained on 2,383 + 37 pairs, lowercased)\n",
            "| system | src2tgt | tgt2src | intersect | grow-diag-final-and | posterior | P / R (gdfa) | train s (wall) |",
            "|---|---:|---:|---:|---:|---:|---|---:|"]

    def row(name, a_s2t, a_t2s, seconds):
        cells = []
        for method in ("src2tgt", "tgt2src", "intersect", "grow-diag-final-and"):
            r = aer(sure, possible, [set(x) for x in symmetrize_corpus(a_s2t, a_t2s, method)])
            cells.append(f"{r['aer']:.3f}")
        rows.append(f"| {name} | {' | '.join(cells)} | – | {r['precision']:.3f} / {r['recall']:.3f} | {seconds:.1f} |")

    configs = [(m, 5, agree) for agree in (False, True) for m in ("ibm1", "ibm2", "hmm")]
    configs.append(("hmm", 3, True))
    for model, ibm1_its, agree in configs:
        with Clock() as c, blas_threads(1):
            s2t, t2s = train_directions(en, fr, model, 5, ibm1_its, agreement=agree)
            a1, a2 = s2t.viterbi(), t2s.viterbi()
        its = "5 it" if model == "ibm1" else f"{ibm1_its} IBM1 + 5 it"
        how = "agreement" if agree else "independent"
        note = " (default)" if (model, ibm1_its, agree) == ("hmm", 5, True) else ""
        note = " ‡" if ibm1_its == 3 else note
        row(f"ours {model.upper()} {how} ({its}){note}", a1[k:], a2[k:], c.wall)

    def nltk_dir(cls, words, mots):
        bitext = nltk_bitext(words, mots)
        cls(bitext, nltk_iterations)                           # trains, then aligns every pair
        import numpy as np
        out = []
        for s in bitext[k:]:
            a = np.full(len(s.words), -1)
            for w, m in s.alignment:
                if m is not None:
                    a[w] = m
            out.append(a)
        return out

    for cls in (IBMModel1, IBMModel2):
        with Clock() as c:
            a1 = nltk_dir(cls, en, fr)                         # each English word -> one French word
            a2 = nltk_dir(cls, fr, en)
        row(f"NLTK {cls.__name__} ({nltk_iterations} it)", a1, a2, c.wall)

    for its in (3, 5):
        with Clock() as c, blas_threads(1):
            s2t, t2s = train_directions(en, fr, "hmm", 5, 5)
            f1, f2 = refine(s2t, t2s, its)
            a1, a2 = f1.viterbi(), f2.viterbi()
        note = " (`--fertility-iterations 3`)" if its == 3 else ""
        row(f"ours fertility HMM agreement (HMM + {its} it){note}", a1[k:], a2[k:], c.wall)

    def median_row(name, runs, secs):
        """A row of the median of each column over repeated runs (AER dicts: 4 methods, + posterior)."""
        med = [f"{statistics.median(r[i]['aer'] for r in runs):.3f}" for i in range(len(runs[0]))]
        p_med = statistics.median(r[3]["precision"] for r in runs)
        r_med = statistics.median(r[3]["recall"] for r in runs)
        rows.append(f"| {name} | {' | '.join(med + ['–'] * (5 - len(med)))} | {p_med:.3f} / {r_med:.3f} | "
                    f"{statistics.median(secs):.1f} |")

    # the sampler (smt/gibbs.py) with its defaults; seeded, but a chain's result depends on its seed
    # as eflomal's does, so it runs GIBBS_SEEDS like eflomal's EFLOMAL_RUNS and shows the medians
    for name, iterations in (("eflomal's schedule", None), ("2 + 2 + 10 sweeps ‡", 10)):
        runs, secs = [], []
        for seed in GIBBS_SEEDS:
            with Clock() as c:
                s2t = gibbs.GibbsAligner(en, fr, seed=seed, desc="src2tgt ")
                m1 = s2t.run(iterations)
                t2s = gibbs.GibbsAligner(fr, en, seed=seed + 1, desc="tgt2src ")
                m2 = t2s.run(iterations)
            a1, a2 = gibbs.links(s2t.lay, m1)[k:], gibbs.links(t2s.lay, m2)[k:]
            post = gibbs.posterior_links(s2t.lay, m1, t2s.lay, m2)[k:]
            runs.append([aer(sure, possible, [set(x) for x in symmetrize_corpus(a1, a2, m)])
                         for m in ("src2tgt", "tgt2src", "intersect", "grow-diag-final-and")]
                        + [aer(sure, possible, [set(x) for x in post])])
            secs.append(c.wall)
        po = sorted(r[4]["aer"] for r in runs)
        median_row(f"ours Gibbs sampler, HMM + fertility ({name}, {gibbs.SAMPLERS} chains): median of "
                   f"{len(GIBBS_SEEDS)} seeds (posterior {po[0]:.3f}–{po[-1]:.3f})", runs, secs)

    if eflomal is not None:
        import numpy as np

        def read_links(path, by_src):
            out = []
            lines = Path(path).read_text(encoding="utf-8").splitlines()[k:]
            for line, e_sent, f_sent in zip(lines, en[k:], fr[k:]):
                a = np.full(len(e_sent) if by_src else len(f_sent), -1)
                for i, j in (map(int, x.split("-")) for x in line.split()):
                    if by_src:
                        a[i] = j
                    else:
                        a[j] = i
                out.append(a)
            return out
        # eflomal samples without a fixed seed: every run differs, so each configuration runs
        # EFLOMAL_RUNS times and the row shows the median of each column (range of gdfa after it)
        for name, extra in EFLOMAL_CONFIGS:
            runs, secs = [], []
            for _ in range(EFLOMAL_RUNS):
                with tempfile.TemporaryDirectory() as tmp:
                    c = run_eflomal(eflomal, en, fr, tmp, extra)
                    # eflomal's forward links give every target word one source word (= our tgt2src).
                    a1, a2 = read_links(f"{tmp}/rev", True), read_links(f"{tmp}/fwd", False)
                runs.append([aer(sure, possible, [set(x) for x in symmetrize_corpus(a1, a2, m)])
                             for m in ("src2tgt", "tgt2src", "intersect", "grow-diag-final-and")])
                secs.append(c.wall)
            gd = sorted(r[3]["aer"] for r in runs)
            median_row(f"eflomal {name}: median of {EFLOMAL_RUNS} runs (gdfa {gd[0]:.3f}–{gd[-1]:.3f})", runs, secs)
    rows.append("\nViterbi alignments of each direction (the sampler: each word's most probable link under its "
                "marginals), symmetrised by our `symmetrize` (Moses symal order) for every system; *posterior*: "
                "link where the mean of the two directions' marginals exceeds 0.5 (`smt.gibbs.posterior_links`, "
                "the sampler's default). ‡ settings found by trying several on this very trial set (3 IBM1 "
                "iterations: 1-5; the sampler's sweeps: 5, 10, 20, 50): not fair held-out numbers, shown for "
                "the sensitivity (37 pairs: ±0.02 is noise).")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5,000 pairs for speed, 3 NLTK iterations")
    args = parser.parse_args()
    eflomal = ensure_eflomal()
    t0 = time.time()
    rows = ["## Word alignment (smt/align.py)\n",
            f"Machine: {os.cpu_count()} CPU cores (shared); numpy single BLAS thread; "
            f"{'--quick' if args.quick else 'full'} run, {time.strftime('%Y-%m-%d %H:%M')}.\n"]
    rows += bench_aer(3 if args.quick else 5, eflomal) + [""]
    rows += bench_speed(5000 if args.quick else None, eflomal) + [""]
    rows.append(f"Benchmark took {time.time() - t0:.0f} s. Command: `.venv/bin/python benchmarks/bench_align.py"
                f"{' --quick' if args.quick else ''}`.\n")
    text = "\n".join(rows)
    from data.io import atomic_write
    with atomic_write(OUT) as fh:
        fh.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
