"""NMT vocabulary, batching, training loop (resume), the train/translate CLIs."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from data.io import UserError, read_lines, write_lines
from evaluation.score import bleu
from nmt.data import ParallelData, make_batches, padded_size, shard
from nmt.vocab import BOS, EOS, PAD, UNK, Vocab, build_vocab, unk_rate
from tests.helpers import ROOT, make_tiny_corpus

torch.set_num_threads(1)

# ---------------------------------------------------------------------------------------------
# vocabulary


def test_vocab_cap_ties_and_unk_rate(tmp_path):
    train = [s.split() for s in ["a b c a", "b a d", "e a"]]  # a:4 b:2, then c d e once each
    v = build_vocab(train, max_size=6)                     # 4 specials + 2 words
    assert v.itos == ["<pad>", "<unk>", "<s>", "</s>", "a", "b"] and len(v) == 6
    assert (PAD, UNK, BOS, EOS) == (0, 1, 2, 3)
    # ties (c, d, e all once) are broken by first occurrence: c before d before e
    assert build_vocab(train, max_size=7).itos[4:] == ["a", "b", "c"]
    assert build_vocab(train, max_size=None).itos[4:] == ["a", "b", "c", "d", "e"]
    assert v.encode("a z b c".split()) == [4, UNK, 5, UNK]
    assert v.decode([BOS, 4, 5, 1, EOS, 4]) == ["a", "b", "<unk>"]
    # unk rate: c, d, e are 3 of the 9 training tokens; "a z z b" has 2 of 4
    assert unk_rate(train, v) == pytest.approx(3 / 9)
    assert unk_rate([["a", "z", "z", "b"]], v) == 0.5
    v.save(tmp_path / "v.txt")
    assert read_lines(tmp_path / "v.txt") == v.itos and Vocab.load(tmp_path / "v.txt") == v
    write_lines(tmp_path / "bad.txt", ["a", "b"])
    with pytest.raises(UserError, match="bad.txt:1: .*must start with"):
        Vocab.load(tmp_path / "bad.txt")
    with pytest.raises(UserError, match="too small"):
        build_vocab(train, max_size=4)


# ---------------------------------------------------------------------------------------------
# batching


def test_token_batches_cover_each_pair_once_within_budget():
    rng = np.random.default_rng(0)
    src_lens = rng.integers(1, 40, size=1000)
    tgt_lens = rng.integers(1, 40, size=1000)
    cost = padded_size(src_lens, tgt_lens)
    for epoch in (0, 1):
        batches = make_batches(src_lens, tgt_lens, batch_tokens=200, seed=7, epoch=epoch, pool_size=300)
        flat = sorted(i for b in batches for i in b)
        assert flat == list(range(1000))                    # every pair exactly once
        for b in batches:                                    # padded size within the token budget
            assert len(b) * cost[b].max() <= 200
        assert batches == make_batches(src_lens, tgt_lens, batch_tokens=200, seed=7, epoch=epoch, pool_size=300)
    e0 = make_batches(src_lens, tgt_lens, batch_tokens=200, seed=7, epoch=0, pool_size=300)
    e1 = make_batches(src_lens, tgt_lens, batch_tokens=200, seed=7, epoch=1, pool_size=300)
    assert e0 != e1                                          # a new order every epoch
    # bucketing: far less padding than random batches of the same sizes
    pad_bucketed = sum(len(b) * cost[b].max() - cost[b].sum() for b in e0)
    assert pad_bucketed < 0.2 * cost.sum()
    # a pair longer than the budget gets a batch of its own; sentence caps are honoured
    b = make_batches(np.array([3, 50, 2]), np.array([3, 50, 2]), batch_tokens=20, batch_sents=2, shuffle=False)
    assert b == [[1], [0, 2]]
    # data-parallel shards: disjoint, equal counts
    s0, s1 = shard(e0, 0, 2), shard(e0, 1, 2)
    assert len(s0) == len(s1) == len(e0) // 2 and not {tuple(x) for x in s0} & {tuple(x) for x in s1}


def test_collate_teacher_forcing_and_masks():
    v = Vocab(["a", "b", "c"])  # ids 4 5 6
    data = ParallelData.from_tokens([["a", "b"], ["c"]], [["c"], ["a", "x", "b"]], v, v)
    b = data.collate([0, 1])
    assert b.src.tolist() == [[4, 5], [6, PAD]] and b.src_len.tolist() == [2, 1]
    assert b.tgt_in.tolist() == [[BOS, 6, PAD, PAD], [BOS, 4, UNK, 5]]
    assert b.tgt_out.tolist() == [[6, EOS, PAD, PAD], [4, UNK, 5, EOS]]
    assert b.n_tgt_tokens == 6 and b.src_mask.tolist() == [[True, True], [True, False]]


# ---------------------------------------------------------------------------------------------
# training: exact resume, artifacts, translate CLI


def _log(run: Path) -> list[dict]:
    """train.log records (a line being written right now, cut short, is skipped)."""
    out = []
    for line in (run / "train.log").read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return out


def _train(corpus: Path, *extra: str) -> int:
    from nmt import train
    return train.main(["--corpus", str(corpus), "--src", "de", "--tgt", "en", "--profile", "tiny", "--threads", "1",
                       "--dropout", "0.3", "--word-dropout-src", "0.2", "--word-dropout-tgt", "0.1", "--eval-every", "3", "--log-every", "1", "--patience", "100", *extra])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Runs A (6 steps, stop, then continued to 10) and B (10 in one go) on a tiny corpus, shared by
    the tests below; yields (root, corpus, runs folder, the prepared corpus)."""
    from data.prepare import prepare
    root = tmp_path_factory.mktemp("nmt")
    corpus = make_tiny_corpus(root / "tiny")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MT_BUILD_DIR", str(root / "build"))
        mp.setenv("MT_RUNS_DIR", str(root / "runs"))
        mp.setenv("MT_NO_PROGRESS", "1")
        assert _train(corpus, "--max-steps", "6", "--system", "A") == 0
        assert _train(corpus, "--max-steps", "10", "--system", "A") == 0
        assert _train(corpus, "--max-steps", "10", "--system", "B") == 0
        yield root, corpus, root / "runs" / "tiny" / "de-en", prepare(str(corpus), "de", "en")


