"""NMT models (nmt/encoders.py, attention.py, decoders.py, model.py): shapes, masking, paper
structure (rnnenc has no attention and sees c at every step; rnnsearch starts from tanh(W_s h←_1)),
padding invariance, teacher forcing == step-by-step decoding, checkpoints, and overfitting 20 real
Multi30k pairs."""
from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from evaluation.score import bleu
from data.io import UserError
from nmt import search
from nmt.attention import BahdanauAttention, LuongAttention, masked_softmax_context
from nmt.model import ModelConfig, build_model, load_checkpoint
from nmt.vocab import BOS, EOS, PAD, Vocab

torch.set_num_threads(1)
from tests.helpers import SHARED

# (arch, cell, attention, bidirectional, layers): every decoder path, GRU and LSTM, 1 and 2 layers
VARIANTS = [
    ("rnnenc", "gru", "bahdanau", None, 1),
    ("rnnenc", "lstm", "bahdanau", True, 2),
    ("rnnsearch", "gru", "bahdanau", None, 1),
    ("rnnsearch", "lstm", "bahdanau", None, 2),
    ("rnnsearch", "gru", "luong-general", None, 2),
    ("rnnsearch", "lstm", "luong-dot", False, 1),
]
IDS = [f"{a}-{c}-{att}-L{n}" for a, c, att, _, n in VARIANTS]


def tiny_model(arch, cell="gru", attention="bahdanau", bidirectional=None, layers=1, seed=0, **kw):
    torch.manual_seed(seed)
    cfg = ModelConfig(arch, src_vocab=23, tgt_vocab=19, emb=8, hidden=10, layers=layers, cell=cell,
                      attention=attention, bidirectional=bidirectional, dropout=0.3, **kw)
    return build_model(cfg)


