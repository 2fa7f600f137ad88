"""NMT quality benchmark: the full-profile models on Multi30k De→En against the targets of issue #4.

Trains (or reuses — the trainer is incremental and resumable) ``rnnenc`` and ``rnnsearch`` with
``PROFILE=full`` on Multi30k De→En, exactly as ``make nmt CORPUS=multi30k SRC=de TGT=en
PROFILE=full`` does, and tabulates test2016 BLEU (sacreBLEU, lowercased and cased) and chrF
against the targets and published anchors:

* rnnsearch ≥ 38 lowercased (anchors: a popular PyTorch tutorial's Bahdanau GRU 28.3;
  Lample et al. 2018's biLSTM + attention 38.4);
* rnnenc ≥ 24 (the tutorial's GRU encoder-decoder without attention: 20.6).

Each model trains for at most the profile's ``max_steps`` (rnnsearch 4,000, rnnenc 6,000 updates) with early stopping on
dev BLEU — about 2 hours for both on 2 CPU cores, minutes on a GPU. ``--quick`` trains nothing and tabulates the models that are
already there (``not run`` otherwise).

    .venv/bin/python benchmarks/bench_nmt_quality.py [--quick] [--threads N]

Writes ``runs/bench/nmt_quality.md`` and ``runs/bench/nmt_quality.json``.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from data.io import atomic_write, read_json, write_json  # noqa: E402
from data.prepare import prepare  # noqa: E402

CORPUS, SRC, TGT, PROFILE = "multi30k", "de", "en", "full"
#: arch → (target lowercased BLEU, anchors as quoted in the issue, not re-checked here)
TARGETS = {
    "rnnenc": (24.0, "tutorial GRU enc-dec 20.6"),
    "rnnsearch": (38.0, "tutorial Bahdanau GRU 28.3; Lample et al. 2018 biLSTM+att 38.4"),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="train nothing; tabulate the models already trained")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: all cores)")
    args = ap.parse_args()
    p = prepare(CORPUS, SRC, TGT)
    rows = []
    for arch, (target, anchors) in TARGETS.items():
        run_dir = p.run_dir(arch)
        if not args.quick:
            cmd = [sys.executable, "-m", "nmt", "train", "--corpus", CORPUS, "--src", SRC, "--tgt", TGT,
                   "--profile", PROFILE, "--arch", arch, *(["--threads", str(args.threads)] if args.threads else [])]
            print("+", " ".join(cmd), file=sys.stderr, flush=True)
            r = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
            if r.returncode:
                print(f"bench_nmt_quality: training {arch} failed ({r.returncode})", file=sys.stderr)
                return 1
        scores = run_dir / "scores.json"
        s = read_json(scores) if scores.is_file() else None
        if s is None or s.get("profile") != PROFILE:
            rows.append({"system": arch, "status": "not run", "target": target, "anchors": anchors})
            continue
        rows.append({
            "system": arch, "status": "ok", "target": target, "anchors": anchors,
            "bleu_lc": s["bleu_lc"], "bleu": s["bleu"], "chrf": s["chrf"], "met": s["bleu_lc"] >= target,
            "train_minutes": round(s["train_seconds"] / 60, 1), "epochs": s["epochs"], "steps": s["steps"],
            "best_dev_bleu": s["best_dev_bleu"], "stop_reason": s["stop_reason"], "device": s["device"],
            "precision": s.get("train_precision", "fp32"), "signature_lc": s.get("bleu_lc_signature", ""),
            "decode_sents_per_s": s["decode_sents_per_s"]})
    lines = ["## NMT quality: Multi30k De→En test2016, PROFILE=full\n",
             "| system | BLEU lc | target | met | BLEU cased | chrF | train min | epochs | stop | device / precision | anchors |",
             "|---|---:|---:|:--:|---:|---:|---:|---:|---|---|---|"]
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"| {r['system']} | not run | ≥{r['target']:g} | | | | | | | | {r['anchors']} |")
            continue
        lines.append(f"| {r['system']} | {r['bleu_lc']:.2f} | ≥{r['target']:g} | {'yes' if r['met'] else 'NO'} | "
                     f"{r['bleu']:.2f} | {r['chrf']:.2f} | {r['train_minutes']} | {r['epochs']:.1f} | {r['stop_reason']} | "
                     f"{r['device']} / {r['precision']} | {r['anchors']} |")
    sig = next((r["signature_lc"] for r in rows if r.get("signature_lc")), "")
    lines += ["", f"BLEU signature (lowercased): `{sig}`. Beam 5, best checkpoint by dev BLEU. "
              "Anchors are the numbers quoted in issue #4, not re-run here.", ""]
    out = ROOT / "runs" / "bench"
    with atomic_write(out / "nmt_quality.md") as fh:
        fh.write("\n".join(lines))
    write_json(out / "nmt_quality.json", {"corpus": CORPUS, "src": SRC, "tgt": TGT, "profile": PROFILE,
                                          "corpus_hash": p.manifest["hash"], "rows": rows})
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
