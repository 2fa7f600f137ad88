"""Orchestrate the study: train whatever systems the report needs and are missing.

Every system is trained by its own stage CLI, run as a subprocess with this interpreter
(``sys.executable -m smt|nmt train …``); those commands write
``runs/<corpus>/<src>-<tgt>/<system>/{test.hyp,scores.json,…}`` and are incremental themselves.
The systems (``report`` section of the profile decides the sizes):

==================  ===================================================================
``pbsmt``           ``python -m smt train``                     (the phrase-based baseline)
``rnnenc``          ``python -m nmt train --arch rnnenc``        (Cho et al. 2014)
``rnnsearch``       ``python -m nmt train --arch rnnsearch``     (Bahdanau et al. 2015)
``rnnsearch-vK``    ``… --arch rnnsearch --vocab-size K --system rnnsearch-vK``  (vocabulary curve)
``pbsmt-nN``        ``python -m smt train --train-size N --system pbsmt-nN --weights-from pbsmt`` (learning curve)
``rnnsearch-nN``    ``… --arch rnnsearch --train-size N --system rnnsearch-nN``
==================  ===================================================================

with K in ``report.vocab_sizes`` (the main model's own ``nmt.vocab_size`` is the main system) and
N = round(f × cleaned training size) for f in ``report.train_fractions`` (all = the main systems).

A system counts as done — and its CLI is not even started, so that re-running the report takes
seconds — when its ``scores.json`` exists and records this corpus' hash and, if it records one,
this profile (``--recheck`` runs every stage CLI anyway and lets it decide).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from data.io import UserError, read_json
from data.profiles import get

ROOT = Path(__file__).resolve().parents[1]
MAIN_SYSTEMS = ("pbsmt", "rnnenc", "rnnsearch")


@dataclass
class Job:
    system: str
    stage: str                      # "smt" or "nmt"
    args: list[str] = field(default_factory=list)  # after "<stage> train"
    experiment: str = "main"        # main | vocab | learning

    def command(self) -> list[str]:
        return [sys.executable, "-m", self.stage, "train", *self.args]


def train_sizes(total: int, fractions: Sequence[float]) -> list[int]:
    """Subset sizes ``round(f * total)`` (≥ 1), smaller than ``total``, unique, ascending."""
    sizes = sorted({max(1, round(f * total)) for f in fractions})
    return [n for n in sizes if n < total]


def plan(corpus: str, src: str, tgt: str, profile: str, train_total: int) -> list[Job]:
    """The jobs of the whole study, in the order they are run (main systems first)."""
    rep, nmt = get(profile, "report"), get(profile, "nmt")
    common = ["--corpus", str(corpus), "--src", src, "--tgt", tgt, "--profile", profile]
    jobs = [Job("pbsmt", "smt", list(common)),
            Job("rnnenc", "nmt", [*common, "--arch", "rnnenc"]),
            Job("rnnsearch", "nmt", [*common, "--arch", "rnnsearch"])]
    for k in sorted(set(rep["vocab_sizes"])):
        if k != nmt["vocab_size"]:
            jobs.append(Job(f"rnnsearch-v{k}", "nmt", [*common, "--arch", "rnnsearch", "--vocab-size", str(k),
                                                       "--system", f"rnnsearch-v{k}"], "vocab"))
    for n in train_sizes(train_total, rep["train_fractions"]):
        # learning-curve points reuse the weights MERT found for the full system (no re-tuning)
        jobs.append(Job(f"pbsmt-n{n}", "smt", [*common, "--train-size", str(n), "--system", f"pbsmt-n{n}",
                                               "--weights-from", "pbsmt"], "learning"))
        jobs.append(Job(f"rnnsearch-n{n}", "nmt", [*common, "--arch", "rnnsearch", "--train-size", str(n),
                                                   "--system", f"rnnsearch-n{n}"], "learning"))
    return jobs


def corpus_arg(corpus: str) -> str:
    """The ``--corpus`` value for the subprocesses: a directory corpus as an absolute path (they run in
    the repository root), a built-in name as is."""
    from data.corpus import DEFAULT_PAIRS

    return str(Path(corpus).resolve()) if corpus not in DEFAULT_PAIRS and Path(corpus).is_dir() else corpus


def is_done(run_dir: Path, corpus_hash: str, profile: str) -> bool:
    """``scores.json`` and ``test.hyp`` exist and the scores record this corpus hash (and profile, if any)."""
    scores = run_dir / "scores.json"
    if not (scores.is_file() and (run_dir / "test.hyp").is_file()):
        return False
    try:
        meta = read_json(scores)
    except UserError:
        return False
    if meta.get("corpus_hash") != corpus_hash:
        return False
    recorded = meta.get("profile")
    if recorded is None and isinstance(meta.get("settings"), dict):
        recorded = meta["settings"].get("profile")
    return recorded in (None, profile)


def run_jobs(jobs: Sequence[Job], system_dir, corpus_hash: str, profile: str, *, runs_dir: Path,
             recheck: bool = False, dry_run: bool = False) -> list[str]:
    """Run the missing jobs one after another; return the names of the systems that failed.

    ``system_dir(name) -> Path`` locates a system's run folder. The subprocesses get
    ``MT_RUNS_DIR=runs_dir`` so that they write where the report reads.
    """
    env = dict(os.environ, MT_RUNS_DIR=str(Path(runs_dir).resolve()))
    failed = []
    total = len(jobs)
    for i, job in enumerate(jobs, 1):
        if not recheck and is_done(system_dir(job.system), corpus_hash, profile):
            print(f"[{i}/{total}] {job.system}: up to date", flush=True)
            continue
        shown = " ".join(["python", *job.command()[1:]])
        if dry_run:
            print(f"[{i}/{total}] would train {job.system}: {shown}", flush=True)
            continue
        print(f"[{i}/{total}] training {job.system} … ({shown})", flush=True)
        t0 = time.time()
        r = subprocess.run(job.command(), cwd=ROOT, env=env)
        if r.returncode != 0:
            print(f"[{i}/{total}] {job.system} FAILED (exit {r.returncode}) after {time.time() - t0:.0f} s", flush=True)
            failed.append(job.system)
        else:
            print(f"[{i}/{total}] {job.system} done in {time.time() - t0:.0f} s", flush=True)
    return failed


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m compare experiments``: train what is missing (no report)."""
    from data.prepare import add_corpus_args, prepared_from_args, runs_root

    ap = argparse.ArgumentParser(prog="python -m compare experiments", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_corpus_args(ap)
    ap.add_argument("--runs-dir", default=str(runs_root()), help="run folders (default: runs/ in the project, or $MT_RUNS_DIR)")
    ap.add_argument("--recheck", action="store_true", help="call every stage CLI even when its scores.json looks current")
    ap.add_argument("--dry-run", action="store_true", help="only print what would be trained")
    args = ap.parse_args(argv)
    os.environ["MT_RUNS_DIR"] = str(Path(args.runs_dir).resolve())
    p = prepared_from_args(args)
    jobs = plan(corpus_arg(args.corpus), p.src, p.tgt, args.profile, int(p.manifest["counts"]["train"]))
    base = Path(args.runs_dir) / p.name / f"{p.src}-{p.tgt}"
    failed = run_jobs(jobs, lambda s: base / s, p.hash, args.profile, runs_dir=Path(args.runs_dir),
                      recheck=args.recheck, dry_run=args.dry_run)
    if failed:
        raise UserError(f"training failed for: {', '.join(failed)} (see the output above)")
    return 0
