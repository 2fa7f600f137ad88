"""`python -m nmt translate`: translate a tokenised file with a trained checkpoint.

Input and output are tokenised text, one sentence a line (the prepared corpus' form: Moses
tokens, truecased); output lines are the target tokens up to ``</s>``.  A model trained on BPE
units (``--bpe-merges``) has ``bpe.codes`` beside it: the input is segmented with it and the
output units are merged back into words. Decoding is batched over
sentences sorted by length (:func:`translate_data`, also used for dev BLEU and the test set
during training): greedy search or beam search (:mod:`nmt.search`), optionally followed by
attention-based ``<unk>`` replacement (Luong et al. 2015, "Addressing the rare word problem";
needs an attention model, i.e. rnnsearch).
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from data.io import HelpFormatter, UserError, check_output_path, check_tokens, progress, read_lines, write_lines
from data.moses import read_phrase_table
from data.preprocess import Postprocessor
from nmt import search
from nmt.bpe import BPE, merge_subwords
from nmt.data import ParallelData, make_batches
from nmt.model import load_checkpoint
from nmt.search import MAX_LEN_A, MAX_LEN_B, unk_replace
from nmt.runtime import pick_device, set_threads
from nmt.vocab import UNK_TOKEN, Vocab

#: Largest --beam accepted (the report's sweep goes to 50; a beam of 100,000 only exhausts memory).
MAX_BEAM = 1000
#: Largest --length-penalty α accepted (score / length^α; 0 = none, 1 = average log-probability).
MAX_LENGTH_PENALTY = 5.0


def translate_data(model, data: ParallelData, *, beam: int = 1, device=None, batch_sents: int = 64,
                   length_penalty: float = 1.0, return_attention: bool = False, desc: str = "translate",
                   max_len_a: float = MAX_LEN_A, max_len_b: int = MAX_LEN_B,
                   nbest_out: list | None = None) -> tuple[list[list[int]], list]:
    """Decode every source of ``data``; returns (hypothesis ids per sentence, attention [T,S] or None),
    in the input order. Sentences are batched by length (longest first) for speed. ``nbest_out``: a
    list of ``len(data)`` that receives each sentence's finished hypotheses as (length-normalised
    score, ids), best first (beam search; greedy search: the one hypothesis, score None)."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    hyps: list = [None] * len(data)
    atts: list = [None] * len(data)
    batches = make_batches(data.src_lens, None, batch_sents=batch_sents, shuffle=False)
    try:
        with torch.inference_mode(), progress(total=len(data), desc=desc, unit="sent", leave=False) as bar:
            for idx in batches:
                b = data.collate(idx)
                src = b.src.to(device)
                if beam <= 1:
                    h, a = search.greedy(model, src, b.src_len, max_len_a=max_len_a, max_len_b=max_len_b,
                                         return_attention=return_attention)
                    nb = [[(None, list(x))] for x in h]
                else:
                    h, a, *nb = search.beam_search(model, src, b.src_len, beam=beam, max_len_a=max_len_a,
                                                   max_len_b=max_len_b, length_penalty=length_penalty,
                                                   return_attention=return_attention,
                                                   return_nbest=nbest_out is not None)
                    nb = nb[0] if nb else None
                for k, i in enumerate(idx):
                    hyps[i] = [int(x) for x in h[k]]
                    if return_attention and a is not None:
                        atts[i] = a[k]
                    if nbest_out is not None:
                        nbest_out[i] = [(sc, [int(x) for x in ids]) for sc, ids in nb[k]]
                bar.update(len(idx))
    finally:
        model.train(was_training)
    return hyps, atts


def _vocab_path(ckpt_path: Path, ckpt: dict, side: str) -> Path:
    beside = ckpt_path.parent / f"vocab.{side}.txt"
    if beside.is_file():
        return beside
    recorded = ckpt.get(f"{side}_vocab")
    if recorded and Path(recorded).is_file():
        return Path(recorded)
    raise UserError(f"{ckpt_path}: no vocab.{side}.txt beside the checkpoint (nor at {recorded}); give --{side}-vocab")


