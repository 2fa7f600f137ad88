"""The n-gram language model of phrase-based SMT: KenLM, modified Kneser-Ney (order 5 by default).

Estimation is done by KenLM's ``lmplz`` (Heafield et al. 2013, "Scalable modified Kneser-Ney
language model estimation"; the smoothing is Chen & Goodman 1998's interpolated modified
Kneser-Ney with three discounts D1, D2, D3+ per order, estimated in closed form from the counts
of counts n1..n4: ``Y = n1/(n1 + 2 n2)``, ``Dk = k - (k+1) Y n_{k+1}/n_k``). ``build_binary``
then turns the ARPA file into KenLM's binary probing hash table, which the decoder memory-maps.

Small corpora: the closed-form discounts need singletons .. 4-tons of every order; on tiny or
artificial data ``lmplz`` stops with "Could not calculate Kneser-Ney discounts" (its
``BadDiscountException``). We then say so and retry with ``--discount_fallback`` (fixed discounts
0.5, 1, 1.5). Below :data:`SMALL_CORPUS_TOKENS` tokens we also lower orders above 3 to 3 — with so
little text 4- and 5-grams are nearly all singletons and only cost memory. Both decisions, the
exact commands and the model's n-gram counts go into ``<out>.json`` beside the model.

Scoring with the model: KenLM's State API scores a sentence word by word, carrying the n-gram
history in a ``kenlm.State`` (:func:`score_incremental` does it for a whole sentence — the tests'
reference; the decoder, smt/decode.py, makes the same calls inline, one phrase at a time, with its
states interned to small ids and every (state, word) score cached)::

    state, out = kenlm.State(), kenlm.State()
    model.BeginSentenceWrite(state)             # history = <s>   (NullContextWrite: no <s>)
    logp = model.BaseScore(state, "house", out)  # log10 P(house | <s>); out = new history
    state, out = out, state
    logp += model.BaseScore(state, "</s>", out)  # end of sentence

The sum equals ``model.score("house", bos=True, eos=True)``. Scores are log10; the decoder's
``lm`` feature is that times ln 10 (:data:`LN10`).

CLI: ``python -m smt lm --text train.tok.en --out lm.binary [--order 5]``.
"""
from __future__ import annotations

import argparse
import math
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

import kenlm

from data.io import UNK_WORD, UserError, read_lines, sha256_text, write_json

#: Where ``make setup`` puts KenLM's estimator binaries.
TOOLS = Path(__file__).resolve().parents[1] / "tools" / "bin"
#: Highest order the KenLM binaries (and python module) are compiled for (KENLM_MAX_ORDER).
MAX_ORDER = 6
#: Below this many tokens, orders above 3 are reduced to 3.
SMALL_CORPUS_TOKENS = 10_000
#: Sorting memory for lmplz / build_binary (fixed, so parallel jobs do not grab 80% each).
MEMORY = "1G"
#: log10 -> natural log.
LN10 = math.log(10.0)
#: Words KenLM reserves; they may not occur in the training text.
RESERVED = ("<s>", "</s>", UNK_WORD)


def tool(name: str) -> Path:
    """Path of a KenLM binary in tools/bin, or :class:`UserError` telling to run ``make setup``."""
    path = TOOLS / name
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise UserError(f"{path}: KenLM's {name} is missing; run make setup")
    return path


def info_path(out_path) -> Path:
    """The JSON info file written beside a model: ``<model>.json``."""
    out_path = Path(out_path)
    return out_path.with_name(out_path.name + ".json")


def _discount_failure(stderr: str) -> bool:
    return "BadDiscountException" in stderr or "Kneser-Ney discounts" in stderr or "discount" in stderr.lower()


def _last_error_line(stderr: str) -> str:
    """The most telling line of a KenLM error output (its explanation rather than the C++ frame)."""
    lines = [l.strip() for l in stderr.splitlines() if l.strip()]
    for key in ("Could not calculate", "ERROR", "rror", "threw"):
        for line in lines:
            if key in line:
                return line[-300:]
    return lines[-1][-300:] if lines else "no message"


