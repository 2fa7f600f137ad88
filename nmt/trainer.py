"""The NMT training loop as a :class:`TrainManager` (the shape of JoeyNMT's): one object holds the
data, the model, the optimiser and the run's state; each step of a run is a method.

The recipe (Bahdanau et al. 2015 §4.2 and Appendix B, with modern defaults):

* maximum likelihood with teacher forcing: the decoder reads the reference prefix ``<s> y_<i``
  and the loss is the token-level cross-entropy of ``y_i`` (optionally label-smoothed,
  Szegedy et al. 2016), averaged over the real (non-padding) target tokens of the batch
  (:meth:`TrainManager._train_step`);
* Adam (Kingma & Ba 2015; the papers used Adadelta) with gradient-norm clipping at ``clip``
  (Pascanu et al. 2013, as in Bahdanau et al. App. B.2.1);
* learning-rate schedule: *plateau halving on dev BLEU* — the rate is multiplied by
  ``lr_decay`` (0.5) after every evaluation that does not improve the best dev BLEU, down to
  ``min_lr``; no warm-up;
* dropout inside the model (its config); length-bucketed batches with a target-token budget
  (:mod:`nmt.data`);
* every ``eval_every`` steps (:meth:`TrainManager._validate`): greedy decoding of the dev set (a
  seeded random sample of ``eval_dev_size`` sentences, :meth:`data.prepare.Prepared.dev_sample`),
  post-processed exactly like the final output, BLEU by sacreBLEU against the raw reference; the
  best model is kept (``best.pt``) and training stops early after ``patience`` evaluations without
  improvement (or at ``epochs`` / ``max_steps`` / an explicit ``max_minutes``,
  :meth:`TrainManager._stop_reason`);
* ``last.pt`` (every ``save_every`` steps and at every evaluation, :meth:`TrainManager._save_checkpoint`)
  holds everything needed to continue bit-for-bit: model, Adam and scheduler state, the RNG states
  and the data position (epoch, batch within the epoch).

Multi-GPU: under ``torchrun --nproc_per_node=N`` (``WORLD_SIZE>1``) the process group is
initialised, the model wrapped in ``DistributedDataParallel`` and every rank takes every N-th batch
(:func:`nmt.data.shard`); rank 0 alone evaluates and writes files.
"""
from __future__ import annotations

import dataclasses
import json
import math
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from evaluation.score import bleu, score, write_scores
from data import profiles, runfolder
from data.io import cpu_kind, UserError, check_line_counts, atomic_write, progress, read_lines, read_tokenized, sha256_file, write_json, write_lines
from nmt.bpe import BPE, merge_subwords
from nmt.config import TrainConfig
from nmt.data import ParallelData, make_batches, shard
from nmt.model import ModelConfig, build_model, load_checkpoint
from nmt.runtime import all_or, dist_info, pick_device, resolve_amp, rng_states, set_rng_states, set_threads
from nmt.sampled_softmax import batch_vocabulary
from nmt.translate import translate_data
from nmt.vocab import PAD, UNK_TOKEN, Vocab, build_vocab, unk_rate

#: The files behind a finished run's scores: recorded (size, SHA-256) in scores.json, checked on re-runs.
SCORED_ARTIFACTS = ("best.pt", "test.hyp", "vocab.src.txt", "vocab.tgt.txt")


# ----------------------------------------------------------------------------------------------
# loss, evaluation, checkpoints, logs

def token_loss(logits: torch.Tensor, tgt_out: torch.Tensor, label_smoothing: float = 0.0) -> tuple[torch.Tensor, int]:
    """Sum of token cross-entropies over non-PAD targets, and their count.

    logits: [B, T, V]; tgt_out: [B, T] (PAD where there is no target)."""
    V = logits.size(-1)
    loss = F.cross_entropy(logits.reshape(-1, V).float(), tgt_out.reshape(-1), ignore_index=PAD,
                           label_smoothing=label_smoothing, reduction="sum")
    return loss, int((tgt_out != PAD).sum())


