"""The faster formulations of nmt/ compute what the plain ones do: the CPU encoder's padded, fused
GRU calls (nmt.encoders.RecurrentEncoder._gru_padded) equal the packed nn.GRU call — annotations,
final states and gradients, fp32, on a fixed seed — and keep the state_dict's keys."""
from __future__ import annotations

import pytest
import torch

from nmt.encoders import RecurrentEncoder
from nmt.vocab import PAD

torch.set_num_threads(1)


@pytest.mark.parametrize("bidirectional,layers", [(True, 1), (True, 2), (False, 1), (False, 2)])
def test_padded_gru_encoder_equals_the_packed_call(bidirectional, layers):
    torch.manual_seed(0)
    enc = RecurrentEncoder(50, 8, 6, layers=layers, bidirectional=bidirectional).eval()
    src = torch.randint(4, 50, (5, 9))
    src_len = torch.tensor([9, 3, 1, 6, 8])                    # unsorted, with padding
    for b, n in enumerate(src_len):
        src[b, n:] = PAD
    mask = torch.arange(9)[None, :] < src_len[:, None]
    results = []
    for fast in (True, False):
        enc.zero_grad()
        x = enc.embedding(src)
        ann, final = enc._gru_padded(x, src_len, mask) if fast else enc._rnn_packed(x, src_len)
        (ann.pow(2).sum() + final.sum()).backward()
        results.append((ann, final, [p.grad.clone() for p in enc.parameters()]))
    (a1, f1, g1), (a2, f2, g2) = results
    assert a1.shape == a2.shape == (5, 9, 6 * (2 if bidirectional else 1))
    assert f1.shape == f2.shape == (layers, 2 if bidirectional else 1, 5, 6)
    assert torch.equal(a1[~mask], torch.zeros_like(a1[~mask]))  # exact zeros at padding
    assert torch.allclose(a1, a2, atol=1e-6, rtol=0) and torch.allclose(f1, f2, atol=1e-6, rtol=0)
    assert all(torch.allclose(x, y, atol=1e-5, rtol=0) for x, y in zip(g1, g2))
    # the public call takes the fast path on the CPU and gives the same
    with torch.no_grad():
        ann, final, _ = enc(src, src_len)
    assert torch.allclose(ann, a2, atol=1e-6, rtol=0) and torch.allclose(final, f2, atol=1e-6, rtol=0)
    keys = {"embedding.weight", "rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0"}
    assert keys <= set(enc.state_dict())                        # checkpoints load as before


@pytest.mark.parametrize("eps,with_bias", [(0.0, True), (0.1, True), (0.1, False)])
def test_fused_output_loss_equals_linear_then_cross_entropy(eps, with_bias):
    import torch.nn.functional as F
    from nmt.loss import output_cross_entropy
    g = torch.Generator().manual_seed(3)
    t = torch.randn(4, 7, 6, generator=g, requires_grad=True)
    w = torch.randn(11, 6, generator=g, requires_grad=True)
    b = torch.randn(11, generator=g, requires_grad=True) if with_bias else None
    y = torch.randint(1, 11, (4, 7), generator=g)
    y[1, 4:] = PAD                                              # padding carries no loss
    grads = []
    for fused in (True, False):
        params = [t, w] + ([b] if with_bias else [])
        for p in params:
            p.grad = None
        if fused:
            loss, n = output_cross_entropy(t, w, b, y, eps, chunk=5)     # chunks cut across sentences
        else:
            loss = F.cross_entropy(F.linear(t, w, b).reshape(-1, 11), y.reshape(-1), ignore_index=PAD,
                                   label_smoothing=eps, reduction="sum")
            n = int((y != PAD).sum())
        (loss * 0.7).backward()
        grads.append((loss.detach(), n, [p.grad.clone() for p in params]))
    (l1, n1, g1), (l2, n2, g2) = grads
    assert n1 == n2 == 25 and torch.allclose(l1, l2, atol=1e-4, rtol=1e-6)
    assert all(torch.allclose(a, c, atol=1e-5, rtol=1e-5) for a, c in zip(g1, g2))


def test_fused_output_loss_under_bf16_autocast_is_close_and_grads_stay_fp32():
    import torch.nn.functional as F
    from nmt.loss import output_cross_entropy
    g = torch.Generator().manual_seed(4)
    t = torch.randn(30, 16, generator=g, requires_grad=True)
    w = torch.randn(50, 16, generator=g, requires_grad=True)
    y = torch.randint(1, 50, (30,), generator=g)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low, _ = output_cross_entropy(t, w, None, y, 0.1)
    ref = F.cross_entropy(F.linear(t, w), y, label_smoothing=0.1, reduction="sum")
    low.backward()
    assert low.dtype == torch.float32 and abs(float(low.detach()) - float(ref.detach())) / float(ref.detach()) < 0.02
    assert t.grad.dtype == w.grad.dtype == torch.float32


@pytest.mark.parametrize("arch,attention,tied", [("rnnenc", "bahdanau", False), ("rnnsearch", "bahdanau", True),
                                                 ("rnnsearch", "luong-general", False)])
def test_model_loss_equals_the_loss_of_the_forward_logits(arch, attention, tied):
    """Seq2Seq.loss (fused) == token_loss(forward logits): value and every parameter's gradient, fp32,
    also for a sampled softmax's word subset and with tied embeddings."""
    from nmt.model import ModelConfig, build_model
    from nmt.sampled_softmax import batch_vocabulary
    from nmt.trainer import token_loss
    from nmt.vocab import BOS
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch, 23, 19, emb=8, hidden=10, attention=attention, dropout=0.0,
                                    tie_embeddings=tied))
    g = torch.Generator().manual_seed(1)
    src, tgt = torch.randint(4, 23, (3, 6), generator=g), torch.randint(4, 19, (3, 5), generator=g)
    tgt_in = torch.cat([torch.full((3, 1), BOS), tgt[:, :-1]], 1)
    tgt[2, 3:] = PAD
    src_len = torch.tensor([6, 4, 2])
    for output_ids, tgt_out in ((None, tgt), batch_vocabulary(tgt, 19, 9)):
        grads = []
        for fused in (True, False):
            model.zero_grad()
            if fused:
                loss, n = model.loss(src, src_len, tgt_in, tgt_out, 0.1, output_ids)
            else:
                loss, n = token_loss(model(src, src_len, tgt_in, output_ids=output_ids), tgt_out, 0.1)
            loss.backward()
            grads.append((loss.detach(), n, [p.grad.clone() for p in model.parameters() if p.grad is not None]))
        (l1, n1, g1), (l2, n2, g2) = grads
        assert n1 == n2 == 13 and torch.allclose(l1, l2, atol=1e-5, rtol=1e-6)
        assert len(g1) == len(g2) and all(torch.allclose(a, b, atol=1e-6, rtol=1e-5) for a, b in zip(g1, g2))
