"""`python -m compare translate`: plain text in, every trained system's translation out, side by side.

Each system is loaded from its run folder ``runs/<corpus>/<src>-<tgt>/<system>/`` alone (ARCHITECTURE.md,
the run-folder contract) and translates exactly as the study's test decode did, so that translating
the raw test source this way reproduces each ``test.hyp`` byte for byte (tests/test_translate.py):

* preprocessing: :class:`data.preprocess.Preprocessor` — NFC, Moses tokenisation, truecasing with the
  run folder's ``truecase.<src>`` (copied there by both trainers; an older run folder falls back to
  the prepared corpus' ``build/<corpus>/<src>-<tgt>/truecase.<src>`` when its corpus hash matches);
  NMT systems then apply their BPE codes and source reversal;
* decoding with the settings the system recorded, never flags: PBSMT the tuned ``weights.json``,
  ``reordering-table.gz`` when tuned with it, the stack size, distortion limit, table limit and cube
  pruning pop limit of ``scores.json``'s settings, unknown words rewritten when ``source-words.tsv``
  is there (smt/unknown.py); NMT the best checkpoint with its training config's beam, length penalty
  and decode batch (sentences are batched as the trainer's test decode batched them);
* post-processing: :class:`data.preprocess.Postprocessor` (detruecase, detokenise) — the one
  implementation behind ``Prepared.postprocess``, which wrote every ``test.hyp``.

``--explain`` adds what each system did: PBSMT's phrase segmentation (source span → target phrase,
its four phrase-table scores, the reordering orientation and, for lexicalised systems, its six
reordering scores), the word alignment (each phrase pair's internal links, as ``test.align``) and
the model score λ·h broken down by feature; for NMT the n-best list (log p(y|x) and the
length-normalised score the beam ranks by, Bahdanau et al. 2015 §4.2 / nmt/search.py), rnnsearch's
attention matrix α [T, S] over the units the model saw, and ``<unk>`` (output) / unknown source units
marked. ``compare serve`` (compare/serve.py) shows the same on a page.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Sequence

import torch

from compare.analysis_cache import ANALYSED, is_trained
from compare.beam import NMTSystem as Loaded
from data import corpus as corpus_mod
from data import runfolder
from data.io import MAX_TOKENS, HelpFormatter, UNK_WORD, UserError, read_json, read_lines
from data.prepare import build_root, runs_root
from data.preprocess import Postprocessor, Preprocessor
from nmt.bpe import merge_subwords
from nmt.data import ParallelData
from nmt.translate import translate_data
from smt.decode import Decoder
from smt.pipeline import word_alignment
from smt.unknown import for_run
from smt.weights import N_FEATURES, feature_names, read_weights


def study_dir(corpus: str, src: str | None, tgt: str | None, runs_dir=None) -> tuple[Path, str, str, str]:
    """(``runs/<corpus>/<src>-<tgt>/``, corpus name, src, tgt) of a study, without preparing the corpus."""
    default = corpus_mod.DEFAULT_PAIRS.get(corpus, (None, None))
    src, tgt = src or default[0], tgt or default[1]
    if not src or not tgt:
        raise UserError(f"corpus {corpus}: give --src and --tgt languages")
    if corpus in corpus_mod.DEFAULT_PAIRS:
        name = corpus
    elif Path(corpus).is_dir():
        name = Path(corpus).resolve().name
    else:
        raise UserError(f"corpus {corpus!r}: not a built-in corpus ({', '.join(corpus_mod.DEFAULT_PAIRS)}) nor a directory")
    return Path(runs_dir or runs_root()) / name / f"{src}-{tgt}", name, src, tgt


def truecaser_path(run_dir: Path, scores: dict, lang: str) -> Path:
    """The truecasing model a system was trained with: its own copy, else the prepared corpus' (same hash)."""
    own = run_dir / runfolder.TRUECASER.format(lang=lang)
    if own.is_file():
        return own
    build = build_root() / str(scores.get("corpus") or run_dir.parent.parent.name) / run_dir.parent.name
    manifest = build / "manifest.json"
    if (build / f"truecase.{lang}").is_file() and manifest.is_file():
        if read_json(manifest).get("hash") == scores.get("corpus_hash"):
            return build / f"truecase.{lang}"
        raise UserError(f"{run_dir}: has no {own.name} and {build} holds another preparation of the corpus "
                        f"(corpus hash differs from scores.json's): retrain the system, or run `make data` for its corpus")
    raise UserError(f"{run_dir}: has no {own.name} (trained before systems kept their truecaser) and {build} has none "
                    f"either: run `python -m data prepare` for the corpus once")


