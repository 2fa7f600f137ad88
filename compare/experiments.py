"""Orchestrate the study: train whatever systems the report needs and are missing.

Every system is trained by its own stage CLI, run as a subprocess with this interpreter
(``sys.executable -m smt|nmt train …``); those commands write
``runs/<corpus>/<src>-<tgt>/<system>/{test.hyp,scores.json,…}`` and are incremental themselves.
The systems (``report`` section of the profile decides the sizes):

==================  ===================================================================
``pbsmt``           ``python -m smt train``                     (the phrase-based baseline)
``rnnenc``          ``python -m nmt train --arch rnnenc``        (Cho et al. 2014)
``rnnsearch``       ``python -m nmt train --arch rnnsearch``     (Bahdanau et al. 2015)
``rnnsearch-vK``    ``… --arch rnnsearch --vocab-size K [--bpe-merges 0] --system rnnsearch-vK``  (vocabulary
                    curve: word shortlists of K words, beside a main rnnsearch of BPE units)
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
import math
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from compare import analysis_cache as cache
from data.io import VERSION, HelpFormatter, profile_default, UserError, die_with_parent, plain_doc, read_json, sha256_file
from data.corpus import DEFAULT_PAIRS
from data.prepare import add_corpus_args, prepared_from_args, profile_of, runs_root
from data.profiles import get, section_hash

ROOT = Path(__file__).resolve().parents[1]
MAIN_SYSTEMS = ("pbsmt", "rnnenc", "rnnsearch")


@dataclass
class Job:
    system: str
    stage: str                      # "smt", "nmt" or "analyse" (the decoding analyses of a trained system)
    args: list[str] = field(default_factory=list)  # after "<stage> train" (after "compare analyse")
    experiment: str = "main"        # main | vocab | learning | analyses
    after: tuple[str, ...] = ()     # systems that must be finished first (e.g. --weights-from)
    max_steps: int | None = None    # NMT update budget (for the plan and the ETA)
    folder: str | None = None       # the run folder it writes (default: ``system``)
    done: Callable[[], bool] | None = field(default=None, compare=False, repr=False)  # up to date? (default: is_done)

    @property
    def run_folder(self) -> str:
        return self.folder or self.system

    @property
    def log_name(self) -> str:
        """Its output when run beside others (in its run folder)."""
        return "analyse.log" if self.stage == "analyse" else "job.log"

    @property
    def verb(self) -> str:
        return "analysing" if self.stage == "analyse" else "training"

    def command(self, threads: int | None = None) -> list[str]:
        extra: list[str] = []
        if threads:
            extra = ["--jobs", str(threads)] if self.stage == "smt" else ["--threads", str(threads)]
        if self.stage == "analyse":
            return [sys.executable, "-m", "compare", "analyse", *self.args, *extra]
        return [sys.executable, "-m", self.stage, "train", *self.args, *extra]


def train_sizes(total: int, fractions: Sequence[float]) -> list[int]:
    """Subset sizes ``round(f * total)`` (≥ 1), smaller than ``total``, unique, ascending."""
    sizes = sorted({max(1, round(f * total)) for f in fractions})
    return [n for n in sizes if n < total]


def plan(corpus: str, src: str, tgt: str, profile: str, train_total: int) -> list[Job]:
    """The jobs of the whole study, in the order they are started: PBSMT first (its learning-curve
    points reuse its weights), the NMT systems longest budget first, the variants after them, and
    the short SMT learning-curve points last, where they fill a core the last NMT systems leave free."""
    rep, nmt = get(profile, "report"), get(profile, "nmt")
    common = ["--corpus", str(corpus), "--src", src, "--tgt", tgt, "--profile", profile]
    steps = nmt.get("max_steps")
    enc_steps = nmt.get("per_arch", {}).get("rnnenc", {}).get("max_steps", steps)
    main_nmt = [Job("rnnsearch", "nmt", [*common, "--arch", "rnnsearch"], max_steps=steps),
                Job("rnnenc", "nmt", [*common, "--arch", "rnnenc"], max_steps=enc_steps)]
    jobs = [Job("pbsmt", "smt", list(common)), *sorted(main_nmt, key=lambda j: -(j.max_steps or 0))]
    words = ["--bpe-merges", "0"] if nmt.get("bpe_merges") else []  # shortlists are of words
    for k in sorted(set(rep["vocab_sizes"])):
        if words or k != nmt["vocab_size"]:
            jobs.append(Job(f"rnnsearch-v{k}", "nmt", [*common, "--arch", "rnnsearch", "--vocab-size", str(k), *words,
                                                       "--system", f"rnnsearch-v{k}"], "vocab", max_steps=steps))
    sizes = train_sizes(train_total, rep["train_fractions"])
    for n in sizes:
        # the same number of epochs as the full system (report.learning_budget "epochs"): a shared update
        # count would give the small subsets many more epochs and flatten the curve by the budget alone;
        # "patience": the profile's own budget (early stopping decides)
        n_steps = learning_steps(steps, n, train_total, rep.get("learning_budget", "epochs"))
        budget = ["--max-steps", str(n_steps)] if n_steps != steps else []
        jobs.append(Job(f"rnnsearch-n{n}", "nmt", [*common, "--arch", "rnnsearch", "--train-size", str(n), *budget,
                                                   "--system", f"rnnsearch-n{n}"], "learning", max_steps=n_steps))
    for n in sizes:
        # learning-curve points reuse the weights MERT found for the full system (no re-tuning)
        jobs.append(Job(f"pbsmt-n{n}", "smt", [*common, "--train-size", str(n), "--system", f"pbsmt-n{n}",
                                               "--weights-from", "pbsmt"], "learning", after=("pbsmt",)))
    # seed replicas of the main systems (report.seeds): MERT's seed for PBSMT, weights/data order/dropout
    # for NMT; the page gives mean ± sd over the main system and its replicas
    for seed in rep.get("seeds", []):
        jobs.append(Job(f"pbsmt-s{seed}", "smt", [*common, "--mert-seed", str(seed), "--system", f"pbsmt-s{seed}"],
                        "seeds"))
        for j in main_nmt:
            jobs.append(Job(f"{j.system}-s{seed}", "nmt", [*j.args, "--seed", str(seed), "--system", f"{j.system}-s{seed}"],
                            "seeds", max_steps=j.max_steps))
    return jobs


def learning_steps(steps: int | None, n: int, total: int, budget: str) -> int | None:
    """The update budget of a learning-curve point on ``n`` of ``total`` pairs: ``epochs`` = as many
    epochs as the full system's ``steps`` updates give it (at least 1 update); ``patience`` = ``steps``."""
    if budget not in ("epochs", "patience"):
        raise UserError(f"report.learning_budget must be epochs or patience (got {budget!r})")
    if steps is None or budget == "patience":
        return steps
    return max(1, math.ceil(steps * n / max(total, 1)))


