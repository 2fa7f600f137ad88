"""compare translate (compare/translate.py): raw text through every trained system of a tiny study —
the raw test source reproduces each system's test.hyp byte for byte; --explain's PBSMT derivation adds
up to the model score and covers the source once; NMT n-best lists and attention are consistent."""
from __future__ import annotations

import io
import json
import sys

import numpy as np
import pytest

from compare import translate as tr
from data.io import UserError, read_lines

SYSTEMS = ("pbsmt", "rnnenc", "rnnsearch")


def _run(capsys, *args) -> str:
    assert tr.main(list(args)) == 0
    return capsys.readouterr().out


def test_the_raw_test_source_reproduces_every_test_hyp(tiny_study, capsys):
    root, corpus, runs = tiny_study
    raw = root / "build" / "bib" / "es-en" / "test.raw.es"
    out = _run(capsys, "--corpus", str(corpus), "--src", "es", "--tgt", "en", "--input", str(raw), "--format", "jsonl")
    rows = [json.loads(x) for x in out.splitlines()]
    assert [r["source"] for r in rows] == read_lines(raw)
    for name in SYSTEMS:
        hyp = "".join(r["translations"][name] + "\n" for r in rows).encode("utf-8")
        assert hyp == (runs / name / "test.hyp").read_bytes(), name
        # the run folder carries its truecaser: the system is self-contained
        assert (runs / name / "truecase.es").read_bytes() == (root / "build" / "bib" / "es-en" / "truecase.es").read_bytes()


def test_text_from_arguments_and_stdin_and_bad_input(tiny_study, capsys, monkeypatch):
    _, corpus, _ = tiny_study
    base = ["--corpus", str(corpus), "--src", "es", "--tgt", "en"]
    out = _run(capsys, *base, "--systems", "pbsmt,rnnsearch", "Y dijo Dios: Sea la luz.")
    assert out.startswith("[1] Y dijo Dios: Sea la luz.\n  pbsmt ") and "\n  rnnsearch " in out and "rnnenc" not in out
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("Y dijo Dios.\n\nY fue la luz.\n".encode())))
    out = _run(capsys, *base, "--format", "jsonl")
    rows = [json.loads(x) for x in out.splitlines()]
    assert len(rows) == 3 and rows[1]["translations"] == {n: "" for n in SYSTEMS}
    assert all(rows[0]["translations"][n] for n in SYSTEMS)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"bien\n\xff\xfe malo\n")))
    with pytest.raises(UserError, match=r"<stdin>:2: not valid UTF-8"):
        tr.main(base)
    with pytest.raises(UserError, match=r"1: 251 words, more than 250"):
        tr.main([*base, " ".join(["palabra"] * 251)])
    with pytest.raises(UserError, match="no trained system"):
        tr.main([*base, "--systems", "pbsmt-n5", "hola"])


def test_explain_pbsmt_derivation_and_nmt_nbest(tiny_study):
    _, corpus, _ = tiny_study
    study = tr.Study(str(corpus), "es", "en")
    assert sorted(study.systems) == list(SYSTEMS) and not study.unavailable
    sent = "Y dijo Dios: Sea la luz; y fue la luz."
    r = study.translate([sent], explain=True)[0]
    plain = study.translate([sent])[0]
    assert r["translations"] == plain["translations"]           # explaining changes no translation
    e = r["explain"]["pbsmt"]
    covered = sorted(i for p in e["phrases"] for i in range(*p["source"]))
    assert covered == list(range(len(e["source"])))            # every source word translated exactly once
    assert [w for p in e["phrases"] for w in p["target"]] == e["target"]
    assert sum(f["weighted"] for f in e["features"]) == pytest.approx(e["score"], abs=1e-6)
    feats = {f["name"]: f["value"] for f in e["features"]}
    assert sum(p["tm"][0] for p in e["phrases"]) == pytest.approx(feats["tm_fe"])
    assert sum(p["lm"] for p in e["phrases"]) == pytest.approx(feats["lm"])
    assert sum(p["distortion"] for p in e["phrases"]) == pytest.approx(feats["distortion"])
    assert feats["phrase_penalty"] == -len(e["phrases"]) and feats["word_penalty"] == -len(e["target"])
    assert all(p["orientation"] in ("mono", "swap", "disc") and len(p["reordering"]) == 6 for p in e["phrases"])
    assert {i for i, _ in e["alignment"]} <= set(range(len(e["source"])))
    assert "fue" in e["source"] and any(p["unknown"] for p in e["phrases"])   # not in the 300 training verses
    for name in ("rnnenc", "rnnsearch"):
        x = r["explain"][name]
        best = x["nbest"][0]
        assert best["text"] == r["translations"][name] and best["units"] == x["units"]
        assert all(a["score"] >= b["score"] for a, b in zip(x["nbest"], x["nbest"][1:]))
        for h in x["nbest"]:   # score = log p / |y|^alpha, |y| counting EOS
            assert h["logprob"] == pytest.approx(h["score"] * (len(h["units"]) + 1) ** x["length_penalty"])
    att = np.array(r["explain"]["rnnsearch"]["attention"])
    assert att.shape == (len(r["explain"]["rnnsearch"]["units"]), len(r["explain"]["rnnsearch"]["source_units"]))
    assert np.allclose(att.sum(1), 1.0, atol=1e-3)
    assert r["explain"]["rnnenc"]["attention"] is None
    lines = tr.format_explain("pbsmt", e)
    assert any("(unknown word, copied)" in x for x in lines) and lines[-1].startswith("    score ")