def _show(cmd: list, tmp: str) -> str:
    """The command as a shell line, the temporary directory shown as $TMP."""
    return shlex.join(str(c) for c in cmd).replace(tmp, "$TMP")


def _run(cmd: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], input=stdin, capture_output=True)


def build_lm(text_path, out_path, order: int = 5, memory: str = MEMORY, verbose: bool = True) -> dict:
    """Estimate a modified Kneser-Ney LM on ``text_path`` and write the KenLM binary ``out_path``.

    ``text_path``: tokenised text, one sentence a line (``.gz`` ok; KenLM's reserved words
    ``<s> </s> <unk>`` are rejected naming file and line). Runs ``lmplz -o ORDER -S MEMORY -T TMP``
    (falls back to ``--discount_fallback`` and/or a lower order on small data, printing a note when
    ``verbose``), then ``build_binary probing``; the model appears atomically, and its info (commands,
    fallbacks, counts, seconds) is written to ``<out_path>.json`` and returned.
    """
    if not 1 <= order <= MAX_ORDER:
        raise UserError(f"LM order must be between 1 and {MAX_ORDER} (got {order})")
    lmplz, build_binary = tool("lmplz"), tool("build_binary")
    text_path, out_path = Path(text_path), Path(out_path)
    lines = read_lines(text_path)
    n_tokens = 0
    vocab: set[str] = set()
    for n, line in enumerate(lines, 1):
        toks = line.split()
        for t in toks:
            if t in RESERVED:
                raise UserError(f"{text_path}:{n}: the text contains KenLM's reserved word {t}; remove or escape it")
        n_tokens += len(toks)
        vocab.update(toks)
    if n_tokens == 0:
        raise UserError(f"{text_path}: no tokens to train a language model on")
    notes: list[str] = []

    def note(msg: str) -> None:
        notes.append(msg)
        if verbose:
            print(f"note: {msg}", file=sys.stderr)

    used_order = order
    if n_tokens < SMALL_CORPUS_TOKENS and order > 3:
        used_order = 3
        note(f"{text_path} has only {n_tokens:,} tokens (< {SMALL_CORPUS_TOKENS:,}): using order 3 instead of {order}")
    text = ("\n".join(lines) + "\n").encode("utf-8")
    t0 = time.perf_counter()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    commands: list[str] = []
    fallback = False
    with tempfile.TemporaryDirectory(prefix="lmplz.", dir=out_path.parent) as tmp:
        arpa = Path(tmp) / "model.arpa"
        cmd = [lmplz, "-o", used_order, "-S", memory, "-T", f"{tmp}/", "--arpa", arpa]
        proc = _run(cmd, text)
        commands.append(_show(cmd, tmp) + f" < {text_path}")
        if proc.returncode != 0 and _discount_failure(proc.stderr.decode("utf-8", "replace")):
            fallback = True
            note(f"lmplz could not estimate Kneser-Ney discounts on {text_path} (too little or too regular text; "
                 f"lmplz: {_last_error_line(proc.stderr.decode('utf-8', 'replace'))}); retrying with --discount_fallback "
                 "(fixed discounts 0.5 1 1.5)")
            cmd = cmd + ["--discount_fallback"]
            proc = _run(cmd, text)
            commands.append(_show(cmd, tmp) + f" < {text_path}")
        if proc.returncode != 0:
            raise UserError(f"{text_path}: lmplz failed (exit {proc.returncode}): "
                            f"{_last_error_line(proc.stderr.decode('utf-8', 'replace'))}")
        ngram_counts = _arpa_counts(arpa)
        t1 = time.perf_counter()
        binary_tmp = Path(tmp) / "model.binary"
        cmd = [build_binary, "-S", memory, "-T", f"{tmp}/", "probing", arpa, binary_tmp]
        proc = _run(cmd)
        commands.append(_show(cmd, tmp) + f" && mv $TMP/model.binary {out_path}")
        if proc.returncode != 0:
            raise UserError(f"{out_path}: build_binary failed (exit {proc.returncode}): "
                            f"{_last_error_line(proc.stderr.decode('utf-8', 'replace'))}")
        os.replace(binary_tmp, out_path)   # same directory as out_path: atomic
    t2 = time.perf_counter()
    info = {
        "text": str(text_path),
        "text_sha256": sha256_text(lines),
        "sentences": len(lines),
        "tokens": n_tokens,
        "vocab": len(vocab),
        "order_requested": order,
        "order": used_order,
        "discount_fallback": fallback,
        "notes": notes,
        "commands": commands,
        "ngram_counts": ngram_counts,
        "lmplz_seconds": round(t1 - t0, 3),
        "build_binary_seconds": round(t2 - t1, 3),
        "model": str(out_path),
    }
    write_json(info_path(out_path), info)
    return info


