"""``python -m compare report``: the PBSMT vs RNN study as one self-contained HTML page.

Runs the missing experiments (:mod:`compare.experiments`, unless ``--no-train``), then reads every
system folder ``<runs>/<corpus>/<src>-<tgt>/<system>/`` (``test.hyp`` + ``scores.json``; also
``vocab.{src,tgt}.txt``, ``attention.npz``, ``test.align``, ``test.tok.hyp`` where present) and
writes into ``<report>/<corpus>-<src>-<tgt>/``:

``index.html``        the page: headline table, curves with 95% bootstrap CIs, significance, attention
                      vs alignment, example translations, settings, versions, published anchors —
                      images inline as base64 ``data:`` URIs, so the file stands alone
``results.csv``       every curve number (its columns are documented on the page)
``significance.csv``  every paired bootstrap test
``vocab.csv``         unknown-word rates of the vocabulary experiment
``*.png``, ``*.svg``  the pictures

All numbers are sacreBLEU BLEU on detokenised, cased output against the raw reference
(:mod:`evaluation.score`); bucket and subset BLEU is corpus BLEU over the subset's sentences.
Sentences such as "RNNsearch is better on long sentences" are written only when the paired
bootstrap test gives p < 0.05; otherwise the page says the difference is not significant.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import html
import importlib.metadata
import itertools
import os
import platform
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from evaluation import buckets as bk
from compare import experiments, wins
from compare import plots
from compare.findings import (UNDERTRAINED_BLEU, beam_findings, domain_findings, findings,  # noqa: F401 - public here too
                              time_cap_notes)
from compare import rare_words as rw
from evaluation.score import sentence_stats, unk_rate
from evaluation.significance import ALPHA, bootstrap_ci, paired_bootstrap, resample_weights
from evaluation.variance import stratified_ar, seed_summary
from compare.claims import mean_sd, seed_difference_sentence
from data import pharaoh, runfolder
from data.corpus import ROOT
from data.io import HelpFormatter, UserError, check_folder, run_folder_lock, stop_with_make, check_line_counts, plain_doc, atomic_write, progress, read_json, read_lines, read_tokenized, sha256_file
from data.prepare import add_corpus_args, prepared_from_args, profile_of, runs_root
from data.profiles import SEED, get

#: Columns of results.csv, in this order.
RESULT_COLUMNS = ["experiment", "system", "bucket", "vocab_size", "train_size", "bleu", "ci_low", "ci_high", "n"]
RESULT_DOC = {
    "experiment": "overall (each system, all test sentences) | length (BLEU per source-length bucket) | "
                  "vocab (BLEU vs shortlist size) | learning (BLEU vs training-set size) | "
                  "beam (BLEU of a seeded test sample per beam / stack size, compare/beam.py; no CI) | "
                  "domain (BLEU on the in-domain test set and on each extra test set, compare/domain.py) | "
                  "rare_words (word F-measure by training frequency, compare/rare_words.py; also in rare_words.csv)",
    "system": "run folder name (overall, length, vocab) or system family pbsmt / rnnsearch (learning)",
    "bucket": "all | source-length bucket such as 11-20 or 41+ (tokens of the tokenised source) | "
              "no-unk (sentences whose tokenised source and reference are inside the model's vocabulary) | "
              "bpe (the BPE model beside the word shortlists) | beam=K,lp=α or stack=K (beam experiment) | "
              "in-domain or the extra test set's name (domain experiment) | a training-frequency bucket such as "
              "unseen, 1, 2-4 or 1000+ (rare_words experiment)",
    "vocab_size": "shortlist size K of the RNNsearch model (vocab experiment; for pbsmt rows: the K whose "
                  "no-unk subset was scored); empty otherwise",
    "train_size": "training sentence pairs (learning experiment; else the system's own, if recorded)",
    "bleu": "sacreBLEU corpus BLEU of the sentences in the row (cased, 13a, exp smoothing); for rare_words "
            "the word F-measure × 100 of the bucket's words",
    "ci_low": "lower end of the 95% bootstrap percentile interval (Koehn 2004), resampling these sentences",
    "ci_high": "upper end of that interval",
    "n": "number of test sentences in the row (rare_words: the bucket's reference words)",
}
#: Columns of significance.csv (one paired bootstrap test per row; A and B as named).
SIG_COLUMNS = ["experiment", "bucket", "system_a", "system_b", "bleu_a", "bleu_b", "delta", "p_value",
               "win_a", "win_b", "n", "n_samples", "significant"]
#: ``<family>[-v<K> | -n<N> | -s<seed>]``: a vocabulary point, a learning-curve point, a seed replica
SYSTEM_RE = re.compile(r"^(?P<family>[a-z]+)(?:-(?P<kind>[vns])(?P<size>\d+))?$")

#: Published numbers for orientation (not comparable: other data, sizes, tokenisation).
ANCHORS = [
    ("Bahdanau et al. 2015, Table 1", "WMT'14 En→Fr, 30k shortlist, all test sentences", "RNNencdec-50", 17.82, "verified"),
    ("Bahdanau et al. 2015, Table 1", "WMT'14 En→Fr, sentences without unknown words", "RNNencdec-50", 26.71, "verified"),
    ("Bahdanau et al. 2015, Table 1", "WMT'14 En→Fr, all test sentences", "RNNsearch-50", 26.75, "verified"),
    ("Bahdanau et al. 2015, Table 1", "WMT'14 En→Fr, sentences without unknown words", "RNNsearch-50", 34.16, "verified"),
    ("Bahdanau et al. 2015, Table 1", "WMT'14 En→Fr, all test sentences", "Moses (phrase-based)", 33.30, "verified"),
    ("Bahdanau et al. 2015, Table 1", "WMT'14 En→Fr, sentences without unknown words", "Moses (phrase-based)", 35.63, "verified"),
    ("PyTorch seq2seq tutorial (popular)", "Multi30k De→En test2016, lowercased", "GRU encoder–decoder, no attention", 20.6, "as quoted, not re-checked"),
    ("PyTorch seq2seq tutorial (popular)", "Multi30k De→En test2016, lowercased", "Bahdanau attention GRU", 28.3, "as quoted, not re-checked"),
    ("Lample et al. 2018, Table 2 (supervised row)", "Multi30k De→En test2016", "3-layer biLSTM + attention", 38.4, "as quoted, not re-checked"),
    ("WMT16 multimodal task 1 baseline", "Multi30k En→De test2016", "Moses phrase-based", 33.0, "approximate (~33), not re-checked"),
]


@dataclass
class System:
    name: str
    dir: Path
    hyps: list[str]
    scores: dict
    stats: np.ndarray
    family: str = ""
    kind: str | None = None       # "v" (vocab experiment), "n" (learning curve) or None
    size: int | None = None

    @property
    def train_size(self):
        return self.scores.get("train_size")


@dataclass
class Study:
    """Everything the report shows, computed from the run folders."""

    corpus: str
    src: str
    tgt: str
    corpus_hash: str
    profile: str
    systems: dict[str, System]
    buckets: list[bk.Bucket]
    results: pd.DataFrame
    significance: pd.DataFrame
    vocab_table: pd.DataFrame
    findings: list[str] = field(default_factory=list)
    bootstrap: int = 1000
    seed: int = SEED
    bucket_rule: str = ""
    rare_words: pd.DataFrame | None = None
    beam: pd.DataFrame | None = None
    domain: pd.DataFrame | None = None
    wins: list | None = None
    att_align: dict | None = None
    length_ratio: pd.DataFrame | None = None


# --------------------------------------------------------------------------------------------
# reading the runs
# --------------------------------------------------------------------------------------------

def load_systems(base: Path, refs: Sequence[str]) -> dict[str, System]:
    """Every ``base/<system>/`` holding ``test.hyp`` and ``scores.json`` (line count = references)."""
    systems: dict[str, System] = {}
    if not base.is_dir():
        return systems
    for d in sorted(p for p in base.iterdir() if p.is_dir()):
        if not ((d / "test.hyp").is_file() and (d / "scores.json").is_file()):
            continue
        hyps = read_lines(d / "test.hyp", allow_empty_file=True)
        check_line_counts(d / "test.hyp", hyps, "the test reference", refs, "")
        scores = read_json(d / "scores.json")
        if not isinstance(scores, dict):
            raise UserError(f"{d / 'scores.json'}: expected a JSON object")
        m = SYSTEM_RE.match(d.name)
        family, kind, size = (m["family"], m["kind"], int(m["size"]) if m["size"] else None) if m else (d.name, None, None)
        systems[d.name] = System(d.name, d, hyps, scores, sentence_stats(hyps, refs), family, kind, size)
    return systems


def main_systems(systems: dict[str, System]) -> list[str]:
    """Systems that are not curve points (no ``-vK`` / ``-nN`` suffix), baseline order first."""
    names = [n for n, s in systems.items() if s.kind is None]
    order = {"pbsmt": 0, "rnnenc": 1, "rnnsearch": 2}
    return sorted(names, key=lambda n: (order.get(n, 9), n))


# --------------------------------------------------------------------------------------------
# the numbers
# --------------------------------------------------------------------------------------------

def _row(experiment, system, bucket, iv, vocab_size=None, train_size=None) -> dict:
    return {"experiment": experiment, "system": system, "bucket": bucket, "vocab_size": vocab_size,
            "train_size": train_size, "bleu": iv.bleu, "ci_low": iv.ci_low, "ci_high": iv.ci_high, "n": iv.n}


def _vocab_curve(systems: dict[str, System], src_tok: Sequence[str], tgt_tok: Sequence[str], main_k: int | None,
                 n_boot: int, weights, w_all, rows: list[dict], sig: list[dict]) -> list[dict]:
    """The vocabulary experiment (Bahdanau et al. 2015, Table 1): BLEU of each shortlist model on all
    sentences and on those without unknown words (and PBSMT's on the same subsets, with a paired
    test); appends to ``rows`` / ``sig`` and returns the vocab.csv rows. ``weights(key, n)`` gives the
    shared bootstrap resamples of a subset."""
    vocab_rows = []
    src_toks = [line.split() for line in src_tok]
    tgt_toks = [line.split() for line in tgt_tok]
    vocab_models = [(s.size, s) for s in systems.values() if s.family == "rnnsearch" and s.kind == "v"]
    main_bpe = "rnnsearch" in systems and (systems["rnnsearch"].dir / "bpe.codes").is_file()
    if "rnnsearch" in systems and main_k and not main_bpe and not any(k == main_k for k, _ in vocab_models):
        vocab_models.append((int(main_k), systems["rnnsearch"]))
    for k, s in sorted(vocab_models, key=lambda t: t[0]):
        vs, vt = s.dir / "vocab.src.txt", s.dir / "vocab.tgt.txt"
        rows.append(_row("vocab", s.name, "all", bootstrap_ci(s.stats, n_boot, SEED, w_all), vocab_size=k,
                         train_size=s.train_size))
        if not (vs.is_file() and vt.is_file()):
            continue
        vsrc, vtgt = bk.read_vocab(vs), bk.read_vocab(vt)
        keep = bk.unk_free(src_toks, vsrc) & bk.unk_free(tgt_toks, vtgt)
        idx = np.flatnonzero(keep)
        w = weights(("vocab", k), len(idx))
        rows.append(_row("vocab", s.name, "no-unk", bootstrap_ci(s.stats[idx], n_boot, SEED, w), vocab_size=k,
                         train_size=s.train_size))
        if "pbsmt" in systems and len(idx):
            p = systems["pbsmt"]
            rows.append(_row("vocab", "pbsmt", "no-unk", bootstrap_ci(p.stats[idx], n_boot, SEED, w), vocab_size=k,
                             train_size=p.train_size))
            r = paired_bootstrap(s.stats[idx], p.stats[idx], n_boot, SEED, w)
            sig.append({"experiment": "vocab", "bucket": f"no-unk K={k}", "system_a": s.name, "system_b": "pbsmt", **r.as_dict()})
        n_src = sum(len(t) for t in src_toks) or 1
        n_tgt = sum(len(t) for t in tgt_toks) or 1
        vocab_rows.append({
            "system": s.name, "K": k, "vocab.src": len(vsrc), "vocab.tgt": len(vtgt),
            "source OOV rate": round(sum(t not in vsrc for ts in src_toks for t in ts) / n_src, 4),
            "reference OOV rate": round(sum(t not in vtgt for ts in tgt_toks for t in ts) / n_tgt, 4),
            "output <unk> rate": unk_rate(s.hyps),
            "no-unk sentences": int(len(idx)),
        })
    if main_bpe and vocab_models:  # the open-vocabulary point beside the word shortlists
        s = systems["rnnsearch"]
        units = s.dir / "vocab.tgt.txt"
        vocab_rows.append({"system": "rnnsearch (BPE units)", "K": len(bk.read_vocab(units)) if units.is_file() else None,
                           "vocab.src": None, "vocab.tgt": None, "source OOV rate": 0.0, "reference OOV rate": 0.0,
                           "output <unk> rate": unk_rate(s.hyps), "no-unk sentences": len(s.hyps)})
        rows.append(_row("vocab", "rnnsearch", "bpe", bootstrap_ci(s.stats, n_boot, SEED, w_all), train_size=s.train_size))
    if "pbsmt" in systems and vocab_models:
        rows.append(_row("vocab", "pbsmt", "all", bootstrap_ci(systems["pbsmt"].stats, n_boot, SEED, w_all),
                         train_size=systems["pbsmt"].train_size))
    return vocab_rows


def analyse(systems: dict[str, System], src_tok: Sequence[str], tgt_tok: Sequence[str], *, profile: str,
            corpus_train_size: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, list[bk.Bucket], str]:
    """results, significance, vocab table, buckets and the bucketing rule text."""
    rep = get(profile, "report")
    n_boot = int(rep.get("bootstrap", 1000))
    width, min_count = int(rep.get("bucket_width", 10)), int(rep.get("bucket_min_count", 30))
    lengths = bk.source_lengths(src_tok)
    buckets = bk.length_buckets(lengths, width=width, min_count=min_count)
    rule = (f"source length = tokens of the tokenised test source; bins of {width} tokens (1-{width}, "
            f"{width + 1}-{2 * width}, …) merged from the short end until each holds ≥ {min_count} sentences; "
            f"the remainder at the long end joins the last bucket, which is open-ended")
    n_test = len(src_tok)
    weights_cache: dict[tuple, np.ndarray] = {}

    def weights(key, n):
        # one set of resamples per sentence subset, shared by all systems (paired by construction)
        if key not in weights_cache:
            weights_cache[key] = resample_weights(n, n_boot, SEED)
        return weights_cache[key]

    rows: list[dict] = []
    sig: list[dict] = []
    mains = main_systems(systems)
    all_idx = np.arange(n_test)
    w_all = weights(("all",), n_test) if n_test else None

    for name in progress(list(systems), desc="bootstrap", unit="system"):
        s = systems[name]
        rows.append(_row("overall", name, "all", bootstrap_ci(s.stats, n_boot, SEED, w_all), train_size=s.train_size))
    for name in mains:
        s = systems[name]
        for b in buckets:
            iv = bootstrap_ci(s.stats[b.indices], n_boot, SEED, weights(("len", b.label), b.n))
            rows.append(_row("length", name, b.label, iv, train_size=s.train_size))

    # --- paired tests: all pairs overall, main pairs per bucket ---
    names = list(systems)
    for a, b_ in itertools.combinations(names, 2):
        r = paired_bootstrap(systems[a].stats, systems[b_].stats, n_boot, SEED, w_all)
        sig.append({"experiment": "overall", "bucket": "all", "system_a": a, "system_b": b_, **r.as_dict()})
    for a, b_ in itertools.combinations(mains, 2):
        for b in buckets:
            r = paired_bootstrap(systems[a].stats[b.indices], systems[b_].stats[b.indices], n_boot, SEED,
                                 weights(("len", b.label), b.n))
            sig.append({"experiment": "length", "bucket": b.label, "system_a": a, "system_b": b_, **r.as_dict()})

    # --- vocabulary curve (Bahdanau et al. 2015, Table 1: "sentences without unknown words") ---
    vocab_rows = _vocab_curve(systems, src_tok, tgt_tok, get(profile, "nmt").get("vocab_size"), n_boot, weights, w_all,
                              rows, sig)

    # --- learning curve (Koehn & Knowles 2017) ---
    for fam in ("pbsmt", "rnnsearch"):
        pts = [(s.size, s) for s in systems.values() if s.family == fam and s.kind == "n"]
        if fam in systems and pts:
            full = corpus_train_size or systems[fam].train_size  # nominal size, like the -nN names
            if full:
                pts.append((int(full), systems[fam]))
        for n, s in sorted(pts, key=lambda t: t[0]):
            rows.append(_row("learning", fam, "all", bootstrap_ci(s.stats, n_boot, SEED, w_all), train_size=n))

    results = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    for c in ("vocab_size", "train_size"):
        results[c] = results[c].astype("Int64")
    significance = pd.DataFrame(sig, columns=SIG_COLUMNS)
    return results, significance, pd.DataFrame(vocab_rows), buckets, rule


# --------------------------------------------------------------------------------------------
# the page
# --------------------------------------------------------------------------------------------

def tokenised_output(s: System) -> list[list[str]] | None:
    """The system's tokenised (pre-post-processing) test output (:data:`data.runfolder.TEST_TOK`), or None."""
    path = runfolder.tokenised_output_path(s.dir)
    if path is None:
        return None
    lines = read_lines(path, allow_empty_file=True)
    return [line.split() for line in lines] if len(lines) == len(s.hyps) else None


