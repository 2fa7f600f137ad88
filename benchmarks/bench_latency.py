"""Latency of `compare serve` per system -> ``runs/bench/latency.md``.

The trained systems of an existing study (default: bible es→en, the quick profile's ``make report``;
nothing is trained here — a missing study is reported as such) are loaded once as ``compare serve``
loads them and served by uvicorn on a free loopback port; every test sentence (raw,
``build/<corpus>/<src>-<tgt>/test.raw.<src>``; ``--sentences N`` takes a seeded sample) is sent to
``POST /api/translate`` for one system at a time (``explain: false``), first by one client
(requests one after another), then by ``--clients`` (4) concurrent clients. Reported per system:
p50 / p95 of the request latency (HTTP round trip on loopback, which is what a page sees), and p95
over the sentences of 25-35 tokens (the issue's 30-token target: PBSMT ≤ 1 s, rnnsearch ≤ 0.5 s at
beam 5 on 2 cores).

Usage: ``python benchmarks/bench_latency.py [--corpus bible] [--src es] [--tgt en] [--sentences N]
[--clients 4] [--threads 1] [--quick]`` (``--quick``: 100 sentences).
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from compare.translate import Study  # noqa: E402
from data.io import read_lines  # noqa: E402
from data.prepare import build_root  # noqa: E402

OUT = ROOT / "runs" / "bench" / "latency.md"


def cpu_kind() -> str:
    try:
        flags = set(open("/proc/cpuinfo").read().split())
    except OSError:
        return platform.processor() or "unknown CPU"
    feats = [f for f in ("amx_bf16", "avx512_bf16", "avx2") if f in flags]
    return f"{os.cpu_count()} cores, {', '.join(feats) or 'no AVX2'}"


def serve(study: Study):
    import uvicorn

    from compare.serve import create_app
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(study), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(600):
        if server.started:
            break
        time.sleep(0.05)
    if not server.started:
        raise SystemExit("error: the server did not start within 30 s")
    return server, thread, f"http://127.0.0.1:{port}"


def measure(url: str, name: str, sents: list[str], clients: int) -> list[float]:
    import httpx

    def one(client, text):
        t0 = time.perf_counter()
        r = client.post(f"{url}/api/translate", json={"text": text, "systems": [name], "explain": False}, timeout=600)
        r.raise_for_status()
        return time.perf_counter() - t0

    if clients == 1:
        with httpx.Client() as c:
            return [one(c, s) for s in sents]
    with ThreadPoolExecutor(clients) as pool, httpx.Client(limits=httpx.Limits(max_connections=clients)) as c:
        return list(pool.map(lambda s: one(c, s), sents))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="bible", help="the study's corpus (default: bible)")
    ap.add_argument("--src", default=None, help="source language (default: the corpus')")
    ap.add_argument("--tgt", default=None, help="target language (default: the corpus')")
    ap.add_argument("--sentences", type=int, default=None, help="a seeded sample of N test sentences (default: all)")
    ap.add_argument("--clients", type=int, default=4, help="concurrent clients of the second run (default: 4)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    ap.add_argument("--quick", action="store_true", help="100 sentences")
    args = ap.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    os.environ.setdefault("MT_NO_PROGRESS", "1")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    study = Study(args.corpus, args.src, args.tgt, whole_table=True)
    head = [f"## Latency of compare serve ({time.strftime('%Y-%m-%d')}, {cpu_kind()}, torch threads {args.threads})\n"]
    if not study.systems:
        msg = (f"No trained study in {study.base}: nothing measured (train it with `make report CORPUS={args.corpus}`). "
               + "; ".join(f"{n}: {w}" for n, w in study.unavailable.items()))
        OUT.write_text("\n".join(head + [msg, ""]), encoding="utf-8")
        print(msg)
        return 0
    load_s = time.time() - t0
    raw = build_root() / study.name / f"{study.src}-{study.tgt}" / f"test.raw.{study.src}"
    sents = read_lines(raw)
    n = 100 if args.quick and args.sentences is None else args.sentences
    if n is not None and n < len(sents):
        sents = [sents[i] for i in sorted(random.Random(1234).sample(range(len(sents)), n))]
    ntok = np.array([len(x.split()) for x in next(iter(study.systems.values())).pre(sents)])   # tokens, tokenised
    mid = (ntok >= 25) & (ntok <= 35)
    server, thread, url = serve(study)
    rows = ["| system | settings | clients | p50 (s) | p95 (s) | p95, 25-35 tokens (s) | sentences |",
            "|---|---|---:|---:|---:|---:|---:|"]
    try:
        for name, sysm in study.systems.items():
            measure(url, name, sents[:3], 1)                 # warm-up (caches, first-call costs)
            for clients in (1, args.clients):
                lat = np.array(measure(url, name, sents, clients))
                p95m = f"{np.percentile(lat[mid], 95):.3f} (n={int(mid.sum())})" if mid.any() else "–"
                rows.append(f"| {name} | {sysm.settings} | {clients} | {np.percentile(lat, 50):.3f} | "
                            f"{np.percentile(lat, 95):.3f} | {p95m} | {len(lat)} |")
                print(rows[-1], flush=True)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    text = "\n".join(head + [f"Study {study.base} ({', '.join(study.systems)}; loaded in {load_s:.1f} s); "
                             f"unavailable: {study.unavailable or 'none'}.\n", *rows, ""])
    OUT.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