def test_resume_gives_the_same_losses_as_one_run(trained):
    # Dropout and word dropout are on, so equal losses need the restored RNG states, Adam moments, LR schedule and data position.
    _, _, runs, _ = trained
    log_a, log_b = _log(runs / "A"), _log(runs / "B")
    loss_a = {r["step"]: r["loss"] for r in log_a if r["event"] == "train"}
    loss_b = {r["step"]: r["loss"] for r in log_b if r["event"] == "train"}
    assert sorted(loss_a) == sorted(loss_b) == list(range(1, 11))
    for step in range(1, 11):
        assert abs(loss_a[step] - loss_b[step]) < 1e-6, (step, loss_a[step], loss_b[step])
    assert len(set(loss_b.values())) == 10                    # the losses really change step to step
    resumes = [r for r in log_a if r["event"] == "resume"]
    assert [(r["step"], r["batch_in_epoch"]) for r in resumes] == [(6, 6)]
    assert [r["dev_bleu"] for r in log_a if r["event"] == "eval"] == [r["dev_bleu"] for r in log_b if r["event"] == "eval"]


def test_artifacts_and_checkpoint_contract(trained):
    _, _, runs, p = trained
    b = runs / "B"
    for name in ("best.pt", "last.pt", "vocab.src.txt", "vocab.tgt.txt", "vocab.json", "train.log", "test.hyp",
                 "test.tok.hyp", "attention.npz", "test.unk_rate", "scores.json"):
        assert (b / name).is_file(), name
    ckpt = torch.load(b / "last.pt", map_location="cpu", weights_only=False)
    for key in ("model_config", "model_state", "optimizer_state", "scheduler_state", "step", "epoch", "batch_in_epoch",
                "rng_states", "best_dev_bleu", "train_config", "src_vocab", "tgt_vocab"):
        assert key in ckpt, key
    assert ckpt["step"] == 10 and ckpt["model_config"]["dropout"] == 0.3
    scores = json.loads((b / "scores.json").read_text())
    assert scores["steps"] == 10 and scores["seed"] == 1234 and scores["n"] == 30 and scores["train_size"] == 200
    assert scores["train_config"] == ckpt["train_config"] == scores["settings"]["train_config"]
    assert len(read_lines(b / "test.hyp", allow_empty_lines=True)) == 30
    # dev's select part decoded once with the best checkpoint (what choices are made on), scored as test is
    assert scores["dev_split"]["select"] == scores["select"]["sentences"] == 15
    select_hyps = read_lines(b / "select.hyp", allow_empty_lines=True)
    assert scores["select"]["score"]["bleu"] == pytest.approx(bleu(select_hyps, read_lines(p.ref("select"))).score, abs=0.01)
    # vocab.json's UNK rates are those of the saved vocabularies on the prepared files
    vj = json.loads((b / "vocab.json").read_text())
    v_tgt = Vocab.load(b / "vocab.tgt.txt")
    assert len(v_tgt) == vj["tgt_size"] <= 500
    test_en = [line.split() for line in read_lines(p.file("test", "tgt"))]
    assert vj["unk_rate"]["test"]["tgt"] == round(unk_rate(test_en, v_tgt), 5) > 0
    att = np.load(b / "attention.npz")
    assert len(att["index"]) == 20 and att["att_0"].shape == (len(str(att["hyp"][0]).split()), len(str(att["src"][0]).split()))