class System:
    """A trained system of a study, loaded from its run folder once; ``translate`` is thread-safe
    (one sentence batch at a time per system: the decoders keep per-system caches)."""

    kind = "?"

    def __init__(self, name: str, run_dir: Path):
        self.name, self.dir = name, run_dir
        self.scores = read_json(run_dir / runfolder.SCORES)
        # the folder is runs/<corpus>/<src>-<tgt>/<system>/ (Prepared.runs_base)
        self.src, self.tgt = self.scores.get("src"), self.scores.get("tgt")
        if not (self.src and self.tgt):
            self.src, _, self.tgt = run_dir.parent.name.partition("-")
        self.pre = Preprocessor(self.src, truecaser_path(run_dir, self.scores, self.src))
        self.post = Postprocessor(self.tgt)
        self.lock = threading.Lock()

    def preprocess(self, lines: Sequence[str]) -> list[list[str]]:
        return [line.split() for line in self.pre(lines)]

    def translate(self, lines: Sequence[str], explain: bool = False) -> list[dict]:
        """Raw source lines → per line ``{"text", "tokens"[, "explain"]}`` (post-processed text, the
        system's tokenised output)."""
        toks = self.preprocess(lines)
        for n, t in enumerate(toks, 1):
            if len(t) > MAX_TOKENS:
                raise UserError(f"sentence {n}: {len(t)} tokens, more than the {MAX_TOKENS} a system translates "
                                f"(data.io.MAX_TOKENS)")
        keep = [i for i, t in enumerate(toks) if t]        # an empty line is translated as empty
        out = [{"tokens": "", "text": "", **({"explain": None} if explain else {})} for _ in toks]
        if keep:
            with self.lock:
                for i, r in zip(keep, self._translate([toks[i] for i in keep], explain)):
                    out[i] = r
        return out

    def info(self) -> dict:
        return {"name": self.name, "kind": self.kind, "settings": self.settings, "bleu": self.scores.get("bleu")}


class PBSMTSystem(System):
    kind = "pbsmt"

    def __init__(self, name: str, run_dir: Path, *, whole_table: bool = False):
        """``whole_table``: load the phrase table once (a server); else it is read filtered to each
        batch's phrases (like the study's decode; the translations are the same)."""
        super().__init__(name, run_dir)
        st = self.scores.get("settings", {})
        weights = read_weights(run_dir / "weights.json")
        self.lexicalised = len(weights) > N_FEATURES
        if self.lexicalised and not (run_dir / "reordering-table.gz").is_file():
            raise UserError(f"{run_dir}: weights.json has {len(weights)} weights (lexicalised reordering) but there "
                            f"is no reordering-table.gz")
        self.settings = {"stack_size": st["stack_size"], "distortion_limit": st["distortion_limit"],
                         "table_limit": st["table_limit"], **({"pop_limit": st["pop_limit"]} if st.get("pop_limit") else {}),
                         "reordering": st.get("reordering", "distance"),
                         "unknown_words": "split" if (run_dir / "source-words.tsv").is_file() else "copy"}
        self.features = feature_names(self.lexicalised)
        self.unknown = for_run(run_dir)
        self.decoder = Decoder(run_dir / "phrase-table.gz", run_dir / "lm.binary", weights=weights,
                               stack_size=st["stack_size"], distortion_limit=st["distortion_limit"],
                               table_limit=st["table_limit"], pop_limit=st.get("pop_limit"),
                               reordering_table=run_dir / "reordering-table.gz" if self.lexicalised else None,
                               filter_table=not whole_table, keep_alignments=True)
        if whole_table:
            self.decoder._ensure_table([])

    def _translate(self, toks: list[list[str]], explain: bool) -> list[dict]:
        src = toks if self.unknown is None else self.unknown.rewrite_corpus(toks)[0]
        if not explain:
            nb = self.decoder.translate_corpus(src, nbest=1, processes=1, desc=f"{self.name}")
            outs = [" ".join(h[0].tokens) if h else "" for h in nb]
            return [{"tokens": o, "text": t} for o, t in zip(outs, self.post(outs))]
        results = []
        for s in src:
            best = self.decoder.translate(s, derivation=True)[0]
            out = " ".join(best.tokens)
            results.append({"tokens": out, "text": self.post([out])[0], "explain": self._explain(s, best)})
        return results

    def _explain(self, source: list[str], best) -> dict:
        w = self.decoder.weights
        table = {}
        for ph in best.derivation:
            if ph["alignment"] is not None:
                f = tuple(source[ph["source"][0]:ph["source"][1]])
                table.setdefault(f, []).append(SimpleNamespace(e=tuple(ph["target"]), alignment=ph["alignment"]))
        return {"source": source, "target": list(best.tokens), "phrases": best.derivation,
                "alignment": [list(x) for x in word_alignment(source, best, table)],
                "features": [{"name": n, "value": float(v), "weight": float(wt), "weighted": float(v * wt)}
                             for n, v, wt in zip(self.features, best.features.tolist(), w.tolist())],
                "score": best.score}


