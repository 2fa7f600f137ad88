"""NMT speed benchmark: our trainer/search vs JoeyNMT 2.3 on the same RNNsearch model.

Model on both sides: 1-layer bidirectional GRU-512 encoder, GRU-512 decoder, Bahdanau (additive)
attention, embeddings 256, dropout 0.2, Adam 1e-3, clipping 1.0, word vocabularies of 10,000
words (+ specials) built on the same prepared Multi30k De→En training data (Moses-tokenised,
truecased: ``build/multi30k/de-en/``), batches of 64 sentences.

* training: target tokens/s (non-padding target tokens incl. EOS per second of training, the
  definition of JoeyNMT's "Tokens per Sec"), averaged over the logged 10-step windows after the
  first one (warm-up), ``--steps`` steps each; ours also with our default length-bucketed token
  batches;
* decoding: sentences/s of greedy and beam-5 search on the first ``--decode-sents`` test sentences
  (1,000 = all) with the checkpoint after those steps, timing the search loop only (both models are barely trained, so hypotheses are long-ish;
  mean output lengths are reported beside the speeds).

Both run as subprocesses with the same thread count (``--threads``, default: all cores;
``OMP_NUM_THREADS`` for JoeyNMT). JoeyNMT lives in a separate venv ``.venv-peers`` (created
and filled here when missing: torch==2.13.0 first, then ``joeynmt==2.3.0 --no-deps`` and the
few packages it imports). Its ``plateau`` scheduler breaks on torch 2.13, so it uses
``exponential`` (decay 0.99 per epoch: a constant rate over these steps; irrelevant for speed).

    .venv/bin/python benchmarks/bench_nmt.py [--steps 100] [--threads N] [--no-joey]

Writes ``runs/bench/nmt.md`` (table) and ``runs/bench/nmt.json``; work files in ``runs/bench/nmt-work/``.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from data.io import read_lines, write_json, write_lines  # noqa: E402
from data.prepare import prepare  # noqa: E402

PEERS = ROOT / ".venv-peers"
JOEY_NEEDS = ["pyyaml", "importlib-metadata", "packaging", "sacrebleu", "sacremoses", "matplotlib", "tqdm",
              "sentencepiece", "subword-nmt", "tensorboard", "pandas"]
VOCAB = 10_000
LOG_EVERY = 10


def sh(cmd: list[str], *, env: dict | None = None, log: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    print("+", " ".join(map(str, cmd)), file=sys.stderr, flush=True)
    res = subprocess.run([str(c) for c in cmd], cwd=ROOT, env=env, capture_output=True, text=True)
    if log is not None:
        log.write_text(res.stdout + "\n--- stderr ---\n" + res.stderr, encoding="utf-8")
    if check and res.returncode != 0:
        sys.exit(f"bench_nmt: command failed ({res.returncode}): {' '.join(map(str, cmd))}\n{res.stderr[-3000:]}")
    return res


def ensure_joey() -> str:
    """JoeyNMT 2.3.0 in .venv-peers (created only if missing; installs only what is missing)."""
    py = PEERS / "bin" / "python"
    if not py.exists():
        sh(["python3.11", "-m", "venv", PEERS])
    probe = subprocess.run([py, "-c", "import torch, joeynmt.training, joeynmt.prediction; print(torch.__version__)"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        have_torch = subprocess.run([py, "-c", "import torch"], capture_output=True).returncode == 0
        if not have_torch:
            sh([py, "-m", "pip", "install", "-q", "torch==2.13.0"])
        sh([py, "-m", "pip", "install", "-q", "--no-deps", "joeynmt==2.3.0"])
        sh([py, "-m", "pip", "install", "-q", *JOEY_NEEDS])
        probe = sh([py, "-c", "import torch, joeynmt.training, joeynmt.prediction; print(torch.__version__)"])
    return probe.stdout.strip()


def window_rates(records: list[tuple[int, float]]) -> float:
    """Mean tokens/s of the logged windows after the first (warm-up) one."""
    rates = [r for step, r in records if step > LOG_EVERY]
    return statistics.mean(rates) if rates else float("nan")


# ---------------------------------------------------------------------------------------------
# ours

def bench_ours(p, work: Path, steps: int, threads: int, *, token_batches: int | None, test_src: Path | None = None) -> dict:
    system = "ours-tok" if token_batches else "ours-64"
    env = dict(os.environ, MT_RUNS_DIR=str(work / "runs"), MT_NO_PROGRESS="1")
    batch = ["--batch-tokens", str(token_batches)] if token_batches else ["--batch-sents", "64", "--batch-tokens", "100000000"]
    sh([sys.executable, "-m", "nmt", "train", "--corpus", "multi30k", "--src", "de", "--tgt", "en", "--profile", "full",
        "--arch", "rnnsearch", "--system", system, "--emb", "256", "--hidden", "512", "--layers", "1", "--cell", "gru",
        "--attention", "bahdanau", "--dropout", "0.2", "--label-smoothing", "0", "--lr", "0.001",
        "--vocab-size", str(VOCAB + 4), *batch, "--max-steps", str(steps + LOG_EVERY), "--log-every", str(LOG_EVERY),
        "--eval-every", "100000000", "--eval-dev-size", "1", "--save-every", "100000000", "--beam", "1",
        "--threads", str(threads), "--device", "cpu", "--force"], env=env, log=work / f"{system}.train.out")
    run = work / "runs" / "multi30k" / "de-en" / system
    recs = [json.loads(line) for line in (run / "train.log").read_text().splitlines()]
    train = [r for r in recs if r.get("event") == "train"]
    out = {"system": system, "train_tok_s": window_rates([(r["step"], r["tokens_per_s"]) for r in train]),
           "steps": max(r["step"] for r in train),
           "tokens_per_step": statistics.mean(r["window_tokens"] / LOG_EVERY for r in train)}
    if token_batches:
        return out
    for beam, key in ((1, "greedy"), (5, "beam5")):
        hyp = work / f"ours.beam{beam}.txt"
        res = sh([sys.executable, "-m", "nmt", "translate", "--checkpoint", run / "best.pt", "--input", test_src,
                  "--output", hyp, "--beam", str(beam), "--device", "cpu", "--threads", str(threads)], env=env)
        out[f"{key}_sent_s"] = float(re.search(r"\(([\d.]+) sent/s", res.stderr).group(1))
        out[f"{key}_len"] = _mean_len(read_lines(hyp, allow_empty_lines=True))
    return out


def _mean_len(lines: list[str]) -> float:
    return round(statistics.mean(len(x.split()) for x in lines), 2)


# ---------------------------------------------------------------------------------------------
# JoeyNMT

JOEY_CONFIG = """\
name: "bench"
joeynmt_version: "2.3.0"
data:
    train: "{data}/train"
    dev: "{data}/dev"
    test: "{data}/test"
    dataset_type: "plain"
    src:
        lang: "de"
        level: "word"
        lowercase: False
        max_length: 80
        voc_limit: {vocab}
        voc_min_freq: 1
    trg:
        lang: "en"
        level: "word"
        lowercase: False
        max_length: 80
        voc_limit: {vocab}
        voc_min_freq: 1