def analysis_jobs(p, base: Path, corpus: str, profile: str) -> list[Job]:
    """One ``python -m compare analyse`` job per main system (its beam sweep and out-of-domain
    translations, ``compare/analyses.py``), started as soon as the system is trained, beside the
    training still running; up to date when its caches are current."""
    common = ["--corpus", str(corpus), "--src", p.src, "--tgt", p.tgt, "--profile", profile]
    jobs = []
    for name in cache.ANALYSED:
        d = base / name

        def current(d=d, name=name) -> bool:
            return cache.is_trained(d, name) and cache.is_current(p, d, name, profile)

        jobs.append(Job(f"{name}:analyses", "analyse", [*common, "--system", name], "analyses", after=(name,),
                        folder=name, done=current))
    return jobs


def corpus_arg(corpus: str) -> str:
    """The ``--corpus`` value for the subprocesses: a directory corpus as an absolute path (they run in
    the repository root), a built-in name as is."""
    return str(Path(corpus).resolve()) if corpus not in DEFAULT_PAIRS and Path(corpus).is_dir() else corpus


def verify_outputs(run_dir: Path) -> str | None:
    """Why the outputs of a finished run folder cannot be trusted, or None when they can: its
    ``scores.json`` unreadable, or a file whose size or SHA-256 differs from what the trainer
    recorded — NMT: ``scores.json``'s ``artifacts`` (best.pt, test.hyp, the vocabularies); PBSMT:
    the ``outputs`` of every ``*.stamp.json`` of the folder (test.hyp, test.tok.hyp, the tables,
    the LM, weights.json …). A run that records nothing is trusted (older runs)."""
    run_dir = Path(run_dir)
    try:
        meta = read_json(run_dir / "scores.json")
    except UserError as exc:
        return str(exc)
    if not isinstance(meta, dict):
        return f"{run_dir / 'scores.json'}: not a scores file"
    recorded: dict[str, dict] = dict(meta.get("artifacts") or {})
    for stamp in sorted(run_dir.glob("*.stamp.json")):
        try:
            outputs = (read_json(stamp) or {}).get("outputs") or {}
        except (UserError, AttributeError):
            return f"{stamp}: unreadable stamp"
        for name, st in outputs.items():
            if name not in recorded and (run_dir / name).parent == run_dir:
                recorded[name] = st
    changed = []
    for name, st in sorted(recorded.items()):
        f = run_dir / name
        if not f.is_file():
            changed.append(f"{name} missing")
        elif f.stat().st_size != st.get("size") or sha256_file(f) != st.get("sha256"):
            changed.append(f"{name} changed")
    if changed:
        return f"{run_dir}: {', '.join(changed)} since training (size or SHA-256 differ from the record)"
    return None


