"""KenLM language model (smt/lm.py): lmplz + build_binary, fallbacks, State API scoring."""
from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pytest

from data.io import UserError, run_cli
from smt import lm
from smt.lm import build_lm, info_path, load_lm, score_incremental

from tests.helpers import SHARED


def _multi30k_en(n: int, split: str = "train") -> list[str]:
    from sacremoses import MosesTokenizer
    tok = MosesTokenizer("en")
    with gzip.open(SHARED / "multi30k" / f"{split}.en.gz", "rt", encoding="utf-8") as fh:
        lines = [next(fh).strip().lower() for _ in range(n)]
    return [tok.tokenize(line, return_str=True, escape=True) for line in lines]


@pytest.fixture(scope="module")
def model3(tmp_path_factory):
    """Order-3 model on 2,000 real, Moses-tokenised Multi30k English sentences."""
    d = tmp_path_factory.mktemp("lm")
    text = d / "train.en"
    lines = _multi30k_en(2000)
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    info = build_lm(text, d / "lm.binary", order=3, verbose=False)
    vocab = sorted({w for line in lines for w in line.split()})
    return load_lm(d / "lm.binary"), info, vocab, d


def test_model_and_info(model3):
    model, info, vocab, d = model3
    assert model.order == 3 and info["order"] == 3 and not info["discount_fallback"] and info["notes"] == []
    assert info["sentences"] == 2000 and info["vocab"] == len(vocab)
    assert info["ngram_counts"]["1"] == len(vocab) + 3                 # + <s> </s> <unk>
    assert json.loads(info_path(d / "lm.binary").read_text(encoding="utf-8")) == info
    assert "-S 1G" in info["commands"][0] and "-T $TMP/" in info["commands"][0]
    assert not list(d.glob("lmplz.*"))                                 # temporary ARPA cleaned up


def test_incremental_state_scoring_equals_full_sentence_score(model3):
    model, _, _, _ = model3
    sentences = _multi30k_en(5, "val") + ["a zyzzyva plays the oboe", ""]   # incl. OOV and empty
    for s in sentences:
        steps = score_incremental(model, s.split())
        assert len(steps) == len(s.split()) + 1                        # + </s>
        assert sum(steps) == pytest.approx(model.score(s, bos=True, eos=True), abs=1e-4)
        assert sum(score_incremental(model, s.split(), bos=False, eos=False)) == pytest.approx(
            model.score(s, bos=False, eos=False), abs=1e-4)
    # training text is more probable than held-out text
    train_ppl = sum(model.perplexity(s) for s in _multi30k_en(50)) / 50
    val_ppl = sum(model.perplexity(s) for s in _multi30k_en(50, "val")) / 50
    assert train_ppl < val_ppl


def _total_probability(model, context: list[str], vocab: list[str]) -> float:
    state = lm.begin_state(model)
    for w in context:
        _, state = lm.score_word(model, state, w)
    return sum(10 ** lm.score_word(model, state, w)[0] for w in vocab + ["</s>", "<unk>"])


@pytest.mark.parametrize("context", [[], ["a", "man"], ["two", "dogs"], ["in", "the"]])
def test_distribution_over_vocabulary_sums_to_one(model3, context):
    model, _, vocab, _ = model3
    assert _total_probability(model, context, vocab) == pytest.approx(1.0, abs=2e-3)


def test_small_corpus_fallbacks(tmp_path, capsys):
    text = tmp_path / "tiny.txt"
    text.write_text("a b c\na b d\n", encoding="utf-8")
    info = build_lm(text, tmp_path / "tiny.binary", order=5)
    assert info["order_requested"] == 5 and info["order"] == 3 and info["discount_fallback"]
    assert "--discount_fallback" in info["commands"][1] and "--discount_fallback" not in info["commands"][0]
    assert any("using order 3 instead of 5" in n for n in info["notes"])
    assert any("--discount_fallback" in n and "Kneser-Ney discounts" in n for n in info["notes"])
    err = capsys.readouterr().err
    assert "note:" in err and "--discount_fallback" in err
    saved = json.loads(info_path(tmp_path / "tiny.binary").read_text(encoding="utf-8"))
    assert saved["discount_fallback"] and saved["order"] == 3
    model = load_lm(tmp_path / "tiny.binary")
    assert model.order == 3
    assert _total_probability(model, ["a", "b"], ["a", "b", "c", "d"]) == pytest.approx(1.0, abs=1e-3)
    assert sum(score_incremental(model, "a b c".split())) == pytest.approx(model.score("a b c"), abs=1e-5)


def test_bad_input(tmp_path, monkeypatch):
    with pytest.raises(UserError, match="no such file"):
        build_lm(tmp_path / "missing.txt", tmp_path / "lm.binary")
    text = tmp_path / "t.txt"
    text.write_text("a b\nthe <s> c\n", encoding="utf-8")
    with pytest.raises(UserError, match=rf"^{text}:2: .*reserved word <s>"):
        build_lm(text, tmp_path / "lm.binary")
    text.write_text("a b\n", encoding="utf-8")
    with pytest.raises(UserError, match="order must be between 1 and 6"):
        build_lm(text, tmp_path / "lm.binary", order=7)
    not_model = tmp_path / "x.binary"
    not_model.write_text("hello\n", encoding="utf-8")
    with pytest.raises(UserError, match=rf"^{not_model}: not a KenLM model"):
        load_lm(not_model)
    monkeypatch.setattr(lm, "TOOLS", tmp_path / "nowhere")
    with pytest.raises(UserError, match="lmplz is missing; run make setup"):
        build_lm(text, tmp_path / "lm.binary")
    with pytest.raises(SystemExit) as exc:                    # CLI: exit 2, nothing written
        run_cli(lm.main, ["--text", str(text), "--out", str(tmp_path / "lm.binary")])
    assert exc.value.code == 2
    assert not (tmp_path / "lm.binary").exists() and not info_path(tmp_path / "lm.binary").exists()
