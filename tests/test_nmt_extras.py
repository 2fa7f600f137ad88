"""The optional NMT settings: BPE subword units (nmt/bpe.py), the sampled softmax
(nmt/sampled_softmax.py) and bf16 mixed precision for training (nmt/train.py ``--amp``)."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from data.io import UserError, read_lines
from nmt.bpe import BPE, merge_subwords
from nmt.model import ModelConfig, build_model
from nmt.sampled_softmax import batch_vocabulary
from nmt.vocab import BOS, PAD
from tests.helpers import SHARED

torch.set_num_threads(1)

# ---------------------------------------------------------------------------------------------
# BPE

# Sennrich et al. (2016)'s toy vocabulary, word-final symbols attached to the last character:
# l o w</w> ×5, l o w e s t</w> ×2, n e w e r</w> ×6, w i d e r</w> ×3.  Worked by hand: the
# pair counts are (e,r</w>) 9, (w,e) 8, (l,o) 7, (n,e) (e,w) 6, (o,w</w>) 5, ...; after each merge
# only the words holding the pair change; ties go to the smaller pair.
TOY = [["low"]] * 5 + [["lowest"]] * 2 + [["newer"]] * 6 + [["wider"]] * 3
TOY_MERGES = [("e", "r</w>"), ("l", "o"), ("e", "w"), ("ew", "er</w>"), ("n", "ewer</w>"), ("lo", "w</w>"),
              ("d", "er</w>"), ("i", "der</w>"), ("w", "ider</w>"), ("e", "s")]


def test_bpe_learns_the_hand_worked_merges_in_order():
    assert BPE.learn(TOY, 10).merges == TOY_MERGES
    assert BPE.learn(TOY, 3).merges == TOY_MERGES[:3]
    # min_frequency: after the 9 merges of count >= 3 only pairs seen twice remain
    assert len(BPE.learn(TOY, 100, min_frequency=3)) == 9


def test_bpe_segments_by_merge_rank_and_round_trips(tmp_path):
    bpe = BPE(TOY_MERGES)
    assert bpe.segment(["lowest", "newer", "lower", "x", "low"]) == \
        ["lo@@", "w@@", "es@@", "t", "newer", "lo@@", "w@@", "er", "x", "low"]
    bpe.save(tmp_path / "codes")
    assert BPE.load(tmp_path / "codes").merges == TOY_MERGES
    (tmp_path / "bad").write_text("a b\nonly\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"bad:2: not a BPE merge"):
        BPE.load(tmp_path / "bad")
    assert merge_subwords(["lo@@", "w@@", "es@@", "t", "newer", "ab@@"]) == ["lowest", "newer", "ab"]


def test_bpe_on_real_text_round_trips_and_shrinks_the_vocabulary():
    with gzip.open(SHARED / "multi30k" / "train.de.gz", "rt", encoding="utf-8") as fh:
        sents = [next(fh).split() for _ in range(3000)]
    bpe = BPE.learn(sents, 1000)
    assert len(bpe) == 1000
    seg = [bpe.segment(s) for s in sents]
    assert all(merge_subwords(u) == s for u, s in zip(seg, sents))
    words, units = {w for s in sents for w in s}, {u for s in seg for u in s}
    chars = {c for w in words for c in w}
    # every unit is a character or a merge result, with or without the continuation mark
    learned = {a + b for a, b in bpe.merges} | chars
    assert {u.removesuffix("@@").removesuffix("</w>") for u in units} <= {x.removesuffix("</w>") for x in learned}
    assert len(units) < len(words) / 2                     # far fewer types, somewhat longer sentences
    assert sum(map(len, sents)) < sum(map(len, seg)) < 2 * sum(map(len, sents))


# ---------------------------------------------------------------------------------------------
# sampled softmax

def test_batch_vocabulary_holds_every_target_and_reindexes_them():
    torch.manual_seed(0)
    tgt = torch.tensor([[5, 9, 3, 0], [9, 40, 7, 3]])
    ids, targets = batch_vocabulary(tgt, 50, 12)
    assert ids.numel() == 12 and len(set(ids.tolist())) == 12
    assert ids[:8].tolist() == [0, 1, 2, 3, 5, 7, 9, 40]    # specials, then the batch's words, sorted
    assert torch.equal(ids[targets], tgt)                  # PAD stays 0 (ignored by the loss)
    assert targets[0, 3] == PAD
    # K smaller than the batch's words: all targets are kept anyway
    ids2, t2 = batch_vocabulary(tgt, 50, 3)
    assert ids2.tolist() == [0, 1, 2, 3, 5, 7, 9, 40] and torch.equal(ids2[t2], tgt)
    # the negatives come from the RNG: same seed, same subset
    torch.manual_seed(1)
    a, _ = batch_vocabulary(tgt, 50, 20)
    torch.manual_seed(1)
    b, _ = batch_vocabulary(tgt, 50, 20)
    assert torch.equal(a, b)


@pytest.mark.parametrize("arch,attention", [("rnnenc", "bahdanau"), ("rnnsearch", "bahdanau"),
                                            ("rnnsearch", "luong-general")])
def test_subset_logits_are_the_full_logits_restricted(arch, attention):
    torch.manual_seed(3)
    model = build_model(ModelConfig(arch, src_vocab=30, tgt_vocab=40, emb=8, hidden=10, attention=attention)).eval()
    src = torch.randint(4, 30, (2, 5))
    tgt = torch.randint(4, 40, (2, 4))
    tgt[:, 0] = BOS
    ids = torch.tensor([0, 1, 2, 3, 17, 5, 33])
    with torch.no_grad():
        full = model(src, torch.tensor([5, 5]), tgt)
        sub = model(src, torch.tensor([5, 5]), tgt, output_ids=ids)
    assert sub.shape == (2, 4, 7)
    assert torch.allclose(sub, full[..., ids], atol=1e-6)
    # the sampled loss is the cross-entropy of the softmax renormalised over the subset
    targets = torch.tensor([[4, 5, 6, 0], [4, 4, 6, 3]])
    loss = F.cross_entropy(sub.reshape(-1, 7), targets.reshape(-1), ignore_index=PAD, reduction="sum")
    manual = -sum(torch.log_softmax(full[b, t, ids], -1)[targets[b, t]] for b in range(2) for t in range(4)
                  if targets[b, t] != PAD)
    assert torch.allclose(loss, manual, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# the trainer with all three options

def test_train_with_bpe_sampled_softmax_and_bf16(isolated, tiny_corpus):
    from nmt import runtime, train
    assert runtime.resolve_amp("off", torch.device("cpu")) is None
    assert runtime.resolve_amp("bf16", torch.device("cpu")) == torch.bfloat16
    assert runtime.resolve_amp("auto", torch.device("cpu")) == (torch.bfloat16 if runtime.cpu_has_fast_bf16() else None)
    args = ["--corpus", str(tiny_corpus), "--src", "de", "--tgt", "en", "--profile", "tiny", "--threads", "1",
            "--max-steps", "8", "--eval-every", "4", "--log-every", "1", "--system", "x",
            "--bpe-merges", "300", "--sampled-softmax", "60", "--amp", "bf16"]
    assert train.main(args) == 0
    run = isolated / "runs" / "tiny" / "de-en" / "x"
    codes = BPE.load(run / "bpe.codes")
    assert len(codes) == 300
    vocab = json.loads((run / "vocab.json").read_text())
    assert vocab["units"] == "bpe (300 merges)" and vocab["unk_rate"]["train"]["tgt"] == 0.0
    hyps = read_lines(run / "test.tok.hyp", allow_empty_lines=True)
    assert not any("@@" in h for h in hyps)                # units were merged back into words
    scores = json.loads((run / "scores.json").read_text())
    assert scores["train_precision"] == "bfloat16 autocast"
    assert scores["train_config"]["sampled_softmax"] == 60 and scores["steps"] == 8
    losses = [r["loss"] for r in map(json.loads, (run / "train.log").read_text().splitlines()) if r["event"] == "train"]
    assert len(losses) == 8 and losses[-1] < losses[0] < 5.0  # ≈ log 60, not log |V|: the subset softmax
    # translate applies the same BPE to new input and merges the output
    from nmt import translate
    src = tiny_corpus / "test.de"
    out = isolated / "out.txt"
    from data.prepare import prepare
    p = prepare(str(tiny_corpus), "de", "en", quiet=True)
    assert translate.main(["--checkpoint", str(run / "best.pt"), "--input", str(p.file("test", "src")),
                           "--output", str(out), "--greedy", "--threads", "1"]) == 0
    assert len(read_lines(out, allow_empty_lines=True)) == len(read_lines(src)) and "@@" not in out.read_text()
    # a word-level run in the same folder removes the stale codes
    assert train.main([a for a in args if a not in ("--bpe-merges", "300")] + ["--force"]) == 0
    assert not (run / "bpe.codes").exists()


# ---------------------------------------------------------------------------------------------
# UNK replacement with a lexical table (Luong et al. 2015)

def test_lex_table_from_a_phrase_table_or_tsv_feeds_unk_replacement(tmp_path):
    from nmt.search import unk_replace
    from nmt.translate import load_lex_table
    pt = tmp_path / "phrase-table"
    pt.write_text("das ||| the house ||| 0.5 0.5 0.9 0.5\n"     # best φ(e|f), but two words
                  "das ||| the ||| 0.5 0.5 0.6 0.5\n"
                  "Haus ||| home ||| 0.5 0.5 0.2 0.5\n"
                  "Haus ||| house ||| 0.5 0.5 0.8 0.5\n"
                  "groß ist ||| is big ||| 0.5 0.5 0.5 0.5\n", encoding="utf-8")
    assert load_lex_table(pt) == {"das": "the", "Haus": "house"}
    assert load_lex_table(pt, {"Haus", "Auto"}) == {"Haus": "house"}
    lex = load_lex_table(pt)
    att = [[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]]
    assert unk_replace(["<unk>", "is", "<unk>"], ["Fahrrad", "Haus"], att, lex) == ["house", "is", "house"]
    assert unk_replace(["<unk>", "<unk>"], ["Fahrrad", "Haus"], [[0.9, 0.1], [0.4, 0.6]], lex) == ["Fahrrad", "house"]
    tsv = tmp_path / "lex.tsv"
    tsv.write_text("Haus\thouse\n\nAuto car\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"lex.tsv:3: expected 'source<TAB>target'"):
        load_lex_table(tsv)
    tsv.write_text("Haus\thouse\nHaus\thome\nAuto\tcar\n", encoding="utf-8")
    assert load_lex_table(tsv, {"Haus"}) == {"Haus": "house"}
    with pytest.raises(UserError, match="no such lexical table"):
        load_lex_table(tmp_path / "nope")


def test_reverse_source_in_training_and_translation(isolated, tiny_corpus):
    """--reverse-source (Sutskever et al. 2014): recorded in the config, and `nmt translate` reverses new
    input the same way, so it reproduces the trainer's own beam output of the test set."""
    from data.prepare import prepare
    from nmt import train, translate
    args = ["--corpus", str(tiny_corpus), "--src", "de", "--tgt", "en", "--profile", "tiny", "--threads", "1",
            "--arch", "rnnenc", "--max-steps", "6", "--eval-every", "3", "--system", "rev", "--reverse-source",
            "--beam", "2"]
    assert train.main(args) == 0
    run = isolated / "runs" / "tiny" / "de-en" / "rev"
    scores = json.loads((run / "scores.json").read_text())
    assert scores["train_config"]["reverse_source"] is True
    p = prepare(str(tiny_corpus), "de", "en", quiet=True)
    out = isolated / "rev.txt"
    assert translate.main(["--checkpoint", str(run / "best.pt"), "--input", str(p.file("test", "src")),
                           "--output", str(out), "--beam", "2", "--threads", "1"]) == 0
    assert read_lines(out, allow_empty_lines=True) == read_lines(run / "test.tok.hyp", allow_empty_lines=True)
