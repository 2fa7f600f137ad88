"""Recipe study: which NMT training recipe learns fastest on the embedded bible (es→en, 28.7k pairs).

Every candidate is one ``python -m nmt train`` run with explicit settings (below), trained to a
fixed update budget with a dev evaluation every 200 updates (greedy, a seeded random sample of
300 dev sentences), one torch thread each, two candidates at a time on 2 cores — the way
``make report`` trains its systems. The table gives each candidate's dev BLEU at every
evaluation, its test BLEU (beam 5, best checkpoint) and its speed; the plot shows dev BLEU
against updates and against training minutes.

Candidates follow Sennrich & Zhang (2019, "Revisiting Low-Resource NMT"): small models, word
shortlist vs BPE, aggressive dropout, label smoothing, tuned learning rate; and Bahdanau et al.
(2015), who trained on sentences of up to 30/50 words (``--max-len 50`` here: 1,856 of the bible's 28,724
training pairs, 6.5%, are longer and are left out of NMT training, counted in ``vocab.json``).

    .venv/bin/python benchmarks/bench_recipe.py [--quick] [--jobs N]

``--quick`` trains nothing and tabulates what is there. Writes ``runs/bench/recipe.md``,
``runs/bench/recipe.json`` and ``runs/bench/recipe.png``; run folders in ``runs/bench/recipe/``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from data.io import atomic_write, read_json, write_json  # noqa: E402

RUNS = ROOT / "runs" / "bench" / "recipe"
#: settings every candidate shares (each is also recorded in its scores.json)
COMMON = ["--corpus", "bible", "--profile", "quick", "--threads", "1", "--epochs", "50", "--max-minutes", "0",
          "--eval-every", "200", "--eval-dev-size", "300", "--patience", "100", "--beam", "5", "--log-every", "20",
          "--emb", "256", "--hidden", "256", "--batch-tokens", "3000", "--max-len", "50", "--max-steps", "800"]
#: name → (what it tests, its own options)
CANDIDATES: dict[str, tuple[str, list[str]]] = {
    "A-rnnsearch-bpe4k": ("rnnsearch, BPE 4k merges, lr 2e-3, dropout 0.2, ls 0.1",
                          ["--arch", "rnnsearch", "--vocab-size", "8000", "--lr", "2e-3", "--dropout", "0.2",
                           "--label-smoothing", "0.1", "--bpe-merges", "4000"]),
    "B-rnnenc-bpe4k": ("rnnenc, BPE 4k merges, lr 2e-3, dropout 0.2, ls 0.1",
                       ["--arch", "rnnenc", "--vocab-size", "8000", "--lr", "2e-3", "--dropout", "0.2",
                        "--label-smoothing", "0.1", "--bpe-merges", "4000"]),
    "C-rnnsearch-w8k": ("rnnsearch, 8k-word shortlist (no BPE), otherwise as A",
                        ["--arch", "rnnsearch", "--vocab-size", "8000", "--lr", "2e-3", "--dropout", "0.2",
                         "--label-smoothing", "0.1", "--bpe-merges", "0"]),
    "F-rnnenc-bpe4k-rev": ("rnnenc as B reading reversed sources (Sutskever et al. 2014)",
                           ["--arch", "rnnenc", "--vocab-size", "8000", "--lr", "2e-3", "--dropout", "0.2",
                            "--label-smoothing", "0.1", "--bpe-merges", "4000", "--reverse-source"]),
}


def command(name: str) -> list[str]:
    return [sys.executable, "-m", "nmt", "train", *COMMON, *CANDIDATES[name][1], "--system", name]


def train_missing(jobs: int) -> None:
    """Run the candidates ``jobs`` at a time (each is incremental: a finished one returns at once)."""
    env = {**os.environ, "MT_RUNS_DIR": str(RUNS), "MT_NO_PROGRESS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    names = list(CANDIDATES)
    while names:
        batch, names = names[:jobs], names[jobs:]
        procs = [subprocess.Popen(command(n), cwd=ROOT, env=env) for n in batch]
        for n, pr in zip(batch, procs):
            if pr.wait():
                print(f"bench_recipe: {n} failed ({pr.returncode})", file=sys.stderr)


def read_run(name: str) -> dict | None:
    d = RUNS / "bible" / "es-en" / name
    if not (d / "scores.json").is_file():
        return None
    s = read_json(d / "scores.json")
    evals = []
    for line in (d / "train.log").read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        if rec.get("event") == "eval":
            evals.append({"step": rec["step"], "dev_bleu": rec["dev_bleu"], "minutes": round(rec["elapsed_s"] / 60, 2)})
    return {"name": name, "what": CANDIDATES[name][0], "bleu": s["bleu"], "best_dev_bleu": s["best_dev_bleu"],
            "best_step": s["best_step"], "steps": s["steps"], "train_minutes": round(s["train_seconds"] / 60, 1),
            "tokens_per_s": round(s.get("tokens", 0) / max(s["train_seconds"], 1e-9), 0) if s.get("tokens") else None,
            "evals": evals, "signature": s.get("bleu_signature", "")}


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib  # optional for the suite, always in .venv: only the plot needs it
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for r in rows:
        xs = [e["step"] for e in r["evals"]]
        ys = [e["dev_bleu"] for e in r["evals"]]
        a.plot(xs, ys, marker="o", label=r["name"])
        b.plot([e["minutes"] for e in r["evals"]], ys, marker="o", label=r["name"])
    a.set_xlabel("updates"), b.set_xlabel("training minutes (1 thread, 2 jobs on 2 cores)")
    for ax in (a, b):
        ax.set_ylabel("dev BLEU (greedy, 300 sentences)")
        ax.grid(alpha=0.3)
    a.legend(fontsize=7)
    fig.tight_layout()
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="train nothing; tabulate the candidates already trained")
    ap.add_argument("--jobs", type=int, default=2, help="candidates trained at a time")
    args = ap.parse_args()
    if not args.quick:
        train_missing(args.jobs)
    rows = [r for r in (read_run(n) for n in CANDIDATES) if r is not None]
    steps = sorted({e["step"] for r in rows for e in r["evals"]})
    lines = ["## NMT recipe study: bible es→en, dev BLEU by updates\n",
             "| candidate | settings | " + " | ".join(f"dev@{s}" for s in steps) +
             " | test BLEU | train min | updates |",
             "|---|---|" + "---:|" * len(steps) + "---:|---:|---:|"]
    for r in rows:
        by = {e["step"]: e["dev_bleu"] for e in r["evals"]}
        lines.append(f"| {r['name']} | {r['what']} | " + " | ".join(f"{by[s]:.2f}" if s in by else "" for s in steps) +
                     f" | {r['bleu']:.2f} | {r['train_minutes']} | {r['steps']} |")
    missing = [n for n in CANDIDATES if n not in {r["name"] for r in rows}]
    lines += ["", "Shared settings: `" + " ".join(COMMON) + "`.",
              f"Test BLEU: sacreBLEU `{rows[0]['signature'] if rows else ''}`, beam 5, best checkpoint by dev BLEU.",
              *([f"Not run: {', '.join(missing)}."] if missing else []), ""]
    out = ROOT / "runs" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "recipe.md") as fh:
        fh.write("\n".join(lines))
    write_json(out / "recipe.json", {"candidates": rows, "common": COMMON})
    if rows:
        plot(rows, out / "recipe.png")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