testing:
    n_best: 1
    beam_size: {beam}
    beam_alpha: 1.0
    batch_size: 64
    batch_type: "sentence"
    eval_metrics: ["bleu"]
    return_prob: "none"
training:
    random_seed: 1234
    optimizer: "adam"
    learning_rate: 0.001
    learning_rate_min: 0.00000001
    scheduling: "exponential"
    decrease_factor: 0.99
    batch_size: 64
    batch_type: "sentence"
    batch_multiplier: 1
    epochs: 1
    updates: {steps}
    validation_freq: {steps}
    logging_freq: {log_every}
    early_stopping_metric: "loss"
    model_dir: "{model_dir}"
    overwrite: True
    shuffle: True
    use_cuda: False
    fp16: False
    num_workers: 0
    label_smoothing: 0.0
    clip_grad_norm: 1.0
    keep_best_ckpts: 1
    print_valid_sents: []
model:
    initializer: "xavier_uniform"
    embed_initializer: "normal"
    tied_embeddings: False
    encoder:
        type: "recurrent"
        rnn_type: "gru"
        embeddings:
            embedding_dim: 256
            scale: False
        hidden_size: 512
        bidirectional: True
        dropout: 0.2
        num_layers: 1
    decoder:
        type: "recurrent"
        rnn_type: "gru"
        embeddings:
            embedding_dim: 256
            scale: False
        hidden_size: 512
        dropout: 0.2
        hidden_dropout: 0.2
        num_layers: 1
        input_feeding: True
        init_hidden: "bridge"
        attention: "bahdanau"
