"""`make bench`: run every benchmark script in this folder and print/write one table of tables.

Each ``benchmarks/bench_*.py`` writes its own markdown table under ``runs/bench/``; peers that are
not dependencies of the suite (NLTK's slow reference implementations aside: eflomal, JoeyNMT) are
installed by the scripts into a separate environment, ``.venv-peers``, never into ``.venv``.
Usage: ``python benchmarks/run_all.py [--quick] [NAME ...]`` (names: align, phrases, decode, search, tune, reordering, fertility, unknown, smoothing, scaling, nmt_model, nmt, throughput, recipe, compare, latency, nmt_quality — recipe trains the NMT recipe candidates on the bible, ~1 h on 2 cores; the last trains the full-profile NMT models on Multi30k, ~2 h on 2 cores).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["align", "phrases", "decode", "search", "tune", "reordering", "fertility", "unknown", "smoothing", "scaling", "nmt_model", "nmt", "throughput", "recipe", "compare", "latency", "nmt_quality"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller samples (passed on to each script)")
    args = parser.parse_args()
    names = args.names or [n for n in ORDER if (ROOT / "benchmarks" / f"bench_{n}.py").is_file()]
    out_dir = ROOT / "runs" / "bench"
    failed = []
    for name in names:
        script = ROOT / "benchmarks" / f"bench_{name}.py"
        if not script.is_file():
            print(f"error: no benchmark {script}", file=sys.stderr)
            return 2
        print(f"== bench {name}", flush=True)
        t0 = time.time()
        r = subprocess.run([sys.executable, str(script), *(["--quick"] if args.quick else [])], cwd=ROOT)
        print(f"== bench {name}: exit {r.returncode} in {time.time() - t0:.0f} s", flush=True)
        if r.returncode:
            failed.append(name)
    tables = [f"# Benchmarks ({time.strftime('%Y-%m-%d %H:%M')})\n"]
    for name in names:
        md = out_dir / f"{name}.md"
        if md.is_file():
            tables.append(md.read_text(encoding="utf-8"))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "README.md").write_text("\n".join(tables), encoding="utf-8")
    print("\n".join(tables))
    if failed:
        print(f"error: benchmarks failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
