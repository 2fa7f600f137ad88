"""Domain mismatch (Koehn & Knowles 2017, challenge 1): every main system on the corpus' extra test
sets (``test-<name>``, e.g. Multi30k's COCO captions ``mscoco`` or the bible's software messages
``software``) beside the in-domain test set.

Koehn & Knowles found NMT losing more than PBSMT out of domain (their Table 2 / Fig. 1): the
neural model's fluent output drifts away from an unfamiliar source. Nothing is retrained: each
trained system translates the extra sets (NMT: the best checkpoint with the trainer's beam; PBSMT:
the tuned weights and the profile's stack), cached as ``<run>/test-<name>.hyp`` with
``domain.json`` (keyed by the model files' and the test set's hashes).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from compare.analysis_cache import ANALYSED, DOMAIN_CACHE, domain_done, extra_sets, is_trained, model_hashes
from compare.beam import NMTSystem, pbsmt_decoder, pbsmt_source
from data.io import read_lines, read_tokenized, sha256_file, write_json, write_lines


def translate_extra(name: str, d: Path, p, split: str, smt_cfg: dict, processes: int = 1) -> list[str]:
    src = read_tokenized(p.file(split, "src"))
    if name.startswith("pbsmt"):
        src = pbsmt_source(d, src)
        nb = pbsmt_decoder(d, smt_cfg, src).translate_corpus(src, nbest=1, processes=processes, desc=f"{name} {split}")
        return p.postprocess([" ".join(t[0].tokens) if t else "" for t in nb])
    return NMTSystem(d).translate(src, p.postprocess)


def run_domain(p, base: Path, smt_cfg: dict, systems: Sequence[str] = ANALYSED,
               processes: int = 1) -> dict[str, dict[str, Path]]:
    """Translate every extra test set with every main system that exists (cached);
    {system: {test set name: hypothesis file}}."""
    out: dict[str, dict[str, Path]] = {}
    for name in systems:
        d = base / name
        if not is_trained(d, name):
            continue
        key_models = model_hashes(d, name)
        done = domain_done(p, d, name)
        for ext in extra_sets(p):
            split = f"test-{ext}"
            src_hash = sha256_file(p.file(split, "src"))
            hyp = d / f"{split}.hyp"
            if done.get(ext) == src_hash and hyp.is_file():
                out.setdefault(name, {})[ext] = hyp
                continue
            print(f"domain: {name} translates {split} ({p.manifest['extra_tests'][ext]:,} sentences)", flush=True)
            write_lines(hyp, translate_extra(name, d, p, split, smt_cfg, processes))
            done[ext] = src_hash
            write_json(d / DOMAIN_CACHE, {"models": key_models, "sets": done})
            out.setdefault(name, {})[ext] = hyp
    return out


def read_extra(d: Path, ext: str, n_refs: int) -> list[str] | None:
    hyp = d / f"test-{ext}.hyp"
    if not hyp.is_file():
        return None
    lines = read_lines(hyp, allow_empty_file=True)
    return lines if len(lines) == n_refs else None