"""


def bench_joey(p, work: Path, steps: int, threads: int, n_test: int) -> dict:
    version = ensure_joey()
    py = PEERS / "bin" / "python"
    jdir = work / "joey"
    shutil.rmtree(jdir, ignore_errors=True)
    jdir.mkdir(parents=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), CUDA_VISIBLE_DEVICES="")
    # same prepared files; a 20-sentence dev set (JoeyNMT's test mode decodes dev too: not timed here)
    jdata = jdir / "data"
    jdata.mkdir()
    for lang in ("de", "en"):
        (jdata / f"train.{lang}").symlink_to(p.dir / f"train.{lang}")
        write_lines(jdata / f"dev.{lang}", read_lines(p.dir / f"dev.{lang}")[:20])
        write_lines(jdata / f"test.{lang}", read_lines(p.dir / f"test.{lang}")[:n_test])
    cfg = {}
    for beam in (1, 5):
        cfg[beam] = jdir / f"beam{beam}.yaml"
        cfg[beam].write_text(JOEY_CONFIG.format(data=jdata, vocab=VOCAB, beam=beam, steps=steps + LOG_EVERY,
                                                log_every=LOG_EVERY, model_dir=jdir / "model"), encoding="utf-8")
    sh([py, "-m", "joeynmt", "train", cfg[1], "--skip-test"], env=env, log=jdir / "train.out")
    log = (jdir / "model" / "train.log").read_text(encoding="utf-8")
    recs = [(int(m.group(1)), float(m.group(2))) for m in re.finditer(r"Step:\s+(\d+),.*?Tokens per Sec:\s+([\d.]+)", log)]
    out = {"system": f"joeynmt {version and '2.3.0'}", "train_tok_s": window_rates(recs), "steps": max(s for s, _ in recs)}
    for beam, key in ((1, "greedy"), (5, "beam5")):
        res = sh([py, "-m", "joeynmt", "test", cfg[beam], "--output-path", jdir / f"out{beam}"], env=env,
                 log=jdir / f"test{beam}.out")
        text = res.stdout + res.stderr
        # the log has "Decoding on dev set..." / "Decoding on test set..." each followed by "Generation took X[sec]"
        m = re.search(r"on test set.*?Generation took ([\d.]+)\[sec\]", text, re.S)
        out[f"{key}_sent_s"] = round(n_test / float(m.group(1)), 2)
        hyp = jdir / f"out{beam}.test"
        if hyp.is_file():
            out[f"{key}_len"] = _mean_len(read_lines(hyp, allow_empty_lines=True))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=100, help="timed training steps (after a 10-step warm-up window)")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads for both toolkits")
    ap.add_argument("--decode-sents", type=int, default=1000, help="test sentences decoded (greedy and beam 5)")
    ap.add_argument("--no-joey", action="store_true", help="only our numbers")
    ap.add_argument("--quick", action="store_true", help="30 steps, 200 sentences (for `make bench --quick`)")
    args = ap.parse_args()
    if args.quick:
        args.steps, args.decode_sents = 30, 200
    p = prepare("multi30k", "de", "en")
    work = ROOT / "runs" / "bench" / "nmt-work"
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    test_src = work / "test.de"
    write_lines(test_src, read_lines(p.file("test", "src"))[:args.decode_sents])
    rows = [bench_ours(p, work, args.steps, args.threads, token_batches=None, test_src=test_src),
            bench_ours(p, work, args.steps, args.threads, token_batches=1200)]
    if not args.no_joey:
        rows.append(bench_joey(p, work, args.steps, args.threads, args.decode_sents))
    load = os.getloadavg()
    result = {"rows": rows, "threads": args.threads, "steps": args.steps, "cpu_count": os.cpu_count(),
              "loadavg_at_end": load, "seconds": round(time.time() - t0, 1), "date": time.strftime("%Y-%m-%d %H:%M")}
    write_json(ROOT / "runs" / "bench" / "nmt.json", result)
    joey = next((r for r in rows if r["system"].startswith("joeynmt")), None)
    lines = [
        "# NMT speed: ours vs JoeyNMT 2.3 (RNNsearch, Multi30k De→En, CPU)", "",
        f"Model: biGRU-512 encoder, GRU-512 decoder, Bahdanau attention, emb 256, vocab {VOCAB:,}+specials, "
        f"dropout 0.2. {args.steps} timed training steps each, {args.threads} threads, {result['date']}, "
        f"load average at the end {load[0]:.1f}. Decoding: the first {args.decode_sents:,} test sentences, batches of 64, with the checkpoint after training "
        "(barely trained models: compare speeds together with the mean output lengths).", "",
        "| system | batches | train target tok/s | vs JoeyNMT | greedy sent/s (mean len) | beam-5 sent/s (mean len) |",
        "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        batches = {"ours-64": "64 sentences, length-bucketed", "ours-tok": "1,200 padded tokens, bucketed"}.get(
            r["system"], "64 sentences (JoeyNMT sampler)")
        ratio = f"{r['train_tok_s'] / joey['train_tok_s']:.2f}×" if joey else "–"
        g = f"{r['greedy_sent_s']:.1f} ({r.get('greedy_len', '?')})" if "greedy_sent_s" in r else "–"
        b = f"{r['beam5_sent_s']:.1f} ({r.get('beam5_len', '?')})" if "beam5_sent_s" in r else "–"
        lines.append(f"| {r['system']} | {batches} | {r['train_tok_s']:,.0f} | {ratio} | {g} | {b} |")
    lines += ["", "Command: `.venv/bin/python benchmarks/bench_nmt.py " + " ".join(sys.argv[1:]) + "`",
              "Tokens/s: non-padding target tokens (incl. EOS) per second, mean over 10-step windows after the first.",
              "The machine is shared: compare rows of the same run only."]
    write_lines(ROOT / "runs" / "bench" / "nmt.md", lines)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