class NMTSystem(System):
    kind = "nmt"

    def __init__(self, name: str, run_dir: Path):
        super().__init__(name, run_dir)
        self.m = Loaded(run_dir)
        tc = self.scores.get("train_config") or {}
        self.arch = tc.get("arch", self.scores.get("arch"))
        self.kind = self.arch or "nmt"
        self.beam = int(tc.get("beam", self.m.beam))
        self.length_penalty = float(tc.get("length_penalty", 1.0))
        self.decode_batch = int(tc.get("decode_batch", 64))
        self.settings = {"beam": self.beam, "length_penalty": self.length_penalty, "bpe": self.m.bpe is not None,
                         "reverse_source": self.m.reverse, "unknown_words": "<unk> kept (no replacement)"}

    def _words(self, units: list[str]) -> list[str]:
        return merge_subwords(units) if self.m.bpe is not None else units

    def _translate(self, toks: list[list[str]], explain: bool) -> list[dict]:
        units = self.m.source_units(toks)
        data = ParallelData.from_tokens(units, None, self.m.src_vocab)
        nbest = [None] * len(units) if explain else None
        with torch.inference_mode():
            hyps, atts = translate_data(self.m.model, data, beam=self.beam, device="cpu", batch_sents=self.decode_batch,
                                        return_attention=True, length_penalty=self.length_penalty,
                                        desc=self.name, nbest_out=nbest)
        tv = self.m.tgt_vocab
        outs = [" ".join(self._words(tv.decode(h))) for h in hyps]
        results = [{"tokens": o, "text": t} for o, t in zip(outs, self.post(outs))]
        if explain:
            for r, u, h, a, nb in zip(results, units, hyps, atts, nbest):
                out_units = tv.decode(h)
                lst = []
                for score, ids in nb or []:
                    words = self._words(tv.decode(ids))
                    n = len(ids) + 1                                     # |y| counts the EOS
                    lst.append({"text": self.post([" ".join(words)])[0], "units": tv.decode(ids),
                                "score": score, "logprob": None if score is None else score * n ** self.length_penalty})
                r["explain"] = {"source_units": list(u), "units": out_units,
                                "unknown_source": [i for i, x in enumerate(u) if x not in self.m.src_vocab],
                                "unk": [i for i, x in enumerate(out_units) if x == UNK_WORD],
                                "attention": None if a is None else [[round(float(v), 4) for v in row] for row in a],
                                "nbest": lst, "length_penalty": self.length_penalty, "beam": self.beam}
        return results


def load_system(name: str, run_dir: Path, *, whole_table: bool = False) -> System:
    kind = "pbsmt" if name.startswith("pbsmt") else "nmt"
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run folder (not trained)")
    if not is_trained(run_dir, name):
        raise UserError(f"{run_dir}: not a finished {kind} system (scores.json or a model file is missing)")
    return PBSMTSystem(name, run_dir, whole_table=whole_table) if kind == "pbsmt" else NMTSystem(name, run_dir)


