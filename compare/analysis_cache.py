"""What the decoding analyses of a trained system have cached, and whether it is current: the
beam/stack-size sweep (``beam_sweep.json``, ``compare/beam.py``) and the out-of-domain translations
(``domain.json`` + ``test-<name>.hyp``, ``compare/domain.py``) in its run folder.

Torch-free, so that the study's scheduler (``compare/experiments.py``) can ask what is left to do
without loading the models. A cache is current when its key — the SHA-256 of the model files and the analysis settings (the
seeded test sample, the beam/stack sizes, the decoder settings; for the extra test sets each
set's source hash) — equals the one it records.
"""
from __future__ import annotations

from pathlib import Path

from data.io import UserError, read_json, sha256_file
from data.prepare import Prepared, sample_indices
from data.profiles import get

#: the systems whose decoding is analysed (the study's main systems)
ANALYSED = ("pbsmt", "rnnenc", "rnnsearch")
#: the files that make a trained system (their hashes key every cache)
MODEL_FILES = {"pbsmt": ("phrase-table.gz", "lm.binary", "weights.json", "reordering-table.gz", "source-words.tsv"),
               "nmt": ("best.pt", "vocab.src.txt", "vocab.tgt.txt", "bpe.codes")}
#: model files only some systems have
OPTIONAL = ("bpe.codes", "reordering-table.gz", "source-words.tsv")
#: the caches in a system's run folder
SWEEP_CACHE, DOMAIN_CACHE = "beam_sweep.json", "domain.json"


def model_files(name: str) -> tuple[str, ...]:
    return MODEL_FILES["pbsmt" if name.startswith("pbsmt") else "nmt"]


def is_trained(d: Path, name: str) -> bool:
    """``scores.json`` and every model file are there (``bpe.codes`` only for BPE models, the reordering
    table only for lexicalised PBSMT)."""
    return (d / "scores.json").is_file() and all((d / f).is_file() for f in model_files(name) if f not in OPTIONAL)


def pop_limit(d: Path, smt_cfg: dict) -> int | None:
    """The search a PBSMT system was trained with: its recorded cube-pruning pop limit (``smt train
    --pop-limit``), else the profile's; ``None`` = the stack search."""
    scores = d / "scores.json"
    settings = read_json(scores).get("settings", {}) if scores.is_file() else {}
    return settings.get("pop_limit", smt_cfg.get("pop_limit"))


def sweep_sample(p: Prepared, n: int | None) -> list[int]:
    """The seeded sample of test sentences every sweep uses."""
    return sample_indices(p.manifest["counts"]["test"], n)


def sweep_key(p: Prepared, d: Path, name: str, rep: dict, smt_cfg: dict) -> dict:
    """What ``beam_sweep.json`` of system ``name`` (folder ``d``) must record to be current."""
    idx = sweep_sample(p, rep.get("sweep_sample"))
    if name.startswith("pbsmt"):
        pops = pop_limit(d, smt_cfg)
        settings = {"stacks": list(rep["stack_sizes"]), "sample": idx, "distortion_limit": smt_cfg["distortion_limit"],
                    "table_limit": smt_cfg["table_limit"], **({"pop_limit": pops} if pops else {})}
    else:
        settings = {"beams": list(rep["beam_sizes"]), "sample": idx}
    return {"files": model_hashes(d, name), "settings": settings}


def model_hashes(d: Path, name: str) -> dict[str, str]:
    return {f: sha256_file(d / f) for f in model_files(name) if (d / f).is_file()}


def extra_sets(p: Prepared) -> list[str]:
    """The corpus' extra test sets (``test-<name>``), sorted."""
    return sorted(p.manifest.get("extra_tests") or {})


def sweep_current(p: Prepared, d: Path, name: str, rep: dict, smt_cfg: dict) -> bool:
    cache = d / SWEEP_CACHE
    try:
        return cache.is_file() and read_json(cache).get("key") == sweep_key(p, d, name, rep, smt_cfg)
    except UserError:
        return False


def domain_done(p: Prepared, d: Path, name: str) -> dict[str, str]:
    """{extra test set: its source hash} of the translations in ``domain.json`` that are still current."""
    cache = d / DOMAIN_CACHE
    try:
        old = read_json(cache) if cache.is_file() else {}
    except UserError:
        return {}
    return old.get("sets", {}) if old.get("models") == model_hashes(d, name) else {}


def domain_current(p: Prepared, d: Path, name: str) -> bool:
    done = domain_done(p, d, name)
    return all(done.get(ext) == sha256_file(p.file(f"test-{ext}", "src")) and (d / f"test-{ext}.hyp").is_file()
               for ext in extra_sets(p))


def is_current(p: Prepared, d: Path, name: str, profile: str) -> bool:
    """The analyses of a trained system are all cached and current."""
    rep, smt_cfg = get(profile, "report"), get(profile, "smt")
    return sweep_current(p, d, name, rep, smt_cfg) and domain_current(p, d, name)
