"""Training throughput and model FLOP utilisation (MFU) of rnnenc and rnnsearch at the default
study's sizes, and how they scale with CPU threads.

For each thread count (1, 2, 4, 8 up to the machine's cores, or ``--threads``), path (``plain``: the
formulation before the fast paths; ``fast``: what training runs now) and precision (fp32; bf16 autocast
where the CPU has native bf16): the matmul peak (best FLOP/s of a 1024² product), and for each
architecture the seconds per Adam update on a synthetic batch shaped like the profile's
(``batch_tokens`` padded tokens of 30-token sentences), target tokens/s, achieved FLOP/s
(FLOPs counted by ``torch.utils.flop_counter``) and MFU = achieved ÷ peak. See
:mod:`nmt.throughput`.

    .venv/bin/python benchmarks/bench_throughput.py [--quick] [--profile quick]

Writes ``runs/bench/throughput.md`` and ``runs/bench/throughput.json``.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from data.io import atomic_write, write_json  # noqa: E402
from data.profiles import get  # noqa: E402
from nmt.model import ModelConfig  # noqa: E402
from nmt.runtime import cpu_has_fast_bf16  # noqa: E402
from nmt.throughput import matmul_peak, probe  # noqa: E402


def cpu_kind() -> str:
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return platform.processor() or "unknown"
    name = next((ln.split(":", 1)[1].strip() for ln in flags.splitlines() if ln.startswith("model name")), "?")
    isa = "AMX-BF16 + AVX512-BF16" if "amx_bf16" in flags else "AVX512-BF16" if "avx512_bf16" in flags else "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "?"
    return f"{name} ({isa})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer timed updates (default: off)")
    ap.add_argument("--no-plain", action="store_true",
                    help="skip the 'plain' rows (the formulation before the fast paths; default: measured too)")
    ap.add_argument("--profile", default="quick", help="whose nmt sizes to measure (default: quick)")
    ap.add_argument("--threads", type=int, nargs="+", default=None,
                    help="thread counts to measure (default: 1, 2, 4, … up to the machine's cores)")
    args = ap.parse_args()
    cfg = get(args.profile, "nmt")
    vocab = min(cfg["vocab_size"], cfg["bpe_merges"] + 300) if cfg.get("bpe_merges") else cfg["vocab_size"]
    cores = os.cpu_count() or 1
    threads = args.threads or [t for t in (1, 2, 4, 8, 16) if t <= cores]
    precisions = [("fp32", None)] + ([("bf16", torch.bfloat16)] if cpu_has_fast_bf16() else [])
    updates = 2 if args.quick else 4
    paths = ["fast"] if args.no_plain else ["plain", "fast"]
    rows = []
    for t in threads:
        torch.set_num_threads(t)
        for pname, dtype in precisions:
            peak = matmul_peak(dtype or torch.float32)
            for arch, path in [(a, p) for a in ("rnnenc", "rnnsearch") for p in paths]:
                mc = ModelConfig(arch, src_vocab=vocab, tgt_vocab=vocab, emb=cfg["emb"], hidden=cfg["hidden"],
                                 layers=cfg["layers"], cell=cfg["cell"])
                pr = probe(mc, cfg["batch_tokens"], length=30, updates=updates, amp=dtype, plain=path == "plain")
                rows.append({"threads": t, "precision": pname, "arch": arch, "path": path,
                             "peak_gflops": round(peak / 1e9, 1),
                             "s_per_update": round(pr.seconds_per_update, 4), "tokens_per_s": round(pr.tokens_per_s),
                             "mflop_per_token": round(pr.flops_per_token / 1e6, 2),
                             "gflops": round(pr.flops_per_s / 1e9, 2), "mfu": round(pr.flops_per_s / peak, 3)})
                print(rows[-1], flush=True)
    base = {(r["precision"], r["arch"], r["path"]): r["tokens_per_s"] for r in rows if r["threads"] == rows[0]["threads"]}
    plain = {(r["threads"], r["precision"], r["arch"]): r["tokens_per_s"] for r in rows if r["path"] == "plain"}
    lines = [f"## NMT training throughput and MFU ({args.profile} profile sizes: emb {cfg['emb']}, hidden {cfg['hidden']}, "
             f"{vocab} target units, {cfg['batch_tokens']} tokens/batch)\n",
             f"Machine: {cpu_kind()}, {cores} cores, torch {torch.__version__}.\n",
             f"| threads | precision | arch | path | matmul peak GFLOP/s | s/update | target tok/s | speed-up vs "
             f"{rows[0]['threads']} thread(s) | fast vs plain | MFLOP/token | achieved GFLOP/s | MFU |",
             "|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        sp = r["tokens_per_s"] / max(base[(r["precision"], r["arch"], r["path"])], 1)
        pl = plain.get((r["threads"], r["precision"], r["arch"]))
        vs = f"{r['tokens_per_s'] / pl:.2f}×" if pl and r["path"] == "fast" else "—"
        lines.append(f"| {r['threads']} | {r['precision']} | {r['arch']} | {r['path']} | {r['peak_gflops']} | "
                     f"{r['s_per_update']} | {r['tokens_per_s']:,} | {sp:.2f}× | {vs} | {r['mflop_per_token']} | "
                     f"{r['gflops']} | {r['mfu']:.1%} |")
    lines += ["", "path: `fast` = what training runs now (CPU GRU encoder as fused padded calls, output layer and "
              "loss fused: nmt/encoders.py, nmt/loss.py); `plain` = the formulation before them (packed encoder "
              "call, `F.cross_entropy` on the full logits) — the same model and math.",
              "", "Synthetic batches (random ids, every sentence 30 tokens), after one warm-up update; "
              "FLOPs of forward + backward from `torch.utils.flop_counter`. Real batches vary in length "
              "(bucketed), so real tokens/s are a little lower.", ""]
    out = ROOT / "runs" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "throughput.md") as fh:
        fh.write("\n".join(lines))
    write_json(out / "throughput.json", {"machine": cpu_kind(), "cores": cores, "rows": rows})
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