def _arpa_counts(arpa: Path) -> dict[str, int]:
    """The ``ngram N=count`` lines of an ARPA header."""
    counts: dict[str, int] = {}
    with open(arpa, encoding="utf-8") as fh:
        for line in fh:
            m = re.match(r"ngram (\d+)=(\d+)", line)
            if m:
                counts[m.group(1)] = int(m.group(2))
            elif line.startswith("\\1-grams:"):
                break
    return counts


def load_lm(path):
    """Load a KenLM model (binary or ARPA) as ``kenlm.Model``; :class:`UserError` if unreadable."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such language model file")
    try:
        return kenlm.Model(str(path))
    except (OSError, RuntimeError, ValueError) as exc:
        raise UserError(f"{path}: not a KenLM model ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None


def begin_state(model, bos: bool = True):
    """A fresh ``kenlm.State``: after ``<s>`` (``bos``) or with an empty history."""
    state = kenlm.State()
    if bos:
        model.BeginSentenceWrite(state)
    else:
        model.NullContextWrite(state)
    return state


def score_word(model, state, word: str):
    """``(log10 P(word | state), new_state)`` — one step of KenLM's incremental State API."""
    out = kenlm.State()
    return model.BaseScore(state, word, out), out


def score_incremental(model, words: Sequence[str], bos: bool = True, eos: bool = True) -> list[float]:
    """log10 P of each word given its history (plus ``</s>`` when ``eos``), scored word by word.

    This is how the decoder scores partial translations: it keeps the ``kenlm.State`` of each
    hypothesis and calls ``BaseScore`` for the words a phrase adds. ``sum(...)`` equals
    ``model.score(" ".join(words), bos=bos, eos=eos)``.
    """
    state = begin_state(model, bos)
    out = []
    for w in list(words) + (["</s>"] if eos else []):
        logp, state = score_word(model, state, w)
        out.append(logp)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m smt lm",
        description="Build a modified Kneser-Ney n-gram LM with KenLM (lmplz + build_binary). "
                    f"Writes the binary model and <out>.json (commands, fallbacks, counts).")
    ap.add_argument("--text", required=True, help="tokenised training text, one sentence a line (.gz ok)")
    ap.add_argument("--out", required=True, help="KenLM binary model to write, e.g. lm.binary")
    ap.add_argument("--order", type=int, default=5, help="n-gram order (default 5; lowered to 3 on tiny text)")
    ap.add_argument("--memory", default=MEMORY, help=f"sorting memory for lmplz/build_binary (default {MEMORY})")
    args = ap.parse_args(argv)
    info = build_lm(args.text, args.out, args.order, args.memory)
    counts = " ".join(f"{k}-grams={v:,}" for k, v in info["ngram_counts"].items())
    print(f"{args.out}: order {info['order']} on {info['sentences']:,} sentences / {info['tokens']:,} tokens "
          f"({counts}; lmplz {info['lmplz_seconds']:.1f}s, build_binary {info['build_binary_seconds']:.1f}s"
          f"{', discount fallback' if info['discount_fallback'] else ''})", file=sys.stderr)
    return 0
