"""`python -m nmt train`: train an RNN encoder-decoder (rnnenc) or RNNsearch on a prepared corpus,
translate its test set with the best checkpoint, and score it.

This module is the command: its options (generated from :class:`nmt.config.TrainConfig`, the one
list of them), the up-to-date check and the run-folder lock. The training itself — the recipe,
checkpoints, early stopping, the test set — is :class:`nmt.trainer.TrainManager`.

Re-running the same command after a crash (even ``kill -9``) continues from ``last.pt``
bit-for-bit; re-running after success does nothing (the recorded settings and the size and
SHA-256 of the scored artifacts are checked); a changed setting that is part of the resume key
starts afresh.

Artifacts in ``runs/<corpus>/<src>-<tgt>/<system>/``: ``best.pt``, ``last.pt``,
``vocab.src.txt``, ``vocab.tgt.txt``, ``vocab.json`` (sizes, UNK rates per split/side),
``bpe.codes`` (BPE models), ``train.log`` (JSON lines: one per logged step / evaluation /
resume), ``test.hyp``, ``test.tok.hyp`` (tokenised output), ``attention.npz``,
``test.unk_rate``, ``scores.json``.

Multi-GPU: run under ``torchrun --nproc_per_node=N -m nmt train …`` (see :mod:`nmt.trainer`).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
from typing import Sequence

from data import profiles
from data.io import VERSION, HelpFormatter, UserError, read_json, run_folder_lock, write_json
from data.prepare import add_corpus_args, prepared_from_args, profile_of
from nmt import config
from nmt.runtime import dist_info
from nmt.trainer import TrainManager, changed_artifacts


def build_parser(profile: str = "quick", arch: str = "rnnsearch") -> argparse.ArgumentParser:
    """The options; the profile overrides' help shows each value in ``profile`` for ``arch``."""
    ap = argparse.ArgumentParser(
        prog="python -m nmt train",
        description="Train rnnenc (Cho et al. 2014) or rnnsearch (Bahdanau et al. 2015) on a prepared corpus, "
                    "translate the test set with the best checkpoint (beam search) and score it. "
                    "Re-running resumes an interrupted run and does nothing for a finished one. "
                    "Sizes come from the profile's \"nmt\" section (data/profiles.py); options override them.",
        formatter_class=HelpFormatter)
    add_corpus_args(ap)
    config.add_arguments(ap, "main")
    ap.add_argument("--system", default=None, help="run folder name under runs/<corpus>/<src>-<tgt>/ (default: the arch)")
    ap.add_argument("--device", default="auto", help="auto (CUDA, else Apple MPS, else the CPU), cpu, cuda, cuda:N or mps")
    ap.add_argument("--threads", type=int, default=None,
                    help="CPU threads for torch; results depend on it in the last bits, scores.json records it, and a "
                         "finished run trained with another count is retrained when --threads is given "
                         "(default: all cores)")
    ap.add_argument("--force", action="store_true", help="retrain from scratch even if a finished or resumable run exists")
    ap.add_argument("--version", action="version", version=f"%(prog)s (mt-suite) {VERSION}")
    config.add_arguments(ap.add_argument_group(f"profile overrides (defaults: profile {profile}, --arch {arch})"),
                         "override", profile, arch)
    return ap


def settings_of(cfg: config.TrainConfig, p, profile: str, system: str) -> dict:
    """The run's identity as ``scores.json`` records it (a re-run with the same is up to date)."""
    return {"corpus": p.name, "src": p.src, "tgt": p.tgt, "corpus_hash": p.manifest["hash"], "system": system,
            "profile": profile, "train_config": cfg.to_dict()}


def main(argv: Sequence[str] | None = None) -> int:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--arch", default="rnnsearch", choices=["rnnenc", "rnnsearch"])
    arch = pre.parse_known_args(list(sys.argv[1:] if argv is None else argv))[0].arch
    args = build_parser(profile_of(argv), arch).parse_args(argv)
    cfg = config.resolve(args)
    system = args.system or args.arch
    if not system or "/" in system or system.startswith("."):
        raise UserError(f"--system {system!r}: must be a plain folder name")
    p = prepared_from_args(args)
    run_dir = p.run_dir(system)
    settings = settings_of(cfg, p, args.profile, system)
    scores_path = run_dir / "scores.json"
    force = args.force
    lock = run_folder_lock(run_dir, "nmt train") if dist_info()[0] == 0 else contextlib.nullcontext()
    with lock:  # one writer per run folder (rank 0 of a torchrun job holds it for all ranks)
        if scores_path.is_file() and not force:
            try:
                old = read_json(scores_path)
            except UserError:
                old = {}
            changed = changed_artifacts(run_dir, old.get("artifacts") or {})
            other_threads = (args.threads is not None and old.get("threads") not in (None, args.threads)
                             and str(old.get("device", "cpu")).startswith("cpu"))
            if other_threads and old.get("settings") == json.loads(json.dumps(settings)) and not changed:
                print(f"note: {run_dir}: trained with {old['threads']} thread(s), --threads {args.threads} asked: "
                      f"retraining (NMT results depend on the thread count in the last bits)", file=sys.stderr)
                force = True
            elif old.get("settings") == json.loads(json.dumps(settings)) and not changed:
                if "profile_section_sha256" not in old:  # trained before the hash was recorded: record it
                    write_json(scores_path, {**old, "profile_section_sha256": profiles.section_hash(args.profile, "nmt")})
                print(f"{run_dir}: up to date (BLEU {old.get('bleu')}); nothing to do")
                return 0
            if changed:  # a damaged or replaced model must not stand behind these scores: train again
                print(f"note: {run_dir}: {', '.join(changed)} changed since training (size or SHA-256 differ from "
                      f"scores.json); training again from scratch", file=sys.stderr)
                force = True
        return TrainManager(p, run_dir, cfg, settings, device=args.device, threads=args.threads, force=force).train()
