"""Read a run folder's selection-set BLEU one way for both trainers (issue 24: every bench decides
on the select part of dev, never on test; test is reported only).

PBSMT (smt/pipeline.py) writes ``scores.json["bleu_select_tuned"]`` (a score dict like
``bleu_test_tuned``); NMT (nmt/trainer.py) writes ``scores.json["select"] = {"sentences", "score": {...}}``.
"""
from __future__ import annotations

import json
from pathlib import Path

SELECT_HEADER = "select (decides)"
TEST_HEADER = "test (reported, not used to choose)"


def _bleu(d):
    if isinstance(d, (int, float)):
        return float(d)
    if isinstance(d, dict):
        for k in ("bleu", "score"):
            if k in d:
                return _bleu(d[k])
    return None


def select_bleu(run_dir) -> float | None:
    """BLEU of the run folder's select part, or None when the run did not decode it."""
    s = json.loads((Path(run_dir) / "scores.json").read_text(encoding="utf-8"))
    if "bleu_select_tuned" in s:
        return _bleu(s["bleu_select_tuned"])
    if "select" in s:
        return _bleu(s["select"])
    return None


def test_bleu(run_dir) -> float | None:
    """Test BLEU, for the reported column only."""
    s = json.loads((Path(run_dir) / "scores.json").read_text(encoding="utf-8"))
    for k in ("bleu_test_tuned", "test", "bleu"):
        if k in s:
            return _bleu(s[k])
    return None
