"""compare/beam.py: the beam sweep on a trained tiny system — beam 1 is greedy search, the forced score
of a model's own output equals the beam's score, errors are counted against it."""
from __future__ import annotations

import torch

from compare import beam
from data.prepare import prepare
from nmt.data import ParallelData
from nmt.model import load_checkpoint
from nmt.search import beam_search, greedy
from nmt.vocab import Vocab


def test_beam_sweep_on_a_trained_model(isolated, tiny_corpus):
    from nmt import train
    assert train.main(["--corpus", str(tiny_corpus), "--src", "de", "--tgt", "en", "--profile", "tiny", "--threads", "1",
                       "--max-steps", "30", "--eval-every", "15", "--system", "rnnsearch"]) == 0
    run = isolated / "runs" / "tiny" / "de-en" / "rnnsearch"
    p = prepare(str(tiny_corpus), "de", "en", quiet=True)
    model, _ = load_checkpoint(run / "best.pt", "cpu")
    sv, tv = Vocab.load(run / "vocab.src.txt"), Vocab.load(run / "vocab.tgt.txt")
    src = [line.split() for line in open(p.file("test", "src"), encoding="utf-8")][:12]
    data = ParallelData.from_tokens(src, None, sv)
    b = data.collate(list(range(len(src))))
    with torch.inference_mode():
        g, _ = greedy(model, b.src, b.src_len, return_attention=False)
        k1, _ = beam_search(model, b.src, b.src_len, beam=1, length_penalty=0.0, return_attention=False)
        _, _, scores = beam_search(model, b.src, b.src_len, beam=3, length_penalty=1.0, return_attention=False,
                                   return_scores=True)
        k3, _ = beam_search(model, b.src, b.src_len, beam=3, length_penalty=1.0, return_attention=False)
    assert [list(map(int, h)) for h in k1] == [list(map(int, h)) for h in g]      # beam 1 = greedy
    # the forced score of the beam's own output is the score the beam reported (same objective)
    own = ParallelData.from_tokens(src, [tv.decode([int(x) for x in h]) for h in k3], sv, tv)
    forced = beam.forced_scores(model, own, 1.0)
    assert torch.allclose(torch.tensor(forced), torch.tensor([float(s) for s in scores], dtype=torch.float64), atol=1e-4)

    idx = beam.sweep_sample(p, 10)
    rows = beam.nmt_sweep(run, p, idx, [1, 3], length_penalties=(1.0, 0.0))
    assert [(r["beam"], r["length_penalty"]) for r in rows] == [(1, 1.0), (3, 1.0), (1, 0.0), (3, 0.0)]
    for r in rows:
        assert r["n"] == 10 and 0 <= r["search_errors"] + r["model_errors"] <= 1
    # beam 1 of the sweep = greedy decoding of the same sample, scored the same way
    assert rows[0]["bleu"] == rows[2]["bleu"]   # with one hypothesis the length penalty cannot matter
