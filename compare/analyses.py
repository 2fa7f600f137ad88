"""The decoding analyses of one trained system, as a job of the study: its beam/stack-size sweep
(``compare/beam.py``) and its translations of the out-of-domain test sets (``compare/domain.py``).

``python -m compare analyse --system NAME`` runs both for one main system and caches them in its
run folder (``compare/analysis_cache.py`` says what is current). The study
(``compare/experiments.py``) starts it as soon as the system is trained, beside the systems still
training, so that the analyses fill a free core instead of running after the last system; the
report then finds the caches current and only reads them.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

import torch

from compare import beam, domain
from compare.analysis_cache import ANALYSED, is_trained
from data.io import HelpFormatter, profile_default, UserError, run_cli, run_folder_lock
from data.prepare import Prepared, add_corpus_args, prepared_from_args, profile_of
from data.profiles import get, get as get_profile


def run(p: Prepared, base: Path, profile: str, systems: Sequence[str] = ANALYSED, processes: int = 1) -> None:
    """Run (or reuse) the sweep and the out-of-domain translations of every trained system of ``systems``."""
    rep, smt_cfg = get(profile, "report"), get(profile, "smt")
    beam.run_sweeps(p, base, rep, smt_cfg, systems=systems, processes=processes)
    domain.run_domain(p, base, smt_cfg, systems=systems, processes=processes)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m compare analyse``: the beam/stack-size sweep and the out-of-domain translations of
    one trained system, cached in its run folder (the study runs this beside the training)."""
    ap = argparse.ArgumentParser(prog="python -m compare analyse", description=" ".join(main.__doc__.split("``:")[1].split()).capitalize(),
                                 formatter_class=HelpFormatter)
    add_corpus_args(ap)
    ap.add_argument("--system", required=True, choices=ANALYSED, help="the trained system to analyse")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads for NMT, decoder processes for PBSMT ; "
                         "the results do not depend on it for PBSMT, and are those of the report's own run for NMT; "
                         + profile_default(get_profile(profile_of(argv), "report").get("threads", 1), profile_of(argv)))
    args = ap.parse_args(argv)
    p = prepared_from_args(args)
    base = p.runs_base()
    d = base / args.system
    if not is_trained(d, args.system):
        raise UserError(f"{d}: {args.system} is not trained yet (run python -m compare experiments first)")
    threads = args.threads or get(args.profile, "report").get("threads", 1)
    if threads < 1:
        raise UserError(f"--threads must be at least 1 (got {threads})")
    torch.set_num_threads(threads)
    with run_folder_lock(d, "analyse"):
        run(p, base, args.profile, systems=(args.system,), processes=threads)
    return 0


if __name__ == "__main__":
    run_cli(main)
