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
tune        MERT (:mod:`smt.tune`, Och 2003) on the first                ``weights.json``,
            ``tune_dev_size`` dev sentences; its first decoder run        ``dev.{default,tuned}.{tok,hyp}``
            (DEFAULT weights) and its run at the returned weights
            (TUNED) give the dev BLEU, on those tuning sentences
test        decode test with the DEFAULT and the TUNED weights;          ``test.{default,tuned}.tok``,
            detokenise + recase (``Prepared.postprocess``)              ``test.default.hyp``, ``test.hyp``,
                                                                        ``test.align``
score       :func:`compare.score.write_scores` with all the meta        ``scores.json``
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

from data.io import UserError, read_json, read_lines, read_tokenized, run_folder_lock, sha256_file, write_json, write_lines
from data.prepare import Prepared, add_corpus_args, prepared_from_args
from data.profiles import SEED, get as get_profile, section_hash
from smt.weights import DEFAULT_WEIGHTS, FEATURES, read_weights, write_weights

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

def align_step(src: Path, tgt: Path, out: Path, cfg: dict, models=None, test_srcs=()) -> dict:
    """Word-align the (lowercased) training pairs; write Pharaoh ``i-j`` (source-target). With
    ``models``, also save both trained directions (for forced alignment of the test sets' outputs,
    compare/alignment.py), their t-tables cut to the words of the ``test_srcs`` files."""
    from smt.align import align_corpus
    f = [line.lower().split() for line in read_lines(src)]
    e = [line.lower().split() for line in read_lines(tgt)]
    keep = {w for path in test_srcs for line in read_lines(path) for w in line.lower().split()}
    links = align_corpus(f, e, model=cfg["align_model"], iterations=cfg["iterations"],
                         ibm1_iterations=cfg["ibm1_iterations"], symmetrize=cfg["symmetrize"],
                         models_out=models, keep_src_words=keep if models else None)
    write_lines(out, (" ".join(f"{i}-{j}" for i, j in sorted(a)) for a in links))
    n_links = sum(len(a) for a in links)
    return {"sentences": len(links), "links": n_links,
            "links_per_target_word": round(n_links / max(1, sum(len(x) for x in e)), 4)}


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

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m smt train",
        description="Train, tune and evaluate the phrase-based SMT system on a corpus; writes "
                    "runs/<corpus>/<src>-<tgt>/<system>/ (test.hyp, scores.json, phrase-table.gz, "
                    "lm.binary, weights.json, alignments/, test.align, train.log). Incremental: "
                    "finished steps are reused.")
    add_corpus_args(p)
    p.add_argument("--train-size", type=int, default=None, help="use a deterministic subset of N training pairs (default: all)")
    p.add_argument("--system", default="pbsmt", help="system name, the run folder (default: pbsmt)")
    p.add_argument("--processes", type=int, default=2, help="decoder processes (default: 2)")
    p.add_argument("--restarts", type=int, default=MERT_RESTARTS, help=f"MERT random restarts per round (default: {MERT_RESTARTS})")
    p.add_argument("--no-tune", action="store_true", help="skip MERT: the tuned weights are the defaults")
    p.add_argument("--weights-from", metavar="SYSTEM", default=None,
                   help="skip MERT and use the weights tuned for another system of this corpus (e.g. pbsmt); "
                        "the learning-curve points do this")
    p.add_argument("--force", action="store_true", help="redo every step even when up to date")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.processes < 1:
        raise UserError("--processes must be >= 1")
    if args.restarts < 0:
        raise UserError("--restarts must be >= 0")
    if not args.system or "/" in args.system or args.system.startswith("."):
        raise UserError(f"--system {args.system!r}: must be a plain folder name")
    p = prepared_from_args(args)
    with run_folder_lock(p.run_dir(args.system), "smt train"):
        run(p, profile=args.profile, train_size=args.train_size, system=args.system,
            processes=args.processes, restarts=args.restarts, tune=not args.no_tune, force=args.force,
            weights_from=args.weights_from)
    return 0


