"""Profiles: the study's sizes as plain, documented values, in one place.

``quick`` (default): the whole ``make report`` on the default corpus (bible es→en) in about an hour
on 2 CPU cores (61.5 min from a fresh clone on a 2-core AVX-512+AMX machine, 2026-12: docs/results.md),
with NMT systems that are trained (update budgets and early stopping, the recipe of
``benchmarks/bench_recipe.py``), so the classic effects can be seen.
``full``: paper-like sizes (Bahdanau et al. 2015 use emb 620 / hidden 1000; we use 256/512 on
Multi30k), trained to convergence with early stopping; minutes on a GPU, <= 60 min/model on 2 cores.
``tiny``: for the test-suite's end-to-end run (seconds); its NMT is untrained and its page says so.

This file is only a table of values, one section per stage, read by that stage: ``smt`` by
``smt.pipeline`` (and the decoding analyses), ``nmt`` through ``nmt.config.TrainConfig`` (which
names, documents and checks every key; an unknown key is an error), ``report`` by ``compare/``.
Each trainer records the SHA-256 of its section (:func:`section_hash`) in ``scores.json``, so a
changed section makes the study retrain what it changes.
"""
from __future__ import annotations

import copy
import hashlib
import json

from data.io import UserError

SEED = 1234

PROFILES: dict[str, dict] = {
    "quick": {
        "smt": {
            # the collapsed Gibbs sampler (smt/gibbs.py, eflomal's model and schedule) symmetrised by
            # its link marginals: Hansards trial AER 0.116 against the EM HMM's 0.145 (gdfa) and
            # eflomal's best 0.122; bible test 36.65 against 35.93 (mean of MERT seeds 1234/11/22),
            # Multi30k 40.72 against 40.70 (seed 1234); docs/results.md "The Gibbs sampler aligner".
            # "hmm" + "grow-diag-final-and" (with ibm1_iterations / iterations below) is the EM aligner
            "align_model": "gibbs",
            "ibm1_iterations": 5,
            "iterations": 5,
            # optional "fertility_iterations": N refines the EM HMM with the fertility HMM
            # (smt/fertility.py; AER 0.145 -> 0.142 gdfa on the Hansards trial gold at N = 3)
            # optional "align_shards": K (EM aligners only) trains over K slices of the corpus kept on
            # disk (smt.align.ShardedEM: the same model, memory ~ corpus / K; docs/results.md "PBSMT cost")
            "symmetrize": "posterior",
            "max_phrase_length": 7,
            "table_limit": 20,
            "lm_order": 5,
            "stack_size": 50,              # Moses' default is 100 (full); 50 halves decoding time
            "distortion_limit": 6,
            "tune": "mert",
            # MERT on a seeded random sample of dev (the bible's dev is in book order; its first 150
            # verses are Genesis-Exodus): 150 sentences and 3 iterations were too few to tune 8
            # weights on a sample spread over the whole bible (tuned 33.33 < default 33.93 on test)
            "tune_dev_size": 400,          # dev sentences used by MERT (all of dev in full)
            # 4 rounds do not converge: `smt train --mert-iterations 6` (make smt MERT_ITERATIONS=6) gives
            # bible test 36.22 ± 0.34 over MERT seeds 1234 / 11 / 22 against 35.88 ± 0.39 (docs/results.md "MERT
            # iterations"), but the study with 6 took 63 min against 57 (its hour): quick keeps 4
            "mert_iterations": 4,
            "nbest": 50,                   # n-best per MERT decoder run (Moses: 100; 50 halves tuning time)
            # optional "pop_limit": N decodes (MERT and test) by cube pruning with N pops per stack
            # instead of the stack search (smt/search.py, benchmarks/bench_search.py); absent here so
            # that the study's PBSMT numbers stay those of the stack search
            # optional "phrase_shards": K builds the phrase table in K streaming shards (smt/phrases.py:
            # the same table byte for byte, ~1/4 of the memory and ~2x the time at K = 8 on the bible); absent: in memory
            # unknown source words split / backed off into known ones before decoding (smt/unknown.py,
            # German only; Multi30k de-en: +0.5 BLEU at fixed weights, p 0.001, under each of 6 tuned
            # weight vectors; end to end within MERT's noise, benchmarks/bench_unknown.py)
            "unknown_words": "split",
            # Moses' baseline reordering (smt/reordering.py): over 3 MERT seeds bible test 35.88 -> 36.32,
            # Multi30k 37.94 -> 39.31 (docs/results.md "Lexicalised reordering"); ~10% more PBSMT time
            "reordering": "msd-bidirectional-fe",
            # Good-Turing discounted φ (Foster et al. 2006; smt/phrases.py, benchmarks/bench_smoothing.py):
            # with msd, MERT's non-negative weights and 3 seeds, Multi30k test2016 40.47 ± 0.21 (lc 40.91)
            # against 39.26 ± 0.21; bible 35.93 ± 0.03 (36.91 at msd's tuned weights; README
            # "Phrase-table smoothing", "MERT with non-negative model weights")
            "phrase_smoothing": "good-turing",
        },
        "nmt": {
            # The trained default (benchmarks/bench_recipe.py shows the candidates): small GRU
            # models, joint BPE (Sennrich et al. 2016; small vocabularies win on small data,
            # Sennrich & Zhang 2019), dropout 0.2, label smoothing 0.1, Adam 2e-3 halved on every
            # dev plateau, batches of 3,000 padded tokens, NMT training on pairs of <= 50 tokens
            # (Bahdanau et al. trained "-50" models on sentences of up to 50 words; the 6.5% of
            # bible pairs that are longer, 1,856, are counted in vocab.json). A budget of updates with
            # early stopping on dev BLEU — never wall time — so every machine gets the same models.
            "emb": 256, "hidden": 256, "layers": 1, "cell": "gru", "dropout": 0.2,
            "vocab_size": 8000, "bpe_merges": 4000, "max_len": 50,
            "batch_tokens": 3000, "lr": 2e-3, "epochs": 50, "max_steps": 1000,
            "eval_every": 200, "eval_dev_size": 300, "patience": 3, "beam": 5, "label_smoothing": 0.1,
            "save_every": 100, "log_every": 20,
            # rnnenc learns slowly without attention: it reads reversed sources (Sutskever et al.
            # 2014; +0.9 dev BLEU at 800 updates in the recipe study) and gets twice the updates,
            # which cost what rnnsearch's 1,000 cost (an rnnenc update takes half the time)
            "per_arch": {"rnnenc": {"reverse_source": True, "max_steps": 2000}},
        },
        "report": {
            # word-level shortlists of K words (Bahdanau et al.'s 30k shortlist, scaled down) against
            # the main rnnsearch's BPE units, which leave no word unknown
            "vocab_sizes": [1000, 4000],
            "train_fractions": [0.125, 0.5],     # plus all (the main systems)
            "threads": 1,                        # per system: results do not depend on JOBS
            # beam sweep (compare/beam.py) on a seeded sample of the test set
            "beam_sizes": [1, 2, 5, 10, 20, 50], "stack_sizes": [10, 20, 50, 100, 200], "sweep_sample": 150,
            "bootstrap": 1000,
            "bucket_width": 10,        # source-length buckets 1-10, 11-20, … (evaluation/buckets.py)
            "bucket_min_count": 30,    # sparse buckets are merged until each holds >= 30 sentences
        },
    },
    "full": {
        "smt": {
            "align_model": "hmm", "ibm1_iterations": 5, "iterations": 5,
            "symmetrize": "grow-diag-final-and", "max_phrase_length": 7, "table_limit": 20,
            "lm_order": 5, "stack_size": 100, "distortion_limit": 6, "tune": "mert",
            "tune_dev_size": None, "mert_iterations": 10, "nbest": 100,
            # Moses' baseline reordering (smt/reordering.py; benchmarks/bench_reordering.py), as in quick
            "reordering": "msd-bidirectional-fe",
            "unknown_words": "split",
            "phrase_smoothing": "good-turing",
        },
        "nmt": {
            # rnnsearch on 8,000 joint BPE merges (Sennrich et al. 2016; German compounds split into
            # known units): test2016 39.10 lowercased at its 4,000-update budget (best dev 36.24 at
            # 3,600) against 38.08 with a 10k-word vocabulary after 5,040 updates (best dev 35.73 at
            # 3,200), in 63% of the time. rnnenc keeps its measured word-level recipe (per_arch): BPE
            # was not measured for it.
            "emb": 256, "hidden": 512, "layers": 1, "cell": "gru", "dropout": 0.3,
            "vocab_size": 10000, "bpe_merges": 8000, "max_len": 80,
            "batch_tokens": 2500, "lr": 1e-3, "epochs": 30, "max_steps": 4000, "amp": "auto",
            "eval_every": 400, "eval_dev_size": None, "patience": 5, "beam": 5, "label_smoothing": 0.1,
            "save_every": 200, "log_every": 50,
            # an update budget, not wall time; rnnenc stops at 30 epochs = 5,040 updates, dev still rising
            "per_arch": {"rnnenc": {"bpe_merges": 0, "max_steps": 6000}},
        },
        "report": {
            "vocab_sizes": [1000, 2000, 5000, 10000],
            "train_fractions": [0.125, 0.25, 0.5],
            "bootstrap": 1000,
            "bucket_width": 10,
            "bucket_min_count": 30,
            "threads": 1,
            "beam_sizes": [1, 2, 5, 10, 20, 50], "stack_sizes": [10, 20, 50, 100, 200], "sweep_sample": 300,
        },
    },
    "tiny": {
        "smt": {
            "align_model": "hmm", "ibm1_iterations": 3, "iterations": 3,
            "symmetrize": "grow-diag-final-and", "max_phrase_length": 4, "table_limit": 10,
            "lm_order": 3, "stack_size": 20, "distortion_limit": 4, "tune": "mert",
            "tune_dev_size": None, "mert_iterations": 2, "nbest": 20,
        },
        "nmt": {
            "emb": 32, "hidden": 32, "layers": 1, "cell": "gru", "dropout": 0.0,
            "vocab_size": 500, "max_len": 40,
            "batch_tokens": 400, "lr": 3e-3, "epochs": 2, "max_steps": 40,
            "eval_every": 50, "eval_dev_size": None, "patience": 2, "beam": 3, "label_smoothing": 0.0,
            "save_every": 20, "log_every": 10,
        },
        "report": {"vocab_sizes": [50, 100], "train_fractions": [0.5], "bootstrap": 100,
                   "bucket_width": 10, "bucket_min_count": 10, "threads": 1,
                   "beam_sizes": [1, 3], "stack_sizes": [5, 20], "sweep_sample": 20},
    },
}


def section_hash(profile: str, section: str) -> str:
    """SHA-256 of one profile section's values: recorded by each trainer in ``scores.json``, so that
    ``make report`` knows a system is stale when the profile it was trained with has changed."""
    return hashlib.sha256(json.dumps(get(profile, section), sort_keys=True).encode()).hexdigest()


def get(profile: str, section: str | None = None) -> dict:
    """A deep copy of one profile (or one of its sections); :class:`UserError` if unknown."""
    if profile not in PROFILES:
        raise UserError(f"unknown profile {profile!r} (choose from {', '.join(PROFILES)})")
    p = PROFILES[profile]
    return copy.deepcopy(p[section] if section else p)