def load_lex_table(path: str | Path, words: set[str] | None = None) -> dict[str, str]:
    """A source word → target word dictionary for UNK replacement (Luong et al. 2015).

    ``path`` is either a Moses phrase table (``f ||| e ||| scores …``, ``.gz`` ok; read with
    :func:`smt.phrases.read_phrase_table`): each one-word source phrase maps to its best one-word
    translation by φ(e|f); or a two-column ``source<TAB>target`` file. ``words`` limits the
    dictionary to these source words (the input's), which keeps a big phrase table cheap.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such lexical table")
    lines = None if path.name.endswith(".gz") else read_lines(path, allow_empty_lines=True)
    if lines is None or (lines and " ||| " in lines[0]):
        table = read_phrase_table(path, sources=[[w] for w in sorted(words)] if words is not None else None)
        lex = {}
        for f, options in table.items():
            best = next((o for o in options if len(o.e) == 1), None)   # options are sorted by φ(e|f)
            if len(f) == 1 and best is not None:
                lex[f[0]] = best.e[0]
        return lex
    lex = {}
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise UserError(f"{path}:{n}: expected 'source<TAB>target', got {line[:60]!r}")
        if words is None or parts[0] in words:
            lex.setdefault(parts[0], parts[1])
    return lex


def _bpe_of(ckpt_path: Path, ckpt: dict):
    """The BPE codes a model was trained with (``bpe.codes`` beside the checkpoint), or ``None``."""
    if not ckpt.get("train_config", {}).get("bpe_merges"):
        return None
    for path in (ckpt_path.parent / "bpe.codes", ckpt.get("bpe_codes")):
        if path and Path(path).is_file():
            return BPE.load(path)
    raise UserError(f"{ckpt_path}: the model was trained on BPE units but there is no bpe.codes beside it")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m nmt translate",
                                 description="Translate a tokenised file (one sentence a line) with an NMT checkpoint.",
                                 formatter_class=HelpFormatter)
    ap.add_argument("--checkpoint", required=True, help="a best.pt / last.pt written by `python -m nmt train`")
    ap.add_argument("--input", required=True, help="tokenised source text")
    ap.add_argument("--output", required=True, help="where to write the tokenised translations")
    ap.add_argument("--beam", type=int, default=5, help="beam size")
    ap.add_argument("--greedy", action="store_true", help="greedy search (same as --beam 1)")
    ap.add_argument("--length-penalty", type=float, default=1.0, help="beam score / length^alpha")
    ap.add_argument("--unk-replace", action="store_true",
                    help="replace each <unk> by the most-attended source word (rnnsearch only)")
    ap.add_argument("--lex-table", default=None,
                    help="with --unk-replace: translate the attended source word with this dictionary instead of "
                         "copying it — a Moses phrase table (its best one-word translation of each word by "
                         "phi(e|f), e.g. the pbsmt system's phrase-table.gz) or a 'source<TAB>target' file")
    ap.add_argument("--batch-size", type=int, default=64, help="sentences per batch")
    ap.add_argument("--device", default="auto", help="auto (CUDA, else Apple MPS, else the CPU), cpu, cuda, cuda:N or mps")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: all cores)")
    ap.add_argument("--src-vocab", default=None, help="source vocabulary (default: vocab.src.txt beside the checkpoint)")
    ap.add_argument("--tgt-vocab", default=None, help="target vocabulary (default: vocab.tgt.txt beside the checkpoint)")
    ap.add_argument("--postprocess", action="store_true",
                    help="detruecase + detokenise the output (the inverse of the corpus preprocessing) for the "
                         "checkpoint's target language: text comparable with the raw reference")
    ap.add_argument("--tgt-lang", default=None, help="target language for --postprocess (default: from the checkpoint)")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 1 <= args.beam <= MAX_BEAM:
        raise UserError(f"--beam must be 1-{MAX_BEAM:,} (got {args.beam:,}; memory and time grow with it)")
    if not (math.isfinite(args.length_penalty) and 0 <= args.length_penalty <= MAX_LENGTH_PENALTY):
        raise UserError(f"--length-penalty must be a number in [0, {MAX_LENGTH_PENALTY:g}] (got {args.length_penalty})")
    check_output_path(args.output)
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1 (got {args.batch_size})")
    ckpt_path = Path(args.checkpoint)
    if not ckpt_path.is_file():
        raise UserError(f"{ckpt_path}: no such checkpoint")
    device = pick_device(args.device)
    set_threads(device, args.threads)
    lines = read_lines(args.input, allow_empty_lines=True)  # validated before the model is loaded
    check_tokens(args.input, [line.split() for line in lines])
    try:
        model, ckpt = load_checkpoint(ckpt_path, device)
    except UserError:
        raise
    except Exception as exc:
        raise UserError(f"{ckpt_path}: not a readable NMT checkpoint ({exc.__class__.__name__}: {exc})") from None
    src_vocab = Vocab.load(args.src_vocab or _vocab_path(ckpt_path, ckpt, "src"))
    tgt_vocab = Vocab.load(args.tgt_vocab or _vocab_path(ckpt_path, ckpt, "tgt"))
    mc = ckpt.get("model_config", {})
    if mc.get("src_vocab") not in (None, len(src_vocab)) or mc.get("tgt_vocab") not in (None, len(tgt_vocab)):
        raise UserError(f"{ckpt_path}: the model has vocabularies of {mc.get('src_vocab')}/{mc.get('tgt_vocab')} entries "
                        f"but the vocabulary files have {len(src_vocab)}/{len(tgt_vocab)}")
    fp = ckpt.get("fingerprints") or {}
    for side, v in (("src", src_vocab), ("tgt", tgt_vocab)):
        if fp.get(f"{side}_vocab") and fp[f"{side}_vocab"] != v.fingerprint():
            raise UserError(f"{ckpt_path}: the {side} vocabulary file has the right size but not the entries the model "
                            f"was trained with (a different or reordered vocab.{side}.txt)")
    if args.lex_table and not args.unk_replace:
        raise UserError("--lex-table is used by --unk-replace; give both")
    if args.unk_replace and mc.get("arch") != "rnnsearch":
        raise UserError(f"--unk-replace needs attention, but {ckpt_path} is a {mc.get('arch')} model")
    bpe = _bpe_of(ckpt_path, ckpt)
    if bpe is not None and fp.get("bpe_codes") and fp["bpe_codes"] != bpe.fingerprint():
        raise UserError(f"{ckpt_path}: bpe.codes beside it is not the one the model was trained with")
    src_tokens = [line.split() for line in lines]
    if bpe is not None:  # the model reads and writes BPE units (Sennrich et al. 2016)
        src_tokens = [bpe.segment(s) for s in src_tokens]
    if ckpt.get("train_config", {}).get("reverse_source"):  # the model was trained on reversed sources
        src_tokens = [s[::-1] for s in src_tokens]
    data = ParallelData.from_tokens(src_tokens, None, src_vocab)
    beam = 1 if args.greedy else args.beam
    t0 = time.time()
    hyps, atts = translate_data(model, data, beam=beam, device=device, batch_sents=args.batch_size,
                                length_penalty=args.length_penalty, return_attention=args.unk_replace,
                                desc="translate")
    secs = time.time() - t0
    out = [tgt_vocab.decode(h) for h in hyps]
    if args.unk_replace:
        lex = load_lex_table(args.lex_table, {w for s in src_tokens for w in s}) if args.lex_table else None
        out = [unk_replace(h, s, np.asarray(a), lex) if a is not None and UNK_TOKEN in h else h
               for h, s, a in zip(out, src_tokens, atts)]
    if bpe is not None:
        out = [merge_subwords(h) for h in out]
    text = [" ".join(h) for h in out]
    if args.postprocess:
        lang = args.tgt_lang or ckpt.get("corpus", {}).get("tgt")
        if not lang:
            raise UserError(f"{ckpt_path}: records no target language; give --tgt-lang for --postprocess")
        text = Postprocessor(lang)(text)
    write_lines(args.output, text)
    print(f"{args.output}: {len(lines):,} sentences in {secs:.1f} s ({len(lines) / max(secs, 1e-9):.1f} sent/s, "
          f"{'greedy' if beam == 1 else f'beam {beam}'})", file=sys.stderr)
    return 0
