"""`python -m nmt train`: train an RNN encoder-decoder (rnnenc) or RNNsearch on a prepared corpus,
translate its test set with the best checkpoint, and score it.

The recipe (Bahdanau et al. 2015 §4.2 and Appendix B, with modern defaults):

* maximum likelihood with teacher forcing: the decoder reads the reference prefix ``<s> y_<i``
  and the loss is the token-level cross-entropy of ``y_i`` (optionally label-smoothed,
  Szegedy et al. 2016), averaged over the real (non-padding) target tokens of the batch;
* Adam (Kingma & Ba 2015; the papers used Adadelta) with gradient-norm clipping at 1.0
  (Pascanu et al. 2013, as in Bahdanau et al. App. B.2.1);
* learning-rate schedule: *plateau halving on dev BLEU* — the rate is multiplied by
  ``lr_decay`` (0.5) after every evaluation that does not improve the best dev BLEU, down to
  ``min_lr``; no warm-up;
* dropout inside the model (its config); length-bucketed batches with a target-token budget
  (:mod:`nmt.data`);
* every ``eval_every`` steps: greedy decoding of the dev set (a seeded random sample of
  ``eval_dev_size`` sentences, :meth:`data.prepare.Prepared.dev_sample`), post-processed exactly like the final output, BLEU by sacreBLEU against the raw
  reference; the best model is kept (``best.pt``) and training stops early after ``patience``
  evaluations without improvement (or at ``epochs`` / ``max_minutes`` / ``max_steps``);
* ``last.pt`` (every ``save_every`` steps and at every evaluation) holds everything needed to
  continue bit-for-bit: model, Adam and scheduler state, the RNG states and the data position
  (epoch, batch within the epoch). Re-running the same command after a crash (even ``kill -9``)
  continues from it; re-running after success does nothing.

Artifacts in ``runs/<corpus>/<src>-<tgt>/<system>/``: ``best.pt``, ``last.pt``,
``vocab.src.txt``, ``vocab.tgt.txt``, ``vocab.json`` (sizes, UNK rates per split/side),
``train.log`` (JSON lines: one per logged step / evaluation / resume), ``test.hyp``,
``test.tok.hyp`` (tokenised output), ``attention.npz``, ``test.unk_rate``, ``scores.json``.

Multi-GPU: run under ``torchrun --nproc_per_node=N -m nmt train …``; with ``WORLD_SIZE>1`` the
process group is initialised, the model wrapped in ``DistributedDataParallel`` and every rank
takes every N-th batch (:func:`nmt.data.shard`); rank 0 alone evaluates and writes files.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from data import profiles
from data.io import HelpFormatter, UserError, run_folder_lock, sha256_file, atomic_write, progress, read_json, read_lines, read_tokenized, write_json, write_lines
from data.prepare import add_corpus_args, prepared_from_args
from nmt.data import ParallelData, make_batches, shard
from nmt.runtime import all_or, cpu_has_fast_bf16, dist_info, pick_device, resolve_amp, rng_states, set_rng_states, set_threads
from nmt.sampled_softmax import batch_vocabulary
from nmt.vocab import PAD, UNK_TOKEN, Vocab, build_vocab, unk_rate

#: Train-config keys that only say *when to stop* or *how to decode*: changing them keeps the
#: run resumable from last.pt (e.g. more epochs), while any other change starts afresh.
NOT_IN_RESUME_KEY = ("epochs", "max_minutes", "max_steps", "patience", "beam", "log_every", "save_every")

#: Options that are off by default: when off they are left out of the config (and so of the resume
#: key and the recorded settings), so runs made before an option existed stay up to date.
OPTIONAL_OFF = {"amp": "off", "sampled_softmax": 0, "bpe_merges": 0, "reverse_source": False}

#: Defaults for keys a profile may leave out.
DEFAULTS = {
    "attention": "bahdanau", "bidirectional": None, "tie_embeddings": False, "readout": None,
    "batch_sents": None, "clip": 1.0, "lr_decay": 0.5, "min_lr": 1e-5, "max_steps": None, "max_minutes": None,
    "save_every": 200, "log_every": 20, "eval_dev_size": None, "label_smoothing": 0.0,
    "length_penalty": 1.0, "decode_batch": 64, "amp": "off",
    "sampled_softmax": 0, "bpe_merges": 0, "reverse_source": False,
}


# ----------------------------------------------------------------------------------------------
# command line / settings

def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m nmt train",
        description="Train rnnenc (Cho et al. 2014) or rnnsearch (Bahdanau et al. 2015) on a prepared corpus, "
                    "translate the test set with the best checkpoint (beam search) and score it. "
                    "Re-running resumes an interrupted run and does nothing for a finished one. "
                    "Sizes come from the profile's \"nmt\" section (data/profiles.py); options override them.",
        formatter_class=HelpFormatter)
    add_corpus_args(ap)
    ap.add_argument("--arch", choices=["rnnenc", "rnnsearch"], default="rnnsearch", help="model architecture")
    ap.add_argument("--system", default=None, help="run folder name under runs/<corpus>/<src>-<tgt>/ (default: the arch)")
    ap.add_argument("--vocab-size", type=int, default=None, help="vocabulary cap per side incl. 4 specials (profile)")
    ap.add_argument("--train-size", type=int, default=None, help="train on a deterministic subset of N pairs (default: all)")
    ap.add_argument("--device", default="auto", help="auto (CUDA, else Apple MPS, else the CPU), cpu, cuda, cuda:N or mps")
    ap.add_argument("--seed", type=int, default=profiles.SEED, help="seed of weights, data order and dropout")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: all cores)")
    ap.add_argument("--force", action="store_true", help="retrain from scratch even if a finished or resumable run exists")
    g = ap.add_argument_group("profile overrides (default: the profile's value)")
    for name, typ, text in [
        ("epochs", int, "maximum epochs"), ("max-minutes", float, "an explicit wall-time cap (0 = none, the default): results then depend on the "
                                "machine's speed; scores.json and the report say when it cut training short"),
        ("max-steps", int, "the update budget: stop after this many updates (early stopping may stop sooner)"), ("batch-tokens", int, "padded tokens per batch"),
        ("batch-sents", int, "maximum sentences per batch"), ("lr", float, "Adam learning rate"),
        ("emb", int, "embedding size"), ("hidden", int, "RNN hidden size"), ("layers", int, "RNN layers"),
        ("dropout", float, "dropout"), ("label-smoothing", float, "label smoothing epsilon"),
        ("eval-every", int, "evaluate on dev every N steps"), ("eval-dev-size", int, "dev sentences used by evaluations"),
        ("patience", int, "early stopping: evaluations without improvement"), ("beam", int, "test beam size"),
        ("max-len", int, "drop training pairs longer than this (tokens)"), ("save-every", int, "write last.pt every N steps"),
        ("log-every", int, "write a train.log line every N steps"),
        ("bpe-merges", int, "subword units: learn N joint BPE merges on the training data (Sennrich et al. "
                            "2016) and train on units instead of words; 0 = word level"),
        ("sampled-softmax", int, "train with a softmax over K target words per batch (the batch's words + "
                                 "uniform negatives; Jean et al. 2015); 0 = full softmax"),
    ]:
        g.add_argument(f"--{name}", type=typ, default=None, help=text)
    g.add_argument("--cell", choices=["gru", "lstm"], default=None, help="RNN cell")
    g.add_argument("--amp", choices=["off", "bf16", "auto"], default=None,
                   help="mixed precision for training: bf16 autocast (weights and Adam stay fp32; "
                        "~2x on CPUs with AVX512-BF16/AMX); auto = bf16 where the hardware has it")
    g.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=None,
                   help="encoder reads both ways (default: the paper's choice, yes for rnnsearch, no for rnnenc; "
                        "for rnnenc, c then also holds the backward state that ends at the first word)")
    g.add_argument("--reverse-source", action=argparse.BooleanOptionalAction, default=None,
                   help="feed every source sentence reversed (Sutskever et al. 2014): helps the encoder-decoder "
                        "without attention, whose decoder starts from the encoder's last state")
    g.add_argument("--attention", choices=["bahdanau", "luong-dot", "luong-general"], default=None,
                   help="attention scoring (rnnsearch)")
    return ap


def resolve_config(args: argparse.Namespace) -> dict:
    """The profile's "nmt" section + defaults + command-line overrides → the train config."""
    cfg = dict(DEFAULTS)
    prof = profiles.get(args.profile, "nmt")
    per_arch = prof.pop("per_arch", {})     # e.g. {"rnnenc": {"bidirectional": True}}
    cfg.update(prof)
    cfg.update(per_arch.get(args.arch, {}))
    for key in ["epochs", "max_minutes", "max_steps", "batch_tokens", "batch_sents", "lr", "emb", "hidden", "layers",
                "dropout", "label_smoothing", "eval_every", "eval_dev_size", "patience", "beam", "max_len",
                "save_every", "log_every", "cell", "attention", "vocab_size", "amp", "sampled_softmax",
                "bpe_merges", "bidirectional", "reverse_source"]:
        v = getattr(args, key, None)
        if v is not None:
            cfg[key] = v
    cfg["arch"] = args.arch
    cfg["seed"] = args.seed
    cfg["train_size"] = args.train_size
    for key in ("epochs", "batch_tokens", "emb", "hidden", "layers", "eval_every", "beam", "max_len", "save_every",
                "log_every", "vocab_size", "max_steps"):
        if cfg.get(key) is not None and cfg[key] <= 0:
            raise UserError(f"--{key.replace('_', '-')} must be positive (got {cfg[key]})")
    if cfg["bpe_merges"] < 0:
        raise UserError(f"--bpe-merges must be >= 0 (got {cfg['bpe_merges']})")
    if cfg["sampled_softmax"] < 0:
        raise UserError(f"--sampled-softmax must be >= 0 (got {cfg['sampled_softmax']})")
    for key, off in OPTIONAL_OFF.items():
        if cfg.get(key) == off:
            del cfg[key]
    if cfg["lr"] <= 0:
        raise UserError(f"--lr must be positive (got {cfg['lr']})")
    if not 0 <= cfg["dropout"] < 1:
        raise UserError(f"--dropout must be in [0, 1) (got {cfg['dropout']})")
    if not 0 <= cfg["label_smoothing"] < 1:
        raise UserError(f"--label-smoothing must be in [0, 1) (got {cfg['label_smoothing']})")
    return cfg