def rare_words_table(systems: dict[str, System], tgt_tok: Sequence[str], train_tgt: Sequence[Sequence[str]]) -> pd.DataFrame:
    """Word accuracy by training frequency (compare/rare_words.py) of every main system, one row per
    (system, bucket)."""
    counts = rw.train_counts(train_tgt)
    refs = [line.split() for line in tgt_tok]
    rows = []
    for name in main_systems(systems):
        hyps = tokenised_output(systems[name])
        if hyps is None:
            continue
        for b in rw.word_accuracy(hyps, refs, counts):
            rows.append({"system": name, **b.as_dict()})
    return pd.DataFrame(rows, columns=["system", "bucket", "ref_words", "hyp_words", "precision", "recall", "f1"])


def length_ratio_table(systems: dict[str, System], buckets: Sequence[bk.Bucket], tgt_tok: Sequence[str]) -> pd.DataFrame:
    """Output/reference length ratio (tokens) per source-length bucket and main system."""
    refs = [line.split() for line in tgt_tok]
    t = pd.DataFrame({"bucket": [b.label for b in buckets], "n": [b.n for b in buckets]})
    for name in main_systems(systems):
        hyps = tokenised_output(systems[name])
        if hyps is not None:
            t[f"{name} len ratio"] = [round(rw.length_ratio([hyps[i] for i in b.indices], [refs[i] for i in b.indices]), 3)
                                      for b in buckets]
    return t