def settings_mismatch(run_dir: Path, expected: dict | None) -> str | None:
    """Why the system in ``run_dir`` cannot stand in the study although it is finished: it was trained
    with settings that change its numbers from the study's (``expected``: e.g. ``{"threads": 1}``
    for an NMT system: NMT results depend on the thread count in the last bits; PBSMT's do not).
    One line, or None when nothing recorded differs (runs that record nothing are taken as they are)."""
    if not expected:
        return None
    try:
        meta = read_json(run_dir / "scores.json")
    except (UserError, OSError):
        return None
    threads = expected.get("threads")
    if (threads is not None and meta.get("threads") not in (None, threads)
            and str(meta.get("device", "cpu")).startswith("cpu")):
        return (f"{run_dir.name}: trained with {meta['threads']} thread(s), the study uses {threads}: retraining "
                f"(NMT results depend on the thread count in the last bits)")
    return None


_SAID: set[str] = set()


def study_settings(job: "Job", threads: int | None) -> dict | None:
    """What the study trains ``job`` with that changes its numbers (see :func:`settings_mismatch`)."""
    return {"threads": threads} if job.stage == "nmt" and threads else None


def is_done(run_dir: Path, corpus_hash: str, profile: str, stage: str | None = None,
            expected: dict | None = None) -> bool:
    """``scores.json`` and ``test.hyp`` exist and the scores record this corpus hash, this profile (if
    they record one) and — given the ``stage`` — the hash of the profile's stage section it was
    trained with: a changed profile makes the stage CLI run, and that decides what to redo."""
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
    if recorded not in (None, profile):
        return False
    if not (stage is None or recorded is None or meta.get("profile_section_sha256") == section_hash(profile, stage)):
        return False
    reason = verify_outputs(run_dir)
    if reason is not None:   # the stage CLI redoes what is damaged (its own stamps say what)
        print(f"note: {reason}; re-running its trainer to redo what is damaged", flush=True)
        return False
    why = settings_mismatch(run_dir, expected)
    if why is not None:
        if why not in _SAID:   # said once, though the plan and the scheduler both ask
            _SAID.add(why)
            print(f"note: {why}", flush=True)
        return False
    return True