class Study:
    """The trained systems of one study, each loaded once; a system that fails to load is kept in
    :attr:`unavailable` with the reason (the others still work)."""

    def __init__(self, corpus: str = "bible", src: str | None = None, tgt: str | None = None,
                 systems: Sequence[str] | None = None, *, whole_table: bool = False, runs_dir=None):
        self.base, self.name, self.src, self.tgt = study_dir(corpus, src, tgt, runs_dir)
        names = list(systems) if systems else [n for n in ANALYSED if (self.base / n).is_dir()] or list(ANALYSED)
        self.systems: dict[str, System] = {}
        self.unavailable: dict[str, str] = {}
        self.load_seconds: dict[str, float] = {}
        for name in names:
            t0 = time.time()
            try:
                self.systems[name] = load_system(name, self.base / name, whole_table=whole_table)
            except UserError as exc:
                self.unavailable[name] = str(exc)
            except Exception as exc:            # a damaged model file: shown as unavailable, with the reason
                self.unavailable[name] = f"{self.base / name}: cannot be loaded ({exc.__class__.__name__}: {exc})"
            self.load_seconds[name] = round(time.time() - t0, 3)
        self.order = names

    def examples(self, n: int = 5) -> list[str]:
        """A few raw test sentences to start from (the prepared corpus' test.raw.<src>), short ones first."""
        path = build_root() / self.name / f"{self.src}-{self.tgt}" / f"test.raw.{self.src}"
        if not path.is_file():
            return []
        lines = [x for x in read_lines(path) if 4 <= len(x.split()) <= 30]
        step = max(1, len(lines) // n)
        return lines[::step][:n]

    def translate(self, lines: Sequence[str], explain: bool = False, systems: Sequence[str] | None = None) -> list[dict]:
        """Per raw line: ``{"source", "translations": {system: text}, "seconds": {system: s}[, "explain"]}``."""
        out = [{"source": x, "translations": {}, "seconds": {}} for x in lines]
        if explain:
            for r in out:
                r["explain"] = {}
        for name in systems or self.systems:
            sysm = self.systems[name]
            t0 = time.time()
            res = sysm.translate(lines, explain)
            secs = (time.time() - t0) / max(1, len(lines))
            for r, x in zip(out, res):
                r["translations"][name] = x["text"]
                r["seconds"][name] = round(secs, 4)
                if explain:
                    r["explain"][name] = x["explain"]
        return out


# ------------------------------------------------------------------------------------------
# the command line
# ------------------------------------------------------------------------------------------

def format_explain(name: str, e: dict) -> list[str]:
    """Readable lines of one system's explanation."""
    rows = []
    if "phrases" in e:
        src = e["source"]
        rows.append(f"    phrases (source span -> target; tm_fe lex_fe tm_ef lex_ef; orientation{'; reordering' if any(p['reordering'] for p in e['phrases']) else ''}):")
        for p in e["phrases"]:
            s, t = p["source"]
            lr = f"; {' '.join(f'{x:.2f}' for x in p['reordering'])}" if p["reordering"] else ""
            rows.append(f"      [{s}:{t}] {' '.join(src[s:t])!r} -> {' '.join(p['target'])!r}"
                        f"{' (unknown word, copied)' if p['unknown'] else ''}; {' '.join(f'{x:.2f}' for x in p['tm'])}; "
                        f"{p['orientation']}{lr}")
        rows.append("    alignment: " + " ".join(f"{i}-{j}" for i, j in e["alignment"]))
        rows.append("    score " + f"{e['score']:.3f} = " + " + ".join(
            f"{f['name']} {f['weight']:+.3f}x{f['value']:.2f}" for f in e["features"]))
    else:
        unk = set(e["unk"])
        rows.append("    output units: " + " ".join(f"[{u}]" if i in unk else u for i, u in enumerate(e["units"])))
        if e["unknown_source"]:
            rows.append("    source units unknown to the model: " + " ".join(e["source_units"][i] for i in e["unknown_source"]))
        if e["attention"] is not None:
            su = e["source_units"]
            rows.append("    attention (each output unit: its most-attended source unit, weight):")
            for u, row in zip(e["units"], e["attention"]):
                j = max(range(len(row)), key=row.__getitem__) if row else 0
                rows.append(f"      {u} <- {su[j] if su else ''} ({row[j] if row else 0:.2f})")
        rows.append(f"    n-best (beam {e['beam']}; log p(y|x), score = log p / |y|^{e['length_penalty']:g}):")
        for k, h in enumerate(e["nbest"], 1):
            lp = "-" if h["logprob"] is None else f"{h['logprob']:.3f}"
            sc = "-" if h["score"] is None else f"{h['score']:.3f}"
            rows.append(f"      {k}. {lp:>9} {sc:>8}  {h['text']}")
    return rows


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m compare translate",
        description="Translate raw text (arguments, --input FILE, or standard input; one sentence a line) with "
                    "every trained system of a study, with the preprocessing, settings and post-processing each "
                    "system's test output was made with (compare/translate.py).", formatter_class=HelpFormatter)
    p.add_argument("text", nargs="*", help="sentences to translate (default: --input, else standard input)")
    p.add_argument("--corpus", default=os.environ.get("CORPUS") or "bible",
                   help="built-in corpus (bible, multi30k) or a corpus directory (default: bible)")
    p.add_argument("--src", default=None, help="source language (default: the corpus', es for bible)")
    p.add_argument("--tgt", default=None, help="target language (default: en)")
    p.add_argument("--systems", default=None,
                   help=f"comma-separated system folders (default: the main ones trained, of {','.join(ANALYSED)})")
    p.add_argument("--input", default=None, help="a file of raw sentences, one a line (default: none)")
    p.add_argument("--format", choices=("text", "jsonl"), default="text", help="output format (default: text)")
    p.add_argument("--explain", action="store_true",
                   help="also show what each system did: PBSMT phrases, alignment, score by feature; NMT n-best, "
                        "attention, <unk> (default: off)")
    p.add_argument("--threads", type=int, default=1, help="torch threads for the NMT systems (default: 1)")
    return p