def padded_batch(lengths, vocab, seed, first=None):
    """[B, max(lengths)] random ids >= 4, PAD after each length (first token ``first`` if given)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(4, vocab, (len(lengths), max(lengths)), generator=g)
    for i, n in enumerate(lengths):
        x[i, n:] = PAD
    if first is not None:
        x[:, 0] = first
    return x, torch.tensor(lengths)


@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
def test_padding_does_not_change_any_sentence(variant):
    model = tiny_model(*variant).eval()
    src_lens, tgt_lens = [5, 2, 7, 1], [3, 6, 2, 4]                  # unsorted, both sides padded
    src, src_len = padded_batch(src_lens, 23, seed=1)
    tgt, _ = padded_batch(tgt_lens, 19, seed=2, first=BOS)
    with torch.no_grad():
        batch_logits = model(src, src_len, tgt)
        assert batch_logits.shape == (4, 6, 19)
        for b, (n, m) in enumerate(zip(src_lens, tgt_lens)):
            alone = model(src[b:b + 1, :n], src_len[b:b + 1], tgt[b:b + 1, :m])
            assert torch.allclose(alone[0], batch_logits[b, :m], atol=1e-5, rtol=0)


@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
def test_teacher_forcing_equals_step_by_step_decoding(variant):
    """Search scores a sentence exactly as training does: log_softmax(forward) == decode_step chain."""
    model = tiny_model(*variant).eval()
    src, src_len = padded_batch([4, 6, 3], 23, seed=3)
    tgt, _ = padded_batch([5, 5, 5], 19, seed=4, first=BOS)
    with torch.no_grad():
        full, full_att = model(src, src_len, tgt, return_attention=True)
        state, steps, atts = model.encode(src, src_len), [], []
        for t in range(tgt.size(1)):
            log_probs, state, alpha = model.decode_step(state, tgt[:, t])
            steps.append(log_probs)
            atts.append(alpha)
    assert torch.allclose(torch.stack(steps, 1), F.log_softmax(full, -1), atol=1e-5, rtol=0)
    if variant[0] == "rnnenc":
        assert full_att is None and all(a is None for a in atts)
    else:
        assert torch.allclose(torch.stack(atts, 1), full_att, atol=1e-6, rtol=0)


@pytest.mark.parametrize("attention", ["bahdanau", "luong-general"])
def test_attention_sums_to_one_and_is_exactly_zero_on_padding(attention):
    model = tiny_model("rnnsearch", attention=attention).eval()
    src, src_len = padded_batch([6, 3, 1, 4], 23, seed=5)
    tgt, _ = padded_batch([5] * 4, 19, seed=6, first=BOS)
    with torch.no_grad():
        _, alpha = model(src, src_len, tgt, return_attention=True)    # [B, T, S]
    assert alpha.shape == (4, 5, 6)
    mask = src != PAD
    assert torch.allclose(alpha.sum(-1), torch.ones(4, 5), atol=1e-6)
    assert torch.all(alpha.masked_select(~mask[:, None, :].expand_as(alpha)) == 0.0)
    assert torch.all(alpha[2, :, 0] == 1.0)                          # one word: all weight on it


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_written_out_cell_step_is_exactly_torch_cell(cell):
    """decoders._cell_step (input projection split off) == nn.GRUCell / nn.LSTMCell."""
    from nmt.decoders import _cell_step
    torch.manual_seed(0)
    ref = torch.nn.GRUCell(6, 5) if cell == "gru" else torch.nn.LSTMCell(6, 5)
    x, h, c = torch.randn(3, 6), torch.randn(3, 5), torch.randn(3, 5)
    gi = F.linear(x, ref.weight_ih, ref.bias_ih)
    h2, c2 = _cell_step(cell, gi, h, c if cell == "lstm" else None, ref.weight_hh, ref.bias_hh)
    if cell == "gru":
        assert torch.allclose(h2, ref(x, h), atol=1e-6) and c2 is None
    else:
        h_ref, c_ref = ref(x, (h, c))
        assert torch.allclose(h2, h_ref, atol=1e-6) and torch.allclose(c2, c_ref, atol=1e-6)


def test_masked_softmax_hand_worked():
    """Scores (log 1, log 3, 7 on padding) -> α = (1/4, 3/4, 0); c = 1/4·h_1 + 3/4·h_2."""
    scores = torch.tensor([[[0.0, float(torch.log(torch.tensor(3.0))), 7.0]]])
    mask = torch.tensor([[True, True, False]])
    memory = torch.tensor([[[4.0, 0.0], [0.0, 8.0], [100.0, 100.0]]])
    ctx, alpha = masked_softmax_context(scores, mask, memory)
    assert torch.allclose(alpha, torch.tensor([[[0.25, 0.75, 0.0]]]), atol=1e-7)
    assert alpha[0, 0, 2].item() == 0.0
    assert torch.allclose(ctx, torch.tensor([[[1.0, 6.0]]]), atol=1e-6)


def test_bahdanau_energy_hand_worked():
    """e_j = v_aᵀ tanh(W_a s + U_a h_j + b): with identity-like weights, worked out by hand."""
    att = BahdanauAttention(query_size=2, key_size=2, attention_size=2)
    with torch.no_grad():
        att.W_a.weight.copy_(torch.eye(2))
        att.U_a.weight.copy_(torch.eye(2))
        att.U_a.bias.zero_()
        att.v_a.weight.copy_(torch.tensor([[1.0, 1.0]]))
    memory = torch.tensor([[[0.0, 0.0], [1.0, -1.0], [0.5, 0.5]]])      # h_1, h_2, h_3
    s = torch.tensor([[[0.5, 0.5]]])
    ctx, alpha = att(s, att.project_keys(memory), memory, torch.ones(1, 3, dtype=torch.bool))
    t = torch.tanh
    e = torch.tensor([2 * t(torch.tensor(0.5)), t(torch.tensor(1.5)) + t(torch.tensor(-0.5)), 2 * t(torch.tensor(1.0))])
    expected = torch.softmax(e, 0)
    assert torch.allclose(alpha[0, 0], expected, atol=1e-6)
    assert torch.allclose(ctx[0, 0], expected @ memory[0], atol=1e-6)


def test_rnnenc_has_no_attention_and_sees_c_at_every_step():
    model = tiny_model("rnnenc").eval()
    names = [n for n, _ in model.named_parameters()]
    assert not [n for n in names if "attention" in n or "attn" in n]
    assert not [m for m in model.modules() if isinstance(m, (BahdanauAttention, LuongAttention))]
    cfg = model.cfg
    assert cfg.bidirectional is False                                 # Cho et al.: one direction
    assert model.decoder.rnn.input_size == cfg.emb + cfg.hidden        # [E y_{t−1}; c]
    src, src_len = padded_batch([5, 3], 23, seed=7)
    tgt, _ = padded_batch([6, 6], 19, seed=8, first=BOS)
    with torch.no_grad():
        state = model.encode(src, src_len)
        base = model.decoder(state, tgt)
        # same initial decoder state h'_0, different c: every step's output must move
        moved = model.decoder(dataclasses.replace(state, summary=state.summary + 0.5), tgt)
    assert torch.all((moved - base).abs().amax(-1) > 1e-4)            # [B, T]: all positions


def test_rnnsearch_structure_follows_bahdanau():
    model = tiny_model("rnnsearch").eval()
    assert model.cfg.bidirectional is True
    src, src_len = padded_batch([5, 3, 4], 23, seed=9)
    with torch.no_grad():
        annotations, final, mask = model.encoder(src, src_len)
        state = model.encode(src, src_len)
    H = model.cfg.hidden
    assert annotations.shape == (3, 5, 2 * H)
    assert torch.all(annotations[1, 3:] == 0)                         # padding never encoded
    # s_0 = tanh(W_s h←_1): the backward state at the FIRST word (Appendix A.1.2)
    back_first = annotations[:, 0, H:]
    assert torch.allclose(state.hidden[0], torch.tanh(model.decoder.bridge(back_first)), atol=1e-6)
    # forward final state = annotation of each sentence's last real word
    for b, n in enumerate([5, 3, 4]):
        assert torch.allclose(final[0, 0, b], annotations[b, n - 1, :H], atol=1e-6)
    # U_a h_j precomputed once per batch
    assert torch.allclose(state.keys, model.decoder.attention.U_a(annotations), atol=1e-6)


def test_config_roundtrip_validation_and_tying():
    cfg = ModelConfig("rnnsearch", 100, 120, emb=16, hidden=24, tie_embeddings=True)
    d = dataclasses.asdict(cfg)
    assert d["bidirectional"] is True and d["readout"] == 16
    assert ModelConfig(**d) == cfg
    model = build_model(cfg)
    assert model.decoder.output.weight is model.decoder.embedding.weight
    untied = build_model(ModelConfig("rnnsearch", 100, 120, emb=16, hidden=24))
    assert model.num_parameters() == untied.num_parameters() - 120 * 16
    with pytest.raises(UserError, match="luong-dot"):
        ModelConfig("rnnsearch", 100, 100, attention="luong-dot")     # bidirectional: 2H != H
    with pytest.raises(UserError, match="tie_embeddings"):
        ModelConfig("rnnsearch", 100, 100, emb=16, readout=32, tie_embeddings=True)
    with pytest.raises(UserError, match="unknown arch"):
        ModelConfig("transformer", 100, 100)
    maxout = build_model(ModelConfig("rnnsearch", 30, 30, emb=8, hidden=8, readout=6, maxout=True))
    assert maxout.decoder.readout.linear.out_features == 12          # 2l units, max over pairs


def test_dropout_only_in_training_mode():
    model = tiny_model("rnnsearch")
    src, src_len = padded_batch([4, 3], 23, seed=10)
    tgt, _ = padded_batch([3, 3], 19, seed=11, first=BOS)
    with torch.no_grad():
        a, b = model(src, src_len, tgt), model(src, src_len, tgt)
        model.eval()
        c, d = model(src, src_len, tgt), model(src, src_len, tgt)
    assert not torch.allclose(a, b) and torch.equal(c, d)


def _bf16_train_step(variant) -> None:
    """One Adam step under bf16 autocast: output bf16 and close to fp32; weights, gradients and
    Adam's moments stay fp32 (the claim of nmt.runtime.resolve_amp)."""
    model = tiny_model(*variant).eval()
    src, src_len = padded_batch([5, 2, 4], 23, seed=14)
    tgt, _ = padded_batch([4, 4, 4], 19, seed=15, first=BOS)
    ref = model(src, src_len, tgt)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = model(src, src_len, tgt)
    assert low.dtype == torch.bfloat16
    assert (low.float() - ref).abs().max() < 0.05
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    low.float().sum().backward()
    opt.step()
    params = [p for p in model.parameters() if p.requires_grad]
    assert all(p.dtype == torch.float32 and p.grad is not None and p.grad.dtype == torch.float32 for p in params)
    moments = [t for st in opt.state.values() for k, t in st.items() if k in ("exp_avg", "exp_avg_sq")]
    assert len(moments) == 2 * len(params) and all(t.dtype == torch.float32 for t in moments)