def resolve_jobs(jobs_arg: str | int | None, threads: int) -> int:
    """``JOBS``: ``auto`` (or unset) = as many concurrent systems as the cores hold at ``threads`` each."""
    if jobs_arg in (None, "", "auto"):
        return max(1, (os.cpu_count() or 1) // max(threads, 1))
    try:
        n = int(jobs_arg)
    except (TypeError, ValueError):
        raise UserError(f"--jobs {jobs_arg!r}: give a positive number or auto") from None
    if n < 1:
        raise UserError(f"--jobs must be at least 1 (got {n})")
    return n


def _progress_line(job: Job, run_dir: Path, t0: float) -> str:
    """One line on a running system: its last train.log record, and an ETA from its update budget."""
    elapsed = time.time() - t0
    if job.stage == "analyse":
        return f"{job.system}: decoding ({elapsed / 60:.1f} min)"
    last = None
    try:
        with open(run_dir / "train.log", "rb") as fh:
            fh.seek(0, 2)
            fh.seek(max(0, fh.tell() - 4096))
            tail = fh.read().decode("utf-8", "replace").splitlines()
        last = tail[-1] if tail else None
    except OSError:
        pass
    if job.stage == "nmt" and last:
        try:
            rec = json.loads(last)
        except json.JSONDecodeError:
            rec = {}
        step = rec.get("step")
        if isinstance(step, int) and step > 0:
            txt = f"step {step:,}"
            if job.max_steps:
                txt += f"/{job.max_steps:,}"
                eta = elapsed / step * max(job.max_steps - step, 0)
                txt += f", ETA ≤ {eta / 60:.1f} min"
            if rec.get("tokens_per_s"):
                txt += f", {rec['tokens_per_s']:,.0f} tok/s"
            if rec.get("best_dev_bleu") is not None:
                txt += f", best dev BLEU {rec['best_dev_bleu']}"
            return f"{job.system}: {txt} ({elapsed / 60:.1f} min)"
    if job.stage == "smt" and last:
        return f"{job.system}: {last.split(' ', 1)[-1][:80]} ({elapsed / 60:.1f} min)"
    return f"{job.system}: starting ({elapsed / 60:.1f} min)"


def run_jobs(jobs: Sequence[Job], system_dir, corpus_hash: str, profile: str, *, runs_dir: Path,
             recheck: bool = False, dry_run: bool = False, n_jobs: int = 1, threads: int | None = None,
             status_every: float = 30.0) -> list[str]:
    """Run the missing jobs, up to ``n_jobs`` at a time; return the names of the systems that failed.

    ``system_dir(name) -> Path`` locates a system's run folder. Each job is started as soon as a
    slot is free and the systems it needs (``Job.after``) are finished, in plan order. Every child
    gets ``threads`` (NMT ``--threads``, SMT ``--processes``): a fixed count per system, whatever
    ``n_jobs`` is, so that a concurrent study gives the same numbers as a sequential one (torch's
    results depend on its thread count in the last bits). The subprocesses get
    ``MT_RUNS_DIR=runs_dir`` so that they write where the report reads; with ``n_jobs > 1`` their
    output goes to ``<run folder>/job.log`` and one progress line per running system is printed
    every ``status_every`` seconds.
    """
    env = dict(os.environ, MT_RUNS_DIR=str(Path(runs_dir).resolve()))
    total = len(jobs)
    number = {job.system: i for i, job in enumerate(jobs, 1)}
    pending: list[Job] = []
    finished: set[str] = set()
    failed: list[str] = []
    for job in jobs:
        up_to_date = job.done() if job.done is not None else is_done(system_dir(job.system), corpus_hash, profile, job.stage,
                                                                                   study_settings(job, threads))
        if not recheck and up_to_date:
            print(f"[{number[job.system]}/{total}] {job.system}: up to date", flush=True)
            finished.add(job.system)
        elif dry_run:
            shown = " ".join(["python", *job.command(threads)[1:]])
            print(f"[{number[job.system]}/{total}] would {'analyse' if job.stage == 'analyse' else 'train'} {job.system}: {shown}", flush=True)
        else:
            pending.append(job)
    if dry_run:
        return []
    concurrent = n_jobs > 1
    if concurrent:
        env["MT_NO_PROGRESS"] = "1"  # the children's bars would interleave; we print status lines
    running: dict[str, tuple[Job, subprocess.Popen, float, object]] = {}
    last_status = time.time()
    try:
        while pending or running:
            # start what can start
            for job in list(pending):
                if len(running) >= n_jobs:
                    break
                if any(dep in pending_names(pending, running) for dep in job.after):
                    continue
                if any(dep in failed for dep in job.after):
                    print(f"[{number[job.system]}/{total}] {job.system}: skipped ({', '.join(job.after)} failed)", flush=True)
                    pending.remove(job)
                    failed.append(job.system)
                    continue
                pending.remove(job)
                cmd = job.command(threads)
                shown = " ".join(["python", *cmd[1:]])
                print(f"[{number[job.system]}/{total}] {job.verb} {job.system} … ({shown})", flush=True)
                out = None
                if concurrent:
                    d = system_dir(job.run_folder)
                    d.mkdir(parents=True, exist_ok=True)
                    out = open(d / job.log_name, "w", encoding="utf-8")
                proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT if out else None,
                                        preexec_fn=die_with_parent if os.name == "posix" else None)
                running[job.system] = (job, proc, time.time(), out)
            # reap
            for name, (job, proc, t0, out) in list(running.items()):
                rc = proc.poll()
                if rc is None:
                    continue
                if out is not None:
                    out.close()
                del running[name]
                took = time.time() - t0
                if rc != 0:
                    print(f"[{number[name]}/{total}] {name} FAILED (exit {rc}) after {took:.0f} s", flush=True)
                    if out is not None:
                        _print_tail(system_dir(job.run_folder) / job.log_name)
                    failed.append(name)
                else:
                    print(f"[{number[name]}/{total}] {name} done in {took:.0f} s", flush=True)
                    finished.add(name)
            if concurrent and running and time.time() - last_status >= status_every:
                for name, (job, _proc, t0, _out) in running.items():
                    print("    " + _progress_line(job, system_dir(job.run_folder), t0), flush=True)
                last_status = time.time()
            if running:
                time.sleep(0.5 if not concurrent else 1.0)
    finally:  # interrupted: stop the children too (they resume from their checkpoints next time)
        for _name, (_job, proc, _t0, out) in running.items():
            if proc.poll() is None:
                proc.terminate()
        for _name, (_job, proc, _t0, out) in running.items():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            if out is not None:
                out.close()
    return failed