def resume_key(cfg: dict, corpus_hash: str) -> dict:
    return {"corpus_hash": corpus_hash, **{k: v for k, v in cfg.items() if k not in NOT_IN_RESUME_KEY}}


# ----------------------------------------------------------------------------------------------
# checkpoints

def save_checkpoint(path: Path, state: dict) -> None:
    """``torch.save`` through :func:`data.io.atomic_write` (a crash never leaves half a file)."""
    with atomic_write(path, "wb") as fh:
        torch.save(state, fh)


def load_resumable(path: Path, key: dict) -> dict | None:
    """The checkpoint at ``path`` if it exists, is readable and was made with the same resume key."""
    if not path.is_file():
        return None
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # a corrupt file: start afresh rather than crash
        print(f"warning: cannot read {path} ({exc.__class__.__name__}); starting afresh", file=sys.stderr)
        return None
    if ckpt.get("resume_key") != key:
        print(f"note: {path} was trained with other settings; starting afresh", file=sys.stderr)
        return None
    return ckpt


# ----------------------------------------------------------------------------------------------
# loss and evaluation

def token_loss(logits: torch.Tensor, tgt_out: torch.Tensor, label_smoothing: float = 0.0) -> tuple[torch.Tensor, int]:
    """Sum of token cross-entropies over non-PAD targets, and their count."""
    V = logits.size(-1)
    loss = F.cross_entropy(logits.reshape(-1, V).float(), tgt_out.reshape(-1), ignore_index=PAD,
                           label_smoothing=label_smoothing, reduction="sum")
    return loss, int((tgt_out != PAD).sum())