def run(p: Prepared, *, profile: str = "quick", train_size: int | None = None, system: str = "pbsmt",
        processes: int = 2, restarts: int = MERT_RESTARTS, tune: bool = True, force: bool = False,
        weights_from: str | None = None) -> dict:
    """Run (or bring up to date) every step for the prepared corpus ``p``; returns scores.json."""
    cfg = get_profile(profile, "smt")
    source_weights = None
    if weights_from is not None:
        source_weights = p.run_dir(weights_from) / "weights.json"
        if not source_weights.is_file():
            raise UserError(f"{source_weights}: no such file (train {weights_from} first, or drop --weights-from)")
        tune = False
    out = p.run_dir(system)
    log = Log(out / "train.log")
    train_src, train_tgt = p.train_files(train_size)
    n_train = len(read_lines(train_src))
    log(f"=== smt train: {p.name} {p.src}-{p.tgt}, profile {profile}, {n_train:,} training pairs -> {out}")
    settings = {"profile": profile, **cfg, "train_size": train_size, "mert_restarts": restarts,
                "tune": cfg["tune"] if tune else (f"weights of {weights_from}" if weights_from else "none"), "seed": SEED, "align_lowercase": True}
    stamps: dict[str, dict] = {}

    # --- 1. word alignment ---------------------------------------------------------------
    align_path = out / "alignments" / "train.gdfa"
    models = (out / "alignments" / "src2tgt.npz", out / "alignments" / "tgt2src.npz")
    align_cfg = {k: cfg[k] for k in ("align_model", "iterations", "ibm1_iterations", "symmetrize")}
    test_srcs = [p.file("test", "src")] + [p.file(f"test-{x}", "src") for x in sorted(p.manifest.get("extra_tests") or {})]
    stamps["align"] = Step(out, "align", [align_path, *models],
                           {"src": train_src, "tgt": train_tgt, **{f"test{k}": f for k, f in enumerate(test_srcs)}},
                           {**align_cfg, "lowercase": True}).run(
        lambda: align_step(train_src, train_tgt, align_path, cfg, models, test_srcs), log, force)

    # --- 2. phrase table -----------------------------------------------------------------
    table_path = out / "phrase-table.gz"

    def phrases() -> dict:
        from smt.phrases import build_phrase_table
        return build_phrase_table(train_src, train_tgt, align_path, table_path,
                                  max_len=cfg["max_phrase_length"], table_limit=cfg["table_limit"])

    stamps["phrases"] = Step(out, "phrases", [table_path], {"src": train_src, "tgt": train_tgt, "align": align_path},
                             {"max_phrase_length": cfg["max_phrase_length"], "table_limit": cfg["table_limit"]}
                             ).run(phrases, log, force)

    # --- 3. language model ---------------------------------------------------------------
    lm_path = out / "lm.binary"

    def lm() -> dict:
        from smt.lm import build_lm
        return build_lm(train_tgt, lm_path, order=cfg["lm_order"])

    stamps["lm"] = Step(out, "lm", [lm_path], {"text": train_tgt}, {"order": cfg["lm_order"]}).run(lm, log, force)

    decoder_box: list = []

    def decoder():
        if not decoder_box:
            from smt.decode import Decoder
            log("loading the decoder (phrase table + LM)")
            decoder_box.append(Decoder(str(table_path), str(lm_path), weights=np.asarray(DEFAULT_WEIGHTS, dtype=float),
                                       stack_size=cfg["stack_size"], distortion_limit=cfg["distortion_limit"],
                                       table_limit=cfg["table_limit"]))
        return decoder_box[0]

    decode_cfg = {"stack_size": cfg["stack_size"], "distortion_limit": cfg["distortion_limit"],
                  "table_limit": cfg["table_limit"]}
    model_inputs = {"phrase_table": table_path, "lm": lm_path}

    # --- 4. MERT on a seeded random sample of tune_dev_size dev sentences --------------------
    weights_path = out / "weights.json"
    tune_idx = p.dev_sample(cfg["tune_dev_size"])
    dev_src_all, dev_ref_tok_all = ([toks[i] for i in tune_idx] for toks in
                                    (read_tokenized(p.file("dev", "src")), read_tokenized(p.file("dev", "tgt"))))
    n_tune = len(tune_idx)
    raw = read_lines(p.ref("dev"))
    dev_refs_raw = [raw[i] for i in tune_idx]
    dev_out = {which: (out / f"dev.{which}.tok", out / f"dev.{which}.hyp") for which in ("default", "tuned")}

    def dev_result(which: str, tokens: list[list[str]], seconds: float) -> dict:
        """Write dev.<which>.{tok,hyp} and score them (sacreBLEU, detokenised)."""
        from compare.score import score
        toks = [" ".join(t) for t in tokens]
        hyps = p.postprocess(toks)
        write_lines(dev_out[which][0], toks)
        write_lines(dev_out[which][1], hyps)
        return {"score": score(hyps, dev_refs_raw), "sentences": len(toks), "decode_seconds": round(seconds, 2),
                "decode_sents_per_s": round(len(toks) / max(seconds, 1e-9), 2)}

    def tune_step() -> dict:
        """MERT; its first decoder run (default weights) and the run at the weights it returns
        give the dev translations with the default and the tuned weights (the 1-best of an
        n-best search), so dev BLEU costs no extra decoding."""
        src = dev_src_all[:n_tune]
        if not tune:  # default weights, or the weights tuned for another system: one dev decode
            w = DEFAULT_WEIGHTS if source_weights is None else read_weights(source_weights)
            t0 = time.time()
            nb = decoder().translate_corpus(src, weights=np.asarray(w, dtype=float), nbest=1,
                                            processes=processes, desc="decode dev")
            tokens = [list(h[0].tokens) if h else [] for h in nb]
            seconds = time.time() - t0
            algorithm = "none (default weights)" if source_weights is None else f"copied from {source_weights}"
            write_weights(weights_path, w, tuning={"algorithm": algorithm})
            return {"algorithm": algorithm, "dev_sentences": n_tune, "dev_default": None,
                    "dev_tuned": dev_result("tuned", tokens, seconds)}
        from smt.tune import decoder_nbest_fn, mert
        runs: list[tuple[np.ndarray, list[list[str]], float]] = []  # (weights, 1-best tokens, seconds)
        decode_nbest = decoder_nbest_fn(decoder(), src, cfg["nbest"], processes)

        def recording(w):
            t0 = time.time()
            nb = decode_nbest(w)
            runs.append((np.asarray(w, dtype=float).copy(), [list(c[0][0]) if c else [] for c in nb], time.time() - t0))
            return nb

        weights, info = mert(recording, dev_ref_tok_all[:n_tune], DEFAULT_WEIGHTS, iterations=cfg["mert_iterations"],
                             restarts=restarts, seed=SEED, log=log)
        tuned_run = next(r for r in reversed(runs) if np.allclose(r[0], weights, rtol=1e-9, atol=1e-12))
        info["dev_sentences"] = n_tune
        info["dev_default"] = dev_result("default", runs[0][1], runs[0][2])
        info["dev_tuned"] = dev_result("tuned", tuned_run[1], tuned_run[2])
        write_weights(weights_path, weights, tuning={"seed": SEED, "dev_sentences": n_tune,
                                                     "best_dev_bleu_tokenised": info["best_dev_bleu_tokenised"],
                                                     "stop": info["stop"]})
        return info

    stamps["tune"] = Step(out, "tune", [weights_path, *(dev_out["default"] if tune else ()), *dev_out["tuned"]],
                          {**model_inputs, "dev_src": p.file("dev", "src"), "dev_ref": p.file("dev", "tgt"),
                           "dev_ref_raw": p.ref("dev"), **({"weights_from": source_weights} if source_weights else {})},
                          {**decode_cfg, "tune": settings["tune"], "tune_dev_size": cfg["tune_dev_size"],
                           "tune_dev_sample": "seeded random" if cfg["tune_dev_size"] else "all", "nbest": cfg["nbest"], "mert_iterations": cfg["mert_iterations"],
                           "restarts": restarts, "seed": SEED}, stamp_dir=out).run(tune_step, log, force)
    tuned = read_weights(weights_path)
    log(f"tuned weights: " + ", ".join(f"{n}={w:+.4f}" for n, w in zip(FEATURES, tuned)))
    results: dict[str, dict] = {}
    for which in ("default", "tuned"):
        results[f"dev_{which}"] = r = stamps["tune"]["info"][f"dev_{which}"]
        if r is None:
            continue
        log(f"dev BLEU ({n_tune} tuning sentences) with {which} weights: {r['score']['bleu']:.2f} "
            f"(lowercased {r['score']['bleu_lc']:.2f})")

    # --- 5. decode the test set with the default and the tuned weights --------------------
    for split in ("test",):
        # Without MERT the "tuned" weights are not tuned here: decode the test set once.
        variants = ([("default", DEFAULT_WEIGHTS, None)] if tune else []) + [("tuned", tuned, weights_path)]
        for which, w, wfile in variants:
            tok_path = out / f"{split}.{which}.tok"
            hyp_path = out / "test.hyp" if which == "tuned" else out / f"{split}.{which}.hyp"
            artifacts = [tok_path, hyp_path] + ([out / "test.align"] if which == "tuned" else [])
            inputs = {**model_inputs, "src": p.file(split, "src"), "ref": p.ref(split)}
            if wfile is not None:
                inputs["weights"] = wfile

            def decode_split(split=split, w=w, which=which, tok_path=tok_path, hyp_path=hyp_path,
                             artifacts=artifacts) -> dict:
                src = read_tokenized(p.file(split, "src"))
                t0 = time.time()
                nb = decoder().translate_corpus(src, weights=np.asarray(w, dtype=float), nbest=1, processes=processes,
                                                 desc=f"decode {split} ({which})")
                seconds = time.time() - t0
                best = [h[0] if h else None for h in nb]
                toks = [" ".join(b.tokens) if b is not None else "" for b in best]
                hyps = p.postprocess(toks)
                if len(artifacts) == 3:
                    table = _phrase_alignments(table_path, src)
                    write_lines(out / "test.align",
                                (" ".join(f"{i}-{j}" for i, j in word_alignment(s, b, table)) if b is not None else ""
                                 for s, b in zip(src, best)))
                write_lines(tok_path, toks)
                write_lines(hyp_path, hyps)
                from compare.score import score
                sc = score(hyps, read_lines(p.ref(split)))
                return {"score": sc, "decode_seconds": round(seconds, 2),
                        "decode_sents_per_s": round(len(src) / max(seconds, 1e-9), 2), "sentences": len(src)}

            st = Step(out, f"decode-{split}-{which}", artifacts, inputs,
                      {**decode_cfg, "weights": [float(x) for x in w]}).run(decode_split, log, force)
            stamps[f"decode-{split}-{which}"] = st
            results[f"{split}_{which}"] = st["info"]
            sc = st["info"]["score"]
            log(f"{split} BLEU with {which} weights: {sc['bleu']:.2f} (lowercased {sc['bleu_lc']:.2f}), "
                f"{st['info']['decode_sents_per_s']:.1f} sent/s")

    # --- 6. scores.json ------------------------------------------------------------------
    step_seconds = {k: v["seconds"] for k, v in stamps.items()}
    test_tuned = results["test_tuned"]
    meta = {
        "system": system, "corpus": p.name, "src": p.src, "tgt": p.tgt, "corpus_hash": p.manifest["hash"],
        "profile": profile, "profile_section_sha256": section_hash(profile, "smt"), "settings": settings, "seed": SEED,
        "train_size": n_train,
        "step_seconds": step_seconds,
        "train_seconds": round(sum(step_seconds[k] for k in ("align", "phrases", "lm", "tune")), 2),
        "decode_seconds": test_tuned["decode_seconds"], "decode_sents_per_s": test_tuned["decode_sents_per_s"],
        "tune_dev_sentences": n_tune, "dev_sentences": results["dev_tuned"]["sentences"],
        "dev_bleu_on": "the tuning sentences (a seeded random sample of tune_dev_size dev sentences)",
        "weights": {"features": list(FEATURES), "default": [float(x) for x in DEFAULT_WEIGHTS],
                    "tuned": [float(x) for x in tuned]},
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
    cached = None if force else score_step.cached()
    if cached is not None:
        log("scores: up to date (scores.json), reused")
        result = read_json(scores_path)
    else:
        from compare.score import write_scores
        score_step.stamp.unlink(missing_ok=True)
        result = write_scores(out, p.ref("test"), **meta)
        write_json(score_step.stamp, {"key": score_step.key, "seconds": 0.0})
    log(f"=== done: test BLEU {result['bleu']:.2f} (lowercased {result['bleu_lc']:.2f}); "
        f"dev {meta['bleu_dev_tuned']['bleu']:.2f}" + (f" (default weights {meta['bleu_dev_default']['bleu']:.2f})"
                                                      if "bleu_dev_default" in meta else ""))
    return result


def _phrase_alignments(table_path: Path, sentences: list[list[str]]) -> dict:
    """The phrase table's options for phrases of ``sentences`` (for their internal alignments)."""
    from smt.phrases import read_phrase_table
    return read_phrase_table(table_path, sources=sentences)


if __name__ == "__main__":
    from data.io import run_cli
    run_cli(main)
