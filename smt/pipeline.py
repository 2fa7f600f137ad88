"""The whole phrase-based SMT system for a corpus: ``python -m smt train``.

Koehn, Och & Marcu (2003) "Statistical phrase-based translation", trained the Moses way
(Koehn et al. 2007; Koehn, *Statistical Machine Translation*, 2010, ch. 4–5, 9):

==========  ==========================================================  ===============================
step        what                                                        artifacts (in the run dir)
==========  ==========================================================  ===============================
prepare     tokenise, truecase, clean (:mod:`data.prepare`, cached)     ``build/…``
align       word alignment both ways + symmetrisation (:mod:`smt.align`)  ``alignments/train.gdfa``
phrases     extract + score the phrase table (:mod:`smt.phrases`)       ``phrase-table.gz``
lm          KenLM n-gram LM on the target training side (:mod:`smt.lm`)  ``lm.binary``
source-     training source vocabulary for rewriting unknown source      ``source-words.tsv``
words       words before decoding (:mod:`smt.unknown`; German only)
tune        MERT (:mod:`smt.tune`, Och 2003) on the first                ``weights.json``,
            ``tune_dev_size`` dev sentences; its first decoder run        ``dev.{default,tuned}.{tok,hyp}``
            (DEFAULT weights) and its run at the returned weights
            (TUNED) give the dev BLEU, on those tuning sentences
test        decode test with the DEFAULT and the TUNED weights;          ``test.default.{tok,hyp}``,
            detokenise + recase (``Prepared.postprocess``)              ``test.tok.hyp``, ``test.hyp``,
                                                                        ``test.align``
score       :func:`evaluation.score.write_scores` with all the meta        ``scores.json``
==========  ==========================================================  ===============================

The word aligner sees *lowercased* training text (fewer types, better statistics for IBM/HMM
models, as is common practice); phrases are extracted from the truecased text with those
alignments (the token positions are identical). MERT's BLEU is tokenised BLEU on truecased
tokens; every BLEU in ``scores.json`` is sacreBLEU on detokenised, recased text.

Make-incremental: every step writes ``<step>.stamp.json`` next to its artifact with the SHA-256
of its input files and its settings; a step is skipped when its artifacts exist and the stamp
matches, so a second run re-does nothing. ``--force`` redoes everything. ``test.align`` holds,
per test sentence, the word alignment (Pharaoh ``i-j``, source-target) implied by the decoder's
phrase segmentation and each phrase pair's internal alignment from the phrase table.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Callable

import numpy as np

from data import pharaoh, runfolder
from data.io import VERSION, HelpFormatter, cpu_kind, add_alias, profile_default, UserError, read_json, read_lines, read_tokenized, run_folder_lock, sha256_file, write_json, write_lines
from data.prepare import Prepared, add_corpus_args, prepared_from_args, profile_of
from data.profiles import SEED, get as get_profile, section_hash
from evaluation.score import score, write_scores
from smt import gibbs
from smt.align import ALIGNERS, POSTERIOR, SYMMETRIZE, align_corpus
from smt.corpus import encode_lines
from smt.decode import Decoder
from smt.lm import build_lm
from smt.phrases import SMOOTHING, build_phrase_table, read_phrase_table
from smt.reordering import MODELS as REORDERING_MODELS, PRIOR as REORDERING_PRIOR
from smt.tune import decoder_nbest_fn, mert
from smt.unknown import VERSION as UNKNOWN_RULES, VOCAB_FILE, UnknownWords, map_links, supported as unknown_words_supported
from smt.weights import (NONNEGATIVE, as_weights, default_weights, feature_names, nonnegative_mask, read_weights,
                         write_weights)

#: Bump when a step's behaviour changes so that old artifacts are redone.
PIPELINE_VERSION = 1
#: Random restarts per MERT round (Moses' default is 20).
MERT_RESTARTS = 20


_HASHES: dict[tuple, str] = {}


def file_hash(path: Path) -> str:
    """SHA-256 of a file, memoised on (path, size, mtime) within the process."""
    st = Path(path).stat()
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        _HASHES[key] = sha256_file(path)
    return _HASHES[key]


class Log:
    """Prints each message and appends it, time-stamped, to ``train.log``."""

    def __init__(self, path: Path):
        self.path = path
        self.t0 = time.time()

    def __call__(self, msg: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')} +{time.time() - self.t0:6.1f}s] {msg}"
        print(line, flush=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")


class Step:
    """One make-like step: skipped when its artifacts exist and ``<name>.stamp.json`` matches.

    The stamp key holds the pipeline version, the SHA-256 of every input file and the settings;
    the stamp also records what the step reported (``info``), how long it took, and the size and
    SHA-256 of every artifact it wrote: an artifact changed since (truncated, damaged, replaced) is
    not reused — the step runs again and says why.
    """

    def __init__(self, run_dir: Path, name: str, artifacts: list[Path], inputs: dict[str, Path],
                 settings: dict, stamp_dir: Path | None = None):
        self.name = name
        self.artifacts = artifacts
        self.stamp = (stamp_dir or artifacts[0].parent) / f"{name}.stamp.json"
        self.key = {"version": PIPELINE_VERSION, "step": name,
                    "inputs": {k: file_hash(p) for k, p in sorted(inputs.items())},
                    "settings": json.loads(json.dumps(settings, default=str))}

    def _outputs(self) -> dict:
        return {p.name: {"size": p.stat().st_size, "sha256": file_hash(p)} for p in self.artifacts}

    def cached(self, log: Log | None = None) -> dict | None:
        if not (self.stamp.is_file() and all(p.is_file() for p in self.artifacts)):
            return None
        try:
            stamp = read_json(self.stamp)
        except UserError:
            return None
        if stamp.get("key") != self.key:
            return None
        recorded = stamp.get("outputs")
        if recorded is not None:
            now = self._outputs()
            changed = [n for n in now if recorded.get(n) != now[n]]
            if changed:
                if log is not None:
                    log(f"{self.name}: {', '.join(changed)} changed since the step wrote it (size or SHA-256 differ "
                        f"from {self.stamp.name}); running the step again")
                return None
        return stamp

    def run(self, fn: Callable[[], dict], log: Log, force: bool = False) -> dict:
        stamp = None if force else self.cached(log)
        if stamp is not None:
            log(f"{self.name}: up to date ({', '.join(p.name for p in self.artifacts)}), reused")
            return stamp
        log(f"{self.name}: running")
        self.stamp.unlink(missing_ok=True)  # a crash below must not leave an old stamp vouching for new files
        t0 = time.time()
        info = fn() or {}
        seconds = round(time.time() - t0, 2)
        stamp = {"key": self.key, "info": info, "seconds": seconds, "outputs": self._outputs(),
                 "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        write_json(self.stamp, stamp)
        log(f"{self.name}: done in {seconds:.1f}s")
        return stamp


# ------------------------------------------------------------------------------------------
# Steps
# ------------------------------------------------------------------------------------------

def align_step(src: Path, tgt: Path, out: Path, cfg: dict, models=None, test_srcs=(), jobs: int = 1) -> dict:
    """Word-align the (lowercased) training pairs; write Pharaoh ``i-j`` (source-target). With
    ``models``, also save both trained directions (for forced alignment of the test sets' outputs,
    compare/alignment.py), their t-tables cut to the words of the ``test_srcs`` files. ``jobs``: E-steps
    of that many shards at once when ``cfg`` has ``align_shards``."""
    f, e = encode_lines(src), encode_lines(tgt)   # ids read line by line: no Python string per token (~60 B)
    keep = {w for path in test_srcs for line in read_lines(path) for w in line.lower().split()}
    out.parent.mkdir(parents=True, exist_ok=True)          # the shards' temporary folder goes there
    links = align_corpus(f, e, model=cfg["align_model"], iterations=cfg["iterations"],
                         ibm1_iterations=cfg["ibm1_iterations"], symmetrize=cfg["symmetrize"],
                         models_out=models, keep_src_words=keep if models else None,
                         fertility_iterations=cfg.get("fertility_iterations") or 0,
                         shards=cfg.get("align_shards", 1), workdir=out.parent, jobs=jobs)
    write_lines(out, (pharaoh.format(sorted(a)) for a in links))
    n_links = sum(len(a) for a in links)
    return {"sentences": len(links), "links": n_links,
            "links_per_target_word": round(n_links / max(1, int(e.lengths.sum())), 4)}


def word_alignment(source: list[str], hyp, table: dict | None) -> list[tuple[int, int]]:
    """Source-target word links of a decoder translation of ``source``: each phrase pair's
    internal alignment (the phrase table's 4th field) shifted to the pair's sentence positions.
    A pair without a known internal alignment (e.g. a copied unknown word) links its words along
    the diagonal of its box."""
    links: set[tuple[int, int]] = set()
    tokens = list(hyp.tokens)
    for (fs, fe), (es, ee) in hyp.alignment:
        inner = ()
        if table is not None:
            for opt in table.get(tuple(source[fs:fe]), ()):
                if tuple(opt.e) == tuple(tokens[es:ee]):
                    inner = opt.alignment
                    break
        if not inner:
            nf, ne = fe - fs, ee - es
            if nf and ne:
                inner = {(min(nf - 1, (k * nf) // ne), k) for k in range(ne)} | \
                        {(k, min(ne - 1, (k * ne) // nf)) for k in range(nf)}
        links.update((fs + i, es + j) for i, j in inner)
    return sorted(links)


def _score_subset(s: dict) -> dict:
    keys = ("bleu", "bleu_signature", "bleu_lc", "bleu_lc_signature", "chrf", "chrf_lc", "n")
    return {k: s[k] for k in keys}


# ------------------------------------------------------------------------------------------
# CLI
# ------------------------------------------------------------------------------------------

def build_parser(profile: str = "quick") -> argparse.ArgumentParser:
    """``smt train``'s options; the defaults that come from ``profile``'s smt section are printed as
    their values (``main`` reads ``--profile`` first)."""
    cfg = get_profile(profile, "smt")

    def dflt(key: str, absent="none") -> str:
        return profile_default(cfg.get(key, absent), profile)

    p = argparse.ArgumentParser(
        prog="python -m smt train",
        description="Train, tune and evaluate the phrase-based SMT system on a corpus; writes "
                    "runs/<corpus>/<src>-<tgt>/<system>/ (test.hyp, scores.json, phrase-table.gz, "
                    "lm.binary, weights.json, alignments/, test.align, train.log). Incremental: "
                    "finished steps are reused.", formatter_class=HelpFormatter)
    add_corpus_args(p)
    p.add_argument("--train-size", type=int, default=None, help="use a deterministic subset of N training pairs (default: all)")
    p.add_argument("--system", default="pbsmt", help="system name, the run folder")
    p.add_argument("--jobs", type=int, default=2,
                   help="worker processes: the decoder's, and the alignment shards worked at once with --shards")
    add_alias(p, "--processes", "jobs", type=int)
    p.add_argument("--restarts", type=int, default=MERT_RESTARTS, help="MERT random restarts per round")
    p.add_argument("--no-tune", action="store_true", help="skip MERT: the tuned weights are the defaults")
    p.add_argument("--weights-from", metavar="SYSTEM", default=None,
                   help="skip MERT and use the weights tuned for another system of this corpus (e.g. pbsmt); "
                        "the learning-curve points do this")
    p.add_argument("--reordering", choices=REORDERING_MODELS, default=None,
                   help="reordering model: distance-based only, or with Moses' msd-bidirectional-fe lexicalised "
                        f"reordering (smt/reordering.py); {dflt('reordering', 'distance')}")
    p.add_argument("--pop-limit", type=int, default=None, metavar="N",
                   help="decode (MERT and test) by cube pruning with at most N pops per stack (smt/search.py); "
                        f"{profile_default(cfg.get('pop_limit', 'none: the stack search'), profile)}")
    p.add_argument("--seed", type=int, default=None, metavar="N", dest="mert_seed",
                   help="seed of MERT's random restarts; replicate tuning with other seeds to see its variance "
                        f"(Clark et al. 2011) (default: {SEED})")
    add_alias(p, "--mert-seed", "mert_seed", type=int)
    p.add_argument("--align-model", choices=ALIGNERS, default=None,
                   help="word aligner: EM (ibm1, ibm2, hmm) or gibbs, the collapsed Gibbs sampler of smt/gibbs.py; "
                        + dflt("align_model"))
    p.add_argument("--symmetrize", choices=SYMMETRIZE + (POSTERIOR,), default=None,
                   help="how the two alignment directions are combined (posterior: gibbs only); " + dflt("symmetrize"))
    p.add_argument("--fertility-iterations", type=int, default=None, metavar="N",
                   help="refine the word alignment's HMM with N iterations of the fertility HMM (smt/fertility.py); "
                        + dflt("fertility_iterations", 0))
    p.add_argument("--shards", type=int, default=None, metavar="K", dest="align_shards",
                   help="EM aligners: align over K slices of the corpus kept on disk (smt.align.ShardedEM: the same "
                        "model, alignment memory ~ corpus / K, for corpora past ~100k pairs); "
                        + dflt("align_shards", 1))
    add_alias(p, "--align-shards", "align_shards", type=int)
    p.add_argument("--mert-iterations", type=int, default=None, metavar="N",
                   help="MERT rounds (decoder runs); " + dflt("mert_iterations"))
    p.add_argument("--tune-dev-size", type=int, default=None, metavar="N",
                   help="MERT on a seeded random sample of N dev sentences, 0 = all of dev; "
                        + profile_default(cfg.get("tune_dev_size") or "0 (all of dev)", profile))
    p.add_argument("--unknown-words", choices=("split", "none"), default=None,
                   help="split: rewrite unknown source words into known ones before decoding (compounds, hyphens, "
                        "inflections; smt/unknown.py, German sources only); none: copy them; " + dflt("unknown_words"))
    p.add_argument("--phrase-smoothing", choices=SMOOTHING, default=None,
                   help="good-turing / kneser-ney: discount the phrase pairs' joint counts (Foster et al. 2006; "
                        "Moses' --GoodTuring / --KneserNey, smt/phrases.py); " + dflt("phrase_smoothing"))
    p.add_argument("--force", action="store_true", help="redo every step even when up to date")
    p.add_argument("--version", action="version", version=f"%(prog)s (mt-suite) {VERSION}")
    return p


def main(argv=None) -> int:
    args = build_parser(profile_of(argv)).parse_args(argv)
    if args.jobs < 1:
        raise UserError("--jobs must be >= 1")
    if args.restarts < 0:
        raise UserError("--restarts must be >= 0")
    if args.pop_limit is not None and args.pop_limit < 1:
        raise UserError(f"--pop-limit must be >= 1 (got {args.pop_limit})")
    if args.mert_iterations is not None and args.mert_iterations < 1:
        raise UserError(f"--mert-iterations must be >= 1 (got {args.mert_iterations})")
    if args.tune_dev_size is not None and args.tune_dev_size < 0:
        raise UserError(f"--tune-dev-size must be >= 0, 0 = all of dev (got {args.tune_dev_size})")
    if args.fertility_iterations is not None and args.fertility_iterations < 0:
        raise UserError(f"--fertility-iterations must be >= 0 (got {args.fertility_iterations})")
    profile_smt = get_profile(args.profile, "smt")
    aligner = args.align_model or profile_smt["align_model"]
    if (args.symmetrize or profile_smt["symmetrize"]) == POSTERIOR and aligner != "gibbs":
        raise UserError(f"--symmetrize {POSTERIOR} (the {args.profile} profile's with its gibbs aligner) needs the "
                        f"sampler's marginals: use --align-model gibbs, or give --symmetrize, e.g. grow-diag-final-and")
    if args.align_shards is not None and args.align_shards < 1:
        raise UserError(f"--shards must be >= 1 (got {args.align_shards})")
    if (args.align_shards or 1) > 1 and (aligner == "gibbs" or args.fertility_iterations):
        raise UserError("--align-shards is for the EM aligners without --fertility-iterations: add --align-model hmm "
                        "--symmetrize grow-diag-final-and")
    if args.fertility_iterations and aligner == "gibbs":
        raise UserError("--fertility-iterations refines the EM HMM; the gibbs aligner has its own fertilities: "
                        "add --align-model hmm --symmetrize grow-diag-final-and")
    if not args.system or "/" in args.system or args.system.startswith("."):
        raise UserError(f"--system {args.system!r}: must be a plain folder name")
    p = prepared_from_args(args)
    overrides = ("reordering", "pop_limit", "fertility_iterations", "mert_seed", "unknown_words", "mert_iterations",
                 "phrase_smoothing", "tune_dev_size", "align_model", "symmetrize", "align_shards")
    with run_folder_lock(p.run_dir(args.system), "smt train"):
        run(p, profile=args.profile, train_size=args.train_size, system=args.system,
            processes=args.jobs, restarts=args.restarts, tune=not args.no_tune, force=args.force,
            weights_from=args.weights_from, **{k: getattr(args, k) for k in overrides})
    return 0


def run(p: Prepared, **settings) -> dict:
    """Run (or bring up to date) every step for the prepared corpus ``p``; returns scores.json.
    ``settings``: :class:`SMTTraining`'s keywords (the profile, the run folder, overrides of the
    profile's smt keys)."""
    t = SMTTraining(p, **settings)
    p.copy_truecasers(t.out)     # the run folder translates raw text on its own (compare translate)
    t.align()
    t.phrases()
    t.lm()
    t.source_words()
    t.tune()
    t.decode_test()
    return t.write_scores()


class SMTTraining:
    """The explicit context of one ``smt train``: the prepared corpus, the settings, the run folder's
    paths, and what each step produced (``stamps``, ``results``). Each step of the module docstring is
    a method; :func:`run` calls them in order. The decoder is loaded once, when a step first needs it."""

    def __init__(self, p: Prepared, *, profile: str = "quick", train_size: int | None = None, system: str = "pbsmt",
                 processes: int = 2, restarts: int = MERT_RESTARTS, tune: bool = True, force: bool = False,
                 weights_from: str | None = None, reordering: str | None = None,
                 pop_limit: int | None = None, fertility_iterations: int | None = None,
                 mert_seed: int | None = None, unknown_words: str | None = None,
                 mert_iterations: int | None = None, phrase_smoothing: str | None = None,
                 tune_dev_size: int | None = None, align_model: str | None = None,
                 symmetrize: str | None = None, align_shards: int | None = None):
        """Every keyword after ``weights_from`` overrides the profile's smt key of that name (None: the
        profile's), as ``smt train``'s options of the same names do."""
        cfg = get_profile(profile, "smt")
        if align_model is not None:
            cfg["align_model"] = align_model
        if symmetrize is not None:
            cfg["symmetrize"] = symmetrize
        if cfg["symmetrize"] == POSTERIOR and cfg["align_model"] != "gibbs":
            raise UserError(f"--symmetrize {POSTERIOR} needs the sampler's marginals: use --align-model gibbs")
        if tune_dev_size is not None:
            cfg["tune_dev_size"] = tune_dev_size or None   # 0 = all of dev
        if phrase_smoothing is not None:
            cfg["phrase_smoothing"] = phrase_smoothing
        if cfg.get("phrase_smoothing", "none") not in SMOOTHING:
            raise UserError(f"smt.phrase_smoothing must be one of {', '.join(SMOOTHING)} (got {cfg['phrase_smoothing']!r})")
        if cfg.get("phrase_smoothing") == "none":
            cfg.pop("phrase_smoothing")   # unsmoothed runs record the settings they always had
        if mert_iterations is not None:
            cfg["mert_iterations"] = mert_iterations
        if fertility_iterations is not None:
            cfg["fertility_iterations"] = fertility_iterations
        if align_shards is not None:
            cfg["align_shards"] = align_shards
        if cfg.get("align_shards", 1) < 1:
            raise UserError(f"smt.align_shards must be >= 1 (got {cfg['align_shards']})")
        if cfg.get("align_shards", 1) > 1 and (cfg["align_model"] == "gibbs" or cfg.get("fertility_iterations")):
            raise UserError("--align-shards is for the EM aligners without --fertility-iterations: add --align-model hmm")
        if cfg.get("align_shards") == 1:
            cfg.pop("align_shards")        # in-memory runs record the settings they always had
        if reordering is not None:
            cfg["reordering"] = reordering
        if pop_limit is not None:
            cfg["pop_limit"] = pop_limit
        # unknown source words rewritten into known ones (smt/unknown.py) only for the languages it
        # has rules for; elsewhere the key is dropped, so those runs record the settings they always had
        if unknown_words == "split" and not unknown_words_supported(p.src):
            raise UserError(f"--unknown-words split: smt/unknown.py has no rules for the source language {p.src!r} "
                            f"(German only); leave it out or use none")
        if unknown_words is not None:
            cfg["unknown_words"] = unknown_words
        if cfg.get("unknown_words", "none") not in ("split", "none"):
            raise UserError(f"smt.unknown_words must be 'split' or 'none' (got {cfg['unknown_words']!r})")
        self.split_unknown = cfg.get("unknown_words") == "split" and unknown_words_supported(p.src)
        if not self.split_unknown:
            cfg.pop("unknown_words", None)
        self.lexicalised = cfg.get("reordering", "distance") != "distance"
        if not self.lexicalised:
            cfg.pop("reordering", None)   # distance-only runs record the settings they always had
        self.features, self.default_w = feature_names(self.lexicalised), default_weights(self.lexicalised)
        self.source_weights = None
        if weights_from is not None:
            self.source_weights = p.run_dir(weights_from) / "weights.json"
            if not self.source_weights.is_file():
                raise UserError(f"{self.source_weights}: no such file (train {weights_from} first, or drop --weights-from)")
            tune = False
        self.p, self.cfg, self.profile, self.system = p, cfg, profile, system
        self.processes, self.restarts, self.do_tune, self.force = processes, restarts, tune, force
        self.out = out = p.run_dir(system)
        self.log = Log(out / "train.log")
        self.train_src, self.train_tgt = p.train_files(train_size)
        self.n_train = len(read_lines(self.train_src))
        self.log(f"=== smt train: {p.name} {p.src}-{p.tgt}, profile {profile}, {self.n_train:,} training pairs -> {out}")
        self.settings = {"profile": profile, **cfg, "train_size": train_size, "mert_restarts": restarts,
                         "tune": cfg["tune"] if tune else (f"weights of {weights_from}" if weights_from else "none"),
                         "seed": SEED, "align_lowercase": True,
                         **({"mert_seed": mert_seed} if mert_seed is not None else {})}
        self.mert_seed = SEED if mert_seed is None else mert_seed
        # the run folder's files (ARCHITECTURE.md, the run-folder contract)
        self.align_path = out / "alignments" / "train.gdfa"
        self.models = (out / "alignments" / "src2tgt.npz", out / "alignments" / "tgt2src.npz")
        self.table_path = out / "phrase-table.gz"
        self.reordering_path = out / "reordering-table.gz" if self.lexicalised else None
        self.lm_path = out / "lm.binary"
        self.weights_path = out / "weights.json"
        self.dev_out = {which: (out / f"dev.{which}.tok", out / f"dev.{which}.hyp") for which in ("default", "tuned")}
        self.decode_cfg = {"stack_size": cfg["stack_size"], "distortion_limit": cfg["distortion_limit"],
                           "table_limit": cfg["table_limit"],
                           # the stack search's runs record the settings they always had
                           **({"pop_limit": cfg["pop_limit"]} if cfg.get("pop_limit") else {}),
                           **({"unknown_words": "split", "unknown_words_rules": UNKNOWN_RULES} if self.split_unknown else {})}
        self.model_inputs = {"phrase_table": self.table_path, "lm": self.lm_path,
                             **({"reordering_table": self.reordering_path} if self.lexicalised else {})}
        self.stamps: dict[str, dict] = {}
        self.results: dict[str, dict] = {}
        self._decoder = None
        self.unknown: UnknownWords | None = None

    def _step(self, name: str, artifacts: list[Path], inputs: dict, settings: dict, fn, **kw) -> dict:
        self.stamps[name] = Step(self.out, name, artifacts, inputs, settings, **kw).run(fn, self.log, self.force)
        return self.stamps[name]

    def decoder(self):
        """The stack decoder over this system's phrase table and LM (loaded on first use)."""
        if self._decoder is None:
            self.log("loading the decoder (phrase table + LM)")
            cfg = self.cfg
            self._decoder = Decoder(str(self.table_path), str(self.lm_path), weights=np.asarray(self.default_w, dtype=float),
                                    stack_size=cfg["stack_size"], distortion_limit=cfg["distortion_limit"],
                                    table_limit=cfg["table_limit"], reordering_table=self.reordering_path,
                                    pop_limit=cfg.get("pop_limit"))
        return self._decoder

    # --- 1. word alignment ---------------------------------------------------------------
    def align(self) -> None:
        p, cfg = self.p, self.cfg
        align_cfg = {k: cfg[k] for k in ("align_model", "iterations", "ibm1_iterations", "symmetrize")}
        for key in ("fertility_iterations", "align_shards"):   # recorded only when set: older stamps stay valid
            if cfg.get(key):
                align_cfg[key] = cfg[key]
        if cfg["align_model"] == "gibbs":              # the sampler's own schedule and priors
            align_cfg = {"align_model": "gibbs", "symmetrize": cfg["symmetrize"], "seed": gibbs.SEED,
                         "samplers": gibbs.SAMPLERS, "p0": gibbs.P0, "lex_alpha": gibbs.LEX_ALPHA,
                         "jump_alpha": gibbs.JUMP_ALPHA, "fert_alpha": gibbs.FERT_ALPHA,
                         "iterations": "max(2, round(5000 / sqrt(pairs)))"}
        test_srcs = [p.file("test", "src")] + [p.file(f"test-{x}", "src") for x in sorted(p.manifest.get("extra_tests") or {})]
        self._step("align", [self.align_path, *self.models],
                   {"src": self.train_src, "tgt": self.train_tgt, **{f"test{k}": f for k, f in enumerate(test_srcs)}},
                   {**align_cfg, "lowercase": True},
                   lambda: align_step(self.train_src, self.train_tgt, self.align_path, cfg, self.models, test_srcs,
                                      jobs=self.processes))

    # --- 2. phrase table (and, with lexicalised reordering, its reordering table) ----------
    def phrases(self) -> None:
        cfg = self.cfg
        if not self.lexicalised:
            (self.out / "reordering-table.gz").unlink(missing_ok=True)  # no stale table beside a distance-only system

        def build() -> dict:
            return build_phrase_table(self.train_src, self.train_tgt, self.align_path, self.table_path,
                                      max_len=cfg["max_phrase_length"], table_limit=cfg["table_limit"],
                                      reordering_path=self.reordering_path, shards=cfg.get("phrase_shards", 1),
                                      jobs=self.processes, smoothing=smoothing)

        smoothing = cfg.get("phrase_smoothing", "none")
        self._step("phrases", [self.table_path, *([self.reordering_path] if self.lexicalised else [])],
                   {"src": self.train_src, "tgt": self.train_tgt, "align": self.align_path},
                   {"max_phrase_length": cfg["max_phrase_length"], "table_limit": cfg["table_limit"],
                    **({"reordering": cfg["reordering"], "reordering_prior": REORDERING_PRIOR} if self.lexicalised else {}),
                    **({"smoothing": smoothing} if smoothing != "none" else {})}, build)

    # --- 3. language model ---------------------------------------------------------------
    def lm(self) -> None:
        def build() -> dict:
            return build_lm(self.train_tgt, self.lm_path, order=self.cfg["lm_order"])

        self._step("lm", [self.lm_path], {"text": self.train_tgt}, {"order": self.cfg["lm_order"]}, build)

    # --- 3b. the training source vocabulary, for unknown words (smt/unknown.py) ---------------
    def source_words(self) -> None:
        path = self.out / VOCAB_FILE
        if not self.split_unknown:
            path.unlink(missing_ok=True)         # its presence tells the analyses to rewrite unknown words
            return

        def build() -> dict:
            words = UnknownWords.from_corpus(self.train_src, self.p.src)
            words.save(path)
            return {"words": len(words.counts), "language": self.p.src}

        self._step("source-words", [path], {"src": self.train_src},
                   {"unknown_words": "split", "unknown_words_rules": UNKNOWN_RULES, "lang": self.p.src}, build)
        self.unknown = UnknownWords.load(path)

    def source(self, sentences: list[list[str]], what: str) -> tuple[list[list[str]], list[list[int]] | None, dict | None]:
        """The decoder's input for ``sentences``: unknown words rewritten when the system does so
        (with the origin of every new token and the counts, also logged), else as they are."""
        if self.unknown is None:
            return sentences, None, None
        new, origins, info = self.unknown.rewrite_corpus(sentences)
        self.log(f"{what}: {info['rewritten']:,} of {info['tokens']:,} source tokens rewritten ({info['hyphen']:,} "
                 f"hyphenated, {info['inflection']:,} inflected, {info['compound']:,} compounds, {info['case']:,} "
                 f"recased) in {info['sentences_changed']:,} sentences; {info['unknown_left']:,} unknown left")
        return new, origins, info

    # --- 4. MERT on a seeded random sample of tune_dev_size dev sentences --------------------
    def tune(self) -> None:
        p, cfg = self.p, self.cfg
        tune_idx = p.dev_sample(cfg["tune_dev_size"])
        self.dev_src, self.dev_ref_tok = ([toks[i] for i in tune_idx] for toks in
                                          (read_tokenized(p.file("dev", "src")), read_tokenized(p.file("dev", "tgt"))))
        self.dev_src = self.source(self.dev_src, "dev")[0]
        self.n_tune = len(tune_idx)
        raw = read_lines(p.ref("dev"))
        self.dev_refs_raw = [raw[i] for i in tune_idx]
        tuned_files = [*(self.dev_out["default"] if self.do_tune else ()), *self.dev_out["tuned"]]
        self._step("tune", [self.weights_path, *tuned_files],
                   {**self.model_inputs, "dev_src": p.file("dev", "src"), "dev_ref": p.file("dev", "tgt"),
                    "dev_ref_raw": p.ref("dev"), **({"weights_from": self.source_weights} if self.source_weights else {})},
                   {**self.decode_cfg, "tune": self.settings["tune"], "tune_dev_size": cfg["tune_dev_size"],
                    "tune_dev_sample": "seeded random" if cfg["tune_dev_size"] else "all", "nbest": cfg["nbest"],
                    "dev_split": p.split_info(),
                    "mert_iterations": cfg["mert_iterations"], "restarts": self.restarts, "seed": self.mert_seed,
                    "nonnegative": sorted(set(self.features) & NONNEGATIVE)},
                   self._mert if self.do_tune else self._copy_weights, stamp_dir=self.out)
        self.tuned = as_weights(read_weights(self.weights_path), self.lexicalised)
        self.log("tuned weights: " + ", ".join(f"{n}={w:+.4f}" for n, w in zip(self.features, self.tuned)))
        for which in ("default", "tuned"):
            self.results[f"dev_{which}"] = r = self.stamps["tune"]["info"][f"dev_{which}"]
            if r is None:
                continue
            self.log(f"dev BLEU ({self.n_tune} tuning sentences) with {which} weights: {r['score']['bleu']:.2f} "
                     f"(lowercased {r['score']['bleu_lc']:.2f})")

    def _dev_result(self, which: str, tokens: list[list[str]], seconds: float) -> dict:
        """Write dev.<which>.{tok,hyp} and score them (sacreBLEU, detokenised)."""
        toks = [" ".join(t) for t in tokens]
        hyps = self.p.postprocess(toks)
        write_lines(self.dev_out[which][0], toks)
        write_lines(self.dev_out[which][1], hyps)
        return {"score": score(hyps, self.dev_refs_raw), "sentences": len(toks), "decode_seconds": round(seconds, 2),
                "decode_sents_per_s": round(len(toks) / max(seconds, 1e-9), 2)}

    def _copy_weights(self) -> dict:
        """No MERT: the default weights, or those tuned for another system; one dev decode."""
        w = self.default_w if self.source_weights is None else as_weights(read_weights(self.source_weights),
                                                                           self.lexicalised)
        t0 = time.time()
        nb = self.decoder().translate_corpus(self.dev_src, weights=np.asarray(w, dtype=float), nbest=1,
                                             processes=self.processes, desc="decode dev")
        tokens = [list(h[0].tokens) if h else [] for h in nb]
        seconds = time.time() - t0
        algorithm = "none (default weights)" if self.source_weights is None else f"copied from {self.source_weights}"
        write_weights(self.weights_path, w, tuning={"algorithm": algorithm})
        return {"algorithm": algorithm, "dev_sentences": self.n_tune, "dev_default": None,
                "dev_tuned": self._dev_result("tuned", tokens, seconds)}

    def _mert(self) -> dict:
        """MERT; its first decoder run (default weights) and the run at the weights it returns give the
        dev translations with the default and the tuned weights (the 1-best of an n-best search), so
        dev BLEU costs no extra decoding."""
        runs: list[tuple[np.ndarray, list[list[str]], float]] = []  # (weights, 1-best tokens, seconds)
        decode_nbest = decoder_nbest_fn(self.decoder(), self.dev_src, self.cfg["nbest"], self.processes)

        def recording(w):
            t0 = time.time()
            nb = decode_nbest(w)
            runs.append((np.asarray(w, dtype=float).copy(), [list(c[0][0]) if c else [] for c in nb], time.time() - t0))
            return nb

        weights, info = mert(recording, self.dev_ref_tok, self.default_w, iterations=self.cfg["mert_iterations"],
                             restarts=self.restarts, seed=self.mert_seed, log=self.log,
                             nonnegative=nonnegative_mask(self.features))
        tuned_run = next(r for r in reversed(runs) if np.allclose(r[0], weights, rtol=1e-9, atol=1e-12))
        info["dev_sentences"] = self.n_tune
        info["dev_default"] = self._dev_result("default", runs[0][1], runs[0][2])
        info["dev_tuned"] = self._dev_result("tuned", tuned_run[1], tuned_run[2])
        write_weights(self.weights_path, weights, tuning={"seed": self.mert_seed, "dev_sentences": self.n_tune,
                                                          "best_dev_bleu_tokenised": info["best_dev_bleu_tokenised"],
                                                          "stop": info["stop"]})
        return info

    # --- 5. decode the test set with the default and the tuned weights --------------------
    def decode_test(self) -> None:
        """Without MERT the "tuned" weights are not tuned here: the test set is decoded once."""
        variants = ([("default", self.default_w, None)] if self.do_tune else []) + [("tuned", self.tuned, self.weights_path)]
        for which, w, wfile in variants:
            self._decode_test_with(which, w, wfile)
        self.decode_select()

    def decode_select(self) -> None:
        """Dev's *select* part (``Prepared.dev_split``) with the tuned weights: ``select.tuned.{tok,hyp}``
        and ``bleu_select_tuned`` in scores.json — the figure settings are chosen on (never test)."""
        self.p.select_files()
        if self.p.split_info()["select"]:
            self._decode_test_with("tuned", self.tuned, self.weights_path, split="select")

    def _decode_test_with(self, which: str, w, wfile: Path | None, split: str = "test") -> None:
        out, p = self.out, self.p
        # the tuned system's outputs are the run folder's (data/runfolder.py); the default weights' beside them
        system_output = which == "tuned" and split == "test"
        tok_path = out / runfolder.TEST_TOK if system_output else out / f"{split}.{which}.tok"
        hyp_path = out / runfolder.TEST_HYP if system_output else out / f"{split}.{which}.hyp"
        with_alignment = system_output           # the report's SMT word alignment: of the system's output
        artifacts = [tok_path, hyp_path] + ([out / "test.align"] if with_alignment else [])
        inputs = {**self.model_inputs, "src": p.file(split, "src"), "ref": p.ref(split)}
        if wfile is not None:
            inputs["weights"] = wfile

        def decode() -> dict:
            src, origins, unknown_info = self.source(read_tokenized(p.file(split, "src")), split)
            t0 = time.time()
            nb = self.decoder().translate_corpus(src, weights=np.asarray(w, dtype=float), nbest=1,
                                                 processes=self.processes, desc=f"decode {split} ({which})")
            seconds = time.time() - t0
            best = [h[0] if h else None for h in nb]
            toks = [" ".join(b.tokens) if b is not None else "" for b in best]
            hyps = p.postprocess(toks)
            if with_alignment:
                table = _phrase_alignments(self.table_path, src)
                links = [word_alignment(s, b, table) if b is not None else None for s, b in zip(src, best)]
                if origins is not None:             # back to the positions of the original source words
                    links = [map_links(x, o) if x is not None else None for x, o in zip(links, origins)]
                write_lines(out / "test.align", (pharaoh.format(x) if x is not None else "" for x in links))
            write_lines(tok_path, toks)
            write_lines(hyp_path, hyps)
            sc = score(hyps, read_lines(p.ref(split)))
            return {"score": sc, "decode_seconds": round(seconds, 2),
                    "decode_sents_per_s": round(len(src) / max(seconds, 1e-9), 2), "sentences": len(src),
                    **({"unknown_words": unknown_info} if unknown_info else {})}

        st = self._step(f"decode-{split}-{which}", artifacts, inputs, {**self.decode_cfg, "weights": [float(x) for x in w]},
                        decode)
        self.results[f"{split}_{which}"] = st["info"]
        sc = st["info"]["score"]
        self.log(f"{split} BLEU with {which} weights: {sc['bleu']:.2f} (lowercased {sc['bleu_lc']:.2f}), "
                 f"{st['info']['decode_sents_per_s']:.1f} sent/s")

    # --- 6. scores.json ------------------------------------------------------------------
    def write_scores(self) -> dict:
        p, out, stamps, results = self.p, self.out, self.stamps, self.results
        step_seconds = {k: v["seconds"] for k, v in stamps.items()}
        test_tuned = results["test_tuned"]
        meta = {
            "system": self.system, "corpus": p.name, "src": p.src, "tgt": p.tgt, "corpus_hash": p.manifest["hash"],
            "profile": self.profile, "profile_section_sha256": section_hash(self.profile, "smt"),
            "settings": self.settings, "seed": SEED,
            "train_size": self.n_train,
            "step_seconds": step_seconds,
            "train_seconds": round(sum(step_seconds[k] for k in ("align", "phrases", "lm", "tune")), 2),
            "decode_seconds": test_tuned["decode_seconds"], "decode_sents_per_s": test_tuned["decode_sents_per_s"],
            "tune_dev_sentences": self.n_tune, "dev_sentences": results["dev_tuned"]["sentences"],
            "dev_bleu_on": "the tuning sentences (a seeded random sample of tune_dev_size sentences of dev's tune part)",
            "dev_split": p.split_info(),
            "weights": {"features": self.features, "default": [float(x) for x in self.default_w],
                        "tuned": [float(x) for x in self.tuned]},
            "mert": {k: stamps["tune"]["info"].get(k) for k in ("stop", "iterations_run", "best_dev_bleu_tokenised", "seed")},
            "phrase_table": stamps["phrases"]["info"], "lm": stamps["lm"]["info"], "alignment": stamps["align"]["info"],
            "python": platform.python_version(),
        }
        for key, res in results.items():
            if res is not None:
                meta[f"bleu_{key}"] = _score_subset(res["score"])
        scores_path = out / "scores.json"
        score_step = Step(out, "scores", [scores_path], {"hyp": out / "test.hyp", "ref": p.ref("test")},
                          json.loads(json.dumps(meta, default=str)))
        cached = None if self.force else score_step.cached(self.log)
        log = self.log
        result = None
        if cached is not None:
            try:
                result = read_json(scores_path)
                log("scores: up to date (scores.json), reused")
            except UserError as exc:      # damaged by hand: written again below, not a failure forever
                log(f"scores: {exc}; writing it again")
        if result is None:
            score_step.stamp.unlink(missing_ok=True)
            # how it ran (outside the step's key: PBSMT's output does not depend on them)
            result = write_scores(out, p.ref("test"), **meta, jobs=self.processes, cpu_kind=cpu_kind())
            write_json(score_step.stamp, {"key": score_step.key, "seconds": 0.0, "outputs": score_step._outputs()})
        log(f"=== done: test BLEU {result['bleu']:.2f} (lowercased {result['bleu_lc']:.2f}); "
            f"dev {meta['bleu_dev_tuned']['bleu']:.2f}" + (f" (default weights {meta['bleu_dev_default']['bleu']:.2f})"
                                                          if "bleu_dev_default" in meta else ""))
        return result


def _phrase_alignments(table_path: Path, sentences: list[list[str]]) -> dict:
    """The phrase table's options for phrases of ``sentences`` (for their internal alignments)."""
    return read_phrase_table(table_path, sources=sentences)


if __name__ == "__main__":
    from data.io import run_cli
    run_cli(main)
