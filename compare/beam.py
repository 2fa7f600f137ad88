"""Beam search (Koehn & Knowles 2017, challenge 6): BLEU against beam size for the NMT systems,
with and without length normalisation, and against stack size for PBSMT; search vs model errors.

Koehn & Knowles found NMT quality *falling* with wide beams (their Fig. 10), less so with
length normalisation; a phrase-based decoder gains from a larger stack or stays flat. The sweep
decodes a fixed seeded sample of the test set (``report.sweep_sample`` sentences, the same for
every system) with the trained models — nothing is retrained — and scores each setting with the
one sacreBLEU scorer against the raw references of the sample.

Search vs model errors (Stahlberg & Byrne 2019): for NMT, the reference is scored under the model
with the objective the beam search maximises, log p(y|x) / |y|^α (α = 1 with length normalisation,
0 without); a sentence is a *search error* when the reference scores higher than the beam's output
(a better-scoring translation exists that the search did not find) and a *model error* when it
scores lower (the model prefers a wrong output). For PBSMT, a stack size makes a search error on a
sentence when the largest stack finds a translation of higher model score λ·h.

Results are cached per system in ``beam_sweep.json`` (keyed by the model files' hashes and the
sweep settings, ``compare/analyses.py``), so a re-run of the report costs nothing.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from compare.analysis_cache import ANALYSED, SWEEP_CACHE, is_trained, pop_limit, sweep_key, sweep_sample
from evaluation.score import bleu
from data.io import UserError, progress, read_json, read_lines, read_tokenized, write_json
from nmt.bpe import merge_subwords
from nmt.data import ParallelData, make_batches
from nmt.model import load_checkpoint
from nmt.search import beam_search
from nmt.translate import _bpe_of, translate_data
from nmt.vocab import PAD, Vocab
from smt.decode import Decoder
from smt.unknown import for_run as unknown_words_for_run
from smt.weights import N_FEATURES, read_weights

#: the keys of one NMT sweep row / PBSMT sweep row in beam_sweep.json
NMT_FIELDS = ("beam", "length_penalty", "bleu", "search_errors", "model_errors", "n")
SMT_FIELDS = ("stack", "bleu", "search_errors", "n")


def forced_scores(model, data, length_penalty: float, batch_sents: int = 64) -> np.ndarray:
    """log p(y|x) / |y|^α of each pair of ``data`` (targets + EOS) under ``model`` by teacher forcing."""
    out = np.zeros(len(data))
    model.eval()
    with torch.inference_mode():
        for idx in make_batches(data.src_lens, data.tgt_lens, batch_sents=batch_sents, shuffle=False):
            b = data.collate(idx)
            logp = torch.log_softmax(model(b.src, b.src_len, b.tgt_in).float(), dim=-1)
            tok = logp.gather(-1, b.tgt_out.unsqueeze(-1)).squeeze(-1) * (b.tgt_out != PAD)
            lens = (b.tgt_out != PAD).sum(1).float()
            for k, i in enumerate(idx):
                out[i] = float(tok[k].sum() / lens[k] ** length_penalty)
    return out


class NMTSystem:
    """A trained NMT run folder ready to decode: model, vocabularies, BPE codes, source reversal."""

    def __init__(self, run_dir: Path):
        self.model, ckpt = load_checkpoint(run_dir / "best.pt", "cpu")
        self.src_vocab, self.tgt_vocab = Vocab.load(run_dir / "vocab.src.txt"), Vocab.load(run_dir / "vocab.tgt.txt")
        self.bpe = _bpe_of(run_dir / "best.pt", ckpt)
        self.reverse = bool(ckpt.get("train_config", {}).get("reverse_source"))
        self.beam = int(ckpt.get("train_config", {}).get("beam", 5))

    def source_units(self, sents: Sequence[Sequence[str]]) -> list[list[str]]:
        units = [self.bpe.segment(s) for s in sents] if self.bpe is not None else [list(s) for s in sents]
        return [u[::-1] for u in units] if self.reverse else units

    def translate(self, sents: Sequence[Sequence[str]], postprocess, beam: int | None = None) -> list[str]:
        """Tokenised source sentences → post-processed output lines (beam search, length-normalised)."""
        data = ParallelData.from_tokens(self.source_units(sents), None, self.src_vocab)
        hyps, _ = translate_data(self.model, data, beam=beam or self.beam, device="cpu", desc="translate")
        units = [self.tgt_vocab.decode(h) for h in hyps]
        words = [merge_subwords(u) for u in units] if self.bpe is not None else units
        return postprocess([" ".join(w) for w in words])


def nmt_sweep(run_dir: Path, p, idx: Sequence[int], beams: Sequence[int],
              length_penalties: Sequence[float] = (1.0, 0.0)) -> list[dict]:
    """BLEU and search/model errors of one NMT system at every beam size and length penalty."""
    sysm = NMTSystem(run_dir)
    model, src_vocab, tgt_vocab, bpe = sysm.model, sysm.src_vocab, sysm.tgt_vocab, sysm.bpe
    src_all, tgt_all = read_tokenized(p.file("test", "src")), read_tokenized(p.file("test", "tgt"))
    refs_all = read_lines(p.ref("test"))
    src = [src_all[i] for i in idx]
    tgt = [tgt_all[i] for i in idx]
    refs = [refs_all[i] for i in idx]
    src = sysm.source_units(src)
    if bpe is not None:
        tgt = [bpe.segment(t) for t in tgt]
    data = ParallelData.from_tokens(src, tgt, src_vocab, tgt_vocab)
    ref_scores = {lp: forced_scores(model, data, lp) for lp in length_penalties}
    rows = []
    bar = progress(total=len(beams) * len(length_penalties), desc=f"beam sweep {run_dir.name}", unit="setting")
    for lp in length_penalties:
        for k in beams:
            hyps: list = [None] * len(data)
            with torch.inference_mode():
                for bidx in make_batches(data.src_lens, None, batch_sents=32, shuffle=False):
                    b = data.collate(bidx)
                    h, _ = beam_search(model, b.src, b.src_len, beam=k, length_penalty=lp, return_attention=False)
                    for j, i in enumerate(bidx):
                        hyps[i] = [int(x) for x in h[j]]
            units = [tgt_vocab.decode(h) for h in hyps]
            words = [merge_subwords(u) for u in units] if bpe is not None else units
            lines = p.postprocess([" ".join(w) for w in words])
            hyp_data = ParallelData.from_tokens(src, units, src_vocab, tgt_vocab)
            hyp_scores = forced_scores(model, hyp_data, lp)
            diff = ref_scores[lp] - hyp_scores
            rows.append({"beam": k, "length_penalty": lp, "bleu": round(bleu(lines, refs).score, 2),
                         "search_errors": round(float((diff > 1e-6).mean()), 4),
                         "model_errors": round(float((diff < -1e-6).mean()), 4), "n": len(idx)})
            bar.update(1)
    bar.close()
    return rows


def pbsmt_source(run_dir: Path, sentences: list[list[str]]) -> list[list[str]]:
    """``sentences`` as the PBSMT system of ``run_dir`` decodes them: unknown words rewritten when it
    was tuned so (its ``source-words.tsv``, smt/unknown.py), else unchanged."""
    words = unknown_words_for_run(run_dir)
    return sentences if words is None else words.rewrite_corpus(sentences)[0]


def pbsmt_decoder(run_dir: Path, cfg: dict, sentences, stack_size: int | None = None) -> Decoder:
    """The trained PBSMT system of ``run_dir`` (tuned weights, and the search it was tuned with) as a
    decoder for ``sentences``."""
    weights = read_weights(run_dir / "weights.json")
    lexicalised = len(weights) > N_FEATURES     # tuned with the lexicalised reordering table beside it
    return Decoder(run_dir / "phrase-table.gz", run_dir / "lm.binary", weights=weights,
                   stack_size=stack_size or cfg["stack_size"], distortion_limit=cfg["distortion_limit"],
                   table_limit=cfg["table_limit"], sentences=sentences, pop_limit=pop_limit(run_dir, cfg),
                   reordering_table=run_dir / "reordering-table.gz" if lexicalised else None)


def smt_sweep(run_dir: Path, p, idx: Sequence[int], stacks: Sequence[int], cfg: dict, processes: int = 1) -> list[dict]:
    """BLEU of PBSMT at every stack size, and its search errors against the largest stack."""
    src_all = read_tokenized(p.file("test", "src"))
    src = pbsmt_source(run_dir, [src_all[i] for i in idx])
    refs_all = read_lines(p.ref("test"))
    refs = [refs_all[i] for i in idx]
    out = {}
    for k in stacks:
        nb = pbsmt_decoder(run_dir, cfg, src, k).translate_corpus(src, nbest=1, processes=processes, desc=f"stack {k}")
        out[k] = ([" ".join(t[0].tokens) if t else "" for t in nb], np.array([t[0].score if t else -np.inf for t in nb]))
    best = out[max(stacks)][1]
    rows = []
    for k in stacks:
        toks, scores = out[k]
        rows.append({"stack": k, "bleu": round(bleu(p.postprocess(toks), refs).score, 2),
                     "search_errors": round(float((best > scores + 1e-6).mean()), 4), "n": len(idx)})
    return rows


def run_sweeps(p, base: Path, rep: dict, smt_cfg: dict, systems: Sequence[str] = ANALYSED,
               processes: int = 1) -> dict[str, list[dict]]:
    """Run (or reuse) the sweep of every system that exists; {system: rows}."""
    idx = sweep_sample(p, rep.get("sweep_sample"))
    results = {}
    for name in systems:
        d = base / name
        if not is_trained(d, name):
            continue
        key = sweep_key(p, d, name, rep, smt_cfg)   # hashes the model files once
        cache = d / SWEEP_CACHE
        try:
            old = read_json(cache) if cache.is_file() else {}
        except UserError:  # a damaged cache is redone
            old = {}
        if old.get("key") == key:
            results[name] = old["rows"]
            continue
        print(f"beam sweep: {name} on {len(idx)} test sentences", flush=True)
        if name == "pbsmt":
            rows = smt_sweep(d, p, idx, rep["stack_sizes"], smt_cfg, processes)
        else:
            rows = nmt_sweep(d, p, idx, rep["beam_sizes"])
        write_json(cache, {"key": key, "rows": rows})
        results[name] = rows
    return results
