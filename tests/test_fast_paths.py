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