def test_translate_cli_reproduces_the_test_output(trained):
    """translate with the same beam gives the training run's test output (tokenised, then post-processed)."""
    from nmt import translate
    root, _, runs, p = trained
    b, out = runs / "B", root / "out.txt"
    assert translate.main(["--checkpoint", str(b / "best.pt"), "--input", str(p.file("test", "src")),
                           "--output", str(out), "--beam", "3", "--device", "cpu", "--threads", "1"]) == 0
    assert read_lines(out, allow_empty_lines=True) == read_lines(b / "test.tok.hyp", allow_empty_lines=True)
    assert translate.main(["--checkpoint", str(b / "best.pt"), "--input", str(p.file("test", "src")), "--output", str(out),
                           "--beam", "3", "--device", "cpu", "--threads", "1", "--postprocess"]) == 0
    assert read_lines(out, allow_empty_lines=True) == read_lines(b / "test.hyp", allow_empty_lines=True)
    with pytest.raises(UserError, match="--beam must be 1-1,000"):
        translate.main(["--checkpoint", str(b / "best.pt"), "--input", str(out), "--output", str(out), "--beam", "0"])
    with pytest.raises(UserError, match="no such checkpoint"):
        translate.main(["--checkpoint", str(b / "nope.pt"), "--input", str(out), "--output", str(out)])


def test_unk_replace_copies_the_attended_source_word(trained):
    """--unk-replace: every <unk> becomes the most-attended source word (a copy: no lexical table);
    a 12-entry vocabulary makes <unk> the commonest target word."""
    from nmt import translate
    root, corpus, runs, p = trained
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MT_BUILD_DIR", str(root / "build"))
        mp.setenv("MT_RUNS_DIR", str(root / "runs"))
        mp.setenv("MT_NO_PROGRESS", "1")
        assert _train(corpus, "--max-steps", "6", "--system", "U", "--vocab-size", "12") == 0
    greedy_out, repl_out = root / "greedy.txt", root / "repl.txt"
    for path, flags in ((greedy_out, []), (repl_out, ["--unk-replace"])):
        assert translate.main(["--checkpoint", str(runs / "U" / "best.pt"), "--input", str(p.file("test", "src")),
                               "--output", str(path), "--greedy", "--threads", "1", *flags]) == 0
    g, r = read_lines(greedy_out, allow_empty_lines=True), read_lines(repl_out, allow_empty_lines=True)
    assert sum(x.count("<unk>") for x in g) > 0 and sum(x.count("<unk>") for x in r) == 0
    assert [len(x.split()) for x in g] == [len(x.split()) for x in r]


def test_options_come_from_one_config_dataclass():
    """Every TrainConfig field with help has a flag; profile values and flags resolve in that order;
    off options stay out of the recorded config; the resume key leaves out the stop/decode settings."""
    from nmt import config, train
    ap = train.build_parser()
    flags = {a.dest for a in ap._actions}
    for f in config.fields_with_flag("override") + config.fields_with_flag("main"):
        assert f.name in flags, f.name
    cfg = config.resolve(ap.parse_args(["--profile", "quick", "--arch", "rnnenc", "--lr", "0.001"]))
    assert cfg.lr == 0.001 and cfg.reverse_source is True and cfg.max_steps == 2000   # flag, then per_arch
    d = config.resolve(ap.parse_args(["--profile", "tiny"])).to_dict()
    assert "amp" not in d and "reverse_source" not in d and "bpe_merges" not in d and d["arch"] == "rnnsearch"
    key = config.resolve(ap.parse_args(["--profile", "tiny", "--beam", "7"])).resume_key("H")
    assert key == config.resolve(ap.parse_args(["--profile", "tiny"])).resume_key("H") and "beam" not in key
    assert key["corpus_hash"] == "H" and key["emb"] == 32
    with pytest.raises(UserError, match="--dropout must be in"):
        config.resolve(ap.parse_args(["--profile", "tiny", "--dropout", "1.5"]))