#: One `smt train` (quick profile, one decoder process) on the reference machine (2-core AMD EPYC,
#: AVX512-BF16): fixed seconds (LM, loading, decoding test), seconds per 1,000 training pairs, and
#: seconds per dev sentence and MERT iteration; and that machine's fp32 matmul peak with one
#: thread: the SMT estimate is scaled by this machine's peak against it. Rough by design.
SMT_FIXED_SECONDS = 50.0
SMT_SECONDS_PER_KPAIR = 4.5
SMT_SECONDS_PER_TUNE_SENTENCE = 0.12
#: the lexicalised reordering model's extra cost (orientations at extraction, 14 weights; bible: 526 s vs 475)
SMT_MSD_FACTOR = 1.1
#: the Gibbs sampler aligner's extra seconds per 1,000 pairs over the EM aligner's (bible align step:
#: 175 s vs 38 s — the sampler, and the EM HMMs that forced alignment still needs)
SMT_GIBBS_SECONDS_PER_KPAIR = 4.8
REFERENCE_PEAK_FP32 = 106e9   # n = 512, one thread
#: Seconds of each system's decoding analyses (quick profile: a 150-sentence sweep, 1,000
#: out-of-domain sentences) on that machine.
ANALYSIS_SECONDS = {"pbsmt": 30.0, "rnnenc": 50.0, "rnnsearch": 140.0}