def dev_bleu(model, data: ParallelData, tgt_vocab: Vocab, refs: list[str], postprocess, device, batch: int,
             to_words=None) -> tuple[float, list[str]]:
    """Greedy-decode ``data``, post-process, sacreBLEU against the raw ``refs``.

    ``to_words`` maps output units to words (:func:`nmt.bpe.merge_subwords` for a BPE model)."""
    from compare.score import bleu
    from nmt.translate import translate_data
    hyps, _ = translate_data(model, data, beam=1, device=device, batch_sents=batch, desc="dev")
    to_words = to_words or (lambda units: units)
    lines = postprocess([" ".join(to_words(tgt_vocab.decode(h))) for h in hyps])
    return bleu(lines, refs).score, lines


# ----------------------------------------------------------------------------------------------
# the command

def _read_pairs(src_path: Path, tgt_path: Path, *, train: bool) -> tuple[list[list[str]], list[list[str]]]:
    s = read_tokenized(src_path, allow_empty_lines=True)
    t = read_tokenized(tgt_path, allow_empty_lines=True)
    if len(s) != len(t):
        raise UserError(f"{src_path} has {len(s):,} lines but {tgt_path} has {len(t):,}: the sides must be line-aligned")
    return s, t


def settings_of(cfg: dict, p, profile: str, system: str) -> dict:
    return {"corpus": p.name, "src": p.src, "tgt": p.tgt, "corpus_hash": p.manifest["hash"], "system": system,
            "profile": profile, "train_config": cfg}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cfg = resolve_config(args)
    system = args.system or args.arch
    if not system or "/" in system or system.startswith("."):
        raise UserError(f"--system {system!r}: must be a plain folder name")
    p = prepared_from_args(args)
    run_dir = p.run_dir(system)
    settings = settings_of(cfg, p, args.profile, system)
    scores_path = run_dir / "scores.json"
    lock = run_folder_lock(run_dir, "nmt train") if dist_info()[0] == 0 else contextlib.nullcontext()
    with lock:  # one writer per run folder (rank 0 of a torchrun job holds it for all ranks)
        if scores_path.is_file() and not args.force:
            try:
                old = read_json(scores_path)
            except UserError:
                old = {}
            changed = _changed_artifacts(run_dir, old.get("artifacts") or {})
            if old.get("settings") == json.loads(json.dumps(settings)) and not changed:
                if "profile_section_sha256" not in old:  # trained before the hash was recorded: record it
                    write_json(scores_path, {**old, "profile_section_sha256": profiles.section_hash(args.profile, "nmt")})
                print(f"{run_dir}: up to date (BLEU {old.get('bleu')}); nothing to do")
                return 0
            if changed:  # a damaged or replaced model must not stand behind these scores: train again
                print(f"note: {run_dir}: {', '.join(changed)} changed since training (size or SHA-256 differ from "
                      f"scores.json); training again from scratch", file=sys.stderr)
                return train(p, run_dir, cfg, settings, device=args.device, threads=args.threads, force=True)
        return train(p, run_dir, cfg, settings, device=args.device, threads=args.threads, force=args.force)


