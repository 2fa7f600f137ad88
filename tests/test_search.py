"""Search (nmt/search.py): greedy == beam 1, beam search is exact when exhaustive, batching does
not change results, length limits, attention outputs, and UNK replacement."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nmt import search
from nmt.model import ModelConfig, build_model
from nmt.vocab import BOS, EOS, PAD, UNK

torch.set_num_threads(1)


def tiny_model(arch="rnnsearch", tgt_vocab=19, seed=0, **kw):
    torch.manual_seed(seed)
    cfg = dict(emb=8, hidden=10, dropout=0.3) | kw
    return build_model(ModelConfig(arch, src_vocab=23, tgt_vocab=tgt_vocab, **cfg))


def batch(lengths, seed=0, vocab=23):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(4, vocab, (len(lengths), max(lengths)), generator=g)
    for i, n in enumerate(lengths):
        x[i, n:] = PAD
    return x, torch.tensor(lengths)


def scramble(model, std=1.0):
    """Re-draw every weight from N(0, std²): tiny default-initialised models are nearly constant;
    large weights make peaked, context-dependent distributions (and hypotheses of mixed lengths)."""
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, std)
    return model


@pytest.mark.parametrize("arch,kw", [("rnnsearch", {}), ("rnnenc", {}),
                                     ("rnnsearch", {"cell": "lstm", "attention": "luong-general"})])
def test_beam_1_equals_greedy(arch, kw):
    model = scramble(tiny_model(arch, **kw))
    src, src_len = batch([5, 2, 7, 3, 6, 1], seed=1)
    greedy_hyps, greedy_att = search.greedy(model, src, src_len)
    beam_hyps, beam_att = search.beam_search(model, src, src_len, beam=1)
    assert greedy_hyps == beam_hyps
    assert len({len(h) for h in greedy_hyps}) > 2                     # sentences end at different steps
    for g, b in zip(greedy_att, beam_att):
        assert (g is None and b is None) or np.allclose(g, b, atol=1e-6)
    assert model.training                                              # search restores the mode


def all_outputs(content, max_len):
    """Every output sequence (content tokens, then EOS) of at most ``max_len`` tokens, EOS included."""
    for n in range(max_len):
        yield from (list(seq) for seq in itertools.product(content, repeat=n))


def teacher_forced_log_prob(model, src, src_len, ys):
    """log p(y_1..y_n EOS | x) summed over the sequence, for many sequences of one source."""
    seqs = [y + [EOS] for y in ys]
    T = max(map(len, seqs))
    tgt_out = torch.tensor([s + [PAD] * (T - len(s)) for s in seqs])
    tgt_in = torch.tensor([[BOS] + s[:-1] + [PAD] * (T - len(s)) for s in seqs])
    n = len(seqs)
    with torch.no_grad():
        lp = F.log_softmax(model(src.expand(n, -1), src_len.expand(n), tgt_in), -1)
    tok_lp = lp.gather(2, tgt_out[:, :, None]).squeeze(2).masked_fill(tgt_out == PAD, 0.0)
    return tok_lp.sum(1).double(), torch.tensor([len(s) for s in seqs], dtype=torch.double)


@pytest.mark.parametrize("arch", ["rnnsearch", "rnnenc"])
def test_exhaustive_beam_finds_the_best_normalised_sequence(arch):
    """|V| = 7 (content: UNK and 3 words), at most 4 tokens with EOS: 1+4+16+64 = 85 outputs.
    A beam of 100 keeps every one, so beam search must return the exact argmax of
    log p(y|x) / |y|^alpha, with that score, for alpha = 0 (raw) and 1 (per token)."""
    model = scramble(tiny_model(arch, tgt_vocab=7, seed=3)).eval()
    content = [UNK, 4, 5, 6]
    candidates = list(all_outputs(content, 4))
    assert len(candidates) == 85
    src, src_len = batch([4, 6, 2], seed=4)
    best = {}
    for alpha in (0.0, 1.0):
        hyps, _, scores = search.beam_search(model, src, src_len, beam=100, max_len=4, length_penalty=alpha,
                                             return_scores=True)
        for b in range(3):
            n = int(src_len[b])
            lp, lengths = teacher_forced_log_prob(model, src[b:b + 1, :n], src_len[b:b + 1], candidates)
            norm = lp / lengths ** alpha
            k = int(norm.argmax())
            assert hyps[b] == candidates[k]
            assert scores[b] == pytest.approx(float(norm[k]), abs=1e-5)
        best[alpha] = hyps
    # exact search: normalising by length never picks a shorter output than the raw score does
    assert all(len(n) >= len(r) for n, r in zip(best[1.0], best[0.0]))
    assert best[1.0] != best[0.0]                                      # and here it matters


@pytest.mark.parametrize("beam", [1, 3])
def test_batching_does_not_change_results(beam):
    model = scramble(tiny_model(cell="lstm", seed=19))   # stops early in 3 of 5
    lengths = [6, 1, 4, 7, 2]
    src, src_len = batch(lengths, seed=8)
    hyps, atts = search.beam_search(model, src, src_len, beam=beam)
    for b, n in enumerate(lengths):
        h, a = search.beam_search(model, src[b:b + 1, :n], src_len[b:b + 1], beam=beam)
        assert h[0] == hyps[b]
        assert np.allclose(a[0], atts[b], atol=1e-5)


def test_length_limit_relative_to_source_and_never_pad_or_bos():
    model = tiny_model(seed=9)
    with torch.no_grad():                                              # never EOS; PAD/BOS favoured
        model.decoder.output.bias[EOS] = -1e4
        model.decoder.output.bias[PAD] = 1e4
        model.decoder.output.bias[BOS] = 1e4
    src, src_len = batch([2, 5], seed=10)
    for run in (lambda **k: search.greedy(model, src, src_len, **k),
                lambda **k: search.beam_search(model, src, src_len, beam=3, **k)):
        hyps, _ = run()                                                # floor(1.5|x| + 10) with EOS
        assert [len(h) for h in hyps] == [12, 16]
        hyps, _ = run(max_len_a=1.0, max_len_b=2)
        assert [len(h) for h in hyps] == [3, 6]
        hyps, _ = run(max_len=5)
        assert [len(h) for h in hyps] == [4, 4]
        assert all(t not in (PAD, BOS, EOS) for h in hyps for t in h)


@pytest.mark.parametrize("beam", [1, 4])
def test_attention_matrices_for_visualisation(beam):
    model = scramble(tiny_model(attention="bahdanau", seed=16))
    src, src_len = batch([5, 3, 6], seed=12)
    hyps, atts = search.beam_search(model, src, src_len, beam=beam)
    for h, a, n in zip(hyps, atts, [5, 3, 6]):
        assert a.shape == (len(h), n) and a.dtype == np.float32
        assert np.allclose(a.sum(1), 1.0, atol=1e-5)
    _, none = search.beam_search(tiny_model("rnnenc"), src, src_len, beam=beam)
    assert none == [None, None, None]


def test_unk_replace_hand_worked():
    hyp = ["the", "<unk>", "sat", "on", "<unk>"]
    src = ["le", "chat", "s'est", "assis", "sur", "tapis"]
    att = np.zeros((5, 8))                                              # 2 extra (padding) columns
    att[1, 1] = 0.7                                                     # <unk> #1 looks at "chat"
    att[4, 5] = 0.6                                                     # <unk> #2 looks at "tapis"
    att[4, 7] = 0.9                                                     # beyond the source: ignored
    assert search.unk_replace(hyp, src, att) == ["the", "chat", "sat", "on", "tapis"]
    assert search.unk_replace(hyp, src, att, {"chat": "cat"}) == ["the", "cat", "sat", "on", "tapis"]
    assert search.unk_replace(["a", "b"], src, att[:2]) == ["a", "b"]


def test_max_lengths():
    assert search.max_lengths(torch.tensor([1, 4, 7])).tolist() == [11, 16, 20]
    assert search.max_lengths(torch.tensor([4]), max_len=9).tolist() == [9]
    assert search.max_lengths(torch.tensor([4]), max_len_a=0.0, max_len_b=0).tolist() == [1]