def estimate(jobs: Sequence[Job], profile: str, train_total: int, threads: int, n_jobs: int,
             probe_updates: int = 2) -> tuple[dict[str, float], float]:
    """Estimated seconds per job (NMT: its update budget at the probed speed — an upper bound, since
    early stopping usually comes first; SMT: per training pair) and the wall time of running them
    ``n_jobs`` at a time in plan order. The probe takes a few seconds per NMT architecture."""
    import torch  # the probe needs torch; the rest of the study module does not

    from nmt.model import ModelConfig  # with torch: only for the probe
    from nmt.throughput import matmul_peak, probe  # idem

    nmt_cfg, smt_cfg = get(profile, "nmt"), get(profile, "smt")
    torch.set_num_threads(max(1, threads))
    peak = matmul_peak(torch.float32, n=512, seconds=0.3)
    per_update: dict[str, float] = {}
    est: dict[str, float] = {}
    for job in jobs:
        if job.stage == "analyse":
            est[job.system] = ANALYSIS_SECONDS.get(job.run_folder, 60.0) * REFERENCE_PEAK_FP32 / max(peak, 1e9)
            continue
        if job.stage == "smt":
            n = train_total
            if "--train-size" in job.args:
                n = int(job.args[job.args.index("--train-size") + 1])
            secs = SMT_FIXED_SECONDS + SMT_SECONDS_PER_KPAIR * n / 1000
            if smt_cfg["align_model"] == "gibbs":
                secs += SMT_GIBBS_SECONDS_PER_KPAIR * n / 1000
            if "--weights-from" not in job.args:  # MERT
                secs += SMT_SECONDS_PER_TUNE_SENTENCE * (smt_cfg.get("tune_dev_size") or 1000) * smt_cfg["mert_iterations"]
            if smt_cfg.get("reordering", "distance") != "distance":
                secs *= SMT_MSD_FACTOR
            est[job.system] = secs * REFERENCE_PEAK_FP32 / max(peak, 1e9)
            continue
        arch = job.args[job.args.index("--arch") + 1]
        vocab = nmt_cfg["vocab_size"]
        if "--vocab-size" in job.args:
            vocab = int(job.args[job.args.index("--vocab-size") + 1])
        if nmt_cfg.get("bpe_merges"):
            vocab = min(vocab, nmt_cfg["bpe_merges"] + 300)
        key = f"{arch}-{vocab}"
        if key not in per_update:
            mc = ModelConfig(arch, src_vocab=vocab, tgt_vocab=vocab, emb=nmt_cfg["emb"], hidden=nmt_cfg["hidden"],
                             layers=nmt_cfg["layers"], cell=nmt_cfg["cell"])
            per_update[key] = probe(mc, nmt_cfg["batch_tokens"], length=30, updates=probe_updates).seconds_per_update
        est[job.system] = per_update[key] * (job.max_steps or 1000) + 30  # + the test set's beam search
    slots = [0.0] * max(1, n_jobs)
    done_at: dict[str, float] = {}
    for job in jobs:  # list scheduling in plan order, as run_jobs does
        i = min(range(len(slots)), key=slots.__getitem__)
        start = max([slots[i], *(done_at.get(d, 0.0) for d in job.after)])
        done_at[job.system] = slots[i] = start + est[job.system]
    return est, max(slots)


def print_plan(jobs: Sequence[Job], est: dict[str, float], wall: float, n_jobs: int, threads: int) -> None:
    n_train = sum(j.stage != "analyse" for j in jobs)
    what = f"{n_train} systems to train" + (f" and {len(jobs) - n_train} to analyse" if n_train < len(jobs) else "")
    print(f"plan: {what}, {n_jobs} at a time, {threads} thread(s) each", flush=True)
    for job in jobs:
        if job.stage == "analyse":
            budget = "beam/stack-size sweep, out-of-domain test sets"
        elif job.max_steps:
            budget = f"≤ {job.max_steps:,} updates, early stopping on dev BLEU"
        else:
            budget = "align, extract, LM" + (f", weights of {job.after[0]}" if job.after else ", MERT")
        print(f"  {job.system:<19} {job.stage:<7} {budget:<46} ~{est[job.system] / 60:5.1f} min", flush=True)
    print(f"estimated time on this machine: ≤ {wall / 60:.0f} min (from a short throughput probe; "
          f"early stopping usually ends NMT sooner)", flush=True)


