"""Decoding speed and quality of smt/decode.py vs NLTK's StackDecoder -> ``runs/bench/decode.md``.

Model: Multi30k De→En as prepared by ``data.prepare`` (Moses-tokenised, truecased), all 29k
training pairs, HMM alignment + grow-diag-final-and (smt/align.py), phrase table with at most
7-word phrases and 20 options per source phrase (smt/phrases.py), 5-gram KenLM (smt/lm.py); built
once and cached in ``runs/bench/decode-model/``. Weights: the decoder's untuned DEFAULT_WEIGHTS.

Both decoders get the same phrase table (the same ≤ 20 options per source phrase) and the same
KenLM model, stack size 100. NLTK's StackDecoder has a single translation score per phrase pair
(we give it log φ(e|f)), its own distortion model (``distortion_factor`` 0.5 per jumped word, no
reordering limit), no end-of-sentence LM score and no threshold pruning; it queries the LM through
``probability_change(context, phrase)`` / ``probability(phrase)``, wrapped here around KenLM.
NLTK is slow (~0.4 sentences/s), so it decodes only the first ``--nltk-sentences`` test
sentences; speed is sentences/s of decoding proper (the model loading is reported separately),
BLEU is sacreBLEU on detokenised, recased output (evaluation.score) over the sentences decoded.

Usage: ``python benchmarks/bench_decode.py [--quick] [--sentences N] [--nltk-sentences N] [--processes P]``.
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evaluation.score import bleu  # noqa: E402
from data.io import atomic_write, progress, read_lines, read_tokenized  # noqa: E402
from data.prepare import prepare  # noqa: E402

MODEL_DIR = ROOT / "runs" / "bench" / "decode-model"
LN10 = math.log(10)


def cpu_seconds() -> float:
    """CPU time of this process plus its finished children (the decoder's worker processes)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def build_model(p) -> tuple[Path, Path, dict]:
    """Alignment, phrase table and LM for the benchmark (cached)."""
    MODEL_DIR.mkdir(parents=True, exist_ok=True)
    src, tgt = p.file("train", "src"), p.file("train", "tgt")
    align, table, lm = MODEL_DIR / "train.align", MODEL_DIR / "phrase-table.gz", MODEL_DIR / "lm.binary"
    info = {}
    if not align.is_file():
        from data.io import write_lines
        from smt.align import align_corpus, to_pharaoh
        t0 = time.time()
        links = align_corpus(read_tokenized(src), read_tokenized(tgt), model="hmm")
        write_lines(align, (to_pharaoh(a) for a in links))
        info["align_seconds"] = round(time.time() - t0, 1)
    if not table.is_file():
        from smt.phrases import build_phrase_table
        t0 = time.time()
        build_phrase_table(src, tgt, align, table, max_len=7, table_limit=20)
        info["phrases_seconds"] = round(time.time() - t0, 1)
    if not lm.is_file():
        from smt.lm import build_lm
        t0 = time.time()
        build_lm(tgt, lm, order=5)
        info["lm_seconds"] = round(time.time() - t0, 1)
    return table, lm, info


class KenLMForNLTK:
    """NLTK's language-model interface (natural-log probabilities) over a KenLM model."""

    def __init__(self, model):
        import kenlm
        self.model, self.State = model, kenlm.State

    def _score(self, state, words):
        total = 0.0
        for w in words:
            out = self.State()
            total += self.model.BaseScore(state, w, out)
            state = out
        return total, state

    def probability(self, phrase):
        st = self.State()
        self.model.NullContextWrite(st)
        return self._score(st, phrase)[0] * LN10

    def probability_change(self, context, phrase):
        """ln p(phrase | context); NLTK passes the hypothesis being expanded as the context."""
        words = context.translation_so_far() if hasattr(context, "translation_so_far") else list(context)
        st = self.State()
        self.model.BeginSentenceWrite(st)
        _, st = self._score(st, words[-(self.model.order - 1):] if self.model.order > 1 else ())
        return self._score(st, phrase)[0] * LN10


def nltk_decode(table_path, lm, sentences, stack_size=100):
    from nltk.translate import PhraseTable, StackDecoder
    from smt.phrases import read_phrase_table
    raw = read_phrase_table(table_path, table_limit=20, sources=sentences)
    pt = PhraseTable()
    for f, opts in raw.items():
        for o in opts:
            pt.add(f, tuple(o.e), math.log(float(o.scores[2])))
    dec = StackDecoder(pt, KenLMForNLTK(lm))
    dec.stack_size = stack_size
    out = []
    t0, c0 = time.time(), cpu_seconds()
    for s in progress(sentences, desc="nltk", unit="sent"):
        # NLTK cannot translate a word missing from its phrase table: give it the copy option too
        for w in s:
            if (w,) not in pt:
                pt.add((w,), (w,), -100.0)
        out.append(dec.translate(s))
    return out, time.time() - t0, cpu_seconds() - c0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small samples (100 / 5 sentences)")
    ap.add_argument("--sentences", type=int, help="test sentences for smt/decode.py (default 1000, quick 100)")
    ap.add_argument("--nltk-sentences", type=int, help="test sentences for NLTK (default 20, quick 5)")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "runs" / "bench" / "decode.md"))
    args = ap.parse_args()
    n_ours = args.sentences or (100 if args.quick else 1000)
    n_nltk = args.nltk_sentences if args.nltk_sentences is not None else (5 if args.quick else 20)

    import kenlm
    from smt.decode import DEFAULT_WEIGHTS, Decoder

    p = prepare("multi30k", "de", "en", quiet=True)
    table, lm_path, build_info = build_model(p)
    src = read_tokenized(p.file("test", "src"))[:n_ours]
    refs = read_lines(p.ref("test"))[:n_ours]

    t0 = time.time()
    dec = Decoder(table, lm_path, weights=DEFAULT_WEIGHTS, stack_size=100, distortion_limit=6, sentences=src)
    load_s = time.time() - t0
    rows = []
    hyps_by_p = {}
    for procs in sorted({1, args.processes}):
        sample = src if procs > 1 else src[:max(n_nltk, min(len(src), 200))]
        t0, c0 = time.time(), cpu_seconds()
        out = dec.translate_corpus(sample, processes=procs, desc=f"decode x{procs}")
        secs, cpu = time.time() - t0, cpu_seconds() - c0
        hyps = p.postprocess([" ".join(o[0].tokens) for o in out])
        hyps_by_p[procs] = hyps
        rows.append((f"smt/decode.py, {procs} process{'es' if procs > 1 else ''}", len(sample), secs, cpu,
                     bleu(hyps, refs[:len(sample)]).score,
                     bleu(hyps[:n_nltk], refs[:n_nltk]).score if n_nltk else float("nan")))
    nb_t0 = time.time()
    dec.translate_corpus(src[:100], nbest=100, processes=args.processes, desc="decode 100-best")
    nbest_s = time.time() - nb_t0

    if n_nltk:
        lm = kenlm.Model(str(lm_path))
        nltk_out, nltk_s, nltk_cpu = nltk_decode(table, lm, src[:n_nltk])
        nltk_hyps = p.postprocess([" ".join(o) for o in nltk_out])
        rows.append(("NLTK StackDecoder, 1 process", n_nltk, nltk_s, nltk_cpu, float("nan"),
                     bleu(nltk_hyps, refs[:n_nltk]).score))

    load = os.getloadavg()[0]
    lines = [
        "## Phrase-based decoding: smt/decode.py vs NLTK StackDecoder (Multi30k De→En test)\n",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}. "
        f"Model: phrase table `{table.relative_to(ROOT)}` ({table.stat().st_size / 1e6:.1f} MB gz), 5-gram KenLM, "
        f"untuned DEFAULT_WEIGHTS {DEFAULT_WEIGHTS}; stack size 100, distortion limit 6 (ours), table limit 20. "
        f"Table filtered to the {len(src):,} test sentences + LM loaded in {load_s:.1f} s (not counted below).\n",
        f"Load average when done: {load:.1f} (other work shares the cores: sentences per CPU-second is the steadier number).\n",
        f"| decoder | sentences | wall s | sentences/s (wall) | CPU s | sentences/CPU-s | BLEU (all decoded) | BLEU (first {n_nltk}) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, n, secs, cpu, b_all, b_small in rows:
        fmt = (lambda x: "–" if math.isnan(x) else f"{x:.2f}")
        lines.append(f"| {name} | {n:,} | {secs:.1f} | {n / secs:.2f} | {cpu:.1f} | {n / cpu:.2f} | {fmt(b_all)} | {fmt(b_small)} |")
    lines.append("")
    lines.append(f"100-best lists (distinct) for 100 sentences, {args.processes} processes: {nbest_s:.1f} s "
                 f"({100 / nbest_s:.1f} sentences/s).")
    if n_nltk:
        lines.append(f"Speed-up over NLTK per CPU-second: {(rows[0][1] / rows[0][3]) / (n_nltk / rows[-1][3]):.0f}×. "
                     "BLEU is untuned (MERT raises it); NLTK's model differs (one TM score, no </s>, its own distortion).")
    if build_info:
        lines.append(f"Model build (this run): {build_info}.")
    lines.append("")
    text = "\n".join(lines)
    with atomic_write(args.out) as fh:
        fh.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