def dev_bleu(model, data: ParallelData, tgt_vocab: Vocab, refs: list[str], postprocess, device, batch: int,
             to_words=None) -> tuple[float, list[str]]:
    """Greedy-decode ``data``, post-process, sacreBLEU against the raw ``refs``.

    ``to_words`` maps output units to words (:func:`nmt.bpe.merge_subwords` for a BPE model)."""
    hyps, _ = translate_data(model, data, beam=1, device=device, batch_sents=batch, desc="dev")
    to_words = to_words or (lambda units: units)
    lines = postprocess([" ".join(to_words(tgt_vocab.decode(h))) for h in hyps])
    return bleu(lines, refs).score, lines


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


def _readable(path: Path) -> bool:
    """Whether ``path`` is a checkpoint torch can load."""
    try:
        torch.load(path, map_location="cpu", weights_only=False)
    except Exception:  # missing, truncated, zero bytes, not a checkpoint
        return False
    return True


def artifact_stamps(run_dir: Path) -> dict:
    return {n: {"size": (run_dir / n).stat().st_size, "sha256": sha256_file(run_dir / n)}
            for n in SCORED_ARTIFACTS if (run_dir / n).is_file()}


def changed_artifacts(run_dir: Path, recorded: dict) -> list[str]:
    """Names of recorded artifacts that are missing or differ now (runs made before the record: none)."""
    if not recorded:
        return []
    now = artifact_stamps(run_dir)
    return sorted(n for n, st in recorded.items() if now.get(n) != st)


def dev_still_rising(evals: list[dict]) -> bool:
    """True when training stopped while dev BLEU still rose: the last evaluation is the best so far
    and better than the one before it (a budget, not early stopping, ended the run)."""
    if len(evals) < 2:
        return bool(evals)
    scores = [e["dev_bleu"] for e in evals]
    return scores[-1] >= max(scores) and scores[-1] > scores[-2]


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


def _read_pairs(src_path: Path, tgt_path: Path) -> tuple[list[list[str]], list[list[str]]]:
    s = read_tokenized(src_path, allow_empty_lines=True)
    t = read_tokenized(tgt_path, allow_empty_lines=True)
    check_line_counts(src_path, s, tgt_path, t)
    return s, t


def _new_state() -> dict:
    """The run's progress: everything ``last.pt`` stores besides the model, optimiser and RNGs."""
    return {"step": 0, "epoch": 0, "batch_in_epoch": 0, "best_dev_bleu": -1.0, "best_step": 0, "bad_evals": 0,
            "train_seconds": 0.0, "finished": False, "stop_reason": None, "tokens": 0, "evals": [],
            "last_eval_step": -1}


# ----------------------------------------------------------------------------------------------
# the manager