def pending_names(pending: Sequence[Job], running: dict) -> set[str]:
    """Systems not finished yet (waiting or running)."""
    return {j.system for j in pending} | set(running)


def _print_tail(path: Path, n: int = 15) -> None:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()[-n:]
    except OSError:
        return
    for line in lines:
        print(f"    | {line}", flush=True)


def add_job_args(ap: argparse.ArgumentParser, profile: str = "quick") -> None:
    """--jobs, --threads (its default from ``profile``'s report section), --no-estimate, --version."""
    ap.add_argument("--jobs", default=os.environ.get("JOBS") or "auto",
                    help="systems trained at the same time: auto (cores / threads) or N; the results do not depend "
                         "on it (default: %(default)s)")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads per system (NMT torch threads, SMT decoder processes), fixed so that results do not "
                         "depend on --jobs; an NMT system trained with another count is retrained; "
                         + profile_default(get(profile, "report").get("threads", 1), profile))
    ap.add_argument("--version", action="version", version=f"%(prog)s (mt-suite) {VERSION}")
    ap.add_argument("--no-estimate", action="store_true", help="skip the throughput probe behind the plan's time estimate")


def train_missing(args, p, analyse: bool = False) -> list[str]:
    """Plan the study, print the plan with its time estimate, train what is missing (and, with
    ``analyse``, run the decoding analyses of each main system as soon as it is trained); the failed jobs."""
    threads = args.threads or get(args.profile, "report").get("threads", 1)
    if threads < 1:
        raise UserError(f"--threads must be at least 1 (got {threads})")
    n_jobs = resolve_jobs(args.jobs, threads)
    corpus = corpus_arg(args.corpus)
    jobs = plan(corpus, p.src, p.tgt, args.profile, int(p.manifest["counts"]["train"]))
    base = p.runs_base(args.runs_dir)
    if analyse:
        jobs += analysis_jobs(p, base, corpus, args.profile)
    todo = [j for j in jobs if args.recheck or not (j.done() if j.done is not None else
                                                    is_done(base / j.system, p.hash, args.profile, j.stage,
                                                                   study_settings(j, threads)))]
    if todo and not getattr(args, "dry_run", False):
        if args.no_estimate:
            print(f"plan: {len(todo)} of {len(jobs)} jobs to run, {n_jobs} at a time, {threads} thread(s) each",
                  flush=True)
        else:
            est, wall = estimate(todo, args.profile, int(p.manifest["counts"]["train"]), threads, n_jobs)
            print_plan(todo, est, wall, n_jobs, threads)
    return run_jobs(jobs, lambda s: base / s, p.hash, args.profile, runs_dir=Path(args.runs_dir),
                    recheck=args.recheck, dry_run=getattr(args, "dry_run", False), n_jobs=n_jobs, threads=threads)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m compare experiments``: train what is missing (no report)."""

    ap = argparse.ArgumentParser(prog="python -m compare experiments", description=plain_doc(__doc__),
                                 formatter_class=HelpFormatter)
    add_corpus_args(ap)
    ap.add_argument("--runs-dir", default=str(runs_root()), help="run folders, or $MT_RUNS_DIR when set (default: %(default)s)")
    ap.add_argument("--recheck", action="store_true", help="call every stage CLI even when its scores.json looks current")
    ap.add_argument("--dry-run", action="store_true", help="only print what would be trained")
    add_job_args(ap, profile_of(argv))
    args = ap.parse_args(argv)
    os.environ["MT_RUNS_DIR"] = str(Path(args.runs_dir).resolve())
    p = prepared_from_args(args)
    failed = train_missing(args, p)
    if failed:
        raise UserError(f"training failed for: {', '.join(failed)} (see the output above)")
    return 0