#: The files behind a finished run's scores: recorded (size, SHA-256) in scores.json, checked on re-runs.
SCORED_ARTIFACTS = ("best.pt", "test.hyp", "vocab.src.txt", "vocab.tgt.txt")


def _artifact_stamps(run_dir: Path) -> dict:
    return {n: {"size": (run_dir / n).stat().st_size, "sha256": sha256_file(run_dir / n)}
            for n in SCORED_ARTIFACTS if (run_dir / n).is_file()}


def _changed_artifacts(run_dir: Path, recorded: dict) -> list[str]:
    """Names of recorded artifacts that are missing or differ now (runs made before the record: none)."""
    if not recorded:
        return []
    now = _artifact_stamps(run_dir)
    return sorted(n for n, st in recorded.items() if now.get(n) != st)


def train(p, run_dir: Path, cfg: dict, settings: dict, *, device: str = "auto", threads: int | None = None,
          force: bool = False) -> int:
    """Train (or resume), then decode the test set and write ``scores.json``. ``p`` is a Prepared."""
    from nmt.model import ModelConfig, build_model, load_checkpoint

    rank, world, local_rank = dist_info()
    dev = pick_device(device)
    if world > 1:
        import torch.distributed as dist
        if dev.type == "cuda":
            dev = torch.device("cuda", local_rank)
            torch.cuda.set_device(dev)
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    set_threads(dev, threads)
    amp_dtype = resolve_amp(cfg.get("amp", "off"), dev)
    precision = str(amp_dtype).replace("torch.", "") + " autocast" if amp_dtype else "fp32"
    is_main = rank == 0
    t_start = time.time()
    if is_main:  # results of other settings must not stand beside this run's artifacts
        (run_dir / "scores.json").unlink(missing_ok=True)

    # -- data and vocabularies (built on the training data only) ---------------------------------
    train_src_path, train_tgt_path = p.train_files(cfg["train_size"])
    tr_s, tr_t = _read_pairs(train_src_path, train_tgt_path, train=True)
    n_read = len(tr_s)
    keep = [i for i in range(len(tr_s)) if 0 < len(tr_s[i]) <= cfg["max_len"] and 0 < len(tr_t[i]) <= cfg["max_len"]]
    if not keep:
        raise UserError(f"{train_src_path}: no training pair is 1-{cfg['max_len']} tokens long on both sides")
    tr_s, tr_t = [tr_s[i] for i in keep], [tr_t[i] for i in keep]
    splits = {"train": (tr_s, tr_t)}
    for split in ("dev", "test"):
        splits[split] = _read_pairs(p.file(split, "src"), p.file(split, "tgt"), train=False)
    to_words = None
    if cfg.get("bpe_merges"):  # joint BPE learned on the training pairs; the model sees units, not words
        from nmt.bpe import BPE, merge_subwords
        bpe = BPE.learn(tr_s + tr_t, cfg["bpe_merges"])
        if is_main:
            bpe.save(run_dir / "bpe.codes")
        splits = {k: ([bpe.segment(x) for x in s_], [bpe.segment(x) for x in t_]) for k, (s_, t_) in splits.items()}
        tr_s, tr_t = splits["train"]
        to_words = merge_subwords
    elif is_main:
        (run_dir / "bpe.codes").unlink(missing_ok=True)  # a word-level model: no stale codes beside it
    if cfg.get("reverse_source"):  # Sutskever et al. (2014, §3.3): the first source words end up nearest the decoder
        splits = {k: ([x[::-1] for x in s_], t_) for k, (s_, t_) in splits.items()}
        tr_s, tr_t = splits["train"]
    src_vocab = build_vocab(tr_s, cfg["vocab_size"])
    tgt_vocab = build_vocab(tr_t, cfg["vocab_size"])
    unk = {split: {"src": round(unk_rate(s, src_vocab), 5), "tgt": round(unk_rate(t, tgt_vocab), 5)}
           for split, (s, t) in splits.items()}
    if is_main:
        src_vocab.save(run_dir / "vocab.src.txt")
        tgt_vocab.save(run_dir / "vocab.tgt.txt")
        write_json(run_dir / "vocab.json", {
            "src_size": len(src_vocab), "tgt_size": len(tgt_vocab), "max_size": cfg["vocab_size"],
            "built_on": "train", "train_pairs": len(tr_s), "train_pairs_dropped": n_read - len(tr_s),
            "max_len": cfg["max_len"], "units": f"bpe ({cfg['bpe_merges']} merges)" if to_words else "words",
            "unk_rate": unk})
    train_data = ParallelData.from_tokens(tr_s, tr_t, src_vocab, tgt_vocab)
    dev_refs = read_lines(p.ref("dev"))
    if len(dev_refs) != len(splits["dev"][0]):
        raise UserError(f"{p.ref('dev')} has {len(dev_refs):,} lines but {p.file('dev', 'src')} has {len(splits['dev'][0]):,}")
    dev_idx = p.dev_sample(cfg["eval_dev_size"])   # seeded random sample, never the first N lines
    dev_data = ParallelData.from_tokens([splits["dev"][0][i] for i in dev_idx], None, src_vocab)
    dev_refs = [dev_refs[i] for i in dev_idx]

    # -- model, optimiser, schedule (seeded) ----------------------------------------------------
    seed = cfg["seed"]
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    mc_kw = dict(arch=cfg["arch"], src_vocab=len(src_vocab), tgt_vocab=len(tgt_vocab), emb=cfg["emb"],
                 hidden=cfg["hidden"], layers=cfg["layers"], cell=cfg["cell"], dropout=cfg["dropout"],
                 tie_embeddings=cfg["tie_embeddings"])
    if cfg["arch"] == "rnnsearch":
        mc_kw["attention"] = cfg["attention"]
    if cfg.get("bidirectional") is not None:
        mc_kw["bidirectional"] = cfg["bidirectional"]
    if cfg.get("readout") is not None:
        mc_kw["readout"] = cfg["readout"]
    model_config = ModelConfig(**mc_kw)
    model = build_model(model_config).to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=cfg["lr_decay"], patience=0,
                                                           min_lr=cfg["min_lr"])
    key = resume_key(cfg, p.manifest["hash"])
    last_path, best_path, log_path = run_dir / "last.pt", run_dir / "best.pt", run_dir / "train.log"
    state = {"step": 0, "epoch": 0, "batch_in_epoch": 0, "best_dev_bleu": -1.0, "best_step": 0, "bad_evals": 0,
             "train_seconds": 0.0, "finished": False, "stop_reason": None, "tokens": 0, "evals": [],
             "last_eval_step": -1}
    ckpt = None if force else load_resumable(last_path, key)
    if ckpt is not None:
        model.load_state_dict(ckpt["model_state"])
        optimizer.load_state_dict(ckpt["optimizer_state"])
        scheduler.load_state_dict(ckpt["scheduler_state"])
        for k in state:
            state[k] = ckpt.get(k, state[k])
        set_rng_states(ckpt["rng_states"])
    if is_main:
        _rewrite_log(log_path, state["step"] if ckpt is not None else None)
        if ckpt is not None:
            _log(log_path, {"event": "resume", "step": state["step"], "epoch": state["epoch"],
                            "batch_in_epoch": state["batch_in_epoch"], "finished": state["finished"]})
            print(f"resuming {last_path} at step {state['step']} (epoch {state['epoch'] + 1}, "
                  f"batch {state['batch_in_epoch']})", file=sys.stderr)
        else:
            _log(log_path, {"event": "start", "seed": seed, "train_pairs": len(train_data), "device": str(dev),
                            "world_size": world, "precision": precision, "model_config": dataclasses.asdict(model_config)})
    net = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP
        net = DDP(model, device_ids=[dev.index] if dev.type == "cuda" else None)

    def checkpoint(path: Path) -> None:
        if not is_main:
            return
        save_checkpoint(path, {
            "model_config": dataclasses.asdict(model_config), "model_state": model.state_dict(),
            "optimizer_state": optimizer.state_dict(), "scheduler_state": scheduler.state_dict(),
            "rng_states": rng_states(), "train_config": cfg, "resume_key": key,
            "src_vocab": str(run_dir / "vocab.src.txt"), "tgt_vocab": str(run_dir / "vocab.tgt.txt"),
            "bpe_codes": str(run_dir / "bpe.codes") if to_words else None,
            "fingerprints": {"src_vocab": src_vocab.fingerprint(), "tgt_vocab": tgt_vocab.fingerprint(),
                             "bpe_codes": bpe.fingerprint() if to_words else None},
            "corpus": {"name": p.name, "src": p.src, "tgt": p.tgt, "hash": p.manifest["hash"]}, **state})

    # -- training loop --------------------------------------------------------------------------
    def batches_of(epoch: int) -> list[list[int]]:
        b = make_batches(train_data.src_lens, train_data.tgt_lens, batch_tokens=cfg["batch_tokens"],
                         batch_sents=cfg["batch_sents"], seed=seed, epoch=epoch)
        return shard(b, rank, world)

    n_per_epoch = len(batches_of(0))
    tok_per_epoch = int(train_data.tgt_lens.sum() + len(train_data))
    max_steps = cfg["max_steps"] or math.inf
    budget_s = cfg["max_minutes"] * 60 if cfg["max_minutes"] else math.inf
    total_tok = tok_per_epoch * cfg["epochs"] // world
    done_tok = min(state["tokens"], total_tok)  # a resumed run starts the bar here (rate stays honest)
    if is_main:
        bar = progress(total=total_tok, initial=done_tok, desc=f"train {settings['system']}", unit="tok")
    else:
        from tqdm import tqdm
        bar = tqdm(total=total_tok, initial=done_tok, disable=True)
    log_every, eval_every, save_every = cfg["log_every"], cfg["eval_every"], cfg["save_every"]
    win_loss = win_tok = 0.0
    win_t0 = seg_t0 = time.time()
    train_s0 = state["train_seconds"]

    def epochs_done() -> float:
        return round(state["epoch"] + state["batch_in_epoch"] / max(n_per_epoch, 1), 4)

    def elapsed() -> float:
        return train_s0 + time.time() - seg_t0

    def evaluate() -> None:
        """Dev BLEU (rank 0), best checkpoint, LR schedule, early-stopping counter."""
        state["last_eval_step"] = state["step"]  # on every rank (decides the final evaluation)
        if is_main:
            model.eval()
            score, _ = dev_bleu(model, dev_data, tgt_vocab, dev_refs, p.postprocess, dev, cfg["decode_batch"], to_words)
            model.train()
            improved = score > state["best_dev_bleu"]
            if improved:
                state["best_dev_bleu"], state["best_step"], state["bad_evals"] = score, state["step"], 0
            else:
                state["bad_evals"] += 1
            scheduler.step(score)
            state["evals"].append({"step": state["step"], "dev_bleu": round(score, 2)})
            lr = optimizer.param_groups[0]["lr"]
            _log(log_path, {"event": "eval", "step": state["step"], "epoch": epochs_done(), "dev_bleu": round(score, 2),
                            "best_dev_bleu": round(state["best_dev_bleu"], 2), "lr": lr, "elapsed_s": round(elapsed(), 1)})
            bar.write(f"step {state['step']}: dev BLEU {score:.2f} (best {state['best_dev_bleu']:.2f} at step "
                      f"{state['best_step']}), lr {lr:.2e}")
            state["train_seconds"] = elapsed()
            if improved:
                checkpoint(best_path)
        if world > 1:  # the other ranks follow rank 0's schedule and early-stopping counter
            import torch.distributed as dist
            lr_t = torch.tensor([optimizer.param_groups[0]["lr"]], device=dev)
            dist.broadcast(lr_t, 0)
            for g_ in optimizer.param_groups:
                g_["lr"] = float(lr_t.item())
            bad = torch.tensor([float(state["bad_evals"])], device=dev)
            dist.broadcast(bad, 0)
            state["bad_evals"] = int(bad.item())

    def stop_reason() -> str | None:
        """Why training is over (checked before every step, so a resumed run re-decides)."""
        if state["bad_evals"] >= cfg["patience"]:
            return f"early stopping: {cfg['patience']} evaluations without improvement"
        if state["step"] >= max_steps:
            return f"{cfg['max_steps']} steps"
        if state["epoch"] >= cfg["epochs"]:
            return f"{cfg['epochs']} epochs"
        if all_or(elapsed() >= budget_s, world, dev):
            return f"time budget of {cfg['max_minutes']} minutes"
        return None

    model.train()
    batches, batches_epoch = None, None
    while (reason := stop_reason()) is None:
        if batches_epoch != state["epoch"]:
            batches, batches_epoch = batches_of(state["epoch"]), state["epoch"]
        bi = state["batch_in_epoch"]
        if bi >= len(batches):
            state["epoch"] += 1
            state["batch_in_epoch"] = 0
            continue
        b = train_data.collate(batches[bi]).to(dev)
        output_ids, tgt_out = None, b.tgt_out
        if 0 < cfg.get("sampled_softmax", 0) < len(tgt_vocab):
            output_ids, tgt_out = batch_vocabulary(b.tgt_out, len(tgt_vocab), cfg["sampled_softmax"])
        with torch.autocast(dev.type, dtype=amp_dtype or torch.bfloat16, enabled=amp_dtype is not None):
            logits = net(b.src, b.src_len, b.tgt_in, output_ids=output_ids)
        loss_sum, ntok = token_loss(logits, tgt_out, cfg["label_smoothing"])
        loss = loss_sum / max(ntok, 1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["clip"])
        optimizer.step()
        state["step"] += 1
        state["batch_in_epoch"] = bi + 1
        state["tokens"] += ntok
        loss_v = float(loss.item())
        win_loss += loss_v * ntok
        win_tok += ntok
        bar.update(ntok)
        if state["step"] % log_every == 0:
            now = time.time()
            tok_s = win_tok / max(now - win_t0, 1e-9)
            rec = {"event": "train", "step": state["step"], "epoch": epochs_done(), "batch": bi + 1,
                   "loss": loss_v if log_every == 1 else win_loss / max(win_tok, 1),
                   "lr": optimizer.param_groups[0]["lr"], "grad_norm": round(float(grad_norm), 4),
                   "tokens_per_s": round(tok_s * world, 1), "window_tokens": int(win_tok),
                   "window_s": round(now - win_t0, 4)}
            if is_main:
                _log(log_path, rec)
            bar.set_postfix(loss=f"{rec['loss']:.3f}", lr=f"{rec['lr']:.1e}", step=state["step"], refresh=False)
            win_loss = win_tok = 0.0
            win_t0 = now
        if state["step"] % eval_every == 0:
            evaluate()
            checkpoint(last_path)
        elif state["step"] % save_every == 0:
            state["train_seconds"] = elapsed()
            checkpoint(last_path)
    bar.close()
    state["stop_reason"] = reason
    if state["last_eval_step"] != state["step"]:
        evaluate()  # the last model gets its dev BLEU too (and may be the best)
    state["train_seconds"] = elapsed()
    state["finished"] = True
    if is_main:
        _log(log_path, {"event": "stop", "step": state["step"], "reason": reason,
                        "best_dev_bleu": round(state["best_dev_bleu"], 2), "best_step": state["best_step"],
                        "train_seconds": round(state["train_seconds"], 1)})
    checkpoint(last_path)
    if world > 1:
        import torch.distributed as dist
        dist.barrier()
        dist.destroy_process_group()  # rank 0 decodes the test set alone
    if not is_main:
        return 0

    # -- test set: best checkpoint, beam search, post-processing, scores --------------------------
    from nmt.translate import translate_data
    best, _ = load_checkpoint(best_path, dev)
    best.eval()
    test_s = splits["test"][0]
    test_data = ParallelData.from_tokens(test_s, None, src_vocab)
    t0 = time.time()
    hyps, atts = translate_data(best, test_data, beam=cfg["beam"], device=dev, batch_sents=cfg["decode_batch"],
                                return_attention=True, length_penalty=cfg["length_penalty"], desc="test")
    decode_s = time.time() - t0
    unit_hyps = [tgt_vocab.decode(h) for h in hyps]              # words, or BPE units
    tok_hyps = [to_words(h) for h in unit_hyps] if to_words else unit_hyps
    write_lines(run_dir / "test.tok.hyp", [" ".join(h) for h in tok_hyps])
    write_lines(run_dir / "test.hyp", p.postprocess([" ".join(h) for h in tok_hyps]))
    n_hyp_tok = sum(len(h) for h in unit_hyps)
    hyp_unk = sum(t == UNK_TOKEN for h in unit_hyps for t in h) / max(n_hyp_tok, 1)
    write_lines(run_dir / "test.unk_rate", ["side\tunk_rate", f"src\t{unk['test']['src']}", f"ref\t{unk['test']['tgt']}",
                                            f"hyp\t{round(hyp_unk, 5)}"])
    _save_attention(run_dir / "attention.npz", test_s, unit_hyps, atts)  # over the units the model saw
    from compare.score import write_scores
    res = write_scores(
        run_dir, p.ref("test"), settings=settings, corpus=p.name, corpus_hash=p.manifest["hash"], arch=cfg["arch"],
        system=settings["system"], model_config=dataclasses.asdict(model_config), train_config=cfg,
        profile=settings["profile"], profile_section_sha256=profiles.section_hash(settings["profile"], "nmt"),
        seed=seed, train_seconds=round(state["train_seconds"], 1), steps=state["step"],
        epochs=epochs_done(),
        stop_reason=state["stop_reason"], best_dev_bleu=round(state["best_dev_bleu"], 2), best_step=state["best_step"],
        decode_seconds=round(decode_s, 2), decode_sents_per_s=round(len(test_s) / max(decode_s, 1e-9), 2),
        beam=cfg["beam"], train_size=len(train_data), src_vocab_size=len(src_vocab), tgt_vocab_size=len(tgt_vocab),
        unk_rates=unk, hyp_unk_rate=round(hyp_unk, 5), device=str(dev), train_precision=precision, torch_version=torch.__version__,
        n_params=sum(x.numel() for x in model.parameters()), wall_seconds=round(time.time() - t_start, 1),
        artifacts=_artifact_stamps(run_dir))
    print(f"{run_dir}: test BLEU {res['bleu']} chrF {res['chrf']} (best dev BLEU {state['best_dev_bleu']:.2f} at step "
          f"{state['best_step']}, {state['step']} steps, {state['train_seconds']:.0f} s training, "
          f"{res['decode_sents_per_s']} sent/s beam {cfg['beam']})")
    return 0