def domain_table(p, systems: dict[str, System], results: pd.DataFrame, n_boot: int) -> pd.DataFrame:
    """In-domain test BLEU and each extra test set's BLEU (95% bootstrap CI) of every main system."""
    from compare import domain  # imports torch and the decoders: only when the page is built

    extras = sorted(p.manifest.get("extra_tests") or {})
    rows = []
    if not extras:
        return pd.DataFrame(rows, columns=["system", "test set", "BLEU", "ci_low", "ci_high", "n", "drop"])
    overall = results[results["experiment"] == "overall"].set_index("system")
    for name in main_systems(systems):
        if name not in overall.index:
            continue
        o = overall.loc[name]
        rows.append({"system": name, "test set": "in-domain", "BLEU": o["bleu"], "ci_low": o["ci_low"],
                     "ci_high": o["ci_high"], "n": int(o["n"]), "drop": 0.0})
        for ext in extras:
            refs = read_lines(p.ref(f"test-{ext}"))
            hyps = domain.read_extra(systems[name].dir, ext, len(refs))
            if hyps is None:
                continue
            stats = sentence_stats(hyps, refs)
            iv = bootstrap_ci(stats, n_boot, SEED, resample_weights(len(refs), n_boot, SEED))
            rows.append({"system": name, "test set": ext, "BLEU": iv.bleu, "ci_low": iv.ci_low, "ci_high": iv.ci_high,
                         "n": iv.n, "drop": round(float(o["bleu"]) - iv.bleu, 2)})
    return pd.DataFrame(rows, columns=["system", "test set", "BLEU", "ci_low", "ci_high", "n", "drop"])


def wins_analysis(systems: dict[str, System], refs: Sequence[str], src_raw: Sequence[str], tgt_tok: Sequence[str],
                  k: int = 3, top: int = 10) -> list[dict]:
    """For every pair of main systems: the sentences each wins most (sentence chrF) and the n-grams
    each gets right and the other wrong most often (compare/wins.py)."""
    mains = main_systems(systems)
    chrf = {n: wins.sentence_chrf(systems[n].hyps, refs) for n in mains}
    tok = {n: tokenised_output(systems[n]) for n in mains}
    ref_tok = [line.split() for line in tgt_tok]
    out = []
    for a, b in itertools.combinations(mains, 2):
        aw, bw = wins.biggest_wins(chrf[a], chrf[b], k)
        ex = [{"winner": w, "line": i + 1, "Δ chrF": round(float(chrf[w][i] - chrf[l][i]), 1), "source": src_raw[i],
               "reference": refs[i], a: systems[a].hyps[i], b: systems[b].hyps[i]}
              for w, l, idx in ((a, b, aw), (b, a, bw)) for i in idx]
        grams = wins.ngram_differences(tok[a], tok[b], ref_tok, top=top) if tok[a] and tok[b] else ([], [])
        out.append({"a": a, "b": b, "examples": pd.DataFrame(ex),
                    "ngrams": pd.DataFrame({f"{a} right, {b} wrong": [f"{g} ({c})" for g, c in grams[0]] + [""] * (top - len(grams[0])),
                                            f"{b} right, {a} wrong": [f"{g} ({c})" for g, c in grams[1]] + [""] * (top - len(grams[1]))})})
    return out