def read_input(args) -> list[str]:
    if args.text and args.input:
        raise UserError("give sentences as arguments or --input FILE, not both")
    if args.text:
        lines = list(args.text)
    elif args.input:
        lines = read_lines(args.input, allow_empty_lines=True)
    else:
        data = sys.stdin.buffer.read()
        try:
            lines = data.decode("utf-8").splitlines()
        except UnicodeDecodeError as exc:
            line = data[:exc.start].count(b"\n") + 1
            raise UserError(f"<stdin>:{line}: not valid UTF-8 ({exc.reason})") from None
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads < 1:
        raise UserError(f"--threads must be >= 1 (got {args.threads})")
    lines = read_input(args)
    where = args.input or "<stdin>"
    for n, line in enumerate(lines, 1):
        if len(line.split()) > MAX_TOKENS:
            raise UserError(f"{where}:{n}: {len(line.split())} words, more than {MAX_TOKENS} (data.io.MAX_TOKENS)")
    torch.set_num_threads(args.threads)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()] if args.systems else None
    study = Study(args.corpus, args.src, args.tgt, systems)
    for name, why in study.unavailable.items():
        print(f"note: {name} unavailable: {why}", file=sys.stderr)
    if not study.systems:
        raise UserError(f"{study.base}: no trained system to translate with (train them: make report, make smt, make nmt)")
    blank = [i for i, x in enumerate(lines) if not x.strip()]
    results = study.translate(lines, explain=args.explain)
    width = max(len(n) for n in study.systems)
    out = sys.stdout
    for k, r in enumerate(results):
        if args.format == "jsonl":
            out.write(json.dumps(r, ensure_ascii=False) + "\n")
            continue
        if k:
            out.write("\n")
        out.write(f"[{k + 1}] {r['source']}\n")
        for name, text in r["translations"].items():
            out.write(f"  {name:<{width}}  {text}\n")
            if args.explain:
                out.write("\n".join(format_explain(name, r["explain"][name])) + "\n")
    if blank:
        print(f"note: {len(blank)} empty line(s) translated as empty", file=sys.stderr)
    return 0