class TrainManager:
    """Train (or resume) one system in ``run_dir``, then translate and score its test set.

    ``p`` is a :class:`data.prepare.Prepared`; ``settings`` is what ``scores.json`` records as the
    run's identity (corpus, system, profile, config). :meth:`train` runs the whole thing; each step
    (data, model, resume, the loop and its parts, the test set) is a method of its own.
    """

    def __init__(self, p, run_dir: Path, cfg: TrainConfig, settings: dict, *, device: str = "auto",
                 threads: int | None = None, force: bool = False):
        self.p, self.run_dir, self.cfg, self.settings, self.force = p, run_dir, cfg, settings, force
        self.cfg_dict = cfg.to_dict()              # the recorded form (checkpoints, scores.json)
        self.rank, self.world, local_rank = dist_info()
        self.is_main = self.rank == 0
        self.dev = self._init_device(device, local_rank)
        set_threads(self.dev, threads)
        self.threads = torch.get_num_threads()   # recorded: NMT results depend on it in the last bits
        self.amp_dtype = resolve_amp(cfg.amp, self.dev)
        self.precision = str(self.amp_dtype).replace("torch.", "") + " autocast" if self.amp_dtype else "fp32"
        self.last_path, self.best_path, self.log_path = run_dir / "last.pt", run_dir / "best.pt", run_dir / "train.log"
        self.state = _new_state()

    def _init_device(self, device: str, local_rank: int) -> torch.device:
        dev = pick_device(device)
        if self.world > 1:
            import torch.distributed as dist  # only under torchrun
            if dev.type == "cuda":
                dev = torch.device("cuda", local_rank)
                torch.cuda.set_device(dev)
            if not dist.is_initialized():
                dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
        return dev

    # -- the whole run ---------------------------------------------------------------------------
    def train(self) -> int:
        t_start = time.time()
        if self.is_main:  # results of other settings must not stand beside this run's artifacts
            (self.run_dir / "scores.json").unlink(missing_ok=True)
        self._load_data()
        self._build_model()
        self._resume()
        reason = self._train_loop()
        self._finish(reason)
        if not self.is_main:
            return 0
        self._test(t_start)
        return 0

    # -- data and vocabularies (built on the training data only) ---------------------------------
    def _load_data(self) -> None:
        cfg, p, run_dir = self.cfg, self.p, self.run_dir
        train_src_path, train_tgt_path = p.train_files(cfg.train_size)
        tr_s, tr_t = _read_pairs(train_src_path, train_tgt_path)
        n_read = len(tr_s)
        keep = [i for i in range(len(tr_s)) if 0 < len(tr_s[i]) <= cfg.max_len and 0 < len(tr_t[i]) <= cfg.max_len]
        if not keep:
            raise UserError(f"{train_src_path}: no training pair is 1-{cfg.max_len} tokens long on both sides")
        tr_s, tr_t = [tr_s[i] for i in keep], [tr_t[i] for i in keep]
        splits = {"train": (tr_s, tr_t)}
        for split in ("dev", "test"):
            splits[split] = _read_pairs(p.file(split, "src"), p.file(split, "tgt"))
        self.bpe, self.to_words = None, None
        if cfg.bpe_merges:  # joint BPE learned on the training pairs; the model sees units, not words
            self.bpe = BPE.learn(tr_s + tr_t, cfg.bpe_merges)
            if self.is_main:
                self.bpe.save(run_dir / "bpe.codes")
            splits = {k: ([self.bpe.segment(x) for x in s_], [self.bpe.segment(x) for x in t_])
                      for k, (s_, t_) in splits.items()}
            self.to_words = merge_subwords
        elif self.is_main:
            (run_dir / "bpe.codes").unlink(missing_ok=True)  # a word-level model: no stale codes beside it
        if cfg.reverse_source:  # Sutskever et al. (2014, §3.3): the first source words end up nearest the decoder
            splits = {k: ([x[::-1] for x in s_], t_) for k, (s_, t_) in splits.items()}
        tr_s, tr_t = splits["train"]
        self.src_vocab = build_vocab(tr_s, cfg.vocab_size)
        self.tgt_vocab = build_vocab(tr_t, cfg.vocab_size)
        self.unk = {split: {"src": round(unk_rate(s, self.src_vocab), 5), "tgt": round(unk_rate(t, self.tgt_vocab), 5)}
                    for split, (s, t) in splits.items()}
        if self.is_main:
            self.src_vocab.save(run_dir / "vocab.src.txt")
            self.tgt_vocab.save(run_dir / "vocab.tgt.txt")
            write_json(run_dir / "vocab.json", {
                "src_size": len(self.src_vocab), "tgt_size": len(self.tgt_vocab), "max_size": cfg.vocab_size,
                "built_on": "train", "train_pairs": len(tr_s), "train_pairs_dropped": n_read - len(tr_s),
                "max_len": cfg.max_len, "units": f"bpe ({cfg.bpe_merges} merges)" if self.bpe else "words",
                "unk_rate": self.unk})
        self.train_data = ParallelData.from_tokens(tr_s, tr_t, self.src_vocab, self.tgt_vocab)
        dev_refs = read_lines(p.ref("dev"))
        check_line_counts(p.ref("dev"), dev_refs, p.file("dev", "src"), splits["dev"][0], "")
        dev_idx = p.dev_sample(cfg.eval_dev_size)   # seeded random sample, never the first N lines
        self.dev_data = ParallelData.from_tokens([splits["dev"][0][i] for i in dev_idx], None, self.src_vocab)
        self.dev_refs = [dev_refs[i] for i in dev_idx]
        self.test_src = splits["test"][0]
        select_idx = p.dev_split()[1]  # dev's select part: decoded once at the end, never trained or stopped on
        self.select_src = [splits["dev"][0][i] for i in select_idx]
        self.select_refs = [dev_refs[i] for i in select_idx]

    # -- model, optimiser, schedule (seeded) ----------------------------------------------------
    def _build_model(self) -> None:
        cfg = self.cfg
        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        mc_kw = dict(arch=cfg.arch, src_vocab=len(self.src_vocab), tgt_vocab=len(self.tgt_vocab), emb=cfg.emb,
                     hidden=cfg.hidden, layers=cfg.layers, cell=cfg.cell, dropout=cfg.dropout,
                     tie_embeddings=cfg.tie_embeddings, word_dropout_src=cfg.word_dropout_src,
                     word_dropout_tgt=cfg.word_dropout_tgt)
        if cfg.arch == "rnnsearch":
            mc_kw["attention"] = cfg.attention
        if cfg.bidirectional is not None:
            mc_kw["bidirectional"] = cfg.bidirectional
        if cfg.readout is not None:
            mc_kw["readout"] = cfg.readout
        self.model_config = ModelConfig(**mc_kw)
        self.model = build_model(self.model_config).to(self.dev)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(self.optimizer, mode="max", factor=cfg.lr_decay,
                                                                    patience=0, min_lr=cfg.min_lr)
        self.key = cfg.resume_key(self.p.manifest["hash"])

    def _resume(self) -> None:
        """Continue from ``last.pt`` when it was made with these settings; start the log; wrap for DDP."""
        ckpt = None if self.force else load_resumable(self.last_path, self.key)
        if ckpt is not None and ckpt.get("best_step", 0) > 0 and not _readable(self.best_path):
            # last.pt would resume past the best model, which is gone: the test set could never be decoded
            print(f"note: {self.best_path} is missing or unreadable; {self.last_path} cannot be resumed without it, "
                  f"training again from scratch", file=sys.stderr)
            ckpt = None
        state = self.state
        if ckpt is not None:
            self.model.load_state_dict(ckpt["model_state"])
            self.optimizer.load_state_dict(ckpt["optimizer_state"])
            self.scheduler.load_state_dict(ckpt["scheduler_state"])
            for k in state:
                state[k] = ckpt.get(k, state[k])
            set_rng_states(ckpt["rng_states"])
        if self.is_main:
            _rewrite_log(self.log_path, state["step"] if ckpt is not None else None)
            if ckpt is not None:
                _log(self.log_path, {"event": "resume", "step": state["step"], "epoch": state["epoch"],
                                     "batch_in_epoch": state["batch_in_epoch"], "finished": state["finished"]})
                print(f"resuming {self.last_path} at step {state['step']} (epoch {state['epoch'] + 1}, "
                      f"batch {state['batch_in_epoch']})", file=sys.stderr)
            else:
                _log(self.log_path, {"event": "start", "seed": self.cfg.seed, "train_pairs": len(self.train_data),
                                     "device": str(self.dev), "world_size": self.world, "precision": self.precision,
                                     "model_config": dataclasses.asdict(self.model_config)})
        self.net = self.model
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP  # only under torchrun
            self.net = DDP(self.model, device_ids=[self.dev.index] if self.dev.type == "cuda" else None)

    def _save_checkpoint(self, path: Path) -> None:
        if not self.is_main:
            return
        run_dir, bpe = self.run_dir, self.bpe
        save_checkpoint(path, {
            "model_config": dataclasses.asdict(self.model_config), "model_state": self.model.state_dict(),
            "optimizer_state": self.optimizer.state_dict(), "scheduler_state": self.scheduler.state_dict(),
            "rng_states": rng_states(), "train_config": self.cfg_dict, "resume_key": self.key,
            "src_vocab": str(run_dir / "vocab.src.txt"), "tgt_vocab": str(run_dir / "vocab.tgt.txt"),
            "bpe_codes": str(run_dir / "bpe.codes") if bpe else None,
            "fingerprints": {"src_vocab": self.src_vocab.fingerprint(), "tgt_vocab": self.tgt_vocab.fingerprint(),
                             "bpe_codes": bpe.fingerprint() if bpe else None},
            "corpus": {"name": self.p.name, "src": self.p.src, "tgt": self.p.tgt, "hash": self.p.manifest["hash"]},
            **self.state})

    # -- the loop and its parts ------------------------------------------------------------------
    def _batches(self, epoch: int) -> list[list[int]]:
        b = make_batches(self.train_data.src_lens, self.train_data.tgt_lens, batch_tokens=self.cfg.batch_tokens,
                         batch_sents=self.cfg.batch_sents, seed=self.cfg.seed, epoch=epoch)
        return shard(b, self.rank, self.world)

    def _epochs_done(self) -> float:
        return round(self.state["epoch"] + self.state["batch_in_epoch"] / max(self.n_per_epoch, 1), 4)

    def _elapsed(self) -> float:
        return self.train_s0 + time.time() - self.seg_t0

    def _validate(self) -> None:
        """Dev BLEU (rank 0), best checkpoint, LR schedule, early-stopping counter."""
        state, cfg = self.state, self.cfg
        state["last_eval_step"] = state["step"]  # on every rank (decides the final evaluation)
        if self.is_main:
            self.model.eval()
            score, _ = dev_bleu(self.model, self.dev_data, self.tgt_vocab, self.dev_refs, self.p.postprocess, self.dev,
                                cfg.decode_batch, self.to_words)
            self.model.train()
            improved = score > state["best_dev_bleu"]
            if improved:
                state["best_dev_bleu"], state["best_step"], state["bad_evals"] = score, state["step"], 0
            else:
                state["bad_evals"] += 1
            self.scheduler.step(score)
            state["evals"].append({"step": state["step"], "dev_bleu": round(score, 2)})
            lr = self.optimizer.param_groups[0]["lr"]
            _log(self.log_path, {"event": "eval", "step": state["step"], "epoch": self._epochs_done(),
                                 "dev_bleu": round(score, 2), "best_dev_bleu": round(state["best_dev_bleu"], 2),
                                 "lr": lr, "elapsed_s": round(self._elapsed(), 1)})
            self.bar.write(f"step {state['step']}: dev BLEU {score:.2f} (best {state['best_dev_bleu']:.2f} at step "
                           f"{state['best_step']}), lr {lr:.2e}")
            state["train_seconds"] = self._elapsed()
            if improved:
                self._save_checkpoint(self.best_path)
        if self.world > 1:  # the other ranks follow rank 0's schedule and early-stopping counter
            import torch.distributed as dist  # only under torchrun
            lr_t = torch.tensor([self.optimizer.param_groups[0]["lr"]], device=self.dev)
            dist.broadcast(lr_t, 0)
            for g_ in self.optimizer.param_groups:
                g_["lr"] = float(lr_t.item())
            bad = torch.tensor([float(state["bad_evals"])], device=self.dev)
            dist.broadcast(bad, 0)
            state["bad_evals"] = int(bad.item())

    def _stop_reason(self) -> str | None:
        """Why training is over (checked before every step, so a resumed run re-decides)."""
        state, cfg = self.state, self.cfg
        if state["bad_evals"] >= cfg.patience:
            return f"early stopping: {cfg.patience} evaluations without improvement"
        if state["step"] >= (cfg.max_steps or math.inf):
            return f"{cfg.max_steps} steps"
        if state["epoch"] >= cfg.epochs:
            return f"{cfg.epochs} epochs"
        budget_s = cfg.max_minutes * 60 if cfg.max_minutes else math.inf
        if all_or(self._elapsed() >= budget_s, self.world, self.dev):
            return f"time budget of {cfg.max_minutes} minutes"
        return None

    def _train_step(self, batch: list[int]) -> tuple[float, int, float]:
        """One Adam update on the batch of pair indices: (mean token loss, target tokens, gradient norm)."""
        cfg = self.cfg
        b = self.train_data.collate(batch).to(self.dev)
        output_ids, tgt_out = None, b.tgt_out
        if 0 < cfg.sampled_softmax < len(self.tgt_vocab):
            output_ids, tgt_out = batch_vocabulary(b.tgt_out, len(self.tgt_vocab), cfg.sampled_softmax)
        with torch.autocast(self.dev.type, dtype=self.amp_dtype or torch.bfloat16, enabled=self.amp_dtype is not None):
            if self.world > 1:  # through DDP's forward (its gradient hooks)
                logits = self.net(b.src, b.src_len, b.tgt_in, output_ids=output_ids)
                loss_sum, ntok = token_loss(logits, tgt_out, cfg.label_smoothing)
            else:               # output layer and loss fused (nmt.loss): the same value and gradients
                loss_sum, ntok = self.model.loss(b.src, b.src_len, b.tgt_in, tgt_out, cfg.label_smoothing, output_ids)
        loss = loss_sum / max(ntok, 1)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip)
        self.optimizer.step()
        return float(loss.item()), ntok, float(grad_norm)

    def _open_progress(self) -> None:
        """The progress bar (target tokens, rate, ETA) and the timers; a resumed run starts where it was."""
        tok_per_epoch = int(self.train_data.tgt_lens.sum() + len(self.train_data))
        total_tok = tok_per_epoch * self.cfg.epochs // self.world
        done_tok = min(self.state["tokens"], total_tok)
        if self.is_main:
            self.bar = progress(total=total_tok, initial=done_tok, desc=f"train {self.settings['system']}", unit="tok")
        else:
            from tqdm import tqdm  # a silent bar for the other ranks of a torchrun job
            self.bar = tqdm(total=total_tok, initial=done_tok, disable=True)
        self.win_loss = self.win_tok = 0.0
        self.win_t0 = self.seg_t0 = time.time()
        self.train_s0 = self.state["train_seconds"]

    def _log_window(self, bi: int, loss_v: float, grad_norm: float) -> None:
        """A train.log line on the last ``log_every`` steps (mean loss, tokens/s)."""
        now = time.time()
        tok_s = self.win_tok / max(now - self.win_t0, 1e-9)
        rec = {"event": "train", "step": self.state["step"], "epoch": self._epochs_done(), "batch": bi + 1,
               "loss": loss_v if self.cfg.log_every == 1 else self.win_loss / max(self.win_tok, 1),
               "lr": self.optimizer.param_groups[0]["lr"], "grad_norm": round(grad_norm, 4),
               "tokens_per_s": round(tok_s * self.world, 1), "window_tokens": int(self.win_tok),
               "window_s": round(now - self.win_t0, 4)}
        if self.is_main:
            _log(self.log_path, rec)
        self.bar.set_postfix(loss=f"{rec['loss']:.3f}", lr=f"{rec['lr']:.1e}", step=self.state["step"], refresh=False)
        self.win_loss = self.win_tok = 0.0
        self.win_t0 = now

    def _train_loop(self) -> str:
        """Updates until a stop reason; returns it."""
        state, cfg = self.state, self.cfg
        self.n_per_epoch = len(self._batches(0))
        self._open_progress()
        self.model.train()
        batches, batches_epoch = None, None
        while (reason := self._stop_reason()) is None:
            if batches_epoch != state["epoch"]:
                batches, batches_epoch = self._batches(state["epoch"]), state["epoch"]
            bi = state["batch_in_epoch"]
            if bi >= len(batches):
                state["epoch"] += 1
                state["batch_in_epoch"] = 0
                continue
            loss_v, ntok, grad_norm = self._train_step(batches[bi])
            state["step"] += 1
            state["batch_in_epoch"] = bi + 1
            state["tokens"] += ntok
            self.win_loss += loss_v * ntok
            self.win_tok += ntok
            self.bar.update(ntok)
            if state["step"] % cfg.log_every == 0:
                self._log_window(bi, loss_v, grad_norm)
            if state["step"] % cfg.eval_every == 0:
                self._validate()
                self._save_checkpoint(self.last_path)
            elif state["step"] % cfg.save_every == 0:
                state["train_seconds"] = self._elapsed()
                self._save_checkpoint(self.last_path)
        self.bar.close()
        return reason

    def _finish(self, reason: str) -> None:
        """The last model's dev BLEU, the stop record, the final ``last.pt``; end a torchrun job."""
        state = self.state
        state["stop_reason"] = reason
        if state["last_eval_step"] != state["step"]:
            self._validate()  # the last model gets its dev BLEU too (and may be the best)
        state["train_seconds"] = self._elapsed()
        state["finished"] = True
        if self.is_main:
            _log(self.log_path, {"event": "stop", "step": state["step"], "reason": reason,
                                 "best_dev_bleu": round(state["best_dev_bleu"], 2), "best_step": state["best_step"],
                                 "train_seconds": round(state["train_seconds"], 1)})
        self._save_checkpoint(self.last_path)
        if self.world > 1:
            import torch.distributed as dist  # only under torchrun
            dist.barrier()
            dist.destroy_process_group()  # rank 0 decodes the test set alone

    def _decode_select(self, best) -> dict | None:
        """Dev's *select* part (``Prepared.dev_split``) with the best checkpoint, as the test set is
        decoded: ``select.hyp`` and its scores — the figure recipes and settings are chosen on."""
        if not self.select_src:
            return None
        cfg = self.cfg
        self.p.select_files()  # select.* beside dev, for every reader of the select part
        data = ParallelData.from_tokens(self.select_src, None, self.src_vocab)
        hyps, _ = translate_data(best, data, beam=cfg.beam, device=self.dev, batch_sents=cfg.decode_batch,
                                 length_penalty=cfg.length_penalty, desc="select")
        units = [self.tgt_vocab.decode(h) for h in hyps]
        toks = [self.to_words(h) for h in units] if self.to_words else units
        out = self.p.postprocess([" ".join(h) for h in toks])
        write_lines(self.run_dir / "select.hyp", out)
        return {"sentences": len(out), "score": score(out, self.select_refs)}

    # -- test set: best checkpoint, beam search, post-processing, scores --------------------------
    def _test(self, t_start: float) -> None:
        cfg, run_dir, p, state = self.cfg, self.run_dir, self.p, self.state
        best, _ = load_checkpoint(self.best_path, self.dev)
        best.eval()
        test_data = ParallelData.from_tokens(self.test_src, None, self.src_vocab)
        t0 = time.time()
        hyps, atts = translate_data(best, test_data, beam=cfg.beam, device=self.dev, batch_sents=cfg.decode_batch,
                                    return_attention=True, length_penalty=cfg.length_penalty, desc="test")
        decode_s = time.time() - t0
        unit_hyps = [self.tgt_vocab.decode(h) for h in hyps]              # words, or BPE units
        tok_hyps = [self.to_words(h) for h in unit_hyps] if self.to_words else unit_hyps
        p.copy_truecasers(run_dir)     # the run folder translates raw text on its own (compare translate)
        write_lines(run_dir / runfolder.TEST_TOK, [" ".join(h) for h in tok_hyps])
        write_lines(run_dir / runfolder.TEST_HYP, p.postprocess([" ".join(h) for h in tok_hyps]))
        n_hyp_tok = sum(len(h) for h in unit_hyps)
        hyp_unk = sum(t == UNK_TOKEN for h in unit_hyps for t in h) / max(n_hyp_tok, 1)
        unk = self.unk
        write_lines(run_dir / "test.unk_rate", ["side\tunk_rate", f"src\t{unk['test']['src']}",
                                                f"ref\t{unk['test']['tgt']}", f"hyp\t{round(hyp_unk, 5)}"])
        _save_attention(run_dir / runfolder.ATTENTION, self.test_src, unit_hyps, atts)  # over the units the model saw
        select = self._decode_select(best)
        settings = self.settings
        res = write_scores(
            run_dir, p.ref("test"), settings=settings, corpus=p.name, corpus_hash=p.manifest["hash"], arch=cfg.arch,
            system=settings["system"], model_config=dataclasses.asdict(self.model_config), train_config=self.cfg_dict,
            profile=settings["profile"], profile_section_sha256=profiles.section_hash(settings["profile"], "nmt"),
            seed=cfg.seed, train_seconds=round(state["train_seconds"], 1), steps=state["step"],
            epochs=self._epochs_done(),
            stop_reason=state["stop_reason"], dev_still_rising=dev_still_rising(state["evals"]),
            cpu_minutes=round(state["train_seconds"] * torch.get_num_threads() * self.world / 60, 1),
            best_dev_bleu=round(state["best_dev_bleu"], 2),
            best_step=state["best_step"], decode_seconds=round(decode_s, 2),
            decode_sents_per_s=round(len(self.test_src) / max(decode_s, 1e-9), 2),
            beam=cfg.beam, train_size=len(self.train_data), src_vocab_size=len(self.src_vocab),
            tgt_vocab_size=len(self.tgt_vocab), unk_rates=unk, hyp_unk_rate=round(hyp_unk, 5), device=str(self.dev),
            train_precision=self.precision, torch_version=torch.__version__, threads=self.threads, cpu_kind=cpu_kind(),
            n_params=sum(x.numel() for x in self.model.parameters()), wall_seconds=round(time.time() - t_start, 1),
            dev_split=p.split_info(), select=select, artifacts=artifact_stamps(run_dir))
        print(f"{run_dir}: test BLEU {res['bleu']} chrF {res['chrf']} (best dev BLEU {state['best_dev_bleu']:.2f} at "
              f"step {state['best_step']}, {state['step']} steps, {state['train_seconds']:.0f} s training, "
              f"{res['decode_sents_per_s']} sent/s beam {cfg.beam})")