@pytest.mark.parametrize("variant", VARIANTS[:4], ids=IDS[:4])
def test_trains_under_bf16_autocast(variant):
    _bf16_train_step(variant)


def test_bf16_autocast_on_an_avx2_only_cpu():
    """oneDNN limited to AVX2 (what a laptop without AVX512-BF16 has) has no bf16 LSTM primitive:
    every variant must still train (nmt.runtime.run_rnn runs the LSTM in fp32 there)."""
    import os
    import subprocess
    import sys
    code = ("import tests.test_nmt_model as t\n"
            "for v in t.VARIANTS[:4]: t._bf16_train_step(v)\n"
            "print('ok')\n")
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, ONEDNN_MAX_CPU_ISA="AVX2", PYTHONPATH=str(root))
    r = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]


def test_load_checkpoint(tmp_path):
    model = tiny_model("rnnsearch", cell="lstm").eval()
    path = tmp_path / "best.pt"
    torch.save({"model_config": dataclasses.asdict(model.cfg), "model_state": model.state_dict(), "step": 7}, path)
    loaded, ckpt = load_checkpoint(path, "cpu")
    assert ckpt["step"] == 7 and not loaded.training
    src, src_len = padded_batch([4, 2], 23, seed=12)
    tgt, _ = padded_batch([3, 3], 19, seed=13, first=BOS)
    with torch.no_grad():
        assert torch.equal(loaded(src, src_len, tgt), model(src, src_len, tgt))
    with pytest.raises(UserError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(UserError, match="junk.pt: not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"model_config": dataclasses.asdict(model.cfg) | {"hidden": 11}, "model_state": model.state_dict()},
               tmp_path / "bad.pt")
    with pytest.raises(UserError, match="does not fit"):
        load_checkpoint(tmp_path / "bad.pt")


def first_pairs(n):
    def read(lang):
        with gzip.open(SHARED / "multi30k" / f"train.{lang}.gz", "rt", encoding="utf-8") as fh:
            return [next(fh).strip().lower() for _ in range(n)]
    return read("de"), read("en")


def test_overfits_20_real_pairs_to_bleu_100():
    """20 Multi30k pairs, tiny rnnsearch, full-batch Adam: greedy search reproduces every target."""
    de, en = first_pairs(20)
    src_vocab = Vocab(sorted({w for s in de for w in s.split()}))
    tgt_vocab = Vocab(sorted({w for s in en for w in s.split()}))
    src_ids = [src_vocab.encode(s.split()) for s in de]
    tgt_ids = [tgt_vocab.encode(s.split()) + [EOS] for s in en]
    S, T = max(map(len, src_ids)), max(map(len, tgt_ids))
    src = torch.tensor([s + [PAD] * (S - len(s)) for s in src_ids])
    src_len = torch.tensor([len(s) for s in src_ids])
    tgt_out = torch.tensor([t + [PAD] * (T - len(t)) for t in tgt_ids])
    tgt_in = torch.tensor([[BOS] + t[:-1] + [PAD] * (T - len(t)) for t in tgt_ids])   # shifted right
    torch.manual_seed(1)
    model = build_model(ModelConfig("rnnsearch", len(src_vocab), len(tgt_vocab), emb=32, hidden=48, dropout=0.0))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(300):
        logits = model(src, src_len, tgt_in)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), tgt_out.reshape(-1), ignore_index=PAD)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if loss.item() < 0.01:
            break
    hyps, atts = search.greedy(model, src, src_len)
    out = [" ".join(tgt_vocab.decode(h)) for h in hyps]
    assert out == en
    assert bleu(out, en).score == pytest.approx(100.0)
    assert all(a.shape == (len(h), n) for a, h, n in zip(atts, hyps, src_len.tolist()))