def _cli(args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nmt", "train", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_kill_9_then_rerun_resumes_and_a_finished_run_is_not_redone(tmp_path):
    corpus = make_tiny_corpus(tmp_path / "tiny")
    env = dict(os.environ, MT_BUILD_DIR=str(tmp_path / "build"), MT_RUNS_DIR=str(tmp_path / "runs"),
               MT_NO_PROGRESS="1", PYTHONPATH=str(ROOT))
    args = ["--corpus", str(corpus), "--src", "de", "--tgt", "en", "--profile", "tiny", "--threads", "1",
            "--arch", "rnnenc", "--epochs", "50", "--max-steps", "100", "--save-every", "5", "--log-every", "5",
            "--eval-every", "1000"]
    run = tmp_path / "runs" / "tiny" / "de-en" / "rnnenc"
    proc = _cli(args, env)
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if (run / "last.pt").is_file() and any(r.get("step", 0) >= 20 for r in _log(run)):
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run / "scores.json").exists()
    killed_at = max(r.get("step", 0) for r in _log(run))
    assert 20 <= killed_at < 100
    proc = _cli(args, env)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    log = _log(run)
    resume = [r for r in log if r["event"] == "resume"]
    assert len(resume) == 1 and 15 <= resume[0]["step"] <= killed_at and resume[0]["step"] % 5 == 0
    steps = [r["step"] for r in log if r["event"] == "train"]
    assert steps == list(range(5, 105, 5))                   # no step lost, none logged twice
    assert log[-1]["event"] == "stop" and log[-1]["step"] == 100 and (run / "scores.json").is_file()
    scores = json.loads((run / "scores.json").read_text())
    assert scores["arch"] == "rnnenc" and scores["steps"] == 100
    # finished: a re-run does nothing
    mtime = (run / "scores.json").stat().st_mtime_ns
    proc = _cli(args, env)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "up to date" in out and (run / "scores.json").stat().st_mtime_ns == mtime


def test_bad_input_is_one_line_without_traceback(isolated, tiny_corpus, capsys):
    from data.io import run_cli
    from nmt.__main__ import main

    def cli(*args):
        with pytest.raises(SystemExit) as exc:
            run_cli(main, ["train", "--src", "de", "--tgt", "en", "--profile", "tiny", *args])
        err = capsys.readouterr().err
        assert exc.value.code == 2 and "Traceback" not in err and err.count("\n") == 1 and err.startswith("error: ")
        return err

    assert "missing" in cli("--corpus", str(isolated / "missing"))
    assert "--vocab-size must be positive" in cli("--corpus", str(tiny_corpus), "--vocab-size", "0")
    assert "too small" in cli("--corpus", str(tiny_corpus), "--vocab-size", "3")
    assert "not a device" in cli("--corpus", str(tiny_corpus), "--device", "gpu0")
    if not torch.cuda.is_available():  # on a CUDA machine this would train: checked by test_pick_device instead
        assert "CUDA is not available" in cli("--corpus", str(tiny_corpus), "--device", "cuda")
    assert not any((isolated / "runs").rglob("*.pt"))


def test_pick_device(monkeypatch):
    from data.io import UserError
    from nmt import runtime
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert runtime.pick_device("auto").type == "cpu" and runtime.pick_device("cpu").type == "cpu"
    for name, msg in (("cuda", "CUDA is not available"), ("mps", "MPS is not available"), ("gpu0", "not a device")):
        with pytest.raises(UserError, match=msg):
            runtime.pick_device(name)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert runtime.pick_device("auto").type == "cuda"


def test_dev_still_rising_marks_budget_stops():
    from nmt.trainer import dev_still_rising
    ev = lambda *xs: [{"step": 100 * (i + 1), "dev_bleu": x} for i, x in enumerate(xs)]
    assert dev_still_rising(ev(1.0, 2.0, 3.5))          # best at the last evaluation, still climbing
    assert not dev_still_rising(ev(1.0, 3.0, 2.5))      # peaked before the stop
    assert not dev_still_rising(ev(1.0, 3.0, 3.0))      # flat at the top: no longer rising
    assert dev_still_rising(ev(4.0)) and not dev_still_rising([])


def test_a_finished_run_records_its_threads_and_is_retrained_for_another_count(trained, capsys):
    """scores.json records the thread count and CPU kind; re-running with the same count does
    nothing, with another --threads it says why in one line and trains again (NMT's last bits
    depend on the count: `make nmt` with all cores, then `make report` with 1)."""
    _, corpus, runs, _ = trained
    before = torch.get_num_threads()
    assert json.loads((runs / "B" / "scores.json").read_text())["threads"] == 1
    assert "cpu_kind" in json.loads((runs / "B" / "scores.json").read_text())
    capsys.readouterr()
    assert _train(corpus, "--max-steps", "10", "--system", "B") == 0
    assert "up to date" in capsys.readouterr().out
    try:
        assert _train(corpus, "--max-steps", "10", "--system", "B", "--threads", "2") == 0
    finally:
        torch.set_num_threads(before)
    err = capsys.readouterr().err
    assert "trained with 1 thread(s), --threads 2 asked: retraining" in err
    assert json.loads((runs / "B" / "scores.json").read_text())["threads"] == 2
