"""Word dropout (nmt.encoders.WordDropout; Sennrich & Zhang 2019 §3.2): whole token embeddings
dropped per position in training only, an exact count on a fixed seed, PAD/BOS never dropped,
rate 0 = the model without it bit for bit, eval never drops, and the option's flags."""
from __future__ import annotations

import pytest
import torch

from data.io import UserError
from nmt.encoders import WordDropout
from nmt.model import ModelConfig, build_model
from nmt.vocab import BOS, PAD

torch.set_num_threads(1)


def _ids():
    """[3, 6]: BOS first, PAD after each length; 11 droppable tokens."""
    return torch.tensor([[BOS, 7, 8, 9, 10, 11],
                         [BOS, 5, 6, PAD, PAD, PAD],
                         [BOS, 12, 13, 14, 15, PAD]])


def test_drops_whole_tokens_with_the_exact_count_of_the_seeded_draw():
    ids, p = _ids(), 0.4
    emb = torch.randn(*ids.shape, 5)
    emb[ids == PAD] = 0.0
    wd = WordDropout(p).train()
    torch.manual_seed(7)
    out = wd(emb, ids)
    torch.manual_seed(7)
    draw = torch.rand(ids.shape) < p                            # the same draw, written out
    droppable = (ids != PAD) & (ids != BOS)
    dropped = (out == 0).all(-1) & droppable
    assert torch.equal(dropped, draw & droppable)
    assert int(dropped.sum()) == int((draw & droppable).sum()) == 5   # of the 11 droppable tokens (p·11 = 4.4)
    kept = droppable & ~dropped                                 # whole vectors kept, scaled by 1/(1-p)
    assert torch.allclose(out[kept], emb[kept] / (1 - p), rtol=0, atol=1e-6)
    assert torch.equal(out[ids == BOS], emb[ids == BOS]) and torch.equal(out[ids == PAD], emb[ids == PAD])


def test_rate_p_drops_about_p_of_the_tokens():
    ids = torch.randint(4, 100, (200, 100), generator=torch.Generator().manual_seed(1))
    torch.manual_seed(3)
    out = WordDropout(0.3).train()(torch.ones(200, 100, 4), ids)
    share = float((out == 0).all(-1).float().mean())
    assert abs(share - 0.3) < 4 * (0.3 * 0.7 / ids.numel()) ** 0.5   # within 4 sd of the binomial


def _model(wd_src: float, wd_tgt: float, arch: str = "rnnsearch"):
    torch.manual_seed(0)
    return build_model(ModelConfig(arch, 23, 19, emb=8, hidden=10, dropout=0.3,
                                   word_dropout_src=wd_src, word_dropout_tgt=wd_tgt))


def _batch():
    g = torch.Generator().manual_seed(2)
    src = torch.randint(4, 23, (4, 7), generator=g)
    tgt = torch.randint(4, 19, (4, 5), generator=g)
    tgt[:, 0] = BOS
    src[1, 5:] = PAD
    return src, torch.tensor([7, 5, 7, 7]), tgt


@pytest.mark.parametrize("arch", ["rnnenc", "rnnsearch"])
def test_rate_zero_is_the_model_without_word_dropout_bit_for_bit(arch):
    """At 0 the modules draw nothing: same logits, gradients and RNG state as with them removed."""
    src, src_len, tgt = _batch()
    results = []
    for remove in (False, True):
        model = _model(0.0, 0.0, arch).train()
        if remove:
            for m in (model.encoder, model.decoder):
                m.word_dropout.forward = lambda emb, ids: emb
        torch.manual_seed(5)
        logits = model(src, src_len, tgt)
        logits.sum().backward()
        results.append((logits, [p.grad for p in model.parameters()], torch.get_rng_state()))
    (a, ga, ra), (b, gb, rb) = results
    assert torch.equal(a, b) and torch.equal(ra, rb)
    assert all(torch.equal(x, y) for x, y in zip(ga, gb))


def test_training_drops_and_eval_never_does():
    src, src_len, tgt = _batch()
    on, off = _model(0.5, 0.5), _model(0.0, 0.0)
    on.eval(), off.eval()
    with torch.no_grad():
        assert torch.equal(on(src, src_len, tgt), off(src, src_len, tgt))
        on.encoder.train()                      # only the source side's word dropout (nn.Dropout stays off)
        on.encoder.dropout.eval()
        torch.manual_seed(1)
        assert not torch.allclose(on(src, src_len, tgt), off(src, src_len, tgt))


def test_flags_off_value_and_validation():
    from nmt import config, train
    ap = train.build_parser()
    cfg = config.resolve(ap.parse_args(["--profile", "tiny", "--word-dropout-src", "0.1", "--word-dropout-tgt", "0.2"]))
    assert (cfg.word_dropout_src, cfg.word_dropout_tgt) == (0.1, 0.2)
    assert cfg.resume_key("H")["word_dropout_src"] == 0.1       # a change starts afresh
    d = config.resolve(ap.parse_args(["--profile", "tiny"])).to_dict()
    assert "word_dropout_src" not in d and "word_dropout_tgt" not in d   # off: older runs stay current
    with pytest.raises(UserError, match="--word-dropout-tgt must be in"):
        config.resolve(ap.parse_args(["--profile", "tiny", "--word-dropout-tgt", "1.0"]))
