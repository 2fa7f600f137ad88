"""`python -m compare serve`: a local page translating with every trained system of a study, side by side.

FastAPI + uvicorn on 127.0.0.1 (``--host`` to change; never 0.0.0.0 unless asked). Every system is
loaded once at start (compare/translate.py's :class:`~compare.translate.Study`: the same pre- and
post-processing and settings as the study's test decode; PBSMT with its whole phrase table in
memory); one that fails to load is listed as unavailable with the reason and the others work.

API (JSON):
    ``GET /api/systems``  → ``{"corpus", "src", "tgt", "systems": [{name, kind, settings, bleu}],
                             "unavailable": {name: reason}, "examples": [raw test sentences]}``
    ``POST /api/translate`` ``{"text": "…", "systems": [optional names], "explain": true}`` →
                             ``{"source", "results": {name: {"text", "seconds", "explain"}}}``;
                             a bad request (not UTF-8, not JSON, empty, more than data.io.MAX_TOKENS
                             tokens, an unknown or unavailable system) → 4xx ``{"error": "…"}``.
    ``GET /``             → the page (one self-contained HTML file, no external resources).

Each system decodes in a thread pool (``run_in_executor``), one sentence at a time per system (its
caches are not shared across threads), so a slow request never blocks the page or other systems.
"""

# (no `from __future__ import annotations`: FastAPI reads the handlers' annotations, e.g. Request, at run time)
import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import torch
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from compare.translate import Study
from data.io import MAX_TOKENS, HelpFormatter, UserError

PAGE = Path(__file__).with_name("serve_page.html")


def _error(status: int, message: str):
    return JSONResponse({"error": message}, status_code=status)


def create_app(study: Study, workers: int = 4):
    """The FastAPI application over a loaded :class:`Study`."""

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="mt-suite: translate with every system", docs_url=None, redoc_url=None, lifespan=lifespan)
    examples = study.examples()

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return PAGE.read_text(encoding="utf-8")

    @app.get("/api/systems")
    def systems() -> dict:
        return {"corpus": study.name, "src": study.src, "tgt": study.tgt,
                "systems": [study.systems[n].info() for n in study.order if n in study.systems],
                "unavailable": study.unavailable, "load_seconds": study.load_seconds, "examples": examples,
                "max_tokens": MAX_TOKENS}

    @app.post("/api/translate")
    async def translate(request: Request):
        body = await request.body()
        try:
            req = json.loads(body.decode("utf-8"))
        except UnicodeDecodeError as exc:
            return _error(400, f"the request is not valid UTF-8 (byte {exc.start}: {exc.reason})")
        except json.JSONDecodeError as exc:
            return _error(400, f"the request is not JSON ({exc.msg} at character {exc.pos})")
        if not isinstance(req, dict) or not isinstance(req.get("text"), str):
            return _error(422, 'expected {"text": "a sentence", "systems": [names], "explain": true|false}')
        text = " ".join(req["text"].split())
        if not text:
            return _error(422, "the text is empty: type a sentence")
        names = req.get("systems") or [n for n in study.order if n in study.systems]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            return _error(422, '"systems" must be a list of system names')
        for n in names:
            if n in study.unavailable:
                return _error(409, f"{n} is unavailable: {study.unavailable[n]}")
            if n not in study.systems:
                return _error(404, f"no system {n!r} in this study (systems: {', '.join(study.systems)})")
        explain = bool(req.get("explain", True))
        loop = asyncio.get_running_loop()

        def run(name: str) -> dict:
            t0 = time.perf_counter()
            r = study.systems[name].translate([text], explain)[0]
            return {"text": r["text"], "seconds": round(time.perf_counter() - t0, 4),
                    **({"explain": r.get("explain")} if explain else {})}

        tasks = [loop.run_in_executor(pool, run, n) for n in names]
        results = {}
        for n, t in zip(names, tasks):
            try:
                results[n] = await t
            except UserError as exc:          # e.g. too many tokens after tokenisation
                return _error(422, str(exc))
        return {"source": text, "results": results}

    return app


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m compare serve", formatter_class=HelpFormatter,
                                description="Serve a local page that translates with every trained system of a "
                                            "study, side by side, with PBSMT's phrases and alignment and "
                                            "RNNsearch's attention (compare/serve.py).")
    p.add_argument("--corpus", default=os.environ.get("CORPUS") or "bible",
                   help="built-in corpus (bible, multi30k) or a corpus directory (default: bible)")
    p.add_argument("--src", default=None, help="source language (default: the corpus', es for bible)")
    p.add_argument("--tgt", default=None, help="target language (default: en)")
    p.add_argument("--systems", default=None, help="comma-separated system folders (default: the main ones trained)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind; 0.0.0.0 opens it to the network (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    p.add_argument("--workers", type=int, default=4, help="decoding threads (default: 4)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per NMT decode (default: 1)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0 < args.port < 65536:
        raise UserError(f"--port must be 1-65535 (got {args.port})")
    if args.workers < 1 or args.threads < 1:
        raise UserError("--workers and --threads must be >= 1")
    torch.set_num_threads(args.threads)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()] if args.systems else None
    t0 = time.time()
    study = Study(args.corpus, args.src, args.tgt, systems, whole_table=True)
    for name, why in study.unavailable.items():
        print(f"note: {name} unavailable: {why}", file=sys.stderr)
    if not study.systems:
        print(f"note: {study.base}: no trained system loaded; the page will say so", file=sys.stderr)
    print(f"loaded {', '.join(study.systems) or 'nothing'} in {time.time() - t0:.1f} s; "
          f"serving http://{args.host}:{args.port}/ (Ctrl-C stops)", flush=True)
    uvicorn.run(create_app(study, args.workers), host=args.host, port=args.port, log_level="warning")
    return 0