def beam_table(systems: dict[str, System]) -> pd.DataFrame:
    """The sweeps of ``beam_sweep.json`` (compare/beam.py), one row per (system, setting)."""
    rows = []
    for name in main_systems(systems):
        f = systems[name].dir / "beam_sweep.json"
        if not f.is_file():
            continue
        for r in read_json(f).get("rows", []):
            if "stack" in r:
                rows.append({"system": name, "setting": f"stack={r['stack']}", "size": r["stack"], "normalised": None,
                             "bleu": r["bleu"], "search_errors": r["search_errors"], "model_errors": None, "n": r["n"]})
            else:
                rows.append({"system": name, "setting": f"beam={r['beam']},lp={r['length_penalty']:g}", "size": r["beam"],
                             "normalised": r["length_penalty"] > 0, "bleu": r["bleu"], "search_errors": r["search_errors"],
                             "model_errors": r["model_errors"], "n": r["n"]})
    return pd.DataFrame(rows, columns=["system", "setting", "size", "normalised", "bleu", "search_errors", "model_errors", "n"])


def _analysis(heading: str, intro: str, images: dict, key: str, alt: str, findings, table, fmt: str,
              empty: str) -> list[str]:
    """An analysis section: heading and intro, then its picture, its findings (``findings()``, a list
    of sentences) and its table — or the line ``empty`` when the analysis has nothing to show."""
    parts = [f"<h3>{heading}</h3>", f"<p>{intro}</p>"]
    if key not in images or table is None:
        return parts + [f"<p><em>{empty}</em></p>"]
    return parts + [_img(images[key], alt),
                    "<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in findings()) + "</ul>", _table(table, fmt)]


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def _table(df: pd.DataFrame, floatfmt: str = "{:.2f}") -> str:
    if df is None or df.empty:
        return "<p><em>(nothing to show)</em></p>"
    return df.to_html(index=False, escape=True, na_rep="", border=0, classes="t",
                      float_format=lambda x: floatfmt.format(x))


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def software_versions() -> dict:
    return {"python": platform.python_version(), **{d: _version(d) for d in
            ("torch", "sacrebleu", "kenlm", "numpy", "pandas", "matplotlib", "sacremoses")}}


def headline(systems: dict[str, System]) -> tuple[pd.DataFrame, list[str]]:
    rows, sigs = [], []
    order = main_systems(systems) + sorted(n for n in systems if n not in main_systems(systems))
    for name in order:
        s = systems[name]
        sc = s.scores
        rows.append({"system": name, "BLEU": sc.get("bleu"), "BLEU lc": sc.get("bleu_lc"), "chrF": sc.get("chrf"),
                     "chrF lc": sc.get("chrf_lc"), "<unk> rate": unk_rate(s.hyps), "train pairs": sc.get("train_size"),
                     "train s": sc.get("train_seconds"), "decode s": sc.get("decode_seconds"),
                     "decode sent/s": sc.get("decode_sents_per_s"), "updates": sc.get("steps"),
                     "epochs": round(sc["epochs"], 2) if isinstance(sc.get("epochs"), (int, float)) else None,
                     "CPU min": sc.get("cpu_minutes"), "stopped by": sc.get("stop_reason"),
                     "dev still rising": sc.get("dev_still_rising"), "select BLEU": select_bleu(sc),
                     "seed": sc.get("seed")})
        for k in ("bleu_signature", "bleu_lc_signature", "chrf_signature", "chrf_lc_signature"):
            if sc.get(k) and sc[k] not in sigs:
                sigs.append(sc[k])
    return pd.DataFrame(rows), sigs


def select_bleu(sc: dict) -> float | None:
    """BLEU on dev's select half (what choices are made on), from either trainer's scores.json."""
    if isinstance(sc.get("bleu_select_tuned"), dict):
        return sc["bleu_select_tuned"].get("bleu")
    sel = sc.get("select")
    return sel["score"].get("bleu") if isinstance(sel, dict) and isinstance(sel.get("score"), dict) else None


def seed_groups(systems: dict[str, System]) -> dict[str, list[str]]:
    """Each main system with its seed replicas (``<name>-s<seed>``): ``{"rnnsearch": ["rnnsearch",
    "rnnsearch-s11", …]}``, the main run first."""
    groups = {n: [n] for n in main_systems(systems)}
    for n, s in sorted(systems.items()):
        if s.kind == "s" and s.family in groups:
            groups[s.family].append(n)
    return groups


def seed_table(systems: dict[str, System]) -> tuple[pd.DataFrame, list[str]]:
    """Mean ± sd of test BLEU over each main system's seed runs, and for each pair of main systems a
    test over sentences *and* seeds (stratified approximate randomisation, evaluation/variance.py)
    when both have the same number (≥ 2) of runs; else one line saying there is no seed variance."""
    groups = seed_groups(systems)
    rows, lines = [], []
    for name, runs in groups.items():
        summ = seed_summary([systems[r].scores.get("bleu", 0.0) for r in runs])
        rows.append({"system": name, "runs": summ.n, "BLEU mean": summ.mean, "BLEU sd": summ.sd,
                     "seeds": ", ".join(str(systems[r].scores.get("seed", "?")) for r in runs), "as text": mean_sd(summ)})
    names = list(groups)
    for a, b in itertools.combinations(names, 2):
        ra, rb = groups[a], groups[b]
        if len(ra) == len(rb) >= 2:
            ar = stratified_ar(np.stack([systems[r].stats for r in ra]), np.stack([systems[r].stats for r in rb]),
                               n_shuffles=1000)
            lines.append(seed_difference_sentence(a, b, ar))
    if not any(len(r) > 1 for r in groups.values()):
        lines.append("Every system here is one training run (one seed): the differences below carry sentence-level "
                     "uncertainty only, not training variance (the full profile trains 3 seeds of each main system).")
    return pd.DataFrame(rows), lines


def budget_notes(systems: dict[str, System]) -> list[str]:
    """One line per NMT main system on how far it was trained: updates, epochs, stop reason, and
    whether dev BLEU still rose when its budget stopped it (then claims about it concern an
    unconverged system)."""
    out = []
    for name in main_systems(systems):
        sc = systems[name].scores
        if sc.get("steps") is None:
            continue
        epochs = f", {sc['epochs']:.1f} epochs" if isinstance(sc.get("epochs"), (int, float)) else ""
        cpu = f", {sc['cpu_minutes']:.0f} CPU-minutes" if isinstance(sc.get("cpu_minutes"), (int, float)) else ""
        line = f"{name}: {sc['steps']:,} updates{epochs}{cpu}, stopped by {sc.get('stop_reason', '?')}"
        if sc.get("dev_still_rising"):
            line += " while dev BLEU was still rising: not converged, and every claim about it concerns an unconverged system"
        out.append(line)
    return out


def pick_examples(lengths: np.ndarray, per_class: int = 2) -> list[tuple[str, int]]:
    """Test lines near the 10th / 50th / 90th length percentile (short / medium / long), lowest index first."""
    if len(lengths) == 0:
        return []
    out, used = [], set()
    for cls, q in (("short", 10), ("medium", 50), ("long", 90)):
        target = np.percentile(lengths, q)
        order = np.lexsort((np.arange(len(lengths)), np.abs(lengths - target)))
        k = 0
        for i in order:
            if int(i) not in used:
                out.append((cls, int(i)))
                used.add(int(i))
                k += 1
                if k == per_class:
                    break
    return out


def read_attention(path: Path) -> list[tuple[int, np.ndarray, list[str], list[str]]]:
    """``attention.npz`` → ``[(test_line, α [T, S], source tokens, output tokens)]``.

    The NMT trainer's layout (nmt/trainer.py ``_save_attention``): ``index``; ``src`` and ``hyp``
    string arrays, one space-joined sentence per entry; ``att_{k}`` float ``[len(hyp), len(src)]``,
    rows = output tokens without EOS, columns = real source words. Empty matrices (RNNenc has no
    attention) are skipped.
    """
    try:
        z = np.load(path, allow_pickle=False)
        index = [int(i) for i in z["index"]]
        out = []
        for k, line in enumerate(index):
            att, src, hyp = z[f"att_{k}"], str(z["src"][k]).split(), str(z["hyp"][k]).split()
            att = np.asarray(att, dtype=float)
            if att.ndim != 2:
                raise UserError(f"{path}: attention of entry {k} must be 2-D [T_hyp, S_src], has shape {att.shape}")
            if att.size:
                # label an extra EOS row/column if the trainer included one
                src = src + ["</s>"] * max(0, att.shape[1] - len(src))
                hyp = hyp + ["</s>"] * max(0, att.shape[0] - len(hyp))
                out.append((line, att, src, hyp))
        return out
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a user-facing problem
        raise UserError(f"{path}: cannot read attention arrays ({type(exc).__name__}: {exc})") from None


def pick_attention(entries: list, max_figs: int = 3, max_len: int = 30) -> list:
    """A short, a medium and the longest readable (<= ``max_len`` source tokens) sentence."""
    ok = sorted((e for e in entries if 3 <= len(e[2]) <= max_len), key=lambda e: (len(e[2]), e[0])) or \
        sorted(entries, key=lambda e: (len(e[2]), e[0]))
    if len(ok) <= max_figs:
        return ok
    picks = sorted({round(q * (len(ok) - 1)) for q in np.linspace(0.2, 1.0, max_figs)})
    return [ok[i] for i in picks]


def attention_figures(systems: dict[str, System], src_tok: Sequence[str], out_dir: Path, max_figs: int = 3) -> list[tuple[str, bytes]]:
    """RNNsearch attention (``attention.npz``) beside the PBSMT alignment (``test.align``) for a few sentences.

    The SMT side needs ``test.align`` (Pharaoh source-target links) and the tokenised output
    (:data:`data.runfolder.TEST_TOK`), one line per test sentence.
    """
    s = systems.get("rnnsearch")
    if s is None or not (s.dir / "attention.npz").is_file():
        return []
    entries = pick_attention(read_attention(s.dir / "attention.npz"), max_figs)
    p = systems.get("pbsmt")
    align = tok_hyp = None
    if p is not None and (p.dir / "test.align").is_file():
        tok_path = runfolder.tokenised_output_path(p.dir)
        if tok_path is not None:
            align = read_lines(p.dir / "test.align", allow_empty_file=True)
            tok_hyp = read_lines(tok_path, allow_empty_file=True)
            if len(align) != len(src_tok) or len(tok_hyp) != len(src_tok):
                raise UserError(f"{p.dir}: test.align ({len(align)} lines) and {tok_path.name} ({len(tok_hyp)}) must "
                                f"have one line per test sentence ({len(src_tok)})")
    smt = {}  # parse every link first: a bad file fails before any picture is written
    for line, *_ in entries:
        if align is not None and 0 <= line < len(align):
            smt[line] = (pharaoh.parse(align[line], f"{p.dir / 'test.align'}:{line + 1}"),
                         src_tok[line].split(), tok_hyp[line].split())
    figs = []
    for n, (line, attn, nsrc, nhyp) in enumerate(entries):
        links, smt_src, smt_hyp = smt.get(line, (None, None, None))
        png = plots.alignment_pair(attn, nsrc, nhyp, links, smt_src or [], smt_hyp or [],
                                   out_dir / f"alignment-{n + 1}", title=f"test sentence {line + 1}")
        figs.append((f"test sentence {line + 1} ({len(nsrc)} source tokens)", png))
    return figs


CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table.t{border-collapse:collapse;font-size:0.85em;margin:0.5em 0}table.t td,table.t th{border:1px solid #ccc;padding:3px 6px}
table.t th{background:#f3f3f3}img{max-width:100%}code{font-size:0.85em}.note{color:#555;font-size:0.9em}
li{margin:0.3em 0}"""


@dataclass
class _Page:
    """What the page's sections show besides the study: the test set, the plots, the attention pictures."""
    corpus_manifest: dict
    src_raw: Sequence[str]
    refs: Sequence[str]
    lengths: np.ndarray
    images: dict[str, bytes]
    attn_figs: list[tuple[str, bytes]]


def render(study: Study, *, corpus_manifest: dict, src_raw: Sequence[str], refs: Sequence[str],
           lengths: np.ndarray, images: dict[str, bytes], attn_figs: list[tuple[str, bytes]],
           fingerprint: str = "") -> str:
    """The page: a head, then one function per section (each returns its HTML parts)."""
    s = study
    v = _Page(corpus_manifest, src_raw, refs, lengths, images, attn_figs)
    title = f"PBSMT vs RNN NMT — {s.corpus} {s.src}→{s.tgt}"
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f'<meta name="mt-report-fingerprint" content="{fingerprint}">'
             f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>",
             f"<p class='note'>Generated {time.strftime('%Y-%m-%d %H:%M')} · profile <b>{html.escape(s.profile)}</b> · "
             f"corpus hash <code>{html.escape(s.corpus_hash)}</code> · {len(refs):,} test sentences · "
             f"bootstrap resamples {s.bootstrap} · seed {s.seed}</p>"]
    for section in SECTIONS:
        parts.extend(section(s, v))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _headline(s: Study, v: _Page) -> list[str]:
    head_df, sigs = headline(s.systems)
    seeds_df, seed_lines = seed_table(s.systems)
    budget = budget_notes(s.systems)
    parts = ["<h2>1. Headline</h2>"]
    if budget:
        parts.append("<p class='note'><b>How far each NMT system was trained:</b> " +
                     "; ".join(html.escape(b) for b in budget) + ".</p>")
    parts += ["<p>sacreBLEU on detokenised, cased output against the raw reference; <i>lc</i> = lowercased; "
              "<i>select BLEU</i> = on dev's select half, what settings are chosen on (test is only reported). "
              "Times are wall-clock seconds on this machine.</p>", _table(head_df),
              "<h3>Seed variance</h3>", _table(seeds_df),
              "<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in seed_lines) + "</ul>"]
    if sigs:
        parts.append("<p>Signatures:</p><ul>" + "".join(f"<li><code>{html.escape(x)}</code></li>" for x in sigs) + "</ul>")
    return parts


def _findings(s: Study, v: _Page) -> list[str]:
    return ["<h2>2. Findings (each backed by a paired bootstrap test)</h2>",
            "<ul>" + "".join(f"<li>{html.escape(f)}</li>" for f in s.findings) + "</ul>"
            if s.findings else "<p><em>Not enough systems for a comparison.</em></p>",
            f"<p class='note'>Paired bootstrap resampling (Koehn 2004) with {s.bootstrap} resamples, seed {s.seed}; "
            "p-value as sacreBLEU's <code>--paired-bs</code> (observed difference 0 → p = 1). "
            f"A difference is called significant only if p &lt; {ALPHA}.</p>"]


def _length(s: Study, v: _Page) -> list[str]:
    r, images = s.results, v.images
    parts = ["<h2>3. BLEU vs source-sentence length</h2>",
             "<p>Bahdanau et al. (2015, Fig. 2), Cho et al. (2014, Fig. 4). Bucketing rule: "
             f"{html.escape(s.bucket_rule)}. Bands: 95% bootstrap intervals (resampling the bucket's sentences).</p>"]
    if "length" not in images:
        return parts + ["<p><em>No systems.</em></p>"]
    parts.append(_img(images["length"], "BLEU vs source length"))
    lr = r[r["experiment"] == "length"]
    lt = pd.DataFrame({"bucket": [b.label for b in s.buckets], "n": [b.n for b in s.buckets]})
    for name, g in lr.groupby("system", sort=False):
        g = g.set_index("bucket")
        lt[f"{name} BLEU"] = [g.loc[b.label, "bleu"] for b in s.buckets]
        lt[f"{name} 95% CI"] = [f"{g.loc[b.label, 'ci_low']:.2f}–{g.loc[b.label, 'ci_high']:.2f}" for b in s.buckets]
    parts.append(_table(lt))
    if s.length_ratio is not None and s.length_ratio.shape[1] > 2:
        parts.append("<p>Output length ÷ reference length (tokens) per bucket: below 1, the system under-translates "
                     "(NMT is known to drop content from long sentences; Koehn &amp; Knowles 2017, §3.5).</p>")
        parts.append(_table(s.length_ratio, "{:.3f}"))
    return parts


def _vocabulary(s: Study, v: _Page) -> list[str]:
    parts = ["<h2>4. BLEU vs vocabulary size</h2>",
             "<p>RNNsearch trained with shortlists of K words (Bahdanau et al. 2015 §4.1, Table 1); "
             "<i>no-unk</i> = test sentences whose tokenised source and reference contain no word outside the "
             "model's <code>vocab.src.txt</code> / <code>vocab.tgt.txt</code>. PBSMT (no shortlist) is the reference, "
             "on all sentences and on each K's no-unk subset.</p>"]
    if "vocab" in v.images:
        return parts + [_img(v.images["vocab"], "BLEU vs vocabulary size"), _table(s.vocab_table, "{:.4f}")]
    return parts + ["<p><em>No rnnsearch-vK systems.</em></p>"]


def _learning(s: Study, v: _Page) -> list[str]:
    return ["<h2>5. Learning curve</h2>",
            "<p>BLEU vs training-set size for PBSMT and RNNsearch (Koehn &amp; Knowles 2017, §3.2): "
            "deterministic subsets of the cleaned training data.</p>",
            _img(v.images["learning"], "learning curve") if "learning" in v.images
            else "<p><em>No pbsmt-nN / rnnsearch-nN systems.</em></p>"]


def _rare_words(s: Study, v: _Page) -> list[str]:
    parts = ["<h3>Rare words: word accuracy by training frequency</h3>",
             "<p>Koehn &amp; Knowles (2017, §3.3) and compare-mt (Neubig et al. 2019): every reference and output "
             "word is bucketed by its count in the training target side; per bucket, precision, recall and F of "
             "the output words (clipped matches within each sentence, tokenised text). "
             "In <code>rare_words.csv</code>.</p>"]
    if "rare_words" not in v.images:
        return parts + ["<p><em>No tokenised outputs (test.tok.hyp).</em></p>"]
    parts.append(_img(v.images["rare_words"], "word F-measure by training frequency"))
    rwt = s.rare_words.pivot(index="bucket", columns="system", values="f1")
    rwt = rwt.reindex([b for _, _, b in rw.FREQ_BUCKETS])
    rwt.insert(0, "reference words", s.rare_words.groupby("bucket")["ref_words"].first()
               .reindex([b for _, _, b in rw.FREQ_BUCKETS]))
    parts.append(_table(rwt.reset_index(), "{:.3f}"))
    return parts


def _domain(s: Study, v: _Page) -> list[str]:
    return _analysis(
        "Domain mismatch",
        "Koehn &amp; Knowles (2017, §3.1): every main system on the corpus' extra test sets "
        "(<code>test-&lt;name&gt;</code>; Multi30k: the COCO captions of <code>test_2017_mscoco</code>; "
        "bible: software messages from Debian's Spanish gettext catalogues, <code>data/ood_extract.py</code>) "
        "beside the in-domain test set; <i>drop</i> = in-domain BLEU − out-of-domain BLEU. "
        "In <code>domain.csv</code> and <code>results.csv</code> (experiment <code>domain</code>).",
        v.images, "domain", "BLEU in and out of domain", lambda: domain_findings(s.domain), s.domain, "{:.2f}",
        "This corpus has no extra test set (test-&lt;name&gt;.{src,tgt}).")


def _beam(s: Study, v: _Page) -> list[str]:
    return _analysis(
        "Beam search",
        "Koehn &amp; Knowles (2017, §3.6): BLEU against the beam size of the NMT systems, with length "
        "normalisation (score = log p / |y|) and without, and against the stack size of the phrase-based "
        "decoder, on a fixed seeded sample of the test set (<code>report.sweep_sample</code>; no CIs). "
        "Search errors (Stahlberg &amp; Byrne 2019): NMT — the share of sentences whose reference scores higher "
        "under the model than the beam's output; model errors — lower. PBSMT — the share where the largest stack "
        "finds a higher model score. In <code>beam.csv</code> and <code>results.csv</code> (experiment "
        "<code>beam</code>).",
        v.images, "beam", "BLEU vs beam size", lambda: beam_findings(s.beam),
        s.beam.drop(columns=["normalised"]) if s.beam is not None else None, "{:.3f}",
        "No sweep (run the report without --no-sweep on trained systems).")


def _wins(s: Study, v: _Page) -> list[str]:
    parts = ["<h3>Where each system wins</h3>",
             "<p>As compare-mt (Neubig et al. 2019): for every pair of main systems, the test sentences where each "
             "beats the other most by sentence chrF, and the reference n-grams (n ≤ 4, tokenised) each matches more "
             "often than the other (clipped counts summed over the test set; the count difference in brackets).</p>"]
    for w in (s.wins or []):
        parts.append(f"<h4>{html.escape(w['a'])} vs {html.escape(w['b'])}</h4>")
        parts.append(_table(w["examples"], "{:.1f}"))
        parts.append(_table(w["ngrams"]))
    return parts


def _significance(s: Study, v: _Page) -> list[str]:
    parts = ["<h2>6. Significance tests</h2>"]
    if "significance" in v.images:
        parts.append("<p>Every pair of systems on the whole test set at a glance: ΔBLEU of the row over the column, "
                     "marked where the paired bootstrap gives p &lt; 0.05 (*) or p &lt; 0.01 (**). "
                     "All tests, per bucket too, are in the table below and in <code>significance.csv</code>.</p>")
        parts.append(_img(v.images["significance"], "significance matrix"))
    if not s.significance.empty:
        parts.append(_table(s.significance.drop(columns=["n_samples"]), "{:.4f}"))
    else:
        parts.append("<p><em>Fewer than two systems.</em></p>")
    return parts


def _attention(s: Study, v: _Page) -> list[str]:
    return ["<h2>7. Attention vs phrase-based alignment</h2>",
            "<p>Left: RNNsearch attention weights α<sub>ij</sub> (Bahdanau et al. 2015, Fig. 3) over the source "
            "tokens, as written by the trainer (<code>attention.npz</code>). Right: the word alignment of the "
            "phrase-based decoder's output (<code>test.align</code>, Pharaoh source-target links over the tokenised "
            "test source and <code>test.tok.hyp</code>).</p>",
            "".join(f"<h3>{html.escape(t)}</h3>{_img(png, t)}" for t, png in v.attn_figs)
            if v.attn_figs else "<p><em>No attention.npz in the rnnsearch run.</em></p>",
            "<h3>Does attention agree with the word aligner?</h3>",
            "<p>Koehn &amp; Knowles (2017, §3.5): the sentences of <code>attention.npz</code> aligned (source, "
            "RNNsearch output) by the PBSMT system's trained aligner (forced alignment with its saved parameters, "
            "both directions, grow-diag-final-and; <code>compare/alignment.py</code>), on words. <i>match</i>: share "
            "of aligned output words whose most-attended source word is aligned to them; <i>probability mass</i>: "
            "mean attention on their aligned source words; AER of the attention-argmax links against the "
            "aligner's. Koehn &amp; Knowles found match 44–64% and mass 34–50%.</p>",
            _table(pd.DataFrame([s.att_align]), "{:.3f}") if s.att_align
            else "<p><em>Needs rnnsearch's attention.npz and the PBSMT aligner's saved models "
                 "(alignments/*.npz).</em></p>"]


def _examples(s: Study, v: _Page) -> list[str]:
    ex_rows = []
    for cls, i in pick_examples(v.lengths):
        row = {"length": f"{cls} ({int(v.lengths[i])} tok)", "line": i + 1, "source": v.src_raw[i], "reference": v.refs[i]}
        for name in main_systems(s.systems):
            row[name] = s.systems[name].hyps[i]
        ex_rows.append(row)
    return ["<h2>8. Example translations</h2>", _table(pd.DataFrame(ex_rows))]


def _results_doc(s: Study, v: _Page) -> list[str]:
    return ["<h2>9. results.csv</h2><p>Every curve number is in <code>results.csv</code> (paired tests in "
            "<code>significance.csv</code>, unknown-word rates in <code>vocab.csv</code>). Columns:</p><ul>",
            "".join(f"<li><code>{c}</code>: {html.escape(RESULT_DOC[c])}</li>" for c in RESULT_COLUMNS) + "</ul>"]


def _settings(s: Study, v: _Page) -> list[str]:
    set_rows = [{"system": n, "seed": x.scores.get("seed"), "settings": str(x.scores.get("settings", ""))}
                for n, x in s.systems.items()]
    man = {k: v.corpus_manifest.get(k) for k in ("corpus", "src", "tgt", "hash", "counts", "settings")
           if k in v.corpus_manifest}
    return ["<h2>10. Settings and reproducibility</h2>", _table(pd.DataFrame(set_rows)),
            f"<p>Report settings (profile <b>{html.escape(s.profile)}</b>): "
            f"<code>{html.escape(str(get(s.profile, 'report')))}</code></p>",
            f"<p>Corpus manifest: <code>{html.escape(str(man))}</code></p>",
            _table(pd.DataFrame([software_versions()]))]


def _anchors(s: Study, v: _Page) -> list[str]:
    return ["<h2>11. Published numbers, for orientation only</h2>",
            "<p class='note'>Different data, model sizes, training time and tokenisation: these are not targets. "
            "Note that Bahdanau et al.'s 26.71 / 34.16 are the <i>no-unknown-words</i> column; on all sentences "
            "RNNencdec-50 / RNNsearch-50 score 17.82 / 26.75.</p>",
            _table(pd.DataFrame(ANCHORS, columns=["source", "setting", "system", "BLEU", "status"]))]


#: The page's sections, in order.
SECTIONS = (_headline, _findings, _length, _vocabulary, _learning, _rare_words, _domain, _beam, _wins, _significance,
            _attention, _examples, _results_doc, _settings, _anchors)


#: Files of a run folder the report reads (their hashes make the report's fingerprint).
INPUT_FILES = ("test.hyp", "scores.json", "vocab.src.txt", "vocab.tgt.txt", "attention.npz", "test.align",
               "test.tok.hyp", "test.tuned.tok", "beam_sweep.json", "domain.json",
               "alignments/src2tgt.npz", "alignments/tgt2src.npz")
OUTPUT_FILES = ("index.html", "results.csv", "significance.csv", "vocab.csv", "rare_words.csv", "beam.csv", "domain.csv")
FINGERPRINT_RE = re.compile(r'<meta name="mt-report-fingerprint" content="([0-9a-f]{64})">')


def fingerprint(p, base: Path, profile: str, only: set[str] | None = None) -> str:
    """SHA-256 over everything the report depends on: the code of compare/, the profile, the corpus
    hash and the input files of every run folder (of those in ``only``, when given) and the training
    data's target side (rare words). Same fingerprint → the report is up to date."""
    h = hashlib.sha256()
    for src in sorted(Path(__file__).parent.glob("*.py")):
        h.update(src.name.encode() + b"\0" + sha256_file(src).encode())
    h.update(repr((get(profile), p.manifest.get("hash"), str(p.dir), sorted(only) if only else None)).encode())
    if base.is_dir():
        for d in sorted(x for x in base.iterdir() if x.is_dir() and (only is None or x.name in only)):
            for name in INPUT_FILES:
                if (d / name).is_file():
                    h.update(f"{d.name}/{name}\0{sha256_file(d / name)}".encode())
    return h.hexdigest()


def build_report(p, runs_dir: str | Path, report_dir: str | Path, profile: str, *, force: bool = False,
                 planned: set[str] | None = None, all_systems: bool = False) -> Path:
    """Compute everything from the run folders of prepared corpus ``p``; write the report; return index.html.

    Does nothing (in well under a second) when the report's fingerprint (:func:`fingerprint`)
    matches the one recorded in the existing ``index.html`` and every output file is there.
    """
    t0 = time.time()
    base = p.runs_base(runs_dir)
    out = Path(report_dir) / f"{p.name}-{p.src}-{p.tgt}"
    fp = fingerprint(p, base, profile, None if all_systems else planned)
    if not force and all((out / n).is_file() for n in OUTPUT_FILES):
        m = FINGERPRINT_RE.search((out / "index.html").read_text(encoding="utf-8", errors="replace")[:4000])
        if m and m.group(1) == fp:
            print(f"report: {out / 'index.html'} is up to date", flush=True)
            return out / "index.html"
    refs = read_lines(p.ref("test"))
    src_tok, tgt_tok = read_lines(p.file("test", "src")), read_lines(p.file("test", "tgt"))
    src_raw = read_lines(p.raw("test", "src"))
    if not (len(refs) == len(src_tok) == len(tgt_tok) == len(src_raw)):
        raise UserError(f"{p.dir}: test files disagree in length (ref {len(refs)}, src {len(src_tok)}, "
                        f"tgt {len(tgt_tok)}, raw src {len(src_raw)})")
    systems = load_systems(base, refs)
    extra = sorted(set(systems) - planned) if planned is not None else []
    if extra and not all_systems:  # stray or scratch runs do not join the study unless asked
        print(f"report: left out {len(extra)} run folder(s) the study did not plan: {', '.join(extra)} "
              f"(--all-systems includes them)", flush=True)
        systems = {n: x for n, x in systems.items() if n not in extra}
    if not systems:
        raise UserError(f"{base}: no system folders with test.hyp and scores.json (run without --no-train?)")
    stale = [n for n, s in systems.items() if s.scores.get("corpus_hash") not in (None, p.manifest["hash"])]
    if stale:
        raise UserError(f"{base}: {', '.join(stale)} were trained on other data (corpus_hash differs); retrain them")
    counts = p.manifest.get("counts", {})
    results, significance, vocab_table, buckets, rule = analyse(
        systems, src_tok, tgt_tok, profile=profile, corpus_train_size=counts.get("train"))
    rep = get(profile, "report")
    study = Study(p.name, p.src, p.tgt, p.manifest["hash"], profile, systems, buckets, results, significance,
                  vocab_table, findings(significance, buckets) + time_cap_notes(systems) +
                  ([f"Also shown, not planned by the study (--all-systems): {', '.join(extra)}."] if extra and all_systems else []),
                  int(rep.get("bootstrap", 1000)),
                  SEED, rule)
    study.rare_words = rare_words_table(systems, tgt_tok, read_tokenized(p.file("train", "tgt")))
    study.beam = beam_table(systems)
    study.wins = wins_analysis(systems, refs, src_raw, tgt_tok)
    if "rnnsearch" in systems and "pbsmt" in systems and (systems["rnnsearch"].dir / "attention.npz").is_file():
        from compare import alignment  # the SMT aligner: only when there is attention to compare
        study.att_align = alignment.attention_vs_aligner(systems["rnnsearch"].dir, systems["pbsmt"].dir,
                                                         read_attention(systems["rnnsearch"].dir / "attention.npz"))
    study.domain = domain_table(p, systems, results, int(rep.get("bootstrap", 1000)))
    study.results = results = pd.concat([results, _analysis_rows(study)], ignore_index=True)
    study.length_ratio = length_ratio_table(systems, buckets, tgt_tok)

    out.mkdir(parents=True, exist_ok=True)
    attn_figs = attention_figures(systems, src_tok, out)  # first: it validates its inputs
    images = _plots(study, out, f"{p.name} {p.src}→{p.tgt}")
    _write_tables(study, out)
    page = render(study, corpus_manifest=p.manifest, src_raw=src_raw, refs=refs,
                  lengths=bk.source_lengths(src_tok), images=images, attn_figs=attn_figs, fingerprint=fp)
    with atomic_write(out / "index.html") as fh:
        fh.write(page)
    print(f"report: {out / 'index.html'} ({len(systems)} systems, {time.time() - t0:.1f} s)", flush=True)
    return out / "index.html"


def _analysis_rows(study: Study) -> pd.DataFrame:
    """The results.csv rows of the domain, beam and rare-words analyses (RESULT_DOC)."""
    rows = [{"experiment": "domain", "system": r["system"], "bucket": r["test set"], "vocab_size": None,
             "train_size": None, "bleu": r["BLEU"], "ci_low": r["ci_low"], "ci_high": r["ci_high"], "n": r["n"]}
            for _, r in study.domain.iterrows()]
    rows += [{"experiment": "beam", "system": r["system"], "bucket": r["setting"], "vocab_size": None, "train_size": None,
              "bleu": r["bleu"], "ci_low": None, "ci_high": None, "n": r["n"]} for _, r in study.beam.iterrows()]
    rows += [{"experiment": "rare_words", "system": r["system"], "bucket": r["bucket"], "vocab_size": None,
              "train_size": None, "bleu": round(100 * r["f1"], 2), "ci_low": None, "ci_high": None, "n": r["ref_words"]}
             for _, r in study.rare_words.iterrows()]
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def _plots(study: Study, out: Path, tag: str) -> dict[str, bytes]:
    """Every picture of the page (PNG bytes by section; PNG + SVG files in ``out``)."""
    results, significance, systems = study.results, study.significance, study.systems
    images: dict[str, bytes] = {}
    if (results["experiment"] == "length").any():
        images["length"] = plots.length_curve(results[results["experiment"] == "length"], out / "bleu_vs_length",
                                              f"BLEU vs source length — {tag}")
    v = results[results["experiment"] == "vocab"]
    if len(v[v["system"] != "pbsmt"]):
        images["vocab"] = plots.vocab_curve(v[v["system"] != "pbsmt"], out / "bleu_vs_vocab", v[v["system"] == "pbsmt"],
                                            f"BLEU vs vocabulary size — {tag}")
    lc = results[results["experiment"] == "learning"]
    if len(lc):
        images["learning"] = plots.learning_curve(lc, out / "learning_curve", f"Learning curve — {tag}")
    if study.domain is not None and len(study.domain):
        images["domain"] = plots.domain_bars(study.domain, out / "bleu_by_domain", f"In vs out of domain — {tag}")
    if len(study.beam):
        images["beam"] = plots.beam_curve(study.beam, out / "bleu_vs_beam", f"BLEU vs beam / stack size — {tag}")
    ov = significance[significance["experiment"] == "overall"]
    if len(ov):
        order = main_systems(systems) + sorted(n for n in systems if n not in main_systems(systems))
        images["significance"] = plots.significance_matrix(ov, order, out / "significance_matrix",
                                                           f"ΔBLEU row − column, * p<0.05, ** p<0.01 — {tag}")
    if study.rare_words is not None and len(study.rare_words):
        images["rare_words"] = plots.rare_words_curve(study.rare_words, out / "word_f_by_frequency",
                                                      f"Word F-measure by training frequency — {tag}")
    return images


def _write_tables(study: Study, out: Path) -> None:
    """results.csv and the analyses' own tables, each written atomically."""
    for name, df, fmt in (("results.csv", study.results, "%.4f"), ("significance.csv", study.significance, "%.6g"),
                          ("vocab.csv", study.vocab_table, None), ("rare_words.csv", study.rare_words, None),
                          ("beam.csv", study.beam, None), ("domain.csv", study.domain, None)):
        with atomic_write(out / name) as fh:
            df.to_csv(fh, index=False, float_format=fmt)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m compare report", description=plain_doc(__doc__),
                                 formatter_class=HelpFormatter)
    add_corpus_args(ap)
    ap.add_argument("--runs-dir", default=str(runs_root()),
                    help="where the system folders are, or $MT_RUNS_DIR when set (default: %(default)s)")
    ap.add_argument("--report-dir", default=os.environ.get("MT_REPORT_DIR", str(ROOT / "report")),
                    help="where to write <corpus>-<src>-<tgt>/, or $MT_REPORT_DIR when set (default: %(default)s)")
    ap.add_argument("--no-train", action="store_true", help="only report on the systems that exist; train nothing")
    ap.add_argument("--recheck", action="store_true", help="call every stage CLI even when its scores.json looks current")
    ap.add_argument("--force", action="store_true", help="rewrite the report even when it is up to date")
    ap.add_argument("--no-sweep", action="store_true",
                    help="skip the decoding analyses: the beam/stack-size sweep (compare/beam.py) and the out-of-domain "
                         "test sets (compare/domain.py); minutes the first time, cached after")
    ap.add_argument("--all-systems", action="store_true",
                    help="also report on run folders the study did not plan (scratch runs), marked as such")
    experiments.add_job_args(ap, profile_of(argv))
    args = ap.parse_args(argv)
    stop_with_make()   # kill <make's pid> stops the study (its workers die with it: die_with_parent)
    check_folder(args.runs_dir, "--runs-dir (MT_RUNS_DIR)")
    check_folder(args.report_dir, "--report-dir (MT_REPORT_DIR)")
    os.environ["MT_RUNS_DIR"] = str(Path(args.runs_dir).resolve())
    p = prepared_from_args(args)
    # one study per corpus pair at a time: a second one says who holds it (pid, start time) and stops
    with run_folder_lock(p.runs_base(args.runs_dir), f"compare report, started {time.strftime('%Y-%m-%d %H:%M:%S')}"):
        return _report(args, p)


def _report(args, p) -> int:
    failed: list[str] = []
    if not args.no_train:
        failed = experiments.train_missing(args, p, analyse=not args.no_sweep)
    if not args.no_sweep:  # whatever the study's jobs left (with --no-train: all of it), here
        import torch  # the decoding analyses run the trained models (compare/beam.py, compare/domain.py)

        from compare import analyses  # imports torch and the decoders; only for the analyses
        base = p.runs_base(args.runs_dir)
        torch.set_num_threads(args.threads or get(args.profile, "report").get("threads", 1))  # as in training
        analyses.run(p, base, args.profile, processes=os.cpu_count() or 1)  # SMT output is the same for any count
    planned = {j.system for j in experiments.plan(experiments.corpus_arg(args.corpus), p.src, p.tgt, args.profile,
                                                  int(p.manifest["counts"]["train"]))}
    build_report(p, args.runs_dir, args.report_dir, args.profile, force=args.force, planned=planned,
                 all_systems=args.all_systems)
    if failed:
        raise UserError(f"training failed for: {', '.join(failed)}; the report shows the other systems")
    return 0