def _log(path: Path, rec: dict) -> None:
    rec = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), **rec}
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(rec) + "\n")


def _rewrite_log(path: Path, upto_step: int | None) -> None:
    """Start a fresh log (``None``) or drop the lines written after the checkpoint being resumed."""
    keep: list[str] = []
    if upto_step is not None and path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by the crash
            if rec.get("step", 0) <= upto_step:
                keep.append(line)
    write_lines(path, keep)


def _save_attention(path: Path, src: list[list[str]], hyps: list[list[str]], atts: list) -> None:
    """Attention matrices [T, S] of ~20 test sentences spread over source lengths (short to long)."""
    n = len(src)
    if n == 0:
        return
    order = np.argsort([len(s) for s in src], kind="stable")
    pick = sorted(set(int(order[int(round(q))]) for q in np.linspace(0, n - 1, min(20, n))))
    arrays = {"index": np.array(pick, dtype=np.int64),
              "src": np.array([" ".join(src[i]) for i in pick]),
              "hyp": np.array([" ".join(hyps[i]) for i in pick])}
    for k, i in enumerate(pick):
        a = atts[i] if atts is not None and i < len(atts) else None
        arrays[f"att_{k}"] = np.asarray(a, dtype=np.float32) if a is not None else np.zeros((0, 0), np.float32)
    with atomic_write(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)
